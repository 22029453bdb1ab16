//! Sync at login: an SSO plugin names the user signing in; idsync reads that one user (and their
//! groups) from the identity provider, stores them, and applies the result to every bound target
//! before it answers, all within a time budget, so a sign-in never waits long for idsync.

use std::time::{Duration, Instant};

use crate::Error;
use crate::pull::{PullEnv, stored_connector};

/// What each bound target made of the user: (target, result in words).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginSynced {
    pub username: String,
    pub targets: Vec<(String, String)>,
}

/// Reads `username` from `source`'s provider, stores the user and reconciles every target bound
/// to the source, within `budget` in all (the targets get what is left, at least half a second).
pub async fn sync_at_login(
    store: &dyn store::Database,
    engine: &sync::Engine,
    env: &PullEnv,
    source: &str,
    username: &str,
    budget: Duration,
) -> Result<LoginSynced, Error> {
    if username.trim().is_empty() {
        return Err(Error::Invalid(r#"the body must be {"username": "<the user signing in>"}"#.into()));
    }
    let started = Instant::now();
    let connector = stored_connector(store, source, env).await?;
    let read = tokio::time::timeout(budget, connector.read_user(username)).await.map_err(|_| {
        Error::TimedOut(format!(
            "the identity provider did not answer within {} s; the user signs in with what idsync has",
            budget.as_secs()
        ))
    })?;
    let (user, groups) = read.map_err(Error::Remote)?.ok_or_else(|| Error::Missing {
        message: format!("the identity provider of {source} has no user {username}"),
        hint: None,
    })?;
    let src = store.source(source).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no source named '{source}'"),
        hint: Some(model::Hint::ListSources),
    })?;
    let id = sync::apply_user(store, &src, user, groups)
        .await
        .map_err(|e| Error::Invalid(format!("{username} could not be stored: {e}")))?;
    let left = budget.saturating_sub(started.elapsed()).max(Duration::from_millis(500));
    let targets = engine.sync_user_now(source, &id, left).await.map_err(|e| Error::Unavailable(e.to_string()))?;
    Ok(LoginSynced { username: username.to_string(), targets })
}

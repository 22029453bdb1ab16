//! Sources' tokens and their removal. Removing a source that manages accounts in targets never
//! decides their fate by itself: the caller chooses to deprovision them first (through the
//! targets, as each binding's rules say, under the safeguard) or to release them.

use store::Event;

use crate::pull::PullConfig;

use crate::Error;
use crate::tokens::new_token;

/// A push source: its SCIM endpoint opens with the token returned, shown once and stored hashed.
pub async fn create_push(store: &dyn store::Database, name: &str, kind: &str) -> Result<String, Error> {
    model::validate_source_name(name).map_err(Error::Invalid)?;
    if kind != "scim" {
        return Err(Error::Invalid(format!(
            "source kind '{kind}' is not available yet; 'scim' (push from Entra ID, Okta, OneLogin, …) is"
        )));
    }
    let token = new_token();
    store.create_source(name, kind, &scim::hash_token(&token)).await?;
    Ok(token)
}

/// A new bearer token for a push source; the previous one keeps working for `grace_seconds`.
/// The SCIM endpoint's memory of accepted tokens (`cache`) is forgotten, so a replaced token
/// stops when the grace does.
pub async fn rotate_token(
    store: &dyn store::Database,
    cache: &scim::AuthCache,
    name: &str,
    grace_seconds: u64,
) -> Result<String, Error> {
    let token = new_token();
    store.rotate_token(name, &scim::hash_token(&token), grace_seconds).await?;
    cache.clear();
    Ok(token)
}

/// A new login-sync token for a pull source; the previous one stops working at once.
pub async fn issue_login_token(store: &dyn store::Database, name: &str) -> Result<String, Error> {
    store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let token = new_token();
    store.set_login_token(name, &scim::hash_token(&token)).await?;
    Ok(token)
}

/// Accounts idsync manages for a source: (target, how many).
pub type Managed = Vec<(String, u64)>;

/// What emptying a source set in motion.
#[derive(Debug, PartialEq)]
pub struct Deprovisioning {
    /// Users and groups the source held.
    pub emptied: u64,
    /// The accounts the targets now deprovision.
    pub managed: Managed,
}

/// Empties a source so that the engine deprovisions what it managed in each target, as each
/// binding's `on_removed` rule says and through the safeguard; the source itself stays until
/// that is done and it is removed with [`Removal::Release`].
pub async fn deprovision(store: &dyn store::Database, name: &str) -> Result<Deprovisioning, Error> {
    let managed = store.managed_by_source(name).await?;
    let emptied = store.clear_source(name).await?;
    Ok(Deprovisioning { emptied, managed })
}

/// What becomes of the accounts a removed source managed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Removal {
    /// Remove only a source that manages no accounts.
    OnlyUnmanaged,
    /// Stop managing its accounts and leave them in the targets as they are.
    Release,
}

/// What removing a source did, or why it did nothing.
#[derive(Debug, PartialEq)]
pub enum Removed {
    /// Removed, with the accounts released and the bindings that went with it.
    Done { released: Managed, bindings: Vec<String> },
    /// Nothing changed: the source manages accounts and [`Removal::OnlyUnmanaged`] was asked.
    StillManages(Managed),
    /// Nothing changed: the source still holds users and groups, and `purge` was not given.
    StillHolds(u64),
}

/// Removes a source; `purge` deletes the users and groups it holds with it. Its tokens stop at
/// once: the SCIM endpoint's memory of accepted tokens (`cache`) is forgotten.
pub async fn remove(
    store: &dyn store::Database,
    cache: &scim::AuthCache,
    name: &str,
    removal: Removal,
    purge: bool,
) -> Result<Removed, Error> {
    let mut released = Vec::new();
    match removal {
        Removal::Release => {
            let held = store.source(name).await?.map_or(0, |s| s.users + s.groups);
            if held > 0 && !purge {
                return Ok(Removed::StillHolds(held));
            }
            released = store.release_source(name).await?;
            let events: Vec<Event> = released
                .iter()
                .map(|(target, n)| Event {
                    source: name.to_string(),
                    target: target.clone(),
                    action: "release".into(),
                    reason: format!(
                        "source {name} removed: idsync no longer manages its {n} users here; they stay as they are"
                    ),
                    result: "applied".into(),
                    ..Event::default()
                })
                .collect();
            store.record_events(&events).await?;
        }
        Removal::OnlyUnmanaged => {
            let managed = store.managed_by_source(name).await?;
            if !managed.is_empty() {
                return Ok(Removed::StillManages(managed));
            }
        }
    }
    let bindings = crate::bindings::named(store, |b| b.source == name).await?;
    store.remove_source(name, purge).await?;
    cache.clear();
    Ok(Removed::Done { released, bindings })
}

/// Where SCIM clients reach the source `name` on a server whose address is `root`.
pub fn scim_url(root: &str, name: &str) -> String {
    format!("{}/scim/v2/{name}", root.trim_end_matches('/'))
}

fn view(source: store::Source, root: &str, pull: Option<&PullConfig>) -> api_types::Source {
    api_types::Source {
        base_url: scim_url(root, &source.name),
        reads: pull.map(|p| p.connector.location().to_string()),
        name: source.name,
        kind: source.kind,
        created: source.created.to_string(),
        users: source.users,
        groups: source.groups,
    }
}

fn pull_config(name: &str, settings: &store::PullSettings) -> Result<PullConfig, Error> {
    serde_json::from_str(&settings.config).map_err(|e| {
        Error::Invalid(format!(
            "the stored settings of source '{name}' are unreadable ({e}); set them again with an edit"
        ))
    })
}

/// Every source, by name; `root` is the server's address, for their SCIM URLs.
pub async fn list(store: &dyn store::Database, root: &str) -> Result<Vec<api_types::Source>, Error> {
    let pulls = store.pulls().await?;
    let mut views = Vec::new();
    for source in store.list_sources().await? {
        let pull = match pulls.get(&source.name) {
            Some(settings) => Some(pull_config(&source.name, settings)?),
            None => None,
        };
        views.push(view(source, root, pull.as_ref()));
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}

/// One source in full: its tokens by date, and for a pull source how and when it is read.
pub async fn detail(store: &dyn store::Database, root: &str, name: &str) -> Result<api_types::SourceDetail, Error> {
    let source = store.source(name).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no source named '{name}'"),
        hint: Some(model::Hint::ListSources),
    })?;
    let tokens = store
        .tokens(name)
        .await?
        .into_iter()
        .map(|t| api_types::SourceToken { created: t.created.to_string(), expires: t.expires.map(|e| e.to_string()) })
        .collect();
    let (config, pull) = match store.pull(name).await? {
        Some(settings) => {
            let config = pull_config(name, &settings)?;
            let state: crate::schedule::ScheduleState =
                settings.state.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
            let last = store.runs(Some(name), None, 20).await?.into_iter().find(|r| r.kind == store::RunKind::Pull);
            let pull = serde_json::json!({
                "connector": config.connector, "schedule": config.schedule, "timezone": config.timezone,
                "full_every": config.full_every.as_deref().unwrap_or(crate::pull::DEFAULT_FULL_EVERY),
                "max_rate": config.max_rate, "incremental": settings.cursor.is_some(), "last_full_read": settings.last_full,
                "next_run": state.next_run, "paused": state.paused,
                "next_runs": next_runs(&config, &state),
                "last_run": last.map(|r| serde_json::json!({"id": r.id, "state": r.state.as_str(), "started": r.started, "summary": r.summary})),
            });
            (Some(config), Some(pull))
        }
        None => (None, None),
    };
    Ok(api_types::SourceDetail { source: view(source, root, config.as_ref()), tokens, pull })
}

/// The next five scheduled runs of a pull source; none when paused or run only when asked.
fn next_runs(config: &PullConfig, state: &crate::schedule::ScheduleState) -> Vec<String> {
    match config.schedule.as_deref() {
        Some(text) if !state.paused => {
            crate::schedule::upcoming(text, config.timezone.as_deref(), state.next_run, jiff::Timestamp::now(), 5)
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use store::{BindingStore, Store, SyncStore};

    use super::*;

    #[tokio::test]
    async fn a_push_source_opens_with_its_token_only_and_goes_with_its_bindings() {
        let (_dir, store) = crate::scratch_store().await;
        assert!(matches!(create_push(&store, "hr", "ldap").await, Err(Error::Invalid(_))));
        assert!(matches!(create_push(&store, "Bad Name", "scim").await, Err(Error::Invalid(_))));
        let first = create_push(&store, "hr", "scim").await.unwrap();
        let hashes = |auth: Option<store::SourceAuth>| auth.unwrap().token_hashes;
        assert_eq!(hashes(store.source_auth("hr").await.unwrap()), [scim::hash_token(&first)]);
        let cache = scim::AuthCache::new(std::time::Duration::from_secs(60));
        let second = rotate_token(&store, &cache, "hr", 0).await.unwrap();
        assert_eq!(hashes(store.source_auth("hr").await.unwrap()), [scim::hash_token(&second)], "the first is gone");
        let push = issue_login_token(&store, "hr").await.unwrap_err();
        assert_eq!(push.hint(), Some(model::Hint::ListSources), "login sync is for pull sources");

        store.create_target("jira", "jira", "http://jira", b"sealed").await.unwrap();
        store.add_binding("hr", "jira", &serde_json::json!({})).await.unwrap();
        let removed = remove(&store, &cache, "hr", Removal::OnlyUnmanaged, false).await.unwrap();
        assert_eq!(removed, Removed::Done { released: vec![], bindings: vec!["hr → jira".into()] });
        assert!(store.source("hr").await.unwrap().is_none());
    }
}

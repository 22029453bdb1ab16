//! Targets' credentials at rest and the clients made from them: credentials are sealed bound to
//! their target's name, and opened only to connect.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api_types::{Target, TargetDetail};
use store::TargetRecord;
use targets::{Credentials, Kind, TargetClient, TargetConfig};

use crate::secrets::SecretBox;
use crate::{Checked, Error, passed};

fn bound_to(name: &str) -> String {
    format!("target:{name}")
}

/// Makes clients from stored targets, decrypting their credentials.
pub struct SealedConnector {
    pub secrets: SecretBox,
    pub timeout: Duration,
}

impl SealedConnector {
    /// With the data directory's secret key (or the one from the environment).
    pub fn open(data_dir: &Path, timeout: Duration) -> Result<Self, Error> {
        targets::install_crypto();
        Ok(SealedConnector { secrets: SecretBox::open(data_dir)?, timeout })
    }

    /// `credentials` sealed for the target `name`.
    pub fn seal(&self, name: &str, credentials: &Credentials) -> Result<Vec<u8>, Error> {
        let plain = serde_json::to_vec(credentials).map_err(|e| Error::Secret(format!("credentials: {e}")))?;
        self.secrets.seal(&plain, &bound_to(name))
    }

    /// A stored target's credentials.
    pub fn unseal(&self, record: &TargetRecord) -> Result<Credentials, Error> {
        let plain = self.secrets.open_sealed(&record.secret, &bound_to(&record.name))?;
        serde_json::from_slice(&plain).map_err(|_| {
            Error::Secret(format!("the stored credentials of target {} are not readable; set them again", record.name))
        })
    }

    pub fn client(&self, record: &TargetRecord) -> Result<Box<dyn TargetClient>, Error> {
        let kind = Kind::parse(&record.kind)
            .ok_or_else(|| Error::Invalid(format!("target {} has unknown kind {}", record.name, record.kind)))?;
        let config = TargetConfig {
            name: record.name.clone(),
            kind,
            url: record.url.clone(),
            credentials: self.unseal(record)?,
            timeout: self.timeout,
        };
        targets::connect(&config).map_err(|e| Error::Invalid(format!("target {}: {e}", record.name)))
    }
}

impl sync::Connector for SealedConnector {
    fn connect(&self, record: &TargetRecord) -> Result<Arc<dyn TargetClient>, String> {
        self.client(record).map(Arc::from).map_err(|e| e.to_string())
    }
}

/// Credentials as the API carries them, none of them empty.
pub fn credentials(given: api_types::Credentials) -> Result<Credentials, Error> {
    let given = match given {
        api_types::Credentials::Bearer { token } => Credentials::Bearer { token: token.expose().to_string() },
        api_types::Credentials::Basic { username, password } => {
            Credentials::Basic { username, password: password.expose().to_string() }
        }
        api_types::Credentials::Ssws { token } => Credentials::Ssws { token: token.expose().to_string() },
        api_types::Credentials::Key { key, client_id } => Credentials::Key { key: key.expose().to_string(), client_id },
    };
    let empty = match &given {
        Credentials::Bearer { token } | Credentials::Ssws { token } => token.is_empty(),
        Credentials::Basic { username, password } => username.is_empty() || password.is_empty(),
        Credentials::Key { key, .. } => key.is_empty(),
    };
    if empty {
        return Err(Error::Invalid("the credentials have an empty token, user or password; give all of them".into()));
    }
    Ok(given)
}

/// An address idsync can send requests to: an http or https URL with a host.
pub(crate) fn checked_url(url: &str) -> Result<(), Error> {
    let parsed = rest::Url::parse(url).map_err(|e| {
        Error::Invalid(format!(
            "'{url}' is not a URL ({e}); give the target's base URL, such as https://jira.example.com"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::Invalid(format!("'{url}' is not an http or https URL with a host")));
    }
    crate::no_credentials_in(url)
}

/// A target's kind by the name an administrator types.
pub fn kind(text: &str) -> Result<Kind, Error> {
    Kind::parse(text)
        .ok_or_else(|| Error::Invalid(format!("the kind must be jira, confluence, bitbucket or scim, not '{text}'")))
}

/// A target about to be added.
pub struct NewTarget {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub credentials: Credentials,
}

/// The stored target `name`.
pub async fn target(store: &dyn store::Database, name: &str) -> Result<TargetRecord, Error> {
    store.target(name).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no target named '{name}'"),
        hint: Some(model::Hint::ListTargets),
    })
}

/// Adds a target, after checking that idsync can reach and use it when `check` is true.
pub async fn add(
    store: &dyn store::Database,
    connector: &SealedConnector,
    new: NewTarget,
    check: bool,
) -> Result<Checked, Error> {
    model::validate_source_name(&new.name).map_err(|e| Error::Invalid(e.replace("source name", "target name")))?;
    checked_url(&new.url)?;
    let sealed = connector.seal(&new.name, &new.credentials)?;
    let checks = if check {
        let record = TargetRecord {
            name: new.name.clone(),
            kind: new.kind.as_str().into(),
            url: new.url.clone(),
            secret: sealed.clone(),
            created: store::Time::now(),
            healthy: true,
            health_detail: String::new(),
            health_changed: None,
        };
        let checks = connector.client(&record)?.check().await;
        if !passed(&checks) {
            return Ok(Checked { checks, saved: false });
        }
        checks
    } else {
        Vec::new()
    };
    store.create_target(&new.name, new.kind.as_str(), &new.url, &sealed).await?;
    if !check {
        store.set_target_health(&new.name, true, store::NOT_CHECKED).await?;
    }
    Ok(Checked { checks, saved: true })
}

/// Changes a target's address and/or credentials, after checking the changed target when `check`
/// is true. Running servers pick the change up from the store.
pub async fn change(
    store: &dyn store::Database,
    connector: &SealedConnector,
    name: &str,
    url: Option<String>,
    credentials: Option<Credentials>,
    check: bool,
) -> Result<Checked, Error> {
    let current = target(store, name).await?;
    if let Some(url) = &url {
        checked_url(url)?;
    }
    let sealed = credentials.map(|c| connector.seal(name, &c)).transpose()?;
    if url.is_none() && sealed.is_none() {
        return Err(Error::Invalid("nothing to change: give a new address and/or new credentials".into()));
    }
    let mut checks = Vec::new();
    if check {
        let changed = TargetRecord {
            url: url.clone().unwrap_or_else(|| current.url.clone()),
            secret: sealed.clone().unwrap_or_else(|| current.secret.clone()),
            ..current
        };
        checks = connector.client(&changed)?.check().await;
        if !passed(&checks) {
            return Ok(Checked { checks, saved: false });
        }
    }
    store.update_target(name, url.as_deref(), sealed.as_deref()).await?;
    Ok(Checked { checks, saved: true })
}

/// Checks a stored target. What the check finds is its health until the worker knows better: a
/// pass marks it healthy, a failure marks it unhealthy only when its health was not known yet.
pub async fn test(
    store: &dyn store::Database,
    connector: &SealedConnector,
    name: &str,
) -> Result<Vec<targets::Check>, Error> {
    let record = target(store, name).await?;
    let checks = connector.client(&record)?.check().await;
    match checks.iter().find(|c| c.status == targets::CheckStatus::Failed) {
        None => _ = store.set_target_health(name, true, "").await?,
        Some(failed) if record.health() == store::Health::Unknown => {
            _ = store.set_target_health(name, false, &failed.what).await?
        }
        Some(_) => {}
    }
    Ok(checks)
}

/// Removes a target and its bindings; returns the bindings removed, as "source → target".
/// Nothing changes in the application itself.
pub async fn remove(store: &dyn store::Database, name: &str) -> Result<Vec<String>, Error> {
    let bindings = crate::bindings::named(store, |b| b.target == name).await?;
    store.remove_target(name).await?;
    Ok(bindings)
}

/// Every target, with its health and how much idsync manages and owes it.
pub async fn overview(store: &dyn store::Database) -> Result<Vec<Target>, Error> {
    let mut rows = Vec::new();
    for t in store.targets().await? {
        rows.push(Target {
            health: t.health().label().to_string(),
            managed_users: store.managed_users(&t.name).await?,
            pending: store.pending(&t.name).await?,
            name: t.name,
            kind: t.kind,
            url: t.url,
            healthy: t.healthy,
            health_detail: t.health_detail,
        });
    }
    Ok(rows)
}

/// One target in full; the credentials only by their type (and a user name), never their secret.
pub async fn detail(
    store: &dyn store::Database,
    connector: &SealedConnector,
    name: &str,
) -> Result<TargetDetail, Error> {
    let t = target(store, name).await?;
    let auth = match connector.unseal(&t)? {
        Credentials::Bearer { .. } | Credentials::Ssws { .. } => "token".to_string(),
        Credentials::Basic { username, .. } => format!("basic ({username})"),
        Credentials::Key { .. } => "key file".to_string(),
    };
    let fed_by = store.bindings().await?.into_iter().filter(|b| b.target == name).map(|b| b.source).collect();
    Ok(TargetDetail {
        managed_users: store.managed_users(name).await?,
        pending: store.pending(name).await?,
        name: t.name,
        kind: t.kind,
        url: t.url,
        auth,
        created: t.created.to_string(),
        healthy: t.healthy,
        health_detail: t.health_detail,
        health_changed: t.health_changed.map(|t| t.to_string()),
        fed_by,
    })
}

/// What idsync sees in a target and never touches: its groups that no rule of idsync's grants
/// memberships in (with the groups it does), and the users it found there under a name a source
/// claims but does not manage (its conflicts), from the log.
pub async fn unmanaged(
    store: &dyn store::Database,
    connector: &SealedConnector,
    name: &str,
) -> Result<api_types::Unmanaged, Error> {
    let record = target(store, name).await?;
    let owned = store.all_ownership(name).await?;
    let mut managed_groups: Vec<String> = owned.grants.iter().map(|g| g.group.clone()).collect();
    managed_groups.sort_by_key(|g| model::target::fold(g));
    managed_groups.dedup_by(|a, b| model::target::fold(a) == model::target::fold(b));
    let mut groups: Vec<String> = connector
        .client(&record)?
        .groups()
        .await?
        .into_iter()
        .filter(|g| !managed_groups.iter().any(|m| model::target::fold(m) == model::target::fold(g)))
        .collect();
    groups.sort_by_key(|g| model::target::fold(g));
    let query = store::EventQuery {
        target: Some(name.to_string()),
        result: Some("conflict".into()),
        limit: 1000,
        ..store::EventQuery::default()
    };
    let mut conflicts: Vec<String> = store.events(&query).await?.into_iter().filter_map(|e| e.user).collect();
    conflicts.sort_by_key(|u| model::target::fold(u));
    conflicts.dedup_by(|a, b| model::target::fold(a) == model::target::fold(b));
    Ok(api_types::Unmanaged { managed_users: owned.users.len() as u64, managed_groups, groups, conflicts })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use store::{BindingStore, Store, SyncStore};

    use super::*;

    fn new(name: &str, url: &str) -> NewTarget {
        NewTarget {
            name: name.into(),
            kind: Kind::Scim,
            url: url.into(),
            credentials: Credentials::Bearer { token: "t".into() },
        }
    }

    #[tokio::test]
    async fn a_target_that_fails_its_check_is_not_saved_and_a_removed_one_takes_its_bindings() {
        let (dir, store) = crate::scratch_store().await;
        let connector = SealedConnector::open(dir.path(), Duration::from_secs(2)).unwrap();
        // Nothing listens on port 9 of this machine.
        let unreachable = add(&store, &connector, new("app", "http://127.0.0.1:9/scim/v2"), true).await.unwrap();
        assert!(!unreachable.saved && !unreachable.checks.is_empty());
        assert!(store.target("app").await.unwrap().is_none(), "a failed check saves nothing");
        assert!(matches!(add(&store, &connector, new("Bad Name", "http://x"), false).await, Err(Error::Invalid(_))));

        let unchecked = add(&store, &connector, new("app", "http://127.0.0.1:9/scim/v2"), false).await.unwrap();
        assert!(unchecked.saved && unchecked.checks.is_empty());
        assert_eq!(store.target("app").await.unwrap().unwrap().health_detail, store::NOT_CHECKED);
        let listed = overview(&store).await.unwrap();
        assert_eq!((listed.len(), listed[0].health.as_str(), listed[0].pending), (1, "unknown", 0));
        let nothing = change(&store, &connector, "app", None, None, false).await.unwrap_err();
        assert!(nothing.to_string().starts_with("nothing to change"), "{nothing}");
        let missing = test(&store, &connector, "nope").await.unwrap_err();
        assert_eq!(missing.hint(), Some(model::Hint::ListTargets));

        store.create_source("hr", "scim", &[7; 32]).await.unwrap();
        store.add_binding("hr", "app", &serde_json::json!({})).await.unwrap();
        let shown = detail(&store, &connector, "app").await.unwrap();
        assert_eq!((shown.auth.as_str(), shown.fed_by.as_slice()), ("token", ["hr".to_string()].as_slice()));
        assert!(!serde_json::to_string(&shown).unwrap().contains("\"t\""), "no secret in the detail");
        assert_eq!(remove(&store, "app").await.unwrap(), ["hr → app"]);
        assert!(store.bindings().await.unwrap().is_empty());
    }
}

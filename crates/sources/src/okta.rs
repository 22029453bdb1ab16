//! Okta through its Management API (external-apis.md A2), with an API token (`SSWS`): users and
//! groups followed by their `Link: rel="next"` cursors, deprovisioned users read separately
//! (unfiltered lists leave them out) so they are deactivated rather than taken for deleted.
//! Incremental reads ask for users changed since the latest `lastUpdated` seen and for groups
//! whose profile or membership changed since theirs (re-reading those groups' members); hard
//! deletions are invisible to them and wait for the next full read. A source can be scoped to the
//! users and groups assigned to one app.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rest::{Answer, Check, Credentials, HeaderMap, Http, RestError, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fetch::{Retry, get_answer};
use crate::jwt::ClientKey;
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::Pages;
use crate::{
    ChangedGroup, Changes, Connector, MemberChanges, PulledGroup, PulledUser, Snapshot, groups_of_user, scim_user,
};

pub struct Okta {
    http: Http,
    retry: Retry,
    /// Only the users and groups assigned to this app.
    app: Option<String>,
    /// An OAuth service app's tokens; without them the client carries the API token (`SSWS`).
    tokens: Option<TokenSource>,
}

/// The scopes a service app is granted for reading (and, for `--app`, the app assignments).
pub const SCOPES: &str = "okta.users.read okta.groups.read okta.apps.read";

/// Okta's earliest time, for a directory read while empty.
const EPOCH: &str = "1970-01-01T00:00:00.000Z";

/// The latest change times seen, and who was assigned to the app then.
#[derive(Serialize, Deserialize)]
struct Cursor {
    users: String,
    groups: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<BTreeSet<String>>,
}

/// The latest of `fields` over `items` (Okta's timestamps share one format, so they sort as text).
fn latest(items: &[Value], fields: &[&str], floor: &str) -> String {
    items
        .iter()
        .flat_map(|i| fields.iter().filter_map(move |f| i[*f].as_str()))
        .chain([floor])
        .max()
        .unwrap_or(floor)
        .to_string()
}

/// The `rel="next"` target among an answer's `Link` header lines.
fn next_link(headers: &HeaderMap) -> Option<Url> {
    headers.get_all("link").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| Url::parse(target.trim().trim_start_matches('<').trim_end_matches('>')).ok())?
    })
}

/// Okta statuses in which a person can sign in (or is about to) count as active.
fn active(status: &str) -> bool {
    matches!(status, "ACTIVE" | "PROVISIONED" | "RECOVERY" | "PASSWORD_EXPIRED" | "LOCKED_OUT")
}

fn user_record(u: &Value) -> Map<String, Value> {
    let p = &u["profile"];
    let text = |k: &str| p[k].as_str().unwrap_or_default();
    scim_user(
        &p["login"],
        text("firstName"),
        text("lastName"),
        p["email"].as_str(),
        active(u["status"].as_str().unwrap_or_default()),
    )
}

fn pulled_user(u: &Value) -> Option<PulledUser> {
    Some(PulledUser { external_id: u["id"].as_str()?.to_string(), record: user_record(u) })
}

impl Okta {
    /// With an API token (given as a bearer token; Okta wants it as `SSWS`), or as a service app
    /// whose client id and private key sign in at the org authorization server (the only one whose
    /// tokens the management API takes).
    pub fn connect(
        url: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
        app: Option<String>,
    ) -> Result<Self, RestError> {
        let (credentials, tokens) = match credentials {
            Credentials::Bearer { token } => (Credentials::Ssws { token }, None),
            Credentials::Key { key, client_id: Some(client_id) } => {
                let client = Arc::new(ClientKey::from_pem(&client_id, &key)?);
                let url = format!("{}/oauth2/v1/token", url.trim_end_matches('/'));
                let request = TokenRequest::PrivateKeyJwt { url, client, scope: SCOPES.into() };
                (Credentials::Bearer { token: String::new() }, Some(TokenSource::new(request, timeout)))
            }
            _ => {
                return Err(RestError::Config(
                    "Okta takes an API token (--token-file/--token-env) or a service app's client id and private key (--username CLIENT_ID --key-file private.pem)".into(),
                ));
            }
        };
        let http = Http::new(url, credentials, timeout)?.paced(retry.rate);
        Ok(Okta { http, retry, app, tokens })
    }

    /// One GET, with the service app's current token when there is one.
    async fn answer(&self, url: Url, query: &[(&str, &str)], requests: &mut u64) -> Result<Answer, RestError> {
        match &self.tokens {
            Some(tokens) => tokens.get(&self.http, url, query, self.retry, requests).await,
            None => get_answer(&self.http, url, query, self.retry, requests).await,
        }
    }

    /// The ids of users and of groups assigned to the app; None when the source is not scoped.
    async fn assigned(&self, requests: &mut u64) -> Result<Option<(BTreeSet<String>, BTreeSet<String>)>, RestError> {
        let Some(app) = &self.app else { return Ok(None) };
        let ids = |list: Vec<Value>| list.iter().filter_map(|v| v["id"].as_str().map(String::from)).collect();
        let users = ids(self.all(&format!("api/v1/apps/{app}/users"), &[("limit", "500")], requests).await?);
        let groups = ids(self.all(&format!("api/v1/apps/{app}/groups"), &[("limit", "200")], requests).await?);
        Ok(Some((users, groups)))
    }

    async fn members(&self, id: &str, requests: &mut u64) -> Result<Vec<String>, RestError> {
        let members = self.all(&format!("api/v1/groups/{id}/users"), &[("limit", "1000")], requests).await?;
        Ok(members.iter().filter_map(|u| u["id"].as_str().map(String::from)).collect())
    }

    async fn read_all(&self, snapshot: &mut Snapshot, requests: &mut u64) -> Result<(), RestError> {
        let assigned = self.assigned(requests).await?;
        let mut users = self.all("api/v1/users", &[("limit", "200")], requests).await?;
        users.extend(
            self.all("api/v1/users", &[("limit", "200"), ("filter", "status eq \"DEPROVISIONED\"")], requests).await?,
        );
        let users_mark = latest(&users, &["lastUpdated"], EPOCH);
        snapshot.users = users
            .iter()
            .filter_map(pulled_user)
            .filter(|u| assigned.as_ref().is_none_or(|(ids, _)| ids.contains(&u.external_id)))
            .collect();
        let groups = self.all("api/v1/groups", &[("limit", "200")], requests).await?;
        let groups_mark = latest(&groups, &["lastUpdated", "lastMembershipUpdated"], EPOCH);
        for g in &groups {
            let (Some(id), Some(name)) = (g["id"].as_str(), g["profile"]["name"].as_str()) else { continue };
            if assigned.as_ref().is_some_and(|(_, groups)| !groups.contains(id)) {
                continue;
            }
            match self.members(id, requests).await {
                Ok(members) => snapshot.groups.push(PulledGroup::new(id, name, members)),
                Err(e) => snapshot.failed(format!("reading the members of {name} failed: {e}")),
            }
        }
        let scope = assigned.map(|(users, _)| users);
        snapshot.cursor = serde_json::to_string(&Cursor { users: users_mark, groups: groups_mark, scope }).ok();
        Ok(())
    }

    async fn read_since(&self, cursor: &Cursor, changes: &mut Changes, requests: &mut u64) -> Result<(), RestError> {
        let assigned = self.assigned(requests).await?;
        let filter = format!("lastUpdated ge \"{}\"", cursor.users);
        let users = self.all("api/v1/users", &[("limit", "200"), ("filter", &filter)], requests).await?;
        let users_mark = latest(&users, &["lastUpdated"], &cursor.users);
        let in_scope = |id: &str| assigned.as_ref().is_none_or(|(ids, _)| ids.contains(id));
        changes.users = users.iter().filter_map(pulled_user).filter(|u| in_scope(&u.external_id)).collect();
        // Assigned to the app since the last run without changing themselves: read one by one.
        if let (Some((now, _)), Some(before)) = (&assigned, &cursor.scope) {
            for id in now.difference(before) {
                if changes.users.iter().any(|u| &u.external_id == id) {
                    continue;
                }
                let found = self.answer(self.http.url("api/v1/users", &[id]), &[], requests).await?.body;
                changes.users.extend(pulled_user(&found));
            }
        }
        let filter = format!("lastUpdated ge \"{0}\" or lastMembershipUpdated ge \"{0}\"", cursor.groups);
        let groups = self.all("api/v1/groups", &[("limit", "200"), ("filter", &filter)], requests).await?;
        let groups_mark = latest(&groups, &["lastUpdated", "lastMembershipUpdated"], &cursor.groups);
        for g in &groups {
            let (Some(id), Some(name)) = (g["id"].as_str(), g["profile"]["name"].as_str()) else { continue };
            if assigned.as_ref().is_some_and(|(_, groups)| !groups.contains(id)) {
                continue;
            }
            // Okta says that a membership changed, not how: the group is read whole.
            let members = MemberChanges::All(self.members(id, requests).await?);
            changes.groups.push(ChangedGroup {
                external_id: id.into(),
                name: Some(name.into()),
                members,
                attributes: None,
            });
        }
        let scope = assigned.map(|(users, _)| users);
        changes.scope = scope.as_ref().map(|s| s.iter().cloned().collect());
        changes.cursor = serde_json::to_string(&Cursor { users: users_mark, groups: groups_mark, scope }).ok();
        Ok(())
    }

    /// Every item of a collection, following `rel="next"`.
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("Okta {path}"));
        let mut answer = self.answer(self.http.url(path, &[]), query, requests).await?;
        loop {
            let items = answer
                .body
                .as_array()
                .cloned()
                .ok_or_else(|| RestError::Protocol(format!("{path} did not answer a list")))?;
            out.extend(items);
            match next_link(&answer.headers) {
                Some(next) => {
                    pages.next(next.as_str())?;
                    answer = self.answer(next, &[], requests).await?
                }
                None => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl Connector for Okta {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        for (path, what) in [("api/v1/users", "users"), ("api/v1/groups", "groups")] {
            match self.answer(self.http.url(path, &[]), &[("limit", "1")], &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the API token may read {what}"))),
                Err(e @ RestError::Unauthorized { .. }) if self.tokens.is_some() => {
                    out.push(Check::failed(format!(
                        "the service app could not sign in ({e}); check the client id, that the app's public key is the one of --key-file, and that it is granted {SCOPES}"
                    )));
                    return out;
                }
                Err(e @ RestError::Unauthorized { .. }) => {
                    out.push(Check::failed(format!(
                        "the API token was refused ({e}); tokens expire after 30 days unused: create one under Security → API → Tokens"
                    )));
                    return out;
                }
                Err(e @ RestError::Forbidden { .. }) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}); the token acts as its admin: give that admin a role that can view users and groups (e.g. Read-only Administrator)"
                    )));
                    return out;
                }
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} at {} ({e}); the URL is your Okta domain, e.g. https://acme.okta.com",
                        self.http.url("", &[])
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        match self.answer(self.http.url("api/v1/users", &[username]), &[], &mut requests).await {
            Ok(u) => Ok(Some(u.body)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        if let Err(e) = self.read_all(&mut snapshot, &mut requests).await {
            snapshot.cursor = None;
            snapshot.failed(format!("reading the directory failed: {e}"));
        }
        snapshot.requests = requests;
        snapshot
    }

    async fn read_changes(&self, cursor: &str) -> Changes {
        let mut changes = Changes { complete: true, ..Changes::default() };
        let Ok(cursor) = serde_json::from_str::<Cursor>(cursor) else {
            return Changes::restart("the stored change times are unreadable");
        };
        let mut requests = 0;
        if let Err(e) = self.read_since(&cursor, &mut changes, &mut requests).await {
            changes.cursor = None;
            changes.failed(format!("reading the changes failed: {e}"));
        }
        changes.requests = requests;
        changes
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let Some(found) = self.lookup(username).await? else { return Ok(None) };
        let Some(user) = pulled_user(&found) else {
            return Err(RestError::Protocol(format!("user {username} has no id")));
        };
        let mut requests = 0;
        let groups =
            self.answer(self.http.url("api/v1/users", &[&user.external_id, "groups"]), &[], &mut requests).await?.body;
        let groups = groups_of_user(&user, &groups, |g| g["profile"]["name"].as_str());
        Ok(Some((user, groups)))
    }
}

//! Keycloak through its Admin REST API (external-apis.md A4): a confidential client with a service
//! account signs in with client credentials; users and groups are read with `first`/`max` paging,
//! sub-groups through `children` (Keycloak 23+), members per group.

use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError};
use serde_json::{Map, Value};

use crate::fetch::Retry;
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::{Pages, Walk};
use crate::{Connector, PulledGroup, PulledUser, Snapshot, groups_of_user, scim_user};

const PAGE: usize = 100;

pub struct Keycloak {
    base: String,
    realm: String,
    client_id: String,
    /// The realm's admin API; requests carry the current token.
    admin: Http,
    retry: Retry,
    tokens: TokenSource,
}

impl Keycloak {
    pub fn new(
        base: &str,
        realm: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config("Keycloak signs in with a client id and secret: give --username CLIENT_ID and --password-file/--password-env".into()));
        };
        let base = base.trim_end_matches('/').to_string();
        let url = format!("{base}/realms/{realm}/protocol/openid-connect/token");
        let tokens = TokenSource::new(
            TokenRequest::Form { url, client_id: username.clone(), secret: password, scope: None },
            timeout,
        );
        let admin =
            Http::new(&format!("{base}/admin/realms/{realm}"), Credentials::Bearer { token: String::new() }, timeout)?
                .paced(retry.rate);
        Ok(Keycloak { base, realm: realm.to_string(), client_id: username, admin, retry, tokens })
    }

    async fn fetch(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Value, RestError> {
        Ok(self.tokens.get(&self.admin, self.admin.url(path, &[]), query, self.retry, requests).await?.body)
    }

    /// Every item of a `first`/`max` collection.
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("Keycloak {path}"));
        loop {
            let first = out.len().to_string();
            let max = PAGE.to_string();
            let mut q = query.to_vec();
            q.push(("first", &first));
            q.push(("max", &max));
            let page = self.fetch(path, &q, requests).await?;
            let items =
                page.as_array().cloned().ok_or_else(|| RestError::Protocol(format!("{path} did not answer a list")))?;
            let got = items.len();
            // Paging is by offset, so a server that ignores `first` repeats a page: its first entry.
            if let Some(head) = items.first() {
                pages.next(&head["id"].to_string())?;
            }
            out.extend(items);
            if got < PAGE {
                return Ok(out);
            }
        }
    }

    /// Top-level groups and, depth first, their sub-groups.
    async fn groups(&self, requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut queue = self.all("groups", &[("briefRepresentation", "true")], requests).await?;
        let mut walk = Walk::new("Keycloak groups");
        while let Some(g) = queue.pop() {
            let id = g["id"].as_str().unwrap_or_default().to_string();
            walk.visit(&id, g["name"].as_str().unwrap_or_default())?;
            if g["subGroupCount"].as_u64().unwrap_or(0) > 0 {
                queue.extend(self.all(&format!("groups/{id}/children"), &[], requests).await?);
            }
            queue.extend(g["subGroups"].as_array().cloned().unwrap_or_default());
            out.push(g);
        }
        Ok(out)
    }
}

/// A Keycloak user in SCIM form.
fn user_record(u: &Value) -> Map<String, Value> {
    let text = |k: &str| u[k].as_str().unwrap_or_default();
    scim_user(
        &u["username"],
        text("firstName"),
        text("lastName"),
        u["email"].as_str(),
        u["enabled"].as_bool().unwrap_or(true),
    )
}

fn pulled_user(u: &Value) -> Option<PulledUser> {
    Some(PulledUser { external_id: u["id"].as_str()?.to_string(), record: user_record(u) })
}

#[async_trait]
impl Connector for Keycloak {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        match self.tokens.token(&mut requests).await {
            Ok(_) => out.push(Check::ok(format!("signed in to realm {} as client {}", self.realm, self.client_id))),
            Err(e @ RestError::Unreachable { .. }) => {
                out.push(Check::failed(format!(
                    "cannot reach Keycloak at {} ({e}); older versions need /auth at the end of the URL",
                    self.base
                )));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!(
                    "the token request was refused ({e}): check the realm, client id and secret, and that the client has 'Service accounts enabled'"
                )));
                return out;
            }
        }
        for (path, what) in [("users", "users"), ("groups", "groups")] {
            match self.fetch(path, &[("max", "1")], &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the service account may read {what}"))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}): give the client's service account the realm-management roles view-users, query-users and query-groups"
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        let found = self.fetch("users", &[("username", username), ("exact", "true")], &mut requests).await?;
        Ok(found.as_array().and_then(|l| l.first()).cloned())
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        match self.all("users", &[("briefRepresentation", "true")], &mut requests).await {
            Ok(users) => snapshot.users = users.iter().filter_map(pulled_user).collect(),
            Err(e) => {
                snapshot.failed(format!("reading users failed: {e}"));
            }
        }
        match self.groups(&mut requests).await {
            Ok(groups) => {
                for g in &groups {
                    let (Some(id), Some(name)) = (g["id"].as_str(), g["name"].as_str()) else { continue };
                    let mut members: Vec<String> = groups
                        .iter()
                        .filter(|c| c["parentId"].as_str() == Some(id))
                        .filter_map(|c| c["id"].as_str().map(String::from))
                        .collect();
                    match self
                        .all(&format!("groups/{id}/members"), &[("briefRepresentation", "true")], &mut requests)
                        .await
                    {
                        Ok(users) => members.extend(users.iter().filter_map(|u| u["id"].as_str().map(String::from))),
                        Err(e) => {
                            snapshot.failed(format!("reading the members of {name} failed: {e}"));
                        }
                    }
                    snapshot.groups.push(PulledGroup::new(id, name, members));
                }
            }
            Err(e) => {
                snapshot.failed(format!("reading groups failed: {e}"));
            }
        }
        snapshot.requests = requests;
        snapshot
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let Some(found) = self.lookup(username).await? else { return Ok(None) };
        let Some(user) = pulled_user(&found) else {
            return Err(RestError::Protocol(format!("user {username} has no id")));
        };
        let mut requests = 0;
        let groups = self.all(&format!("users/{}/groups", user.external_id), &[], &mut requests).await?;
        let groups = groups_of_user(&user, &Value::Array(groups), |g| g["name"].as_str());
        Ok(Some((user, groups)))
    }
}

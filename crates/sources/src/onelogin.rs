//! OneLogin through API v2 (external-apis.md A6): client credentials (Basic + JSON) for a 10-hour
//! token, cursor paging by the `After-Cursor` header, roles as the groups of access. Incremental
//! reads ask for users `updated_since` the latest change seen; each brings its `role_ids`, so its
//! memberships follow; deletions wait for the next full read.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError};
use serde_json::{Map, Value};

use crate::fetch::Retry;
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::Pages;
use crate::{ChangedGroup, Changes, Connector, MemberChanges, PulledGroup, PulledUser, Snapshot, scim_user};

/// The latest `updated_at` among `users`, or `floor` (OneLogin's timestamps share one format).
fn latest(users: &[Value], floor: &str) -> String {
    users.iter().filter_map(|u| u["updated_at"].as_str()).chain([floor]).max().unwrap_or(floor).to_string()
}

fn role_ids(user: &Value) -> Vec<String> {
    user["role_ids"].as_array().into_iter().flatten().filter_map(|r| r.as_u64().map(|i| i.to_string())).collect()
}

pub struct OneLogin {
    /// The API; requests carry the current token.
    api: Http,
    retry: Retry,
    tokens: TokenSource,
}

/// Statuses in which a person can sign in count as active (1 active, 3 locked, 4 password
/// expired, 5 awaiting reset, 7 password pending, 8 security questions).
fn active(status: u64) -> bool {
    matches!(status, 1 | 3 | 4 | 5 | 7 | 8)
}

fn user_record(u: &Value) -> Map<String, Value> {
    let text = |k: &str| u[k].as_str().unwrap_or_default();
    let user_name = match text("username") {
        "" => u["email"].clone(),
        _ => u["username"].clone(),
    };
    scim_user(
        &user_name,
        text("firstname"),
        text("lastname"),
        u["email"].as_str(),
        active(u["status"].as_u64().unwrap_or(0)),
    )
}

fn pulled_user(u: &Value) -> Option<PulledUser> {
    Some(PulledUser { external_id: u["id"].as_u64()?.to_string(), record: user_record(u) })
}

impl OneLogin {
    pub fn new(base: &str, credentials: Credentials, timeout: Duration, retry: Retry) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "OneLogin signs in with an API credential: give --username CLIENT_ID and --password-file/--password-env".into(),
            ));
        };
        let base = base.trim_end_matches('/').to_string();
        let url = format!("{base}/auth/oauth2/v2/token");
        let tokens = TokenSource::new(TokenRequest::BasicJson { url, client_id: username, secret: password }, timeout);
        let api = Http::new(&base, Credentials::Bearer { token: String::new() }, timeout)?.paced(retry.rate);
        Ok(OneLogin { api, retry, tokens })
    }

    /// Every item of a collection, following `After-Cursor`; a 401 gets one new token.
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        self.pages(path, query, usize::MAX, requests).await
    }

    async fn pages(
        &self,
        path: &str,
        query: &[(&str, &str)],
        most: usize,
        requests: &mut u64,
    ) -> Result<Vec<Value>, RestError> {
        let mut pages = 0;
        let mut seen = Pages::new(format!("OneLogin {path}"));
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            q.push(("limit", "100"));
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let answer = self.tokens.get(&self.api, self.api.url(path, &[]), &q, self.retry, requests).await?;
            out.extend(
                answer
                    .body
                    .as_array()
                    .cloned()
                    .ok_or_else(|| RestError::Protocol(format!("{path} did not answer a list")))?,
            );
            pages += 1;
            match answer.headers.get("after-cursor").and_then(|v| v.to_str().ok()).filter(|c| !c.is_empty()) {
                Some(next) if pages < most => {
                    seen.next(next)?;
                    cursor = Some(next.to_string());
                }
                _ => return Ok(out),
            }
        }
    }

    async fn roles(&self, requests: &mut u64) -> Result<BTreeMap<String, String>, RestError> {
        let roles = self.all("api/2/roles", &[], requests).await?;
        Ok(roles
            .iter()
            .filter_map(|r| Some((r["id"].as_u64()?.to_string(), r["name"].as_str()?.to_string())))
            .collect())
    }
}

#[async_trait]
impl Connector for OneLogin {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        if let Err(e) = self.tokens.token(&mut requests).await {
            out.push(Check::failed(format!(
                "the token request was refused ({e}): check the API credential's client id and secret (Developers → API Credentials)"
            )));
            return out;
        }
        out.push(Check::ok("signed in with the API credential"));
        for (path, what) in [("api/2/users", "users"), ("api/2/roles", "roles")] {
            match self.pages(path, &[], 1, &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the credential may read {what}"))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}); the API credential needs the 'Read All' scope"
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        Ok(self.all("api/2/users", &[("username", username)], &mut requests).await?.into_iter().next())
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        match self.all("api/2/users", &[], &mut requests).await {
            Ok(users) => {
                snapshot.cursor = Some(latest(&users, "1970-01-01T00:00:00.000Z"));
                snapshot.users = users.iter().filter_map(pulled_user).collect();
            }
            Err(e) => snapshot.failed(format!("reading users failed: {e}")),
        }
        match self.roles(&mut requests).await {
            Ok(roles) => {
                for (id, name) in roles {
                    match self.all(&format!("api/2/roles/{id}/users"), &[], &mut requests).await {
                        Ok(members) => {
                            let members =
                                members.iter().filter_map(|m| m["id"].as_u64().map(|i| i.to_string())).collect();
                            snapshot.groups.push(PulledGroup::new(id, name, members));
                        }
                        Err(e) => snapshot.failed(format!("reading the members of role {name} failed: {e}")),
                    }
                }
            }
            Err(e) => snapshot.failed(format!("reading roles failed: {e}")),
        }
        snapshot.requests = requests;
        snapshot
    }

    async fn read_changes(&self, cursor: &str) -> Changes {
        let mut changes = Changes { complete: true, ..Changes::default() };
        let mut requests = 0;
        let read = async {
            let users = self.all("api/2/users", &[("updated_since", cursor)], &mut requests).await?;
            // Roles are few: their names are read every time, so a new role has its name.
            let roles = self.roles(&mut requests).await?;
            Ok::<_, RestError>((users, roles))
        };
        match read.await {
            Ok((users, roles)) => {
                changes.cursor = Some(latest(&users, cursor));
                changes.groups = roles
                    .into_iter()
                    .map(|(id, name)| ChangedGroup {
                        external_id: id,
                        name: Some(name),
                        members: MemberChanges::Same,
                        attributes: None,
                    })
                    .collect();
                for u in &users {
                    if let Some(user) = pulled_user(u) {
                        changes.memberships.push((user.external_id.clone(), role_ids(u)));
                        changes.users.push(user);
                    }
                }
            }
            Err(e) => changes.failed(format!("reading the changes failed: {e}")),
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
        let names = self.roles(&mut requests).await?;
        let groups = found["role_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let id = r.as_u64()?.to_string();
                let name = names.get(&id)?.clone();
                Some(PulledGroup::new(id, name, vec![user.external_id.clone()]))
            })
            .collect();
        Ok(Some((user, groups)))
    }
}

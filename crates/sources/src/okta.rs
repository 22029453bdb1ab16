//! Okta through its Management API (external-apis.md A2), with an API token (`SSWS`): users and
//! groups followed by their `Link: rel="next"` cursors, deprovisioned users read separately
//! (unfiltered lists leave them out) so they are deactivated rather than taken for deleted.

use async_trait::async_trait;
use rest::{Check, HeaderMap, Http, RestError, Url};
use serde_json::{Map, Value};

use crate::fetch::{Retry, get, get_answer};
use crate::{Connector, PulledGroup, PulledUser, Snapshot, groups_of_user, scim_user};

pub struct Okta {
    http: Http,
    retry: Retry,
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
    pub fn new(http: Http, retry: Retry) -> Self {
        Okta { http, retry }
    }

    /// Every item of a collection, following `rel="next"`.
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut answer = get_answer(&self.http, self.http.url(path, &[]), query, self.retry, requests).await?;
        loop {
            let items = answer
                .body
                .as_array()
                .cloned()
                .ok_or_else(|| RestError::Protocol(format!("{path} did not answer a list")))?;
            out.extend(items);
            match next_link(&answer.headers) {
                Some(next) => answer = get_answer(&self.http, next, &[], self.retry, requests).await?,
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
            match get(&self.http, self.http.url(path, &[]), &[("limit", "1")], self.retry, &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the API token may read {what}"))),
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
        match get(&self.http, self.http.url("api/v1/users", &[username]), &[], self.retry, &mut requests).await {
            Ok(u) => Ok(Some(u)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        let users = async {
            let mut all = self.all("api/v1/users", &[("limit", "200")], &mut requests).await?;
            all.extend(
                self.all("api/v1/users", &[("limit", "200"), ("filter", "status eq \"DEPROVISIONED\"")], &mut requests)
                    .await?,
            );
            Ok::<_, RestError>(all)
        }
        .await;
        match users {
            Ok(users) => snapshot.users = users.iter().filter_map(pulled_user).collect(),
            Err(e) => {
                snapshot.failed(format!("reading users failed: {e}"));
            }
        }
        match self.all("api/v1/groups", &[("limit", "200")], &mut requests).await {
            Ok(groups) => {
                for g in &groups {
                    let (Some(id), Some(name)) = (g["id"].as_str(), g["profile"]["name"].as_str()) else { continue };
                    match self.all(&format!("api/v1/groups/{id}/users"), &[("limit", "1000")], &mut requests).await {
                        Ok(members) => {
                            let members = members.iter().filter_map(|u| u["id"].as_str().map(String::from)).collect();
                            snapshot.groups.push(PulledGroup { external_id: id.into(), name: name.into(), members });
                        }
                        Err(e) => {
                            snapshot.failed(format!("reading the members of {name} failed: {e}"));
                        }
                    }
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
        let groups = get(
            &self.http,
            self.http.url("api/v1/users", &[&user.external_id, "groups"]),
            &[],
            self.retry,
            &mut requests,
        )
        .await?;
        let groups = groups_of_user(&user, &groups, |g| g["profile"]["name"].as_str());
        Ok(Some((user, groups)))
    }
}

//! Any SCIM 2.0 service provider as a source: users and groups read page by page
//! (`startIndex`/`count`), members from the groups. For Oracle identity domains also: the scope
//! to one app's grants (users granted it directly or through a granted group, and the granted
//! groups), and groups named by a user attribute.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use std::time::Duration;

use rest::{Check, Credentials, Http, RestError};
use serde_json::{Map, Value};

use crate::fetch::{Retry, get};
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::Pages;
use crate::{Connector, PulledGroup, PulledUser, Snapshot};

const PAGE: u64 = 100;

pub struct Scim {
    http: Http,
    /// OAuth client credentials (Oracle) whose token each request carries; without them, the
    /// client's own credentials are the fixed token.
    tokens: Option<TokenSource>,
    retry: Retry,
    /// Asked for with groups, for servers that return members only on request (Oracle).
    group_attributes: Option<&'static str>,
    /// Only what this app (its id) is granted to (Oracle's `/Grants`).
    app: Option<String>,
    /// A user attribute whose values name more groups the user is in.
    group_attribute: Option<String>,
}

/// The prefix of groups made from a user attribute's values: kept apart from the provider's own.
const ATTRIBUTE_GROUP: &str = "attribute:";

impl Scim {
    pub fn new(http: Http, tokens: Option<TokenSource>, retry: Retry, group_attributes: Option<&'static str>) -> Self {
        Scim { http, tokens, retry, group_attributes, app: None, group_attribute: None }
    }

    /// An Oracle identity domain: a confidential application's client credentials for tokens,
    /// members asked for explicitly (Oracle returns them only on request), and Oracle's extras —
    /// the scope to an app's grants, groups from a user attribute.
    pub fn oracle(
        url: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
        app: Option<String>,
        group_attribute: Option<String>,
    ) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "an Oracle identity domain signs in with a confidential application: give --username CLIENT_ID and --password-file/--password-env".into(),
            ));
        };
        let base = url.trim_end_matches('/');
        let request = TokenRequest::BasicForm {
            url: format!("{base}/oauth2/v1/token"),
            client_id: username,
            secret: password,
            scope: "urn:opc:idm:__myscopes__".into(),
        };
        let http = Http::new(&format!("{base}/admin/v1"), Credentials::Bearer { token: String::new() }, timeout)?
            .paced(retry.rate);
        let mut scim = Scim::new(http, Some(TokenSource::new(request, timeout)), retry, Some("displayName,members"));
        scim.app = app;
        scim.group_attribute = group_attribute;
        Ok(scim)
    }

    /// The values of the group attribute on a user (`name`, `a.b`, or `urn:…:name`).
    fn attribute_groups(&self, user: &Value) -> Vec<String> {
        let Some(path) = &self.group_attribute else { return Vec::new() };
        let value = match path.rsplit_once(':') {
            Some((schema, name)) if path.starts_with("urn:") => &user[schema][name],
            _ => path.split('.').fold(user, |v, part| &v[part]),
        };
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => {
                items.iter().filter_map(|i| i.as_str().or(i["value"].as_str()).map(String::from)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The ids of users and of groups granted the app; None when not scoped.
    async fn granted(&self, requests: &mut u64) -> Result<Option<(HashSet<String>, HashSet<String>)>, RestError> {
        let Some(app) = &self.app else { return Ok(None) };
        let filter = format!("app.value eq \"{app}\"");
        let (grants, failed) = self.all_filtered("Grants", Some(&filter), requests).await;
        if let Some(e) = failed {
            return Err(e);
        }
        let (mut users, mut groups) = (HashSet::new(), HashSet::new());
        for g in &grants {
            let Some(id) = g["grantee"]["value"].as_str() else { continue };
            match g["grantee"]["type"].as_str() {
                Some("Group") => groups.insert(id.to_string()),
                _ => users.insert(id.to_string()),
            };
        }
        Ok(Some((users, groups)))
    }

    async fn get(&self, endpoint: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Value, RestError> {
        let url = self.http.url(endpoint, &[]);
        match &self.tokens {
            None => get(&self.http, url, query, self.retry, requests).await,
            Some(tokens) => Ok(tokens.get(&self.http, url, query, self.retry, requests).await?.body),
        }
    }

    /// Every resource of an endpoint; on a failure, what was read so far and the error.
    async fn all(&self, endpoint: &str, requests: &mut u64) -> (Vec<Value>, Option<RestError>) {
        self.all_filtered(endpoint, None, requests).await
    }

    async fn all_filtered(
        &self,
        endpoint: &str,
        filter: Option<&str>,
        requests: &mut u64,
    ) -> (Vec<Value>, Option<RestError>) {
        let mut out = Vec::new();
        let mut start = 1u64;
        let mut pages = Pages::new(format!("SCIM {endpoint}"));
        loop {
            let start_text = start.to_string();
            let count = PAGE.to_string();
            let mut query = vec![("startIndex", start_text.as_str()), ("count", count.as_str())];
            if let Some(filter) = filter {
                query.push(("filter", filter));
            }
            if endpoint == "Groups"
                && let Some(attributes) = self.group_attributes
            {
                query.push(("attributes", attributes));
            }
            let page = match self.get(endpoint, &query, requests).await {
                Ok(p) => p,
                Err(e) => return (out, Some(e)),
            };
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            // Paging is by offset, so a server that ignores `startIndex` repeats a page.
            if let Some(head) = resources.first()
                && let Err(e) = pages.next(&head["id"].to_string())
            {
                return (out, Some(e));
            }
            let got = resources.len() as u64;
            out.extend(resources);
            let total = page["totalResults"].as_u64().unwrap_or(0);
            if got == 0 || start - 1 + got >= total {
                return (out, None);
            }
            start += got;
        }
    }
}

/// The stored form of a remote user: what it says, without what the remote server assigns.
fn user_record(resource: &Value) -> Map<String, Value> {
    let mut record = resource.as_object().cloned().unwrap_or_default();
    for read_only in ["id", "meta", "groups"] {
        record.remove(read_only);
    }
    record
}

#[async_trait]
impl Connector for Scim {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        match self.get("ServiceProviderConfig", &[], &mut requests).await {
            Ok(_) => out.push(Check::ok("reachable: the service provider configuration answers")),
            Err(e @ RestError::Unauthorized { .. }) => {
                out.push(Check::failed(format!("signing in failed: {e}")));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!(
                    "cannot read {}ServiceProviderConfig ({e}); the URL must be the SCIM base URL (the part before /Users)",
                    self.http.url("", &[])
                )));
                return out;
            }
        }
        for (endpoint, what) in [("Users", "users"), ("Groups", "groups")] {
            match self.get(endpoint, &[("count", "1")], &mut requests).await {
                Ok(page) => out.push(Check::ok(format!(
                    "the token may read {what} ({} there)",
                    page["totalResults"].as_u64().map_or("?".into(), |n| n.to_string())
                ))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot list {what}: {e}; the token needs read access to {endpoint}"
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let filter = format!("userName eq \"{}\"", username.replace('\\', "\\\\").replace('"', "\\\""));
        let mut requests = 0;
        let list = self.get("Users", &[("filter", &filter)], &mut requests).await?;
        Ok(list["Resources"]
            .as_array()
            .and_then(|r| r.iter().find(|u| u["userName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(username))))
            .cloned())
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let Some(found) = self.lookup(username).await? else { return Ok(None) };
        let Some(id) = found["id"].as_str().map(String::from) else {
            return Err(RestError::Protocol(format!("user {username} has no id")));
        };
        let groups = found["groups"]
            .as_array()
            .map(|gs| {
                gs.iter()
                    .filter_map(|g| {
                        let ext = g["value"].as_str()?;
                        let name = g["display"].as_str().unwrap_or(ext);
                        Some(PulledGroup::new(ext, name, vec![id.clone()]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut groups: Vec<PulledGroup> = groups;
        groups.extend(
            self.attribute_groups(&found)
                .into_iter()
                .map(|name| PulledGroup::new(format!("{ATTRIBUTE_GROUP}{name}"), name, vec![id.clone()])),
        );
        let mut requests = 0;
        if let Some((users, granted_groups)) = self.granted(&mut requests).await? {
            let through_group = groups.iter().any(|g| granted_groups.contains(&g.external_id));
            if !users.contains(&id) && !through_group {
                return Ok(None);
            }
            groups.retain(|g| granted_groups.contains(&g.external_id) || g.external_id.starts_with(ATTRIBUTE_GROUP));
        }
        Ok(Some((PulledUser { external_id: id, record: user_record(&found) }, groups)))
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let (users, failed) = self.all("Users", &mut snapshot.requests).await;
        if let Some(e) = failed {
            snapshot.failed(format!("reading users stopped after {}: {e}", users.len()));
        }
        for u in &users {
            match u["id"].as_str() {
                Some(id) => snapshot.users.push(PulledUser { external_id: id.to_string(), record: user_record(u) }),
                None => snapshot.problems.push(format!("a user without id was skipped: {}", u["userName"])),
            }
        }
        let (groups, failed) = self.all("Groups", &mut snapshot.requests).await;
        if let Some(e) = failed {
            snapshot.failed(format!("reading groups stopped after {}: {e}", groups.len()));
        }
        for g in &groups {
            let (Some(id), Some(name)) = (g["id"].as_str(), g["displayName"].as_str()) else {
                snapshot.problems.push(format!("a group without id or displayName was skipped: {g}"));
                continue;
            };
            let members = g["members"]
                .as_array()
                .map(|m| m.iter().filter_map(|x| x["value"].as_str().map(String::from)).collect())
                .unwrap_or_default();
            snapshot.groups.push(PulledGroup::new(id, name, members));
        }
        // Groups named by a user attribute.
        let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for u in &users {
            if let Some(id) = u["id"].as_str() {
                for group in self.attribute_groups(u) {
                    named.entry(group).or_default().push(id.to_string());
                }
            }
        }
        snapshot.groups.extend(
            named
                .into_iter()
                .map(|(name, members)| PulledGroup::new(format!("{ATTRIBUTE_GROUP}{name}"), name, members)),
        );
        match self.granted(&mut snapshot.requests).await {
            Ok(None) => {}
            Ok(Some((users, groups))) => {
                // Granted directly, or a member of a granted group.
                let mut scope = users;
                for g in snapshot.groups.iter().filter(|g| groups.contains(&g.external_id)) {
                    scope.extend(g.members.iter().cloned());
                }
                snapshot.users.retain(|u| scope.contains(&u.external_id));
                snapshot
                    .groups
                    .retain(|g| groups.contains(&g.external_id) || g.external_id.starts_with(ATTRIBUTE_GROUP));
            }
            Err(e) => snapshot.failed(format!("reading the app's grants failed: {e}")),
        }
        snapshot
    }
}

//! Google Workspace through the Admin SDK Directory API (external-apis.md A3): a service account
//! with domain-wide delegation signs a JWT for an administrator and reads users, groups and their
//! members with `nextPageToken` paging; Google's 403 quota answers are waited out like 429s.
//! The Directory API has no app assignments, so a source can be scoped to an organisational unit
//! or to the (nested) members of one group.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError};
use serde_json::{Map, Value};

use crate::fetch::Retry;
use crate::jwt::ServiceAccount;
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::Pages;
use crate::{Connector, PulledGroup, PulledUser, Snapshot, groups_of_user, scim_user};

/// The read-only scopes to delegate, space-separated as the grant wants them.
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly \
https://www.googleapis.com/auth/admin.directory.group.readonly \
https://www.googleapis.com/auth/admin.directory.group.member.readonly";

pub struct GoogleSettings<'a> {
    pub url: &'a str,
    pub admin: &'a str,
    pub customer: &'a str,
    pub domain: Option<&'a str>,
    pub org_unit: Option<&'a str>,
    pub only_group: Option<&'a str>,
}

pub struct Google {
    directory: Http,
    tokens: TokenSource,
    retry: Retry,
    client_email: String,
    admin: String,
    /// `customer=…` or `domain=…`: Google wants one of them on every list.
    scope: (&'static str, String),
    org_unit: Option<String>,
    only_group: Option<String>,
}

impl Google {
    pub fn new(
        settings: GoogleSettings<'_>,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, RestError> {
        let Credentials::Key { key, .. } = credentials else {
            return Err(RestError::Config(
                "Google Workspace signs in with a service-account key: give --key-file with the JSON key".into(),
            ));
        };
        let (request, client_email) = sign_in(&key, settings.admin)?;
        let base = settings.url.trim_end_matches('/');
        let directory =
            Http::new(&format!("{base}/admin/directory/v1"), Credentials::Bearer { token: String::new() }, timeout)?
                .paced(retry.rate);
        let scope = match settings.domain {
            Some(domain) => ("domain", domain.to_string()),
            None => ("customer", settings.customer.to_string()),
        };
        Ok(Google {
            directory,
            tokens: TokenSource::new(request, timeout),
            retry,
            client_email,
            admin: settings.admin.to_string(),
            scope,
            org_unit: settings.org_unit.map(String::from),
            only_group: settings.only_group.map(String::from),
        })
    }

    async fn fetch(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Value, RestError> {
        let url = self.directory.url(path, &[]);
        Ok(self.tokens.get(&self.directory, url, query, self.retry, requests).await?.body)
    }

    /// Every item of a list, following `nextPageToken`.
    async fn all(
        &self,
        path: &str,
        field: &str,
        query: &[(&str, &str)],
        requests: &mut u64,
    ) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = Pages::new(format!("Google {path}"));
        loop {
            let mut q = query.to_vec();
            if let Some(t) = &token {
                q.push(("pageToken", t));
            }
            let page = self.fetch(path, &q, requests).await?;
            out.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["nextPageToken"].as_str() {
                Some(next) if !next.is_empty() => {
                    pages.next(next)?;
                    token = Some(next.to_string());
                }
                _ => return Ok(out),
            }
        }
    }

    async fn users(&self, requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let query_text = self.org_unit.as_ref().map(|ou| format!("orgUnitPath='{ou}'"));
        let mut q = vec![(self.scope.0, self.scope.1.as_str()), ("maxResults", "500"), ("orderBy", "email")];
        if let Some(text) = &query_text {
            q.push(("query", text));
        }
        self.all("users", "users", &q, requests).await
    }

    /// The users in the scoping group, nested groups included.
    async fn scope_members(&self, group: &str, requests: &mut u64) -> Result<HashSet<String>, RestError> {
        let q = [("maxResults", "200"), ("includeDerivedMembership", "true")];
        let members = self.all(&format!("groups/{}/members", segment(group)), "members", &q, requests).await?;
        Ok(members.iter().filter(|m| m["type"] == "USER").filter_map(|m| m["id"].as_str().map(String::from)).collect())
    }

    fn explain_token(&self, e: &RestError) -> String {
        let text = e.to_string();
        if text.contains("unauthorized_client") || text.contains("Client is unauthorized") {
            format!(
                "Google refused to issue a token for {} ({e}): in the Admin console (Security, API controls, Domain-wide delegation) authorise the service account's client id for exactly these scopes: {}; and check that {} is an administrator",
                self.client_email,
                SCOPES.replace(' ', ", "),
                self.admin
            )
        } else {
            format!(
                "Google refused {} ({e}): create a new JSON key if this one was deleted; for an OAuth client, consent again (refresh tokens are revoked when the admin's password changes or after six months unused)",
                self.client_email
            )
        }
    }
}

/// How the key file signs in: a service account acting for the administrator (domain-wide
/// delegation), or an OAuth client with the refresh token an administrator's consent gave
/// (`authorized_user`, as `gcloud auth application-default login` writes it). Also who signs in.
fn sign_in(key: &str, admin: &str) -> Result<(TokenRequest, String), RestError> {
    let file: Value = serde_json::from_str(key).unwrap_or(Value::Null);
    if file["type"] != "authorized_user" {
        let account = Arc::new(ServiceAccount::from_json(key)?);
        let who = account.client_email.clone();
        return Ok((TokenRequest::JwtBearer { account, subject: admin.to_string(), scope: SCOPES.into() }, who));
    }
    let field = |name: &str| {
        file[name].as_str().map(String::from).ok_or_else(|| {
            RestError::Config(format!(
                "the authorized_user file has no {name}: create it again with the OAuth client and the admin's consent"
            ))
        })
    };
    let client_id = field("client_id")?;
    let request = TokenRequest::RefreshToken {
        url: file["token_uri"].as_str().unwrap_or("https://oauth2.googleapis.com/token").to_string(),
        client_id: client_id.clone(),
        secret: field("client_secret")?,
        refresh_token: field("refresh_token")?,
    };
    Ok((request, format!("OAuth client {client_id}")))
}

/// A key (an address or an id) as one path segment.
fn segment(key: &str) -> String {
    key.replace('%', "%25").replace('/', "%2F").replace('#', "%23").replace('?', "%3F")
}

fn user_record(u: &Value) -> Map<String, Value> {
    let name = &u["name"];
    let inactive = u["suspended"].as_bool().unwrap_or(false) || u["archived"].as_bool().unwrap_or(false);
    scim_user(
        &u["primaryEmail"],
        name["givenName"].as_str().unwrap_or_default(),
        name["familyName"].as_str().unwrap_or_default(),
        u["primaryEmail"].as_str(),
        !inactive,
    )
}

fn pulled_user(u: &Value) -> Option<PulledUser> {
    Some(PulledUser { external_id: u["id"].as_str()?.to_string(), record: user_record(u) })
}

#[async_trait]
impl Connector for Google {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        match self.tokens.token(&mut requests).await {
            Ok(_) => out.push(Check::ok(format!("signed in as {} on behalf of {}", self.client_email, self.admin))),
            Err(e @ RestError::Unreachable { .. }) => {
                out.push(Check::failed(format!("cannot reach Google's token endpoint: {e}")));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(self.explain_token(&e)));
                return out;
            }
        }
        let scope = [(self.scope.0, self.scope.1.as_str()), ("maxResults", "1")];
        for (path, what) in [("users", "users"), ("groups", "groups")] {
            match self.fetch(path, &scope, &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("may read {what} of {} {}", self.scope.0, self.scope.1))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}): check --customer/--domain, and that {} is an administrator who may read {what}",
                        self.admin
                    )));
                    return out;
                }
            }
        }
        if let Some(group) = &self.only_group {
            match self.fetch(&format!("groups/{}", segment(group)), &[], &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the scoping group {group} exists"))),
                Err(e) => out.push(Check::failed(format!("the scoping group {group} cannot be read: {e}"))),
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        match self.fetch(&format!("users/{}", segment(username)), &[("projection", "full")], &mut requests).await {
            Ok(found) => Ok(Some(found)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        match self.users(&mut requests).await {
            Ok(users) => snapshot.users = users.iter().filter_map(pulled_user).collect(),
            Err(e) => snapshot.failed(format!("reading users failed: {e}")),
        }
        if let Some(group) = &self.only_group {
            match self.scope_members(group, &mut requests).await {
                Ok(members) => snapshot.users.retain(|u| members.contains(&u.external_id)),
                Err(e) => {
                    snapshot.failed(format!("reading the members of {group}, which scopes this source, failed: {e}"))
                }
            }
        }
        let scope = [(self.scope.0, self.scope.1.as_str()), ("maxResults", "200")];
        match self.all("groups", "groups", &scope, &mut requests).await {
            Ok(groups) => {
                let everyone: Vec<String> = snapshot.users.iter().map(|u| u.external_id.clone()).collect();
                for g in &groups {
                    let (Some(id), Some(name)) = (g["id"].as_str(), g["name"].as_str()) else { continue };
                    let path = format!("groups/{id}/members");
                    match self.all(&path, "members", &[("maxResults", "200")], &mut requests).await {
                        Ok(members) => {
                            let mut ids = Vec::new();
                            for m in &members {
                                match m["type"].as_str() {
                                    // The whole organisation is a member.
                                    Some("CUSTOMER") => ids.extend(everyone.iter().cloned()),
                                    Some("USER" | "GROUP") => ids.extend(m["id"].as_str().map(String::from)),
                                    _ => {}
                                }
                            }
                            snapshot.groups.push(PulledGroup::new(id, name, ids));
                        }
                        Err(e) => snapshot.failed(format!("reading the members of {name} failed: {e}")),
                    }
                }
            }
            Err(e) => snapshot.failed(format!("reading groups failed: {e}")),
        }
        snapshot.requests = requests;
        snapshot
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let Some(found) = self.lookup(username).await? else { return Ok(None) };
        let user = pulled_user(&found).ok_or_else(|| RestError::Protocol(format!("user {username} has no id")))?;
        let mut requests = 0;
        if let Some(group) = &self.only_group {
            let path = format!("groups/{}/hasMember/{}", segment(group), user.external_id);
            if self.fetch(&path, &[], &mut requests).await?["isMember"] != true {
                return Ok(None);
            }
        }
        let groups = self
            .all("groups", "groups", &[("userKey", &user.external_id), ("maxResults", "200")], &mut requests)
            .await?;
        let groups = groups_of_user(&user, &Value::Array(groups), |g| g["name"].as_str());
        Ok(Some((user, groups)))
    }
}

//! Microsoft Entra ID through Microsoft Graph v1.0 (external-apis.md A1): an app registration's
//! client credentials, `$select` for the attributes idsync maps, `@odata.nextLink` paging, group
//! members with their types (nested groups stay nested; the engine flattens them).

use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError, Url};
use serde_json::{Map, Value};

use crate::fetch::Retry;
use crate::oauth::{TokenRequest, TokenSource};
use crate::{Connector, PulledGroup, PulledUser, Snapshot, scim_user};

const USER_FIELDS: &str =
    "id,userPrincipalName,mail,givenName,surname,displayName,accountEnabled,onPremisesSamAccountName";

pub struct Entra {
    /// Graph v1.0; requests carry the current token.
    graph: Http,
    /// Which Graph attribute becomes the username (userPrincipalName, mail, …).
    username_attribute: String,
    retry: Retry,
    tokens: TokenSource,
}

impl Entra {
    pub fn new(
        graph: &str,
        login: &str,
        tenant: &str,
        username_attribute: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "Entra ID signs in with an app registration: give --username <application (client) id> and --password-file/--password-env <client secret>".into(),
            ));
        };
        let url = format!("{}/{tenant}/oauth2/v2.0/token", login.trim_end_matches('/'));
        let scope = Some("https://graph.microsoft.com/.default".to_string());
        let tokens =
            TokenSource::new(TokenRequest::Form { url, client_id: username, secret: password, scope }, timeout);
        let graph = Http::new(
            &format!("{}/v1.0", graph.trim_end_matches('/')),
            Credentials::Bearer { token: String::new() },
            timeout,
        )?;
        Ok(Entra { graph, username_attribute: username_attribute.to_string(), retry, tokens })
    }

    async fn fetch(&self, url: Url, query: &[(&str, &str)], requests: &mut u64) -> Result<Value, RestError> {
        Ok(self.tokens.get(&self.graph, url, query, self.retry, requests).await?.body)
    }

    /// Every item of a collection, following `@odata.nextLink` (which carries the query itself).
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut page = self.fetch(self.graph.url(path, &[]), query, requests).await?;
        loop {
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            match page["@odata.nextLink"].as_str().map(Url::parse) {
                Some(Ok(next)) => page = self.fetch(next, &[], requests).await?,
                Some(Err(e)) => return Err(RestError::Protocol(format!("@odata.nextLink is not a URL: {e}"))),
                None => return Ok(out),
            }
        }
    }

    fn user_record(&self, u: &Value) -> Map<String, Value> {
        let text = |k: &str| u[k].as_str().unwrap_or_default();
        let user_name = match u[self.username_attribute.as_str()].as_str() {
            Some(n) if !n.is_empty() => Value::String(n.to_string()),
            _ => u["userPrincipalName"].clone(),
        };
        let email = u["mail"].as_str().or(u["userPrincipalName"].as_str());
        scim_user(&user_name, text("givenName"), text("surname"), email, u["accountEnabled"].as_bool().unwrap_or(true))
    }

    fn pulled_user(&self, u: &Value) -> Option<PulledUser> {
        Some(PulledUser { external_id: u["id"].as_str()?.to_string(), record: self.user_record(u) })
    }
}

#[async_trait]
impl Connector for Entra {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        if let Err(e) = self.tokens.token(&mut requests).await {
            out.push(Check::failed(format!(
                "the token request was refused ({e}): check the tenant id, the application (client) id and the client secret value (not its id)"
            )));
            return out;
        }
        out.push(Check::ok("signed in as the app registration"));
        for (path, what, permission) in
            [("users", "users", "User.Read.All"), ("groups", "groups", "GroupMember.Read.All")]
        {
            match self.fetch(self.graph.url(path, &[]), &[("$top", "1"), ("$select", "id")], &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the app may read {what}"))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}); the app registration lacks the {permission} application permission (with admin consent)"
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        // Segments are percent-encoded: guests' names hold `#` (`a_b.com#EXT#@tenant…`).
        let url = self.graph.url("users", &[username]);
        match self.fetch(url, &[("$select", USER_FIELDS)], &mut requests).await {
            Ok(u) => Ok(Some(u)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        match self.all("users", &[("$select", USER_FIELDS), ("$top", "999")], &mut requests).await {
            Ok(users) => snapshot.users = users.iter().filter_map(|u| self.pulled_user(u)).collect(),
            Err(e) => snapshot.failed(format!("reading users failed: {e}")),
        }
        match self.all("groups", &[("$select", "id,displayName"), ("$top", "999")], &mut requests).await {
            Ok(groups) => {
                for g in &groups {
                    let (Some(id), Some(name)) = (g["id"].as_str(), g["displayName"].as_str()) else { continue };
                    match self
                        .all(&format!("groups/{id}/members"), &[("$select", "id"), ("$top", "999")], &mut requests)
                        .await
                    {
                        Ok(members) => {
                            let members = members.iter().filter_map(|m| m["id"].as_str().map(String::from)).collect();
                            snapshot.groups.push(PulledGroup { external_id: id.into(), name: name.into(), members });
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
        let Some(user) = self.pulled_user(&found) else {
            return Err(RestError::Protocol(format!("user {username} has no id")));
        };
        let mut requests = 0;
        let groups =
            self.all(&format!("users/{}/memberOf", user.external_id), &[("$top", "999")], &mut requests).await?;
        let groups = groups
            .iter()
            .filter(|g| g["@odata.type"].as_str() == Some("#microsoft.graph.group"))
            .filter_map(|g| {
                Some(PulledGroup {
                    external_id: g["id"].as_str()?.into(),
                    name: g["displayName"].as_str()?.into(),
                    members: vec![user.external_id.clone()],
                })
            })
            .collect();
        Ok(Some((user, groups)))
    }
}

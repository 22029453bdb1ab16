//! Confluence Data Center REST API (external-apis.md B2). User creation needs 8.4 or later.
//! Confluence wants lower-case usernames, so names are sent lower-cased (names compare
//! case-insensitively everywhere in idsync).

use async_trait::async_trait;
use model::target::{Operation, TargetUser};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Check, Http, Kind, TargetClient, TargetError, random_password, write_check};

pub struct Confluence {
    http: Http,
}

impl Confluence {
    pub fn new(http: Http) -> Self {
        Confluence { http }
    }

    fn url(&self, path: &str, segments: &[&str]) -> reqwest::Url {
        self.http.url(&format!("rest/api/{path}"), segments)
    }

    /// Every item of a `start`/`limit` collection, following `_links.next`.
    async fn all(&self, path: &str, segments: &[&str], query: &[(&str, &str)]) -> Result<Vec<Value>, TargetError> {
        let mut out = Vec::new();
        let mut start = 0usize;
        loop {
            let start_text = start.to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("start", &start_text));
            q.push(("limit", "200"));
            let page = self.http.get(self.url(path, segments), &q).await?;
            let results = page["results"]
                .as_array()
                .ok_or_else(|| TargetError::Protocol(format!("{path}: answer has no results")))?;
            out.extend(results.iter().cloned());
            if page["_links"]["next"].is_null() || results.is_empty() {
                return Ok(out);
            }
            start += results.len();
        }
    }
}

#[async_trait]
impl TargetClient for Confluence {
    fn kind(&self) -> Kind {
        Kind::Confluence
    }

    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        match self.http.get(self.url("user/current", &[]), &[]).await {
            Ok(me) if me["type"] == json!("anonymous") => {
                out.push(Check::failed("Confluence answered as an anonymous user: the credentials were not accepted"));
                return out;
            }
            Ok(me) => {
                out.push(Check::ok(format!("reachable; signed in as {}", me["username"].as_str().unwrap_or("?"))))
            }
            Err(e @ TargetError::Unauthorized { .. }) => {
                out.push(Check::failed(format!("signing in failed: {e}")));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!(
                    "cannot reach Confluence's REST API at {} ({e}); the URL must include the context path, e.g. https://wiki.example.com/confluence",
                    self.url("", &[])
                )));
                return out;
            }
        }
        match self.http.get(self.url("user/list", &[]), &[("limit", "1")]).await {
            Ok(_) => out.push(Check::ok("the account has Confluence administrator rights")),
            Err(TargetError::Forbidden { .. }) => {
                out.push(Check::failed(
                    "the account lacks Confluence administrator rights, which managing users and groups needs; use a Confluence administrator's token",
                ));
                return out;
            }
            Err(TargetError::NotFound { .. }) => {
                out.push(Check::failed(
                    "this Confluence has no user administration REST API (it arrived in Confluence 8.4); upgrade Confluence to 8.4 or later",
                ));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!("cannot list users: {e}")));
                return out;
            }
        }
        out.push(write_check(self, "Confluence").await);
        out
    }

    async fn user(&self, name: &str, _properties: &[String]) -> Result<Option<TargetUser>, TargetError> {
        let v = match self.http.get(self.url("user", &[]), &[("username", name), ("expand", "status,email")]).await {
            Ok(v) => v,
            Err(TargetError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(actual) = v["username"].as_str().map(String::from) else {
            return Err(TargetError::Protocol(format!("user {name} has no username in Confluence's answer")));
        };
        let groups = self.all("user/memberof", &[], &[("username", &actual)]).await?;
        Ok(Some(TargetUser {
            key: v["userKey"].as_str().map(String::from),
            email: v["email"].as_str().filter(|e| !e.is_empty()).map(String::from),
            display_name: v["displayName"].as_str().map(String::from),
            active: v["status"].as_str() != Some("deactivated"),
            groups: groups.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect(),
            properties: Default::default(),
            name: actual,
        }))
    }

    async fn groups(&self) -> Result<Vec<String>, TargetError> {
        Ok(self.all("group", &[], &[]).await?.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect())
    }

    async fn apply(&self, op: &Operation) -> Result<(), TargetError> {
        let send = |method: Method, url: reqwest::Url, body: Option<Value>| async move {
            self.http.send(method, url, &[], body.as_ref()).await.map(|_| ())
        };
        match op {
            Operation::CreateUser { user } => {
                let body = json!({
                    "userName": user.name.to_lowercase(),
                    "fullName": user.display_name.as_deref().unwrap_or(&user.name),
                    "email": user.email.as_deref().unwrap_or_default(),
                    "password": random_password(),
                });
                match send(Method::POST, self.url("admin/user", &[]), Some(body)).await {
                    Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                    other => other,
                }
            }
            Operation::UpdateUser { name, email, display_name } => {
                let mut body = json!({});
                if let Some(e) = email {
                    body["email"] = json!(e);
                }
                if let Some(d) = display_name {
                    body["fullName"] = json!(d);
                }
                send(Method::PUT, self.url("admin/user", &[name]), Some(body)).await
            }
            Operation::SetActive { name, active } => {
                let action = if *active { "enable" } else { "disable" };
                send(Method::PUT, self.url("admin/user", &[name, action]), None).await
            }
            Operation::DeleteUser { name } => match send(Method::DELETE, self.url("admin/user", &[name]), None).await {
                Err(TargetError::NotFound { .. }) => Ok(()),
                other => other,
            },
            Operation::CreateGroup { group } => {
                match send(Method::POST, self.url("admin/group", &[]), Some(json!({"name": group}))).await {
                    Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                    other => other,
                }
            }
            Operation::AddMember { group, user } => {
                send(Method::PUT, self.url("user", &[user, "group", group]), None).await
            }
            Operation::RemoveMember { group, user } => {
                send(Method::DELETE, self.url("user", &[user, "group", group]), None).await
            }
            Operation::RenameUser { .. } | Operation::SetProperty { .. } | Operation::SetLead { .. } => {
                Err(TargetError::Unsupported(format!("Confluence cannot {} over REST", op.action().replace('_', " "))))
            }
        }
    }

    async fn delete_group(&self, group: &str) -> Result<(), TargetError> {
        self.http.send(Method::DELETE, self.url("admin/group", &[group]), &[], None).await.map(|_| ())
    }
}

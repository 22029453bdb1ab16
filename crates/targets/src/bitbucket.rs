//! Bitbucket Data Center REST API 1.0 (external-apis.md B3). Bitbucket has no REST call that
//! deactivates a user, so the planner revokes access by removing memberships instead.

use async_trait::async_trait;
use model::target::{Operation, TargetUser, fold};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Check, Http, Kind, TargetClient, TargetError, random_password, write_check};

pub struct Bitbucket {
    http: Http,
}

impl Bitbucket {
    pub fn new(http: Http) -> Self {
        Bitbucket { http }
    }

    fn url(&self, path: &str) -> reqwest::Url {
        self.http.url(&format!("rest/api/1.0/{path}"), &[])
    }

    /// Every value of a paged collection (`isLastPage`/`nextPageStart`).
    async fn all(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, TargetError> {
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let start_text = start.to_string();
            let mut q = query.to_vec();
            q.push(("start", &start_text));
            q.push(("limit", "1000"));
            let page = self.http.get(self.url(path), &q).await?;
            let values = page["values"]
                .as_array()
                .ok_or_else(|| TargetError::Protocol(format!("{path}: answer has no values")))?;
            out.extend(values.iter().cloned());
            if page["isLastPage"] != json!(false) {
                return Ok(out);
            }
            start = page["nextPageStart"].as_u64().ok_or_else(|| {
                TargetError::Protocol(format!("{path}: a page that is not the last has no nextPageStart"))
            })?;
        }
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Result<(), TargetError> {
        self.http.send(Method::POST, self.url(path), query, body.as_ref()).await.map(|_| ())
    }
}

#[async_trait]
impl TargetClient for Bitbucket {
    fn kind(&self) -> Kind {
        Kind::Bitbucket
    }

    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        match self.http.get(self.url("application-properties"), &[]).await {
            Ok(p) => {
                out.push(Check::ok(format!("reachable: Bitbucket {}", p["version"].as_str().unwrap_or("unknown"))))
            }
            Err(e) => {
                out.push(Check::failed(format!("cannot reach Bitbucket's REST API at {}: {e}", self.url(""))));
                return out;
            }
        }
        match self.http.get(self.url("admin/users"), &[("limit", "1")]).await {
            Ok(_) => out.push(Check::ok("signed in with Admin global permission")),
            Err(e @ TargetError::Unauthorized { .. }) => {
                out.push(Check::failed(format!("signing in failed: {e}")));
                return out;
            }
            Err(TargetError::Forbidden { .. }) => {
                out.push(Check::failed(
                    "the account lacks the Admin global permission, which managing users and groups needs (HTTP access tokens need Admin permission too; otherwise use Basic auth with an admin account)",
                ));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!("cannot list users: {e}")));
                return out;
            }
        }
        out.push(Check::warning(
            "Bitbucket cannot deactivate users over REST: idsync revokes access by removing every group membership (which frees the licence) unless on_inactive/on_removed say \"delete\" or \"leave\"",
        ));
        out.push(write_check(self, "Bitbucket").await);
        out
    }

    async fn user(&self, name: &str, _properties: &[String]) -> Result<Option<TargetUser>, TargetError> {
        // The filter matches substrings of names, display names and emails: pick the exact name.
        let found = self.all("admin/users", &[("filter", name)]).await?;
        let Some(v) = found.into_iter().find(|u| u["name"].as_str().is_some_and(|n| fold(n) == fold(name))) else {
            return Ok(None);
        };
        let actual = v["name"].as_str().unwrap_or(name).to_string();
        let groups = self.all("admin/users/more-members", &[("context", &actual)]).await?;
        Ok(Some(TargetUser {
            key: v["id"].as_u64().map(|id| id.to_string()),
            email: v["emailAddress"].as_str().map(String::from),
            display_name: v["displayName"].as_str().map(String::from),
            active: v["active"].as_bool().unwrap_or(true),
            groups: groups.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect(),
            properties: Default::default(),
            name: actual,
        }))
    }

    async fn groups(&self) -> Result<Vec<String>, TargetError> {
        Ok(self.all("admin/groups", &[]).await?.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect())
    }

    async fn apply(&self, op: &Operation) -> Result<(), TargetError> {
        match op {
            Operation::CreateUser { user } => {
                let password = random_password();
                let display = user.display_name.as_deref().unwrap_or(&user.name);
                let email = user.email.as_deref().unwrap_or_default();
                let query = [
                    ("name", user.name.as_str()),
                    ("displayName", display),
                    ("emailAddress", email),
                    ("password", password.as_str()),
                    ("addToDefaultGroup", "false"),
                    ("notify", "false"),
                ];
                match self.post("admin/users", &query, None).await {
                    Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                    other => other,
                }
            }
            Operation::UpdateUser { name, email, display_name } => {
                let mut body = json!({"name": name});
                if let Some(e) = email {
                    body["email"] = json!(e);
                }
                if let Some(d) = display_name {
                    body["displayName"] = json!(d);
                }
                self.http.send(Method::PUT, self.url("admin/users"), &[], Some(&body)).await.map(|_| ())
            }
            Operation::RenameUser { name, new_name } => {
                self.post("admin/users/rename", &[], Some(json!({"name": name, "newName": new_name}))).await
            }
            Operation::DeleteUser { name } => {
                match self.http.send(Method::DELETE, self.url("admin/users"), &[("name", name)], None).await {
                    Ok(_) | Err(TargetError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Operation::CreateGroup { group } => match self.post("admin/groups", &[("name", group)], None).await {
                Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                other => other,
            },
            Operation::AddMember { group, user } => {
                self.post("admin/users/add-groups", &[], Some(json!({"user": user, "groups": [group]}))).await
            }
            Operation::RemoveMember { group, user } => {
                self.post("admin/users/remove-group", &[], Some(json!({"context": user, "itemName": group}))).await
            }
            Operation::SetActive { .. } | Operation::SetProperty { .. } | Operation::SetLead { .. } => {
                Err(TargetError::Unsupported(format!("Bitbucket cannot {} over REST", op.action().replace('_', " "))))
            }
        }
    }

    async fn delete_group(&self, group: &str) -> Result<(), TargetError> {
        self.http.send(Method::DELETE, self.url("admin/groups"), &[("name", group)], None).await.map(|_| ())
    }
}

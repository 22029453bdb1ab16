//! Any SCIM 2.0 service provider (RFC 7643/7644) as a target. Users and groups are found by
//! `userName` and `displayName` filters; ids are remembered so each operation costs one request.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use model::target::{Operation, TargetUser, fold};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Check, Http, Kind, TargetClient, TargetError, write_check};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct Scim {
    http: Http,
    /// Folded name → id, for users and groups.
    user_ids: Mutex<HashMap<String, String>>,
    group_ids: Mutex<HashMap<String, String>>,
}

fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": operations})
}

impl Scim {
    pub fn new(http: Http) -> Self {
        Scim { http, user_ids: Mutex::default(), group_ids: Mutex::default() }
    }

    fn url(&self, path: &str, segments: &[&str]) -> reqwest::Url {
        self.http.url(path, segments)
    }

    async fn find(&self, endpoint: &str, attribute: &str, value: &str) -> Result<Option<Value>, TargetError> {
        let filter = format!("{attribute} eq {}", quoted(value));
        let list = self.http.get(self.url(endpoint, &[]), &[("filter", &filter)]).await?;
        let resources = list["Resources"].as_array().cloned().unwrap_or_default();
        Ok(resources.into_iter().find(|r| r[attribute].as_str().is_some_and(|n| fold(n) == fold(value))))
    }

    async fn user_id(&self, name: &str) -> Result<String, TargetError> {
        if let Some(id) = lock(&self.user_ids).get(&fold(name)) {
            return Ok(id.clone());
        }
        match self.find("Users", "userName", name).await? {
            Some(u) => {
                let id = u["id"]
                    .as_str()
                    .ok_or_else(|| TargetError::Protocol(format!("user {name} has no id")))?
                    .to_string();
                lock(&self.user_ids).insert(fold(name), id.clone());
                Ok(id)
            }
            None => Err(TargetError::NotFound { message: format!("no user with userName {name}") }),
        }
    }

    async fn group_id(&self, name: &str) -> Result<String, TargetError> {
        if let Some(id) = lock(&self.group_ids).get(&fold(name)) {
            return Ok(id.clone());
        }
        match self.find("Groups", "displayName", name).await? {
            Some(g) => {
                let id = g["id"]
                    .as_str()
                    .ok_or_else(|| TargetError::Protocol(format!("group {name} has no id")))?
                    .to_string();
                lock(&self.group_ids).insert(fold(name), id.clone());
                Ok(id)
            }
            None => Err(TargetError::NotFound { message: format!("no group with displayName {name}") }),
        }
    }

    /// Every resource of a list, following `startIndex`/`count`.
    async fn all(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, TargetError> {
        let mut out = Vec::new();
        let mut start = 1u64;
        loop {
            let start_text = start.to_string();
            let mut q = query.to_vec();
            q.push(("startIndex", &start_text));
            q.push(("count", "100"));
            let page = self.http.get(self.url(endpoint, &[]), &q).await?;
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            let total = page["totalResults"].as_u64().unwrap_or(0);
            let got = resources.len() as u64;
            out.extend(resources);
            if got == 0 || start - 1 + got >= total {
                return Ok(out);
            }
            start += got;
        }
    }

    async fn patch_user(&self, name: &str, operations: Value) -> Result<(), TargetError> {
        let id = self.user_id(name).await?;
        self.http.send(Method::PATCH, self.url("Users", &[&id]), &[], Some(&patch(operations))).await.map(|_| ())
    }
}

#[async_trait]
impl TargetClient for Scim {
    fn kind(&self) -> Kind {
        Kind::Scim
    }

    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        match self.http.get(self.url("ServiceProviderConfig", &[]), &[]).await {
            Ok(_) => out.push(Check::ok("reachable: the service provider configuration answers")),
            Err(e @ TargetError::Unauthorized { .. }) => {
                out.push(Check::failed(format!("signing in failed: {e}")));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!(
                    "cannot read {}ServiceProviderConfig ({e}); the URL must be the SCIM base URL (the one that ends before /Users)",
                    self.url("", &[])
                )));
                return out;
            }
        }
        match self.http.get(self.url("Users", &[]), &[("count", "1")]).await {
            Ok(_) => out.push(Check::ok("the token may read users")),
            Err(e) => {
                out.push(Check::failed(format!("cannot list users: {e}")));
                return out;
            }
        }
        out.push(write_check(self, "the SCIM application").await);
        out
    }

    async fn user(&self, name: &str, _properties: &[String]) -> Result<Option<TargetUser>, TargetError> {
        let Some(u) = self.find("Users", "userName", name).await? else {
            lock(&self.user_ids).remove(&fold(name));
            return Ok(None);
        };
        let id = u["id"].as_str().unwrap_or_default().to_string();
        let actual = u["userName"].as_str().unwrap_or(name).to_string();
        lock(&self.user_ids).insert(fold(&actual), id.clone());
        let groups: Vec<String> = match u["groups"].as_array() {
            Some(groups) => groups.iter().filter_map(|g| g["display"].as_str().map(String::from)).collect(),
            None => {
                let filter = format!("members.value eq {}", quoted(&id));
                self.all("Groups", &[("filter", &filter), ("attributes", "displayName")])
                    .await?
                    .iter()
                    .filter_map(|g| g["displayName"].as_str().map(String::from))
                    .collect()
            }
        };
        let emails = u["emails"].as_array().cloned().unwrap_or_default();
        let email = emails
            .iter()
            .find(|e| e["primary"] == json!(true))
            .or(emails.first())
            .and_then(|e| e["value"].as_str())
            .map(String::from);
        Ok(Some(TargetUser {
            name: actual,
            key: Some(id),
            email,
            display_name: u["displayName"].as_str().map(String::from),
            active: u["active"].as_bool().unwrap_or(true),
            groups: groups.into_iter().collect(),
            properties: Default::default(),
        }))
    }

    async fn groups(&self) -> Result<Vec<String>, TargetError> {
        let groups = self.all("Groups", &[("attributes", "displayName")]).await?;
        let mut ids = lock(&self.group_ids);
        Ok(groups
            .iter()
            .filter_map(|g| {
                let name = g["displayName"].as_str()?;
                if let Some(id) = g["id"].as_str() {
                    ids.insert(fold(name), id.to_string());
                }
                Some(name.to_string())
            })
            .collect())
    }

    async fn apply(&self, op: &Operation) -> Result<(), TargetError> {
        match op {
            Operation::CreateUser { user } => {
                let mut body = json!({
                    "schemas": [USER_SCHEMA],
                    "userName": user.name,
                    "displayName": user.display_name.as_deref().unwrap_or(&user.name),
                    "active": true,
                });
                if let Some(e) = &user.email {
                    body["emails"] = json!([{"value": e, "type": "work", "primary": true}]);
                }
                match self.http.send(Method::POST, self.url("Users", &[]), &[], Some(&body)).await {
                    Ok(created) => {
                        if let Some(id) = created.body["id"].as_str() {
                            lock(&self.user_ids).insert(fold(&user.name), id.to_string());
                        }
                        Ok(())
                    }
                    Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Operation::UpdateUser { name, email, display_name } => {
                let mut ops = Vec::new();
                if let Some(e) = email {
                    ops.push(json!({"op": "replace", "path": "emails", "value": [{"value": e, "type": "work", "primary": true}]}));
                }
                if let Some(d) = display_name {
                    ops.push(json!({"op": "replace", "path": "displayName", "value": d}));
                }
                self.patch_user(name, Value::Array(ops)).await
            }
            Operation::RenameUser { name, new_name } => {
                self.patch_user(name, json!([{"op": "replace", "path": "userName", "value": new_name}])).await?;
                let id = lock(&self.user_ids).remove(&fold(name));
                if let Some(id) = id {
                    lock(&self.user_ids).insert(fold(new_name), id);
                }
                Ok(())
            }
            Operation::SetActive { name, active } => {
                self.patch_user(name, json!([{"op": "replace", "path": "active", "value": active}])).await
            }
            Operation::DeleteUser { name } => {
                let id = match self.user_id(name).await {
                    Ok(id) => id,
                    Err(TargetError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                };
                lock(&self.user_ids).remove(&fold(name));
                match self.http.send(Method::DELETE, self.url("Users", &[&id]), &[], None).await {
                    Ok(_) | Err(TargetError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Operation::CreateGroup { group } => {
                let body = json!({"schemas": [GROUP_SCHEMA], "displayName": group});
                match self.http.send(Method::POST, self.url("Groups", &[]), &[], Some(&body)).await {
                    Ok(created) => {
                        if let Some(id) = created.body["id"].as_str() {
                            lock(&self.group_ids).insert(fold(group), id.to_string());
                        }
                        Ok(())
                    }
                    Err(TargetError::Rejected { status: 409, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Operation::AddMember { group, user } => {
                let (gid, uid) = (self.group_id(group).await?, self.user_id(user).await?);
                let body = patch(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]));
                self.http.send(Method::PATCH, self.url("Groups", &[&gid]), &[], Some(&body)).await.map(|_| ())
            }
            Operation::RemoveMember { group, user } => {
                let (gid, uid) = (self.group_id(group).await?, self.user_id(user).await?);
                let path = format!("members[value eq {}]", quoted(&uid));
                let body = patch(json!([{"op": "remove", "path": path}]));
                self.http.send(Method::PATCH, self.url("Groups", &[&gid]), &[], Some(&body)).await.map(|_| ())
            }
            Operation::SetProperty { .. } | Operation::SetLead { .. } => {
                Err(TargetError::Unsupported(format!("a SCIM application cannot {}", op.action().replace('_', " "))))
            }
        }
    }

    async fn delete_group(&self, group: &str) -> Result<(), TargetError> {
        let id = self.group_id(group).await?;
        lock(&self.group_ids).remove(&fold(group));
        self.http.send(Method::DELETE, self.url("Groups", &[&id]), &[], None).await.map(|_| ())
    }
}

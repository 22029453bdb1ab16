//! Jira Data Center, REST API v2 (external-apis.md B1).

use async_trait::async_trait;
use model::target::{Lead, LeadKind, Operation, TargetUser};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Check, Http, Kind, TargetClient, TargetError, write_check};

pub struct Jira {
    http: Http,
}

impl Jira {
    pub fn new(http: Http) -> Self {
        Jira { http }
    }

    fn api(&self, path: &str) -> reqwest::Url {
        self.http.url(&format!("rest/api/2/{path}"), &[])
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, TargetError> {
        Ok(self.http.send(method, self.api(path), query, body).await?.body)
    }

    async fn property(&self, name: &str, key: &str) -> Result<Option<String>, TargetError> {
        let url = self.http.url("rest/api/2/user/properties", &[key]);
        match self.http.get(url, &[("username", name)]).await {
            Ok(v) => Ok(Some(match &v["value"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
            Err(TargetError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn lead_name(v: &Value) -> Option<String> {
    v.get("lead")
        .and_then(|l| l["name"].as_str())
        .or(v["leadUserName"].as_str())
        .filter(|s| !s.is_empty())
        .map(String::from)
}

#[async_trait]
impl TargetClient for Jira {
    fn kind(&self) -> Kind {
        Kind::Jira
    }

    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let info = match self.send(Method::GET, "serverInfo", &[], None).await {
            Ok(info) => info,
            Err(e) => {
                out.push(Check::failed(format!("cannot reach Jira's REST API at {}: {e}", self.api(""))));
                return out;
            }
        };
        let version = info["version"].as_str().unwrap_or("unknown").to_string();
        out.push(Check::ok(format!("reachable: Jira {version}")));
        let me = match self.send(Method::GET, "myself", &[], None).await {
            Ok(me) => me,
            Err(e) => {
                out.push(Check::failed(format!("signing in failed: {e}")));
                return out;
            }
        };
        let who = me["name"].as_str().unwrap_or("?").to_string();
        out.push(Check::ok(format!("signed in as {who}")));
        match self.send(Method::GET, "mypermissions", &[("permissions", "ADMINISTER")], None).await {
            Ok(p) if p["permissions"]["ADMINISTER"]["havePermission"] == json!(true) => {
                out.push(Check::ok(format!("{who} has the Jira Administrators global permission")))
            }
            Ok(_) => {
                out.push(Check::failed(format!(
                    "{who} lacks the Jira Administrators global permission, which creating users and changing groups needs; grant it or use another account"
                )));
                return out;
            }
            Err(e) => {
                out.push(Check::failed(format!("cannot read {who}'s permissions: {e}")));
                return out;
            }
        }
        let numbers: Vec<u64> =
            info["versionNumbers"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
        if numbers.len() >= 2 && (numbers[0], numbers[1]) < (8, 3) {
            out.push(Check::warning(format!(
                "Jira {version} cannot deactivate users over REST (that needs 8.3): set users.on_inactive and users.on_removed to \"delete\" or \"leave\", or upgrade"
            )));
        }
        out.push(write_check(self, "Jira").await);
        out
    }

    async fn user(&self, name: &str, properties: &[String]) -> Result<Option<TargetUser>, TargetError> {
        let v = match self.send(Method::GET, "user", &[("username", name), ("expand", "groups")], None).await {
            Ok(v) => v,
            Err(TargetError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(actual) = v["name"].as_str() else {
            return Err(TargetError::Protocol(format!("user {name} has no name in Jira's answer")));
        };
        let mut user = TargetUser {
            name: actual.to_string(),
            key: v["key"].as_str().map(String::from),
            email: v["emailAddress"].as_str().map(String::from),
            display_name: v["displayName"].as_str().map(String::from),
            active: v["active"].as_bool().unwrap_or(true),
            groups: v["groups"]["items"]
                .as_array()
                .map(|items| items.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect())
                .unwrap_or_default(),
            properties: Default::default(),
        };
        for key in properties {
            if let Some(value) = self.property(actual, key).await? {
                user.properties.insert(key.clone(), value);
            }
        }
        Ok(Some(user))
    }

    async fn groups(&self) -> Result<Vec<String>, TargetError> {
        let v = self.send(Method::GET, "groups/picker", &[("query", ""), ("maxResults", "100000")], None).await?;
        let groups =
            v["groups"].as_array().ok_or_else(|| TargetError::Protocol("groups picker answer has no groups".into()))?;
        Ok(groups.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect())
    }

    async fn leads(&self) -> Result<Vec<Lead>, TargetError> {
        let projects = self.send(Method::GET, "project", &[("expand", "lead")], None).await?;
        let mut out = Vec::new();
        for p in projects.as_array().into_iter().flatten() {
            let Some(key) = p["key"].as_str() else { continue };
            out.push(Lead {
                kind: LeadKind::Project,
                id: key.to_string(),
                name: p["name"].as_str().unwrap_or(key).to_string(),
                lead: lead_name(p),
            });
            let url = self.http.url("rest/api/2/project", &[key, "components"]);
            for c in self.http.get(url, &[]).await?.as_array().into_iter().flatten() {
                let Some(id) = c["id"].as_str().map(String::from).or_else(|| c["id"].as_u64().map(|n| n.to_string()))
                else {
                    continue;
                };
                out.push(Lead {
                    kind: LeadKind::Component,
                    name: format!("{} ({key})", c["name"].as_str().unwrap_or(&id)),
                    id,
                    lead: lead_name(c),
                });
            }
        }
        Ok(out)
    }

    async fn apply(&self, op: &Operation) -> Result<(), TargetError> {
        let result = match op {
            Operation::CreateUser { user } => {
                // Jira's REST description types `notification` as a string.
                let mut body = json!({"name": user.name, "notification": "false"});
                if let Some(e) = &user.email {
                    body["emailAddress"] = json!(e);
                }
                body["displayName"] = json!(user.display_name.as_deref().unwrap_or(&user.name));
                match self.send(Method::POST, "user", &[], Some(&body)).await {
                    Err(TargetError::Rejected { message, .. }) if message.contains("already exists") => Ok(Value::Null),
                    other => other,
                }
            }
            Operation::UpdateUser { name, email, display_name } => {
                let mut body = json!({});
                if let Some(e) = email {
                    body["emailAddress"] = json!(e);
                }
                if let Some(d) = display_name {
                    body["displayName"] = json!(d);
                }
                self.send(Method::PUT, "user", &[("username", name)], Some(&body)).await
            }
            Operation::RenameUser { name, new_name } => {
                self.send(Method::PUT, "user", &[("username", name)], Some(&json!({"name": new_name}))).await
            }
            Operation::SetActive { name, active } => {
                match self.send(Method::PUT, "user", &[("username", name)], Some(&json!({"active": active}))).await {
                    Err(TargetError::Rejected { status, message })
                        if message.contains("error.no.value.found.to.be.changed") =>
                    {
                        return Err(TargetError::Rejected {
                            status,
                            message: format!(
                                "{message} (Jira before 8.3 cannot deactivate users over REST: set on_inactive/on_removed to \"delete\" or \"leave\", or upgrade)"
                            ),
                        });
                    }
                    other => other,
                }
            }
            Operation::DeleteUser { name } => {
                match self.send(Method::DELETE, "user", &[("username", name)], None).await {
                    Err(TargetError::NotFound { .. }) => Ok(Value::Null),
                    other => other,
                }
            }
            Operation::SetProperty { name, key, value } => {
                let url = self.http.url("rest/api/2/user/properties", &[key]);
                self.http.send(Method::PUT, url, &[("username", name)], Some(&json!(value))).await.map(|a| a.body)
            }
            Operation::CreateGroup { group } => {
                // "exists" is success: the group listing (the groups picker) may be capped on a
                // large instance, so idsync can try to create a group it did not see.
                match self.send(Method::POST, "group", &[], Some(&json!({"name": group}))).await {
                    Err(TargetError::Rejected { message, .. }) if message.contains("already exists") => Ok(Value::Null),
                    other => other,
                }
            }
            Operation::AddMember { group, user } => {
                match self.send(Method::POST, "group/user", &[("groupname", group)], Some(&json!({"name": user}))).await
                {
                    Err(TargetError::Rejected { message, .. }) if message.contains("already a member") => {
                        Ok(Value::Null)
                    }
                    other => other,
                }
            }
            Operation::RemoveMember { group, user } => {
                match self.send(Method::DELETE, "group/user", &[("groupname", group), ("username", user)], None).await {
                    Err(TargetError::NotFound { message }) if message.contains("not a member") => Ok(Value::Null),
                    other => other,
                }
            }
            Operation::SetLead { kind: LeadKind::Project, id, lead } => {
                let url = self.http.url("rest/api/2/project", &[id]);
                self.http.send(Method::PUT, url, &[], Some(&json!({"lead": lead}))).await.map(|a| a.body)
            }
            Operation::SetLead { kind: LeadKind::Component, id, lead } => {
                let url = self.http.url("rest/api/2/component", &[id]);
                self.http.send(Method::PUT, url, &[], Some(&json!({"leadUserName": lead}))).await.map(|a| a.body)
            }
        };
        result.map(|_| ())
    }

    async fn delete_group(&self, group: &str) -> Result<(), TargetError> {
        self.send(Method::DELETE, "group", &[("groupname", group)], None).await.map(|_| ())
    }
}

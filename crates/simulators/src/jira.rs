//! Jira Data Center REST API v2 simulator (external-apis.md B1 and Part C): users with immutable
//! keys and mutable names, groups and memberships, user properties, projects and components with
//! leads, version differences, a read-only directory and lead-protection knobs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{Caller, Control, Credentials, atlassian_reply, fold, lock, number, truthy};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JiraOptions {
    /// The Jira version the simulator behaves as, e.g. "9.12.0", "8.2.0", "10.3.0".
    pub version: String,
    /// Refuse to deactivate or delete a user who leads a project or component.
    pub protect_leads: bool,
    /// Every user and group write fails, as with a read-only LDAP directory first in order.
    pub read_only_directory: bool,
}

impl Default for JiraOptions {
    fn default() -> Self {
        JiraOptions { version: "9.12.0".into(), protect_leads: true, read_only_directory: false }
    }
}

impl JiraOptions {
    fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        v >= (major, minor)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JiraUser {
    pub key: String,
    pub name: String,
    pub email: String,
    pub display_name: String,
    pub active: bool,
    pub properties: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JiraGroup {
    pub name: String,
    /// User keys.
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JiraProject {
    pub key: String,
    pub name: String,
    /// User key.
    pub lead: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JiraComponent {
    pub id: u64,
    pub project: String,
    pub name: String,
    pub lead: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct JiraData {
    pub users: BTreeMap<String, JiraUser>,
    pub groups: BTreeMap<String, JiraGroup>,
    pub projects: BTreeMap<String, JiraProject>,
    pub components: BTreeMap<u64, JiraComponent>,
    next_key: u64,
}

impl JiraData {
    fn key_of(&self, name: &str) -> Option<String> {
        let name = fold(name);
        self.users.values().find(|u| fold(&u.name) == name).map(|u| u.key.clone())
    }

    pub fn user(&self, name: &str) -> Option<&JiraUser> {
        self.key_of(name).and_then(|k| self.users.get(&k))
    }

    /// Names of the groups a user (by name) is in, sorted.
    pub fn groups_of(&self, name: &str) -> Vec<String> {
        let Some(key) = self.key_of(name) else { return Vec::new() };
        self.groups.values().filter(|g| g.members.contains(&key)).map(|g| g.name.clone()).collect()
    }

    fn leads_of(&self, key: &str) -> Vec<String> {
        let projects = self.projects.values().filter(|p| p.lead == key).map(|p| format!("project {}", p.key));
        let components = self
            .components
            .values()
            .filter(|c| c.lead.as_deref() == Some(key))
            .map(|c| format!("component {} of {}", c.name, c.project));
        projects.chain(components).collect()
    }
}

pub struct Jira {
    pub control: Arc<Control>,
    pub options: Mutex<JiraOptions>,
    pub data: Mutex<JiraData>,
    base: Mutex<String>,
}

impl Jira {
    pub fn new(credentials: Credentials, options: JiraOptions) -> Arc<Self> {
        let jira = Arc::new(Jira {
            control: Control::new(credentials.clone()),
            options: Mutex::new(options),
            data: Mutex::new(JiraData { next_key: 10000, ..JiraData::default() }),
            base: Mutex::new(String::new()),
        });
        // The account the credentials belong to, as in a real instance.
        let mut data = lock(&jira.data);
        let key = new_key(&mut data);
        data.users.insert(
            key.clone(),
            JiraUser {
                key: key.clone(),
                name: credentials.admin_user.clone(),
                email: "admin@example.com".into(),
                display_name: "Administrator".into(),
                active: true,
                properties: BTreeMap::new(),
            },
        );
        data.groups.insert(
            "jira-administrators".into(),
            JiraGroup { name: "jira-administrators".into(), members: [key].into() },
        );
        data.groups.insert(
            "jira-software-users".into(),
            JiraGroup { name: "jira-software-users".into(), members: BTreeSet::new() },
        );
        drop(data);
        jira
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/serverInfo", get(server_info))
            .route("/myself", get(myself))
            .route("/mypermissions", get(my_permissions))
            .route("/user", get(get_user).post(create_user).put(update_user).delete(delete_user))
            .route("/user/search", get(search_users))
            .route("/user/list", get(list_users))
            .route("/user/properties", get(list_properties))
            .route("/user/properties/{key}", get(get_property).put(set_property).delete(delete_property))
            .route("/group", axum::routing::post(create_group).delete(delete_group))
            .route("/group/member", get(group_members))
            .route("/group/user", axum::routing::post(add_member).delete(remove_member))
            .route("/groups/picker", get(groups_picker))
            .route("/project", get(list_projects).post(create_project))
            .route("/project/{key}", get(get_project).put(update_project))
            .route("/project/{key}/components", get(project_components))
            .route("/component", axum::routing::post(create_component))
            .route("/component/{id}", put(update_component));
        crate::common::mount(
            self.clone(),
            self.control.clone(),
            &["/rest/api/2", "/rest/api/latest"],
            api,
            Router::new(),
            get(dump_state),
        )
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Jira>>;

fn new_key(data: &mut JiraData) -> String {
    data.next_key += 1;
    format!("JIRAUSER{}", data.next_key)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    atlassian_reply(status, json!({"errorMessages": [message.into()], "errors": {}}))
}

fn field_error(field: &str, message: &str) -> Response {
    atlassian_reply(StatusCode::BAD_REQUEST, json!({"errorMessages": [], "errors": {field: message}}))
}

fn authorize(jira: &Jira, headers: &HeaderMap, admin: bool) -> Result<Caller, Response> {
    match jira.control.credentials.caller(headers) {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "You are not authenticated. Authentication required to perform this operation.",
        )),
        Some(Caller::Viewer) if admin => Err(error(
            StatusCode::FORBIDDEN,
            "You do not have the permission to perform this operation: Jira Administrators global permission required.",
        )),
        Some(c) => Ok(c),
    }
}

fn writable(jira: &Jira) -> Result<(), Response> {
    if lock(&jira.options).read_only_directory {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "The user directory 'Corporate LDAP (read-only)' is read-only: users and groups cannot be changed.",
        ));
    }
    Ok(())
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("Unrecognized or malformed JSON in request body: {e}")))
}

fn user_json(jira: &Jira, data: &JiraData, u: &JiraUser, expand_groups: bool) -> Value {
    let base = lock(&jira.base).clone();
    let mut v = json!({
        "self": format!("{base}/rest/api/2/user?username={}", u.name),
        "key": u.key,
        "name": u.name,
        "emailAddress": u.email,
        "avatarUrls": {"48x48": format!("{base}/secure/useravatar?avatarId=10122")},
        "displayName": u.display_name,
        "active": u.active,
        "deleted": false,
        "timeZone": "Europe/Berlin",
        "locale": "en_US",
        "expand": "groups,applicationRoles"
    });
    if expand_groups {
        let items: Vec<Value> = data
            .groups
            .values()
            .filter(|g| g.members.contains(&u.key))
            .map(|g| json!({"name": g.name, "self": format!("{base}/rest/api/2/group?groupname={}", g.name)}))
            .collect();
        v["groups"] = json!({"size": items.len(), "items": items});
        v["applicationRoles"] = json!({"size": 0, "items": []});
    }
    v
}

/// The user a request addresses by `username` or `key` (only one of them).
fn addressed(data: &JiraData, q: &BTreeMap<String, String>) -> Result<String, Response> {
    match (q.get("username"), q.get("key")) {
        (Some(_), Some(_)) => Err(error(StatusCode::BAD_REQUEST, "Only one of 'username' and 'key' may be given.")),
        (Some(name), None) => data
            .key_of(name)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("The user named '{name}' does not exist"))),
        (None, Some(key)) => data
            .users
            .contains_key(key)
            .then(|| key.clone())
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("The user with the key '{key}' does not exist"))),
        (None, None) => {
            Err(error(StatusCode::BAD_REQUEST, "Either the 'username' or the 'key' parameter is required."))
        }
    }
}

async fn server_info(State(jira): S) -> Response {
    let version = lock(&jira.options).version.clone();
    let numbers: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    atlassian_reply(
        StatusCode::OK,
        json!({"baseUrl": *lock(&jira.base), "version": version, "versionNumbers": numbers, "deploymentType": "Server", "serverTitle": "Jira (simulated)"}),
    )
}

async fn myself(State(jira): S, headers: HeaderMap) -> Response {
    let caller = match authorize(&jira, &headers, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = match caller {
        Caller::Admin => jira.control.credentials.admin_user.clone(),
        Caller::Viewer => "viewer".into(),
    };
    atlassian_reply(StatusCode::OK, json!({"name": name, "key": name, "active": true, "displayName": name}))
}

async fn my_permissions(State(jira): S, headers: HeaderMap) -> Response {
    let caller = match authorize(&jira, &headers, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let admin = caller == Caller::Admin;
    atlassian_reply(
        StatusCode::OK,
        json!({"permissions": {
            "ADMINISTER": {"id": "0", "key": "ADMINISTER", "name": "Jira Administrators", "type": "GLOBAL", "havePermission": admin},
            "SYSTEM_ADMIN": {"id": "44", "key": "SYSTEM_ADMIN", "name": "Jira System Administrators", "type": "GLOBAL", "havePermission": admin}
        }}),
    )
}

async fn get_user(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let data = lock(&jira.data);
    match addressed(&data, &q) {
        Ok(key) => {
            let expand = q.get("expand").is_some_and(|e| e.split(',').any(|p| p == "groups"));
            atlassian_reply(StatusCode::OK, user_json(&jira, &data, &data.users[&key], expand))
        }
        Err(r) => r,
    }
}

async fn create_user(State(jira): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return field_error("username", "You must specify a username.");
    };
    let Some(email) = body["emailAddress"].as_str().filter(|e| e.contains('@')) else {
        return field_error("email", "You must specify a valid email address.");
    };
    // Jira's REST description types `notification` as a string; the simulator holds clients to it.
    if body.get("notification").is_some_and(|n| !n.is_string()) {
        return field_error("notification", "notification must be the string \"true\" or \"false\".");
    }
    let display_name = body["displayName"].as_str().unwrap_or(name);
    let mut data = lock(&jira.data);
    if data.key_of(name).is_some() {
        return field_error("username", "A user with that username already exists.");
    }
    let key = new_key(&mut data);
    let user = JiraUser {
        key: key.clone(),
        name: name.to_string(),
        email: email.to_string(),
        display_name: display_name.to_string(),
        active: true,
        properties: BTreeMap::new(),
    };
    data.users.insert(key.clone(), user);
    let json = user_json(&jira, &data, &data.users[&key], false);
    atlassian_reply(StatusCode::CREATED, json)
}

async fn update_user(State(jira): S, headers: HeaderMap, Query(q): Q, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let options = lock(&jira.options).clone();
    let mut data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    if let Some(active) = body.get("active") {
        if !options.at_least(8, 3) {
            return error(StatusCode::BAD_REQUEST, "error.no.value.found.to.be.changed");
        }
        if active == &json!(false) && options.protect_leads {
            let leads = data.leads_of(&key);
            if !leads.is_empty() {
                let name = &data.users[&key].name;
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("Cannot deactivate user '{name}': the user is the lead of {}", leads.join(", ")),
                );
            }
        }
    }
    if let Some(new_name) = body["name"].as_str()
        && let Some(other) = data.key_of(new_name)
        && other != key
    {
        return field_error("username", "A user with that username already exists.");
    }
    let user = data.users.get_mut(&key).expect("addressed user exists");
    if let Some(n) = body["name"].as_str() {
        user.name = n.to_string();
    }
    if let Some(e) = body["emailAddress"].as_str() {
        user.email = e.to_string();
    }
    if let Some(d) = body["displayName"].as_str() {
        user.display_name = d.to_string();
    }
    if let Some(a) = body["active"].as_bool() {
        user.active = a;
    }
    let json = user_json(&jira, &data, &data.users[&key], false);
    atlassian_reply(StatusCode::OK, json)
}

async fn delete_user(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let protect = lock(&jira.options).protect_leads;
    let mut data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let leads = data.leads_of(&key);
    if protect && !leads.is_empty() {
        let name = &data.users[&key].name;
        return error(
            StatusCode::BAD_REQUEST,
            format!("Cannot delete user '{name}' because they are the lead of {}", leads.join(", ")),
        );
    }
    data.users.remove(&key);
    for g in data.groups.values_mut() {
        g.members.remove(&key);
    }
    atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
}

async fn search_users(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let Some(query) = q.get("username") else {
        return error(StatusCode::BAD_REQUEST, "The username query parameter was not provided");
    };
    let cap = if lock(&jira.options).at_least(10, 0) { 100 } else { 1000 };
    let start = number(&q, "startAt", 0);
    let max = number(&q, "maxResults", 50).min(1000);
    let include_active = truthy(&q, "includeActive", true);
    let include_inactive = truthy(&q, "includeInactive", false);
    let data = lock(&jira.data);
    let needle = fold(query);
    let matched: Vec<&JiraUser> = data
        .users
        .values()
        .filter(|u| (u.active && include_active) || (!u.active && include_inactive))
        .filter(|u| {
            needle == "."
                || fold(&u.name).starts_with(&needle)
                || fold(&u.display_name).contains(&needle)
                || fold(&u.email).starts_with(&needle)
        })
        .take(cap)
        .collect();
    let page: Vec<Value> = matched.iter().skip(start).take(max).map(|u| user_json(&jira, &data, u, false)).collect();
    atlassian_reply(StatusCode::OK, Value::Array(page))
}

async fn list_users(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    if !lock(&jira.options).at_least(10, 3) {
        return error(StatusCode::NOT_FOUND, "null for uri: /rest/api/2/user/list");
    }
    let max = number(&q, "maxResults", 100).clamp(1, 1000);
    let data = lock(&jira.data);
    let after = q.get("cursor").cloned().unwrap_or_default();
    let page: Vec<&JiraUser> = data.users.values().filter(|u| u.key > after).take(max).collect();
    let is_last = page.len() < max || page.last().is_none_or(|l| data.users.keys().next_back() == Some(&l.key));
    let values: Vec<Value> = page.iter().map(|u| user_json(&jira, &data, u, false)).collect();
    let mut body = json!({"values": values, "isLast": is_last});
    if !is_last && let Some(l) = page.last() {
        body["nextCursor"] = json!(l.key);
    }
    atlassian_reply(StatusCode::OK, body)
}

async fn list_properties(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let keys: Vec<Value> = data.users[&key].properties.keys().map(|k| json!({"key": k})).collect();
    atlassian_reply(StatusCode::OK, json!({"keys": keys}))
}

async fn get_property(State(jira): S, headers: HeaderMap, Path(prop): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match data.users[&key].properties.get(&prop) {
        Some(v) => atlassian_reply(StatusCode::OK, json!({"key": prop, "value": v})),
        None => error(StatusCode::NOT_FOUND, format!("Property with key '{prop}' not found.")),
    }
}

async fn set_property(
    State(jira): S,
    headers: HeaderMap,
    Path(prop): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let existed = data.users.get_mut(&key).expect("addressed").properties.insert(prop, value).is_some();
    atlassian_reply(if existed { StatusCode::OK } else { StatusCode::CREATED }, Value::Null)
}

async fn delete_property(State(jira): S, headers: HeaderMap, Path(prop): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let mut data = lock(&jira.data);
    let key = match addressed(&data, &q) {
        Ok(k) => k,
        Err(r) => return r,
    };
    data.users.get_mut(&key).expect("addressed").properties.remove(&prop);
    atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
}

fn group_json(jira: &Jira, name: &str) -> Value {
    let base = lock(&jira.base).clone();
    json!({
        "name": name,
        "self": format!("{base}/rest/api/2/group?groupname={name}"),
        "users": {"size": 0, "items": [], "max-results": 50, "start-index": 0, "end-index": 0},
        "expand": "users"
    })
}

async fn create_group(State(jira): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return field_error("name", "You must specify a group name.");
    };
    let mut data = lock(&jira.data);
    if data.groups.contains_key(&fold(name)) {
        return field_error("groupName", "A group or user with this name already exists.");
    }
    data.groups.insert(fold(name), JiraGroup { name: name.to_string(), members: BTreeSet::new() });
    atlassian_reply(StatusCode::CREATED, group_json(&jira, name))
}

async fn delete_group(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let Some(name) = q.get("groupname") else {
        return error(StatusCode::BAD_REQUEST, "The groupname parameter is required.");
    };
    match lock(&jira.data).groups.remove(&fold(name)) {
        Some(_) => atlassian_reply(StatusCode::OK, Value::Null),
        None => error(StatusCode::NOT_FOUND, format!("Specified group does not exist: {name}")),
    }
}

async fn group_members(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let Some(name) = q.get("groupname") else {
        return error(StatusCode::BAD_REQUEST, "The groupname parameter is required.");
    };
    let data = lock(&jira.data);
    let Some(group) = data.groups.get(&fold(name)) else {
        return error(StatusCode::NOT_FOUND, format!("Specified group does not exist: {name}"));
    };
    let start = number(&q, "startAt", 0);
    let max = number(&q, "maxResults", 50).clamp(1, 50);
    let include_inactive = truthy(&q, "includeInactiveUsers", false);
    let members: Vec<&JiraUser> =
        group.members.iter().filter_map(|k| data.users.get(k)).filter(|u| u.active || include_inactive).collect();
    let values: Vec<Value> = members.iter().skip(start).take(max).map(|u| user_json(&jira, &data, u, false)).collect();
    let is_last = start + max >= members.len();
    let base = lock(&jira.base).clone();
    let page = |at: usize| {
        format!(
            "{base}/rest/api/2/group/member?includeInactiveUsers={include_inactive}&maxResults={max}&groupname={}&startAt={at}",
            group.name
        )
    };
    let mut body = json!({
        "self": page(start), "maxResults": max, "startAt": start, "total": members.len(), "isLast": is_last, "values": values
    });
    if !is_last {
        body["nextPage"] = json!(page(start + max));
    }
    atlassian_reply(StatusCode::OK, body)
}

async fn add_member(State(jira): S, headers: HeaderMap, Query(q): Q, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(group) = q.get("groupname") else {
        return error(StatusCode::BAD_REQUEST, "The groupname parameter is required.");
    };
    let mut data = lock(&jira.data);
    let Some(user) = body["name"].as_str() else {
        return field_error("name", "You must specify a user name.");
    };
    let Some(key) = data.key_of(user) else {
        return error(StatusCode::NOT_FOUND, format!("The user named '{user}' does not exist"));
    };
    let Some(g) = data.groups.get_mut(&fold(group)) else {
        return error(StatusCode::NOT_FOUND, format!("Specified group does not exist: {group}"));
    };
    if !g.members.insert(key) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Cannot add user. '{user}' is already a member of '{}'", g.name),
        );
    }
    let name = g.name.clone();
    atlassian_reply(StatusCode::CREATED, group_json(&jira, &name))
}

async fn remove_member(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, true).and_then(|_| writable(&jira)) {
        return r;
    }
    let (Some(group), Some(user)) = (q.get("groupname"), q.get("username")) else {
        return error(StatusCode::BAD_REQUEST, "The groupname and username parameters are required.");
    };
    let mut data = lock(&jira.data);
    let Some(key) = data.key_of(user) else {
        return error(StatusCode::NOT_FOUND, format!("The user named '{user}' does not exist"));
    };
    let Some(g) = data.groups.get_mut(&fold(group)) else {
        return error(StatusCode::NOT_FOUND, format!("Specified group does not exist: {group}"));
    };
    if !g.members.remove(&key) {
        return error(StatusCode::NOT_FOUND, format!("Cannot remove user '{user}' from group '{group}': not a member"));
    }
    atlassian_reply(StatusCode::OK, Value::Null)
}

async fn groups_picker(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let query = fold(q.get("query").map(String::as_str).unwrap_or(""));
    let max = number(&q, "maxResults", 20);
    let data = lock(&jira.data);
    let matched: Vec<&JiraGroup> = data.groups.values().filter(|g| fold(&g.name).contains(&query)).collect();
    let groups: Vec<Value> =
        matched.iter().take(max).map(|g| json!({"name": g.name, "html": g.name, "labels": []})).collect();
    atlassian_reply(
        StatusCode::OK,
        json!({"header": format!("Showing {} of {} matching groups", groups.len(), matched.len()), "total": matched.len(), "groups": groups}),
    )
}

fn project_json(jira: &Jira, data: &JiraData, p: &JiraProject, expand_lead: bool) -> Value {
    let mut v = json!({"key": p.key, "name": p.name, "id": p.key});
    if expand_lead && let Some(lead) = data.users.get(&p.lead) {
        v["lead"] = user_json(jira, data, lead, false);
    }
    v
}

async fn list_projects(State(jira): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let expand = q.get("expand").is_some_and(|e| e.contains("lead"));
    let data = lock(&jira.data);
    let all: Vec<Value> = data.projects.values().map(|p| project_json(&jira, &data, p, expand)).collect();
    atlassian_reply(StatusCode::OK, Value::Array(all))
}

async fn create_project(State(jira): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (Some(key), Some(name), Some(lead)) = (body["key"].as_str(), body["name"].as_str(), body["lead"].as_str())
    else {
        return error(StatusCode::BAD_REQUEST, "key, name and lead are required");
    };
    let mut data = lock(&jira.data);
    let Some(lead_key) = data.key_of(lead) else {
        return field_error("projectLead", "The user you have specified as project lead does not exist.");
    };
    data.projects.insert(key.into(), JiraProject { key: key.into(), name: name.into(), lead: lead_key });
    atlassian_reply(StatusCode::CREATED, json!({"key": key, "id": key}))
}

async fn get_project(State(jira): S, headers: HeaderMap, Path(key): Path<String>) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let data = lock(&jira.data);
    match data.projects.get(&key) {
        Some(p) => atlassian_reply(StatusCode::OK, project_json(&jira, &data, p, true)),
        None => error(StatusCode::NOT_FOUND, format!("No project could be found with key '{key}'.")),
    }
}

async fn update_project(State(jira): S, headers: HeaderMap, Path(key): Path<String>, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut data = lock(&jira.data);
    let lead_key = match body["lead"].as_str() {
        Some(lead) => match data.key_of(lead) {
            Some(k) if data.users[&k].active => Some(k),
            _ => return field_error("projectLead", "The user you have specified as project lead does not exist."),
        },
        None => None,
    };
    let Some(p) = data.projects.get_mut(&key) else {
        return error(StatusCode::NOT_FOUND, format!("No project could be found with key '{key}'."));
    };
    if let Some(k) = lead_key {
        p.lead = k;
    }
    let p = p.clone();
    atlassian_reply(StatusCode::OK, project_json(&jira, &data, &p, true))
}

fn component_json(jira: &Jira, data: &JiraData, c: &JiraComponent) -> Value {
    let lead = c.lead.as_ref().and_then(|k| data.users.get(k));
    let mut v =
        json!({"id": c.id.to_string(), "name": c.name, "project": c.project, "assigneeType": "PROJECT_DEFAULT"});
    if let Some(l) = lead {
        v["lead"] = user_json(jira, data, l, false);
        v["leadUserName"] = json!(l.name);
    }
    v
}

async fn project_components(State(jira): S, headers: HeaderMap, Path(key): Path<String>) -> Response {
    if let Err(r) = authorize(&jira, &headers, false) {
        return r;
    }
    let data = lock(&jira.data);
    if !data.projects.contains_key(&key) {
        return error(StatusCode::NOT_FOUND, format!("No project could be found with key '{key}'."));
    }
    let all: Vec<Value> =
        data.components.values().filter(|c| c.project == key).map(|c| component_json(&jira, &data, c)).collect();
    atlassian_reply(StatusCode::OK, Value::Array(all))
}

async fn create_component(State(jira): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (Some(project), Some(name)) = (body["project"].as_str(), body["name"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "project and name are required");
    };
    let mut data = lock(&jira.data);
    let lead = match body["leadUserName"].as_str() {
        Some(l) => match data.key_of(l) {
            Some(k) => Some(k),
            None => return field_error("leadUserName", "The user does not exist."),
        },
        None => None,
    };
    let id = 10000 + data.components.len() as u64 + 1;
    data.components.insert(id, JiraComponent { id, project: project.into(), name: name.into(), lead });
    let c = data.components[&id].clone();
    atlassian_reply(StatusCode::CREATED, component_json(&jira, &data, &c))
}

async fn update_component(State(jira): S, headers: HeaderMap, Path(id): Path<u64>, body: Bytes) -> Response {
    if let Err(r) = authorize(&jira, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut data = lock(&jira.data);
    let lead = match body["leadUserName"].as_str() {
        Some("") => Some(None),
        Some(l) => match data.key_of(l) {
            Some(k) => Some(Some(k)),
            None => return field_error("leadUserName", "The user does not exist."),
        },
        None => None,
    };
    let Some(c) = data.components.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, format!("The component with id {id} does not exist."));
    };
    if let Some(l) = lead {
        c.lead = l;
    }
    let c = c.clone();
    atlassian_reply(StatusCode::OK, component_json(&jira, &data, &c))
}

async fn dump_state(State(jira): S) -> Response {
    let data = lock(&jira.data);
    atlassian_reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

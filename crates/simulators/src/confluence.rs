//! Confluence Data Center REST API simulator (external-apis.md B2 and Part C): `start`/`limit`
//! envelopes with `_links.next`, admin user and group endpoints from 8.4 (a switch removes user
//! creation below 8.4), idempotent enable/disable and membership calls, asynchronous deletion.
//!
//! Where the reference leaves a detail unconfirmed, the simulator makes one choice and idsync's
//! adapter follows it: the user `status` expansion reads `"active"` or `"deactivated"`, an
//! `email` expansion carries the address, and `PUT /admin/user/{name}` takes `fullName`/`email`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{Caller, Control, Credentials, atlassian_reply, fold, lock, number};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfluenceOptions {
    pub version: String,
    /// How long an asynchronous user deletion takes.
    pub delete_delay_ms: u64,
}

impl Default for ConfluenceOptions {
    fn default() -> Self {
        ConfluenceOptions { version: "8.5.0".into(), delete_delay_ms: 200 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfluenceUser {
    pub key: String,
    pub name: String,
    pub email: String,
    pub full_name: String,
    pub active: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ConfluenceData {
    /// By folded username.
    pub users: BTreeMap<String, ConfluenceUser>,
    /// Folded group name → (name, folded member usernames).
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
    next_key: u64,
}

impl ConfluenceData {
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        let user = fold(user);
        self.groups.values().filter(|(_, m)| m.contains(&user)).map(|(n, _)| n.clone()).collect()
    }
}

pub struct Confluence {
    pub control: Arc<Control>,
    pub options: Mutex<ConfluenceOptions>,
    pub data: Arc<Mutex<ConfluenceData>>,
    base: Mutex<String>,
}

impl Confluence {
    pub fn new(credentials: Credentials, options: ConfluenceOptions) -> Arc<Self> {
        let mut data = ConfluenceData::default();
        for g in ["confluence-administrators", "confluence-users"] {
            data.groups.insert(g.into(), (g.into(), BTreeSet::new()));
        }
        let admin = credentials.admin_user.clone();
        data.users.insert(
            fold(&admin),
            ConfluenceUser {
                key: "8a7f00fake0000000000000000000000".into(),
                name: admin.clone(),
                email: "admin@example.com".into(),
                full_name: "Administrator".into(),
                active: true,
            },
        );
        if let Some(g) = data.groups.get_mut("confluence-administrators") {
            g.1.insert(fold(&admin));
        }
        Arc::new(Confluence {
            control: Control::new(credentials),
            options: Mutex::new(options),
            data: Arc::new(Mutex::new(data)),
            base: Mutex::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/user", get(get_user))
            .route("/user/current", get(current_user))
            .route("/user/list", get(list_users))
            .route("/user/memberof", get(member_of))
            .route("/group", get(list_groups))
            .route("/group/{group}/member", get(group_members))
            .route("/admin/user", post(create_user))
            .route("/admin/user/{user}", put(update_user).delete(delete_user))
            .route("/admin/user/{user}/disable", put(disable_user))
            .route("/admin/user/{user}/enable", put(enable_user))
            .route("/admin/group", post(create_group))
            .route("/admin/group/{group}", delete(delete_group))
            .route("/user/{user}/group/{group}", put(add_member).delete(remove_member));
        crate::common::mount(
            self.clone(),
            self.control.clone(),
            &["/rest/api"],
            api,
            Router::new().route("/rest/applinks/1.0/manifest", get(manifest)),
            get(dump_state),
        )
    }

    fn at_least_8_4(&self) -> bool {
        let version = lock(&self.options).version.clone();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (8, 4)
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Confluence>>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    atlassian_reply(
        status,
        json!({
            "statusCode": status.as_u16(),
            "data": {"authorized": status != StatusCode::FORBIDDEN, "valid": true, "errors": [], "successful": false},
            "message": message.into(),
            "reason": reason
        }),
    )
}

fn authorize(c: &Confluence, headers: &HeaderMap, admin: bool) -> Result<Caller, Response> {
    match c.control.credentials.caller(headers) {
        None => Err(error(StatusCode::UNAUTHORIZED, "This resource requires authentication")),
        Some(Caller::Viewer) if admin => Err(error(
            StatusCode::FORBIDDEN,
            "User is not permitted to perform this operation: Confluence administrator required",
        )),
        Some(caller) => Ok(caller),
    }
}

fn user_json(c: &Confluence, u: &ConfluenceUser, expand: &str) -> Value {
    let base = lock(&c.base).clone();
    let mut v = json!({
        "type": "known",
        "username": u.name,
        "userKey": u.key,
        "profilePicture": {"path": "/images/icons/profilepics/default.svg", "width": 48, "height": 48, "isDefault": true},
        "displayName": u.full_name,
        "_links": {"self": format!("{base}/rest/api/user?key={}", u.key)},
        "_expandable": {"status": ""}
    });
    if expand.split(',').any(|e| e == "status") {
        v["status"] = json!(if u.active { "active" } else { "deactivated" });
    }
    if expand.split(',').any(|e| e == "email") {
        v["email"] = json!(u.email);
    }
    v
}

fn page(c: &Confluence, path: &str, items: Vec<Value>, q: &BTreeMap<String, String>, max_limit: usize) -> Value {
    let start = number(q, "start", 0);
    let limit = number(q, "limit", 200).clamp(1, max_limit);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let base = lock(&c.base).clone();
    let mut links = json!({"base": base, "context": "", "self": format!("{base}{path}")});
    if start + limit < total {
        links["next"] = json!(format!("/rest/api{path}?start={}&limit={limit}", start + limit));
    }
    json!({"results": results, "start": start, "limit": limit, "size": total.saturating_sub(start).min(limit), "_links": links})
}

async fn manifest(State(c): S) -> Response {
    let version = lock(&c.options).version.clone();
    atlassian_reply(
        StatusCode::OK,
        json!({"typeId": "confluence", "name": "Confluence (simulated)", "version": version}),
    )
}

async fn current_user(State(c): S, headers: HeaderMap) -> Response {
    let caller = match authorize(&c, &headers, false) {
        Ok(caller) => caller,
        Err(r) => return r,
    };
    let name = match caller {
        Caller::Admin => c.control.credentials.admin_user.clone(),
        Caller::Viewer => "viewer".into(),
    };
    atlassian_reply(StatusCode::OK, json!({"type": "known", "username": name, "displayName": name}))
}

async fn get_user(State(c): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&c, &headers, false) {
        return r;
    }
    let expand = q.get("expand").cloned().unwrap_or_default();
    let data = lock(&c.data);
    let found = match (q.get("username"), q.get("key")) {
        (Some(name), _) => data.users.get(&fold(name)),
        (None, Some(key)) => data.users.values().find(|u| &u.key == key),
        (None, None) => return error(StatusCode::BAD_REQUEST, "A username or key parameter is required"),
    };
    match found {
        Some(u) => atlassian_reply(StatusCode::OK, user_json(&c, u, &expand)),
        None => error(
            StatusCode::NOT_FOUND,
            format!("No user found with username: {}", q.get("username").or(q.get("key")).cloned().unwrap_or_default()),
        ),
    }
}

async fn list_users(State(c): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    if !c.at_least_8_4() {
        return error(StatusCode::NOT_FOUND, "Could not find resource /rest/api/user/list");
    }
    let expand = q.get("expand").cloned().unwrap_or_default();
    let items = lock(&c.data).users.values().map(|u| user_json(&c, u, &expand)).collect();
    atlassian_reply(StatusCode::OK, page(&c, "/user/list", items, &q, 200))
}

async fn member_of(State(c): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&c, &headers, false) {
        return r;
    }
    let Some(name) = q.get("username") else {
        return error(StatusCode::BAD_REQUEST, "username is required");
    };
    let data = lock(&c.data);
    if !data.users.contains_key(&fold(name)) {
        return error(StatusCode::NOT_FOUND, format!("No user found with username: {name}"));
    }
    let items = data.groups_of(name).into_iter().map(|g| json!({"type": "group", "name": g})).collect();
    drop(data);
    atlassian_reply(StatusCode::OK, page(&c, "/user/memberof", items, &q, 200))
}

async fn list_groups(State(c): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&c, &headers, false) {
        return r;
    }
    let items = lock(&c.data).groups.values().map(|(n, _)| json!({"type": "group", "name": n})).collect();
    atlassian_reply(StatusCode::OK, page(&c, "/group", items, &q, 1000))
}

async fn group_members(State(c): S, headers: HeaderMap, Path(group): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&c, &headers, false) {
        return r;
    }
    let data = lock(&c.data);
    let Some((_, members)) = data.groups.get(&fold(&group)) else {
        return error(StatusCode::NOT_FOUND, format!("No group found with name: {group}"));
    };
    let items = members.iter().filter_map(|m| data.users.get(m)).map(|u| user_json(&c, u, "")).collect();
    drop(data);
    atlassian_reply(StatusCode::OK, page(&c, &format!("/group/{group}/member"), items, &q, 200))
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("Invalid JSON: {e}")))
}

const FORBIDDEN_IN_NAMES: &[char] = &['\\', ',', '+', '<', '>', '\'', '"'];

async fn create_user(State(c): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    if !c.at_least_8_4() {
        return error(StatusCode::NOT_FOUND, "Could not find resource /rest/api/admin/user");
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = body["userName"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "userName is required");
    };
    if name.is_empty()
        || name != name.to_lowercase()
        || name.contains(char::is_whitespace)
        || name.contains(FORBIDDEN_IN_NAMES)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid username '{name}': usernames must be lower case and contain no whitespace or \\ , + < > ' \""
            ),
        );
    }
    let has_password = body["password"].as_str().is_some_and(|p| !p.is_empty());
    if !has_password && body["notifyViaEmail"] != json!(true) {
        return error(StatusCode::BAD_REQUEST, "Either a password or notifyViaEmail=true is required");
    }
    let mut data = lock(&c.data);
    if data.users.contains_key(&fold(name)) {
        return error(StatusCode::CONFLICT, format!("User with username {name} already exists"));
    }
    data.next_key += 1;
    let key = format!("8a7f00fake{:022}", data.next_key);
    data.users.insert(
        fold(name),
        ConfluenceUser {
            key: key.clone(),
            name: name.into(),
            email: body["email"].as_str().unwrap_or_default().into(),
            full_name: body["fullName"].as_str().unwrap_or(name).into(),
            active: true,
        },
    );
    atlassian_reply(StatusCode::CREATED, json!({"userKey": key}))
}

async fn update_user(State(c): S, headers: HeaderMap, Path(user): Path<String>, body: Bytes) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut data = lock(&c.data);
    let Some(u) = data.users.get_mut(&fold(&user)) else {
        return error(StatusCode::NOT_FOUND, format!("No user found with username: {user}"));
    };
    if let Some(e) = body["email"].as_str() {
        u.email = e.into();
    }
    if let Some(n) = body["fullName"].as_str() {
        u.full_name = n.into();
    }
    atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
}

async fn set_active(c: &Confluence, headers: &HeaderMap, user: &str, active: bool) -> Response {
    if let Err(r) = authorize(c, headers, true) {
        return r;
    }
    match lock(&c.data).users.get_mut(&fold(user)) {
        Some(u) => {
            u.active = active;
            atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
        }
        None => error(StatusCode::NOT_FOUND, format!("No user found with username: {user}")),
    }
}

async fn disable_user(State(c): S, headers: HeaderMap, Path(user): Path<String>) -> Response {
    set_active(&c, &headers, &user, false).await
}

async fn enable_user(State(c): S, headers: HeaderMap, Path(user): Path<String>) -> Response {
    set_active(&c, &headers, &user, true).await
}

async fn delete_user(State(c): S, headers: HeaderMap, Path(user): Path<String>) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    if !lock(&c.data).users.contains_key(&fold(&user)) {
        return error(StatusCode::NOT_FOUND, format!("No user found with username: {user}"));
    }
    // Deletion is a long-running task: the user goes away a little later.
    let delay = lock(&c.options).delete_delay_ms;
    let data = c.data.clone();
    let folded = fold(&user);
    let task_id = format!("delete-{folded}");
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut data = lock(&data);
        data.users.remove(&folded);
        for (_, members) in data.groups.values_mut() {
            members.remove(&folded);
        }
    });
    atlassian_reply(StatusCode::ACCEPTED, json!({"id": task_id, "links": {"status": "/rest/api/longtask/delete"}}))
}

async fn create_group(State(c): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "name is required");
    };
    let mut data = lock(&c.data);
    if data.groups.contains_key(&fold(name)) {
        return error(StatusCode::CONFLICT, format!("Group {name} already exists"));
    }
    data.groups.insert(fold(name), (name.into(), BTreeSet::new()));
    // Confluence documents 200 here, not 201.
    atlassian_reply(StatusCode::OK, json!({"type": "group", "name": name}))
}

async fn delete_group(State(c): S, headers: HeaderMap, Path(group): Path<String>) -> Response {
    if let Err(r) = authorize(&c, &headers, true) {
        return r;
    }
    match lock(&c.data).groups.remove(&fold(&group)) {
        Some(_) => atlassian_reply(StatusCode::NO_CONTENT, Value::Null),
        None => error(StatusCode::NOT_FOUND, format!("No group found with name: {group}")),
    }
}

async fn membership(c: &Confluence, headers: &HeaderMap, user: &str, group: &str, add: bool) -> Response {
    if let Err(r) = authorize(c, headers, true) {
        return r;
    }
    let mut data = lock(&c.data);
    if !data.users.contains_key(&fold(user)) {
        return error(StatusCode::NOT_FOUND, format!("No user found with username: {user}"));
    }
    let Some((_, members)) = data.groups.get_mut(&fold(group)) else {
        return error(StatusCode::NOT_FOUND, format!("No group found with name: {group}"));
    };
    if add {
        members.insert(fold(user));
    } else {
        members.remove(&fold(user));
    }
    atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
}

async fn add_member(State(c): S, headers: HeaderMap, Path((user, group)): Path<(String, String)>) -> Response {
    membership(&c, &headers, &user, &group, true).await
}

async fn remove_member(State(c): S, headers: HeaderMap, Path((user, group)): Path<(String, String)>) -> Response {
    membership(&c, &headers, &user, &group, false).await
}

async fn dump_state(State(c): S) -> Response {
    let data = lock(&c.data);
    atlassian_reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

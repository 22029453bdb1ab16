//! Bitbucket Data Center REST API 1.0 simulator (external-apis.md B3 and Part C): user creation by
//! query parameters, `isLastPage`/`nextPageStart` paging with a default limit of 25, rename,
//! delete returning the user, a read-only `active` flag, and the `{"errors": [...]}` envelope.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Caller, Control, Credentials, atlassian_reply, fold, lock, number};

#[derive(Debug, Clone, Serialize)]
pub struct BitbucketUser {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Default, Serialize)]
pub struct BitbucketData {
    /// By folded name.
    pub users: BTreeMap<String, BitbucketUser>,
    /// Folded group name → (name, folded member names).
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
    next_id: u64,
}

impl BitbucketData {
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        let user = fold(user);
        self.groups.values().filter(|(_, m)| m.contains(&user)).map(|(n, _)| n.clone()).collect()
    }
}

pub struct Bitbucket {
    pub control: Arc<Control>,
    pub data: Mutex<BitbucketData>,
    base: Mutex<String>,
}

impl Bitbucket {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        let mut data = BitbucketData { next_id: 1, ..BitbucketData::default() };
        data.users.insert(
            fold(&credentials.admin_user),
            BitbucketUser {
                id: 1,
                name: credentials.admin_user.clone(),
                email: "admin@example.com".into(),
                display_name: "Administrator".into(),
            },
        );
        data.groups.insert("stash-users".into(), ("stash-users".into(), BTreeSet::new()));
        Arc::new(Bitbucket {
            control: Control::new(credentials),
            data: Mutex::new(data),
            base: Mutex::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/application-properties", get(properties))
            .route("/admin/users", get(list_users).post(create_user).put(update_user).delete(delete_user))
            .route("/admin/users/rename", post(rename_user))
            .route("/admin/users/more-members", get(user_groups))
            .route("/admin/users/add-groups", post(add_groups))
            .route("/admin/users/remove-group", post(remove_group))
            .route("/admin/groups", get(list_groups).post(create_group).delete(delete_group))
            .route("/admin/groups/more-members", get(group_members))
            .route("/admin/groups/add-users", post(add_users))
            .route("/admin/groups/remove-user", post(remove_user));
        crate::common::mount(
            self.clone(),
            self.control.clone(),
            &["/rest/api/1.0", "/rest/api/latest"],
            api,
            Router::new(),
            get(dump_state),
        )
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Bitbucket>>;

fn error(status: StatusCode, message: impl Into<String>, exception: &str) -> Response {
    atlassian_reply(
        status,
        json!({"errors": [{"context": null, "message": message.into(), "exceptionName": format!("com.atlassian.bitbucket.{exception}")}]}),
    )
}

fn no_user(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("User {name} does not exist"), "user.NoSuchUserException")
}

fn no_group(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("Group {name} does not exist"), "user.NoSuchGroupException")
}

fn authorize(b: &Bitbucket, headers: &HeaderMap) -> Result<(), Response> {
    match b.control.credentials.caller(headers) {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed. Please check your credentials and try again.",
            "auth.IncorrectPasswordAuthenticationException",
        )),
        Some(Caller::Viewer) => Err(error(
            StatusCode::FORBIDDEN,
            "You are not permitted to access this resource: ADMIN permission required",
            "AuthorisationException",
        )),
        Some(Caller::Admin) => Ok(()),
    }
}

fn user_json(b: &Bitbucket, u: &BitbucketUser) -> Value {
    let base = lock(&b.base).clone();
    json!({
        "name": u.name, "emailAddress": u.email, "active": true, "displayName": u.display_name, "id": u.id,
        "slug": fold(&u.name), "type": "NORMAL", "directoryName": "Bitbucket Internal Directory", "deletable": true,
        "mutableDetails": true, "mutableGroups": true,
        "links": {"self": [{"href": format!("{base}/users/{}", fold(&u.name))}]}
    })
}

fn page(values: Vec<Value>, q: &BTreeMap<String, String>) -> Value {
    let start = number(q, "start", 0);
    let limit = number(q, "limit", 25).clamp(1, 1000);
    let total = values.len();
    let page: Vec<Value> = values.into_iter().skip(start).take(limit).collect();
    let is_last = start + page.len() >= total;
    let mut body = json!({"size": page.len(), "limit": limit, "isLastPage": is_last, "start": start, "values": page});
    if !is_last {
        body["nextPageStart"] = json!(start + limit);
    }
    body
}

fn matches(filter: &str, fields: &[&str]) -> bool {
    let f = fold(filter);
    fields.iter().any(|x| fold(x).contains(&f))
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(StatusCode::BAD_REQUEST, format!("Invalid JSON: {e}"), "validation.ArgumentValidationException")
    })
}

async fn properties() -> Response {
    atlassian_reply(
        StatusCode::OK,
        json!({"version": "8.19.0", "buildNumber": "8019000", "displayName": "Bitbucket (simulated)"}),
    )
}

async fn list_users(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let data = lock(&b.data);
    let values = data
        .users
        .values()
        .filter(|u| matches(&filter, &[&u.name, &u.display_name, &u.email]))
        .map(|u| user_json(&b, u))
        .collect();
    atlassian_reply(StatusCode::OK, page(values, &q))
}

async fn create_user(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let (Some(name), Some(display), Some(email)) = (q.get("name"), q.get("displayName"), q.get("emailAddress")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "name, displayName and emailAddress are required query parameters",
            "validation.ArgumentValidationException",
        );
    };
    let notify = q.get("notify").is_some_and(|v| v == "true");
    if !notify && q.get("password").is_none_or(|p| p.is_empty()) {
        return error(
            StatusCode::BAD_REQUEST,
            "A password is required unless notify=true",
            "validation.ArgumentValidationException",
        );
    }
    let mut data = lock(&b.data);
    if data.users.contains_key(&fold(name)) {
        return error(
            StatusCode::CONFLICT,
            format!("A user with the name {name} already exists"),
            "user.DuplicateUserException",
        );
    }
    data.next_id += 1;
    let id = data.next_id;
    data.users.insert(
        fold(name),
        BitbucketUser { id, name: name.clone(), email: email.clone(), display_name: display.clone() },
    );
    if q.get("addToDefaultGroup").is_none_or(|v| v == "true")
        && let Some((_, members)) = data.groups.get_mut("stash-users")
    {
        members.insert(fold(name));
    }
    atlassian_reply(StatusCode::NO_CONTENT, Value::Null)
}

async fn update_user(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(name) = body["name"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "name is required", "validation.ArgumentValidationException");
    };
    let mut data = lock(&b.data);
    let Some(u) = data.users.get_mut(&fold(name)) else { return no_user(name) };
    if let Some(d) = body["displayName"].as_str() {
        u.display_name = d.into();
    }
    if let Some(e) = body["email"].as_str() {
        u.email = e.into();
    }
    let u = u.clone();
    atlassian_reply(StatusCode::OK, user_json(&b, &u))
}

async fn rename_user(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(name), Some(new_name)) = (body["name"].as_str(), body["newName"].as_str()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "name and newName are required",
            "validation.ArgumentValidationException",
        );
    };
    let mut data = lock(&b.data);
    if fold(name) != fold(new_name) && data.users.contains_key(&fold(new_name)) {
        return error(
            StatusCode::CONFLICT,
            format!("A user with the name {new_name} already exists"),
            "user.DuplicateUserException",
        );
    }
    let Some(mut u) = data.users.remove(&fold(name)) else { return no_user(name) };
    u.name = new_name.into();
    data.users.insert(fold(new_name), u.clone());
    for (_, members) in data.groups.values_mut() {
        if members.remove(&fold(name)) {
            members.insert(fold(new_name));
        }
    }
    atlassian_reply(StatusCode::OK, user_json(&b, &u))
}

async fn delete_user(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let Some(name) = q.get("name") else {
        return error(StatusCode::BAD_REQUEST, "name is required", "validation.ArgumentValidationException");
    };
    let mut data = lock(&b.data);
    let Some(u) = data.users.remove(&fold(name)) else { return no_user(name) };
    for (_, members) in data.groups.values_mut() {
        members.remove(&fold(name));
    }
    atlassian_reply(StatusCode::OK, user_json(&b, &u))
}

async fn user_groups(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let Some(user) = q.get("context") else {
        return error(StatusCode::BAD_REQUEST, "context is required", "validation.ArgumentValidationException");
    };
    let data = lock(&b.data);
    if !data.users.contains_key(&fold(user)) {
        return no_user(user);
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let values = data
        .groups_of(user)
        .into_iter()
        .filter(|g| matches(&filter, &[g]))
        .map(|g| json!({"name": g, "deletable": true}))
        .collect();
    atlassian_reply(StatusCode::OK, page(values, &q))
}

fn change_membership(data: &mut BitbucketData, user: &str, group: &str, add: bool) -> Result<(), Response> {
    if !data.users.contains_key(&fold(user)) {
        return Err(no_user(user));
    }
    let Some((_, members)) = data.groups.get_mut(&fold(group)) else { return Err(no_group(group)) };
    if add {
        members.insert(fold(user));
    } else {
        members.remove(&fold(user));
    }
    Ok(())
}

async fn add_groups(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(user), Some(groups)) = (body["user"].as_str(), body["groups"].as_array()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "user and groups are required",
            "validation.ArgumentValidationException",
        );
    };
    let mut data = lock(&b.data);
    for g in groups.iter().filter_map(Value::as_str) {
        if !data.groups.contains_key(&fold(g)) {
            return no_group(g);
        }
    }
    for g in groups.iter().filter_map(Value::as_str) {
        if let Err(r) = change_membership(&mut data, user, g, true) {
            return r;
        }
    }
    atlassian_reply(StatusCode::OK, Value::Null)
}

async fn remove_group(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    remove_membership(&b, &headers, &body, "context", "itemName").await
}

/// Both removal calls take `{"context", "itemName"}`: a user and a group, in either order.
async fn remove_membership(
    b: &Bitbucket,
    headers: &HeaderMap,
    body: &Bytes,
    user_key: &str,
    group_key: &str,
) -> Response {
    if let Err(r) = authorize(b, headers) {
        return r;
    }
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(user), Some(group)) = (body[user_key].as_str(), body[group_key].as_str()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "context and itemName are required",
            "validation.ArgumentValidationException",
        );
    };
    match change_membership(&mut lock(&b.data), user, group, false) {
        Ok(()) => atlassian_reply(StatusCode::OK, Value::Null),
        Err(r) => r,
    }
}

async fn list_groups(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let values = lock(&b.data)
        .groups
        .values()
        .filter(|(n, _)| matches(&filter, &[n]))
        .map(|(n, _)| json!({"name": n, "deletable": true}))
        .collect();
    atlassian_reply(StatusCode::OK, page(values, &q))
}

async fn create_group(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let Some(name) = q.get("name").filter(|n| !n.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "name is required", "validation.ArgumentValidationException");
    };
    let mut data = lock(&b.data);
    if data.groups.contains_key(&fold(name)) {
        return error(
            StatusCode::CONFLICT,
            format!("A group named {name} already exists"),
            "user.DuplicateGroupException",
        );
    }
    data.groups.insert(fold(name), (name.clone(), BTreeSet::new()));
    atlassian_reply(StatusCode::OK, json!({"name": name, "deletable": true}))
}

async fn delete_group(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let Some(name) = q.get("name") else {
        return error(StatusCode::BAD_REQUEST, "name is required", "validation.ArgumentValidationException");
    };
    match lock(&b.data).groups.remove(&fold(name)) {
        Some((n, _)) => atlassian_reply(StatusCode::OK, json!({"name": n, "deletable": true})),
        None => no_group(name),
    }
}

async fn group_members(State(b): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let Some(group) = q.get("context") else {
        return error(StatusCode::BAD_REQUEST, "context is required", "validation.ArgumentValidationException");
    };
    let data = lock(&b.data);
    let Some((_, members)) = data.groups.get(&fold(group)) else { return no_group(group) };
    let values = members.iter().filter_map(|m| data.users.get(m)).map(|u| user_json(&b, u)).collect();
    atlassian_reply(StatusCode::OK, page(values, &q))
}

async fn add_users(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&b, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(group), Some(users)) = (body["group"].as_str(), body["users"].as_array()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "group and users are required",
            "validation.ArgumentValidationException",
        );
    };
    let mut data = lock(&b.data);
    for u in users.iter().filter_map(Value::as_str) {
        if let Err(r) = change_membership(&mut data, u, group, true) {
            return r;
        }
    }
    atlassian_reply(StatusCode::OK, Value::Null)
}

async fn remove_user(State(b): S, headers: HeaderMap, body: Bytes) -> Response {
    remove_membership(&b, &headers, &body, "itemName", "context").await
}

async fn dump_state(State(b): S) -> Response {
    let data = lock(&b.data);
    atlassian_reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

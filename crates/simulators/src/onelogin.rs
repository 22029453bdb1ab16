//! OneLogin API v2 simulator (external-apis.md A6 and Part C): client-credentials tokens asked for
//! with HTTP Basic and a JSON body, cursor paging through the `After-Cursor` header, `limit` at
//! most 100, integer user `status`, roles as the groups of access.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Clock, Control, Credentials, Tokens, basic_client, lock, number, reply};

#[derive(Debug, Clone, Serialize)]
pub struct OlUser {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    /// 0 unactivated, 1 active, 2 suspended, 3 locked, 4 password expired, …
    pub status: u8,
    pub role_ids: Vec<u64>,
    pub updated_at: String,
}

#[derive(Debug, Default, Serialize)]
pub struct OlData {
    pub users: Vec<OlUser>,
    /// Role id → name.
    pub roles: BTreeMap<u64, String>,
    clock: Clock,
}

impl OlData {
    fn now(&mut self) -> String {
        self.clock.stamp()
    }

    /// Changes a user as the admin console would: its `updated_at` moves (role changes too).
    pub fn update_user(&mut self, id: u64, change: impl FnOnce(&mut OlUser)) {
        let now = self.now();
        if let Some(u) = self.users.iter_mut().find(|u| u.id == id) {
            change(u);
            u.updated_at = now;
        }
    }

    pub fn add_user(&mut self, username: &str, status: u8) -> u64 {
        let id = 88_000_000 + self.users.len() as u64 + 1;
        let updated_at = self.now();
        self.users.push(OlUser {
            id,
            username: username.into(),
            email: format!("{username}@example.com"),
            firstname: username.into(),
            lastname: "Test".into(),
            status,
            role_ids: Vec::new(),
            updated_at,
        });
        id
    }

    pub fn add_role(&mut self, name: &str, members: &[u64]) -> u64 {
        let id = 111 + self.roles.len() as u64;
        self.roles.insert(id, name.into());
        for u in self.users.iter_mut().filter(|u| members.contains(&u.id)) {
            u.role_ids.push(id);
        }
        id
    }
}

pub struct OneLogin {
    pub control: Arc<Control>,
    pub client_id: String,
    pub client_secret: String,
    tokens: Tokens,
    pub data: Mutex<OlData>,
}

impl OneLogin {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(OneLogin {
            control: Control::new(credentials),
            client_id: "ol-client".into(),
            client_secret: "ol-secret".into(),
            tokens: Tokens::default(),
            data: Mutex::new(OlData::default()),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/users", get(users))
            .route("/users/{id}", get(user))
            .route("/roles", get(roles))
            .route("/roles/{id}/users", get(role_users));
        let root = Router::new().route("/auth/oauth2/v2/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/api/2"], api, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<OneLogin>>;

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    reply(status, json!({"statusCode": status.as_u16(), "name": name, "message": message}))
}

fn authorize(ol: &OneLogin, headers: &HeaderMap) -> Result<(), Response> {
    if ol.tokens.admits(headers) {
        return Ok(());
    }
    Err(error(StatusCode::UNAUTHORIZED, "Unauthorized", "Authentication Failure"))
}

async fn token(State(ol): S, headers: HeaderMap, body: Bytes) -> Response {
    let expected = format!("{}:{}", ol.client_id, ol.client_secret);
    let presented = basic_client(&headers);
    let grant: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if presented.as_deref() != Some(expected.as_str()) || grant["grant_type"] != "client_credentials" {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized", "Authentication Failure");
    }
    let token = ol.tokens.issue("ol-sim-");
    reply(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": 36000, "token_type": "bearer", "account_id": 123456}),
    )
}

/// A page after `cursor` (an id), with `After-Cursor` when there is more.
fn paged(ol: &OneLogin, items: Vec<(u64, Value)>, q: &BTreeMap<String, String>) -> Response {
    let limit = number(q, "limit", 50).clamp(1, 100);
    let after: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let rest: Vec<&(u64, Value)> = items.iter().filter(|(id, _)| *id > after).collect();
    let page: Vec<Value> = rest.iter().take(limit).map(|(_, v)| v.clone()).collect();
    let mut response = (StatusCode::OK, axum::Json(Value::Array(page))).into_response();
    let looping = ol.control.faults().loop_paging && after > 0;
    let next = if looping { items.get(limit - 1) } else { rest.get(limit - 1).copied().filter(|_| rest.len() > limit) };
    if let Some((last, _)) = next {
        response.headers_mut().insert("After-Cursor", HeaderValue::from(*last));
    }
    response
}

fn user_json(u: &OlUser) -> Value {
    json!({
        "id": u.id, "username": u.username, "email": u.email, "firstname": u.firstname, "lastname": u.lastname,
        "status": u.status, "state": 1, "role_ids": u.role_ids, "updated_at": u.updated_at
    })
}

async fn users(State(ol): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&ol, &headers) {
        return r;
    }
    let data = lock(&ol.data);
    let items = data
        .users
        .iter()
        .filter(|u| q.get("username").is_none_or(|n| u.username.eq_ignore_ascii_case(n)))
        .filter(|u| q.get("updated_since").is_none_or(|since| u.updated_at.as_str() >= since.as_str()))
        .map(|u| (u.id, user_json(u)))
        .collect();
    paged(&ol, items, &q)
}

async fn user(State(ol): S, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    if let Err(r) = authorize(&ol, &headers) {
        return r;
    }
    match lock(&ol.data).users.iter().find(|u| u.id == id) {
        Some(u) => reply(StatusCode::OK, user_json(u)),
        None => error(StatusCode::NOT_FOUND, "Not Found", "User not found"),
    }
}

async fn roles(State(ol): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&ol, &headers) {
        return r;
    }
    let items = lock(&ol.data).roles.iter().map(|(id, name)| (*id, json!({"id": id, "name": name}))).collect();
    paged(&ol, items, &q)
}

async fn role_users(State(ol): S, headers: HeaderMap, Path(id): Path<u64>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&ol, &headers) {
        return r;
    }
    let data = lock(&ol.data);
    if !data.roles.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "Not Found", "Role not found");
    }
    let items = data
        .users
        .iter()
        .filter(|u| u.role_ids.contains(&id))
        .map(|u| (u.id, json!({"id": u.id, "name": u.username})))
        .collect();
    paged(&ol, items, &q)
}

async fn dump_state(State(ol): S) -> Response {
    let data = lock(&ol.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

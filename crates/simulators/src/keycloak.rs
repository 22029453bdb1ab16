//! Keycloak Admin REST API simulator (external-apis.md A4 and Part C): client-credentials tokens
//! that expire (401 afterwards), `first`/`max` offset paging ordered by name, bare-integer user
//! count, top-level groups with `children` (Keycloak 23+), direct group members.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Control, Credentials, lock, number, reply};

#[derive(Debug, Clone, Serialize)]
pub struct KcUser {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KcGroup {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    /// User ids.
    pub members: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct KcData {
    pub users: Vec<KcUser>,
    pub groups: Vec<KcGroup>,
}

impl KcData {
    pub fn add_user(&mut self, username: &str, enabled: bool) -> String {
        let id = format!("4c9d1f3e-0000-4000-8000-{:012}", self.users.len() + 1);
        let (first, last) = username.split_once('.').unwrap_or((username, "Test"));
        self.users.push(KcUser {
            id: id.clone(),
            username: username.to_lowercase(),
            first_name: first.into(),
            last_name: last.into(),
            email: format!("{username}@example.com"),
            enabled,
        });
        id
    }

    pub fn add_group(&mut self, name: &str, parent: Option<&str>, members: &[&str]) -> String {
        let id = format!("9a8b7c6d-0000-4000-8000-{:012}", self.groups.len() + 1);
        self.groups.push(KcGroup {
            id: id.clone(),
            name: name.into(),
            parent: parent.map(String::from),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        id
    }
}

pub struct Keycloak {
    pub control: Arc<Control>,
    pub realm: String,
    pub client_id: String,
    pub client_secret: String,
    /// How long an access token lives (Keycloak's default is 5 minutes).
    pub token_lifetime: Mutex<Duration>,
    tokens: Mutex<BTreeMap<String, Instant>>,
    pub data: Mutex<KcData>,
}

impl Keycloak {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Keycloak {
            control: Control::new(credentials),
            realm: "acme".into(),
            client_id: "idsync".into(),
            client_secret: "sim-client-secret".into(),
            token_lifetime: Mutex::new(Duration::from_secs(300)),
            tokens: Mutex::new(BTreeMap::new()),
            data: Mutex::new(KcData::default()),
        })
    }

    /// Makes every access token issued so far invalid, as a restart or a key rotation does.
    pub fn revoke_tokens(&self) {
        lock(&self.tokens).clear();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let admin = Router::new()
            .route("/users", get(users))
            .route("/users/count", get(user_count))
            .route("/users/{id}/groups", get(user_groups))
            .route("/groups", get(top_groups))
            .route("/groups/{id}/children", get(children))
            .route("/groups/{id}/members", get(members));
        let root = Router::new().route("/realms/{realm}/protocol/openid-connect/token", post(token));
        crate::common::mount(
            self.clone(),
            self.control.clone(),
            &["/admin/realms/{realm}"],
            admin,
            root,
            get(dump_state),
        )
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Keycloak>>;

fn unauthorized() -> Response {
    reply(StatusCode::UNAUTHORIZED, json!({"error": "HTTP 401 Unauthorized"}))
}

fn authorize(kc: &Keycloak, realm: &str, headers: &HeaderMap) -> Result<(), Response> {
    if realm != kc.realm {
        return Err(reply(StatusCode::NOT_FOUND, json!({"error": "Realm not found."})));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    match lock(&kc.tokens).get(token) {
        Some(expires) if *expires > Instant::now() => Ok(()),
        _ => Err(unauthorized()),
    }
}

fn page<T: Clone>(items: &[T], q: &BTreeMap<String, String>) -> Vec<T> {
    let first = number(q, "first", 0);
    let max = number(q, "max", 100);
    items.iter().skip(first).take(max).cloned().collect()
}

fn user_json(u: &KcUser) -> Value {
    json!({
        "id": u.id, "username": u.username, "firstName": u.first_name, "lastName": u.last_name,
        "email": u.email, "emailVerified": true, "enabled": u.enabled, "createdTimestamp": 1714550400000u64,
        "totp": false, "access": {"manage": true}
    })
}

fn group_json(data: &KcData, g: &KcGroup) -> Value {
    let path = {
        let mut parts = vec![g.name.clone()];
        let mut parent = g.parent.clone();
        while let Some(p) = parent {
            let Some(pg) = data.groups.iter().find(|x| x.id == p) else { break };
            parts.push(pg.name.clone());
            parent = pg.parent.clone();
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    };
    let sub = data.groups.iter().filter(|x| x.parent.as_deref() == Some(g.id.as_str())).count();
    json!({"id": g.id, "name": g.name, "path": path, "parentId": g.parent, "subGroupCount": sub, "subGroups": [], "attributes": {}})
}

async fn token(State(kc): S, Path(realm): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect();
    if realm != kc.realm {
        return reply(StatusCode::NOT_FOUND, json!({"error": "Realm does not exist"}));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}),
        );
    }
    if form.get("client_id") != Some(&kc.client_id) || form.get("client_secret") != Some(&kc.client_secret) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
        );
    }
    let lifetime = *lock(&kc.token_lifetime);
    let mut tokens = lock(&kc.tokens);
    let token = format!("eyJ.sim.{}", tokens.len() + 1);
    tokens.insert(token.clone(), Instant::now() + lifetime);
    reply(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": lifetime.as_secs(), "token_type": "Bearer", "scope": "profile email"}),
    )
}

async fn users(State(kc): S, Path(realm): Path<String>, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    let data = lock(&kc.data);
    let mut all: Vec<&KcUser> = data.users.iter().collect();
    all.sort_by(|a, b| a.username.cmp(&b.username));
    if let Some(name) = q.get("username") {
        let name = name.to_lowercase();
        let exact = q.get("exact").is_some_and(|e| e == "true");
        all.retain(|u| if exact { u.username == name } else { u.username.contains(&name) });
    }
    let out: Vec<Value> = page(&all, &q).into_iter().map(user_json).collect();
    reply(StatusCode::OK, Value::Array(out))
}

async fn user_count(State(kc): S, Path(realm): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    reply(StatusCode::OK, json!(lock(&kc.data).users.len()))
}

async fn user_groups(State(kc): S, Path((realm, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    let data = lock(&kc.data);
    let out: Vec<Value> =
        data.groups.iter().filter(|g| g.members.contains(&id)).map(|g| group_json(&data, g)).collect();
    reply(StatusCode::OK, Value::Array(out))
}

fn sorted_groups<'a>(data: &'a KcData, parent: Option<&str>) -> Vec<&'a KcGroup> {
    let mut out: Vec<&KcGroup> = data.groups.iter().filter(|g| g.parent.as_deref() == parent).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

async fn top_groups(State(kc): S, Path(realm): Path<String>, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    let data = lock(&kc.data);
    let out: Vec<Value> = page(&sorted_groups(&data, None), &q).into_iter().map(|g| group_json(&data, g)).collect();
    reply(StatusCode::OK, Value::Array(out))
}

async fn children(
    State(kc): S,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    let data = lock(&kc.data);
    if !data.groups.iter().any(|g| g.id == id) {
        return reply(StatusCode::NOT_FOUND, json!({"error": "Could not find group by id"}));
    }
    let mut children = sorted_groups(&data, Some(&id));
    if kc.control.faults().loop_paging
        && let Some(itself) = data.groups.iter().find(|g| g.id == id)
    {
        children.push(itself);
    }
    let out: Vec<Value> = page(&children, &q).into_iter().map(|g| group_json(&data, g)).collect();
    reply(StatusCode::OK, Value::Array(out))
}

async fn members(State(kc): S, Path((realm, id)): Path<(String, String)>, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&kc, &realm, &headers) {
        return r;
    }
    let data = lock(&kc.data);
    let Some(group) = data.groups.iter().find(|g| g.id == id) else {
        return reply(StatusCode::NOT_FOUND, json!({"error": "Could not find group by id"}));
    };
    let mut users: Vec<&KcUser> = data.users.iter().filter(|u| group.members.contains(&u.id)).collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let out: Vec<Value> = page(&users, &q).into_iter().map(user_json).collect();
    reply(StatusCode::OK, Value::Array(out))
}

async fn dump_state(State(kc): S) -> Response {
    let data = lock(&kc.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

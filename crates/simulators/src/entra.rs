//! Microsoft Graph simulator for Entra ID (external-apis.md A1 and Part C): client-credentials
//! tokens from `/{tenant}/oauth2/v2.0/token`, `@odata.nextLink` paging with an opaque
//! `$skiptoken`, `$top` outside 1–999 refused, `$select` honoured (the default projection leaves
//! `accountEnabled` out), group members with their `@odata.type`, Graph's error body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::common::{Control, Credentials, Tokens, lock, reply};

#[derive(Debug, Clone, Serialize)]
pub struct GraphUser {
    pub id: String,
    pub user_principal_name: String,
    pub mail: String,
    pub given_name: String,
    pub surname: String,
    pub account_enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphGroup {
    pub id: String,
    pub display_name: String,
    /// Ids of member users and groups.
    pub members: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct GraphData {
    pub users: Vec<GraphUser>,
    pub groups: Vec<GraphGroup>,
}

impl GraphData {
    pub fn add_user(&mut self, upn: &str, enabled: bool) -> String {
        let id = format!("6e7b768e-07e2-4810-8459-{:012}", self.users.len() + 1);
        let local = upn.split('@').next().unwrap_or(upn);
        let (given, surname) = local.split_once('.').unwrap_or((local, "Test"));
        self.users.push(GraphUser {
            id: id.clone(),
            user_principal_name: upn.into(),
            mail: upn.into(),
            given_name: given.into(),
            surname: surname.into(),
            account_enabled: enabled,
        });
        id
    }

    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let id = format!("02bd9fd6-8f93-4758-87c3-{:012}", self.groups.len() + 1);
        self.groups.push(GraphGroup {
            id: id.clone(),
            display_name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        id
    }
}

pub struct Entra {
    pub control: Arc<Control>,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    tokens: Tokens,
    pub data: Mutex<GraphData>,
    base: Mutex<String>,
}

impl Entra {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Entra {
            control: Control::new(credentials),
            tenant: "contoso-tenant".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: "entra-sim-secret".into(),
            tokens: Tokens::default(),
            data: Mutex::new(GraphData::default()),
            base: Mutex::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let graph = Router::new()
            .route("/users", get(users))
            .route("/users/{id}", get(user))
            .route("/users/{id}/memberOf", get(member_of))
            .route("/groups", get(groups))
            .route("/groups/{id}/members", get(members));
        let root = Router::new().route("/{tenant}/oauth2/v2.0/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/v1.0"], graph, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Entra>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    reply(status, json!({"error": {"code": code, "message": message, "innerError": {"request-id": "sim"}}}))
}

fn authorize(e: &Entra, headers: &HeaderMap) -> Result<(), Response> {
    if e.tokens.admits(headers) {
        return Ok(());
    }
    Err(error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty or invalid."))
}

async fn token(State(e): S, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/").replace('+', " ")))
        .collect();
    if tenant != e.tenant {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.")}),
        );
    }
    if form.get("client_id") != Some(&e.client_id) || form.get("client_secret") != Some(&e.client_secret) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."}),
        );
    }
    if form.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default") {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for scope is not valid."}),
        );
    }
    reply(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": e.tokens.issue("eyJ0eXAi.graph.")}),
    )
}

fn user_json(u: &GraphUser, select: Option<&str>) -> Value {
    let all = json!({
        "id": u.id, "userPrincipalName": u.user_principal_name, "mail": u.mail, "givenName": u.given_name, "surname": u.surname,
        "displayName": format!("{} {}", u.given_name, u.surname), "accountEnabled": u.account_enabled,
    });
    let default = ["id", "userPrincipalName", "mail", "givenName", "surname", "displayName"];
    let wanted: Vec<&str> = match select {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => default.to_vec(),
    };
    let mut out = Map::new();
    for k in wanted {
        if let Some(v) = all.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    out.insert("id".into(), json!(u.id));
    Value::Object(out)
}

/// One page of `items` from `$skiptoken`, with an absolute `@odata.nextLink` when there is more.
fn paged(e: &Entra, path: &str, items: Vec<Value>, q: &BTreeMap<String, String>) -> Response {
    let top: usize = match q.get("$top").map(|t| t.parse::<usize>()) {
        None => 100,
        Some(Ok(t)) if (1..=999).contains(&t) => t,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Invalid page size specified: '$top'. Must be between 1 and 999 inclusive.",
            );
        }
    };
    let skip: usize = q.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(skip).take(top).cloned().collect();
    let mut body =
        json!({"@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{path}"), "value": page});
    if skip + top < items.len() {
        let base = lock(&e.base).clone();
        let select = q.get("$select").map(|s| format!("&$select={s}")).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?$top={top}{select}&$skiptoken={}", skip + top));
    }
    reply(StatusCode::OK, body)
}

async fn users(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).users.iter().map(|u| user_json(u, q.get("$select").map(String::as_str))).collect();
    paged(&e, "users", items, &q)
}

async fn user(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    match data.users.iter().find(|u| u.id == id || u.user_principal_name.eq_ignore_ascii_case(&id)) {
        Some(u) => reply(StatusCode::OK, user_json(u, q.get("$select").map(String::as_str))),
        None => error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

fn group_json(g: &GraphGroup) -> Value {
    json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name})
}

async fn member_of(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).groups.iter().filter(|g| g.members.contains(&id)).map(group_json).collect();
    paged(&e, &format!("users/{id}/memberOf"), items, &q)
}

async fn groups(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).groups.iter().map(group_json).collect();
    paged(&e, "groups", items, &q)
}

async fn members(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    let Some(group) = data.groups.iter().find(|g| g.id == id) else {
        return error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist."));
    };
    let items = group
        .members
        .iter()
        .map(|m| {
            let kind =
                if data.groups.iter().any(|g| &g.id == m) { "#microsoft.graph.group" } else { "#microsoft.graph.user" };
            json!({"@odata.type": kind, "id": m})
        })
        .collect();
    paged(&e, &format!("groups/{id}/members"), items, &q)
}

async fn dump_state(State(e): S) -> Response {
    let data = lock(&e.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

//! Oracle IDCS / OCI IAM identity domain simulator (external-apis.md A5 and Part C): a token for a
//! confidential application (HTTP Basic, form with `scope`), SCIM list responses with a 1-based
//! `startIndex` and `count` up to 1000, `filter` on `userName`, and group `members` returned only
//! when `attributes` asks for them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Control, Credentials, Tokens, basic_client, lock, number, reply};

#[derive(Debug, Clone, Serialize)]
pub struct IdcsUser {
    pub id: String,
    pub user_name: String,
    pub active: bool,
    /// Values of the custom attribute `urn:ietf:params:scim:schemas:idcs:extension:custom:User:jiraGroups`.
    pub custom_groups: Vec<String>,
}

/// An application and who is granted it (user or group ids).
#[derive(Debug, Clone, Serialize)]
pub struct IdcsApp {
    pub id: String,
    pub display_name: String,
    pub granted_users: Vec<String>,
    pub granted_groups: Vec<String>,
}

/// The custom schema the simulator's users carry an extra group attribute in.
pub const CUSTOM_SCHEMA: &str = "urn:ietf:params:scim:schemas:idcs:extension:custom:User";

#[derive(Debug, Clone, Serialize)]
pub struct IdcsGroup {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct IdcsData {
    pub users: Vec<IdcsUser>,
    pub groups: Vec<IdcsGroup>,
    pub apps: Vec<IdcsApp>,
}

impl IdcsData {
    pub fn add_user(&mut self, user_name: &str, active: bool) -> String {
        let id = format!("2c9a4e4f1b0c4d2e9f1a{:012x}", self.users.len() + 1);
        self.users.push(IdcsUser { id: id.clone(), user_name: user_name.into(), active, custom_groups: Vec::new() });
        id
    }

    pub fn add_app(&mut self, name: &str, users: &[&str], groups: &[&str]) -> String {
        let id = format!("0a1b2c3d4e5f{:020x}", self.apps.len() + 1);
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        self.apps.push(IdcsApp {
            id: id.clone(),
            display_name: name.into(),
            granted_users: list(users),
            granted_groups: list(groups),
        });
        id
    }

    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let id = format!("7f6e5d4c3b2a1908{:016x}", self.groups.len() + 1);
        self.groups.push(IdcsGroup {
            id: id.clone(),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        id
    }
}

pub struct Oracle {
    pub control: Arc<Control>,
    pub client_id: String,
    pub client_secret: String,
    tokens: Tokens,
    pub data: Mutex<IdcsData>,
}

impl Oracle {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Oracle {
            control: Control::new(credentials),
            client_id: "idcs-client".into(),
            client_secret: "idcs-secret".into(),
            tokens: Tokens::default(),
            data: Mutex::new(IdcsData::default()),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/ServiceProviderConfig", get(service_provider_config))
            .route("/Users", get(users))
            .route("/Groups", get(groups))
            .route("/Apps", get(apps))
            .route("/Grants", get(grants));
        let root = Router::new().route("/oauth2/v1/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/admin/v1"], api, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Oracle>>;

fn error(status: StatusCode, detail: &str) -> Response {
    reply(
        status,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.as_u16().to_string(), "detail": detail}),
    )
}

fn authorize(o: &Oracle, headers: &HeaderMap) -> Result<(), Response> {
    if o.tokens.admits(headers) {
        return Ok(());
    }
    Err(error(StatusCode::UNAUTHORIZED, "Invalid or expired access token."))
}

async fn token(State(o): S, headers: HeaderMap, body: Bytes) -> Response {
    let expected = format!("{}:{}", o.client_id, o.client_secret);
    let presented = basic_client(&headers);
    let form = String::from_utf8_lossy(&body).to_string();
    if presented.as_deref() != Some(expected.as_str()) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
        );
    }
    if !form.contains("grant_type=client_credentials") || !form.contains("scope=") {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "grant_type and scope are required."}),
        );
    }
    let token = o.tokens.issue("eyJ.idcs.");
    reply(StatusCode::OK, json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
}

async fn service_provider_config(State(o): S, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&o, &headers) {
        return r;
    }
    reply(
        StatusCode::OK,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"], "filter": {"supported": true, "maxResults": 1000}}),
    )
}

/// A ListResponse page; told to loop, every page after the first is the second again (a server
/// that ignores `startIndex`).
fn list(o: &Oracle, items: Vec<Value>, q: &BTreeMap<String, String>) -> Response {
    let asked = number(q, "startIndex", 1).max(1);
    let count = number(q, "count", 50).min(1000);
    let start = if o.control.faults().loop_paging && asked > 1 { count + 1 } else { asked };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start - 1).take(count).collect();
    reply(
        StatusCode::OK,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": total,
               "itemsPerPage": page.len(), "startIndex": start, "Resources": page}),
    )
}

async fn users(State(o): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&o, &headers) {
        return r;
    }
    let data = lock(&o.data);
    let wanted =
        q.get("filter").and_then(|f| f.strip_prefix("userName eq ")).map(|v| v.trim_matches('"').to_lowercase());
    let items = data
        .users
        .iter()
        .filter(|u| wanted.as_ref().is_none_or(|w| u.user_name.to_lowercase() == *w))
        .map(|u| {
            let groups: Vec<Value> = data
                .groups
                .iter()
                .filter(|g| g.members.contains(&u.id))
                .map(|g| json!({"value": g.id, "display": g.name, "type": "direct"}))
                .collect();
            let mut user = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:oracle:idcs:extension:user:User"],
                "id": u.id, "ocid": format!("ocid1.user.oc1..{}", u.id), "userName": u.user_name, "displayName": u.user_name,
                "emails": [{"value": format!("{}@example.com", u.user_name), "type": "work", "primary": true}],
                "active": u.active, "groups": groups,
                "meta": {"resourceType": "User", "lastModified": "2024-05-02T10:00:00.000Z"}
            });
            if !u.custom_groups.is_empty() {
                user[CUSTOM_SCHEMA] = json!({"jiraGroups": u.custom_groups});
            }
            user
        })
        .collect();
    list(&o, items, &q)
}

async fn groups(State(o): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&o, &headers) {
        return r;
    }
    let with_members = q.get("attributes").is_some_and(|a| a.split(',').any(|x| x.trim() == "members"));
    let data = lock(&o.data);
    let items = data
        .groups
        .iter()
        .map(|g| {
            let mut v =
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": g.id, "displayName": g.name});
            if with_members {
                v["members"] = g.members.iter().map(|m| json!({"value": m, "type": "User"})).collect();
            }
            v
        })
        .collect();
    list(&o, items, &q)
}

async fn apps(State(o): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&o, &headers) {
        return r;
    }
    let wanted =
        q.get("filter").and_then(|f| f.strip_prefix("displayName eq ")).map(|v| v.trim_matches('"').to_string());
    let items = lock(&o.data)
        .apps
        .iter()
        .filter(|a| wanted.as_ref().is_none_or(|w| &a.display_name == w))
        .map(|a| json!({"schemas": ["urn:ietf:params:scim:schemas:oracle:idcs:App"], "id": a.id, "displayName": a.display_name}))
        .collect();
    list(&o, items, &q)
}

/// `filter=app.value eq "<app id>"`: who is granted the app, directly or through a group.
async fn grants(State(o): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&o, &headers) {
        return r;
    }
    let Some(app_id) =
        q.get("filter").and_then(|f| f.strip_prefix("app.value eq ")).map(|v| v.trim_matches('"').to_string())
    else {
        return error(StatusCode::BAD_REQUEST, "The filter must name the app: app.value eq \"<id>\".");
    };
    let data = lock(&o.data);
    let Some(app) = data.apps.iter().find(|a| a.id == app_id) else {
        return list(&o, Vec::new(), &q);
    };
    let grant = |grantee: &str, kind: &str, mechanism: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:oracle:idcs:Grant"], "id": format!("{app_id}-{grantee}"),
               "app": {"value": app_id}, "grantee": {"value": grantee, "type": kind}, "grantMechanism": mechanism})
    };
    let mut items: Vec<Value> = app.granted_users.iter().map(|u| grant(u, "User", "ADMINISTRATOR_TO_USER")).collect();
    items.extend(app.granted_groups.iter().map(|g| grant(g, "Group", "ADMINISTRATOR_TO_GROUP")));
    list(&o, items, &q)
}

async fn dump_state(State(o): S) -> Response {
    let data = lock(&o.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

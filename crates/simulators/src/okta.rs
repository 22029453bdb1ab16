//! Okta Management API simulator (external-apis.md A2 and Part C): `SSWS` tokens, cursor paging
//! by `Link` headers (one line per relation) with `after`, `limit` clamped per resource,
//! `X-Rate-Limit-*` headers on every answer and Okta's 429 (reset time, no `Retry-After`),
//! `DEPROVISIONED` users hidden from unfiltered lists, Okta's error body.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Clock, Control, Credentials, Tokens, lock, number, reply, test_public_key, verified_claims};

#[derive(Debug, Clone, Serialize)]
pub struct OktaUser {
    pub id: String,
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// ACTIVE, STAGED, PROVISIONED, SUSPENDED, DEPROVISIONED, …
    pub status: String,
    pub last_updated: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OktaGroup {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    pub last_updated: String,
    pub last_membership_updated: String,
}

/// An app integration: the users and groups assigned to it.
#[derive(Debug, Clone, Serialize)]
pub struct OktaApp {
    pub id: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct OktaData {
    pub users: Vec<OktaUser>,
    pub groups: Vec<OktaGroup>,
    pub apps: Vec<OktaApp>,
    clock: Clock,
}

impl OktaData {
    /// `lastUpdated` for a change happening now.
    fn now(&mut self) -> String {
        self.clock.stamp()
    }

    pub fn update_user(&mut self, id: &str, change: impl FnOnce(&mut OktaUser)) {
        let now = self.now();
        if let Some(u) = self.users.iter_mut().find(|u| u.id == id) {
            change(u);
            u.last_updated = now;
        }
    }

    /// A hard delete: Okta's lists no longer show the user at all.
    pub fn delete_user(&mut self, id: &str) {
        self.users.retain(|u| u.id != id);
        for g in self.groups.clone() {
            if g.members.iter().any(|m| m == id) {
                self.remove_member(&g.id, id);
            }
        }
    }

    pub fn add_member(&mut self, group: &str, user: &str) {
        let now = self.now();
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
            g.members.push(user.into());
            g.last_membership_updated = now;
        }
    }

    pub fn remove_member(&mut self, group: &str, user: &str) {
        let now = self.now();
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
            g.members.retain(|m| m != user);
            g.last_membership_updated = now;
        }
    }

    pub fn add_app(&mut self, users: &[&str], groups: &[&str]) -> String {
        let id = format!("0oa{:017}", self.apps.len() + 1);
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        self.apps.push(OktaApp { id: id.clone(), users: list(users), groups: list(groups) });
        id
    }

    pub fn add_user(&mut self, login: &str, status: &str) -> String {
        let id = format!("00u{:017}", self.users.len() + 1);
        let (first, last) = login.split('@').next().unwrap_or(login).split_once('.').unwrap_or((login, "Test"));
        let now = self.now();
        self.users.push(OktaUser {
            id: id.clone(),
            login: login.into(),
            email: login.into(),
            first_name: first.into(),
            last_name: last.into(),
            status: status.into(),
            last_updated: now,
        });
        id
    }

    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let id = format!("00g{:017}", self.groups.len() + 1);
        let now = self.now();
        self.groups.push(OktaGroup {
            id: id.clone(),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            last_updated: now.clone(),
            last_membership_updated: now,
        });
        id
    }
}

pub struct Okta {
    pub control: Arc<Control>,
    pub data: Mutex<OktaData>,
    base: Mutex<String>,
    /// The API service app: its client id (its key pair is [`crate::common::TEST_KEY`]) and the
    /// Okta API scopes granted to it.
    pub service_app: String,
    pub granted_scopes: Mutex<Vec<String>>,
    service_key: Vec<u8>,
    tokens: Tokens,
    /// Assertion ids already used: Okta takes each client assertion once.
    used: Mutex<BTreeSet<String>>,
}

impl Okta {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Okta {
            control: Control::new(credentials),
            data: Mutex::new(OktaData::default()),
            base: Mutex::new(String::new()),
            service_app: "0oaSIMSERVICEAPP0001".into(),
            granted_scopes: Mutex::new(
                ["okta.users.read", "okta.groups.read", "okta.apps.read"].map(String::from).to_vec(),
            ),
            service_key: test_public_key(),
            tokens: Tokens::default(),
            used: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/users", get(users))
            .route("/users/{id}", get(user))
            .route("/users/{id}/groups", get(user_groups))
            .route("/groups", get(groups))
            .route("/groups/{id}/users", get(group_users))
            .route("/apps/{id}/users", get(app_users))
            .route("/apps/{id}/groups", get(app_groups));
        let root = Router::new().route("/oauth2/v1/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/api/v1"], api, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Okta>>;

fn error(status: StatusCode, code: &str, summary: &str) -> Response {
    reply(
        status,
        json!({"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oaeSimulated", "errorCauses": []}),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    reply(status, json!({"error": error, "error_description": description}))
}

/// The org authorization server: client credentials for a service app that proves itself with a
/// signed assertion (`private_key_jwt`).
async fn token(State(okta): S, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: a client assertion is required.",
        );
    }
    let invalid = |d: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", d);
    let claims = match verified_claims(field("client_assertion"), &okta.service_key) {
        Ok(c) => c,
        Err(why) => return invalid(&format!("The client_assertion signature is invalid ({why}).")),
    };
    if claims["iss"] != okta.service_app.as_str() || claims["sub"] != okta.service_app.as_str() {
        return invalid("The client_assertion token has an invalid issuer or subject: both must be the client id.");
    }
    if claims["aud"] != format!("{}/oauth2/v1/token", lock(&okta.base)).as_str() {
        return invalid("The audience claim for client_assertion must be the endpoint invoked for the request.");
    }
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    if exp < now || exp > now + 3600 || iat > now + 60 {
        return invalid("The client_assertion token is expired or its lifetime is longer than an hour.");
    }
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if jti.is_empty() || !lock(&okta.used).insert(jti) {
        return invalid("The client_assertion token has already been used (or has no jti).");
    }
    let granted = lock(&okta.granted_scopes).clone();
    let refused: Vec<&str> = field("scope").split(' ').filter(|s| !granted.iter().any(|g| g == s)).collect();
    if !refused.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("The following scopes are not allowed: {}", refused.join(" ")),
        );
    }
    let token = okta.tokens.issue("eyJraWQiOi.okta.");
    reply(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": field("scope")}),
    )
}

fn authorize(okta: &Okta, headers: &HeaderMap) -> Result<(), Response> {
    if okta.tokens.admits(headers) {
        return Ok(());
    }
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("SSWS "));
    match token {
        Some(t) if t == okta.control.credentials.admin_token => Ok(()),
        Some(t) if t == okta.control.credentials.viewer_token => {
            Err(error(StatusCode::FORBIDDEN, "E0000006", "You do not have permission to perform the requested action"))
        }
        _ => Err(error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided")),
    }
}

/// One page of `items` after the cursor, with Okta's `Link` and rate-limit headers.
fn paged(okta: &Okta, path: &str, items: Vec<(String, Value)>, q: &BTreeMap<String, String>, max: usize) -> Response {
    let limit = number(q, "limit", max).clamp(1, max);
    let after = q.get("after").cloned().unwrap_or_default();
    let rest: Vec<&(String, Value)> = items.iter().filter(|(id, _)| after.is_empty() || *id > after).collect();
    let page: Vec<Value> = rest.iter().take(limit).map(|(_, v)| v.clone()).collect();
    let base = lock(&okta.base).clone();
    let mut response = (StatusCode::OK, axum::Json(Value::Array(page))).into_response();
    let headers = response.headers_mut();
    let filter =
        q.get("filter").map(|f| format!("&filter={}", f.replace(' ', "%20").replace('"', "%22"))).unwrap_or_default();
    headers.append(
        header::LINK,
        HeaderValue::from_str(&format!("<{base}{path}?limit={limit}{filter}>; rel=\"self\"")).expect("ascii"),
    );
    let looping = okta.control.faults().loop_paging && !after.is_empty();
    let next = if looping { items.get(limit - 1) } else { rest.get(limit - 1).copied().filter(|_| rest.len() > limit) };
    if let Some((last, _)) = next {
        let next = format!("<{base}{path}?after={last}&limit={limit}{filter}>; rel=\"next\"");
        headers.append(header::LINK, HeaderValue::from_str(&next).expect("ascii"));
    }
    rate_headers(headers);
    response
}

fn rate_headers(headers: &mut HeaderMap) {
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() + 60).unwrap_or(0);
    headers.insert("X-Rate-Limit-Limit", HeaderValue::from(600));
    headers.insert("X-Rate-Limit-Remaining", HeaderValue::from(599));
    headers.insert("X-Rate-Limit-Reset", HeaderValue::from(reset));
}

fn user_json(u: &OktaUser) -> Value {
    json!({
        "id": u.id, "status": u.status, "created": "2023-06-24T16:39:18.000Z", "lastUpdated": u.last_updated,
        "type": {"id": "oty1abcdEFGHijkl0h7"},
        "profile": {"login": u.login, "email": u.email, "firstName": u.first_name, "lastName": u.last_name, "secondEmail": null},
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}
    })
}

fn group_json(g: &OktaGroup) -> Value {
    json!({"id": g.id, "type": "OKTA_GROUP", "objectClass": ["okta:user_group"], "lastUpdated": g.last_updated,
        "lastMembershipUpdated": g.last_membership_updated, "profile": {"name": g.name, "description": null}})
}

async fn users(State(okta): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    let filter = q.get("filter").cloned().unwrap_or_default();
    let items = data
        .users
        .iter()
        .filter(|u| match filter.strip_prefix("status eq ") {
            Some(status) => u.status == status.trim_matches('"'),
            None => match filter.strip_prefix("profile.login eq ") {
                Some(login) => u.login.eq_ignore_ascii_case(login.trim_matches('"')),
                // A filtered list shows every status.
                None => match time_filter(&filter, "lastUpdated") {
                    Some(since) => since(&u.last_updated),
                    // Unfiltered lists leave deprovisioned users out.
                    None => u.status != "DEPROVISIONED",
                },
            },
        })
        .map(|u| (u.id.clone(), user_json(u)))
        .collect();
    paged(&okta, "/api/v1/users", items, &q, 200)
}

async fn user(State(okta): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    match data.users.iter().find(|u| u.id == id || u.login.eq_ignore_ascii_case(&id)) {
        Some(u) => reply(StatusCode::OK, user_json(u)),
        None => error(StatusCode::NOT_FOUND, "E0000007", &format!("Not found: Resource not found: {id} (User)")),
    }
}

async fn user_groups(State(okta): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    let out: Vec<Value> = data.groups.iter().filter(|g| g.members.contains(&id)).map(group_json).collect();
    reply(StatusCode::OK, Value::Array(out))
}

/// `<attribute> gt|ge "<timestamp>"` (either side of an `or`) as a test on that attribute's value.
fn time_filter(filter: &str, attribute: &str) -> Option<impl Fn(&str) -> bool> {
    let clause = filter.split(" or ").find_map(|c| c.trim().trim_matches(['(', ')']).strip_prefix(attribute))?;
    let (op, value) = clause.trim().split_once(' ')?;
    let value = value.trim().trim_matches('"').to_string();
    let strict = match op {
        "gt" => true,
        "ge" => false,
        _ => return None,
    };
    Some(move |stamp: &str| if strict { stamp > value.as_str() } else { stamp >= value.as_str() })
}

async fn groups(State(okta): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let (updated, membership) = (time_filter(&filter, "lastUpdated"), time_filter(&filter, "lastMembershipUpdated"));
    let items = lock(&okta.data)
        .groups
        .iter()
        .filter(|g| {
            filter.is_empty()
                || updated.as_ref().is_some_and(|t| t(&g.last_updated))
                || membership.as_ref().is_some_and(|t| t(&g.last_membership_updated))
        })
        .map(|g| (g.id.clone(), group_json(g)))
        .collect();
    paged(&okta, "/api/v1/groups", items, &q, 200)
}

fn app<'a>(data: &'a OktaData, id: &str) -> Result<&'a OktaApp, Response> {
    data.apps.iter().find(|a| a.id == id).ok_or_else(|| {
        error(StatusCode::NOT_FOUND, "E0000007", &format!("Not found: Resource not found: {id} (AppInstance)"))
    })
}

/// Users assigned to the app, directly (`USER`) or through an assigned group (`GROUP`).
async fn app_users(State(okta): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    let app = match app(&data, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let items = data
        .users
        .iter()
        .filter_map(|u| {
            let direct = app.users.contains(&u.id);
            let by_group = data.groups.iter().any(|g| app.groups.contains(&g.id) && g.members.contains(&u.id));
            (direct || by_group).then(|| {
                let item = json!({"id": u.id, "externalId": null, "scope": if direct { "USER" } else { "GROUP" },
                    "status": "PROVISIONED", "syncState": "SYNCHRONIZED", "lastUpdated": u.last_updated,
                    "credentials": {"userName": u.login}, "profile": {"email": u.email, "firstName": u.first_name, "lastName": u.last_name}});
                (u.id.clone(), item)
            })
        })
        .collect();
    paged(&okta, &format!("/api/v1/apps/{id}/users"), items, &q, 500)
}

async fn app_groups(State(okta): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    let app = match app(&data, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let items = app
        .groups
        .iter()
        .map(|g| (g.clone(), json!({"id": g, "lastUpdated": "2024-01-03T20:37:14.000Z", "priority": 0, "profile": {}})))
        .collect();
    paged(&okta, &format!("/api/v1/apps/{id}/groups"), items, &q, 200)
}

async fn group_users(State(okta): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&okta, &headers) {
        return r;
    }
    let data = lock(&okta.data);
    let Some(group) = data.groups.iter().find(|g| g.id == id) else {
        return error(StatusCode::NOT_FOUND, "E0000007", &format!("Not found: Resource not found: {id} (UserGroup)"));
    };
    let items =
        data.users.iter().filter(|u| group.members.contains(&u.id)).map(|u| (u.id.clone(), user_json(u))).collect();
    paged(&okta, &format!("/api/v1/groups/{id}/users"), items, &q, 1000)
}

async fn dump_state(State(okta): S) -> Response {
    let data = lock(&okta.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}

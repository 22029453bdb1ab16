//! Google Workspace Admin SDK Directory API simulator (external-apis.md A3): the service-account
//! JWT-bearer grant at `/token` (RS256 signature, issuer, audience, lifetime, the admin subject and
//! the delegated scopes all checked), users/groups/members with `nextPageToken` paging and
//! Google's `maxResults` bounds, derived (nested) membership, `hasMember`, Google's error body, and
//! throttling as Google does it: 403 `userRateLimitExceeded`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Control, Credentials, TEST_KEY, Tokens, lock, number, reply, test_public_key, verified_claims};

/// The OAuth client (id, secret) of the `authorized_user` sign-in.
const OAUTH_CLIENT: (&str, &str) = ("123456789012-sim.apps.googleusercontent.com", "GOCSPX-sim-secret");

/// The read-only scopes idsync asks for, which an administrator delegates.
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];

#[derive(Debug, Clone, Serialize)]
pub struct GoogleUser {
    pub id: String,
    pub primary_email: String,
    pub given_name: String,
    pub family_name: String,
    pub suspended: bool,
    pub archived: bool,
    pub org_unit_path: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoogleGroup {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Ids of member users and groups.
    pub members: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct GoogleData {
    pub users: Vec<GoogleUser>,
    pub groups: Vec<GoogleGroup>,
}

impl GoogleData {
    pub fn add_user(&mut self, email: &str, suspended: bool) -> String {
        let id = format!("1034567890123{:08}", self.users.len() + 1);
        let local = email.split('@').next().unwrap_or(email);
        let (given, family) = local.split_once('.').unwrap_or((local, "Test"));
        self.users.push(GoogleUser {
            id: id.clone(),
            primary_email: email.into(),
            given_name: given.into(),
            family_name: family.into(),
            suspended,
            archived: false,
            org_unit_path: "/".into(),
            aliases: Vec::new(),
        });
        id
    }

    pub fn add_group(&mut self, email: &str, name: &str, members: &[&str]) -> String {
        let id = format!("01abcdef2ghi{:04}", self.groups.len() + 1);
        self.groups.push(GoogleGroup {
            id: id.clone(),
            email: email.into(),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        id
    }

    fn user(&self, key: &str) -> Option<&GoogleUser> {
        self.users.iter().find(|u| {
            u.id == key
                || u.primary_email.eq_ignore_ascii_case(key)
                || u.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
        })
    }

    fn group(&self, key: &str) -> Option<&GoogleGroup> {
        self.groups.iter().find(|g| g.id == key || g.email.eq_ignore_ascii_case(key))
    }

    /// User ids in `group`, through nested groups too.
    fn derived_members(&self, group: &GoogleGroup) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut queue = vec![group.id.clone()];
        while let Some(id) = queue.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            for member in self.group(&id).map(|g| g.members.clone()).unwrap_or_default() {
                if self.group(&member).is_some() {
                    queue.push(member)
                } else {
                    out.insert(member);
                }
            }
        }
        out
    }
}

pub struct Google {
    pub control: Arc<Control>,
    pub data: Mutex<GoogleData>,
    /// The service account's address (the JWT's `iss`).
    pub client_email: String,
    /// The super administrator the service account may act for (the JWT's `sub`).
    pub admin: String,
    /// The scopes delegated to the service account in the Admin console.
    pub delegated: Mutex<Vec<String>>,
    /// The next N directory requests answer 403 `userRateLimitExceeded`.
    pub quota_errors: AtomicU32,
    /// The refresh token an administrator's consent gave the OAuth client (revoke it by changing
    /// it).
    pub refresh_token: Mutex<String>,
    public_key: Vec<u8>,
    tokens: Tokens,
    base: Mutex<String>,
}

impl Google {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Google {
            control: Control::new(credentials),
            data: Mutex::new(GoogleData::default()),
            client_email: "idsync@idsync-test.iam.gserviceaccount.com".into(),
            admin: "admin@example.com".into(),
            delegated: Mutex::new(SCOPES.map(String::from).to_vec()),
            quota_errors: AtomicU32::new(0),
            refresh_token: Mutex::new("1//sim-refresh-token".into()),
            public_key: test_public_key(),
            tokens: Tokens::default(),
            base: Mutex::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    /// The JSON key file an administrator downloads for the service account; its `token_uri`
    /// points at this simulator.
    pub fn key_file(&self) -> String {
        json!({
            "type": "service_account", "project_id": "idsync-test", "private_key_id": "f1e2d3c4b5a6",
            "private_key": TEST_KEY, "client_email": self.client_email, "client_id": "109876543210987654321",
            "token_uri": format!("{}/token", lock(&self.base)),
        })
        .to_string()
    }

    /// The `authorized_user` credentials of an OAuth client an administrator consented to.
    pub fn authorized_user_file(&self) -> String {
        json!({
            "type": "authorized_user", "client_id": OAUTH_CLIENT.0, "client_secret": OAUTH_CLIENT.1,
            "refresh_token": *lock(&self.refresh_token), "token_uri": format!("{}/token", lock(&self.base)),
        })
        .to_string()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/users", get(users))
            .route("/users/{key}", get(user))
            .route("/groups", get(groups))
            .route("/groups/{key}/members", get(members))
            .route("/groups/{key}/hasMember/{member}", get(has_member));
        let root = Router::new().route("/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/admin/directory/v1"], api, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Google>>;

fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    reply(
        status,
        json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    reply(status, json!({"error": error, "error_description": description}))
}

/// Checks a signed JWT-bearer assertion the way Google's token endpoint does.
fn grant(google: &Google, assertion: &str) -> Result<(), Response> {
    let invalid = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let claims = verified_claims(assertion, &google.public_key).map_err(invalid)?;
    if claims["iss"] != google.client_email.as_str() {
        return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "The OAuth client was not found."));
    }
    if claims["aud"] != format!("{}/token", lock(&google.base)).as_str() {
        return Err(invalid("Invalid JWT: audience must be the token endpoint"));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    if exp <= iat || exp - iat > 3600 || iat > now + 300 || exp < now {
        return Err(invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    let delegated = lock(&google.delegated);
    let scopes_ok = claims["scope"].as_str().is_some_and(|s| s.split(' ').all(|s| delegated.iter().any(|d| d == s)));
    if claims["sub"] != google.admin.as_str() || !scopes_ok {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        ));
    }
    Ok(())
}

async fn token(State(google): S, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    match field("grant_type") {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            if let Err(r) = grant(&google, field("assertion")) {
                return r;
            }
        }
        "refresh_token" => {
            if field("client_id") != OAUTH_CLIENT.0 || field("client_secret") != OAUTH_CLIENT.1 {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "The OAuth client was not found.");
            }
            if field("refresh_token") != lock(&google.refresh_token).as_str() {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Token has been expired or revoked.");
            }
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
    }
    let token = google.tokens.issue("ya29.sim-");
    reply(StatusCode::OK, json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

/// Authentication, then the quota.
fn admit(google: &Google, headers: &HeaderMap) -> Result<(), Response> {
    if !google.tokens.admits(headers) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ));
    }
    if google.quota_errors.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "userRateLimitExceeded",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com'.",
        ));
    }
    Ok(())
}

/// One page of `items` and, when more follow, the token of the next.
fn page(
    google: &Google,
    kind: &str,
    field: &str,
    items: Vec<Value>,
    q: &BTreeMap<String, String>,
    max: usize,
) -> Response {
    let size = number(q, "maxResults", 100.min(max));
    if size == 0 || size > max {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!("Invalid value '{size}'. Values must be within the range: [1, {max}]"),
        );
    }
    let start: usize = match q.get("pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix("pt-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token"),
        },
    };
    let end = (start + size).min(items.len());
    let mut body = json!({"kind": kind, "etag": "\"sim-etag\""});
    body[field] = Value::Array(items.get(start..end).unwrap_or_default().to_vec());
    if google.control.faults().loop_paging && start > 0 {
        body["nextPageToken"] = json!(format!("pt-{size}"));
    } else if end < items.len() {
        body["nextPageToken"] = json!(format!("pt-{end}"));
    }
    reply(StatusCode::OK, body)
}

fn user_json(u: &GoogleUser) -> Value {
    json!({
        "kind": "admin#directory#user", "id": u.id, "etag": format!("\"{}\"", u.id), "primaryEmail": u.primary_email,
        "name": {"givenName": u.given_name, "familyName": u.family_name, "fullName": format!("{} {}", u.given_name, u.family_name)},
        "isAdmin": false, "isDelegatedAdmin": false, "creationTime": "2021-03-01T10:00:00.000Z",
        "suspended": u.suspended, "archived": u.archived, "orgUnitPath": u.org_unit_path, "customerId": "C01abcde",
        "emails": [{"address": u.primary_email, "primary": true}], "aliases": u.aliases,
    })
}

fn group_json(g: &GoogleGroup) -> Value {
    json!({"kind": "admin#directory#group", "id": g.id, "etag": format!("\"{}\"", g.id), "email": g.email,
        "name": g.name, "description": "", "directMembersCount": g.members.len().to_string(), "adminCreated": true})
}

/// Either `customer` or `domain`, as Google requires for lists.
fn scoped(q: &BTreeMap<String, String>) -> Result<(), Response> {
    if q.contains_key("customer") || q.contains_key("domain") {
        Ok(())
    } else {
        Err(error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request"))
    }
}

async fn users(State(google): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = admit(&google, &headers).and_then(|_| scoped(&q)) {
        return r;
    }
    let data = lock(&google.data);
    let org_unit = q.get("query").and_then(|s| s.strip_prefix("orgUnitPath=")).map(|s| s.trim_matches('\''));
    let mut list: Vec<&GoogleUser> =
        data.users.iter().filter(|u| org_unit.is_none_or(|o| u.org_unit_path == o)).collect();
    if q.get("orderBy").map(String::as_str) == Some("email") {
        list.sort_by(|a, b| a.primary_email.cmp(&b.primary_email));
    }
    page(&google, "admin#directory#users", "users", list.into_iter().map(user_json).collect(), &q, 500)
}

async fn user(State(google): S, headers: HeaderMap, Path(key): Path<String>) -> Response {
    if let Err(r) = admit(&google, &headers) {
        return r;
    }
    match lock(&google.data).user(&key) {
        Some(u) => reply(StatusCode::OK, user_json(u)),
        None => error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: userKey"),
    }
}

async fn groups(State(google): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = admit(&google, &headers) {
        return r;
    }
    let data = lock(&google.data);
    let list: Vec<Value> = match q.get("userKey") {
        Some(key) => {
            let Some(user) = data.user(key) else {
                return error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: userKey");
            };
            data.groups.iter().filter(|g| g.members.contains(&user.id)).map(group_json).collect()
        }
        None => {
            if let Err(r) = scoped(&q) {
                return r;
            }
            data.groups.iter().map(group_json).collect()
        }
    };
    page(&google, "admin#directory#groups", "groups", list, &q, 200)
}

async fn members(State(google): S, headers: HeaderMap, Path(key): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = admit(&google, &headers) {
        return r;
    }
    let data = lock(&google.data);
    let Some(group) = data.group(&key) else {
        return error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: groupKey");
    };
    let ids: Vec<String> = if q.get("includeDerivedMembership").map(String::as_str) == Some("true") {
        data.derived_members(group).into_iter().collect()
    } else {
        group.members.clone()
    };
    let list = ids
        .iter()
        .filter_map(|id| {
            if let Some(u) = data.users.iter().find(|u| &u.id == id) {
                Some(json!({"kind": "admin#directory#member", "etag": "\"m\"", "id": u.id, "email": u.primary_email,
                    "role": "MEMBER", "type": "USER", "status": if u.suspended { "SUSPENDED" } else { "ACTIVE" }}))
            } else {
                data.group(id).map(|g| {
                    json!({"kind": "admin#directory#member", "etag": "\"m\"", "id": g.id,
                    "email": g.email, "role": "MEMBER", "type": "GROUP"})
                })
            }
        })
        .collect();
    page(&google, "admin#directory#members", "members", list, &q, 200)
}

async fn has_member(State(google): S, headers: HeaderMap, Path((key, member)): Path<(String, String)>) -> Response {
    if let Err(r) = admit(&google, &headers) {
        return r;
    }
    let data = lock(&google.data);
    let (Some(group), Some(user)) = (data.group(&key), data.user(&member)) else {
        return error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: memberKey");
    };
    reply(StatusCode::OK, json!({"isMember": data.derived_members(group).contains(&user.id)}))
}

async fn dump_state(State(google): S) -> Response {
    reply(StatusCode::OK, serde_json::to_value(&*lock(&google.data)).unwrap_or_default())
}

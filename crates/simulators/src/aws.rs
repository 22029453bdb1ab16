//! AWS IAM Identity Center identity store simulator (external-apis.md A7): the AWS JSON 1.1
//! protocol (`POST /`, `X-Amz-Target: AWSIdentityStore.<Operation>`), Signature Version 4 checked
//! the way AWS checks it (key, scope, signed headers, payload hash, a 15-minute clock window),
//! `MaxResults` 1–100 with an opaque `NextToken`, IAM denials per action, and AWS's error types,
//! throttling included (`ThrottlingException`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ring::{digest, hmac};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{Control, Credentials, lock, reply};

#[derive(Debug, Clone, Serialize)]
pub struct StoreUser {
    pub id: String,
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct StoreData {
    pub users: Vec<StoreUser>,
    pub groups: Vec<StoreGroup>,
}

impl StoreData {
    pub fn add_user(&mut self, user_name: &str) -> String {
        let id = format!("90676b2a-e0c1-7081-{:04}-{:012}", self.users.len() % 10_000, self.users.len() + 1);
        let (given, family) = user_name.split_once('.').unwrap_or((user_name, "Test"));
        self.users.push(StoreUser {
            id: id.clone(),
            user_name: user_name.into(),
            given_name: given.into(),
            family_name: family.into(),
            email: format!("{user_name}@example.com"),
        });
        id
    }

    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let id = format!("a4e8b4c8-6071-70e3-{:04}-{:012}", self.groups.len() % 10_000, self.groups.len() + 1);
        self.groups.push(StoreGroup {
            id: id.clone(),
            display_name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        id
    }
}

pub struct IdentityStore {
    pub control: Arc<Control>,
    pub data: Mutex<StoreData>,
    pub region: String,
    pub store_id: String,
    pub access_key: String,
    pub secret_key: String,
    /// Operations the access key's IAM policy does not allow.
    pub denied: Mutex<BTreeSet<String>>,
    /// The next N calls answer `ThrottlingException`.
    pub throttled: AtomicU32,
}

impl IdentityStore {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(IdentityStore {
            control: Control::new(credentials),
            data: Mutex::new(StoreData::default()),
            region: "eu-west-1".into(),
            store_id: "d-1234567890".into(),
            access_key: "AKIASIMULATED0EXAMPLE".into(),
            secret_key: "sim/Secret+Access/Key0000000000000000000".into(),
            denied: Mutex::new(BTreeSet::new()),
            throttled: AtomicU32::new(0),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let root = Router::new().route("/", post(call));
        crate::common::mount(self.clone(), self.control.clone(), &[], Router::new(), root, get(dump_state))
    }
}

type S = State<Arc<IdentityStore>>;

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut response = reply(status, json!({"__type": kind, "message": message}));
    response.headers_mut().insert("x-amzn-ErrorType", kind.parse().expect("ascii"));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Recomputes the request's signature as AWS does and compares.
fn verify(store: &IdentityStore, headers: &HeaderMap, body: &[u8]) -> Result<(), Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_string();
    let authorization = header("authorization");
    let Some(fields) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let field = |name: &str| {
        fields.split(", ").find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap_or_default().to_string()
    };
    let (credential, signed_headers, signature) = (field("Credential"), field("SignedHeaders"), field("Signature"));
    let mut scope_parts = credential.splitn(2, '/');
    let (key_id, scope) = (scope_parts.next().unwrap_or_default(), scope_parts.next().unwrap_or_default());
    if key_id != store.access_key {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = header("x-amz-date");
    let signed_at = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", &amz_date)
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    let skew = signed_at.map(|t| (jiff::Timestamp::now() - t).get_seconds().abs());
    if skew.is_none_or(|s| s > 15 * 60) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            &format!("Signature expired: {amz_date} is now earlier or later than 15 minutes from the current time."),
        ));
    }
    let date = amz_date.get(..8).unwrap_or_default();
    let expected_scope = format!("{date}/{}/identitystore/aws4_request", store.region);
    if scope != expected_scope {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            &format!("Credential should be scoped to a valid region and service: expected {expected_scope}"),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err(error(StatusCode::BAD_REQUEST, "InvalidSignatureException", "host and x-amz-date must be signed"));
    }
    let canonical_headers: String = names.iter().map(|n| format!("{n}:{}\n", header(n))).collect();
    let payload = hex(digest::digest(&digest::SHA256, body).as_ref());
    let canonical = format!("POST\n/\n\n{canonical_headers}\n{signed_headers}\n{payload}");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", store.secret_key).into_bytes();
    for part in [date, store.region.as_str(), "identitystore", "aws4_request"] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes()).as_ref().to_vec();
    }
    let expected = hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), to_sign.as_bytes()).as_ref());
    if expected != signature {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

fn user_json(store: &IdentityStore, u: &StoreUser) -> Value {
    json!({
        "UserId": u.id, "IdentityStoreId": store.store_id, "UserName": u.user_name,
        "DisplayName": format!("{} {}", u.given_name, u.family_name),
        "Name": {"Formatted": format!("{} {}", u.given_name, u.family_name), "GivenName": u.given_name, "FamilyName": u.family_name},
        "Emails": [{"Value": u.email, "Type": "work", "Primary": true}],
    })
}

fn group_json(store: &IdentityStore, g: &StoreGroup) -> Value {
    json!({"GroupId": g.id, "DisplayName": g.display_name, "IdentityStoreId": store.store_id, "Description": null})
}

/// One page of `items` after `NextToken`.
fn page(looping: bool, field: &str, items: Vec<Value>, request: &Value) -> Response {
    let size = request["MaxResults"].as_u64().unwrap_or(100);
    if !(1..=100).contains(&size) {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100",
        );
    }
    let start = match request["NextToken"].as_str() {
        None => 0,
        Some(t) => match t.strip_prefix("tok-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return error(StatusCode::BAD_REQUEST, "ValidationException", "Invalid NextToken"),
        },
    };
    let end = (start + size as usize).min(items.len());
    let mut body = json!({});
    body[field] = Value::Array(items.get(start..end).unwrap_or_default().to_vec());
    if looping && start > 0 {
        body["NextToken"] = json!(format!("tok-{size}"));
    } else if end < items.len() {
        body["NextToken"] = json!(format!("tok-{end}"));
    }
    reply(StatusCode::OK, body)
}

async fn call(State(store): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = verify(&store, &headers, &body) {
        return r;
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(operation) = target.strip_prefix("AWSIdentityStore.") else {
        return error(StatusCode::BAD_REQUEST, "UnknownOperationException", "");
    };
    if lock(&store.denied).contains(operation) {
        return error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &format!(
                "User: arn:aws:iam::123456789012:user/idsync is not authorized to perform: identitystore:{operation} on resource: arn:aws:identitystore::123456789012:identitystore/{}",
                store.store_id
            ),
        );
    }
    if store.throttled.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "Start of structure or map found where not expected.",
        );
    };
    if request["IdentityStoreId"] != store.store_id.as_str() {
        return error(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            &format!("Identity store {} not found", request["IdentityStoreId"]),
        );
    }
    let looping = store.control.faults().loop_paging;
    let data = lock(&store.data);
    let not_found =
        |what: &str| error(StatusCode::BAD_REQUEST, "ResourceNotFoundException", &format!("{what} not found"));
    match operation {
        "ListUsers" => page(looping, "Users", data.users.iter().map(|u| user_json(&store, u)).collect(), &request),
        "ListGroups" => page(looping, "Groups", data.groups.iter().map(|g| group_json(&store, g)).collect(), &request),
        "ListGroupMemberships" => {
            let Some(group) = data.groups.iter().find(|g| request["GroupId"] == g.id.as_str()) else {
                return not_found("Group");
            };
            let items = group
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| json!({"IdentityStoreId": store.store_id, "MembershipId": format!("{}-m{i}", group.id), "GroupId": group.id, "MemberId": {"UserId": m}}))
                .collect();
            page(looping, "GroupMemberships", items, &request)
        }
        "ListGroupMembershipsForMember" => {
            let user = request["MemberId"]["UserId"].as_str().unwrap_or_default();
            let items = data
                .groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == user))
                .map(|g| json!({"IdentityStoreId": store.store_id, "MembershipId": format!("{}-{user}", g.id), "GroupId": g.id, "MemberId": {"UserId": user}}))
                .collect();
            page(looping, "GroupMemberships", items, &request)
        }
        "GetUserId" => {
            let attribute = &request["AlternateIdentifier"]["UniqueAttribute"];
            let wanted = attribute["AttributeValue"].as_str().unwrap_or_default();
            if attribute["AttributePath"] != "userName" {
                return error(StatusCode::BAD_REQUEST, "ValidationException", "Unsupported attribute path");
            }
            match data.users.iter().find(|u| u.user_name.eq_ignore_ascii_case(wanted)) {
                Some(u) => reply(StatusCode::OK, json!({"UserId": u.id, "IdentityStoreId": store.store_id})),
                None => not_found("User"),
            }
        }
        "DescribeUser" => match data.users.iter().find(|u| request["UserId"] == u.id.as_str()) {
            Some(u) => reply(StatusCode::OK, user_json(&store, u)),
            None => not_found("User"),
        },
        "DescribeGroup" => match data.groups.iter().find(|g| request["GroupId"] == g.id.as_str()) {
            Some(g) => reply(StatusCode::OK, group_json(&store, g)),
            None => not_found("Group"),
        },
        other => error(StatusCode::BAD_REQUEST, "UnknownOperationException", &format!("{other} is not simulated")),
    }
}

async fn dump_state(State(store): S) -> Response {
    (StatusCode::OK, axum::Json(serde_json::to_value(&*lock(&store.data)).unwrap_or_default())).into_response()
}

//! What every simulator shares: credentials, fault injection, Data Center rate limiting, request
//! counting and the `/_sim` control endpoints tests and the demo use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Who may call a simulator. Admin credentials may do everything; the viewer may only read,
/// which is how tests check that `target test` reports missing admin rights.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub admin_token: String,
    pub admin_user: String,
    pub admin_password: String,
    pub viewer_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            admin_token: "sim-admin-token".into(),
            admin_user: "admin".into(),
            admin_password: "admin".into(),
            viewer_token: "sim-viewer-token".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Viewer,
}

impl Credentials {
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        if let Some(token) = value.strip_prefix("Bearer ") {
            return match token {
                t if t == self.admin_token => Some(Caller::Admin),
                t if t == self.viewer_token => Some(Caller::Viewer),
                _ => None,
            };
        }
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = base64_decode(encoded)?;
        let (user, password) = decoded.split_once(':')?;
        (user == self.admin_user && password == self.admin_password).then_some(Caller::Admin)
    }
}

fn base64_decode(input: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in input.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Access tokens an OAuth-speaking simulator has issued.
#[derive(Default)]
pub struct Tokens(Mutex<std::collections::BTreeSet<String>>);

impl Tokens {
    pub fn issue(&self, prefix: &str) -> String {
        let mut tokens = lock(&self.0);
        let token = format!("{prefix}{}", tokens.len() + 1);
        tokens.insert(token.clone());
        token
    }

    /// Whether the request carries a bearer token issued here.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let token =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        token.is_some_and(|t| lock(&self.0).contains(t))
    }
}

/// `client_id:secret` from an HTTP Basic header, as OAuth clients authenticate.
pub fn basic_client(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ").and_then(base64_decode)
}

/// The RSA key simulated service accounts (Google) and service apps (Okta) sign with: PKCS#8 PEM,
/// made for these tests only.
pub const TEST_KEY: &str = include_str!("../testdata/test-rsa-key.pem");

/// The public half of [`TEST_KEY`] (RSAPublicKey DER), as a provider holds it.
pub fn test_public_key() -> Vec<u8> {
    use base64::Engine;
    use ring::signature::KeyPair;
    let body: String = TEST_KEY.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("the bundled test key is PKCS#8 RSA");
    pair.public_key().as_ref().to_vec()
}

/// The claims of a JWT signed (RS256) by `public_key`'s private half, or what is wrong with it.
pub fn verified_claims(jwt: &str, public_key: &[u8]) -> Result<Value, &'static str> {
    use base64::Engine;
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok();
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else { return Err("Invalid JWT") };
    let header: Value = decode(header).and_then(|b| serde_json::from_slice(&b).ok()).ok_or("Invalid JWT")?;
    if header["alg"] != "RS256" {
        return Err("Invalid JWT: algorithm must be RS256");
    }
    let signed = &jwt[..jwt.len() - signature.len() - 1];
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key);
    key.verify(signed.as_bytes(), &decode(signature).unwrap_or_default()).map_err(|_| "Invalid JWT Signature.")?;
    decode(claims).and_then(|b| serde_json::from_slice(&b).ok()).ok_or("Invalid JWT")
}

/// A provider's change times: every change gets a later one than the last, to the millisecond,
/// as `2026-11-23T17:58:34.123Z` (Okta's `lastUpdated`, OneLogin's `updated_at`).
#[derive(Debug, Default, Serialize)]
pub struct Clock {
    last_millis: i64,
}

impl Clock {
    pub fn stamp(&mut self) -> String {
        let now = jiff::Timestamp::now().as_millisecond().max(self.last_millis + 1);
        self.last_millis = now;
        jiff::Timestamp::from_millisecond(now)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default()
    }
}

/// Faults a test switches on through `POST /_sim/faults` or [`Control::set_faults`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every API request answers 503, as a stopped application behind a proxy does.
    pub down: bool,
    /// Every API request waits this long before it is served.
    pub delay_ms: u64,
    /// The next N API requests answer 500 ...
    pub errors_500: u32,
    /// ... once this many more have been served (a failure part-way through paging).
    pub errors_500_after: u32,
    /// The next N API requests answer 429 with `Retry-After: retry_after_seconds`.
    pub storm_429: u32,
    pub retry_after_seconds: u64,
    /// Data Center rate limiting: a token bucket of this size (0: off) ...
    pub rate_limit_capacity: u32,
    /// ... refilled with this many tokens per second.
    pub rate_limit_per_second: u32,
    /// Paging goes in a circle, as a broken or hostile server's may: from the second page on,
    /// every next-page cursor (token, link) points at the second page again; Keycloak also lists
    /// every group among its own children.
    pub loop_paging: bool,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Shared control state of one simulator.
/// Which headers a product's 429 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttling {
    /// Atlassian Data Center: `Retry-After` and `X-RateLimit-*`.
    DataCenter,
    /// Okta: `X-Rate-Limit-Limit/Remaining/Reset` (the reset as an epoch second), no `Retry-After`.
    Okta,
}

pub struct Control {
    pub credentials: Credentials,
    throttling: Throttling,
    faults: Mutex<Faults>,
    bucket: Mutex<Bucket>,
    requests: Mutex<BTreeMap<String, u64>>,
}

impl Control {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Self::with_throttling(credentials, Throttling::DataCenter)
    }

    pub fn with_throttling(credentials: Credentials, throttling: Throttling) -> Arc<Self> {
        Arc::new(Control {
            credentials,
            throttling,
            faults: Mutex::new(Faults::default()),
            bucket: Mutex::new(Bucket { tokens: 0.0, at: Instant::now() }),
            requests: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut bucket = lock(&self.bucket);
        bucket.tokens = f64::from(faults.rate_limit_capacity);
        bucket.at = Instant::now();
        *lock(&self.faults) = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// API requests served so far, by `METHOD /path`.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.requests).clone()
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.requests).values().sum()
    }
}

/// The simulators keep their state behind plain mutexes; a poisoned one only means a handler
/// panicked, and the data is still the best we have.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Applies faults and rate limiting to every API request and counts it.
pub async fn faults_layer(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/_sim") {
        return next.run(request).await;
    }
    let key = format!("{} {}", request.method(), request.uri().path());
    *lock(&control.requests).entry(key).or_default() += 1;
    let decision = {
        let mut faults = lock(&control.faults);
        if faults.down {
            Some((StatusCode::SERVICE_UNAVAILABLE, None))
        } else if faults.storm_429 > 0 {
            faults.storm_429 -= 1;
            Some((StatusCode::TOO_MANY_REQUESTS, Some(faults.retry_after_seconds)))
        } else if faults.errors_500 > 0 && faults.errors_500_after > 0 {
            faults.errors_500_after -= 1;
            None
        } else if faults.errors_500 > 0 {
            faults.errors_500 -= 1;
            Some((StatusCode::INTERNAL_SERVER_ERROR, None))
        } else if faults.rate_limit_capacity > 0 {
            let mut bucket = lock(&control.bucket);
            let now = Instant::now();
            let refill = now.duration_since(bucket.at).as_secs_f64() * f64::from(faults.rate_limit_per_second);
            bucket.tokens = (bucket.tokens + refill).min(f64::from(faults.rate_limit_capacity));
            bucket.at = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                None
            } else {
                let wait = (1.0 - bucket.tokens) / f64::from(faults.rate_limit_per_second.max(1));
                Some((StatusCode::TOO_MANY_REQUESTS, Some(wait.ceil() as u64)))
            }
        } else {
            None
        }
    };
    let delay = lock(&control.faults).delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match decision {
        None => next.run(request).await,
        Some((status, retry_after)) => fault_response(&control, status, retry_after),
    }
}

fn fault_response(control: &Control, status: StatusCode, retry_after: Option<u64>) -> Response {
    let faults = lock(&control.faults).clone();
    let message = match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable",
        StatusCode::TOO_MANY_REQUESTS => "Rate limit exceeded",
        _ => "Internal server error",
    };
    let mut response = (status, Json(json!({"errorMessages": [message], "errors": {}}))).into_response();
    if let Some(seconds) = retry_after
        && control.throttling == Throttling::Okta
    {
        let reset =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) + seconds;
        let headers = response.headers_mut();
        headers.insert("X-Rate-Limit-Limit", HeaderValue::from(600));
        headers.insert("X-Rate-Limit-Remaining", HeaderValue::from(0));
        headers.insert("X-Rate-Limit-Reset", HeaderValue::from(reset));
    } else if let Some(seconds) = retry_after {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        headers.insert("X-RateLimit-Limit", HeaderValue::from(faults.rate_limit_capacity));
        headers.insert("X-RateLimit-Remaining", HeaderValue::from(0));
        headers.insert("X-RateLimit-Interval-Seconds", HeaderValue::from(1));
        headers.insert("X-RateLimit-FillRate", HeaderValue::from(faults.rate_limit_per_second));
    }
    response
}

/// `/_sim/faults` (GET, POST) and `/_sim/requests` (GET).
pub fn control_routes<S: Clone + Send + Sync + 'static>(control: Arc<Control>) -> Router<S> {
    use axum::routing::get;
    Router::new()
        .route(
            "/_sim/faults",
            get({
                let c = control.clone();
                move || async move { Json(c.faults()) }
            })
            .post({
                let c = control.clone();
                move |Json(f): Json<Faults>| async move {
                    c.set_faults(f);
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/_sim/requests",
            get({
                let c = control;
                move || async move { Json(c.requests()) }
            }),
        )
}

/// A product's router: `api` under each of `prefixes` (the products alias their versioned path as
/// `latest`), `root` routes as they are, `GET /_sim/state`, the control endpoints, and fault
/// injection and counting in front of every API request.
pub fn mount<T: Send + Sync + 'static>(
    state: Arc<T>,
    control: Arc<Control>,
    prefixes: &[&str],
    api: Router<Arc<T>>,
    root: Router<Arc<T>>,
    dump_state: axum::routing::MethodRouter<Arc<T>>,
) -> Router {
    let mut router = root.route("/_sim/state", dump_state);
    for prefix in prefixes {
        router = router.nest(prefix, api.clone());
    }
    router
        .with_state(state)
        .merge(control_routes(control.clone()))
        .layer(axum::middleware::from_fn_with_state(control, faults_layer))
}

/// Reads a query parameter as a number, with a default.
pub fn number(query: &BTreeMap<String, String>, key: &str, default: usize) -> usize {
    query.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn truthy(query: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    query.get(key).map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// A JSON answer with a status; `null` means no body.
pub fn reply(status: StatusCode, body: Value) -> Response {
    if body.is_null() {
        return status.into_response();
    }
    (status, Json(body)).into_response()
}

/// Jira, Confluence and Bitbucket Data Center name the charset in every JSON answer.
pub const ATLASSIAN_JSON: &str = "application/json;charset=UTF-8";

/// A JSON answer as the Atlassian Data Center products send it (see `ATLASSIAN_JSON`).
pub fn atlassian_reply(status: StatusCode, body: Value) -> Response {
    if body.is_null() {
        return status.into_response();
    }
    (status, [(axum::http::header::CONTENT_TYPE, ATLASSIAN_JSON)], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        let c = Credentials::default();
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YWRtaW46YWRtaW4="));
        assert_eq!(c.caller(&h), Some(Caller::Admin));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YWRtaW46d3Jvbmc="));
        assert_eq!(c.caller(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sim-viewer-token"));
        assert_eq!(c.caller(&h), Some(Caller::Viewer));
    }
}

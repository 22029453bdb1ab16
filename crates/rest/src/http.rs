//! The client: authentication, timeouts, and every failure as a [`RestError`].

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::{Credentials, RestError};

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: Url,
    credentials: Credentials,
    /// Shared by the clones of this client: one budget per provider.
    pace: Option<std::sync::Arc<crate::Pace>>,
}

/// A successful answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Http {
    pub fn new(base_url: &str, credentials: Credentials, timeout: Duration) -> Result<Self, RestError> {
        let mut base =
            Url::parse(base_url).map_err(|e| RestError::Config(format!("'{base_url}' is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(RestError::Config(format!("'{base_url}' must start with https:// (or http://)")));
        }
        // Joining relative paths needs the base to end with a slash.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("idsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Http { client, base, credentials, pace: None })
    }

    /// The same client (and its pooled connections) with other credentials: for a bearer token
    /// that is renewed while the client lives on.
    pub fn with_credentials(&self, credentials: Credentials) -> Http {
        Http { client: self.client.clone(), base: self.base.clone(), credentials, pace: self.pace.clone() }
    }

    /// This client, sending at most `per_second` requests a second (None: as fast as answered).
    pub fn paced(mut self, per_second: Option<f64>) -> Http {
        self.pace = per_second.map(|rate| std::sync::Arc::new(crate::Pace::new(rate)));
        self
    }

    async fn wait_turn(&self) {
        if let Some(pace) = &self.pace {
            pace.acquire().await;
        }
    }

    /// `path` relative to the base URL, each of `segments` appended percent-encoded.
    pub fn url(&self, path: &str, segments: &[&str]) -> Url {
        let mut url = self.base.join(path.trim_start_matches('/')).unwrap_or_else(|_| self.base.clone());
        if !segments.is_empty()
            && let Ok(mut s) = url.path_segments_mut()
        {
            s.pop_if_empty();
            s.extend(segments);
        }
        url
    }

    pub async fn send(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, RestError> {
        let mut request = self.client.request(method.clone(), url.clone()).query(query);
        request = match &self.credentials {
            Credentials::Bearer { token } => request.bearer_auth(token),
            Credentials::Basic { username, password } => request.basic_auth(username, Some(password)),
            Credentials::Ssws { token } => request.header(reqwest::header::AUTHORIZATION, format!("SSWS {token}")),
            Credentials::Key { .. } => request,
        };
        if let Some(b) = body {
            request = request.json(b);
        }
        let what = format!("{method} {}", url.path());
        let Answer { status, headers, body } = self.transmit(request, &what).await?;
        if status.is_success() {
            return Ok(Answer { status, headers, body });
        }
        let message = format!("{what} answered {}: {}", status.as_u16(), message_of(&body));
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => RestError::Throttled { retry_after: retry_after(&headers), message },
            StatusCode::UNAUTHORIZED => RestError::Unauthorized { message },
            StatusCode::FORBIDDEN if is_quota(&body) => RestError::Throttled { retry_after: None, message },
            StatusCode::FORBIDDEN => RestError::Forbidden { message },
            StatusCode::NOT_FOUND => RestError::NotFound { message },
            s if s.is_server_error() => {
                RestError::Server { status: s.as_u16(), retry_after: retry_after(&headers), message }
            }
            s => RestError::Rejected { status: s.as_u16(), message },
        })
    }

    /// POSTs `body` with exactly `headers` (a signed request: the signature covers them) and hands
    /// back whatever the other side answered; only a failure to get an answer is an error. The
    /// caller reads the product's own error format.
    pub async fn exchange(&self, url: Url, headers: &[(String, String)], body: Vec<u8>) -> Result<Answer, RestError> {
        let mut request = self.client.post(url.clone()).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        self.transmit(request, &format!("POST {}", url.path())).await
    }

    /// POSTs a form without the stored credentials: token requests carry their own (OAuth 2.0
    /// client credentials in the form).
    pub async fn post_form(&self, url: Url, form: &[(&str, &str)]) -> Result<Value, RestError> {
        self.form(self.client.post(url.clone()).form(form), &url).await
    }

    /// POSTs a form with the stored credentials (OAuth 2.0 clients authenticated by HTTP Basic).
    pub async fn post_form_authenticated(&self, url: Url, form: &[(&str, &str)]) -> Result<Value, RestError> {
        let request = match &self.credentials {
            Credentials::Basic { username, password } => {
                self.client.post(url.clone()).basic_auth(username, Some(password))
            }
            _ => self.client.post(url.clone()),
        };
        self.form(request.form(form), &url).await
    }

    async fn form(&self, request: reqwest::RequestBuilder, url: &Url) -> Result<Value, RestError> {
        let what = format!("POST {}", url.path());
        let Answer { status, body, .. } = self.transmit(request, &what).await?;
        if status.is_success() {
            return Ok(body);
        }
        let message = format!("{what} answered {}: {}", status.as_u16(), message_of(&body));
        Err(match status.as_u16() {
            400 | 401 => RestError::Unauthorized { message },
            429 => RestError::Throttled { retry_after: None, message },
            s if s >= 500 => RestError::Server { status: s, retry_after: None, message },
            s => RestError::Rejected { status: s, message },
        })
    }

    /// Sends a request in its turn and reads the answer, whatever its status; only a failure to
    /// get one is an error. An empty body reads as null, one that is not JSON as its text.
    async fn transmit(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Answer, RestError> {
        self.wait_turn().await;
        crate::sent::sent(1);
        let response = request.send().await.map_err(|e| {
            let detail = if e.is_timeout() { "no answer in time".to_string() } else { failed_send(&e) };
            RestError::Unreachable { detail: format!("{what}: {detail}") }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| RestError::Unreachable { detail: format!("{what}: {e}") })?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { status, headers, body })
    }

    pub async fn get(&self, url: Url, query: &[(&str, &str)]) -> Result<Value, RestError> {
        Ok(self.send(Method::GET, url, query, None).await?.body)
    }
}

/// Google answers throttling with a 403 whose reason names a quota, not with a 429.
fn is_quota(body: &Value) -> bool {
    body["error"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| matches!(e["reason"].as_str(), Some("rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded")))
}

/// Why a request got no answer, naming the usual mistakes with the host: a name that does not
/// resolve, https:// to a port that speaks plain HTTP, http:// to one that speaks TLS. These are
/// not credential problems, and saying so saves a search in the wrong place.
fn failed_send(e: &reqwest::Error) -> String {
    let cause = root_cause(e);
    let lower = cause.to_lowercase();
    let url = e.url();
    let host = url.and_then(|u| u.host_str()).unwrap_or("the server");
    let port = url.and_then(|u| u.port_or_known_default()).map(|p| format!(":{p}")).unwrap_or_default();
    let https = url.is_some_and(|u| u.scheme() == "https");
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        format!("the host name {host} does not resolve (DNS): check the URL's host ({cause})")
    } else if https
        && ["invalidcontenttype", "corrupt message", "record overflow", "wrong version number", "handshake"]
            .iter()
            .any(|m| lower.contains(m))
    {
        format!("{host}{port} does not speak TLS: the URL may need http://, or the port that serves HTTPS ({cause})")
    } else if !https
        && (lower.contains("invalid http version") || lower.contains("connection closed before message completed"))
    {
        format!("{host}{port} did not answer in HTTP, as a port that serves HTTPS does not: try https:// ({cause})")
    } else if e.is_connect() {
        format!("cannot connect to {host}{port}: {cause}")
    } else {
        cause
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The wait a throttled answer asks for: `Retry-After` (seconds), or the reset of the provider's
/// rate-limit window: Okta's `X-Rate-Limit-Reset`, OneLogin's `X-RateLimit-Reset` (read as an epoch
/// second when it is one, else as seconds to wait).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(seconds) = header(RETRY_AFTER.as_str()) {
        return Some(Duration::from_secs(seconds));
    }
    let reset = header("x-rate-limit-reset").or_else(|| header("x-ratelimit-reset"))?;
    const EPOCH_SECONDS: u64 = 1_000_000_000;
    if reset < EPOCH_SECONDS {
        return Some(Duration::from_secs(reset.max(1)));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// The human part of an error body, whichever product sent it: Jira's `errorMessages`/`errors`,
/// Confluence's `message`, Bitbucket's `errors[].message`, SCIM's `detail`.
pub fn message_of(body: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(list) = body.get("errorMessages").and_then(Value::as_array) {
        parts.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    match body.get("errors") {
        Some(Value::Object(fields)) => {
            parts.extend(fields.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(&v.to_string()))))
        }
        Some(Value::Array(items)) => {
            parts.extend(items.iter().filter_map(|i| i.get("message").and_then(Value::as_str)).map(str::to_string))
        }
        _ => {}
    }
    // Google nests its error: {"error": {"code", "message", "errors": [...]}}.
    if let Some(m) = body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str) {
        parts.push(m.to_string());
    }
    for key in ["message", "detail", "error_description"] {
        if let Some(m) = body.get(key).and_then(Value::as_str) {
            parts.push(m.to_string());
        }
    }
    if parts.is_empty() {
        return match body {
            Value::Null => "(empty body)".into(),
            Value::String(s) => s.chars().take(300).collect(),
            other => other.to_string().chars().take(300).collect(),
        };
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn waits_come_from_retry_after_or_okta_reset() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        let in_30s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 30;
        h.insert("x-rate-limit-reset", in_30s.to_string().parse().unwrap());
        let wait = retry_after(&h).unwrap();
        assert!((Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait), "{wait:?}");
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut onelogin = HeaderMap::new();
        onelogin.insert("x-ratelimit-reset", "42".parse().unwrap());
        assert_eq!(retry_after(&onelogin), Some(Duration::from_secs(42)), "seconds to wait");
    }

    #[test]
    fn messages_of_every_product() {
        assert_eq!(message_of(&json!({"errorMessages": ["a"], "errors": {"username": "taken"}})), "a; username: taken");
        assert_eq!(message_of(&json!({"errors": [{"message": "User x does not exist"}]})), "User x does not exist");
        assert_eq!(message_of(&json!({"statusCode": 404, "message": "No user"})), "No user");
        assert_eq!(message_of(&json!({"detail": "bad filter", "status": "400"})), "bad filter");
        assert_eq!(message_of(&Value::Null), "(empty body)");
        let google = json!({"error": {"code": 403, "message": "Quota exceeded", "errors": [{"reason": "userRateLimitExceeded"}]}});
        assert_eq!(message_of(&google), "Quota exceeded");
        assert!(is_quota(&google));
        assert!(!is_quota(&json!({"error": {"code": 403, "errors": [{"reason": "forbidden"}]}})));
    }
}

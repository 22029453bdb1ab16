//! A typed client of idsync's admin API `/api/v1`, for the command line and the tests. It knows
//! the wire types and nothing of the server's insides.
#![forbid(unsafe_code)]

use api_types::{
    Approved, Credentials, LogEntry, LogLevel, LogQuery, NewLogLevel, Page, Problem, Restore, RestoreReport, Run,
    RunProgress, RunStarted, SealedBackup, Secret, StartPull, StartReconcile,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused, and said why.
    #[error("{}", .0.detail)]
    Problem(Box<Problem>),
    #[error(
        "cannot reach idsync at {url}: {reason}; is the server running there? give its address with --server or IDSYNC_URL"
    )]
    Unreachable { url: String, reason: String },
    #[error("idsync at {url} answered {status} with something that is not its API's: {body}")]
    Unexpected { url: String, status: u16, body: String },
}

/// A server's admin API, reached with one admin token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// What came back: the body, with the status it came with.
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Client {
    /// `base` is where the server listens (`http://127.0.0.1:8080`), `token` an admin token.
    pub fn new(base: &str, token: &str) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_string(), token: token.to_string() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (below `/api/v1`) and returns a success as it came; a refusal
    /// becomes [`Error::Problem`].
    pub async fn send(&self, method: Method, path: &str, body: Option<&impl Serialize>) -> Result<Answer, Error> {
        self.send_keyed(method, path, body, None).await
    }

    /// [`Client::send`] with an `Idempotency-Key`, so that a retry starts nothing twice.
    async fn send_keyed(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        key: Option<&str>,
    ) -> Result<Answer, Error> {
        let request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        self.sent(path, request, body, key).await
    }

    async fn sent(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
        body: Option<&impl Serialize>,
        key: Option<&str>,
    ) -> Result<Answer, Error> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = request.bearer_auth(&self.token);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response =
            request.send().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: e.to_string() })?;
        let status = response.status();
        let problem = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::Unreachable { url: self.base.clone(), reason: e.to_string() })?
            .to_vec();
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        Err(refusal(url, status.as_u16(), problem, &body))
    }

    /// Follows a run the server carries on through its event stream, handing each progress
    /// report to `seen`, until the report that says how the run ended (returned).
    pub async fn follow(&self, run: i64, mut seen: impl FnMut(&RunProgress)) -> Result<RunProgress, Error> {
        let url = format!("{}/api/v1/runs/{run}/events", self.base);
        let unreachable = |e: reqwest::Error| Error::Unreachable { url: self.base.clone(), reason: e.to_string() };
        let mut response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let problem = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            let body = response.bytes().await.map_err(unreachable)?;
            return Err(refusal(url, status.as_u16(), problem, &body));
        }
        let mut pending = String::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let frame: String = pending.drain(..end + 2).collect();
                let data: String = frame.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if data.is_empty() {
                    continue;
                }
                let progress: RunProgress = serde_json::from_str(&data).map_err(|e| Error::Unexpected {
                    url: url.clone(),
                    status: status.as_u16(),
                    body: format!("an event that is not a run's progress ({e})"),
                })?;
                seen(&progress);
                if progress.state.is_some() {
                    return Ok(progress);
                }
            }
        }
        Err(Error::Unreachable {
            url: self.base.clone(),
            reason: format!("the events of run {run} stopped before it ended"),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Error> {
        let answer = self.send(method, path, body).await?;
        self.decode(path, &answer)
    }

    /// The body of a success, read as `T`.
    fn decode<T: DeserializeOwned>(&self, path: &str, answer: &Answer) -> Result<T, Error> {
        serde_json::from_slice(&answer.body).map_err(|e| Error::Unexpected {
            url: format!("{}/api/v1{path}", self.base),
            status: answer.status.as_u16(),
            body: format!("unreadable ({e})"),
        })
    }

    /// Sends a request and reads the answer as `T`, keeping its text too (for `--json`, which
    /// prints exactly what the API answered).
    pub async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(T, String), Error> {
        let answer = self.send(method, path, body).await?;
        let value = self.decode(path, &answer)?;
        Ok((value, String::from_utf8_lossy(&answer.body).into_owned()))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// One page of the provisioning log, newest first.
    pub async fn log(&self, query: &LogQuery) -> Result<Page<LogEntry>, Error> {
        let request = self.http.get(format!("{}/api/v1/log", self.base)).query(query);
        let answer = self.sent("/log", request, None::<&()>, None).await?;
        self.decode("/log", &answer)
    }

    pub async fn log_level(&self) -> Result<LogLevel, Error> {
        self.get("/diagnostics/log-level").await
    }

    pub async fn set_log_level(&self, change: &NewLogLevel) -> Result<LogLevel, Error> {
        self.json(Method::PUT, "/diagnostics/log-level", Some(change)).await
    }

    /// The configuration backup, as the server wrote it; with a passphrase, its secrets sealed.
    pub async fn backup(&self, passphrase: Option<&str>) -> Result<String, Error> {
        let answer = match passphrase {
            Some(p) => {
                let body = SealedBackup { passphrase: Secret::new(p) };
                self.send(Method::POST, "/backup", Some(&SealedWire(&body))).await?
            }
            None => self.send(Method::GET, "/backup", None::<&()>).await?,
        };
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// The restore's report, read and as it came.
    pub async fn restore(&self, request: &Restore) -> Result<(RestoreReport, String), Error> {
        self.exchange(Method::POST, "/restore", Some(&RestoreWire(request))).await
    }

    /// Starts a full reconcile (or a dry run) of `target` in the server; `key` makes a retry of
    /// this call find the same run.
    pub async fn start_reconcile(&self, target: &str, dry_run: bool, key: &str) -> Result<RunStarted, Error> {
        let path = format!("/targets/{target}/sync");
        let answer = self.send_keyed(Method::POST, &path, Some(&StartReconcile { dry_run }), Some(key)).await?;
        self.decode(&path, &answer)
    }

    /// Starts a read of pull source `name` in the server; `key` makes a retry find the same run.
    pub async fn start_pull(&self, name: &str, full: bool, key: &str) -> Result<RunStarted, Error> {
        let path = format!("/sources/{name}/runs");
        let answer = self.send_keyed(Method::POST, &path, Some(&StartPull { full }), Some(key)).await?;
        self.decode(&path, &answer)
    }

    /// Asks a run the server carries on to stop.
    pub async fn cancel(&self, id: i64) -> Result<(), Error> {
        self.send(Method::POST, &format!("/runs/{id}/cancel"), None::<&()>).await.map(|_| ())
    }

    pub async fn run(&self, id: i64) -> Result<Run, Error> {
        self.get(&format!("/runs/{id}")).await
    }

    /// Applies what a held run holds, for the users given only when some are (the rest stay held).
    pub async fn approve(&self, run: i64, users: Option<Vec<api_types::HeldUser>>) -> Result<Approved, Error> {
        let path = format!("/runs/{run}/approve");
        match users {
            None => self.json(Method::POST, &path, None::<&()>).await,
            Some(users) => self.json(Method::POST, &path, Some(&api_types::Approval { users: Some(users) })).await,
        }
    }

    /// Drops what a held run holds.
    pub async fn reject(&self, run: i64) -> Result<(), Error> {
        self.send(Method::POST, &format!("/runs/{run}/reject"), None::<&()>).await.map(|_| ())
    }

    /// The support bundle, a zip.
    pub async fn support_bundle(&self) -> Result<Vec<u8>, Error> {
        Ok(self.send(Method::GET, "/diagnostics/bundle", None::<&()>).await?.body)
    }
}

/// A refusal's body as an error: the server's problem document, or what came instead.
fn refusal(url: String, status: u16, problem: bool, body: &[u8]) -> Error {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) if problem => Error::Problem(Box::new(p)),
        _ => Error::Unexpected { url, status, body: String::from_utf8_lossy(body).chars().take(300).collect() },
    }
}

/// A name as one segment of a path.
pub fn segment(name: &str) -> String {
    api_types::percent_encoded(name)
}

/// Credentials as sent in a request body: the secrets in the clear (a [`Secret`] writes itself as
/// `[REDACTED]` everywhere else).
pub fn exposed(credentials: &Credentials) -> serde_json::Value {
    match credentials {
        Credentials::Bearer { token } => serde_json::json!({"type": "bearer", "token": token.expose()}),
        Credentials::Ssws { token } => serde_json::json!({"type": "ssws", "token": token.expose()}),
        Credentials::Basic { username, password } => {
            serde_json::json!({"type": "basic", "username": username, "password": password.expose()})
        }
        Credentials::Key { key, client_id } => {
            let mut body = serde_json::json!({"type": "key", "key": key.expose()});
            if let Some(id) = client_id {
                body["client_id"] = serde_json::Value::String(id.clone());
            }
            body
        }
    }
}

/// A sealed-backup request as sent: its passphrase in the clear (a [`Secret`] writes itself as
/// `[REDACTED]` everywhere else).
struct SealedWire<'a>(&'a SealedBackup);

impl Serialize for SealedWire<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"passphrase": self.0.passphrase.expose()}).serialize(serializer)
    }
}

/// A restore request as sent, its passphrase in the clear.
struct RestoreWire<'a>(&'a Restore);

impl Serialize for RestoreWire<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut body = serde_json::json!({
            "document": r.document, "mode": r.mode, "dry_run": r.dry_run, "rotate_scim_tokens": r.rotate_scim_tokens,
        });
        if let Some(p) = &r.passphrase {
            body["passphrase"] = serde_json::Value::String(p.expose().to_string());
        }
        if let Some(only) = &r.only {
            body["only"] = serde_json::json!(only);
        }
        body.serialize(serializer)
    }
}

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_idsync");

pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    cli_env(data_dir, args, &[])
}

/// Runs the CLI with environment variables set, e.g. the token `target add --token-env` reads.
/// A login saved on the machine running the tests is out of its sight.
pub fn cli_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env("XDG_CONFIG_HOME", data_dir.join("no-saved-login"))
        .env_remove("IDSYNC_TOKEN")
        .env_remove("IDSYNC_TOKEN_FILE")
        .env_remove("IDSYNC_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run idsync")
}

/// Creates a push source and returns its token.
pub fn add_source(data_dir: &Path, name: &str) -> String {
    let out = cli(data_dir, &["source", "add", "--kind", "scim", "--name", name, "--json"]);
    assert!(out.status.success(), "source add failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("source add --json prints one JSON object");
    v["token"].as_str().unwrap().to_string()
}

pub struct Server {
    pub child: Child,
    pub root: String,
    pub log: mpsc::Receiver<String>,
    startup: Vec<String>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_full(data_dir, &[], env)
    }

    /// With extra arguments (such as `--config FILE`) and environment variables.
    pub fn start_full(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn idsync serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut startup = Vec::new();
        loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("idsync serve exited or printed nothing: {startup:?}");
            };
            startup.push(line.clone());
            if let Some(at) = line.find("SCIM sources at http://") {
                let rest = &line[at + "SCIM sources at ".len()..];
                let root = rest.split("/scim/v2").next().unwrap().to_string();
                return Server { child, root, log: rx, startup };
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start: {startup:?}");
            }
        }
    }

    pub fn scim(&self, source: &str, token: &str) -> Scim {
        Scim { http: http_client(), base: format!("{}/scim/v2/{source}", self.root), token: token.to_string() }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server logged so far.
    pub fn logged(&self) -> String {
        self.startup.iter().cloned().chain(self.log.try_iter()).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status (and scimType, when given).
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/scim+json"), "{}", self.body);
        assert_eq!(self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        self
    }
}

#[derive(Clone)]
pub struct Scim {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Scim {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp { status, headers, body }
    }

    pub async fn raw(&self, method: reqwest::Method, path: &str, body: &str, content_type: &str) -> Resp {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_string());
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        Resp { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> Resp {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.send(reqwest::Method::PATCH, path, Some(&body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, &[]).await
    }

    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    pub async fn create_group(&self, name: &str, members: &[String]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let r = self.post("/Groups", &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }
}

/// A server with one source, ready for SCIM calls.
pub fn started() -> (tempfile::TempDir, Server, Scim) {
    let dir = tempfile::tempdir().unwrap();
    let token = add_source(dir.path(), "test");
    let server = Server::start(dir.path());
    let scim = server.scim("test", &token);
    (dir, server, scim)
}

pub fn urlencode(s: &str) -> String {
    api_types::percent_encoded(s)
}

/// An HTTP client for tests. The workspace builds reqwest without a built-in TLS provider, so
/// install the one idsync uses before the first client is made.
pub fn http_client() -> reqwest::Client {
    targets::install_crypto();
    reqwest::Client::new()
}

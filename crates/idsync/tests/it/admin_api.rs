//! The admin API `/api/v1` over HTTP against the real server: token scopes, problem documents,
//! cursor pages and the committed OpenAPI document.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Server, add_source, cli, http_client};

pub(crate) fn admin_token(data_dir: &Path, name: &str, scope: &str, extra: &[&str]) -> String {
    let mut args = vec!["admin-token", "create", "--name", name, "--scope", scope, "--json"];
    args.extend_from_slice(extra);
    let out = cli(data_dir, &args);
    assert!(out.status.success(), "admin-token create failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["secret"].as_str().unwrap().to_string()
}

pub(crate) struct Api {
    http: reqwest::Client,
    pub(crate) root: String,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    content_type: String,
    request_id: String,
    www_authenticate: Option<String>,
    pub(crate) body: Value,
}

impl Api {
    pub(crate) fn new(server: &Server) -> Api {
        Api { http: http_client(), root: server.root.clone() }
    }

    pub(crate) async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.root));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from);
        let (status, content_type, request_id, www_authenticate) = (
            r.status(),
            header("content-type").unwrap_or_default(),
            header("x-request-id").unwrap_or_default(),
            header("www-authenticate"),
        );
        let text = r.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Answer { status, content_type, request_id, www_authenticate, body }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }
}

impl Answer {
    /// A problem document of that status and code, carrying the request's id.
    pub(crate) fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.content_type, "application/problem+json");
        assert_eq!(self.body["type"], format!("urn:idsync:problem:{code}"), "{}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(!self.request_id.is_empty());
        assert_eq!(self.body["request_id"], self.request_id.as_str());
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }
}

#[tokio::test]
async fn tokens_open_what_their_scope_covers_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let scim_token = add_source(dir.path(), "hr");
    let read = admin_token(dir.path(), "viewer", "read", &[]);
    let admin = admin_token(dir.path(), "root", "admin", &[]);
    let brief = admin_token(dir.path(), "brief", "admin", &["--expires-in", "1s"]);
    let server = Server::start(dir.path());
    let api = Api::new(&server);

    let none = api.call(Method::GET, "/sources", None, None).await;
    none.problem(401, "unauthenticated");
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer realm=\"idsync\""));
    for wrong in [scim_token.as_str(), "idsync_admin_0000000000000000_00", &format!("{read}x")] {
        api.get("/sources", wrong).await.problem(401, "unauthenticated");
    }

    let listed = api.get("/sources", &read).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"][0]["name"], "hr");
    assert_eq!(listed.body["items"][0]["base_url"], format!("{}/scim/v2/hr", server.root));

    // A read token that tries to write is refused and changes nothing.
    let before = api.get("/admin-tokens", &read).await.body;
    let refused =
        api.call(Method::POST, "/admin-tokens", Some(&read), Some(json!({"name": "x", "scope": "admin"}))).await;
    assert!(refused.problem(403, "forbidden")["detail"].as_str().unwrap().contains("'admin'"));
    api.call(Method::DELETE, "/admin-tokens/root", Some(&read), None).await.problem(403, "forbidden");
    assert_eq!(api.get("/admin-tokens", &read).await.body, before);

    let made =
        api.call(Method::POST, "/admin-tokens", Some(&admin), Some(json!({"name": "ci", "scope": "operate"}))).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let ci = made.body["secret"].as_str().unwrap().to_string();
    assert_eq!(made.body["scope"], "operate");
    assert_eq!(api.get("/targets", &ci).await.status, 200);
    let listed = api.get("/admin-tokens", &admin).await.body;
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    // `local-cli` is the token the server issues to commands on its own host.
    assert_eq!(names, ["brief", "ci", "local-cli", "root", "viewer"]);
    assert!(!listed.to_string().contains("secret"), "{listed}");
    assert!(listed["items"][4]["last_used"].is_string(), "use is recorded: {listed}");
    api.call(Method::POST, "/admin-tokens", Some(&admin), Some(json!({"name": "ci", "scope": "read"})))
        .await
        .problem(409, "conflict");

    assert_eq!(api.call(Method::DELETE, "/admin-tokens/ci", Some(&admin), None).await.status, 204);
    api.get("/targets", &ci).await.problem(401, "unauthenticated");
    api.call(Method::DELETE, "/admin-tokens/ci", Some(&admin), None).await.problem(404, "not_found");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.get("/sources", &brief).await.problem(401, "unauthenticated");
}

#[tokio::test]
async fn lists_page_by_cursor_and_refusals_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["e", "b", "d", "a", "c"] {
        add_source(dir.path(), name);
    }
    let token = admin_token(dir.path(), "root", "admin", &[]);
    let server = Server::start(dir.path());
    let api = Api::new(&server);

    let mut seen = Vec::new();
    let mut path = "/sources?limit=2".to_string();
    loop {
        let page = api.get(&path, &token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/sources?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);

    assert_eq!(api.get("/sources?limit=0", &token).await.problem(400, "invalid")["field"], "limit");
    assert_eq!(api.get("/sources?after=xyz", &token).await.problem(400, "invalid")["field"], "after");
    api.get("/sources?limit=many", &token).await.problem(400, "invalid");
    let missing = api.get("/sources/nobody", &token).await;
    assert_eq!(missing.problem(404, "not_found")["hint"], json!({"action": "list_sources"}));
    api.get("/bindings/a/nowhere", &token).await.problem(404, "not_found");
    api.get("/no/such/operation", &token).await.problem(404, "not_found");

    let http = http_client();
    let url = format!("{}/api/v1/admin-tokens", server.root);
    let send = |body: &'static str, content_type: &'static str| {
        http.post(&url).bearer_auth(&token).header("content-type", content_type).body(body).send()
    };
    for (body, content_type, status) in [
        ("{not json", "application/json", 400),
        (r#"{"name": "x"}"#, "application/json", 400),
        (r#"{"name": "x", "scope": "root"}"#, "application/json", 400),
        (r#"{"name": "x", "scope": "read", "extra": 1}"#, "application/json", 400),
        (r#"{"name": "x", "scope": "read"}"#, "text/plain", 415),
    ] {
        let r = send(body, content_type).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let listed = api.get("/admin-tokens", &token).await.body;
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["local-cli", "root"], "no refused request made a token: {listed}");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let served = http_client().get(format!("{}/api/v1/openapi.json", server.root)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.json")).unwrap();
    let page = http_client().get(format!("{}/api/v1/docs", server.root)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"op-start_pull_run\"") && !html.contains("src=") && !html.contains("href=\"http"),
        "nothing from elsewhere"
    );
    let css = http_client().get(format!("{}/api/v1/docs.css", server.root)).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css");
    assert!(
        served.text().await.unwrap() == committed,
        "the server serves another OpenAPI document than docs/api/openapi.json; regenerate it with IDSYNC_WRITE_OPENAPI=1 cargo test -p server"
    );
}

#[tokio::test]
async fn configuration_changes_through_the_api_are_checked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let admin = admin_token(dir.path(), "root", "admin", &[]);
    let operate = admin_token(dir.path(), "ops", "operate", &[]);
    let server = Server::start(dir.path());
    let api = Api::new(&server);
    let call = |method: Method, path: &'static str, body: Option<Value>| api.call(method, path, Some(&admin), body);

    let made = call(Method::POST, "/sources", Some(json!({"name": "hr"}))).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let first = made.body["token"].as_str().unwrap().to_string();
    assert_eq!(server.scim("hr", &first).get("/Users").await.status, 200);
    call(Method::POST, "/sources", Some(json!({"name": "Not Valid"}))).await.problem(400, "invalid");

    let secret = "target-secret-4711";
    let target = json!({"name": "app", "kind": "scim", "url": "http://127.0.0.1:9/scim/v2",
        "credentials": {"type": "bearer", "token": secret}});
    let refused = call(Method::POST, "/targets", Some(target.clone())).await;
    let problem = refused.problem(422, "check_failed");
    assert!(problem["checks"].as_array().unwrap().iter().any(|c| c["status"] == "failed"), "{problem}");
    api.get("/targets/app", &admin).await.problem(404, "not_found");
    let mut unchecked = target.clone();
    unchecked["check"] = json!(false);
    assert_eq!(call(Method::POST, "/targets", Some(unchecked)).await.status, 201);
    let tested = api.call(Method::POST, "/targets/app/test", Some(&operate), None).await;
    assert_eq!((tested.status.as_u16(), &tested.body["passed"]), (200, &json!(false)), "{}", tested.body);
    let changed =
        call(Method::PATCH, "/targets/app", Some(json!({"url": "http://127.0.0.1:10/scim/v2", "check": false}))).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    call(Method::PATCH, "/targets/app", Some(json!({"url": "ftp://x", "check": false}))).await.problem(400, "invalid");

    assert_eq!(call(Method::POST, "/bindings", Some(json!({"source": "hr", "target": "app"}))).await.status, 201);
    call(Method::POST, "/bindings", Some(json!({"source": "hr", "target": "nowhere"}))).await.problem(404, "not_found");
    let rule = json!({"value": "{ pattern = '(.*)@corp', replacement = '$1' }"});
    let set = call(Method::PUT, "/bindings/hr/app/rules/users.username_transform", Some(rule)).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["rules"]["users"]["username_transform"]["pattern"], "(.*)@corp");
    assert_eq!(set.body["revision"], 2);
    let broken = json!({"value": "{ pattern = '(unclosed', replacement = '' }"});
    call(Method::PUT, "/bindings/hr/app/rules/users.username_transform", Some(broken)).await.problem(400, "invalid");
    let reset = call(Method::DELETE, "/bindings/hr/app/rules/users.username_transform", None).await;
    assert_eq!(reset.body["rules"], json!({}), "{}", reset.body);

    let rotated = call(Method::POST, "/sources/hr/token", Some(json!({}))).await;
    let second = rotated.body["token"].as_str().unwrap().to_string();
    assert_eq!(server.scim("hr", &first).get("/Users").await.status, 401);
    assert_eq!(server.scim("hr", &second).get("/Users").await.status, 200);
    call(Method::POST, "/sources/hr/token", Some(json!({"grace": "soon"}))).await.problem(400, "invalid");

    let removed = call(Method::DELETE, "/sources/hr", None).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["bindings"], json!(["hr → app"]));

    let audit = api.get("/audit", &operate).await.body;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "source.remove",
            "source.token.rotate",
            "binding.rule.unset",
            "binding.rule.set",
            "binding.add",
            "target.change",
            "target.add",
            "source.add",
            // The test's own two tokens, made with the command line on the server's host.
            "admin_token.add",
            "admin_token.add"
        ]
    );
    let by = |e: &Value| e["actor"].as_str().unwrap().to_string();
    let items = audit["items"].as_array().unwrap();
    assert!(items[..8].iter().all(|e| by(e) == "token root"), "{audit}");
    assert!(items[8..].iter().all(|e| by(e) == "token local-cli"), "{audit}");
    let text = audit.to_string();
    for leaked in [secret, first.as_str(), second.as_str()] {
        assert!(!text.contains(leaked), "a secret is in the audit log: {text}");
    }
    let target_added = &audit["items"][6];
    assert_eq!(target_added["after"]["credentials"], "changed");
    let binding = api.get("/audit?object=binding/hr/app&limit=1", &admin).await.body;
    assert_eq!(binding["items"][0]["action"], "binding.rule.unset");
    assert_eq!(binding["items"][0]["before"]["rules"]["users"]["username_transform"]["pattern"], "(.*)@corp");
    let older = api
        .get(&format!("/audit?object=binding/hr/app&limit=5&after={}", binding["next"].as_str().unwrap()), &admin)
        .await;
    let older: Vec<&str> =
        older.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(older, ["binding.rule.set", "binding.add"]);
}

/// The `progress` events of a run, read until the one that says how it ended.
async fn follow(server: &Server, token: &str, run: i64) -> Vec<Value> {
    let mut response =
        http_client().get(format!("{}/api/v1/runs/{run}/events", server.root)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let (mut text, mut events) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(chunk)) =
        tokio::time::timeout_at(deadline, response.chunk()).await.expect("the run ended in time")
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push(serde_json::from_str::<Value>(data).unwrap());
            }
        }
        if events.last().is_some_and(|e| e.get("state").is_some()) {
            break;
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_runs_start_once_per_key_report_progress_and_cancel() {
    let s = crate::sync::setup("").await;
    let token = admin_token(s.dir.path(), "ops", "operate", &[]);
    let origin_token = add_source(s.dir.path(), "origin");
    let origin = s.server.scim("origin", &origin_token);
    for i in 0..250 {
        crate::sync::push_user(&origin, &format!("user{i:03}"), json!({})).await;
    }
    crate::pull::add_pull_source(&s, "mirror", &format!("{}/scim/v2/origin", s.server.root), &origin_token);
    let api = Api::new(&s.server);

    let start = |key: &'static str| {
        http_client()
            .post(format!("{}/api/v1/sources/mirror/runs", s.server.root))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"full": true}))
            .send()
    };
    let first = start("retry-me").await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let body: Value = first.json().await.unwrap();
    let run = body["run"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/runs/{run}"));
    let again = start("retry-me").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["run"], run, "a retried request starts no second run");

    let events = follow(&s.server, &token, run).await;
    let last = events.last().unwrap();
    assert_eq!((last["state"].as_str(), last["users_read"].as_u64()), (Some("done"), Some(250)), "{events:?}");
    let shown = api.get(&format!("/runs/{run}"), &token).await.body;
    assert_eq!((shown["state"].as_str(), shown["summary"]["users_created"].as_u64()), (Some("done"), Some(250)));
    assert!(shown["summary"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(last["requests"], shown["summary"]["requests"], "the last event counts every request: {events:?}");
    let pulls = api.get("/runs?target=mirror", &token).await.body;
    assert_eq!(pulls["items"].as_array().unwrap().len(), 1, "one run for two requests: {pulls}");
    api.call(Method::POST, &format!("/runs/{run}/cancel"), Some(&token), None).await.problem(400, "invalid");
    api.call(Method::POST, &format!("/runs/{run}/approve"), Some(&token), None).await.problem(400, "invalid");
    api.call(Method::POST, "/runs/999999/reject", Some(&token), None).await.problem(404, "not_found");

    // A provider that never answers keeps a run going until it is cancelled.
    let (_silent, url) = crate::pull::silent_provider();
    crate::pull::add_unchecked_pull_source(&s, "slow", &url, "t");
    let started = api.call(Method::POST, "/sources/slow/runs", Some(&token), Some(json!({}))).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let slow = started.body["run"].as_i64().unwrap();
    let busy = api.call(Method::POST, "/sources/slow/runs", Some(&token), Some(json!({}))).await;
    busy.problem(409, "busy");
    let mut running = api.get(&format!("/runs/{slow}"), &token).await.body;
    for _ in 0..50 {
        if running["progress"]["requests"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        running = api.get(&format!("/runs/{slow}"), &token).await.body;
    }
    assert_eq!(running["state"], "running");
    assert!(running["progress"]["requests"].as_u64().unwrap() >= 1, "the request it waits on counts: {running}");
    assert!(running["progress"]["phase"].is_string(), "{running}");
    assert_eq!(api.call(Method::POST, &format!("/runs/{slow}/cancel"), Some(&token), None).await.status, 202);
    let events = follow(&s.server, &token, slow).await;
    assert_eq!(events.last().unwrap()["state"], "interrupted", "{events:?}");
    let ended = api.get(&format!("/runs/{slow}"), &token).await.body;
    assert!(ended["summary"]["error"].as_str().unwrap().contains("a cancel request"), "{ended}");
    let read_token = admin_token(s.dir.path(), "viewer", "read", &[]);
    api.call(Method::POST, "/sources/slow/runs", Some(&read_token), Some(json!({}))).await.problem(403, "forbidden");
}

pub(crate) fn idsync_with_token(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    crate::harness::cli_env(dir, args, &[("IDSYNC_TOKEN", token)])
}

fn lines_with(api_lines: &Value, message: &str) -> usize {
    api_lines["lines"].as_array().unwrap().iter().filter(|l| l["message"] == message).count()
}

#[tokio::test]
async fn debug_logging_turns_on_for_a_while_and_goes_back_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path(), "ops", "operate", &[]);
    let server = Server::start(dir.path());
    let api = Api::new(&server);
    let level = api.get("/diagnostics/log-level", &token).await.body;
    assert_eq!((level["level"].as_str(), level["default"].as_str()), (Some("info"), Some("info")), "{level}");
    api.get("/sources", &token).await;
    assert_eq!(lines_with(&api.get("/diagnostics/logs", &token).await.body, "admin token accepted"), 0);

    let on = idsync_with_token(dir.path(), &token, &["debug", "on", "--for", "2s"]);
    let said = String::from_utf8_lossy(&on.stdout);
    assert!(on.status.success(), "{said}{}", String::from_utf8_lossy(&on.stderr));
    assert!(said.contains("sync=debug") && said.contains("back to 'info' at"), "{said}");
    let started = std::time::Instant::now();
    api.get("/sources", &token).await;
    let logs = api.get("/diagnostics/logs", &token).await.body;
    assert!(lines_with(&logs, "admin token accepted") >= 1, "debug lines reach the ring at once: {logs}");
    assert!(started.elapsed() < Duration::from_secs(1));

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let back = api.get("/diagnostics/log-level", &token).await.body;
    assert_eq!(back["level"], "info", "{back}");
    assert!(back.get("until").is_none(), "{back}");
    let before = lines_with(&api.get("/diagnostics/logs", &token).await.body, "admin token accepted");
    api.get("/sources", &token).await;
    assert_eq!(lines_with(&api.get("/diagnostics/logs", &token).await.body, "admin token accepted"), before);

    api.call(Method::PUT, "/diagnostics/log-level", Some(&token), Some(json!({"level": "nonsense=[[["})))
        .await
        .problem(400, "invalid");
    let off = idsync_with_token(dir.path(), &token, &["debug", "off"]);
    assert!(String::from_utf8_lossy(&off.stdout).contains("log level: info"));
    let read = admin_token(dir.path(), "viewer", "read", &[]);
    api.call(Method::PUT, "/diagnostics/log-level", Some(&read), Some(json!({"level": "debug"})))
        .await
        .problem(403, "forbidden");
    let audit = api.get("/audit?object=diagnostics/log-level", &token).await.body;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    let download = http_client()
        .get(format!("{}/api/v1/diagnostics/logs/download", server.root))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = download.text().await.unwrap();
    assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "one JSON object per line");
    // On the server's host, without a token of one's own, the server's host token serves.
    let on_the_host = crate::harness::cli(dir.path(), &["status"]);
    assert!(String::from_utf8_lossy(&on_the_host.stdout).contains(&format!("at {}", server.root)));
}

/// Every file of a zip, as one text, read by Python's zipfile (a reader that is not ours).
fn unzipped(zip: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), zip).unwrap();
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor n in z.namelist():\n    sys.stdout.write('== ' + n + '\\n' + z.read(n).decode() + '\\n')";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(file.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_a_bundle_a_log_or_an_answer() {
    let s = crate::sync::setup("").await;
    let admin = admin_token(s.dir.path(), "root", "admin", &[]);
    let api = Api::new(&s.server);
    let mut planted = vec![admin.clone(), s.entra_token.clone()];
    api.call(Method::PUT, "/diagnostics/log-level", Some(&admin), Some(json!({"level": "debug"}))).await;

    let bearer = "PLANTED-target-bearer-5b1e";
    let password = "PLANTED-target-password-77ac";
    for (name, credentials) in [
        ("wiki", json!({"type": "bearer", "token": bearer})),
        ("git", json!({"type": "basic", "username": "svc", "password": password})),
    ] {
        let body = json!({"name": name, "kind": "scim", "url": "http://127.0.0.1:9/scim/v2", "credentials": credentials, "check": false});
        assert_eq!(api.call(Method::POST, "/targets", Some(&admin), Some(body)).await.status, 201);
    }
    let checked = json!({"name": "checked", "kind": "jira", "url": "http://127.0.0.1:9", "credentials": {"type": "bearer", "token": bearer}});
    api.call(Method::POST, "/targets", Some(&admin), Some(checked)).await.problem(422, "check_failed");
    planted.extend([bearer.to_string(), password.to_string()]);

    let url_password = "PLANTED-url-password-91d0";
    let with_userinfo = format!("https://svc:{url_password}@jira.example.com");
    let body = json!({"name": "leaky", "kind": "jira", "url": with_userinfo, "credentials": {"type": "bearer", "token": "t"}, "check": false});
    api.call(Method::POST, "/targets", Some(&admin), Some(body)).await.problem(400, "invalid");
    planted.push(url_password.to_string());

    let pull_token = "PLANTED-pull-token-c3f2";
    crate::pull::add_unchecked_pull_source(&s, "mirror", "http://127.0.0.1:9/scim/v2", pull_token);
    planted.push(pull_token.to_string());
    let made = api.call(Method::POST, "/sources", Some(&admin), Some(json!({"name": "okta"}))).await;
    planted.push(made.body["token"].as_str().unwrap().to_string());
    let issued =
        api.call(Method::POST, "/admin-tokens", Some(&admin), Some(json!({"name": "ci", "scope": "read"}))).await;
    planted.push(issued.body["secret"].as_str().unwrap().to_string());

    let scim_password = "PLANTED-scim-password-0e4a";
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "planted", "password": scim_password});
    assert_eq!(s.scim.post("/Users", &user).await.status, 201);
    planted.push(scim_password.to_string());
    // Failed sign-ins with a known secret as the wrong token.
    api.get("/sources", bearer).await.problem(401, "unauthenticated");
    assert_eq!(s.server.scim("entra", password).get("/Users").await.status, 401);
    api.call(Method::POST, "/sources/mirror/runs", Some(&admin), Some(json!({}))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut seen = String::new();
    for path in [
        "/sources",
        "/sources/mirror",
        "/sources/okta",
        "/targets",
        "/targets/wiki",
        "/targets/git",
        "/targets/jira",
        "/bindings",
        "/admin-tokens",
        "/audit",
        "/runs",
        "/diagnostics/status",
        "/diagnostics/log-level",
        "/diagnostics/logs?limit=10000",
    ] {
        let answer = api.get(path, &admin).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        seen.push_str(&answer.body.to_string());
    }
    let bundle = http_client()
        .get(format!("{}/api/v1/diagnostics/bundle", s.server.root))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.headers()["content-type"], "application/zip");
    let contents = unzipped(&bundle.bytes().await.unwrap());
    for file in ["status.json", "configuration.json", "logs.ndjson", "failed-changes.json", "platform.txt"] {
        assert!(contents.contains(&format!("== {file}\n")), "{file} is in the bundle");
    }
    assert!(
        contents.contains("\"wiki\"") && contents.contains("admin token accepted"),
        "the bundle holds the configuration and debug lines"
    );
    seen.push_str(&contents);
    seen.push_str(&s.server.logged());
    for secret in &planted {
        assert!(!seen.contains(secret.as_str()), "a planted secret leaked: {secret}");
    }
}

#[tokio::test]
async fn metrics_can_be_kept_to_admin_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path(), "prometheus", "read", &[]);
    let server = Server::start_with(dir.path(), &[("IDSYNC_HTTP__METRICS_NEED_TOKEN", "true")]);
    let http = http_client();
    let url = format!("{}/metrics", server.root);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&url).bearer_auth("idsync_admin_0_0").send().await.unwrap().status(), 401);
    let allowed = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(http.get(format!("{}/healthz", server.root)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provisioning_log_pages_and_filters_through_the_api() {
    let s = crate::sync::setup("[[binding]]\nsource = \"entra\"\ntarget = \"jira\"\n").await;
    let token = admin_token(s.dir.path(), "viewer", "read", &[]);
    let api = Api::new(&s.server);
    for name in ["ann", "bob", "cyd"] {
        crate::sync::push_user(&s.scim, name, json!({})).await;
    }
    let applied =
        |body: &Value| body["items"].as_array().map_or(0, |i| i.iter().filter(|e| e["result"] == "applied").count());
    let mut all = Value::Null;
    for _ in 0..100 {
        all = api.get("/log?target=jira&result=applied", &token).await.body;
        if applied(&all) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(applied(&all) >= 3, "{all}");
    let ann = api.get("/log?user=ANN", &token).await.body;
    assert!(ann["items"].as_array().unwrap().iter().all(|e| e["user"] == "ann"), "{ann}");
    assert!(!ann["items"].as_array().unwrap().is_empty());

    let mut ids = Vec::new();
    let mut path = "/log?target=jira&result=applied&limit=1".to_string();
    loop {
        let page = api.get(&path, &token).await.body;
        ids.extend(page["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(next) => path = format!("/log?target=jira&result=applied&limit=1&after={next}"),
            None => break,
        }
    }
    let listed: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, listed, "pages of one, newest first, are the whole list");
    assert_eq!(api.get("/log?since=yesterday", &token).await.problem(400, "invalid")["field"], "since");
    let future = api.get("/log?since=2999-01-01T00:00:00Z", &token).await.body;
    assert_eq!(future["items"], json!([]));

    // The CLI reads the same log through the server when a token is at hand, and prints the same.
    let args = ["log", "--target", "jira", "--since", "1h", "--json"];
    let local = crate::harness::cli(s.dir.path(), &args);
    let remote = idsync_with_token(s.dir.path(), &token, &args);
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    let (local, remote): (Value, Value) =
        (serde_json::from_slice(&local.stdout).unwrap(), serde_json::from_slice(&remote.stdout).unwrap());
    assert!(local.as_array().is_some_and(|l| l.len() >= 3), "{local}");
    assert_eq!(remote, local);
}

/// Starts a reconcile of `target` through the API and returns its run.
async fn reconcile(api: &Api, token: &str, target: &str, key: &str, dry_run: bool) -> i64 {
    let answer = http_client()
        .post(format!("{}/api/v1/targets/{target}/sync", api.root))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"dry_run": dry_run}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    answer.json::<Value>().await.unwrap()["run"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_run_in_the_server_once_per_key_and_never_twice_over() {
    let s = crate::sync::setup("[[binding]]\nsource = \"entra\"\ntarget = \"jira\"\n").await;
    let token = admin_token(s.dir.path(), "ops", "operate", &[]);
    let api = Api::new(&s.server);
    crate::sync::push_user(&s.scim, "ann", json!({})).await;
    crate::sync::wait(10, "ann in Jira", || s.data().user("ann").is_some()).await;
    // Drift: ann disappears from Jira behind idsync's back; a full reconcile puts her back.
    s.data().users.retain(|_, u| u.name != "ann");

    let (a, b) =
        tokio::join!(reconcile(&api, &token, "jira", "same", false), reconcile(&api, &token, "jira", "same", false));
    assert_eq!(a, b, "one run for one key");
    let (c, d) =
        tokio::join!(reconcile(&api, &token, "jira", "first", false), reconcile(&api, &token, "jira", "second", false));
    let mut ids = vec![a, c, d];
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "other keys start other runs, one at a time");
    let mut applied = 0;
    for run in ids {
        let events = follow(&s.server, &token, run).await;
        assert_eq!(events.last().unwrap()["state"], "done", "{events:?}");
        let shown = api.get(&format!("/runs/{run}"), &token).await.body;
        assert_eq!(shown["kind"], "full");
        applied += shown["summary"]["applied"].as_u64().unwrap_or(0);
    }
    assert_eq!(applied, 1, "ann is created once, however many runs asked");
    assert!(s.data().user("ann").is_some());

    let dry = reconcile(&api, &token, "jira", "dry", true).await;
    assert_eq!(follow(&s.server, &token, dry).await.last().unwrap()["state"], "done");
    assert_eq!(api.get(&format!("/runs/{dry}"), &token).await.body["kind"], "dry-run");
    api.call(Method::POST, "/targets/nowhere/sync", Some(&token), Some(json!({}))).await.problem(404, "not_found");
    api.call(Method::POST, &format!("/runs/{dry}/cancel"), Some(&token), None).await.problem(400, "invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_sources_are_added_checked_scheduled_and_looked_up_through_the_api() {
    let s = crate::sync::setup("").await;
    let admin = admin_token(s.dir.path(), "root", "admin", &[]);
    let origin_token = add_source(s.dir.path(), "origin");
    crate::sync::push_user(&s.server.scim("origin", &origin_token), "ann", json!({})).await;
    let api = Api::new(&s.server);
    let settings = json!({"connector": {"kind": "scim", "url": format!("{}/scim/v2/origin", s.server.root)}});
    let wrong = json!({"name": "mirror", "settings": settings, "credentials": {"type": "bearer", "token": "wrong"}});
    let refused = api.call(Method::POST, "/pull-sources", Some(&admin), Some(wrong)).await;
    refused.problem(422, "check_failed");
    api.get("/sources/mirror", &admin).await.problem(404, "not_found");
    let bad = json!({"name": "mirror", "settings": {"connector": {"kind": "nonsense"}}, "credentials": {"type": "bearer", "token": "t"}});
    assert_eq!(
        api.call(Method::POST, "/pull-sources", Some(&admin), Some(bad)).await.problem(400, "invalid")["field"],
        "settings"
    );

    let body =
        json!({"name": "mirror", "settings": settings, "credentials": {"type": "bearer", "token": origin_token}});
    let made = api.call(Method::POST, "/pull-sources", Some(&admin), Some(body)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert!(made.body["checks"].as_array().unwrap().iter().all(|c| c["status"] != "failed"));
    let tested = api.call(Method::POST, "/sources/mirror/test", Some(&admin), None).await;
    assert_eq!(tested.body["passed"], true, "{}", tested.body);
    let ann = api.get("/sources/mirror/lookup?user=ann", &admin).await.body;
    assert_eq!(
        (ann["raw"]["userName"].as_str(), ann["mapped"]["userName"].as_str()),
        (Some("ann"), Some("ann")),
        "{ann}"
    );
    api.get("/sources/mirror/lookup?user=nobody", &admin).await.problem(404, "not_found");

    let scheduled = api
        .call(
            Method::PUT,
            "/sources/mirror/schedule",
            Some(&admin),
            Some(json!({"schedule": "every 15m", "timezone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(scheduled.body["pull"]["schedule"], "every 15m", "{}", scheduled.body);
    api.call(Method::PUT, "/sources/mirror/schedule", Some(&admin), Some(json!({"schedule": "now and then"})))
        .await
        .problem(400, "invalid");
    let mut faster = settings.clone();
    faster["max_rate"] = json!(5.0);
    let changed = api.call(Method::PUT, "/sources/mirror/pull", Some(&admin), Some(json!({"settings": faster}))).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(api.get("/sources/mirror", &admin).await.body["pull"]["max_rate"], 5.0);

    let login = api.call(Method::POST, "/sources/mirror/login-token", Some(&admin), None).await.body;
    let signed_in = http_client()
        .post(login["url"].as_str().unwrap())
        .bearer_auth(login["token"].as_str().unwrap())
        .json(&json!({"username": "ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200, "{}", signed_in.text().await.unwrap());
    let audit: Vec<String> = api.get("/audit?object=source/mirror", &admin).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(audit, ["source.login_token", "source.change", "source.schedule", "source.add"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_rules_are_previewed_and_old_binding_tables_imported() {
    let s = crate::sync::setup("").await;
    let operate = admin_token(s.dir.path(), "ops", "operate", &[]);
    let admin = admin_token(s.dir.path(), "root", "admin", &[]);
    let api = Api::new(&s.server);
    crate::sync::push_user(&s.scim, "ann", json!({})).await;
    let draft = json!({"rules": {"groups": {"default_for_all": ["everyone"]}}});
    let plan = api.call(Method::POST, "/bindings/entra/jira/preview", Some(&operate), Some(draft)).await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert!(!plan.body["ops"].as_array().unwrap().is_empty());
    assert!(plan.body.to_string().contains("new entra user ann"), "{}", plan.body);
    assert!(s.data().user("ann").is_none(), "a preview changes nothing");
    let broken = json!({"rules": {"users": {"username_transform": {"pattern": "(", "replacement": ""}}}});
    api.call(Method::POST, "/bindings/entra/jira/preview", Some(&operate), Some(broken)).await.problem(400, "invalid");

    // Rules tried on one stored user: a read token may, nothing is saved.
    let read = admin_token(s.dir.path(), "viewer", "read", &[]);
    let renamed = json!({"users": {"username_transform": {"pattern": "(.*)", "replacement": "$1.lee"}}});
    let tried = api
        .call(Method::POST, "/bindings/entra/jira/try", Some(&read), Some(json!({"user": "ann", "rules": renamed})))
        .await;
    assert_eq!(tried.status, 200, "{}", tried.body);
    assert_eq!(tried.body["username"], "ann.lee", "{}", tried.body);
    let scoped = json!({"users": {"filter": "userType eq \"Contractor\""}});
    let left_out = api
        .call(Method::POST, "/bindings/entra/jira/try", Some(&read), Some(json!({"user": "ann", "rules": scoped})))
        .await;
    assert!(left_out.body.get("username").is_none(), "out of the filter's scope: {}", left_out.body);
    api.call(Method::POST, "/bindings/entra/jira/try", Some(&read), Some(json!({"user": "nobody", "rules": {}})))
        .await
        .problem(404, "not_found");

    let toml =
        "[[binding]]\nsource = \"entra\"\ntarget = \"jira\"\n[binding.groups]\ndefault_for_all = [\"everyone\"]\n";
    api.call(Method::POST, "/bindings/import", Some(&admin), Some(json!({"toml": "[[binding]]\nsource = 1"})))
        .await
        .problem(400, "invalid");
    let imported = api.call(Method::POST, "/bindings/import", Some(&admin), Some(json!({"toml": toml}))).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(imported.body["bindings"][0].as_str().unwrap().contains("entra → jira"), "{}", imported.body);
    crate::sync::wait(10, "ann provisioned by the imported binding", || {
        crate::sync::groups(&s.data(), "ann") == ["everyone"]
    })
    .await;

    // Explained: her record, what the rules make of it in Jira and why, what idsync manages.
    let explained = api.get("/users/ann/explanation", &read).await;
    assert_eq!(explained.status, 200, "{}", explained.body);
    let jira = &explained.body["records"][0]["targets"][0];
    assert_eq!(
        (explained.body["records"][0]["source"].as_str(), jira["target"].as_str()),
        (Some("entra"), Some("jira"))
    );
    assert_eq!((jira["username"].as_str(), jira["managed_as"].as_str()), (Some("ann"), Some("ann")), "{jira}");
    let everyone = jira["memberships"].as_array().unwrap().iter().find(|m| m["value"] == "everyone").unwrap();
    assert_eq!(everyone["rule"], "groups.default_for_all", "{jira}");
    let log = explained.body["log"].as_array().unwrap();
    assert!(log.iter().any(|e| e["action"] == "create_user" && e["result"] == "applied"), "{}", explained.body);
    assert!(log.iter().all(|e| e["result"] != "planned"), "the preview above is not what happened to her: {log:?}");
    let nobody = api.get("/users/nobody/explanation", &read).await;
    assert_eq!(nobody.body["records"], json!([]), "{}", nobody.body);
}

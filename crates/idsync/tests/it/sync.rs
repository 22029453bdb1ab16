//! Provisioning end to end: SCIM pushes to the real binary reach a simulated Jira (in this test
//! process) through the rules, the outbox and the adapters; outages, 429 storms, kill -9,
//! the safeguard, ownership and conflicts between sources.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::jira::{Jira, JiraData};
use simulators::{Credentials, Faults, Running, Simulator};

use crate::harness::{Scim, Server, add_source, cli, cli_env};

pub const TOKEN_ENV: &str = "TEST_JIRA_TOKEN";

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub jira: std::sync::Arc<Jira>,
    pub sim: Simulator,
    pub running: Option<Running>,
    pub server: Server,
    pub scim: Scim,
    pub entra_token: String,
}

/// Config text: fast polling and short back-off for tests, then the given TOML.
pub fn config_text(extra: &str) -> String {
    format!("[sync]\npoll_ms = 50\nbase_backoff_ms = 100\nmax_backoff_seconds = 1\n{extra}\n")
}

pub fn binding(source: &str, target: &str, rules: &str) -> String {
    format!("[[binding]]\nsource = \"{source}\"\ntarget = \"{target}\"\n{rules}\n")
}

/// Stores the `[[binding]]` tables of `text` with `idsync binding import`, as an administrator
/// moving from a config file would.
pub fn import_bindings(dir: &Path, text: &str) {
    let file = dir.join(format!("bindings-{}.toml", rand_suffix()));
    std::fs::write(&file, text).unwrap();
    let out = cli(dir, &["binding", "import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "binding import: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Settings go to the config file; `[[binding]]` tables (everything from the first one on) are
/// imported into the database once the source and target exist.
fn split_bindings(text: &str) -> (&str, &str) {
    text.split_at(text.find("[[binding]]").unwrap_or(text.len()))
}

pub fn add_target(dir: &Path, name: &str, url: &str) {
    let token = Credentials::default().admin_token;
    let out = cli_env(
        dir,
        &["target", "add", "--name", name, "--kind", "jira", "--url", url, "--token-env", TOKEN_ENV],
        &[(TOKEN_ENV, &token)],
    );
    assert!(
        out.status.success(),
        "target add: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn setup(config: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let jira = Jira::new(Credentials::default(), Default::default());
    let sim = Simulator::Jira(jira.clone());
    let running = sim.start("127.0.0.1:0").await.unwrap();
    let path = dir.path().join("idsync.toml");
    let (settings, bindings) = split_bindings(config);
    std::fs::write(&path, config_text(settings)).unwrap();
    let entra_token = add_source(dir.path(), "entra");
    add_target(dir.path(), "jira", &running.base_url);
    if !bindings.is_empty() {
        import_bindings(dir.path(), bindings);
    }
    let server = Server::start_full(dir.path(), &["--config", path.to_str().unwrap()], &[]);
    let scim = server.scim("entra", &entra_token);
    Setup { dir, config: path, jira, sim, running: Some(running), server, scim, entra_token }
}

impl Setup {
    /// Imports bindings into this setup's database (the server picks them up while it runs).
    pub fn bind(&self, text: &str) {
        import_bindings(self.dir.path(), text);
    }

    pub fn data(&self) -> std::sync::MutexGuard<'_, JiraData> {
        self.jira.data.lock().unwrap()
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut full = vec!["--config", self.config.to_str().unwrap()];
        full.extend_from_slice(args);
        cli(self.dir.path(), &full)
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn restart(&mut self) {
        self.server.kill();
        self.server = Server::start_full(self.dir.path(), &["--config", self.config.to_str().unwrap()], &[]);
        self.scim = self.server.scim("entra", &self.entra_token);
    }
}

/// Polls until `check` holds or `secs` pass.
pub async fn wait(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn push_user(scim: &Scim, name: &str, extra: Value) -> String {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "displayName": format!("{name} (display)"),
        "emails": [{"value": format!("{}@mail.example.com", name.split('@').next().unwrap()), "primary": true}],
        "active": true,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let r = scim.post("/Users", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

pub fn groups(data: &JiraData, user: &str) -> Vec<String> {
    data.groups_of(user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_jira_through_the_rules() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let rules = format!(
        "[binding.users]\nusername_transform = {{ pattern = '(.*)@example\\.com', replacement = '$1' }}\n\
         custom_attributes = {{ department = '{enterprise}:department' }}\n\
         [binding.groups]\ndefault_for_all = ['everyone']\ndefault_for_new = ['jira-software-users']\n\
         mapping = {{ Engineering = ['jira-developers', 'jira-dev-leads'] }}\nexclude = ['re:secret-.*']\n"
    );
    let s = setup(&binding("entra", "jira", &rules)).await;
    let ann = push_user(&s.scim, "ann@example.com", json!({enterprise: {"department": "R&D"}})).await;
    s.scim.create_group("Engineering", std::slice::from_ref(&ann)).await;
    s.scim.create_group("Designers", std::slice::from_ref(&ann)).await;
    s.scim.create_group("secret-club", std::slice::from_ref(&ann)).await;
    wait(10, "ann in all her groups", || {
        groups(&s.data(), "ann")
            == ["Designers", "everyone", "jira-dev-leads", "jira-developers", "jira-software-users"]
    })
    .await;
    {
        let data = s.data();
        let u = data.user("ann").unwrap();
        assert_eq!(u.email, "ann@mail.example.com");
        assert_eq!(u.display_name, "ann@example.com (display)");
        assert_eq!(u.properties.get("department"), Some(&json!("R&D")));
    }
    // Inactive in the IdP: deactivated; active again: reactivated.
    s.scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    wait(10, "ann deactivated", || !s.data().user("ann").unwrap().active).await;
    s.scim.patch(&format!("/Users/{ann}"), json!([{"op": "Replace", "value": {"active": "True"}}])).await;
    wait(10, "ann active again", || s.data().user("ann").unwrap().active).await;
    // Leaving the IdP group removes the mapped memberships idsync granted, and only those.
    let eng = s.scim.get("/Groups?filter=displayName%20eq%20%22Engineering%22").await.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.scim
        .patch(&format!("/Groups/{eng}"), json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]))
        .await;
    wait(10, "ann out of the Engineering mappings", || {
        groups(&s.data(), "ann") == ["Designers", "everyone", "jira-software-users"]
    })
    .await;
    // Removed from the IdP: deactivated (the default), not deleted.
    s.scim.delete(&format!("/Users/{ann}")).await;
    wait(10, "ann deactivated after removal", || !s.data().user("ann").unwrap().active).await;
    let log = s.cli_json(&["log", "--user", "ann", "--json", "--limit", "100"]);
    let reasons: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"new entra user ann@example.com"), "{reasons:?}");
    assert!(
        reasons.contains(&"ann@example.com is in entra group Engineering (mapped to jira-developers)"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"inactive in entra"), "{reasons:?}");
    assert!(reasons.contains(&"removed from entra"), "{reasons:?}");
    assert!(log.as_array().unwrap().iter().all(|e| e["result"] == "applied"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_and_heals_by_itself() {
    let mut s = setup(&binding("entra", "jira", "")).await;
    let running = s.running.take().unwrap();
    let addr = running.addr;
    running.stop();
    for i in 0..5 {
        push_user(&s.scim, &format!("user{i}"), json!({})).await;
    }
    // Unhealthy and waiting, not spinning.
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = s.cli_json(&["target", "list", "--json"])["items"].clone();
        if listed[0]["healthy"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed[0]["healthy"], json!(false), "{listed}");
    assert_eq!(listed[0]["pending"], json!(5), "{listed}");
    let mut metrics = String::new();
    for _ in 0..50 {
        let got = crate::harness::http_client().get(format!("{}/metrics", s.server.root)).send().await.unwrap();
        metrics = got.text().await.unwrap();
        if metrics.contains("idsync_outbox_pending{target=\"jira\"} 5") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metrics.contains("idsync_outbox_pending{target=\"jira\"} 5"),
        "the gauge agrees with target list: {metrics}"
    );
    assert!(metrics.contains("idsync_target_healthy{target=\"jira\"} 0"), "{metrics}");
    // 503s for a while, then the application is back on the same address.
    s.running = Some(s.sim.start(&addr.to_string()).await.unwrap());
    s.sim.control().set_faults(Faults { down: true, ..Faults::default() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.data().users.len(), 1, "nothing applied while Jira answers 503");
    s.sim.control().set_faults(Faults::default());
    wait(15, "all five users after the outage", || (0..5).all(|i| s.data().user(&format!("user{i}")).is_some())).await;
    wait(5, "healthy again", || {
        s.cli_json(&["target", "list", "--json"])["items"].clone()[0]["healthy"] == json!(true)
    })
    .await;
    let log = s.cli_json(&["log", "--target", "jira", "--json", "--limit", "500"]);
    let actions: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"target_unhealthy") && actions.contains(&"target_healthy"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_not_hammered() {
    let s = setup(&binding("entra", "jira", "")).await;
    s.sim.control().set_faults(Faults { storm_429: 1000, retry_after_seconds: 2, ..Faults::default() });
    let started = Instant::now();
    for i in 0..3 {
        push_user(&s.scim, &format!("user{i}"), json!({})).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = s.sim.control().total_requests();
    assert!(during <= 6, "{during} requests in 1.5 s of a storm with Retry-After: 2");
    s.sim.control().set_faults(Faults::default());
    wait(15, "users after the storm", || (0..3).all(|i| s.data().user(&format!("user{i}")).is_some())).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_converges_without_duplicates() {
    let mut s = setup(&binding("entra", "jira", "")).await;
    s.sim.control().set_faults(Faults { delay_ms: 40, ..Faults::default() });
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(push_user(&s.scim, &format!("user{i:02}"), json!({})).await);
    }
    s.scim.create_group("crew", &ids).await;
    // Three kills at different points of the run, each followed by a restart.
    for (round, at_least) in [5, 20, 35].into_iter().enumerate() {
        wait(20, "more users created", || s.data().users.len() > at_least).await;
        s.server.kill();
        assert!(s.data().users.len() < 61, "kill {round} came after everything was done");
        s.restart();
    }
    wait(60, "all 60 users in crew", || (0..60).all(|i| groups(&s.data(), &format!("user{i:02}")) == ["crew"])).await;
    // A request the killed process had sent may still be served after the restart read the user
    // as missing: at most one per request in flight (sync.concurrency, 16) per kill is sent
    // twice, and the second one finds the user and succeeds.
    let requests = s.sim.control().requests();
    let creates = requests.get("POST /rest/api/2/user").copied().unwrap_or(0);
    assert!((60..=60 + 3 * 16).contains(&creates), "{requests:?}");
    assert_eq!(s.data().users.len(), 61, "60 users and the admin, no duplicates");
    let failed = s.cli_json(&["log", "--result", "failed", "--json"]);
    assert_eq!(failed, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deprovisioning_is_held_for_approval() {
    let s = setup(&format!(
        "[sync.safeguard]\nmax_count = 3\nmax_share = 1.0\nmin_count = 1\n{}",
        binding("entra", "jira", "")
    ))
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(push_user(&s.scim, &format!("user{i}"), json!({})).await);
    }
    wait(10, "ten users", || s.data().users.len() == 11).await;
    for id in &ids {
        s.scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    }
    let mut held = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
        if let Some(r) = runs.as_array().unwrap().iter().find(|r| r["state"] == "held") {
            held = r.clone();
        }
        if held["summary"]["held_users"].as_u64().unwrap_or(0) + inactive(&s.data()) >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held["state"], "held", "{held}");
    let deactivated = inactive(&s.data());
    assert!(deactivated <= 3, "at most max_count users deactivated before the hold: {deactivated}");
    let id = held["id"].as_i64().unwrap().to_string();
    let shown = s.cli(&["runs", "show", &id]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("runs approve"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
    // One of them is back before anyone approves: approving re-plans, so user0 stays active.
    s.scim.patch(&format!("/Users/{}", ids[0]), json!([{"op": "replace", "path": "active", "value": true}])).await;
    wait(10, "user0 active", || s.data().user("user0").unwrap().active).await;
    // Two of the held users approved through the API: theirs are applied, the rest wait.
    let token = crate::admin_api::admin_token(s.dir.path(), "approver", "operate", &[]);
    let api = crate::admin_api::Api::new(&s.server);
    let before = inactive(&s.data());
    let shown = api.get(&format!("/runs/{id}"), &token).await.body;
    let mut waiting: Vec<String> = shown["held"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|op| op["source_id"].as_str().map(str::to_string))
        .filter(|user| *user != ids[0])
        .collect();
    waiting.dedup();
    assert!(waiting.len() >= 3, "several users wait: {shown}");
    let chosen = &waiting[..2];
    let path = format!("/runs/{id}/approve");
    let approve = |body: Value| api.call(reqwest::Method::POST, &path, Some(&token), Some(body));
    approve(json!({"users": [{"source": "entra", "id": "not-held"}]})).await.problem(400, "invalid");
    approve(json!({"users": []})).await.problem(400, "invalid");
    let users: Vec<Value> = chosen.iter().map(|u| json!({"source": "entra", "id": u})).collect();
    let some = approve(json!({"users": users})).await;
    assert_eq!(some.status, 200, "{}", some.body);
    assert_eq!(some.body["state"], "held", "the others still wait: {}", some.body);
    assert!(some.body["hold_reason"].as_str().unwrap().contains("wait for a decision"), "{}", some.body);
    assert_eq!(inactive(&s.data()), before + 2, "exactly the two chosen are deactivated");
    let left = api.get(&format!("/runs/{id}"), &token).await.body;
    assert!(
        left["held"].as_array().unwrap().iter().all(|op| !chosen.iter().any(|c| op["source_id"] == c.as_str())),
        "what was approved is no longer held: {left}"
    );
    // One more from the command line, then the rest: the decisions are audited under the token's name.
    let one = format!("entra/{}", waiting[2]);
    let out = cli_env(s.dir.path(), &["runs", "approve", &id, "--user", &one], &[("IDSYNC_TOKEN", &token)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(inactive(&s.data()), before + 3);
    let out = cli_env(s.dir.path(), &["runs", "approve", &id], &[("IDSYNC_TOKEN", &token)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(inactive(&s.data()), 9);
    let audit = api.get(&format!("/audit?object=run/{id}"), &token).await.body;
    assert_eq!(
        (audit["items"][0]["action"].as_str(), audit["items"][0]["actor"].as_str()),
        (Some("run.approve"), Some("token approver")),
        "{audit}"
    );
    assert!(s.data().user("user0").unwrap().active);
    assert_eq!(s.cli_json(&["runs", "show", &id, "--json"])["state"], "approved");
}

fn inactive(data: &JiraData) -> u64 {
    data.users.values().filter(|u| !u.active).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_users_groups_and_memberships_are_never_touched() {
    let s = setup(&binding("entra", "jira", "[binding.groups]\nkeep_existing = true\n")).await;
    let http = crate::harness::http_client();
    let base = format!("{}/rest/api/2", s.running.as_ref().unwrap().base_url);
    let token = Credentials::default().admin_token;
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(&token).json(&body);
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    };
    post("/user", json!({"name": "local", "emailAddress": "local@x.org"})).await;
    post("/user", json!({"name": "bob", "emailAddress": "bob@x.org"})).await;
    post("/group", json!({"name": "local-admins"})).await;
    post("/group/user?groupname=local-admins", json!({"name": "local"})).await;
    post("/group/user?groupname=local-admins", json!({"name": "bob"})).await;
    let bob = push_user(&s.scim, "bob", json!({})).await;
    s.scim.create_group("devs", &[bob]).await;
    wait(10, "bob adopted and in devs", || groups(&s.data(), "bob") == ["devs", "local-admins"]).await;
    for _ in 0..2 {
        let out = s.cli(&["sync", "--target", "jira"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let data = s.data();
    assert_eq!(groups(&data, "local"), ["local-admins"]);
    assert_eq!(data.user("local").unwrap().email, "local@x.org");
    assert!(data.user("local").unwrap().active);
    assert_eq!(groups(&data, "bob"), ["devs", "local-admins"]);
    assert_eq!(groups(&data, "admin"), ["jira-administrators"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sources_claiming_one_user_never_flip_flop() {
    let s = setup(&binding("entra", "jira", "")).await;
    let okta_token = add_source(s.dir.path(), "okta");
    s.bind(&binding("okta", "jira", ""));
    let okta = s.server.scim("okta", &okta_token);
    push_user(&s.scim, "ann", json!({"displayName": "Ann from Entra"})).await;
    wait(10, "ann from entra", || s.data().user("ann").is_some()).await;
    push_user(&okta, "ann", json!({"displayName": "Ann from Okta"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conflicts = s.cli_json(&["log", "--result", "conflict", "--json"]);
        if conflicts.as_array().is_some_and(|c| c.iter().any(|e| e["source"] == "okta")) {
            break;
        }
        assert!(Instant::now() < deadline, "no conflict recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..2 {
        assert!(s.cli(&["sync", "--target", "jira"]).status.success());
        assert_eq!(s.data().user("ann").unwrap().display_name, "Ann from Entra");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_plan_and_changes_nothing() {
    let mut s = setup("").await;
    push_user(&s.scim, "ann", json!({})).await;
    // A running server would reconcile the new binding at once; this test is about the preview.
    s.server.kill();
    let out = s.cli(&["binding", "add", "--source", "entra", "--target", "jira"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = s.cli(&["binding", "set", "entra", "jira", "groups.default_for_all", "[\"everyone\"]"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad =
        s.cli(&["binding", "set", "entra", "jira", "users.username_transform", "{ pattern = '(', replacement = 'x' }"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("users.username_transform.pattern"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let runs = s.cli_json(&["sync", "--target", "jira", "--dry-run", "--json"]);
    assert_eq!(runs[0]["kind"], "dry-run", "{runs}");
    let run = runs[0]["id"].to_string();
    let ops = s.cli_json(&["log", "--run", &run, "--result", "planned", "--json"]).as_array().unwrap().clone();
    let actions: Vec<&str> = ops.iter().map(|o| o["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create_group", "create_user", "add_member"], "{ops:?}");
    assert_eq!(ops[1]["reason"], "new entra user ann");
    assert!(s.data().user("ann").is_none(), "a dry run changes nothing");
    let text = String::from_utf8_lossy(&s.cli(&["sync", "--target", "jira", "--dry-run"]).stdout).to_string();
    assert!(text.contains("create_user") && text.contains("new entra user ann"), "{text}");
    assert!(s.cli(&["sync", "--target", "jira"]).status.success());
    assert_eq!(groups(&s.data(), "ann"), ["everyone"]);
    let again = s.cli_json(&["sync", "--target", "jira", "--dry-run", "--json"]);
    assert_eq!(again[0]["summary"]["planned"], 0, "applying the plan leaves nothing to do: {again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_credentials_are_checked_sealed_and_never_printed() {
    let s = setup("").await;
    let url = s.running.as_ref().unwrap().base_url.clone();
    let out = cli_env(
        s.dir.path(),
        &["target", "add", "--name", "bad", "--kind", "jira", "--url", &url, "--token-env", TOKEN_ENV],
        &[(TOKEN_ENV, "wrong-token")],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("credentials refused") && text.contains("not saved"), "{text}");
    let out = cli_env(
        s.dir.path(),
        &["target", "add", "--name", "viewer", "--kind", "jira", "--url", &url, "--token-env", TOKEN_ENV],
        &[(TOKEN_ENV, &Credentials::default().viewer_token)],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lacks the Jira Administrators global permission"));
    let shown = s.cli(&["target", "show", "jira", "--json"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert!(shown["auth"] == "token" && !text.contains(&Credentials::default().admin_token), "{text}");
    let db = std::fs::read(s.dir.path().join("idsync.db")).unwrap();
    let token = Credentials::default().admin_token;
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()), "the token is stored encrypted");
    let test = s.cli(&["target", "test", "jira"]);
    assert!(test.status.success() && String::from_utf8_lossy(&test.stdout).contains("writable"));
}

pub fn add_target_of(dir: &Path, name: &str, kind: &str, url: &str, token: &str) {
    let out = cli_env(
        dir,
        &["target", "add", "--name", name, "--kind", kind, "--url", url, "--token-env", TOKEN_ENV],
        &[(TOKEN_ENV, token)],
    );
    assert!(
        out.status.success(),
        "target add {name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_bitbucket_and_a_scim_app_are_provisioned_too() {
    use simulators::bitbucket::Bitbucket;
    use simulators::confluence::Confluence;
    let dir = tempfile::tempdir().unwrap();
    let confluence = Confluence::new(Credentials::default(), Default::default());
    let bitbucket = Bitbucket::new(Credentials::default());
    let c_run = Simulator::Confluence(confluence.clone()).start("127.0.0.1:0").await.unwrap();
    let b_run = Simulator::Bitbucket(bitbucket.clone()).start("127.0.0.1:0").await.unwrap();
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, config_text("")).unwrap();
    let entra = add_source(dir.path(), "entra");
    let mirror_token = add_source(dir.path(), "mirror");
    let admin = Credentials::default().admin_token;
    add_target_of(dir.path(), "wiki", "confluence", &c_run.base_url, &admin);
    add_target_of(dir.path(), "git", "bitbucket", &b_run.base_url, &admin);
    import_bindings(
        dir.path(),
        &(binding("entra", "wiki", "")
            + &binding("entra", "git", "[binding.groups]\ndefault_for_all = ['stash-users']\n")),
    );
    let server = Server::start_full(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    add_target_of(dir.path(), "mirror", "scim", &format!("{}/scim/v2/mirror", server.root), &mirror_token);
    // Bound while the server runs: it picks the binding up without a restart.
    import_bindings(dir.path(), &binding("entra", "mirror", ""));
    let scim = server.scim("entra", &entra);
    let mirror = server.scim("mirror", &mirror_token);
    let ann = push_user(&scim, "ann", json!({})).await;
    scim.create_group("devs", std::slice::from_ref(&ann)).await;

    let mirrored = |filter: &'static str| {
        let mirror = mirror.clone();
        async move { mirror.get(filter).await.body }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wiki_ok = confluence.data.lock().unwrap().groups_of("ann") == ["devs"];
        let git_ok = bitbucket.data.lock().unwrap().groups_of("ann") == ["devs", "stash-users"];
        let groups = mirrored("/Groups?filter=displayName%20eq%20%22devs%22").await;
        let mirror_ok = groups["Resources"][0]["members"].as_array().is_some_and(|m| m.len() == 1);
        if wiki_ok && git_ok && mirror_ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not provisioned everywhere: wiki {wiki_ok}, git {git_ok}, mirror {mirror_ok}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let user = &mirrored("/Users?filter=userName%20eq%20%22ann%22").await["Resources"][0];
    assert_eq!(user["emails"][0]["value"], "ann@mail.example.com");
    assert_eq!(user["displayName"], "ann (display)");

    // Deactivation in each product's own way.
    scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wiki_off = !confluence.data.lock().unwrap().users["ann"].active;
        let git_off = bitbucket.data.lock().unwrap().groups_of("ann").is_empty();
        let mirror_off =
            mirrored("/Users?filter=userName%20eq%20%22ann%22").await["Resources"][0]["active"] == json!(false);
        if wiki_off && git_off && mirror_off {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not deactivated everywhere: wiki {wiki_off}, git {git_off}, mirror {mirror_off}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Bitbucket access comes back with the memberships.
    scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "active", "value": true}])).await;
    wait(20, "ann back in her Bitbucket groups", || {
        bitbucket.data.lock().unwrap().groups_of("ann") == ["devs", "stash-users"]
    })
    .await;
}

/// scim2-server from PyPI, which `scripts/test` installs and names in IDSYNC_SCIM2_SERVER. Without
/// it the tests that need it say so and pass, so `cargo test` alone still runs everywhere.
pub struct Scim2Server {
    child: std::process::Child,
    pub base: String,
    pub token: &'static str,
}

impl Scim2Server {
    pub async fn start(test: &str) -> Option<Scim2Server> {
        let Ok(bin) = std::env::var("IDSYNC_SCIM2_SERVER") else {
            eprintln!("IDSYNC_SCIM2_SERVER is not set: skipping {test} (scripts/test sets it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let token = "peer-token-0123456789";
        let child = std::process::Command::new(&bin)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", token])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start scim2-server");
        let base = format!("http://127.0.0.1:{port}/v2");
        let http = crate::harness::http_client();
        let ready = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/ServiceProviderConfig")).bearer_auth(token).send().await.is_err() {
            assert!(Instant::now() < ready, "scim2-server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Scim2Server { child, base, token })
    }

    pub fn scim(&self) -> Scim {
        Scim { http: crate::harness::http_client(), base: self.base.clone(), token: self.token.into() }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The generic SCIM target against an independent implementation: scim2-server from PyPI, which
/// `scripts/test` installs and names in IDSYNC_SCIM2_SERVER. Without it the test says so and
/// passes, so `cargo test` alone still runs everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_scim_server_is_provisioned() {
    let Some(mut peer) = Scim2Server::start("the scim2-server target test").await else { return };
    let (base, token) = (peer.base.clone(), peer.token);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, config_text("")).unwrap();
    let entra = add_source(dir.path(), "entra");
    add_target_of(dir.path(), "peer", "scim", &base, token);
    import_bindings(dir.path(), &binding("entra", "peer", ""));
    let server = Server::start_full(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let scim = server.scim("entra", &entra);
    let peer_scim = peer.scim();
    let ann = push_user(&scim, "ann", json!({})).await;
    scim.create_group("devs", std::slice::from_ref(&ann)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let peer_ann = loop {
        let users = peer_scim.get("/Users?filter=userName%20eq%20%22ann%22").await.body;
        let groups = peer_scim.get("/Groups?filter=displayName%20eq%20%22devs%22").await.body;
        let ann_id = users["Resources"][0]["id"].as_str().map(String::from);
        let members: Vec<String> = groups["Resources"][0]["members"]
            .as_array()
            .map(|m| m.iter().filter_map(|x| x["value"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        if let Some(id) = ann_id.filter(|id| members.contains(id)) {
            break id;
        }
        assert!(Instant::now() < deadline, "scim2-server not provisioned: users {users} groups {groups}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while peer_scim.get(&format!("/Users/{peer_ann}")).await.body["active"] != json!(false) {
        assert!(Instant::now() < deadline, "ann not deactivated in scim2-server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peer.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_component_leads_are_handed_over_before_deactivation() {
    let rules = "[binding.users]\ndefault_project_lead = 'admin'\ndefault_component_lead = 'admin'\n";
    let s = setup(&binding("entra", "jira", rules)).await;
    let ann = push_user(&s.scim, "ann", json!({})).await;
    wait(10, "ann in Jira", || s.data().user("ann").is_some()).await;
    let http = crate::harness::http_client();
    let base = format!("{}/rest/api/2", s.running.as_ref().unwrap().base_url);
    let token = Credentials::default().admin_token;
    for (path, body) in [
        ("/project", json!({"key": "OPS", "name": "Operations", "lead": "ann"})),
        ("/component", json!({"project": "OPS", "name": "Backend", "leadUserName": "ann"})),
    ] {
        let r = http.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert!(r.status().is_success());
    }
    s.scim.delete(&format!("/Users/{ann}")).await;
    wait(10, "ann deactivated", || !s.data().user("ann").unwrap().active).await;
    let data = s.data();
    let admin_key = data.user("admin").unwrap().key.clone();
    assert_eq!(data.projects["OPS"].lead, admin_key);
    assert!(data.components.values().all(|c| c.lead.as_deref() == Some(admin_key.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_nesting_transforms_and_stricter_rules_reach_jira() {
    let rules = "[binding.users]\nupdate = false\non_inactive = \"delete\"\nfilter = 'userType eq \"Employee\"'\n\
                 [binding.groups]\nname_transform = { pattern = 'idp-(.*)', replacement = 'jira-$1' }\ncreate_missing = false\n";
    let s = setup(&binding("entra", "jira", rules)).await;
    {
        let http = crate::harness::http_client();
        let base = format!("{}/rest/api/2", s.running.as_ref().unwrap().base_url);
        for g in ["jira-web", "jira-eng"] {
            let r = http
                .post(format!("{base}/group"))
                .bearer_auth(Credentials::default().admin_token)
                .json(&json!({"name": g}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }
    let employee = json!({"userType": "Employee"});
    let ann = push_user(&s.scim, "ann", employee.clone()).await;
    let carl = push_user(&s.scim, "carl", employee.clone()).await;
    push_user(&s.scim, "bob", json!({"userType": "Contractor"})).await;
    let web = s.scim.create_group("idp-web", std::slice::from_ref(&ann)).await;
    s.scim.create_group("idp-eng", &[web]).await;
    s.scim.create_group("idp-ops", std::slice::from_ref(&ann)).await;
    s.scim.create_group("Other", std::slice::from_ref(&ann)).await;
    // Nested idp-web inside idp-eng: ann is in both mapped groups; idp-ops maps to a missing
    // group (not created), Other does not match the transform (not mapped).
    wait(10, "ann in jira-web and jira-eng", || groups(&s.data(), "ann") == ["jira-eng", "jira-web"]).await;
    let skipped = s.cli_json(&["log", "--result", "skipped", "--json"]);
    assert!(
        skipped.as_array().unwrap().iter().any(|e| e["reason"].as_str().unwrap_or_default().contains("jira-ops")),
        "{skipped}"
    );
    assert!(s.data().user("bob").is_none(), "out of scope: userType is not Employee");
    assert!(!s.data().groups.contains_key("jira-ops") && !s.data().groups.contains_key("other"));
    // update = false: a new display name stays in the source.
    s.scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "displayName", "value": "Ann New"}])).await;
    // on_inactive = delete.
    s.scim.patch(&format!("/Users/{carl}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    wait(10, "carl deleted", || s.data().user("carl").is_none()).await;
    assert_eq!(s.data().user("ann").unwrap().display_name, "ann (display)");
    // Leaving the filter's scope counts as removed: deactivated (on_removed's default).
    s.scim.patch(&format!("/Users/{ann}"), json!([{"op": "replace", "path": "userType", "value": "Contractor"}])).await;
    wait(10, "ann deactivated once out of scope", || !s.data().user("ann").unwrap().active).await;
}

/// A target saved without a check is 'unknown' until idsync talks to it; refused credentials
/// are named as such, not as an outage; new credentials are checked before they replace the old;
/// TLS to a plain port and names that do not resolve are said to be what they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_health_and_credential_changes_say_what_is_wrong() {
    let s = setup(&binding("entra", "jira", "")).await;
    let url = s.running.as_ref().unwrap().base_url.clone();
    let health = |name: &str| {
        let list = s.cli_json(&["target", "list", "--json"])["items"].clone();
        list.as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["health"].as_str().unwrap().to_string()
    };
    let add = |name: &str, url: &str, token: &str| {
        cli_env(
            s.dir.path(),
            &["target", "add", "--name", name, "--kind", "jira", "--url", url, "--token-env", TOKEN_ENV, "--no-check"],
            &[(TOKEN_ENV, token)],
        )
    };
    assert!(add("later", &url, &Credentials::default().admin_token).status.success());
    assert_eq!(health("later"), "unknown");
    assert!(add("refused", &url, "wrong-token").status.success());
    s.bind(&(binding("entra", "later", "") + &binding("entra", "refused", "")));
    push_user(&s.scim, "ann", json!({})).await;
    wait(10, "later known healthy, refused named", || {
        health("later") == "ok" && health("refused") == "credentials refused"
    })
    .await;
    let listed = String::from_utf8_lossy(&s.cli(&["target", "list"]).stdout).to_string();
    let header = listed.lines().next().unwrap();
    let url_column = header.find("url").unwrap();
    assert!(listed.lines().skip(1).all(|l| l.find("http").is_some_and(|at| at == url_column)), "aligned:\n{listed}");

    let out = cli_env(s.dir.path(), &["target", "set", "jira", "--token-env", TOKEN_ENV], &[(TOKEN_ENV, "wrong")]);
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && said.contains("was not changed"), "{said}");
    assert_eq!(health("jira"), "ok", "the old credentials stay");

    let plain = url.replace("http://", "https://");
    let said = String::from_utf8_lossy(&add("tls", &plain, "x").stdout).to_string();
    let out = cli_env(s.dir.path(), &["target", "test", "tls"], &[]);
    let said = said + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("does not speak TLS"), "{said}");
    assert!(add("nowhere", "http://no-such-host.invalid", "x").status.success());
    let out = s.cli(&["target", "test", "nowhere"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("no-such-host.invalid does not resolve"), "{said}");
}

/// Removing a source that manages accounts says what becomes of them and makes the administrator
/// choose: deprovision them through the targets (the safeguard applies), or release them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_source_deprovisions_or_releases_what_it_manages() {
    let s = setup(&binding("entra", "jira", "")).await;
    let okta_token = add_source(s.dir.path(), "okta");
    s.bind(&binding("okta", "jira", ""));
    push_user(&s.scim, "ann", json!({})).await;
    push_user(&s.server.scim("okta", &okta_token), "bob", json!({})).await;
    wait(10, "ann and bob in Jira", || s.data().user("ann").is_some() && s.data().user("bob").is_some()).await;
    let said = |out: std::process::Output| {
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };

    let (ok, text) = said(s.cli(&["source", "remove", "entra", "--purge"]));
    assert!(
        !ok && text.contains("1 in jira") && text.contains("--deprovision") && text.contains("--release"),
        "{text}"
    );
    let (ok, text) = said(s.cli(&["source", "remove", "entra", "--deprovision"]));
    assert!(ok && text.contains("1 in jira"), "{text}");
    wait(10, "ann deactivated by her binding's rule", || !s.data().user("ann").unwrap().active).await;
    let (ok, text) = said(s.cli(&["source", "remove", "entra", "--release"]));
    assert!(ok && text.contains("Source 'entra' removed"), "{text}");

    let (ok, text) = said(s.cli(&["source", "remove", "okta", "--release"]));
    assert!(!ok && text.contains("add --purge"), "nothing released before the refusal: {text}");
    let (ok, text) = said(s.cli(&["source", "remove", "okta", "--purge", "--release"]));
    assert!(ok && text.contains("Released the accounts idsync managed for 'okta': 1 in jira"), "{text}");
    assert!(s.data().user("bob").unwrap().active, "a released account stays as it is");
    let listed = s.cli_json(&["target", "list", "--json"])["items"].clone();
    assert_eq!(listed[0]["managed_users"], 0, "{listed}");
    let log = s.cli_json(&["log", "--source", "okta", "--json"]);
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "release"), "{log}");
}

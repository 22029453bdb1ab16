//! Pull sources end to end: idsync reads identity providers (their simulators, idsync's own SCIM
//! server, scim2-server), stores what changed, and the Jira simulator follows; scheduled runs and
//! sync at login.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::{Credentials, Simulator};

use crate::harness::{add_source, cli_env};
use crate::sync::{Scim2Server, Setup, TOKEN_ENV, binding, groups, push_user, setup, wait};

/// A pull source: idsync reads another SCIM service provider (here a push source of the same
/// server, "origin") and provisions the Jira simulator from what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_scim_source_reaches_jira_and_only_changes_are_written() {
    let s = setup("").await;
    let origin_token = add_source(s.dir.path(), "origin");
    let origin = s.server.scim("origin", &origin_token);
    let ann = push_user(&origin, "ann", json!({})).await;
    let bob = push_user(&origin, "bob", json!({})).await;
    origin.create_group("devs", &[ann.clone(), bob.clone()]).await;
    let url = format!("{}/scim/v2/origin", s.server.root);
    add_pull_source(&s, "mirror", &url, &origin_token);
    let test = s.cli(&["source", "test", "mirror"]);
    assert!(
        String::from_utf8_lossy(&test.stdout).contains("may read users (2 there)"),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    let lookup = s.cli_json(&["source", "lookup", "mirror", "ANN"]);
    assert_eq!((lookup["raw"]["userName"].as_str(), lookup["mapped"]["userName"].as_str()), (Some("ann"), Some("ann")));
    let first = s.cli_json(&["source", "sync", "mirror", "--json"]);
    assert_eq!((first["users_created"].as_u64(), first["groups_created"].as_u64()), (Some(2), Some(1)), "{first}");
    wait(10, "ann and bob in devs", || groups(&s.data(), "ann") == ["devs"] && groups(&s.data(), "bob") == ["devs"])
        .await;
    // Nothing changed: nothing written.
    let again = s.cli_json(&["source", "sync", "mirror", "--json"]);
    assert_eq!(
        (again["users_updated"].as_u64(), again["groups_updated"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(0), Some(2)),
        "{again}"
    );
    // Changes at the origin: bob deactivated, ann out of devs; a deleted user is removed.
    origin.patch(&format!("/Users/{bob}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    let devs = origin.get("/Groups?filter=displayName%20eq%20%22devs%22").await.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    origin
        .patch(&format!("/Groups/{devs}"), json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]))
        .await;
    let third = s.cli_json(&["source", "sync", "mirror", "--json"]);
    assert_eq!((third["users_updated"].as_u64(), third["groups_updated"].as_u64()), (Some(1), Some(1)), "{third}");
    wait(10, "bob deactivated and ann out of devs", || {
        !s.data().user("bob").unwrap().active && groups(&s.data(), "ann").is_empty()
    })
    .await;
    origin.delete(&format!("/Users/{ann}")).await;
    let fourth = s.cli_json(&["source", "sync", "mirror", "--json"]);
    assert_eq!(fourth["users_deleted"].as_u64(), Some(1), "{fourth}");
    wait(10, "ann deactivated after leaving the origin", || !s.data().user("ann").unwrap().active).await;
}

/// A SCIM source read from an independent implementation (scim2-server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_server_as_a_pull_source() {
    let Some(mut peer) = Scim2Server::start("the scim2-server source test").await else { return };
    let remote = peer.scim();
    let mut ids = Vec::new();
    for name in ["ann", "bob", "carl"] {
        ids.push(push_user(&remote, name, json!({})).await);
    }
    let r = remote
        .post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "devs", "members": [{"value": ids[0]}, {"value": ids[1]}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = setup("").await;
    add_pull_source(&s, "peer", &peer.base, peer.token);
    let summary = s.cli_json(&["source", "sync", "peer", "--json"]);
    assert_eq!(
        (summary["users_created"].as_u64(), summary["groups_created"].as_u64()),
        (Some(3), Some(1)),
        "{summary}"
    );
    wait(10, "the peer's users in Jira", || groups(&s.data(), "ann") == ["devs"] && s.data().user("carl").is_some())
        .await;
    peer.stop();
}

/// Adds a SCIM pull source reading `url` with `token`, unchecked.
pub(crate) fn add_unchecked_pull_source(s: &Setup, name: &str, url: &str, token: &str) {
    let config = s.config.to_str().unwrap();
    let args =
        ["--config", config, "source", "add", "--name", name, "--url", url, "--token-env", TOKEN_ENV, "--no-check"];
    let out = cli_env(s.dir.path(), &args, &[(TOKEN_ENV, token)]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A provider that accepts connections and never answers, so a run reading it stays in progress;
/// its SCIM URL, for as long as the listener lives.
pub(crate) fn silent_provider() -> (std::net::TcpListener, String) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/scim/v2", silent.local_addr().unwrap());
    (silent, url)
}

/// Adds a SCIM pull source and binds it to the Jira target.
pub(crate) fn add_pull_source(s: &Setup, name: &str, url: &str, token: &str) {
    let config = s.config.to_str().unwrap();
    let args = ["--config", config, "source", "add", "--name", name, "--url", url, "--token-env", TOKEN_ENV];
    let out = cli_env(s.dir.path(), &args, &[(TOKEN_ENV, token)]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    s.bind(&binding(name, "jira", ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_pull_runs_keep_the_target_in_step() {
    let s = setup("").await;
    let origin_token = add_source(s.dir.path(), "origin");
    let origin = s.server.scim("origin", &origin_token);
    push_user(&origin, "ann", json!({})).await;
    let url = format!("{}/scim/v2/origin", s.server.root);
    add_pull_source(&s, "mirror", &url, &origin_token);
    let bad = s.cli(&["source", "schedule", "mirror", "now and then"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("is not a schedule"));
    let out = s.cli(&["source", "schedule", "mirror", "every 1s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait(15, "ann pulled and provisioned on schedule", || s.data().user("ann").is_some()).await;
    push_user(&origin, "bob", json!({})).await;
    wait(15, "bob too, at a later run", || s.data().user("bob").is_some()).await;
    let shown = s.cli_json(&["source", "show", "mirror", "--json"]);
    assert_eq!(shown["pull"]["schedule"], "every 1s", "{shown}");
    // Runs come every second: the latest may be going on right now.
    assert!(["done", "running"].contains(&shown["pull"]["last_run"]["state"].as_str().unwrap_or_default()), "{shown}");
    assert!(shown["pull"]["next_run"].is_string(), "{shown}");
    let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
    let pulls: Vec<&Value> = runs.as_array().unwrap().iter().filter(|r| r["kind"] == "pull").collect();
    assert!(pulls.len() >= 2, "{runs}");
    assert!(pulls.iter().all(|r| r["state"] != "failed"), "{runs}");
    let out = s.cli(&["source", "schedule", "mirror", "off"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("only with"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sync_provisions_one_user_before_answering() {
    let s = setup("").await;
    let origin_token = add_source(s.dir.path(), "origin");
    let origin = s.server.scim("origin", &origin_token);
    let url = format!("{}/scim/v2/origin", s.server.root);
    add_pull_source(&s, "mirror", &url, &origin_token);
    let issued = s.cli_json(&["source", "login-token", "mirror", "--json"]);
    let token = issued["token"].as_str().unwrap().to_string();
    let endpoint = format!("{}/api/v1/sources/mirror/login-sync", s.server.root);
    let ann = push_user(&origin, "ann", json!({})).await;
    origin.create_group("devs", &[ann]).await;
    let http = crate::harness::http_client();
    let call = |token: &str, body: Value| http.post(&endpoint).bearer_auth(token).json(&body).send();
    // Wrong token, bad body, unknown user: clear answers, nothing stored.
    let wrong = call("wrong", json!({"username": "ann"})).await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json", "refusals are problem documents");
    let bad = call(&token, json!({"user": "ann"})).await.unwrap();
    assert_eq!(bad.status(), 400);
    let nobody = call(&token, json!({"username": "nobody"})).await.unwrap();
    assert_eq!(nobody.status(), 404);
    assert!(nobody.text().await.unwrap().contains("has no user nobody"));
    // The real thing: when the call returns, ann is in Jira with her group.
    let answer = call(&token, json!({"username": "ann"})).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["targets"], json!([{"target": "jira", "result": "applied"}]), "{body}");
    assert_eq!(groups(&s.data(), "ann"), ["devs"]);
    // A new token replaces the old one.
    s.cli_json(&["source", "login-token", "mirror", "--json"]);
    assert_eq!(call(&token, json!({"username": "ann"})).await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sync_answers_in_bounded_time_when_the_provider_is_slow() {
    let s = setup("login_timeout_seconds = 1\n").await;
    // A provider that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/scim/v2", silent.local_addr().unwrap());
    let args = [
        "--config",
        s.config.to_str().unwrap(),
        "source",
        "add",
        "--name",
        "slow",
        "--url",
        &url,
        "--token-env",
        TOKEN_ENV,
        "--no-check",
    ];
    assert!(cli_env(s.dir.path(), &args, &[(TOKEN_ENV, "t")]).status.success());
    s.bind(&binding("slow", "jira", ""));
    let token = s.cli_json(&["source", "login-token", "slow", "--json"])["token"].as_str().unwrap().to_string();
    let started = Instant::now();
    let answer = crate::harness::http_client()
        .post(format!("{}/api/v1/sources/slow/login-sync", s.server.root))
        .bearer_auth(&token)
        .json(&json!({"username": "ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(answer.text().await.unwrap().contains("did not answer within 1 s"));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_users_and_nested_groups_reach_jira() {
    let kc = simulators::keycloak::Keycloak::new(Credentials::default());
    let kc_run = Simulator::Keycloak(kc.clone()).start("127.0.0.1:0").await.unwrap();
    {
        let mut data = kc.data.lock().unwrap();
        let ann = data.add_user("ann", true);
        data.add_user("bob", false);
        let eng = data.add_group("engineering", None, &[]);
        data.add_group("web", Some(&eng), &[&ann]);
    }
    let s = setup("").await;
    let args = [
        "--config",
        s.config.to_str().unwrap(),
        "source",
        "add",
        "--kind",
        "keycloak",
        "--name",
        "kc",
        "--url",
        &kc_run.base_url,
        "--realm",
        "acme",
        "--username",
        "idsync",
        "--password-env",
        TOKEN_ENV,
    ];
    let out = cli_env(s.dir.path(), &args, &[(TOKEN_ENV, &kc.client_secret)]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    s.bind(&binding("kc", "jira", ""));
    let summary = s.cli_json(&["source", "sync", "kc", "--json"]);
    assert_eq!(
        (summary["users_created"].as_u64(), summary["groups_created"].as_u64()),
        (Some(2), Some(2)),
        "{summary}"
    );
    // ann is in web, which is inside engineering: both, flattened; bob is disabled: not created.
    wait(10, "ann in web and engineering", || groups(&s.data(), "ann") == ["engineering", "web"]).await;
    assert!(s.data().user("bob").is_none());
}

/// Every pull kind through the command line: added (checked), read, stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pull_kind_is_added_and_synced_from_the_command_line() {
    use simulators::{
        aws::IdentityStore, entra::Entra, google::Google, okta::Okta, onelogin::OneLogin, oracle::Oracle,
    };
    let s = setup("").await;
    let creds = Credentials::default();
    let entra = Entra::new(creds.clone());
    let okta = Okta::new(creds.clone());
    let onelogin = OneLogin::new(creds.clone());
    let oracle = Oracle::new(creds.clone());
    let google = Google::new(creds.clone());
    let aws = IdentityStore::new(creds.clone());
    entra.data.lock().unwrap().add_user("ann@contoso.com", true);
    okta.data.lock().unwrap().add_user("ann@example.com", "ACTIVE");
    onelogin.data.lock().unwrap().add_user("ann", 1);
    oracle.data.lock().unwrap().add_user("ann", true);
    google.data.lock().unwrap().add_user("ann@example.com", false);
    aws.data.lock().unwrap().add_user("ann");
    let e_run = Simulator::Entra(entra.clone()).start("127.0.0.1:0").await.unwrap();
    let k_run = Simulator::Okta(okta.clone()).start("127.0.0.1:0").await.unwrap();
    let l_run = Simulator::OneLogin(onelogin.clone()).start("127.0.0.1:0").await.unwrap();
    let o_run = Simulator::Oracle(oracle.clone()).start("127.0.0.1:0").await.unwrap();
    let g_run = Simulator::Google(google.clone()).start("127.0.0.1:0").await.unwrap();
    let a_run = Simulator::Aws(aws.clone()).start("127.0.0.1:0").await.unwrap();
    let key_file = s.dir.path().join("google-key.json");
    std::fs::write(&key_file, google.key_file()).unwrap();
    let okta_key = s.dir.path().join("okta-service-app.pem");
    std::fs::write(&okta_key, simulators::common::TEST_KEY).unwrap();
    let config = s.config.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "entra",
            vec![
                "--tenant".into(),
                entra.tenant.clone(),
                "--login-url".into(),
                e_run.base_url.clone(),
                "--username".into(),
                entra.client_id.clone(),
                "--password-env".into(),
                TOKEN_ENV.into(),
            ],
            entra.client_secret.clone(),
        ),
        ("okta", vec!["--token-env".into(), TOKEN_ENV.into()], creds.admin_token.clone()),
        (
            "okta",
            vec!["--username".into(), okta.service_app.clone(), "--key-file".into(), okta_key.display().to_string()],
            String::new(),
        ),
        (
            "onelogin",
            vec!["--username".into(), onelogin.client_id.clone(), "--password-env".into(), TOKEN_ENV.into()],
            onelogin.client_secret.clone(),
        ),
        (
            "oracle",
            vec!["--username".into(), oracle.client_id.clone(), "--password-env".into(), TOKEN_ENV.into()],
            oracle.client_secret.clone(),
        ),
        (
            "google",
            vec!["--admin".into(), google.admin.clone(), "--key-file".into(), key_file.display().to_string()],
            String::new(),
        ),
        (
            "aws",
            vec![
                "--region".into(),
                aws.region.clone(),
                "--identity-store".into(),
                aws.store_id.clone(),
                "--username".into(),
                aws.access_key.clone(),
                "--password-env".into(),
                TOKEN_ENV.into(),
            ],
            aws.secret_key.clone(),
        ),
    ];
    let urls = [
        &e_run.base_url,
        &k_run.base_url,
        &k_run.base_url,
        &l_run.base_url,
        &o_run.base_url,
        &g_run.base_url,
        &a_run.base_url,
    ];
    for (i, ((kind, extra, secret), url)) in cases.iter().zip(urls).enumerate() {
        let name = format!("{kind}-{i}");
        let mut args: Vec<&str> =
            vec!["--config", &config, "source", "add", "--kind", kind, "--name", &name, "--url", url];
        args.extend(extra.iter().map(String::as_str));
        let out = cli_env(s.dir.path(), &args, &[(TOKEN_ENV, secret)]);
        assert!(
            out.status.success(),
            "{kind}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = s.cli_json(&["source", "sync", &name, "--json"]);
        assert_eq!(summary["users_created"].as_u64(), Some(1), "{kind}: {summary}");
    }
}

/// A run stopped by SIGTERM of the command that follows it releases its lock at once; a run
/// outlives a command killed outright, and a run whose server was killed is taken over by the
/// next one and marked interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_killed_run_does_not_keep_its_source_locked() {
    let mut s = setup("").await;
    let (silent, url) = silent_provider();
    add_unchecked_pull_source(&s, "slow", &url, "t");
    let (dir, config) = (s.dir.path().to_str().unwrap().to_string(), s.config.to_str().unwrap().to_string());
    let start_sync = || {
        std::process::Command::new(crate::harness::BIN)
            .args(["--data-dir", &dir, "--config", &config, "source", "sync", "slow"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let running = |s: &crate::sync::Setup| {
        let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
        runs.as_array().unwrap().iter().filter(|r| r["kind"] == "pull" && r["state"] == "running").count()
    };
    let first = start_sync();
    wait(10, "the first run under way", || running(&s) == 1).await;
    let kill = |signal: &str, pid: u32| {
        assert!(std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success())
    };
    kill("-TERM", first.id());
    let out = first.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by a cancel request"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(running(&s), 0, "a stopped run releases its lock");
    let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
    assert_eq!(runs[0]["state"], "interrupted", "{runs}");

    let mut second = start_sync();
    wait(10, "a new run starts at once", || running(&s) == 1).await;
    kill("-KILL", second.id());
    second.wait().unwrap();
    assert_eq!(running(&s), 1, "the run goes on in the server without the command that started it");
    let busy = start_sync().wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("is still going"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    s.restart();
    let mut third = start_sync();
    wait(10, "the killed run's lock is taken over", || {
        let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
        runs.as_array().unwrap().len() == 3 && runs[1]["state"] == "interrupted" && runs[0]["state"] == "running"
    })
    .await;
    let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
    assert!(runs[1]["summary"]["error"].as_str().unwrap().contains("process had ended"), "{runs}");
    let _ = third.kill();
    let _ = third.wait();
    drop(silent);
}

/// A scheduled run going on at shutdown records that it was interrupted before the server ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_at_shutdown_ends_interrupted_not_running() {
    let mut s = setup("").await;
    let (_silent, url) = silent_provider();
    add_unchecked_pull_source(&s, "slow", &url, "t");
    assert!(s.cli(&["source", "schedule", "slow", "every 1s"]).status.success());
    let running = |s: &Setup| {
        s.cli_json(&["runs", "list", "--json"])["items"]
            .clone()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "pull" && r["state"] == "running")
    };
    wait(15, "a scheduled run under way", || running(&s)).await;
    let pid = s.server.child.id();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let started = Instant::now();
    let _ = s.server.child.wait();
    assert!(started.elapsed() < Duration::from_secs(15), "the server ends within its grace");
    let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
    let last = runs.as_array().unwrap().iter().find(|r| r["kind"] == "pull").unwrap();
    assert_eq!(last["state"], "interrupted", "{runs}");
    assert!(last["summary"]["error"].as_str().unwrap().contains("the server shutting down"), "{runs}");
}

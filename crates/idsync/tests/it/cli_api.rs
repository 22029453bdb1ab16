//! The command line as a client of the admin API: saved logins, commands that go through the
//! server holding the data directory (or serve the API themselves), runs that run in the server,
//! and administrators made first on the data directory.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::{Api, admin_token, idsync_with_token};
use crate::harness::{Server, add_source, cli};

#[tokio::test]
async fn login_saves_the_server_and_token_for_later_commands() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path(), "ops", "operate", &[]);
    let server = Server::start(dir.path());
    let xdg = home.path().to_str().unwrap();
    let wrong = crate::harness::cli_env(
        dir.path(),
        &["login", "--server", &server.root],
        &[("IDSYNC_TOKEN", "idsync_admin_0_0"), ("XDG_CONFIG_HOME", xdg)],
    );
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("did not accept the token"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let login = crate::harness::cli_env(
        dir.path(),
        &["login", "--server", &server.root],
        &[("IDSYNC_TOKEN", &token), ("XDG_CONFIG_HOME", xdg)],
    );
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    let saved = home.path().join("idsync/cli.toml");
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    let elsewhere = tempfile::tempdir().unwrap();
    let status = crate::harness::cli_env(elsewhere.path(), &["status", "--json"], &[("XDG_CONFIG_HOME", xdg)]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["database"]["backend"], "sqlite");
    assert!(crate::harness::cli_env(dir.path(), &["logout"], &[("XDG_CONFIG_HOME", xdg)]).status.success());
    assert!(!saved.exists());
    let after = crate::harness::cli_env(elsewhere.path(), &["status"], &[("XDG_CONFIG_HOME", xdg)]);
    assert!(
        String::from_utf8_lossy(&after.stdout).contains("no server runs on this data directory"),
        "without the login, the command works on its own data directory: {}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_syncs_from_the_command_line_apply_each_change_once() {
    let s = crate::sync::setup("[[binding]]\nsource = \"entra\"\ntarget = \"jira\"\n").await;
    let token = admin_token(s.dir.path(), "ops", "operate", &[]);
    crate::sync::push_user(&s.scim, "ann", json!({})).await;
    crate::sync::wait(10, "ann in Jira", || s.data().user("ann").is_some()).await;
    s.data().users.retain(|_, u| u.name != "ann");

    let dry = idsync_with_token(s.dir.path(), &token, &["sync", "--target", "jira", "--dry-run"]);
    let said = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(said.contains("create_user") && said.contains("ann"), "{said}{}", String::from_utf8_lossy(&dry.stderr));
    assert!(s.data().user("ann").is_none(), "a dry run changes nothing");

    let spawn = || {
        std::process::Command::new(crate::harness::BIN)
            .args(["--data-dir", s.dir.path().to_str().unwrap(), "sync", "--target", "jira", "--json"])
            .env("IDSYNC_TOKEN", &token)
            .env("XDG_CONFIG_HOME", s.dir.path().join("no-saved-login"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let mut applied = 0;
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs[0]["state"], "done", "{runs}");
        applied += runs[0]["summary"]["applied"].as_u64().unwrap();
    }
    assert_eq!(applied, 1, "each change reaches the target once, however many syncs ask");
    assert_eq!(s.data().users.values().filter(|u| u.name == "ann").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_sync_runs_in_the_server_and_a_signal_cancels_it_there() {
    let s = crate::sync::setup("").await;
    let token = admin_token(s.dir.path(), "ops", "operate", &[]);
    let origin_token = add_source(s.dir.path(), "origin");
    crate::sync::push_user(&s.server.scim("origin", &origin_token), "ann", json!({})).await;
    crate::pull::add_pull_source(&s, "mirror", &format!("{}/scim/v2/origin", s.server.root), &origin_token);
    let out = idsync_with_token(s.dir.path(), &token, &["source", "sync", "mirror", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["users_created"], 1, "{summary}");
    crate::sync::wait(10, "ann reaches Jira", || s.data().user("ann").is_some()).await;

    let (_silent, url) = crate::pull::silent_provider();
    crate::pull::add_unchecked_pull_source(&s, "slow", &url, "t");
    let child = std::process::Command::new(crate::harness::BIN)
        .args(["--data-dir", s.dir.path().to_str().unwrap(), "source", "sync", "slow"])
        .env("IDSYNC_TOKEN", &token)
        .env("XDG_CONFIG_HOME", s.dir.path().join("no-saved-login"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let api = Api::new(&s.server);
    let running = || async {
        let runs = api.get("/runs?target=slow", &token).await.body;
        runs["items"][0]["state"].as_str().map(String::from)
    };
    for _ in 0..100 {
        if running().await.as_deref() == Some("running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a cancel request"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(running().await.as_deref(), Some("interrupted"));
}

/// Every command goes through an admin API: the running server's, found through the host token it
/// leaves in the data directory, or one the command serves itself while no server runs. Either
/// way its changes are audited, and `--local` is refused while a server holds the directory.
#[tokio::test]
async fn commands_go_through_the_server_that_holds_the_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    add_source(dir.path(), "before");
    let server = Server::start(dir.path());
    add_source(dir.path(), "during");
    let host_access = dir.path().join("local-api.toml");
    assert_eq!(std::fs::metadata(&host_access).unwrap().permissions().mode() & 0o777, 0o600);
    let local = cli(dir.path(), &["admin-token", "create", "--local", "--name", "x", "--scope", "read"]);
    assert!(!local.status.success());
    assert!(String::from_utf8_lossy(&local.stderr).contains("leave out --local"), "{local:?}");
    let admin = admin_token(dir.path(), "root", "admin", &[]);
    let api = Api::new(&server);
    let audit = api.get("/audit?limit=100", &admin).await.body;
    let made: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "source.add")
        .map(|e| (e["object"].as_str().unwrap().to_string(), e["actor"].as_str().unwrap().to_string()))
        .collect();
    assert!(made.contains(&("source/during".into(), "token local-cli".into())), "{audit}");
    assert!(made.contains(&("source/before".into(), "token local-cli".into())), "offline changes are audited: {audit}");
    drop(server);
    add_source(dir.path(), "after");
    let listed = cli(dir.path(), &["source", "list", "--json"]);
    let names: Vec<String> = serde_json::from_slice::<Value>(&listed.stdout).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["after", "before", "during"],
        "a killed server's host token is no way in; the command works alone"
    );
}

/// Administrators of the console: the first made on the data directory, the rest through the
/// API (audited, admin scope only), passwords never shown, the last one kept.
#[tokio::test]
async fn administrators_are_made_locally_first_then_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "correct horse battery\n").unwrap();
    let password = password.to_str().unwrap();
    let first = cli(dir.path(), &["admin", "create", "--local", "--name", "ann", "--password-file", password]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let server = Server::start(dir.path());
    let refused = cli(dir.path(), &["admin", "create", "--local", "--name", "bob", "--password-file", password]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("leave out --local"));
    let short = crate::harness::cli_env(
        dir.path(),
        &["admin", "create", "--name", "bob", "--password-env", "PW"],
        &[("PW", "short")],
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 characters"), "{short:?}");
    assert!(cli(dir.path(), &["admin", "create", "--name", "bob", "--password-file", password]).status.success());
    let listed = cli(dir.path(), &["admin", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bob"]);
    assert!(!listed.to_string().contains("argon2") && !listed.to_string().contains("horse"), "{listed}");

    let api = Api::new(&server);
    let read = admin_token(dir.path(), "viewer", "read", &[]);
    let admin = admin_token(dir.path(), "root", "admin", &[]);
    assert_eq!(api.get("/administrators", &read).await.status, 200);
    let body = json!({"name": "eve", "password": "another long password"});
    api.call(Method::POST, "/administrators", Some(&read), Some(body.clone())).await.problem(403, "forbidden");
    let made = api.call(Method::POST, "/administrators", Some(&admin), Some(body)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let changed = api
        .call(
            Method::PUT,
            "/administrators/eve/password",
            Some(&admin),
            Some(json!({"password": "a third long password"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    for name in ["eve", "bob"] {
        assert_eq!(api.call(Method::DELETE, &format!("/administrators/{name}"), Some(&admin), None).await.status, 204);
    }
    let last = api.call(Method::DELETE, "/administrators/ann", Some(&admin), None).await;
    assert!(last.problem(400, "invalid")["detail"].as_str().unwrap().contains("only administrator"));
    let audit = api.get("/audit?object=administrator/eve", &admin).await.body;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["administrator.remove", "administrator.password", "administrator.add"], "{audit}");
    assert!(!audit.to_string().contains("long password"), "{audit}");
}

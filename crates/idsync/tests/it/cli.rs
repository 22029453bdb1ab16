use serde_json::Value;

use crate::harness::{Server, add_source, cli};

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn source_add_prints_url_and_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["source", "add", "--kind", "scim", "--name", "entra-prod", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 3);
    assert_eq!(v["name"], "entra-prod");
    assert_eq!(v["base_url"], "http://127.0.0.1:8080/scim/v2/entra-prod");
    let token = v["token"].as_str().unwrap();
    assert_eq!(token.len(), 71);
    let show = cli(dir.path(), &["source", "show", "entra-prod", "--json"]);
    assert!(!text(&show).contains(token), "the token is never shown again");
    let db = std::fs::read(dir.path().join("idsync.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()), "only a hash is stored");
    let human = cli(dir.path(), &["source", "add", "--name", "okta"]);
    assert!(text(&human).contains("Bearer token:") && text(&human).contains("/scim/v2/okta"));
    let list = cli(dir.path(), &["source", "list", "--json"]);
    let names: Vec<String> = serde_json::from_slice::<Value>(&list.stdout).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["entra-prod", "okta"]);
}

#[test]
fn names_are_validated_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["Upper", "has space", "-dash", "x_y", ""] {
        let out = cli(dir.path(), &["source", "add", &format!("--name={bad}")]);
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(text(&out).contains("not a valid source name"), "{}", text(&out));
    }
    add_source(dir.path(), "dup");
    let out = cli(dir.path(), &["source", "add", "--name", "dup"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    let out = cli(dir.path(), &["source", "add", "--name", "x", "--kind", "okta"]);
    assert!(text(&out).contains("give its address with --url"), "{}", text(&out));
}

#[test]
fn data_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_source(&data, "a");
    let mode = std::fs::metadata(data.join("idsync.db")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn rotate_and_remove_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let old = add_source(dir.path(), "rot");
    let server = Server::start(dir.path());
    server.scim("rot", &old).create_user("keep").await;

    let out = cli(dir.path(), &["source", "rotate-token", "rot", "--grace", "1h", "--json"]);
    let new: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = new["token"].as_str().unwrap().to_string();
    assert_eq!(server.scim("rot", &old).get("/Users").await.status, 200, "old token works during the grace period");
    assert_eq!(server.scim("rot", &new).get("/Users").await.status, 200);

    let out = cli(dir.path(), &["source", "rotate-token", "rot", "--json"]);
    let newest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = newest["token"].as_str().unwrap().to_string();
    assert_eq!(server.scim("rot", &old).get("/Users").await.status, 401, "without grace the old tokens stop at once");
    assert_eq!(server.scim("rot", &new).get("/Users").await.status, 401);
    assert_eq!(server.scim("rot", &newest).get("/Users").await.status, 200);

    let out = cli(dir.path(), &["source", "remove", "rot"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--purge"), "{}", text(&out));
    let out = cli(dir.path(), &["source", "remove", "rot", "--purge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.scim("rot", &newest).get("/Users").await.status, 401);
}

#[test]
fn config_file_and_environment_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, "version = 1\npublic_url = \"https://idsync.example.com\"\n").unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["source", "add", "--name", "cfg", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(v["base_url"], "https://idsync.example.com/scim/v2/cfg");
    std::fs::write(&config, "version = 1\nlisten_on = \"x\"\n").unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&config)
        .args(["source", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("listen_on"), "{}", text(&out));
    let out = std::process::Command::new(crate::harness::BIN)
        .env("IDSYNC_SCIM__MAX_COUNT", "many")
        .args(["source", "list"])
        .output()
        .unwrap();
    assert!(text(&out).contains("IDSYNC_SCIM__MAX_COUNT"), "{}", text(&out));
}

#[test]
fn the_demo_provisions_its_simulated_targets_and_explains_why() {
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["demo", "--exit", "--pace", "0"])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run idsync demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "create_user      ann",
        "ann is in demo-idp group Engineering (mapped to jira-developers)",
        "deactivate_user  bob",
        "carl is no longer in a demo-idp group that maps to Design",
        "set_lead",
        "project OPS led by admin",
        "confluence now: ann (deactivated)",
    ] {
        assert!(text.contains(expected), "demo output lacks '{expected}':\n{text}");
    }
    // Its own data directory is gone when it ends.
    let line = text.lines().find(|l| l.contains("data and config")).unwrap();
    let dir = line.split_whitespace().last().unwrap();
    assert!(!std::path::Path::new(dir).exists(), "{dir} is left behind");
    // The curl it suggests sends a body the SCIM endpoint accepts.
    let curl = text.lines().find(|l| l.contains("-d '")).unwrap();
    let body = curl.split('\'').nth(1).unwrap();
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:User", "{curl}");
}

#[test]
fn the_demo_honours_the_data_directory_and_address_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let run = || {
        std::process::Command::new(crate::harness::BIN)
            .args(["--data-dir", dir.path().to_str().unwrap(), "--listen", &listen, "demo", "--exit", "--pace", "0"])
            .output()
            .unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("http://{listen}/scim/v2/demo-idp")), "{text}");
    assert!(dir.path().join("idsync.db").exists(), "a directory it was given stays");
    let again = run();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("give the demo an empty --data-dir"));
}

/// What a first-time administrator meets: a filled identity provider to pull from, URLs that
/// name the running server, words instead of JSON, refused values listed, and no panic when the
/// reader of the output goes away.
#[test]
fn a_seeded_simulator_feeds_a_pull_source_and_the_cli_speaks_plainly() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut sim = std::process::Command::new(crate::harness::BIN)
        .args(["simulate", "keycloak", "--users", "30", "--groups", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(sim.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap().rsplit(' ').next().unwrap().to_string();
    let creds = lines.next().unwrap().unwrap();
    assert!(lines.next().unwrap().unwrap().contains("holds 30 users and 3 groups"));
    // "realm R, client id C, client secret S"
    let words: Vec<&str> = creds.split([',', ' ']).filter(|w| !w.is_empty()).collect();
    let (realm, client, secret) = (words[1], words[4], words[7]);
    let args = [
        "source",
        "add",
        "--kind",
        "keycloak",
        "--name",
        "kc",
        "--url",
        &url,
        "--realm",
        realm,
        "--username",
        client,
        "--password-env",
        "KC_SECRET",
    ];
    let out = crate::harness::cli_env(dir.path(), &args, &[("KC_SECRET", secret)]);
    assert!(out.status.success(), "{}", text(&out));
    let synced: Value = serde_json::from_slice(&cli(dir.path(), &["source", "sync", "kc", "--json"]).stdout).unwrap();
    assert_eq!((synced["users_created"].as_u64(), synced["groups_created"].as_u64()), (Some(30), Some(3)), "{synced}");
    let _ = sim.kill();
    let _ = sim.wait();

    // source show: the connector and the last run in words.
    let shown = text(&cli(dir.path(), &["source", "show", "kc"]));
    assert!(shown.contains(&format!("Reads:     keycloak at {url}")), "{shown}");
    assert!(shown.contains("full read: 30 users, 3 groups") && !shown.contains('{'), "{shown}");
    let runs = text(&cli(dir.path(), &["runs", "list"]));
    assert!(!runs.contains('{'), "{runs}");

    // An application's simulator is not filled.
    let out = cli(dir.path(), &["simulate", "jira", "--users", "5"]);
    assert!(!out.status.success() && text(&out).contains("gets its users from idsync"), "{}", text(&out));

    // A result that does not exist is refused with the ones that do.
    let out = cli(dir.path(), &["log", "--result", "sucess"]);
    assert!(
        !out.status.success() && text(&out).contains("applied") && text(&out).contains("conflict"),
        "{}",
        text(&out)
    );

    // A reader that leaves early: no panic, the shell's status for a closed pipe.
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 0.3; {} --data-dir {} source list) | head -n 0",
            crate::harness::BIN,
            dir.path().display()
        ))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&piped.stderr));
}

#[test]
fn urls_name_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    add_source(dir.path(), "entra");
    let server = Server::start(dir.path());
    let list = text(&cli(dir.path(), &["source", "list"]));
    assert!(list.contains(&format!("{}/scim/v2/entra", server.root)), "{} in {list}", server.root);
    let shown: Value = serde_json::from_slice(&cli(dir.path(), &["source", "show", "entra", "--json"]).stdout).unwrap();
    assert_eq!(shown["base_url"], format!("{}/scim/v2/entra", server.root));
}

/// Libraries say what is wrong and attach what to do as data; the CLI renders that as the
/// command to run.
#[test]
fn errors_end_with_the_command_that_helps() {
    let dir = tempfile::tempdir().unwrap();
    let said = |args: &[&str]| {
        let out = cli(dir.path(), args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    assert_eq!(
        said(&["source", "remove", "nobody"]),
        "idsync: there is no source named 'nobody'; 'idsync source list' shows the sources"
    );
    assert!(
        said(&["runs", "approve", "999"]).ends_with("there is no run 999; 'idsync runs list' shows the recent runs")
    );
    add_source(dir.path(), "pushed");
    assert_eq!(
        said(&["source", "sync", "pushed"]),
        "idsync: 'pushed' is not a pull source (or does not exist); 'idsync source list' shows the sources"
    );
    assert!(
        said(&["sync", "--target", "ghost"])
            .ends_with("there is no target named 'ghost'; 'idsync target list' shows the targets")
    );
    let out = crate::harness::cli_env(
        dir.path(),
        &[
            "target",
            "add",
            "--name",
            "jira",
            "--kind",
            "jira",
            "--url",
            "http://127.0.0.1:9",
            "--token-env",
            "T",
            "--no-check",
        ],
        &[("T", "x")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        said(&["sync", "--target", "jira"])
            .ends_with("no binding feeds target 'jira'; bind a source to it with 'idsync binding add --source SOURCE --target jira'"),
        "{}",
        said(&["sync", "--target", "jira"])
    );
}

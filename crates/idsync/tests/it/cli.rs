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
    let names: Vec<String> = serde_json::from_slice::<Value>(&list.stdout)
        .unwrap()
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
    assert!(text(&out).contains("not available yet"), "{}", text(&out));
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
}

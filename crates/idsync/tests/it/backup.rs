//! Configuration backup and restore through the API and the CLI: a full round trip into a fresh
//! installation, sealed secrets, and every bad file refused with nothing changed.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::admin_api::{Api, admin_token};
use crate::harness::{Server, add_source, cli_env};

const PASSPHRASE: &str = "correct horse battery staple";
const TOKEN_ENV: &str = "IDSYNC_TEST_PULL_TOKEN";

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// An installation with every kind of object: push and pull sources (one scheduled), targets of
/// every kind with token and basic credentials, and bindings with rules of each sort.
async fn configure(dir: &Path, api: &Api, admin: &str) {
    for (name, kind, extra) in [
        ("mirror", "scim", vec![]),
        ("okta", "okta", vec!["--schedule", "daily 02:30", "--timezone", "Europe/Berlin", "--max-rate", "5"]),
    ] {
        let mut args = vec![
            "source",
            "add",
            "--name",
            name,
            "--kind",
            kind,
            "--url",
            "http://127.0.0.1:9/api",
            "--token-env",
            TOKEN_ENV,
            "--no-check",
        ];
        args.extend(extra);
        ok(cli_env(dir, &args, &[(TOKEN_ENV, "pull-secret-of-source")]));
    }
    for (name, kind, credentials) in [
        ("jira", "jira", json!({"type": "bearer", "token": "jira-pat"})),
        ("wiki", "confluence", json!({"type": "basic", "username": "svc", "password": "wiki-password"})),
        ("git", "bitbucket", json!({"type": "bearer", "token": "bitbucket-http-token"})),
        ("app", "scim", json!({"type": "bearer", "token": "app-bearer"})),
    ] {
        let body = json!({"name": name, "kind": kind, "url": format!("http://127.0.0.1:9/{name}"), "credentials": credentials, "check": false});
        assert_eq!(api.call(Method::POST, "/targets", Some(admin), Some(body)).await.status, 201);
    }
    for (source, target) in [("hr", "jira"), ("hr", "wiki"), ("mirror", "git"), ("okta", "app")] {
        let body = json!({"source": source, "target": target});
        assert_eq!(api.call(Method::POST, "/bindings", Some(admin), Some(body)).await.status, 201);
    }
    for (key, value) in [
        ("users.username_transform", "{ pattern = '(.*)@corp', replacement = '$1' }"),
        ("groups.default_for_new", "[\"jira-users\"]"),
        ("groups.keep_existing", "false"),
        ("groups.mapping.Eng Team [EU]", "[\"developers\", \"eu\"]"),
        ("users.on_removed", "delete"),
    ] {
        let path = format!("/bindings/hr/jira/rules/{}", crate::harness::urlencode(key));
        let answer = api.call(Method::PUT, &path, Some(admin), Some(json!({"value": value}))).await;
        assert_eq!(answer.status, 200, "{key}: {}", answer.body);
    }
}

async fn backup(server: &Server, admin: &str, passphrase: Option<&str>) -> Value {
    let http = crate::harness::http_client();
    let url = format!("{}/api/v1/backup", server.root);
    let request = match passphrase {
        Some(p) => http.post(&url).json(&json!({"passphrase": p})),
        None => http.get(&url),
    };
    let answer = request.bearer_auth(admin).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    serde_json::from_str(&answer.text().await.unwrap()).unwrap()
}

/// A backup without its own timestamp and checksum, to compare two.
fn timeless(mut doc: Value) -> Value {
    let object = doc.as_object_mut().unwrap();
    object.remove("created");
    object.remove("integrity");
    doc
}

/// The checksum idsync writes: SHA-256 of the compact JSON with the checksum empty, its maps of
/// objects by name in order.
fn resealed(mut doc: Value) -> Value {
    for map in ["sources", "targets", "bindings", "admin_tokens"] {
        if let Some(objects) = doc.get_mut(map).and_then(Value::as_object_mut) {
            let mut sorted: Vec<(String, Value)> = std::mem::take(objects).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            objects.extend(sorted);
        }
    }
    doc["integrity"] = json!("");
    let digest = sha2::Sha256::digest(serde_json::to_vec(&doc).unwrap());
    doc["integrity"] = json!(digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_into_a_fresh_installation_reproduces_it() {
    let a_dir = tempfile::tempdir().unwrap();
    let hr_token = add_source(a_dir.path(), "hr");
    let a_admin = admin_token(a_dir.path(), "root", "admin", &[]);
    let a = Server::start(a_dir.path());
    let a_api = Api::new(&a);
    configure(a_dir.path(), &a_api, &a_admin).await;
    let plain = backup(&a, &a_admin, None).await;
    let sealed = backup(&a, &a_admin, Some(PASSPHRASE)).await;
    assert_eq!(plain["secrets"]["mode"], "omitted");
    assert_eq!(plain["targets"]["wiki"]["credentials"], json!({"state": "omitted"}));
    assert_eq!(sealed["targets"]["wiki"]["credentials"]["state"], "sealed");
    let text = sealed.to_string();
    for secret in ["wiki-password", "jira-pat", "pull-secret-of-source", &hr_token] {
        assert!(!text.contains(secret), "{secret} is in the backup in the clear");
    }
    let keys: Vec<&String> = plain["targets"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["app", "git", "jira", "wiki"], "keyed by name, in order");

    let b_dir = tempfile::tempdir().unwrap();
    let b_admin = admin_token(b_dir.path(), "root", "admin", &[]);
    let b = Server::start(b_dir.path());
    let b_api = Api::new(&b);
    let empty = backup(&b, &b_admin, None).await;

    let file = b_dir.path().join("backup.json");
    std::fs::write(&file, serde_json::to_string_pretty(&sealed).unwrap()).unwrap();
    let phrase = b_dir.path().join("passphrase");
    std::fs::write(&phrase, format!("{PASSPHRASE}\n")).unwrap();
    let env = [("IDSYNC_TOKEN", b_admin.as_str())];
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", file.to_str().unwrap(), "--passphrase-file", phrase.to_str().unwrap()];
        args.extend_from_slice(extra);
        cli_env(b_dir.path(), &args, &env)
    };
    let dry = ok(restore(&["--dry-run"]));
    assert!(
        dry.contains("created    target/wiki (secrets changed)") && dry.contains("dry run: nothing was changed"),
        "{dry}"
    );
    assert_eq!(timeless(backup(&b, &b_admin, None).await), timeless(empty.clone()), "a dry run changes nothing");

    // Part of it: only what was chosen, and never a binding without what it binds.
    let part = ok(restore(&["--only", "target/wiki"]));
    assert!(part.contains("not chosen") && part.contains("restored."), "{part}");
    assert_eq!(b_api.get("/targets/wiki", &b_admin).await.status, 200, "the chosen target is restored");
    assert_eq!(b_api.get("/targets/jira", &b_admin).await.status, 404, "the others are not");
    let orphan = restore(&["--only", "binding/hr/jira"]);
    let said = String::from_utf8_lossy(&orphan.stderr);
    assert!(!orphan.status.success() && said.contains("needs source/hr") && said.contains("choose it too"), "{said}");
    assert_eq!(b_api.get("/sources/hr", &b_admin).await.status, 404, "and nothing changed");

    let done = ok(restore(&[]));
    assert!(done.contains("restored.") && done.contains("pull source 'okta' is paused"), "{done}");
    assert_eq!(timeless(backup(&b, &b_admin, None).await), timeless(plain.clone()), "the same configuration");
    let again = ok(restore(&["--dry-run"]));
    assert!(!again.contains("created") && again.contains("unchanged  target/wiki (secrets unchanged)"), "{again}");
    assert_eq!(b.scim("hr", &hr_token).get("/Users").await.status, 200, "the identity provider's token works here");
    let okta = b_api.get("/sources/okta", &b_admin).await.body;
    assert_eq!(okta["pull"]["paused"], true, "{okta}");
    assert_eq!(b_api.call(Method::POST, "/sources/okta/resume", Some(&b_admin), None).await.status, 204);
    assert_eq!(b_api.get("/sources/okta", &b_admin).await.body["pull"]["paused"], false);

    // Each bad file: a precise refusal, and nothing changed.
    let before = timeless(backup(&b, &b_admin, None).await);
    let audited = b_api.get("/audit?object=config", &b_admin).await.body["items"].as_array().unwrap().len();
    let mut edited = sealed.clone();
    edited["targets"]["jira"]["url"] = json!("http://127.0.0.1:9/elsewhere");
    let mut newer = sealed.clone();
    newer["version"] = json!(2);
    let mut dangling = sealed.clone();
    dangling["bindings"]["hr/nowhere"] = json!({"source": "hr", "target": "nowhere", "rules": {}});
    let mut truncated = sealed.clone();
    truncated.as_object_mut().unwrap().remove("bindings");
    let mut bad_rule = sealed.clone();
    bad_rule["bindings"]["hr/jira"]["rules"]["users"]["username_transform"]["pattern"] = json!("(unclosed");
    let cases = [
        (sealed.clone(), Some("wrong passphrase, long enough"), "does not open"),
        (sealed.clone(), None, "give the passphrase"),
        (edited, Some(PASSPHRASE), "checksum"),
        (newer, Some(PASSPHRASE), "format version 2"),
        (resealed(truncated), Some(PASSPHRASE), "not complete"),
        (resealed(dangling), Some(PASSPHRASE), "names target 'nowhere'"),
        (resealed(bad_rule), Some(PASSPHRASE), "hr → jira"),
        (json!({"format": "something else"}), None, "not an idsync configuration backup"),
    ];
    for (document, passphrase, says) in cases {
        let mut body = json!({"document": document, "mode": "replace"});
        if let Some(p) = passphrase {
            body["passphrase"] = json!(p);
        }
        let refused = b_api.call(Method::POST, "/restore", Some(&b_admin), Some(body)).await;
        let detail = refused.problem(400, "invalid")["detail"].as_str().unwrap().to_string();
        assert!(detail.contains(says), "{says}: {detail}");
        assert_eq!(timeless(backup(&b, &b_admin, None).await), before, "nothing changed after: {detail}");
    }
    std::fs::write(&file, &serde_json::to_string(&sealed).unwrap()[..200]).unwrap();
    let cut = restore(&[]);
    assert!(String::from_utf8_lossy(&cut.stderr).contains("is not JSON"), "{}", String::from_utf8_lossy(&cut.stderr));
    let after = b_api.get("/audit?object=config", &b_admin).await.body["items"].as_array().unwrap().len();
    assert_eq!(after, audited, "no refused restore is in the audit log as done");

    // Replace removes what only this installation has; merge leaves it.
    assert_eq!(
        b_api
            .call(Method::POST, "/bindings", Some(&b_admin), Some(json!({"source": "okta", "target": "jira"})))
            .await
            .status,
        201
    );
    let merge =
        b_api.call(Method::POST, "/restore", Some(&b_admin), Some(json!({"document": plain, "dry_run": true}))).await;
    let change_of = |report: &Value, object: &str| {
        report["changes"].as_array().unwrap().iter().find(|c| c["object"] == object).map(|c| c["change"].clone())
    };
    assert_eq!(change_of(&merge.body, "binding/okta/jira"), Some(json!("only_here")), "{}", merge.body);
    let replace =
        b_api.call(Method::POST, "/restore", Some(&b_admin), Some(json!({"document": plain, "mode": "replace"}))).await;
    assert_eq!(change_of(&replace.body, "binding/okta/jira"), Some(json!("removed")), "{}", replace.body);
    assert!(b_api.get("/bindings/okta/jira", &b_admin).await.status == 404);
    let rotated = b_api
        .call(Method::POST, "/restore", Some(&b_admin), Some(json!({"document": plain, "rotate_scim_tokens": true})))
        .await;
    let fresh = rotated.body["scim_tokens"]["hr"].as_str().unwrap().to_string();
    assert_eq!(b.scim("hr", &fresh).get("/Users").await.status, 200);
    assert_eq!(b.scim("hr", &hr_token).get("/Users").await.status, 401, "the backup's token no longer works");
}

#[tokio::test]
async fn the_database_is_copied_online_and_restored_only_offline() {
    let dir = tempfile::tempdir().unwrap();
    add_source(dir.path(), "hr");
    let server = Server::start(dir.path());
    let copy = dir.path().join("copy.db");
    let said = ok(crate::harness::cli(dir.path(), &["db", "backup", copy.to_str().unwrap()]));
    assert!(said.contains("useless without this installation's secret key"), "{said}");
    let again = crate::harness::cli(dir.path(), &["db", "backup", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let refused = crate::harness::cli(dir.path(), &["db", "restore", copy.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a server is running there"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let second = std::process::Command::new(crate::harness::BIN)
        .args(["--data-dir", dir.path().to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("a server is running there"),
        "one server per data directory: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    drop(server);

    add_source(dir.path(), "later");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let bad = crate::harness::cli(dir.path(), &["db", "restore", junk.to_str().unwrap()]);
    assert!(!bad.status.success());
    let listed = ok(crate::harness::cli(dir.path(), &["source", "list", "--json"]));
    assert!(listed.contains("\"later\""), "a refused restore changes nothing");
    ok(crate::harness::cli(dir.path(), &["db", "restore", copy.to_str().unwrap()]));
    let listed: Value =
        serde_json::from_str(&ok(crate::harness::cli(dir.path(), &["source", "list", "--json"]))).unwrap();
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hr"], "the copy as it was taken");
}

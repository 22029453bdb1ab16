//! Bindings live in the database: a server started before any binding exists still delivers
//! what was pushed once a binding comes, whether it comes while the server runs or while it is
//! down; bindings name only what exists; one broken binding never stops the others.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use simulators::jira::Jira;
use simulators::{Credentials, Simulator};
use store::BindingStore;

use crate::harness::{BIN, Server, add_source};
use crate::sync::{add_target, binding, config_text, groups, push_user, wait};

/// The CLI run from a working directory of its own: bindings must not depend on where it runs.
fn elsewhere(data_dir: &Path, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    Command::new(BIN).current_dir(cwd.path()).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

fn runs(data_dir: &Path) -> Vec<Value> {
    let out = elsewhere(data_dir, &["runs", "list", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_made_before_a_binding_reach_the_target_once_it_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let jira = Jira::new(Credentials::default(), Default::default());
    let running = Simulator::Jira(jira.clone()).start("127.0.0.1:0").await.unwrap();
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, config_text("")).unwrap();
    let entra_token = add_source(dir.path(), "entra");
    add_target(dir.path(), "jira", &running.base_url);
    // The documented order (docs/targets.md): the server first, the binding later.
    let server = Server::start_full(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let scim = server.scim("entra", &entra_token);
    let ann = push_user(&scim, "ann", json!({})).await;
    scim.create_group("Eng.Team", std::slice::from_ref(&ann)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(jira.data.lock().unwrap().user("ann").is_none(), "nothing is bound yet");

    let preview = ok(&elsewhere(dir.path(), &["binding", "add", "--source", "entra", "--target", "jira", "--dry-run"]));
    assert!(preview.contains("create_user") && preview.contains("new entra user ann"), "{preview}");
    assert!(preview.contains("nothing was saved"), "{preview}");
    assert!(ok(&elsewhere(dir.path(), &["binding", "list"])).contains("no bindings"), "a preview saves nothing");

    let added = ok(&elsewhere(dir.path(), &["binding", "add", "--source", "entra", "--target", "jira"]));
    assert!(added.contains("reconciles the target"), "{added}");
    wait(10, "ann reconciled into Jira after the binding came", || {
        groups(&jira.data.lock().unwrap(), "ann") == ["Eng.Team"]
    })
    .await;
    let listed = ok(&elsewhere(dir.path(), &["binding", "list"]));
    assert!(listed.contains("entra → jira") && listed.contains("reconciled"), "{listed}");
    let reconcile = runs(dir.path()).into_iter().find(|r| r["summary"]["cause"].is_string()).expect("a reconcile run");
    assert_eq!(reconcile["summary"]["cause"], "binding entra → jira added", "{reconcile}");

    // A rule that comes later covers what is there: a group name with a dot maps as typed.
    let mapping = ["binding", "set", "entra", "jira", "groups.mapping.Eng.Team", "[\"jira-eng\"]"];
    let preview = ok(&elsewhere(dir.path(), &[&mapping[..], &["--dry-run"]].concat()));
    assert!(preview.contains("add_member") && preview.contains("jira-eng"), "{preview}");
    assert_eq!(groups(&jira.data.lock().unwrap(), "ann"), ["Eng.Team"], "a preview changes nothing");
    ok(&elsewhere(dir.path(), &mapping));
    let shown = ok(&elsewhere(dir.path(), &["binding", "show", "entra", "jira"]));
    assert!(shown.contains("\"Eng.Team\" = [\"jira-eng\"]"), "saved without extra quotes: {shown}");
    wait(10, "ann moved to the mapped group without a manual sync", || {
        groups(&jira.data.lock().unwrap(), "ann") == ["jira-eng"]
    })
    .await;

    // A binding added while no server runs is reconciled when one starts.
    let okta_token = add_source(dir.path(), "okta");
    push_user(&server.scim("okta", &okta_token), "carl", json!({})).await;
    drop(server);
    ok(&elsewhere(dir.path(), &["binding", "add", "--source", "okta", "--target", "jira"]));
    let listed = ok(&elsewhere(dir.path(), &["binding", "list"]));
    assert!(listed.contains("okta → jira") && listed.contains("reconcile due"), "{listed}");
    let server = Server::start_full(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    wait(10, "carl reconciled at start", || jira.data.lock().unwrap().user("carl").is_some()).await;
    push_user(&server.scim("entra", &entra_token), "dora", json!({})).await;
    wait(10, "a later push flows in real time", || jira.data.lock().unwrap().user("dora").is_some()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_name_what_exists_and_a_broken_one_stops_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let jira = Jira::new(Credentials::default(), Default::default());
    let running = Simulator::Jira(jira.clone()).start("127.0.0.1:0").await.unwrap();
    let other = Jira::new(Credentials::default(), Default::default());
    let other_running = Simulator::Jira(other.clone()).start("127.0.0.1:0").await.unwrap();
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, config_text("") + &binding("entra", "jira", "")).unwrap();
    let entra_token = add_source(dir.path(), "entra");
    add_target(dir.path(), "jira", &running.base_url);
    add_target(dir.path(), "other", &other_running.base_url);

    let refused = elsewhere(dir.path(), &["binding", "add", "--source", "nobody", "--target", "jira"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no source named 'nobody'"));
    let refused = elsewhere(dir.path(), &["binding", "add", "--source", "entra", "--target", "nowhere"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no target named 'nowhere'"));

    // The old file's tables are imported once, and only from the file named.
    let imported = ok(&elsewhere(dir.path(), &["binding", "import", config.to_str().unwrap()]));
    assert!(imported.contains("entra → jira: imported"), "{imported}");
    let again = ok(&elsewhere(dir.path(), &["binding", "import", config.to_str().unwrap()]));
    assert!(again.contains("exists already"), "{again}");
    ok(&elsewhere(dir.path(), &["binding", "add", "--source", "entra", "--target", "other"]));

    // Break one binding behind the CLI's back, as a hand edit of the database would.
    {
        let store = store::sqlite::SqliteStore::open(&dir.path().join("idsync.db"), Default::default()).await.unwrap();
        let bad = json!({"users": {"username_transform": {"pattern": "(", "replacement": "x"}}});
        store.set_binding_rules("entra", "other", &bad).await.unwrap();
        store.close().await;
    }
    let server = Server::start_full(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    push_user(&server.scim("entra", &entra_token), "ann", json!({})).await;
    wait(10, "the sound binding still delivers", || jira.data.lock().unwrap().user("ann").is_some()).await;
    assert!(other.data.lock().unwrap().user("ann").is_none(), "the broken binding delivers nothing");
    let listed = ok(&elsewhere(dir.path(), &["binding", "list"]));
    assert!(listed.contains("entra → other") && listed.contains("broken:") && listed.contains("pattern"), "{listed}");
    let logged = server.logged();
    assert!(
        logged.contains("[[binding]] tables, which idsync does not read") && logged.contains("binding import"),
        "{logged}"
    );
    assert!(logged.contains("a binding's rules cannot be used"), "{logged}");

    // Removing a target takes its bindings along and says so.
    let removed = ok(&elsewhere(dir.path(), &["target", "remove", "other"]));
    assert!(removed.contains("removed its bindings with it: entra → other"), "{removed}");
    let listed = ok(&elsewhere(dir.path(), &["binding", "list"]));
    assert!(!listed.contains("other"), "{listed}");
}

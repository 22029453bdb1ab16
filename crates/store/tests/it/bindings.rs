//! Bindings: they name only sources and targets that exist, go with either, and every change of
//! configuration moves the configuration version a running server polls.

use serde_json::json;
use store::{BindingStore, Store, SyncStore};

#[tokio::test]
async fn bindings_need_their_source_and_target_and_go_with_either() {
    let (_d, store, _) = super::open().await;
    store.create_target("jira", "jira", "http://jira", b"sealed").await.unwrap();
    let err = store.add_binding("nobody", "jira", &json!({})).await.unwrap_err().to_string();
    assert!(err.contains("no source named 'nobody'"), "{err}");
    let err = store.add_binding("test", "wiki", &json!({})).await.unwrap_err().to_string();
    assert!(err.contains("no target named 'wiki'"), "{err}");
    assert!(store.bindings().await.unwrap().is_empty(), "a refused binding leaves nothing behind");

    let added = store.add_binding("test", "jira", &json!({"groups": {"keep_existing": true}})).await.unwrap();
    assert_eq!((added.revision, added.reconciled), (1, 0));
    assert!(added.needs_reconcile());
    let err = store.add_binding("test", "jira", &json!({})).await.unwrap_err().to_string();
    assert!(err.contains("exists already"), "{err}");

    store.remove_target("jira").await.unwrap();
    assert!(store.bindings().await.unwrap().is_empty(), "removing the target removes its bindings");

    store.create_target("jira", "jira", "http://jira", b"sealed").await.unwrap();
    store.add_binding("test", "jira", &json!({})).await.unwrap();
    store.remove_source("test", true).await.unwrap();
    assert!(store.bindings().await.unwrap().is_empty(), "removing the source removes its bindings");
}

#[tokio::test]
async fn rule_changes_raise_the_revision_until_reconciled() {
    let (_d, store, _) = super::open().await;
    store.create_target("jira", "jira", "http://jira", b"sealed").await.unwrap();
    store.add_binding("test", "jira", &json!({})).await.unwrap();
    store.binding_reconciled("test", "jira", 1).await.unwrap();
    assert!(!store.binding("test", "jira").await.unwrap().unwrap().needs_reconcile());
    let changed = store.set_binding_rules("test", "jira", &json!({"users": {"import": false}})).await.unwrap();
    assert_eq!((changed.revision, changed.reconciled), (2, 1));
    assert_eq!(changed.rules, json!({"users": {"import": false}}));
    // A reconcile that started before the change does not mark the newer revision as done.
    store.binding_reconciled("test", "jira", 1).await.unwrap();
    assert!(store.binding("test", "jira").await.unwrap().unwrap().needs_reconcile());
    let err = store.set_binding_rules("test", "wiki", &json!({})).await.unwrap_err().to_string();
    assert!(err.contains("no binding test → wiki"), "{err}");
}

#[tokio::test]
async fn configuration_changes_move_the_version_and_work_does_not() {
    let (_d, store, src) = super::open().await;
    let mut versions = vec![store.config_version().await.unwrap()];
    store.create_target("jira", "jira", "http://jira", b"sealed").await.unwrap();
    versions.push(store.config_version().await.unwrap());
    store.update_target("jira", Some("http://jira2"), None).await.unwrap();
    versions.push(store.config_version().await.unwrap());
    store.add_binding("test", "jira", &json!({})).await.unwrap();
    versions.push(store.config_version().await.unwrap());
    store.set_binding_rules("test", "jira", &json!({"users": {"update": false}})).await.unwrap();
    versions.push(store.config_version().await.unwrap());
    store.rotate_token("test", &[9; 32], 0).await.unwrap();
    versions.push(store.config_version().await.unwrap());
    assert!(versions.windows(2).all(|w| w[1] > w[0]), "each change moves the version: {versions:?}");

    let before = store.config_version().await.unwrap();
    store.binding_reconciled("test", "jira", 2).await.unwrap();
    store.set_target_health("jira", false, "down").await.unwrap();
    store
        .create(src, model::ResourceKind::User, json!({"userName": "ann"}).as_object().unwrap().clone(), vec![])
        .await
        .unwrap();
    assert_eq!(store.config_version().await.unwrap(), before, "reconciles, health and records are not configuration");

    store.remove_binding("test", "jira").await.unwrap();
    assert!(store.config_version().await.unwrap() > before, "removing a binding moves the version");
}

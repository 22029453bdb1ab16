//! The sync engine's state: membership journal, outbox generations, ownership, events.

use model::ResourceKind;
use model::resource::MemberRef;
use model::target::{Grant, GrantOrigin, UserLink};
use serde_json::json;
use store::{ChangeKind, Event, EventQuery, OutboxKey, OwnershipChange, Store, SyncStore};

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn membership_changes_are_journaled_per_member_even_when_the_group_goes() {
    let (_d, store, src) = super::open().await;
    let u = store.create(src, ResourceKind::User, obj(json!({"userName": "ann"})), vec![]).await.unwrap();
    let g = store
        .create(
            src,
            ResourceKind::Group,
            obj(json!({"displayName": "devs"})),
            vec![MemberRef { value: u.id.clone(), kind: None, display: None }],
        )
        .await
        .unwrap();
    let before = store.changes_since(0, 100).await.unwrap().last().unwrap().seq;
    store.delete(src, ResourceKind::Group, &g.id, None).await.unwrap();
    let after = store.changes_since(before, 100).await.unwrap();
    assert!(
        after.iter().any(|c| c.kind == ChangeKind::Member && c.resource_id == u.id && c.change == "left"),
        "{after:?}"
    );
    let all = store.changes_since(0, 100).await.unwrap();
    assert!(all.iter().any(|c| c.kind == ChangeKind::Member && c.change == "joined"));
}

fn key(id: &str) -> OutboxKey {
    OutboxKey { target: "jira".into(), source: "entra".into(), source_id: id.into() }
}

/// The first moment of `y`.
fn year(y: u16) -> store::Time {
    format!("{y:04}-01-01T00:00:00Z").parse().unwrap()
}

#[tokio::test]
async fn outbox_rows_coalesce_and_survive_a_newer_change() {
    let (_d, store, _src) = super::open().await;
    store.create_target("jira", "jira", "http://x", b"secret").await.unwrap();
    store.enqueue(&[key("1"), key("1"), key("2")], 42).await.unwrap();
    assert_eq!(store.journal_cursor().await.unwrap(), 42);
    let due = store.due("jira", year(9999), 10).await.unwrap();
    assert_eq!(due.len(), 2, "two users, one row each");
    // A change arrives while the row is being worked on: finishing the old work keeps the row.
    store.enqueue(&[key("1")], 43).await.unwrap();
    store.complete(&due).await.unwrap();
    let left = store.due("jira", year(9999), 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key.source_id, "1");
    store.reschedule(&left[0], year(9000), "target down").await.unwrap();
    assert!(store.due("jira", year(5000), 10).await.unwrap().is_empty());
    let again = store.due("jira", year(9999), 10).await.unwrap();
    assert_eq!((again[0].attempts, again[0].last_error.as_deref()), (1, Some("target down")));
    // Rows for a target that does not exist are not kept.
    store.enqueue(&[OutboxKey { target: "gone".into(), ..key("3") }], 44).await.unwrap();
    assert_eq!(store.pending("gone").await.unwrap(), 0);
}

#[tokio::test]
async fn ownership_links_grants_and_renames() {
    let (_d, store, _src) = super::open().await;
    store.create_target("jira", "jira", "http://x", b"s").await.unwrap();
    let link = UserLink { source: "entra".into(), source_id: "1".into(), name: "Ann".into() };
    let grant =
        Grant { source: "entra".into(), group: "Devs".into(), user: "Ann".into(), origin: GrantOrigin::DefaultForNew };
    store
        .record_ownership("jira", &[OwnershipChange::Link(link.clone()), OwnershipChange::Grant(grant.clone())])
        .await
        .unwrap();
    let owned = store.ownership("jira", &[("entra".into(), "1".into())], &[]).await.unwrap();
    assert_eq!(owned.users, vec![link.clone()]);
    assert_eq!(owned.grants, vec![grant]);
    let by_name = store.ownership("jira", &[], &["ANN".into()]).await.unwrap();
    assert_eq!(by_name.users.len(), 1);
    store
        .record_ownership(
            "jira",
            &[OwnershipChange::Rename {
                source: "entra".into(),
                source_id: "1".into(),
                old_name: "Ann".into(),
                new_name: "ann.lee".into(),
            }],
        )
        .await
        .unwrap();
    let owned = store.all_ownership("jira").await.unwrap();
    assert_eq!(owned.users[0].name, "ann.lee");
    assert_eq!(owned.grants[0].user, "ann.lee");
    store
        .record_ownership(
            "jira",
            &[OwnershipChange::Unlink { source: "entra".into(), source_id: "1".into(), name: "ann.lee".into() }],
        )
        .await
        .unwrap();
    assert_eq!(store.all_ownership("jira").await.unwrap(), Default::default());
    assert_eq!(store.managed_users("jira").await.unwrap(), 0);
    // Removing the target removes what idsync owned there.
    store.record_ownership("jira", &[OwnershipChange::Link(link)]).await.unwrap();
    store.remove_target("jira").await.unwrap();
    store.create_target("jira", "jira", "http://x", b"s").await.unwrap();
    assert_eq!(store.managed_users("jira").await.unwrap(), 0);
}

#[tokio::test]
async fn events_filter_by_user_group_target_and_result() {
    let (_d, store, _src) = super::open().await;
    let ev = |user: &str, group: Option<&str>, result: &str, action: &str| Event {
        source: "entra".into(),
        target: "jira".into(),
        user: Some(user.into()),
        group: group.map(String::from),
        action: action.into(),
        reason: "because".into(),
        result: result.into(),
        ..Event::default()
    };
    store
        .record_events(&[
            ev("ann", None, "applied", "create_user"),
            ev("ann", Some("devs"), "applied", "add_member"),
            ev("bob", Some("devs"), "failed", "add_member"),
            ev("bob", None, "applied", "deactivate_user"),
        ])
        .await
        .unwrap();
    let q = |f: fn(&mut EventQuery)| {
        let mut q = EventQuery { limit: 100, ..EventQuery::default() };
        f(&mut q);
        q
    };
    assert_eq!(store.events(&q(|q| q.user = Some("ANN".into()))).await.unwrap().len(), 2);
    assert_eq!(store.events(&q(|q| q.group = Some("devs".into()))).await.unwrap().len(), 2);
    let failed = store.events(&q(|q| q.result = Some("failed".into()))).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].user.as_deref(), Some("bob"));
    assert_eq!(store.events(&q(|q| q.target = Some("other".into()))).await.unwrap().len(), 0);
    let newest = store.events(&q(|q| q.limit = 1)).await.unwrap();
    assert_eq!(newest[0].action, "deactivate_user");
    assert_eq!(store.deprovisioned_since("jira", year(2000)).await.unwrap(), 1);
    // Retention: entries older than the cut-off go, newer ones stay.
    let old = Event { at: "2001-01-01T00:00:00.000Z".parse().unwrap(), ..ev("old", None, "applied", "create_user") };
    store.record_events(&[old]).await.unwrap();
    assert_eq!(store.prune_log(year(2020)).await.unwrap(), 1);
    assert_eq!(store.events(&q(|q| q.limit = 100)).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_run_lock_is_held_by_a_live_holder_and_taken_over_from_a_stale_one() {
    use std::time::Duration;
    use store::{RunKind, RunLock, RunStart, RunState};
    let (_d, store, _) = super::open().await;
    let alive = |_: &str| false;
    let gone = |holder: &str| holder == "host:1";
    let minute = Duration::from_secs(60);
    let RunStart::Started { id: first, took_over: None } =
        store.start_run(RunKind::Pull, "okta", "host:1", minute, &alive).await.unwrap()
    else {
        panic!("the first run starts")
    };
    match store.start_run(RunKind::Pull, "okta", "host:2", minute, &alive).await.unwrap() {
        RunStart::Busy(r) => assert_eq!(r.id, first),
        other => panic!("a live holder keeps the lock: {other:?}"),
    }
    assert!(matches!(
        store.start_run(RunKind::Pull, "entra", "host:2", minute, &alive).await.unwrap(),
        RunStart::Started { .. }
    ));
    // The holder's process is gone: taken over at once, the old run marked interrupted.
    let RunStart::Started { id: second, took_over } =
        store.start_run(RunKind::Pull, "okta", "host:2", minute, &gone).await.unwrap()
    else {
        panic!("a gone holder's lock is taken over")
    };
    assert_eq!(took_over, Some(first));
    let old = store.run(first).await.unwrap().unwrap();
    assert_eq!(old.state, RunState::Interrupted);
    assert!(old.summary["error"].as_str().unwrap().contains("process had ended"), "{:?}", old.summary);
    // A lease that lapsed frees the lock even when nobody can tell whether the holder lives.
    store.renew_run(second, Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let RunStart::Started { took_over, .. } =
        store.start_run(RunKind::Pull, "okta", "elsewhere:9", minute, &alive).await.unwrap()
    else {
        panic!("a lapsed lease is taken over")
    };
    assert_eq!(took_over, Some(second));
    assert!(store.run(second).await.unwrap().unwrap().summary["error"].as_str().unwrap().contains("lease lapsed"));
}

/// Run kinds and states are stored, and shown, by fixed names; a name the store does not know is
/// a fault, not a default.
#[test]
fn run_kinds_and_states_keep_their_names() {
    use store::{RunKind, RunState};
    for kind in [RunKind::Full, RunKind::DryRun, RunKind::Realtime, RunKind::Pull] {
        assert_eq!(kind.as_str().parse::<RunKind>(), Ok(kind));
    }
    let states = [
        RunState::Running,
        RunState::Done,
        RunState::Failed,
        RunState::Held,
        RunState::Approved,
        RunState::Rejected,
        RunState::Interrupted,
    ];
    for state in states {
        assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
    }
    assert_eq!(RunKind::DryRun.as_str(), "dry-run");
    assert_eq!(format!("{:<9}|", RunState::Held), "held     |", "tables pad them");
    assert!("paused".parse::<RunState>().is_err());
    assert!(!RunState::Held.is_finished() && RunState::Interrupted.is_finished());
}

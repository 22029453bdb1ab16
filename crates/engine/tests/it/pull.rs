//! A pull run's snapshot into a real SQLite store: matching by external id, only changes written,
//! nothing removed from an incomplete read.

use engine::sync::apply_snapshot;
use serde_json::json;
use sources::{PulledGroup, PulledUser, Snapshot};
use store::sqlite::{Durability, SqliteStore};
use store::{ChangeKind, Load, Store};

fn user(id: &str, name: &str) -> PulledUser {
    let record = json!({"userName": name, "active": true, "emails": [{"value": format!("{name}@x.org")}]});
    PulledUser { external_id: id.into(), record: record.as_object().unwrap().clone() }
}

fn group(id: &str, name: &str, members: &[&str]) -> PulledGroup {
    PulledGroup { external_id: id.into(), name: name.into(), members: members.iter().map(|m| m.to_string()).collect() }
}

fn snapshot(users: Vec<PulledUser>, groups: Vec<PulledGroup>, complete: bool) -> Snapshot {
    Snapshot { users, groups, complete, ..Snapshot::default() }
}

#[tokio::test]
async fn snapshots_write_only_changes_and_never_remove_from_an_incomplete_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStore::open(&dir.path().join("t.db"), Durability::Process).await.unwrap();
    let source = db.create_source("idp", "scim", &[1; 32]).await.unwrap();
    let full = || {
        snapshot(
            vec![user("u1", "ann"), user("u2", "bob")],
            vec![group("g1", "devs", &["u1", "g2"]), group("g2", "web", &["u2"])],
            true,
        )
    };
    let first = apply_snapshot(&db, &source, full()).await.unwrap();
    assert_eq!((first.users_created, first.groups_created), (2, 2));
    let cursor = db.changes_since(0, 10_000).await.unwrap().last().unwrap().seq;
    let again = apply_snapshot(&db, &source, full()).await.unwrap();
    assert_eq!((again.users_updated, again.groups_updated, again.unchanged), (0, 0, 2));
    assert!(db.changes_since(cursor, 100).await.unwrap().is_empty(), "an unchanged read writes nothing");

    // bob is missing from a read that failed part-way: kept.
    let mut partial = snapshot(vec![user("u1", "ann")], vec![], false);
    partial.problems.push("reading users stopped after 1".into());
    let kept = apply_snapshot(&db, &source, partial).await.unwrap();
    assert_eq!((kept.users_deleted, kept.groups_deleted), (0, 0));
    assert!(kept.problems.iter().any(|p| p.contains("incomplete")), "{:?}", kept.problems);
    assert_eq!(db.source("idp").await.unwrap().unwrap().users, 2);

    // A complete read without bob removes him; a member leaving is one membership change.
    let cursor = db.changes_since(0, 10_000).await.unwrap().last().unwrap().seq;
    let complete = snapshot(vec![user("u1", "ann")], vec![group("g1", "devs", &["g2"]), group("g2", "web", &[])], true);
    let after = apply_snapshot(&db, &source, complete).await.unwrap();
    assert_eq!(after.users_deleted, 1);
    let journal = db.changes_since(cursor, 100).await.unwrap();
    let ann_left = journal.iter().filter(|c| c.kind == ChangeKind::Member && c.change == "left").count();
    assert!(ann_left >= 1, "{journal:?}");
    let devs = db
        .list(
            source.id,
            model::ResourceKind::Group,
            &store::ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index: 1,
                count: 10,
                load: Load { members: true, groups: false, member_limit: None },
            },
        )
        .await
        .unwrap();
    let devs = devs.items.iter().find(|g| g.data["displayName"] == "devs").unwrap();
    assert_eq!(devs.members.as_ref().unwrap().len(), 1, "only the nested group is left in devs");

    // A record the store refuses is reported and left as it was, not removed.
    let mut bad = user("u1", "ann");
    bad.record.insert("active".into(), json!("maybe"));
    let refused = apply_snapshot(&db, &source, snapshot(vec![bad], vec![], true)).await.unwrap();
    assert_eq!(refused.users_deleted, 0);
    assert!(refused.problems.iter().any(|p| p.contains("u1 left as it was")), "{:?}", refused.problems);
}

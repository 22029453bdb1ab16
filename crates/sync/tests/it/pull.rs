//! A pull run's snapshot into a real SQLite store: matching by external id, only changes written,
//! nothing removed from an incomplete read.

use serde_json::json;
use sources::{PulledGroup, PulledUser, Snapshot};
use store::sqlite::{Durability, SqliteStore};
use store::{ChangeKind, Load, Store};
use sync::{apply_changes, apply_snapshot};

fn user(id: &str, name: &str) -> PulledUser {
    let record = json!({"userName": name, "active": true, "emails": [{"value": format!("{name}@x.org")}]});
    PulledUser { external_id: id.into(), record: record.as_object().unwrap().clone() }
}

fn group(id: &str, name: &str, members: &[&str]) -> PulledGroup {
    PulledGroup::new(id, name, members.iter().map(|m| m.to_string()).collect())
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
    assert_eq!(members_of(&db, &source, "g1").await, ["g2"], "only the nested group is left in devs");

    // A record the store refuses is reported and left as it was, not removed.
    let mut bad = user("u1", "ann");
    bad.record.insert("active".into(), json!("maybe"));
    let refused = apply_snapshot(&db, &source, snapshot(vec![bad], vec![], true)).await.unwrap();
    assert_eq!(refused.users_deleted, 0);
    assert!(refused.problems.iter().any(|p| p.contains("u1 left as it was")), "{:?}", refused.problems);
}

/// Names of the members of a stored group, by the provider's ids.
async fn members_of(db: &SqliteStore, source: &store::Source, external_id: &str) -> Vec<String> {
    let groups = db
        .list(
            source.id,
            model::ResourceKind::Group,
            &store::ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index: 1,
                count: 100,
                load: Load { members: true, groups: false, member_limit: None },
            },
        )
        .await
        .unwrap();
    let group = groups.items.into_iter().find(|g| g.data["externalId"] == external_id).unwrap();
    let mut names = Vec::new();
    for m in group.members.unwrap_or_default() {
        for kind in [model::ResourceKind::User, model::ResourceKind::Group] {
            if let Some(r) = db.get(source.id, kind, &m.id, Load::default()).await.unwrap() {
                names.push(r.data["externalId"].as_str().unwrap().to_string());
            }
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn change_sets_write_what_changed_apply_reported_deletions_and_scope_exits() {
    use sources::{ChangedGroup, Changes, MemberChanges};
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStore::open(&dir.path().join("t.db"), Durability::Process).await.unwrap();
    let source = db.create_source("idp", "entra", &[1; 32]).await.unwrap();
    let start = snapshot(
        vec![user("u1", "ann"), user("u2", "bob"), user("u3", "cy")],
        vec![group("g1", "devs", &["u1", "u2"]), group("g2", "ops", &["u3"])],
        true,
    );
    apply_snapshot(&db, &source, start).await.unwrap();

    let mut renamed = user("u2", "bob");
    renamed.record.insert("active".into(), json!(false));
    let changes = Changes {
        users: vec![renamed, user("u4", "dee"), user("u1", "ann")],
        groups: vec![
            ChangedGroup {
                external_id: "g1".into(),
                name: None,
                members: MemberChanges::Delta { added: vec!["u4".into(), "gone".into()], removed: vec!["u1".into()] },
                attributes: None,
            },
            ChangedGroup {
                external_id: "g3".into(),
                name: Some("web".into()),
                members: MemberChanges::All(vec!["u4".into(), "g1".into()]),
                attributes: None,
            },
        ],
        removed_groups: vec!["g2".into()],
        complete: true,
        ..Changes::default()
    };
    let summary = apply_changes(&db, &source, changes).await.unwrap();
    assert!(summary.incremental);
    assert_eq!(
        (
            summary.users_created,
            summary.users_updated,
            summary.unchanged,
            summary.groups_created,
            summary.groups_deleted
        ),
        (1, 1, 1, 1, 1),
        "{summary:?}"
    );
    assert_eq!(members_of(&db, &source, "g1").await, ["u2", "u4"], "a delta; unknown members are left out");
    assert_eq!(members_of(&db, &source, "g3").await, ["g1", "u4"]);

    // A reported deletion is applied even when a later page failed; a scope is not.
    let partial = Changes {
        removed_users: vec!["u3".into()],
        scope: Some(vec!["u1".into()]),
        complete: false,
        ..Changes::default()
    };
    let summary = apply_changes(&db, &source, partial).await.unwrap();
    assert_eq!(summary.users_deleted, 1);
    assert!(summary.problems.iter().any(|p| p.contains("scope")), "{:?}", summary.problems);
    assert_eq!(db.source("idp").await.unwrap().unwrap().users, 3);

    // A user whose whole set of groups is known (OneLogin's roles): joined and left to match.
    let roles = Changes { memberships: vec![("u2".into(), vec!["g3".into()])], complete: true, ..Changes::default() };
    apply_changes(&db, &source, roles).await.unwrap();
    assert_eq!(members_of(&db, &source, "g3").await, ["g1", "u2", "u4"], "u2 joined g3");
    assert_eq!(members_of(&db, &source, "g1").await, ["u4"], "and left g1");

    // A complete read with a scope: those outside it leave.
    let scoped = Changes { scope: Some(vec!["u1".into(), "u4".into()]), complete: true, ..Changes::default() };
    let summary = apply_changes(&db, &source, scoped).await.unwrap();
    assert_eq!(summary.users_deleted, 1, "bob left the scope");
    assert_eq!(db.source("idp").await.unwrap().unwrap().users, 2);
}

/// A group's further attributes (LDAP's mail and description) are stored from a full read, kept
/// by an incremental change that does not report them, and replaced by one that does.
#[tokio::test]
async fn group_attributes_are_stored_kept_and_replaced() {
    use sources::{ChangedGroup, Changes, GROUP_EXTENSION, MemberChanges};
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStore::open(&dir.path().join("t.db"), Durability::Process).await.unwrap();
    let source = db.create_source("idp", "ldap", &[1; 32]).await.unwrap();
    let mut devs = group("g1", "devs", &["u1"]);
    devs.attributes.insert(GROUP_EXTENSION.into(), json!({"mail": "devs@x.org", "description": "Developers"}));
    apply_snapshot(&db, &source, snapshot(vec![user("u1", "ann")], vec![devs.clone()], true)).await.unwrap();
    let found = extension_of(&db, &source).await;
    assert_eq!(found, Some(json!({"mail": "devs@x.org", "description": "Developers"})));
    let again = apply_snapshot(&db, &source, snapshot(vec![user("u1", "ann")], vec![devs], true)).await.unwrap();
    assert_eq!(again.groups_updated, 0, "unchanged attributes write nothing");

    let renamed = |attributes| Changes {
        groups: vec![ChangedGroup {
            external_id: "g1".into(),
            name: Some("developers".into()),
            members: MemberChanges::Same,
            attributes,
        }],
        complete: true,
        ..Changes::default()
    };
    apply_changes(&db, &source, renamed(None)).await.unwrap();
    let found = extension_of(&db, &source).await;
    assert_eq!(found.unwrap()["mail"], "devs@x.org", "not reported: kept");
    let new = serde_json::Map::from_iter([(GROUP_EXTENSION.to_string(), json!({"mail": "dev@x.org"}))]);
    apply_changes(&db, &source, renamed(Some(new))).await.unwrap();
    assert_eq!(extension_of(&db, &source).await, Some(json!({"mail": "dev@x.org"})));
}

async fn extension_of(db: &SqliteStore, source: &store::Source) -> Option<serde_json::Value> {
    let query = store::ListQuery {
        filter: None,
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 10,
        load: Load::default(),
    };
    let list = db.list(source.id, model::ResourceKind::Group, &query).await.unwrap();
    list.items[0].data.get(sources::GROUP_EXTENSION).cloned()
}

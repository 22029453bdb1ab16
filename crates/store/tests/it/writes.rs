use model::ResourceKind;
use model::patch::MemberChange;
use model::resource::MemberRef;
use serde_json::{Map, Value, json};
use store::sqlite::{Durability, SqliteStore};
use store::{Load, Store, StoreError};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn member(id: &str) -> MemberRef {
    MemberRef { value: id.into(), kind: None, display: None }
}

#[tokio::test]
async fn every_write_is_journaled_in_order() {
    let (_d, store, src) = super::open().await;
    let u = store.create(src, ResourceKind::User, obj(json!({"userName": "a"})), vec![]).await.unwrap();
    let replacement = obj(json!({"userName": "a", "title": "x"}));
    let put: store::Mutation = Box::new(move |d| {
        d.clone_from(&replacement);
        Ok(vec![])
    });
    store.update(src, ResourceKind::User, &u.id, Some(1), put, Load::default()).await.unwrap();
    store
        .update(
            src,
            ResourceKind::User,
            &u.id,
            None,
            Box::new(|d| {
                d.insert("title".into(), json!("y"));
                Ok(vec![])
            }),
            Load::default(),
        )
        .await
        .unwrap();
    // A PATCH that changes nothing writes nothing.
    store.update(src, ResourceKind::User, &u.id, None, Box::new(|_| Ok(vec![])), Load::default()).await.unwrap();
    assert_eq!(store.source("test").await.unwrap().unwrap().users, 1);
    store.delete(src, ResourceKind::User, &u.id, None).await.unwrap();
    assert_eq!(store.source("test").await.unwrap().unwrap().users, 0, "counts follow deletes");
    let changes = store.changes_since(0, 100).await.unwrap();
    let kinds: Vec<&str> = changes.iter().map(|c| c.change.as_str()).collect();
    assert_eq!(kinds, ["created", "updated", "updated", "deleted"]);
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(changes.iter().all(|c| c.resource_id == u.id && c.source == src));
    assert_eq!(store.changes_since(changes[1].seq, 100).await.unwrap().len(), 2);
}

#[tokio::test]
async fn user_names_are_unique_ignoring_case() {
    let (_d, store, src) = super::open().await;
    store.create(src, ResourceKind::User, obj(json!({"userName": "Ann"})), vec![]).await.unwrap();
    let e = store.create(src, ResourceKind::User, obj(json!({"userName": "aNN"})), vec![]).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let other = store.create_source("other", "scim", &[1; 32]).await.unwrap();
    store
        .create(other.id, ResourceKind::User, obj(json!({"userName": "ann"})), vec![])
        .await
        .expect("unique per source only");
}

#[tokio::test]
async fn versions_guard_writes() {
    let (_d, store, src) = super::open().await;
    let u = store.create(src, ResourceKind::User, obj(json!({"userName": "a"})), vec![]).await.unwrap();
    let e = store.delete(src, ResourceKind::User, &u.id, Some(5)).await.unwrap_err();
    assert!(matches!(e, StoreError::VersionMismatch { current: 1 }));
    let e = store
        .update(
            src,
            ResourceKind::User,
            &u.id,
            None,
            Box::new(|_| Err(model::ScimError::invalid_value("no"))),
            Load::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Rejected(_)));
    let again = store.get(src, ResourceKind::User, &u.id, Load::default()).await.unwrap().unwrap();
    assert_eq!(again.version, 1, "a rejected change leaves the resource as it was");
}

#[tokio::test]
async fn memberships_follow_their_resources() {
    let (_d, store, src) = super::open().await;
    let a =
        store.create(src, ResourceKind::User, obj(json!({"userName": "a", "displayName": "A"})), vec![]).await.unwrap();
    let b = store.create(src, ResourceKind::User, obj(json!({"userName": "b"})), vec![]).await.unwrap();
    let g = store
        .create(
            src,
            ResourceKind::Group,
            obj(json!({"displayName": "g"})),
            vec![member(&a.id), member("not-a-resource")],
        )
        .await
        .unwrap();
    let members = g.members.unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().any(|m| m.id == a.id && m.kind == Some(ResourceKind::User)));
    assert!(members.iter().any(|m| m.id == "not-a-resource" && m.kind.is_none()));
    let load = Load { members: true, groups: true, member_limit: None };
    let g = store
        .update(
            src,
            ResourceKind::Group,
            &g.id,
            None,
            Box::new({
                let b = b.id.clone();
                move |_| {
                    Ok(vec![MemberChange::Add(vec![member(&b)]), MemberChange::Remove(vec!["not-a-resource".into()])])
                }
            }),
            load,
        )
        .await
        .unwrap();
    assert_eq!(g.version, 2);
    assert_eq!(g.members.as_ref().unwrap().len(), 2);
    let a_read = store.get(src, ResourceKind::User, &a.id, load).await.unwrap().unwrap();
    assert_eq!(a_read.groups.unwrap()[0].display, "g");
    store.delete(src, ResourceKind::User, &a.id, None).await.unwrap();
    let g = store.get(src, ResourceKind::Group, &g.id, load).await.unwrap().unwrap();
    assert_eq!(g.members.unwrap().iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![b.id.clone()]);
    let limited =
        store.get(src, ResourceKind::Group, &g.id, Load { member_limit: Some(0), ..load }).await.unwrap().unwrap();
    assert!(limited.members.is_none(), "more members than the limit are not loaded");
    let e = store
        .update(
            src,
            ResourceKind::Group,
            &g.id,
            None,
            Box::new({
                let id = g.id.clone();
                move |_| Ok(vec![MemberChange::Add(vec![member(&id)])])
            }),
            load,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Rejected(_)), "a group cannot contain itself");
}

#[tokio::test]
async fn sources_refuse_removal_while_they_hold_data() {
    let (_d, store, src) = super::open().await;
    store.create(src, ResourceKind::User, obj(json!({"userName": "a"})), vec![]).await.unwrap();
    let e = store.remove_source("test", false).await.unwrap_err();
    assert!(e.to_string().contains("--purge"), "{e}");
    store.remove_source("test", true).await.unwrap();
    assert!(store.source("test").await.unwrap().is_none());
    assert!(store.create_source("dup", "scim", &[0; 32]).await.is_ok());
    assert!(matches!(store.create_source("dup", "scim", &[0; 32]).await, Err(StoreError::Conflict(_))));
}

#[tokio::test]
async fn rotated_tokens_expire() {
    let (_d, store, _src) = super::open().await;
    store.rotate_token("test", &[8; 32], 3600).await.unwrap();
    let auth = store.source_auth("test").await.unwrap().unwrap();
    assert_eq!(auth.token_hashes.len(), 2, "old token kept for the grace period");
    store.rotate_token("test", &[9; 32], 0).await.unwrap();
    let auth = store.source_auth("test").await.unwrap().unwrap();
    assert_eq!(auth.token_hashes, vec![[9; 32]]);
}

#[tokio::test]
async fn concurrent_updates_lose_nothing() {
    let (_d, store, src) = super::open().await;
    let u = store.create(src, ResourceKind::User, obj(json!({"userName": "busy"})), vec![]).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..24 {
        let (store, id) = (store.clone(), u.id.clone());
        tasks.push(tokio::spawn(async move {
            let add: store::Mutation = Box::new(move |d| {
                let emails = d.entry("emails").or_insert_with(|| json!([]));
                emails.as_array_mut().unwrap().push(json!({"value": format!("{n}@x")}));
                Ok(vec![])
            });
            store.update(src, ResourceKind::User, &id, None, add, Load::default()).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = store.get(src, ResourceKind::User, &u.id, Load::default()).await.unwrap().unwrap();
    assert_eq!(after.data["emails"].as_array().unwrap().len(), 24, "every concurrent change is kept");
    assert_eq!(after.version, 25);
}

#[tokio::test]
async fn deleting_a_member_changes_its_groups() {
    let (_d, store, src) = super::open().await;
    let u = store.create(src, ResourceKind::User, obj(json!({"userName": "leaver"})), vec![]).await.unwrap();
    let g =
        store.create(src, ResourceKind::Group, obj(json!({"displayName": "team"})), vec![member(&u.id)]).await.unwrap();
    let before = store.changes_since(0, 100).await.unwrap().last().unwrap().seq;
    store.delete(src, ResourceKind::User, &u.id, None).await.unwrap();
    let g2 =
        store.get(src, ResourceKind::Group, &g.id, Load { members: true, ..Load::default() }).await.unwrap().unwrap();
    assert_eq!(g2.version, g.version + 1, "the group's ETag changes");
    assert_eq!(g2.members, Some(vec![]));
    let journal: Vec<(String, String)> =
        store.changes_since(before, 100).await.unwrap().into_iter().map(|c| (c.resource_id, c.change)).collect();
    assert!(journal.contains(&(g.id.clone(), "updated".into())), "{journal:?}");
    assert!(journal.contains(&(u.id.clone(), "deleted".into())), "{journal:?}");
}

/// Databases written before idsync discarded passwords are cleaned when they are opened.
#[tokio::test]
async fn passwords_stored_before_are_removed_by_the_migration() {
    let (dir, store, src) = super::open().await;
    let ann = store.create(src, ResourceKind::User, obj(json!({"userName": "ann"})), vec![]).await.unwrap();
    store.close().await;
    let path = dir.path().join("t.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute("UPDATE resources SET data = json_set(data, '$.password', 'hunter2') WHERE id = ?1", [&ann.id])
            .unwrap();
        db.execute("DELETE FROM schema_migrations WHERE version = 7", []).unwrap();
    }
    let reopened = SqliteStore::open(&path, Durability::Process).await.unwrap();
    let got = reopened.get(src, ResourceKind::User, &ann.id, Load::default()).await.unwrap().unwrap();
    assert!(got.data.get("password").is_none(), "{:?}", got.data);
    assert_eq!(got.data["userName"], "ann");
}

/// Names stored under the old folding are folded again when the database is opened.
#[tokio::test]
async fn names_stored_before_are_refolded_by_the_migration() {
    let (dir, store, src) = super::open().await;
    store.create(src, ResourceKind::User, obj(json!({"userName": "Rene\u{301}"})), vec![]).await.unwrap();
    store.close().await;
    let path = dir.path().join("t.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute("UPDATE resources SET name_folded = ?1", ["rene\u{301}"]).unwrap();
        db.execute("DELETE FROM schema_migrations WHERE version = 8", []).unwrap();
    }
    let reopened = SqliteStore::open(&path, Durability::Process).await.unwrap();
    let err =
        reopened.create(src, ResourceKind::User, obj(json!({"userName": "REN\u{c9}"})), vec![]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

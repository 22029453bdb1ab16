//! Store tests against a real SQLite file: filters in SQL agree with the reference evaluator,
//! writes land in the journal, memberships behave.

mod bindings;
mod filters;
mod sync;
mod writes;

use std::sync::Arc;

use store::sqlite::{Durability, SqliteStore};
use store::{SourceId, Store};

pub async fn open() -> (tempfile::TempDir, Arc<SqliteStore>, SourceId) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db"), Durability::Process).await.unwrap();
    let source = store.create_source("test", "scim", &[7; 32]).await.unwrap();
    (dir, Arc::new(store), source.id)
}

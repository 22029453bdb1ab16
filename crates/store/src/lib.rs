//! Persistence for idsync behind the `Store` trait. The trait speaks in domain types only (no SQL,
//! no driver types), so the SQLite backend here and a PostgreSQL backend can sit behind it alike.
#![forbid(unsafe_code)]

mod error;
pub mod sqlite;
mod types;

use async_trait::async_trait;
use model::filter::Filter;
use model::patch::MemberChange;
use model::resource::MemberRef;
use model::{AttrPath, ResourceKind, ScimError};
use serde_json::{Map, Value};

pub use error::StoreError;
pub use types::*;

/// What a PUT or PATCH does to a stored resource: given its current data, change it in place and
/// return the membership changes to apply alongside. The store writes the result only if nothing
/// else changed the resource since it was read, so the mutation may run more than once.
pub type Mutation = Box<dyn Fn(&mut Map<String, Value>) -> Result<Vec<MemberChange>, ScimError> + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync {
    /// Cheap round trip used by readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_source(&self, name: &str, kind: &str, token_hash: &[u8; 32]) -> Result<Source, StoreError>;
    async fn list_sources(&self) -> Result<Vec<Source>, StoreError>;
    async fn source(&self, name: &str) -> Result<Option<Source>, StoreError>;
    /// The source and the hashes of its tokens that are valid at this moment.
    async fn source_auth(&self, name: &str) -> Result<Option<SourceAuth>, StoreError>;
    /// Adds a new token; existing tokens expire after `grace_seconds` (0: at once).
    async fn rotate_token(&self, name: &str, token_hash: &[u8; 32], grace_seconds: u64) -> Result<(), StoreError>;
    /// Removes the source; refuses while it owns resources unless `purge`.
    async fn remove_source(&self, name: &str, purge: bool) -> Result<(), StoreError>;
    async fn tokens(&self, name: &str) -> Result<Vec<TokenInfo>, StoreError>;

    async fn create(
        &self,
        source: SourceId,
        kind: ResourceKind,
        data: Map<String, Value>,
        members: Vec<MemberRef>,
    ) -> Result<StoredResource, StoreError>;
    async fn get(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError>;
    async fn update(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
        mutation: Mutation,
        load: Load,
    ) -> Result<StoredResource, StoreError>;
    async fn delete(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<(), StoreError>;
    async fn list(&self, source: SourceId, kind: ResourceKind, query: &ListQuery<'_>) -> Result<ListPage, StoreError>;

    /// Journal entries after `after`, oldest first.
    async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError>;
}

/// What a list request selects and how it pages.
pub struct ListQuery<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    /// 1-based, as in SCIM.
    pub start_index: u64,
    pub count: u64,
    pub load: Load,
}

use model::ResourceKind;
use serde_json::{Map, Value};

/// Internal key of a source; only the store hands these out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceId(pub i64);

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: SourceId,
    pub name: String,
    pub kind: String,
    pub created: String,
    pub users: u64,
    pub groups: u64,
}

#[derive(Debug, Clone)]
pub struct SourceAuth {
    pub id: SourceId,
    pub token_hashes: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub created: String,
    pub expires: Option<String>,
}

/// Which derived attributes to load with a resource: they cost extra queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub members: bool,
    pub groups: bool,
    /// Leave `members` unloaded (None) when a group has more members than this.
    pub member_limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    /// None when the id names no user or group of the source (SCIM lets clients send such ids).
    pub kind: Option<ResourceKind>,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    pub id: String,
    pub display: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub kind: ResourceKind,
    pub data: Map<String, Value>,
    pub created: String,
    pub last_modified: String,
    pub version: u64,
    pub members: Option<Vec<Member>>,
    pub groups: Option<Vec<GroupRef>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub total: u64,
    pub items: Vec<StoredResource>,
}

/// One entry of the change journal the sync engine consumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub source: SourceId,
    pub kind: ResourceKind,
    pub resource_id: String,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    pub at: String,
}

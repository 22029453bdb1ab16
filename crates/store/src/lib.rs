//! Persistence for idsync behind the `Store` trait. The trait speaks in domain types only (no SQL,
//! no driver types), so the SQLite backend here and a PostgreSQL backend can sit behind it alike.
#![forbid(unsafe_code)]

mod error;
pub mod sqlite;
mod time;
mod types;

use async_trait::async_trait;
use model::filter::Filter;
use model::patch::MemberChange;
use model::resource::MemberRef;
use model::{AttrPath, ResourceKind, ScimError};
use serde_json::{Map, Value};

pub use error::StoreError;
pub use time::{NotATime, Time};
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
    /// Makes a source a pull source: the connector's settings (JSON) and sealed credentials.
    async fn set_pull(&self, name: &str, config: &str, secret: &[u8]) -> Result<(), StoreError>;
    /// A pull source's settings; None for push sources.
    async fn pull(&self, name: &str) -> Result<Option<PullSettings>, StoreError>;
    /// Every pull source's settings, by source name, in one read.
    async fn pulls(&self) -> Result<std::collections::BTreeMap<String, PullSettings>, StoreError>;
    async fn set_pull_state(&self, name: &str, state: &str) -> Result<(), StoreError>;
    /// After a pull run: where the next incremental read continues (None: the next run reads
    /// everything), and whether this run was a full read.
    async fn set_pull_cursor(&self, name: &str, cursor: Option<&str>, full_read: bool) -> Result<(), StoreError>;
    /// The hash of the token that may ask for a sync at login (one per source; replaced).
    async fn set_login_token(&self, name: &str, hash: &[u8; 32]) -> Result<(), StoreError>;
    async fn login_token(&self, name: &str) -> Result<Option<[u8; 32]>, StoreError>;

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

/// What the sync engine keeps: targets, what idsync owns in them, the outbox of users to
/// reconcile, runs and the provisioning log.
#[async_trait]
pub trait SyncStore: Send + Sync {
    async fn create_target(&self, name: &str, kind: &str, url: &str, secret: &[u8])
    -> Result<TargetRecord, StoreError>;
    async fn targets(&self) -> Result<Vec<TargetRecord>, StoreError>;
    async fn target(&self, name: &str) -> Result<Option<TargetRecord>, StoreError>;
    async fn update_target(&self, name: &str, url: Option<&str>, secret: Option<&[u8]>) -> Result<(), StoreError>;
    /// Removes the target with its ownership records, outbox and (not) its log.
    async fn remove_target(&self, name: &str) -> Result<(), StoreError>;
    /// Returns whether the health changed.
    async fn set_target_health(&self, name: &str, healthy: bool, detail: &str) -> Result<bool, StoreError>;

    async fn journal_cursor(&self) -> Result<i64, StoreError>;
    /// Remembers a group's name (None: the group is gone) and says whether it differs from the
    /// name remembered before. A group seen for the first time counts as unchanged.
    async fn group_renamed(&self, source: SourceId, group_id: &str, name: Option<&str>) -> Result<bool, StoreError>;
    /// Puts users into the outbox and moves the journal cursor, in one transaction.
    async fn enqueue(&self, keys: &[OutboxKey], cursor: i64) -> Result<(), StoreError>;
    /// Outbox rows of a target that are due at `now`, oldest first.
    async fn due(&self, target: &str, now: Time, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;
    async fn pending(&self, target: &str) -> Result<u64, StoreError>;
    /// Removes finished rows unless they were enqueued again meanwhile.
    async fn complete(&self, items: &[OutboxItem]) -> Result<(), StoreError>;
    async fn reschedule(&self, item: &OutboxItem, next_at: Time, error: &str) -> Result<(), StoreError>;
    /// The outbox row of one target user, if there is one.
    async fn queued(&self, key: &OutboxKey) -> Result<Option<OutboxItem>, StoreError>;
    /// Makes every outbox row of a target due now (the target is back after an outage).
    async fn wake(&self, target: &str) -> Result<(), StoreError>;

    /// Links of the given source users or names, and grants of the given names (folded).
    async fn ownership(
        &self,
        target: &str,
        source_ids: &[(String, String)],
        names: &[String],
    ) -> Result<model::target::Ownership, StoreError>;
    async fn all_ownership(&self, target: &str) -> Result<model::target::Ownership, StoreError>;
    async fn managed_users(&self, target: &str) -> Result<u64, StoreError>;
    async fn record_ownership(&self, target: &str, changes: &[OwnershipChange]) -> Result<(), StoreError>;

    async fn create_run(&self, kind: RunKind, target: &str) -> Result<i64, StoreError>;
    async fn update_run(
        &self,
        id: i64,
        state: RunState,
        summary: &serde_json::Value,
        hold_reason: Option<&str>,
        held: Option<&serde_json::Value>,
    ) -> Result<(), StoreError>;
    async fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError>;
    /// Newest first; only runs older than the run `before` when given.
    async fn runs(&self, target: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<RunRecord>, StoreError>;

    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError>;
    /// Newest first.
    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError>;
    /// Deletes log entries, and finished runs, older than `before`; returns how many entries went.
    async fn prune_log(&self, before: Time) -> Result<u64, StoreError>;
    /// How many users were deactivated or deleted in a target since `since`.
    async fn deprovisioned_since(&self, target: &str, since: Time) -> Result<u64, StoreError>;
}

/// Bindings (which source feeds which target, with the rules), the configuration version that
/// tells a running server that any configuration changed, whichever process changed it, and
/// where that server listens.
#[async_trait]
pub trait BindingStore: Send + Sync {
    /// Every binding, by source then target.
    async fn bindings(&self) -> Result<Vec<BindingRecord>, StoreError>;
    async fn binding(&self, source: &str, target: &str) -> Result<Option<BindingRecord>, StoreError>;
    /// Adds a binding; refuses one whose source or target does not exist, or that exists already.
    async fn add_binding(&self, source: &str, target: &str, rules: &Value) -> Result<BindingRecord, StoreError>;
    /// Replaces a binding's rules and raises its revision.
    async fn set_binding_rules(&self, source: &str, target: &str, rules: &Value) -> Result<BindingRecord, StoreError>;
    async fn remove_binding(&self, source: &str, target: &str) -> Result<(), StoreError>;
    /// Records that the target was reconciled for `revision` of the binding (a later revision
    /// stays to be reconciled).
    async fn binding_reconciled(&self, source: &str, target: &str, revision: i64) -> Result<(), StoreError>;
    /// Goes up with every change of sources, tokens, targets and bindings.
    async fn config_version(&self) -> Result<i64, StoreError>;
    /// Records where a starting server listens (`http://host:port`).
    async fn announce_server(&self, url: &str) -> Result<(), StoreError>;
    /// Where the last server to start listens, if one ever did.
    async fn server_url(&self) -> Result<Option<String>, StoreError>;
}

/// One run of a kind per source or target at a time, across processes: a run holds a lease that
/// its process renews while it works.
#[async_trait]
pub trait RunLock: Send + Sync {
    /// Starts a run of `kind` for `target` unless one is running under a live holder. A running
    /// one whose lease lapsed, or whose holder `is_gone` says has ended, is marked `interrupted`
    /// and taken over, in the same transaction.
    async fn start_run(
        &self,
        kind: RunKind,
        target: &str,
        holder: &str,
        lease: std::time::Duration,
        is_gone: &(dyn for<'h> Fn(&'h str) -> bool + Send + Sync),
    ) -> Result<RunStart, StoreError>;
    /// Extends the lease of a run that is still working.
    async fn renew_run(&self, id: i64, lease: std::time::Duration) -> Result<(), StoreError>;
}

/// Ending a source's part in the targets: what it manages there, letting go of that, and emptying
/// its records so that the targets deprovision what it managed.
#[async_trait]
pub trait SourceRetirement: Send + Sync {
    /// Per target, how many users idsync manages there on behalf of `source`.
    async fn managed_by_source(&self, source: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// Forgets, in every target, the users and memberships idsync manages for `source`: they stay
    /// as they are, unmanaged. Per target, how many users were let go.
    async fn release_source(&self, source: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// Deletes every user and group of `source` (journaled, so bound targets deprovision them),
    /// keeping the source and its bindings; how many records went.
    async fn clear_source(&self, source: &str) -> Result<u64, StoreError>;
}

/// The tokens of the admin API, by their public id; the secret half exists only as a hash.
#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    /// Refuses (Conflict) a name another token has.
    async fn create_admin_token(&self, token: &AdminTokenRecord) -> Result<(), StoreError>;
    async fn admin_token(&self, id: &str) -> Result<Option<AdminTokenRecord>, StoreError>;
    /// Every admin token, by name.
    async fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError>;
    /// Deletes the token of that name; false when there was none.
    async fn revoke_admin_token(&self, name: &str) -> Result<bool, StoreError>;
    async fn admin_token_used(&self, id: &str, at: Time) -> Result<(), StoreError>;
}

/// Administrators of the web console and their sessions.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Refuses (Conflict) a name another administrator has, whatever its case.
    async fn create_administrator(&self, administrator: &AdministratorRecord) -> Result<(), StoreError>;
    async fn administrator(&self, name: &str) -> Result<Option<AdministratorRecord>, StoreError>;
    /// Every administrator, by name.
    async fn administrators(&self) -> Result<Vec<AdministratorRecord>, StoreError>;
    /// A new password hash, which ends every session of the administrator; false when there is none.
    async fn set_administrator_password(&self, name: &str, hash: &str, at: Time) -> Result<bool, StoreError>;
    /// Removes the administrator and their sessions; false when there was none.
    async fn remove_administrator(&self, name: &str) -> Result<bool, StoreError>;
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session, with its administrator's name.
    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    /// Records a request of the session at `at`, and with `reauthenticated` that the password was given again.
    async fn touch_session(&self, id_hash: &[u8; 32], at: Time, reauthenticated: bool) -> Result<(), StoreError>;
    /// Ends a session; false when there was none.
    async fn end_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// Forgets sessions whose absolute expiry or idle limit has passed; how many went.
    async fn prune_sessions(&self, expired_before: Time, idle_since: Time) -> Result<u64, StoreError>;
    /// A successful login of the administrator.
    async fn record_login(&self, name: &str, at: Time) -> Result<(), StoreError>;
    /// Failed sign-ins counted under these keys: (key, how many, the latest).
    async fn sign_in_failures(&self, keys: &[String]) -> Result<Vec<(String, u32, Time)>, StoreError>;
    /// Counts one more failed sign-in under each key at `at`; a count whose latest failure is
    /// before `fresh_after` starts again, and such counts of other keys are forgotten.
    async fn record_sign_in_failure(&self, keys: &[String], at: Time, fresh_after: Time) -> Result<(), StoreError>;
    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError>;
}

/// The audit log: changes of configuration and approvals, newest first.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditRecord) -> Result<i64, StoreError>;
    /// Entries older than `before` (an id), about `object` when given, newest first.
    async fn audit(
        &self,
        object: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Configuration backup and restore: what only a backup needs to read, and a restore applied in
/// one transaction.
#[async_trait]
pub trait ConfigRestore: Send + Sync {
    /// The hashes of the source's bearer tokens that still work.
    async fn token_hashes(&self, source: &str) -> Result<Vec<TokenHash>, StoreError>;
    /// Applies `plan` whole, or changes nothing.
    async fn restore(&self, plan: &RestorePlan) -> Result<(), StoreError>;
}

/// What a status report reads of the database itself.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The last migration applied.
    async fn schema_version(&self) -> Result<i64, StoreError>;
    /// The sequence number of the newest change journaled (0 when none).
    async fn journal_head(&self) -> Result<i64, StoreError>;
    /// When the oldest change still waiting in `target`'s outbox was queued.
    async fn oldest_pending(&self, target: &str) -> Result<Option<String>, StoreError>;
}

/// Every capability of the database, as one object the server and the engine share.
pub trait Database:
    ConsoleStore
    + Store
    + SyncStore
    + BindingStore
    + RunLock
    + SourceRetirement
    + AdminTokenStore
    + AuditStore
    + StoreHealth
    + ConfigRestore
{
}

impl<
    T: ConsoleStore
        + Store
        + SyncStore
        + BindingStore
        + RunLock
        + SourceRetirement
        + AdminTokenStore
        + AuditStore
        + StoreHealth
        + ConfigRestore,
> Database for T
{
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

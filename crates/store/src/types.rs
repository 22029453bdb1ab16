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
    pub created: crate::Time,
    pub users: u64,
    pub groups: u64,
}

/// How idsync reads a pull source.
#[derive(Debug, Clone, PartialEq)]
pub struct PullSettings {
    /// The connector's settings, as JSON.
    pub config: String,
    /// Sealed credentials.
    pub secret: Vec<u8>,
    /// What the scheduler remembers between runs, as JSON.
    pub state: Option<String>,
    /// Where the next incremental read continues.
    pub cursor: Option<String>,
    /// When the last full read finished.
    pub last_full: Option<crate::Time>,
}

#[derive(Debug, Clone)]
pub struct SourceAuth {
    pub id: SourceId,
    pub token_hashes: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub created: crate::Time,
    pub expires: Option<crate::Time>,
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

/// What a journal entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    User,
    Group,
    /// A membership: `resource_id` (a user or a group) joined or left a group.
    Member,
}

/// One entry of the change journal the sync engine consumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub source: SourceId,
    pub kind: ChangeKind,
    pub resource_id: String,
    /// `created`, `updated` or `deleted`; for members `joined` or `left`.
    pub change: String,
    pub at: crate::Time,
}

/// An application idsync provisions. `secret` is the encrypted credential blob.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRecord {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: Vec<u8>,
    pub created: crate::Time,
    pub healthy: bool,
    pub health_detail: String,
    pub health_changed: Option<crate::Time>,
}

/// What is known of a target's health, as an administrator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Saved without a check and not yet talked to.
    Unknown,
    Ok,
    /// The target answers but refuses idsync's credentials: someone must fix them.
    CredentialsRefused,
    /// The target does not answer, or fails.
    Down,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::CredentialsRefused => "credentials refused",
            Health::Down => "DOWN",
        }
    }
}

/// The health detail of a target saved without a check.
pub const NOT_CHECKED: &str = "not checked yet";
/// How the health detail of a target that refuses the credentials begins.
pub const CREDENTIALS_REFUSED: &str = "credentials refused";

impl TargetRecord {
    pub fn health(&self) -> Health {
        match (self.healthy, self.health_detail.as_str()) {
            (true, NOT_CHECKED) => Health::Unknown,
            (true, _) => Health::Ok,
            (false, detail) if detail.starts_with(CREDENTIALS_REFUSED) => Health::CredentialsRefused,
            (false, _) => Health::Down,
        }
    }
}

/// "Make this source user right in this target."
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxKey {
    pub target: String,
    pub source: String,
    pub source_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub key: OutboxKey,
    /// Changes with every enqueue; completing an older generation leaves the row.
    pub generation: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A change to what idsync owns in a target.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnershipChange {
    Link(model::target::UserLink),
    /// Also drops the grants of the user.
    Unlink {
        source: String,
        source_id: String,
        name: String,
    },
    Rename {
        source: String,
        source_id: String,
        old_name: String,
        new_name: String,
    },
    Grant(model::target::Grant),
    Revoke {
        user: String,
        group: String,
    },
}

/// One binding: `rules` holds only what the administrator set, as JSON; the defaults live with
/// the rules' type, so a binding without settings follows them as they improve.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRecord {
    pub source: String,
    pub target: String,
    pub rules: serde_json::Value,
    /// Goes up with every change of the rules.
    pub revision: i64,
    /// The revision the target was last reconciled for; below `revision` means a reconcile is due.
    pub reconciled: i64,
    pub created: crate::Time,
    pub updated: crate::Time,
}

impl BindingRecord {
    pub fn needs_reconcile(&self) -> bool {
        self.reconciled < self.revision
    }
}

/// What [`crate::RunLock::start_run`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStart {
    /// The run `id` started; `took_over` names a stale run it marked interrupted.
    Started { id: i64, took_over: Option<i64> },
    /// Another run holds the lock.
    Busy(Box<RunRecord>),
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A whole target reconciled (by hand, or after a binding change).
    Full,
    /// A full reconcile previewed: planned, not applied.
    DryRun,
    /// Deprovisioning the outbox worker held for approval.
    Realtime,
    /// A pull source read; the run's `target` names the source.
    Pull,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Done,
    Failed,
    /// Waiting for an administrator to approve or reject what it holds.
    Held,
    Approved,
    Rejected,
    /// Stopped before it finished (a signal, or its process ended).
    Interrupted,
}

/// Both are stored, and shown, by these names.
macro_rules! named {
    ($type:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    other => Err(format!("'{other}' is not a {}", stringify!($type))),
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

named!(RunKind { Full => "full", DryRun => "dry-run", Realtime => "realtime", Pull => "pull" });
named!(RunState {
    Running => "running",
    Done => "done",
    Failed => "failed",
    Held => "held",
    Approved => "approved",
    Rejected => "rejected",
    Interrupted => "interrupted",
});

impl RunState {
    /// A run in this state has ended; only a running or held one may still change.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunState::Running | RunState::Held)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub kind: RunKind,
    pub target: String,
    pub state: RunState,
    pub started: crate::Time,
    pub finished: Option<crate::Time>,
    pub summary: serde_json::Value,
    pub hold_reason: Option<String>,
    pub held: Option<serde_json::Value>,
}

/// One entry of the provisioning log. A default one is stamped now.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub at: crate::Time,
    pub run_id: Option<i64>,
    pub source: String,
    pub target: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub action: String,
    pub reason: String,
    /// `planned`, `applied`, `failed`, `retrying`, `skipped`, `conflict`, `held`.
    pub result: String,
    /// What the target answered, for failures.
    pub detail: Option<String>,
}

impl Default for Event {
    fn default() -> Event {
        Event {
            id: 0,
            at: crate::Time::now(),
            run_id: None,
            source: String::new(),
            target: String::new(),
            user: None,
            group: None,
            action: String::new(),
            reason: String::new(),
            result: String::new(),
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub user: Option<String>,
    pub group: Option<String>,
    pub target: Option<String>,
    pub source: Option<String>,
    pub result: Option<String>,
    pub run_id: Option<i64>,
    pub since: Option<crate::Time>,
    pub until: Option<crate::Time>,
    /// Only entries older than the entry of this id (the cursor of a page).
    pub before: Option<i64>,
    pub limit: u32,
}

/// An admin token as stored: its scope by name (`read`, `operate`, `admin`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminTokenRecord {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub hash: [u8; 32],
    pub created: crate::Time,
    pub expires: Option<crate::Time>,
    pub last_used: Option<crate::Time>,
}

/// An entry of the audit log; `id` is the store's (0 for one not yet recorded), `before` and
/// `after` are JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: crate::Time,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A bearer token of a source by its hash, as a configuration backup keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenHash {
    pub hash: [u8; 32],
    pub created: crate::Time,
    pub expires: Option<crate::Time>,
}

/// A source as a restore writes it: created, or its settings replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSource {
    pub name: String,
    pub kind: String,
    /// Replace the source's bearer tokens with these.
    pub tokens: Vec<TokenHash>,
    /// For a pull source: its settings (JSON) and sealed credentials; `None` credentials keep the
    /// ones stored (or store none, for a new source).
    pub pull: Option<(String, Option<Vec<u8>>)>,
    /// Its pull state (JSON), such as paused.
    pub pull_state: Option<String>,
    pub login_token_hash: Option<[u8; 32]>,
}

/// A target as a restore writes it; `secret: None` keeps the stored credentials (or stores
/// none, for a new target, which then reports that it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredTarget {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: Option<Vec<u8>>,
}

/// Everything a restore changes, applied in one transaction: all of it or none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestorePlan {
    pub sources: Vec<RestoredSource>,
    pub targets: Vec<RestoredTarget>,
    /// (source, target, rules)
    pub bindings: Vec<(String, String, serde_json::Value)>,
    pub remove_bindings: Vec<(String, String)>,
    pub remove_targets: Vec<String>,
    /// Only sources that hold no records.
    pub remove_sources: Vec<String>,
}

/// An administrator of the web console as stored: the password only as its argon2id hash.
#[derive(Debug, Clone, PartialEq)]
pub struct AdministratorRecord {
    pub name: String,
    pub password_hash: String,
    pub created: crate::Time,
    pub password_changed: crate::Time,
    pub last_login: Option<crate::Time>,
}

/// A console session, named by the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id_hash: [u8; 32],
    pub administrator: String,
    pub created: crate::Time,
    pub last_seen: crate::Time,
    pub expires: crate::Time,
    pub reauthenticated: crate::Time,
    /// Where the login came from.
    pub address: String,
}

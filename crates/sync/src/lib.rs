//! The edge of provisioning: it reads source records from the store and target state through the
//! adapters, plans with the pure planner (`engine`), applies the plan through the durable outbox,
//! and records ownership, runs and the provisioning log; it also takes pulled reads into the store.
//!
//! Work is level-triggered: the journal marks source users dirty per target (the outbox), and a
//! worker per target recomputes what each dirty user should be at the moment it applies, so bursts
//! coalesce and a retry after a crash or an outage is just another reconcile.
#![forbid(unsafe_code)]

mod changes;
mod execute;
mod follow;
mod preview;
mod pull;
mod snapshot;
mod throttle;
mod worker;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use model::target::TargetUser;
use serde::{Deserialize, Serialize};
use store::{BindingRecord, BindingStore, Database, StoreError, TargetRecord};
use targets::{TargetClient, TargetError};

use engine::rules::{BindingSpec, CompiledRules, RuleError, Safeguard};
use engine::state::{SourceSnapshot, TargetState};
use engine::{Binding, Plan, Target, plan};

pub use changes::apply_changes;
pub use execute::Outcome;
pub use preview::preview_snapshot;
pub use pull::{PullSummary, UserWriter, apply_snapshot, apply_user, stored_form};
pub use snapshot::{load_all, load_users, users_in_group};
pub use worker::RunReport;

/// How the sync worker behaves; the `[sync]` table of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSettings {
    /// Requests in flight to one target at a time.
    pub concurrency: usize,
    /// Users reconciled together in one batch.
    pub batch_size: u32,
    /// How often the worker looks for new changes, in milliseconds.
    pub poll_ms: u64,
    /// First retry delay, doubled on every further attempt up to `max_backoff_seconds`.
    pub base_backoff_ms: u64,
    pub max_backoff_seconds: u64,
    /// Seconds to wait for a target's answer.
    pub timeout_seconds: u64,
    pub safeguard: Safeguard,
    /// Deprovisioning applied within this many minutes counts towards the safeguard.
    pub safeguard_window_minutes: u64,
    /// Provisioning log entries and finished runs are kept this many days (0: for ever).
    pub log_retention_days: u64,
    /// How long a sync at login may take, reading the user included.
    pub login_timeout_seconds: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            concurrency: 16,
            batch_size: 200,
            poll_ms: 100,
            base_backoff_ms: 500,
            max_backoff_seconds: 300,
            timeout_seconds: 30,
            safeguard: Safeguard::default(),
            safeguard_window_minutes: 10,
            log_retention_days: 365,
            login_timeout_seconds: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("target {target}: {error}")]
    Target { target: String, error: TargetError },
    #[error("{0}")]
    Rules(#[from] RuleError),
    #[error("there is no target named '{0}'")]
    NoTarget(String),
    #[error("no binding feeds target '{0}'")]
    Unbound(String),
    #[error("binding {source_name} → {target} names source '{source_name}', which does not exist")]
    MissingSource { source_name: String, target: String },
    #[error("there is no run {0}")]
    NoRun(i64),
    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    /// What the administrator can do about it, when the engine knows.
    pub fn hint(&self) -> Option<model::Hint> {
        match self {
            SyncError::Store(e) => e.hint().cloned(),
            SyncError::NoTarget(_) => Some(model::Hint::ListTargets),
            SyncError::Unbound(target) => Some(model::Hint::AddBinding { target: target.clone() }),
            SyncError::MissingSource { .. } => Some(model::Hint::ListSources),
            SyncError::NoRun(_) => Some(model::Hint::ListRuns),
            _ => None,
        }
    }
}

/// Turns a stored target into a client; the binary decrypts the credentials.
pub trait Connector: Send + Sync {
    fn connect(&self, record: &TargetRecord) -> Result<Arc<dyn TargetClient>, String>;
}

/// A stored binding whose rules cannot be used. It is left out; the others go on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenBinding {
    pub source: String,
    pub target: String,
    pub error: String,
}

/// The stored bindings, compiled.
#[derive(Default)]
pub struct Bindings {
    entries: Vec<(BindingSpec, CompiledRules)>,
    /// (source, target) → the revision of its rules that `entries` holds.
    revisions: BTreeMap<(String, String), i64>,
    broken: Vec<BrokenBinding>,
}

impl Bindings {
    /// Compiles each stored binding on its own, so one that cannot be used is reported and left
    /// out instead of stopping every other.
    pub fn from_records(records: &[BindingRecord]) -> Self {
        let mut bindings = Bindings::default();
        for record in records {
            match BindingSpec::from_rules(&record.source, &record.target, &record.rules)
                .and_then(|spec| spec.compile().map(|compiled| (spec, compiled)))
            {
                Ok(entry) => {
                    bindings.revisions.insert((record.source.clone(), record.target.clone()), record.revision);
                    bindings.entries.push(entry);
                }
                Err(e) => bindings.broken.push(BrokenBinding {
                    source: record.source.clone(),
                    target: record.target.clone(),
                    error: e.to_string(),
                }),
            }
        }
        bindings
    }

    pub async fn load(db: &dyn BindingStore) -> Result<Self, StoreError> {
        Ok(Bindings::from_records(&db.bindings().await?))
    }

    pub fn for_target<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a (BindingSpec, CompiledRules)> + 'a {
        self.entries.iter().filter(move |(s, _)| s.target == target)
    }

    pub fn for_source<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a (BindingSpec, CompiledRules)> + 'a {
        self.entries.iter().filter(move |(s, _)| s.source == source)
    }

    pub fn targets(&self) -> BTreeSet<String> {
        self.entries.iter().map(|(s, _)| s.target.clone()).collect()
    }

    pub fn broken(&self) -> &[BrokenBinding] {
        &self.broken
    }

    fn revision(&self, source: &str, target: &str) -> Option<i64> {
        self.revisions.get(&(source.to_string(), target.to_string())).copied()
    }
}

/// A client and the stored target it was made from (credentials can change under it).
type CachedClient = (TargetRecord, Arc<dyn TargetClient>);

pub struct Engine {
    db: Arc<dyn Database>,
    connector: Arc<dyn Connector>,
    bindings: RwLock<Arc<Bindings>>,
    settings: SyncSettings,
    clients: Mutex<HashMap<String, CachedClient>>,
    /// Rung after every accepted SCIM write, so the journal is read at once, not at the next poll.
    journal_written: tokio::sync::Notify,
    /// Rung per target when its outbox receives work.
    outbox_filled: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// The journal position read up to, and when it was last written to the store.
    cursor: Mutex<Option<(i64, std::time::Instant)>>,
    /// One turn per target: the worker's batches, full reconciles and approvals of a target plan
    /// and apply one at a time, so two of them never create the same group or user side by side
    /// (not every application refuses a duplicate name).
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Engine {
    /// An engine like this one but with `bindings`: to see what draft rules would do, saving nothing.
    pub fn with_bindings(&self, bindings: Bindings) -> Arc<Engine> {
        Engine::new(self.db.clone(), self.connector.clone(), bindings, self.settings.clone())
    }

    pub fn new(
        db: Arc<dyn Database>,
        connector: Arc<dyn Connector>,
        bindings: Bindings,
        settings: SyncSettings,
    ) -> Arc<Self> {
        Arc::new(Engine {
            db,
            connector,
            bindings: RwLock::new(Arc::new(bindings)),
            settings,
            clients: Mutex::new(HashMap::new()),
            journal_written: tokio::sync::Notify::new(),
            outbox_filled: Mutex::new(HashMap::new()),
            cursor: Mutex::new(None),
            turns: Mutex::new(HashMap::new()),
        })
    }

    /// Tells the worker that the journal has new entries (the server calls this after SCIM
    /// writes); without it the worker still finds them within `poll_ms`.
    pub fn journal_written(&self) {
        self.journal_written.notify_one();
    }

    /// Waits for `target`'s turn (see `turns`); the turn lasts as long as the guard.
    async fn turn(&self, target: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self.turns.lock().unwrap_or_else(|e| e.into_inner()).entry(target.to_string()).or_default().clone();
        turn.lock_owned().await
    }

    fn outbox_bell(&self, target: &str) -> Arc<tokio::sync::Notify> {
        let mut bells = self.outbox_filled.lock().unwrap_or_else(|e| e.into_inner());
        bells.entry(target.to_string()).or_default().clone()
    }

    /// Replaces the bindings (after the configuration changed).
    pub fn set_bindings(&self, bindings: Bindings) {
        *self.bindings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(bindings);
    }

    pub fn bindings(&self) -> Arc<Bindings> {
        self.bindings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn target_record(&self, name: &str) -> Result<TargetRecord, SyncError> {
        self.db.target(name).await?.ok_or_else(|| SyncError::NoTarget(name.to_string()))
    }

    fn client(&self, record: &TargetRecord) -> Result<Arc<dyn TargetClient>, SyncError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made_from, client)) = clients.get(&record.name)
            && made_from.url == record.url
            && made_from.secret == record.secret
        {
            return Ok(client.clone());
        }
        let client: Arc<dyn TargetClient> =
            Arc::new(throttle::Gated::new(self.connector.connect(record).map_err(SyncError::Invalid)?));
        clients.insert(record.name.clone(), (record.clone(), client.clone()));
        Ok(client)
    }

    fn retry_delay(&self, attempts: u32, asked: Option<Duration>) -> Duration {
        let base = Duration::from_millis(self.settings.base_backoff_ms);
        let exp = base.saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(Duration::from_secs(self.settings.max_backoff_seconds));
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        capped.mul_f64(jitter).max(asked.unwrap_or_default())
    }
}

/// Reads the target users a plan may touch (every desired and every linked name), the groups,
/// and (when something would be deprovisioned) the leads; then plans.
pub(crate) async fn prepare(
    db: &dyn Database,
    record: &TargetRecord,
    client: &dyn TargetClient,
    bindings: &[(&BindingSpec, &CompiledRules)],
    snapshots: &[SourceSnapshot],
    full: bool,
    concurrency: usize,
) -> Result<Plan, SyncError> {
    let target_error = |error| SyncError::Target { target: record.name.clone(), error };
    let mut names = BTreeSet::new();
    let mut source_ids = Vec::new();
    for ((_, rules), snapshot) in bindings.iter().zip(snapshots) {
        for u in &snapshot.users {
            if let Some(n) = engine::desired_name(rules, &u.record) {
                names.insert(n);
            }
        }
        if let engine::Scope::Users(ids) = &snapshot.scope {
            source_ids.extend(ids.iter().map(|id| (snapshot.source.clone(), id.clone())));
        }
    }
    let owned = if full {
        db.all_ownership(&record.name).await?
    } else {
        db.ownership(&record.name, &source_ids, &names.iter().cloned().collect::<Vec<_>>()).await?
    };
    names.extend(owned.users.iter().map(|l| l.name.clone()));
    let properties: Vec<String> = bindings
        .iter()
        .flat_map(|(_, r)| r.custom.iter().map(|(k, _)| k.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut state = TargetState::default();
    for g in client.groups().await.map_err(target_error)? {
        state.insert_group(&g);
    }
    for user in read_users(client, &names, &properties, concurrency).await.map_err(target_error)? {
        state.insert_user(user);
    }
    let caps = client.capabilities();
    let make_plan = |state: &TargetState| {
        let bound: Vec<Binding> =
            bindings.iter().zip(snapshots).map(|((_, rules), snapshot)| Binding { rules, snapshot }).collect();
        plan(&Target { name: &record.name, caps }, &bound, state, &owned)
    };
    let mut planned = make_plan(&state);
    if caps.leads && planned.deprovisioning() > 0 {
        state.leads = client.leads().await.map_err(target_error)?;
        planned = make_plan(&state);
    }
    Ok(planned)
}

async fn read_users(
    client: &dyn TargetClient,
    names: &BTreeSet<String>,
    properties: &[String],
    concurrency: usize,
) -> Result<Vec<TargetUser>, TargetError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let lookups: Vec<_> = names.iter().map(|n| client.user(n, properties)).collect();
    let found: Vec<Option<TargetUser>> =
        stream::iter(lookups).buffer_unordered(concurrency.max(1)).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

//! Runs: listing and showing them, deciding held ones, and pull runs started as tasks that a
//! caller can watch (progress, with an estimate of what is left), cancel, and start at most once
//! per idempotency key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_types::{Approved, Run, RunProgress};
use store::{RunKind, RunRecord, RunState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::pull::{Phase, PullEnv, ReadMode};

fn kind(k: RunKind) -> api_types::RunKind {
    match k {
        RunKind::Full => api_types::RunKind::Full,
        RunKind::DryRun => api_types::RunKind::DryRun,
        RunKind::Realtime => api_types::RunKind::Realtime,
        RunKind::Pull => api_types::RunKind::Pull,
    }
}

fn state(s: RunState) -> api_types::RunState {
    match s {
        RunState::Running => api_types::RunState::Running,
        RunState::Done => api_types::RunState::Done,
        RunState::Failed => api_types::RunState::Failed,
        RunState::Held => api_types::RunState::Held,
        RunState::Approved => api_types::RunState::Approved,
        RunState::Rejected => api_types::RunState::Rejected,
        RunState::Interrupted => api_types::RunState::Interrupted,
    }
}

fn view(r: RunRecord, with_held: bool) -> Run {
    Run {
        id: r.id,
        kind: kind(r.kind),
        target: r.target,
        state: state(r.state),
        started: r.started.to_string(),
        finished: r.finished.map(|t| t.to_string()),
        summary: r.summary,
        hold_reason: r.hold_reason,
        held: if with_held { r.held } else { None },
        progress: None,
    }
}

/// Runs newest first, of one target or source when given, older than the run `before` when given.
pub async fn list(
    db: &dyn store::Database,
    target: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Run>, Error> {
    Ok(db.runs(target, before, limit).await?.into_iter().map(|r| view(r, false)).collect())
}

/// One run with what it holds for approval, and its progress when it runs in this server.
pub async fn show(db: &dyn store::Database, tasks: &Tasks, id: i64) -> Result<Run, Error> {
    let record = db.run(id).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no run {id}"),
        hint: Some(model::Hint::ListRuns),
    })?;
    let mut run = view(record, true);
    run.progress = tasks.snapshot(id);
    Ok(run)
}

/// How a finished run ended, as the last progress event says it.
pub fn ended(run: &Run) -> RunProgress {
    RunProgress {
        run: run.id,
        phase: "finished".into(),
        message: format!("finished: {}", run.state.as_str()),
        users_read: run.summary["users_read"].as_u64().unwrap_or(0),
        requests: run.summary["requests"].as_u64().unwrap_or(0),
        elapsed_seconds: 0.0,
        eta_seconds: None,
        state: Some(run.state),
    }
}

/// Follows a run: its state at once, then every change, ending with one whose `state` says how
/// the run ended. A run not going on in this server yields that last one only.
pub async fn follow(
    db: &dyn store::Database,
    tasks: &Tasks,
    id: i64,
) -> Result<impl futures_util::Stream<Item = RunProgress> + Send + use<>, Error> {
    let run = show(db, tasks, id).await?;
    let ended = ended(&run);
    let receiver = tasks.progress(id);
    // (receiver, whether the snapshot went out, whether the last one went out)
    Ok(futures_util::stream::unfold((receiver, false, false), move |(receiver, sent, done)| {
        let ended = ended.clone();
        async move {
            if done {
                return None;
            }
            let Some(mut receiver) = receiver else {
                return Some((ended, (None, true, true)));
            };
            if sent && receiver.changed().await.is_err() {
                let last = receiver.borrow().clone();
                let last = if last.state.is_some() { last } else { ended };
                return Some((last, (None, true, true)));
            }
            let now = receiver.borrow_and_update().clone();
            let finished = now.state.is_some();
            Some((now, (Some(receiver), true, finished)))
        }
    }))
}

/// Applies what a held run holds for the users chosen (all when `users` is None); the others
/// stay held.
pub async fn approve(engine: &sync::Engine, id: i64, users: Option<&[api_types::HeldUser]>) -> Result<Approved, Error> {
    let only: Option<std::collections::BTreeSet<(String, String)>> =
        users.map(|users| users.iter().map(|u| (u.source.clone(), u.id.clone())).collect());
    if only.as_ref().is_some_and(|o| o.is_empty()) {
        return Err(Error::Invalid(format!("no user of run {id} was chosen: choose at least one, or reject the run")));
    }
    let report = engine.approve(id, only.as_ref()).await?;
    Ok(Approved {
        run: id,
        applied: report.applied,
        failed: report.failed,
        state: report.state,
        hold_reason: report.hold_reason,
    })
}

/// Drops what a held run holds: nothing of it is deactivated or deleted.
pub async fn reject(engine: &sync::Engine, id: i64) -> Result<(), Error> {
    Ok(engine.reject(id).await?)
}

/// How long a retried request with the same idempotency key finds the run the first one started.
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

struct Live {
    progress: watch::Receiver<RunProgress>,
    /// None for a reconcile, which cannot stop half way.
    cancel: Option<watch::Sender<bool>>,
    /// A pull run's requests so far, fresher than its last progress report.
    requests: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// The runs this server carries on in the background, by run id.
#[derive(Default)]
pub struct Tasks {
    live: Mutex<HashMap<i64, Live>>,
    /// Idempotency key → (what the request asked, the run it started, when).
    keys: Mutex<Keys>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// A run a request started, or found started by an earlier request with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub run: i64,
    pub repeated: bool,
}

/// Reports a run's progress to whoever watches its task, with an estimate of the time left.
struct Watched {
    run: i64,
    tx: watch::Sender<RunProgress>,
    started: Instant,
    expected_users: Option<u64>,
    /// Requests sent to the provider so far.
    requests: Arc<std::sync::atomic::AtomicU64>,
}

impl Watched {
    fn progress(&self, phase: &str, message: String, users_read: u64) -> RunProgress {
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta_seconds = match self.expected_users {
            Some(expected) if users_read > 0 && expected > users_read => {
                Some(elapsed * (expected - users_read) as f64 / users_read as f64)
            }
            _ => None,
        };
        RunProgress {
            run: self.run,
            phase: phase.into(),
            message,
            users_read,
            requests: self.requests.load(std::sync::atomic::Ordering::Relaxed),
            elapsed_seconds: elapsed,
            eta_seconds,
            state: None,
        }
    }
}

impl crate::pull::Progress for Watched {
    fn report(&self, phase: Phase, users_read: u64) {
        self.tx.send_replace(self.progress(phase.code(), phase.to_string(), users_read));
    }
}

/// An idempotency key's slot: the request it came with, and the run it started once it has.
struct Slot {
    asked: String,
    run: Arc<tokio::sync::Mutex<Option<i64>>>,
    since: Instant,
}

type Keys = HashMap<String, Slot>;

type Claim = tokio::sync::OwnedMutexGuard<Option<i64>>;

fn starting(run: i64, phase: &str) -> RunProgress {
    RunProgress {
        run,
        phase: phase.into(),
        message: phase.replace('_', " "),
        users_read: 0,
        requests: 0,
        elapsed_seconds: 0.0,
        eta_seconds: None,
        state: None,
    }
}

/// Users the last complete full read of `source` found: what the next one likely reads.
async fn expected_users(db: &dyn store::Database, source: &str) -> Option<u64> {
    let runs = db.runs(Some(source), None, 50).await.ok()?;
    runs.into_iter()
        .filter(|r| r.kind == RunKind::Pull && r.state == RunState::Done)
        .find(|r| r.summary["incremental"] == false && r.summary["complete"] == true)
        .and_then(|r| r.summary["users_read"].as_u64())
        .filter(|n| *n > 0)
}

impl Tasks {
    /// Holds `key`'s slot while a request starts its run, so that a retry with the same key waits
    /// for it and then finds the run (requests with other keys, or none, go on meanwhile). A key
    /// sent with another request is refused.
    async fn claim(&self, key: Option<&str>, asked: &str) -> Result<Option<Claim>, Error> {
        let Some(key) = key else { return Ok(None) };
        let slot = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.retain(|_, slot| slot.since.elapsed() < KEY_LIFETIME);
            let slot = keys.entry(key.to_string()).or_insert_with(|| Slot {
                asked: asked.to_string(),
                run: Arc::default(),
                since: Instant::now(),
            });
            if slot.asked != asked {
                return Err(Error::Invalid(format!(
                    "the Idempotency-Key '{key}' was sent with another request; use a new key for a new request"
                )));
            }
            slot.run.clone()
        };
        Ok(Some(slot.lock_owned().await))
    }

    /// Starts a pull run of `name` in the background and answers with its id at once; a second
    /// request with the same `key` gets the same run. `shutdown` turning true interrupts the run.
    pub async fn start_pull(
        self: &Arc<Self>,
        db: Arc<dyn store::Database>,
        env: PullEnv,
        name: &str,
        mode: ReadMode,
        key: Option<&str>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Started, Error> {
        let mut claimed = self.claim(key, &format!("pull {name} {mode:?}")).await?;
        if let Some(run) = claimed.as_deref().copied().flatten() {
            return Ok(Started { run, repeated: true });
        }
        let run = crate::pull::begin(&*db, name).await?;
        if let Some(slot) = claimed.as_mut() {
            **slot = Some(run);
        }
        drop(claimed);

        let watched = Watched {
            run,
            tx: watch::Sender::new(starting(run, "starting")),
            started: Instant::now(),
            expected_users: if mode == ReadMode::Full { expected_users(&*db, name).await } else { None },
            requests: Arc::default(),
        };
        let (cancel, mut cancelled) = watch::channel(false);
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(
            run,
            Live { progress: watched.tx.subscribe(), cancel: Some(cancel), requests: Some(watched.requests.clone()) },
        );
        let tasks = self.clone();
        let name = name.to_string();
        let mut shutdown = shutdown;
        let handle = tokio::spawn(async move {
            let stop = async move {
                tokio::select! {
                    _ = cancelled.wait_for(|c| *c) => "a cancel request",
                    _ = shutdown.wait_for(|s| *s) => "the server shutting down",
                }
            };
            let counted = watched.requests.clone();
            let result =
                rest::sent::counting(counted, crate::pull::carry_on(&*db, run, &name, &env, mode, &watched, stop))
                    .await;
            if let Err(e) = &result {
                tracing::warn!(source = %name, run, error = %e, "pull run failed");
            }
            let ended = db.run(run).await.ok().flatten().map_or(RunState::Failed, |r| r.state);
            let users = watched.tx.borrow().users_read;
            let mut last = watched.progress("finished", format!("finished: {ended}"), users);
            // The connectors' own count is exact, also for requests sent outside the counted task.
            if let Ok(summary) = &result {
                last.requests = summary.requests;
            }
            last.eta_seconds = None;
            last.state = Some(state(ended));
            watched.tx.send_replace(last);
            tasks.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&run);
        });
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
        Ok(Started { run, repeated: false })
    }

    /// Starts a full reconcile (or, with `dry_run`, a plan) of `target` in the background and
    /// answers with its run id once the run is recorded; a second request with the same `key`
    /// gets the same run. One of a target runs at a time: a second waits for the first.
    pub async fn start_reconcile(
        self: &Arc<Self>,
        engine: Arc<sync::Engine>,
        db: Arc<dyn store::Database>,
        target: &str,
        dry_run: bool,
        key: Option<&str>,
    ) -> Result<Started, Error> {
        // The run may wait for its target's turn before it is recorded; the key's slot is held
        // that long, so that a retry finds the run.
        let mut claimed = self.claim(key, &format!("reconcile {target} dry_run={dry_run}")).await?;
        if let Some(run) = claimed.as_deref().copied().flatten() {
            return Ok(Started { run, repeated: true });
        }
        let (announce, announced) = tokio::sync::oneshot::channel();
        let name = target.to_string();
        let work = tokio::spawn(async move { engine.full_sync_announced(&name, dry_run, announce).await });
        let run = match announced.await {
            Ok(run) => run,
            Err(_) => {
                return match work.await {
                    Ok(Err(e)) => Err(e.into()),
                    _ => Err(Error::Unavailable(format!("the reconcile of {target} ended before it started"))),
                };
            }
        };
        if let Some(slot) = claimed.as_mut() {
            **slot = Some(run);
        }
        drop(claimed);
        let progress = watch::Sender::new(starting(run, "reconciling"));
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run, Live { progress: progress.subscribe(), cancel: None, requests: None });
        let tasks = self.clone();
        let target = target.to_string();
        let began = Instant::now();
        let finisher = tokio::spawn(async move {
            if let Ok(Err(e)) = work.await {
                tracing::warn!(target = %target, run, error = %e, "reconcile failed");
            }
            let ended = db.run(run).await.ok().flatten().map_or(RunState::Failed, |r| r.state);
            let mut last = starting(run, "finished");
            last.message = format!("finished: {ended}");
            last.elapsed_seconds = began.elapsed().as_secs_f64();
            last.state = Some(state(ended));
            progress.send_replace(last);
            tasks.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&run);
        });
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        handles.retain(|h| !h.is_finished());
        handles.push(finisher);
        Ok(Started { run, repeated: false })
    }

    /// How a run this server is carrying on is getting on, now.
    pub fn snapshot(&self, run: i64) -> Option<RunProgress> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let live = live.get(&run)?;
        let mut now = live.progress.borrow().clone();
        if let Some(requests) = &live.requests {
            now.requests = now.requests.max(requests.load(std::sync::atomic::Ordering::Relaxed));
        }
        Some(now)
    }

    /// The progress of a run this server is carrying on, to follow.
    pub fn progress(&self, run: i64) -> Option<watch::Receiver<RunProgress>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).get(&run).map(|l| l.progress.clone())
    }

    /// Asks a running run to stop; it ends as interrupted, keeping what it stored.
    pub fn cancel(&self, run: i64) -> Result<(), Error> {
        match self.live.lock().unwrap_or_else(|p| p.into_inner()).get(&run) {
            Some(Live { cancel: Some(cancel), .. }) => {
                cancel.send_replace(true);
                Ok(())
            }
            Some(Live { cancel: None, .. }) => {
                Err(Error::Invalid(format!("run {run} is a reconcile, which cannot stop half way; it ends by itself")))
            }
            None => Err(Error::Invalid(format!(
                "run {run} is not running in this server, so there is nothing to cancel; only pull runs started through the API can be cancelled"
            ))),
        }
    }

    /// Waits up to `grace` for the runs still going to record how they ended.
    pub async fn finished(&self, grace: Duration) {
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = tokio::time::timeout(grace, futures_join(handles)).await;
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// One operation a held run waits with, in words.
pub struct HeldOperation {
    /// `deactivate_user`, `delete_user`, …
    pub action: String,
    pub user: String,
    pub reason: String,
    /// Whose operation it is: the source and the user's id there, which approving selects by.
    pub source: String,
    pub source_id: String,
}

/// What a held run would do once approved, operation by operation.
pub fn held_operations(run: &api_types::Run) -> Vec<HeldOperation> {
    let held: Vec<engine::PlannedOp> =
        run.held.clone().and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default();
    held.into_iter()
        .map(|p| HeldOperation {
            action: p.op.action().to_string(),
            user: p.op.user().unwrap_or_default().to_string(),
            reason: p.reason,
            source: p.source,
            source_id: p.source_id.unwrap_or_default(),
        })
        .collect()
}

/// A run's summary in words: what a pull read and changed in idsync's copy of the source, what a
/// reconcile did to its target.
pub fn describe(kind: api_types::RunKind, s: &serde_json::Value) -> String {
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    if let Some(error) = s["error"].as_str() {
        return format!("error: {error}");
    }
    match kind {
        api_types::RunKind::Pull => format!(
            "{} read: {} users, {} groups, {} requests; users +{} ~{} -{}, groups +{} ~{} -{}; {} unchanged, {} refused, {} problems",
            if s["incremental"] == true { "incremental" } else { "full" },
            n("users_read"),
            n("groups_read"),
            n("requests"),
            n("users_created"),
            n("users_updated"),
            n("users_deleted"),
            n("groups_created"),
            n("groups_updated"),
            n("groups_deleted"),
            n("unchanged"),
            n("refused"),
            s["problems"].as_array().map_or(0, Vec::len)
        ),
        api_types::RunKind::DryRun => format!("{} planned, {} skipped", n("planned"), n("skipped")),
        _ if s.get("applied").is_some() => format!(
            "{}{} applied, {} failed, {} skipped, {} to retry, {} held",
            s["cause"].as_str().map(|c| format!("after {c}: ")).unwrap_or_default(),
            n("applied"),
            n("failed"),
            n("skipped"),
            n("retrying"),
            n("held") + n("left")
        ),
        _ if s.get("held_users").is_some() => format!(
            "{} users' deactivations or deletions ({} operations) wait for approval",
            n("held_users"),
            n("held_operations")
        ),
        _ => match s.as_object() {
            Some(fields) if !fields.is_empty() => {
                fields.iter().map(|(k, v)| format!("{} {}", k.replace('_', " "), v)).collect::<Vec<_>>().join(", ")
            }
            _ => "-".into(),
        },
    }
}

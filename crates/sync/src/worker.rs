//! The loops: the journal into the outbox, one worker per target draining its outbox, full
//! reconciles and dry-runs, and the decisions on held runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::ResourceKind;

use engine::SourceSnapshot;
use serde::Serialize;
use serde_json::json;
use store::{ChangeKind, Event, Load, OutboxKey, RunKind, RunState, Source, SourceId};
use targets::TargetError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::execute::{Outcome, apply_ops, event, record_decisions};
use super::follow::Following;
use super::snapshot::{load_all, load_users, users_in_group};
use super::{Engine, SyncError, prepare};
use engine::planner::{Plan, PlannedOp};
use engine::safeguard::hold_reason;

/// What a full reconcile or a dry-run did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub target: String,
    pub kind: String,
    pub state: String,
    pub plan: Plan,
    pub applied: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Operations that will be retried by the worker (the target was down or throttling).
    pub retrying: u64,
    pub held: u64,
    pub hold_reason: Option<String>,
}

/// The time `offset` from now.
fn time_in(offset: Duration) -> store::Time {
    (jiff::Timestamp::now() + jiff::SignedDuration::try_from(offset).unwrap_or(jiff::SignedDuration::ZERO)).into()
}

fn time_ago(offset: Duration) -> store::Time {
    (jiff::Timestamp::now() - jiff::SignedDuration::try_from(offset).unwrap_or(jiff::SignedDuration::ZERO)).into()
}

impl Engine {
    /// Runs until `shutdown` turns true: moves journal entries into the outbox and keeps one
    /// worker per bound target.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut following = Following::default();
        let mut refreshed: Option<Instant> = None;
        let mut workers_checked: Option<Instant> = None;
        let mut pruned: Option<Instant> = None;
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        while !*shutdown.borrow() {
            let configuration_moved = self.follow_config(&mut following, &shutdown).await;
            if let Err(e) = self.ingest().await {
                tracing::warn!(error = %e, "reading the change journal failed; will retry");
            }
            if self.settings.log_retention_days > 0 && pruned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                pruned = Some(Instant::now());
                let before = time_ago(Duration::from_secs(self.settings.log_retention_days * 86_400));
                match self.db.prune_log(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, before = %before, "pruned the provisioning log"),
                    Err(e) => tracing::warn!(error = %e, "pruning the provisioning log failed; will retry"),
                }
            }
            if refreshed.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                refreshed = Some(Instant::now());
                self.reconcile_pending(&mut following, &shutdown).await;
            }
            // Targets come and go with the configuration version; the periodic look restarts a
            // worker that ended.
            if configuration_moved || workers_checked.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                workers_checked = Some(Instant::now());
                match self.db.targets().await {
                    Ok(targets) => {
                        let existing: BTreeSet<String> = targets.into_iter().map(|t| t.name).collect();
                        self.keep_workers(&mut workers, &existing, &shutdown);
                    }
                    Err(e) => tracing::warn!(error = %e, "listing targets failed; will retry"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.journal_written.notified() => {
                    // Writes come in bursts: gather a few milliseconds of them per read.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                _ = shutdown.changed() => {}
            }
        }
        for (_, handle) in workers {
            handle.abort();
        }
    }

    /// One worker per target that is bound and exists; workers of others stop.
    fn keep_workers(
        self: &Arc<Self>,
        workers: &mut HashMap<String, JoinHandle<()>>,
        existing: &BTreeSet<String>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let wanted = self.bindings().targets();
        workers.retain(|name, handle| {
            let keep = wanted.contains(name) && existing.contains(name) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for name in wanted.intersection(existing) {
            if !workers.contains_key(name) {
                let engine = self.clone();
                let rx = shutdown.clone();
                let target = name.clone();
                workers.insert(name.clone(), tokio::spawn(async move { engine.target_loop(target, rx).await }));
            }
        }
    }

    /// Moves new journal entries into the outbox as (target, source user) rows. Returns how many
    /// entries it read.
    pub async fn ingest(&self) -> Result<usize, SyncError> {
        let remembered = *self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let cursor = match remembered {
            Some((seq, _)) => seq,
            None => self.db.journal_cursor().await?,
        };
        let changes = self.db.changes_since(cursor, 2000).await?;
        let Some(last) = changes.last().map(|c| c.seq) else { return Ok(0) };
        let bindings = self.bindings();
        let sources: HashMap<SourceId, Source> = self.db.list_sources().await?.into_iter().map(|s| (s.id, s)).collect();
        let mut keys = BTreeSet::new();
        for c in &changes {
            let Some(source) = sources.get(&c.source) else { continue };
            let targets: Vec<String> = bindings.for_source(&source.name).map(|(s, _)| s.target.clone()).collect();
            if targets.is_empty() {
                continue;
            }
            let users = self.affected_users(source, c.kind, &c.resource_id, &c.change).await?;
            for t in &targets {
                for u in &users {
                    keys.insert(OutboxKey { target: t.clone(), source: source.name.clone(), source_id: u.clone() });
                }
            }
        }
        let keys: Vec<OutboxKey> = keys.into_iter().collect();
        // Entries that concern no target move the cursor in memory only, written now and then:
        // re-reading them after a crash enqueues nothing, and a write transaction per SCIM write
        // of an unbound source would halve its write throughput.
        let persisted_at = remembered.map(|(_, at)| at);
        if !keys.is_empty() || persisted_at.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
            self.db.enqueue(&keys, last).await?;
            *self.cursor.lock().unwrap_or_else(|e| e.into_inner()) = Some((last, Instant::now()));
        } else if let Some(at) = persisted_at {
            *self.cursor.lock().unwrap_or_else(|e| e.into_inner()) = Some((last, at));
        }
        let touched: BTreeSet<&str> = keys.iter().map(|k| k.target.as_str()).collect();
        for target in touched {
            self.outbox_bell(target).notify_one();
            if let Ok(pending) = self.db.pending(target).await {
                metrics::gauge!("idsync_outbox_pending", "target" => target.to_string()).set(pending as f64);
            }
        }
        metrics::counter!("idsync_journal_entries_total").increment(changes.len() as u64);
        Ok(changes.len())
    }

    /// The users whose target state a journal entry may change.
    async fn affected_users(
        &self,
        source: &Source,
        kind: ChangeKind,
        id: &str,
        change: &str,
    ) -> Result<Vec<String>, SyncError> {
        let db: &dyn store::Store = &*self.db;
        Ok(match kind {
            ChangeKind::User => vec![id.to_string()],
            ChangeKind::Member => match db.get(source.id, ResourceKind::Group, id, Load::default()).await? {
                // A group joined or left a group: every user under it is affected.
                Some(_) => users_in_group(db, source, id).await?,
                None => vec![id.to_string()],
            },
            ChangeKind::Group if change == "deleted" => {
                // Its members were journaled one by one before it went.
                self.db.group_renamed(source.id, id, None).await?;
                Vec::new()
            }
            ChangeKind::Group => {
                let Some(group) = db.get(source.id, ResourceKind::Group, id, Load::default()).await? else {
                    return Ok(Vec::new());
                };
                let name = group.data.get("displayName").and_then(|v| v.as_str()).unwrap_or_default().to_string();
                // Membership changes are journaled per member; only a rename touches everyone.
                if self.db.group_renamed(source.id, id, Some(&name)).await? {
                    users_in_group(db, source, id).await?
                } else {
                    Vec::new()
                }
            }
        })
    }

    async fn target_loop(self: Arc<Self>, target: String, mut shutdown: watch::Receiver<bool>) {
        let bell = self.outbox_bell(&target);
        let mut failures = 0u32;
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        self.report_gauges(&target).await;
        // Saved without a check: the first exchange that goes well says the target is fine.
        let mut unchecked =
            self.db.target(&target).await.ok().flatten().is_some_and(|r| r.health() == store::Health::Unknown);
        while !*shutdown.borrow() {
            let due = self.reconcile_due(&target).await;
            if !matches!(due, Ok(None)) {
                self.report_gauges(&target).await;
            }
            let pause = match due {
                Ok(Some(outcome)) => match (outcome.outage, outcome.throttled) {
                    (Some(error), _) => {
                        failures += 1;
                        let detail = match &error {
                            TargetError::Unauthorized { .. } | TargetError::Forbidden { .. } => {
                                format!("{}: {error}", store::CREDENTIALS_REFUSED)
                            }
                            _ => error.to_string(),
                        };
                        self.health(&target, false, &detail).await;
                        self.retry_delay(failures, error.retry_after())
                    }
                    (None, throttled) => {
                        if failures > 0 || unchecked {
                            unchecked = false;
                            self.health(&target, true, "").await;
                        }
                        failures = 0;
                        // A 429 limits the account, not one user: the whole target waits.
                        throttled.unwrap_or(Duration::ZERO)
                    }
                },
                Ok(None) => {
                    if failures > 0 {
                        self.health(&target, true, "").await;
                        failures = 0;
                    }
                    // Idle: wait for the bell (new work) or the poll interval (due retries).
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = bell.notified() => {}
                        _ = shutdown.changed() => {}
                    }
                    Duration::ZERO
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(target = %target, error = %e, "reconcile failed; will retry");
                    self.health(&target, false, &e.to_string()).await;
                    self.retry_delay(failures, None)
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// What is waiting and whether the target answers, as `target list` says it: set when a worker
    /// starts and after every attempt, failed ones included.
    async fn report_gauges(&self, target: &str) {
        if let Ok(pending) = self.db.pending(target).await {
            metrics::gauge!("idsync_outbox_pending", "target" => target.to_string()).set(pending as f64);
        }
        if let Ok(Some(record)) = self.db.target(target).await {
            metrics::gauge!("idsync_target_healthy", "target" => target.to_string()).set(if record.healthy {
                1.0
            } else {
                0.0
            });
        }
    }

    async fn health(&self, target: &str, healthy: bool, detail: &str) {
        let changed = match self.db.set_target_health(target, healthy, detail).await {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(target = %target, error = %e, "cannot record target health");
                return;
            }
        };
        metrics::gauge!("idsync_target_healthy", "target" => target.to_string()).set(if healthy { 1.0 } else { 0.0 });
        if !changed {
            return;
        }
        let (action, reason) = if healthy {
            tracing::info!(target = %target, "target is reachable again; resuming");
            let _ = self.db.wake(target).await;
            ("target_healthy", "the target answers again; pending changes resume".to_string())
        } else {
            tracing::warn!(target = %target, error = %detail, "target is unhealthy; changes wait and are retried");
            ("target_unhealthy", format!("the target failed: {detail}; changes wait in the outbox and are retried"))
        };
        let event = Event {
            source: "idsync".into(),
            target: target.into(),
            action: action.into(),
            reason,
            result: "applied".into(),
            ..Event::default()
        };
        let _ = self.db.record_events(&[event]).await;
    }

    /// Reconciles the due outbox rows of one target. None when nothing was due.
    pub async fn reconcile_due(&self, target: &str) -> Result<Option<Outcome>, SyncError> {
        let items = self.db.due(target, time_in(Duration::ZERO), self.settings.batch_size).await?;
        if items.is_empty() {
            return Ok(None);
        }
        let _turn = self.turn(target).await;
        let record = self.target_record(target).await?;
        let bindings = self.bindings();
        let bound: Vec<_> = bindings.for_target(target).map(|(s, r)| (s, r)).collect();
        let mut ids: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for item in &items {
            ids.entry(item.key.source.as_str()).or_default().insert(item.key.source_id.clone());
        }
        let mut used = Vec::new();
        let mut snapshots = Vec::new();
        for (spec, rules) in &bound {
            let Some(wanted) = ids.get(spec.source.as_str()) else { continue };
            let Some(source) = self.db.source(&spec.source).await? else { continue };
            snapshots.push(load_users(&*self.db, &source, wanted).await?);
            used.push((*spec, *rules));
        }
        let client = self.client(&record)?;
        let planned =
            match prepare(&*self.db, &record, &*client, &used, &snapshots, false, self.settings.concurrency).await {
                Ok(p) => p,
                Err(SyncError::Target { error, .. }) if error.is_retryable() => {
                    for item in &items {
                        let next = time_in(self.retry_delay(item.attempts, error.retry_after()));
                        self.db.reschedule(item, next, &error.to_string()).await?;
                    }
                    let mut outcome = Outcome::default();
                    outcome.observe(&error);
                    return Ok(Some(outcome));
                }
                Err(e) => return Err(e),
            };
        let (to_apply, _) = self.guard(target, &planned, RunKind::Realtime, None).await?;
        record_decisions(&*self.db, target, &planned, None).await?;
        let outcome = apply_ops(&*self.db, target, &*client, &to_apply, None, self.settings.concurrency).await?;
        let mut done = Vec::new();
        for item in items {
            match outcome.retry.get(&(item.key.source.clone(), item.key.source_id.clone())) {
                Some(error) => {
                    let next = time_in(self.retry_delay(item.attempts, error.retry_after()));
                    self.db.reschedule(&item, next, &error.to_string()).await?;
                }
                None => done.push(item),
            }
        }
        self.db.complete(&done).await?;
        Ok(Some(outcome))
    }

    /// Splits a plan into what may be applied now and what the safeguard holds for approval.
    /// Held operations go into a held run (the one already waiting, if there is one).
    async fn guard(
        &self,
        target: &str,
        plan: &Plan,
        kind: RunKind,
        run_id: Option<i64>,
    ) -> Result<(Vec<PlannedOp>, Option<(i64, String, usize)>), SyncError> {
        let count = plan.deprovisioning() as u64;
        if count == 0 {
            return Ok((plan.ops.clone(), None));
        }
        let waiting = self.db.runs(Some(target), None, 100).await?.into_iter().find(|r| r.state == RunState::Held);
        let reason = match &waiting {
            Some(run) => Some(format!(
                "run {} is waiting for approval, so further deactivations and deletions wait with it",
                run.id
            )),
            None => {
                let window = Duration::from_secs(self.settings.safeguard_window_minutes * 60);
                let recent = self.db.deprovisioned_since(target, time_ago(window)).await?;
                let managed = self.db.managed_users(target).await?;
                hold_reason(&self.settings.safeguard, count + recent, managed).map(|r| {
                    if recent > 0 {
                        format!(
                            "{r} (counting {recent} applied in the last {} minutes)",
                            self.settings.safeguard_window_minutes
                        )
                    } else {
                        r
                    }
                })
            }
        };
        let Some(reason) = reason else { return Ok((plan.ops.clone(), None)) };
        let held_users: BTreeSet<(&String, &Option<String>)> =
            plan.ops.iter().filter(|p| p.deprovision).map(|p| (&p.source, &p.source_id)).collect();
        let (held, apply): (Vec<PlannedOp>, Vec<PlannedOp>) = plan
            .ops
            .iter()
            .cloned()
            .partition(|p| p.source_id.is_some() && held_users.contains(&(&p.source, &p.source_id)));
        let (id, mut all_held) = match (waiting, run_id) {
            (Some(run), _) => {
                let before: Vec<PlannedOp> = run.held.and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default();
                (run.id, before)
            }
            (None, Some(id)) => (id, Vec::new()),
            (None, None) => (self.db.create_run(kind, target).await?, Vec::new()),
        };
        all_held.extend(held.iter().cloned());
        let held_json = serde_json::to_value(&all_held).unwrap_or_default();
        let summary = json!({"held_operations": all_held.len(), "held_users": held_users.len()});
        self.db.update_run(id, RunState::Held, &summary, Some(&reason), Some(&held_json)).await?;
        let events: Vec<Event> = held
            .iter()
            .map(|p| {
                let mut e = event(target, Some(id), p, "held", None);
                e.detail = Some(format!("{reason}; held in run {id} until it is approved or rejected"));
                e
            })
            .collect();
        self.db.record_events(&events).await?;
        tracing::warn!(target = %target, run = id, reason = %reason, "deprovisioning held for approval");
        Ok((apply, Some((id, reason, held.len()))))
    }

    /// Reconciles a whole target against every source bound to it (healing any drift), or with
    /// `dry_run` only says what that would do.
    pub async fn full_sync(&self, target: &str, dry_run: bool) -> Result<RunReport, SyncError> {
        self.reconcile(target, dry_run, None, None, None).await
    }

    /// [`Engine::full_sync`], telling `started` the run's id as soon as the run is recorded, so a
    /// caller can answer with it while the run goes on.
    pub async fn full_sync_announced(
        &self,
        target: &str,
        dry_run: bool,
        started: tokio::sync::oneshot::Sender<i64>,
    ) -> Result<RunReport, SyncError> {
        self.reconcile(target, dry_run, None, None, Some(started)).await
    }

    /// A dry run of `target` with one source as `preview` shows it (a pull read not yet stored)
    /// and the others as stored.
    pub async fn preview(&self, target: &str, preview: SourceSnapshot) -> Result<RunReport, SyncError> {
        self.reconcile(target, true, Some(preview), None, None).await
    }

    /// A full reconcile, not a dry run, because bindings to `target` were added or their rules
    /// changed (`cause` says which, in the run's summary).
    pub(super) async fn reconcile_for_change(&self, target: &str, cause: &str) -> Result<RunReport, SyncError> {
        self.reconcile(target, false, None, Some(cause), None).await
    }

    async fn reconcile(
        &self,
        target: &str,
        dry_run: bool,
        replacement: Option<SourceSnapshot>,
        cause: Option<&str>,
        started: Option<tokio::sync::oneshot::Sender<i64>>,
    ) -> Result<RunReport, SyncError> {
        let record = self.target_record(target).await?;
        let bindings = self.bindings();
        let bound: Vec<_> = bindings.for_target(target).map(|(s, r)| (s, r)).collect();
        if bound.is_empty() {
            return Err(SyncError::Unbound(target.to_string()));
        }
        let mut snapshots = Vec::new();
        for (spec, _) in &bound {
            let source = self.db.source(&spec.source).await?.ok_or_else(|| SyncError::MissingSource {
                source_name: spec.source.clone(),
                target: target.to_string(),
            })?;
            match &replacement {
                Some(preview) if preview.source == source.name => snapshots.push(preview.clone()),
                _ => snapshots.push(load_all(&*self.db, &source).await?),
            }
        }
        let kind = if dry_run { RunKind::DryRun } else { RunKind::Full };
        let _turn = self.turn(target).await;
        let run_id = self.db.create_run(kind, target).await?;
        if let Some(started) = started {
            let _ = started.send(run_id);
        }
        let client = self.client(&record)?;
        let planned =
            match prepare(&*self.db, &record, &*client, &bound, &snapshots, true, self.settings.concurrency).await {
                Ok(p) => p,
                Err(e) => {
                    self.db.update_run(run_id, RunState::Failed, &json!({"error": e.to_string()}), None, None).await?;
                    return Err(e);
                }
            };
        let plan = planned;
        let mut report = RunReport {
            run_id,
            target: target.to_string(),
            kind: kind.to_string(),
            state: RunState::Done.as_str().into(),
            applied: 0,
            failed: 0,
            skipped: plan.skipped.len() as u64,
            retrying: 0,
            held: 0,
            hold_reason: None,
            plan: Plan::default(),
        };
        if dry_run {
            let count = plan.deprovisioning() as u64;
            let managed = self.db.managed_users(target).await?;
            report.hold_reason = hold_reason(&self.settings.safeguard, count, managed);
            let events: Vec<Event> = plan.ops.iter().map(|p| event(target, Some(run_id), p, "planned", None)).collect();
            self.db.record_events(&events).await?;
            let summary =
                json!({"planned": plan.ops.len(), "skipped": plan.skipped.len(), "would_hold": report.hold_reason});
            self.db.update_run(run_id, RunState::Done, &summary, None, None).await?;
            report.plan = plan;
            return Ok(report);
        }
        let (to_apply, held) = self.guard(target, &plan, RunKind::Full, Some(run_id)).await?;
        record_decisions(&*self.db, target, &plan, Some(run_id)).await?;
        let outcome =
            apply_ops(&*self.db, target, &*client, &to_apply, Some(run_id), self.settings.concurrency).await?;
        if !outcome.retry.is_empty() {
            // Hand what the target refused for now to the worker, so it is retried durably.
            let keys: Vec<OutboxKey> = outcome
                .retry
                .keys()
                .map(|(source, id)| OutboxKey {
                    target: target.to_string(),
                    source: source.clone(),
                    source_id: id.clone(),
                })
                .collect();
            let cursor = self.db.journal_cursor().await?;
            self.db.enqueue(&keys, cursor).await?;
        }
        report.applied = outcome.applied;
        report.failed = outcome.failed;
        report.skipped += outcome.skipped;
        report.retrying = outcome.retry.len() as u64;
        if let Some((held_run, reason, n)) = held {
            report.held = n as u64;
            report.hold_reason = Some(reason);
            if held_run == run_id {
                report.state = RunState::Held.as_str().into();
            }
        }
        let mut summary = json!({
            "applied": report.applied, "failed": report.failed, "skipped": report.skipped,
            "retrying": report.retrying, "held": report.held,
        });
        if let Some(cause) = cause {
            summary["cause"] = cause.into();
        }
        if report.state != RunState::Held.as_str() {
            self.db.update_run(run_id, RunState::Done, &summary, None, None).await?;
        }
        // The target now reflects these rules: a server need not reconcile it again for them.
        for (spec, _) in &bound {
            if let Some(revision) = bindings.revision(&spec.source, target) {
                self.db.binding_reconciled(&spec.source, target, revision).await?;
            }
        }
        report.plan = plan;
        Ok(report)
    }

    /// Reconciles one source user in every target bound to its source now and waits, up to
    /// `timeout`, for the result: per target, what happened.
    pub async fn sync_user_now(
        &self,
        source: &str,
        source_id: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, SyncError> {
        let bindings = self.bindings();
        let keys: Vec<OutboxKey> = bindings
            .for_source(source)
            .map(|(spec, _)| OutboxKey {
                target: spec.target.clone(),
                source: source.to_string(),
                source_id: source_id.to_string(),
            })
            .collect();
        let cursor = self.db.journal_cursor().await?;
        self.db.enqueue(&keys, cursor).await?;
        for k in &keys {
            self.outbox_bell(&k.target).notify_one();
        }
        let deadline = Instant::now() + timeout;
        let mut results = Vec::new();
        for key in keys {
            let status = loop {
                match self.db.queued(&key).await? {
                    None => break "applied".to_string(),
                    Some(item) if item.attempts > 0 => {
                        break format!("not applied yet, will be retried: {}", item.last_error.unwrap_or_default());
                    }
                    Some(_) if Instant::now() >= deadline => break "still in progress".to_string(),
                    Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            results.push((key.target, status));
        }
        Ok(results)
    }

    /// Deprovisions the users a held run is waiting with. Their plan is made again from what the
    /// sources and the target say now, so a user reactivated since the hold stays active.
    pub async fn approve(
        &self,
        run_id: i64,
        only: Option<&BTreeSet<(String, String)>>,
    ) -> Result<RunReport, SyncError> {
        let run = self.held_run(run_id).await?;
        let held: Vec<PlannedOp> = run
            .held
            .clone()
            .and_then(|h| serde_json::from_value(h).ok())
            .ok_or_else(|| SyncError::Invalid(format!("run {run_id} holds no readable operations")))?;
        let user_of = |p: &PlannedOp| (p.source.clone(), p.source_id.clone().unwrap_or_default());
        let chosen = |p: &PlannedOp| only.is_none_or(|only| only.contains(&user_of(p)));
        if let Some(only) = only {
            let held_users: BTreeSet<(String, String)> = held.iter().map(user_of).collect();
            if let Some((source, id)) = only.iter().find(|u| !held_users.contains(*u)) {
                return Err(SyncError::Invalid(format!(
                    "run {run_id} holds nothing for user {id} of {source}; choose among the users it lists"
                )));
            }
        }
        let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in held.iter().filter(|p| chosen(p)) {
            if let Some(id) = &p.source_id {
                ids.entry(p.source.clone()).or_default().insert(id.clone());
            }
        }
        let record = self.target_record(&run.target).await?;
        let _turn = self.turn(&run.target).await;
        let bindings = self.bindings();
        let mut used = Vec::new();
        let mut snapshots = Vec::new();
        for (spec, rules) in bindings.for_target(&run.target) {
            let (Some(wanted), Some(source)) = (ids.get(&spec.source), self.db.source(&spec.source).await?) else {
                continue;
            };
            snapshots.push(load_users(&*self.db, &source, wanted).await?);
            used.push((spec, rules));
        }
        let client = self.client(&record)?;
        let plan = prepare(&*self.db, &record, &*client, &used, &snapshots, false, self.settings.concurrency).await?;
        record_decisions(&*self.db, &run.target, &plan, Some(run_id)).await?;
        let outcome =
            apply_ops(&*self.db, &run.target, &*client, &plan.ops, Some(run_id), self.settings.concurrency).await?;
        // What stays held: the users not chosen, and those the target could not take now.
        let undecided = held.iter().filter(|p| !chosen(p)).count();
        let left: Vec<PlannedOp> =
            held.into_iter().filter(|p| !chosen(p) || outcome.retry.contains_key(&user_of(p))).collect();
        let summary = json!({"applied": outcome.applied, "failed": outcome.failed, "left": left.len()});
        let state = if left.is_empty() { RunState::Approved } else { RunState::Held };
        let held_json = serde_json::to_value(&left).unwrap_or_default();
        self.db.update_run(run_id, state, &summary, None, Some(&held_json)).await?;
        Ok(RunReport {
            run_id,
            target: run.target,
            kind: run.kind.as_str().into(),
            state: state.as_str().into(),
            applied: outcome.applied,
            failed: outcome.failed,
            skipped: outcome.skipped,
            retrying: (left.len() - undecided) as u64,
            held: left.len() as u64,
            hold_reason: match (undecided, left.len()) {
                (_, 0) => None,
                (0, _) => Some("the target could not take every operation now; approve again later".into()),
                (n, _) => Some(format!("{n} operations of the users not chosen wait for a decision")),
            },
            plan,
        })
    }

    /// Discards the operations a held run is waiting with.
    pub async fn reject(&self, run_id: i64) -> Result<(), SyncError> {
        let run = self.held_run(run_id).await?;
        let ops: Vec<PlannedOp> = run.held.clone().and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default();
        let events: Vec<Event> = ops.iter().map(|p| event(&run.target, Some(run_id), p, "rejected", None)).collect();
        self.db.record_events(&events).await?;
        self.db.update_run(run_id, RunState::Rejected, &run.summary, None, None).await?;
        Ok(())
    }

    async fn held_run(&self, run_id: i64) -> Result<store::RunRecord, SyncError> {
        let run = self.db.run(run_id).await?.ok_or(SyncError::NoRun(run_id))?;
        if run.state != RunState::Held {
            return Err(SyncError::Invalid(format!(
                "run {run_id} is {}, not held: there is nothing to decide",
                run.state
            )));
        }
        Ok(run)
    }
}

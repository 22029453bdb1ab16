//! Applying a plan to a target: group creation first, then each source user's operations in
//! order, different users in parallel. Ownership that an operation claims is recorded before the
//! call (so a crash never leaves an unowned object idsync made) and what it releases after it.

use std::collections::BTreeMap;

use model::target::{Grant, Operation, UserLink};
use store::{Database, Event, OwnershipChange, StoreError};
use targets::{TargetClient, TargetError};

use engine::planner::{Effect, LinkChange, Plan, PlannedOp};

/// What applying a plan did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Source users (source, id) whose operations must be tried again, with the reason.
    pub retry: BTreeMap<(String, String), TargetError>,
    /// Set when an error says the whole target is down or refuses us.
    pub outage: Option<TargetError>,
    /// Set when the target throttled us: the wait it asked for applies to every request.
    pub throttled: Option<std::time::Duration>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.applied += other.applied;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.retry.extend(other.retry);
        if self.outage.is_none() {
            self.outage = other.outage;
        }
        self.throttled = self.throttled.max(other.throttled);
    }

    /// Notes what an error says about the whole target.
    pub(crate) fn observe(&mut self, error: &TargetError) {
        if error.is_outage() && self.outage.is_none() {
            self.outage = Some(error.clone());
        }
        if let TargetError::Throttled { retry_after, .. } = error {
            self.throttled = self.throttled.max(Some(retry_after.unwrap_or(std::time::Duration::from_secs(1))));
        }
    }
}

pub(crate) fn event(target: &str, run_id: Option<i64>, p: &PlannedOp, result: &str, detail: Option<String>) -> Event {
    Event {
        run_id,
        source: p.source.clone(),
        target: target.to_string(),
        user: p.op.user().map(String::from),
        group: p.op.group().map(String::from),
        action: p.op.action().to_string(),
        reason: p.reason.clone(),
        result: result.to_string(),
        detail,
        ..Event::default()
    }
}

/// Ownership recorded before the call: what the operation is about to make idsync's.
fn claims(p: &PlannedOp) -> Option<OwnershipChange> {
    match (&p.effect, &p.op) {
        (Effect::Link { source_id }, Operation::CreateUser { user }) => Some(OwnershipChange::Link(UserLink {
            source: p.source.clone(),
            source_id: source_id.clone(),
            name: user.name.clone(),
        })),
        (Effect::Grant { origin }, Operation::AddMember { group, user }) => Some(OwnershipChange::Grant(Grant {
            source: p.source.clone(),
            group: group.clone(),
            user: user.clone(),
            origin: *origin,
        })),
        _ => None,
    }
}

/// Undoes a claim whose operation failed for good.
fn unclaim(claim: &OwnershipChange) -> Option<OwnershipChange> {
    match claim {
        OwnershipChange::Link(l) => Some(OwnershipChange::Unlink {
            source: l.source.clone(),
            source_id: l.source_id.clone(),
            name: l.name.clone(),
        }),
        OwnershipChange::Grant(g) => Some(OwnershipChange::Revoke { user: g.user.clone(), group: g.group.clone() }),
        _ => None,
    }
}

/// Ownership recorded after the call succeeded: what the operation gave up or renamed.
fn releases(p: &PlannedOp) -> Option<OwnershipChange> {
    match (&p.effect, &p.op) {
        (Effect::Rename { source_id }, Operation::RenameUser { name, new_name }) => Some(OwnershipChange::Rename {
            source: p.source.clone(),
            source_id: source_id.clone(),
            old_name: name.clone(),
            new_name: new_name.clone(),
        }),
        (Effect::Unlink { source_id }, Operation::DeleteUser { name }) => {
            Some(OwnershipChange::Unlink { source: p.source.clone(), source_id: source_id.clone(), name: name.clone() })
        }
        (Effect::Revoke, Operation::RemoveMember { group, user }) => {
            Some(OwnershipChange::Revoke { user: user.clone(), group: group.clone() })
        }
        _ => None,
    }
}

fn count(target: &str, p: &PlannedOp, result: &'static str) {
    metrics::counter!("idsync_target_operations_total", "target" => target.to_string(), "action" => p.op.action(), "result" => result)
        .increment(1);
}

/// Records adoptions, forgotten links and skipped users; they need no call to the target.
pub(crate) async fn record_decisions(
    db: &dyn Database,
    target: &str,
    plan: &Plan,
    run_id: Option<i64>,
) -> Result<u64, StoreError> {
    let mut changes = Vec::new();
    let mut events = Vec::new();
    for change in &plan.links {
        let (link, action, reason, ownership) = match change {
            LinkChange::Adopt { link, reason } => (link, "adopt_user", reason, OwnershipChange::Link(link.clone())),
            LinkChange::Forget { link, reason } => (
                link,
                "forget_user",
                reason,
                OwnershipChange::Unlink {
                    source: link.source.clone(),
                    source_id: link.source_id.clone(),
                    name: link.name.clone(),
                },
            ),
        };
        changes.push(ownership);
        events.push(Event {
            run_id,
            source: link.source.clone(),
            target: target.to_string(),
            user: Some(link.name.clone()),
            action: action.into(),
            reason: reason.clone(),
            result: "applied".into(),
            ..Event::default()
        });
    }
    for s in &plan.skipped {
        events.push(Event {
            run_id,
            source: s.source.clone(),
            target: target.to_string(),
            user: Some(s.user.clone()),
            action: "skip_user".into(),
            reason: s.reason.clone(),
            result: if s.conflict { "conflict" } else { "skipped" }.into(),
            ..Event::default()
        });
    }
    db.record_ownership(target, &changes).await?;
    db.record_events(&events).await?;
    Ok(plan.skipped.len() as u64)
}

/// What a sequence did, to be written to the store in one go.
#[derive(Default)]
struct Written {
    outcome: Outcome,
    events: Vec<Event>,
    /// Releases of applied operations and undone claims of failed ones.
    ownership: Vec<OwnershipChange>,
}

/// Applies the operations of a plan (not its decisions: see [`record_decisions`]).
///
/// Everything the operations claim is recorded in one transaction before the first call, and
/// what they release, with the log entries, in one after the last: two writes per batch instead
/// of two per operation. A crash in between leaves claims of operations that never ran (the next
/// reconcile recreates or forgets them) and releases not yet recorded (a stale link is forgotten
/// when its user is found missing; a stale grant names a membership that is gone) — never an
/// object idsync made without owning it. Log entries of that batch can be lost; changes cannot.
pub(crate) async fn apply_ops(
    db: &dyn Database,
    target: &str,
    client: &dyn TargetClient,
    ops: &[PlannedOp],
    run_id: Option<i64>,
    concurrency: usize,
) -> Result<Outcome, StoreError> {
    use futures_util::stream::{self, StreamExt};
    let claimed: Vec<OwnershipChange> = ops.iter().filter_map(claims).collect();
    db.record_ownership(target, &claimed).await?;
    let (groups, users): (Vec<&PlannedOp>, Vec<&PlannedOp>) = ops.iter().partition(|p| p.source_id.is_none());
    // Users' memberships need the groups: if creating one fails for now, the whole batch waits.
    let mut written = apply_sequence(target, client, &groups, run_id).await;
    let groups_blocked = written.outcome.retry.values().next().cloned();
    let mut sequences: BTreeMap<(String, String), Vec<&PlannedOp>> = BTreeMap::new();
    for p in users {
        let key = (p.source.clone(), p.source_id.clone().unwrap_or_default());
        sequences.entry(key).or_default().push(p);
    }
    match groups_blocked {
        Some(error) => {
            for key in sequences.into_keys() {
                written.outcome.retry.insert(key, error.clone());
            }
        }
        None => {
            // Built up front so no closure ends up inside the future (it would need a lifetime for all).
            let runs: Vec<_> =
                sequences.into_values().map(|seq| apply_sequence_owned(target, client, seq, run_id)).collect();
            let results: Vec<Written> = stream::iter(runs).buffer_unordered(concurrency.max(1)).collect().await;
            for r in results {
                written.outcome.merge(r.outcome);
                written.events.extend(r.events);
                written.ownership.extend(r.ownership);
            }
        }
    }
    db.record_ownership(target, &written.ownership).await?;
    db.record_events(&written.events).await?;
    Ok(written.outcome)
}

async fn apply_sequence_owned(
    target: &str,
    client: &dyn TargetClient,
    seq: Vec<&PlannedOp>,
    run_id: Option<i64>,
) -> Written {
    apply_sequence(target, client, &seq, run_id).await
}

/// Applies operations one after the other, stopping at the first failure.
async fn apply_sequence(target: &str, client: &dyn TargetClient, seq: &[&PlannedOp], run_id: Option<i64>) -> Written {
    let mut w = Written::default();
    for (i, p) in seq.iter().enumerate() {
        match client.apply(&p.op).await {
            Ok(()) => {
                w.ownership.extend(releases(p));
                w.outcome.applied += 1;
                count(target, p, "applied");
                w.events.push(event(target, run_id, p, "applied", None));
            }
            Err(error) if error.is_retryable() => {
                // The claim stays: the retry will do what it was made for.
                count(target, p, "retrying");
                w.events.push(event(target, run_id, p, "retrying", Some(error.to_string())));
                w.outcome.observe(&error);
                w.outcome.retry.insert((p.source.clone(), p.source_id.clone().unwrap_or_default()), error);
                break;
            }
            Err(error) => {
                w.ownership.extend(claims(p).as_ref().and_then(unclaim));
                w.outcome.observe(&error);
                w.outcome.failed += 1;
                count(target, p, "failed");
                w.events.push(event(target, run_id, p, "failed", Some(error.to_string())));
                for rest in &seq[i + 1..] {
                    w.ownership.extend(claims(rest).as_ref().and_then(unclaim));
                    w.outcome.skipped += 1;
                    let mut e = event(target, run_id, rest, "skipped", None);
                    e.detail = Some(format!("not tried: {} failed before it", p.op.action()));
                    w.events.push(e);
                }
                break;
            }
        }
    }
    w
}

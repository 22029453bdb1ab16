//! Following the configuration: every change of sources, tokens, targets and bindings moves the
//! store's configuration version (whichever process made it); when it moves, the engine reloads
//! the bindings, looks at the targets again, and reconciles every target whose bindings were
//! added or changed since it was last reconciled for them. That reconcile is what makes a rule
//! that came later cover what was pushed before it, and it goes through the safeguard like any
//! full run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use store::BindingRecord;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Bindings, Engine, SyncError};

/// What the run loop remembers between its looks at the configuration.
#[derive(Default)]
pub(super) struct Following {
    version: Option<i64>,
    reconciles: HashMap<String, JoinHandle<()>>,
}

impl Engine {
    /// Reloads the bindings when the configuration version moved (and on the first call), then
    /// starts the reconciles that changed bindings call for. True when the configuration moved.
    pub(super) async fn follow_config(
        self: &Arc<Self>,
        following: &mut Following,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        let version = match self.db.config_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading the configuration version failed; will retry");
                return false;
            }
        };
        if following.version == Some(version) {
            return false;
        }
        let records = match self.db.bindings().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reading the bindings failed; keeping the ones in use");
                return false;
            }
        };
        let bindings = Bindings::from_records(&records);
        for b in bindings.broken() {
            tracing::error!(source = %b.source, target = %b.target, error = %b.error,
                "a binding's rules cannot be used; it is left out until they are fixed, the others go on");
        }
        if following.version.is_some() {
            tracing::info!(version, bindings = records.len(), "configuration changed; bindings reloaded");
        }
        self.set_bindings(bindings);
        following.version = Some(version);
        self.reconcile_changed(&records, following, shutdown);
        true
    }

    /// Looks at the stored bindings again for reconciles still due (a change made while a
    /// reconcile of the same target ran, or one whose target was down).
    pub(super) async fn reconcile_pending(
        self: &Arc<Self>,
        following: &mut Following,
        shutdown: &watch::Receiver<bool>,
    ) {
        match self.db.bindings().await {
            Ok(records) => self.reconcile_changed(&records, following, shutdown),
            Err(e) => tracing::warn!(error = %e, "reading the bindings failed; will retry"),
        }
    }

    fn reconcile_changed(
        self: &Arc<Self>,
        records: &[BindingRecord],
        following: &mut Following,
        shutdown: &watch::Receiver<bool>,
    ) {
        following.reconciles.retain(|_, handle| !handle.is_finished());
        let bindings = self.bindings();
        let broken: Vec<(&str, &str)> =
            bindings.broken().iter().map(|b| (b.source.as_str(), b.target.as_str())).collect();
        let mut causes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for r in records.iter().filter(|r| r.needs_reconcile()) {
            if broken.contains(&(r.source.as_str(), r.target.as_str())) {
                continue;
            }
            let cause = if r.reconciled == 0 {
                format!("binding {} → {} added", r.source, r.target)
            } else {
                format!("rules of {} → {} changed", r.source, r.target)
            };
            causes.entry(r.target.as_str()).or_default().push(cause);
        }
        for (target, cause) in causes {
            if following.reconciles.contains_key(target) {
                continue;
            }
            let task =
                tokio::spawn(self.clone().reconcile_until_done(target.to_string(), cause.join("; "), shutdown.clone()));
            following.reconciles.insert(target.to_string(), task);
        }
    }

    /// Reconciles `target` for a binding change, retrying with back-off while it fails (the
    /// target may be down); the change stays due in the store until a reconcile succeeds.
    async fn reconcile_until_done(self: Arc<Self>, target: String, cause: String, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            match self.reconcile_for_change(&target, &cause).await {
                Ok(report) => {
                    tracing::info!(target = %target, run = report.run_id, applied = report.applied, held = report.held,
                        failed = report.failed, cause = %cause, "reconciled after a binding change");
                    return;
                }
                Err(e) => {
                    failures += 1;
                    // A throttling target says how long to wait; the whole target waits that long.
                    let asked = match &e {
                        SyncError::Target { error, .. } => error.retry_after(),
                        _ => None,
                    };
                    let pause = self.retry_delay(failures, asked).max(Duration::from_millis(100));
                    tracing::warn!(target = %target, error = %e, cause = %cause,
                        retry_in_ms = pause.as_millis() as u64, "reconcile after a binding change failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }
}

//! Scheduled pull runs: [`run`] asks the store every second which pull sources are due (by
//! [`crate::schedule::decide`]), runs each on its own task, and never starts a source while its
//! previous run in this process is still going (the run lock covers other processes).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::Error;
use crate::pull::{PullConfig, PullEnv, ReadMode, Unwatched, pull_now};
use crate::schedule::{Decision, Schedule, ScheduleState, decide};

/// Sources with a scheduled run in progress in this process.
#[derive(Default, Clone)]
struct Running(Arc<Mutex<BTreeSet<String>>>);

impl Running {
    /// Marks `name` as running; false when it already is.
    fn start(&self, name: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string())
    }

    fn finish(&self, name: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
    }

    fn contains(&self, name: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(name)
    }

    fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

/// How long, at shutdown, scheduled runs get to record that they were interrupted.
const WIND_DOWN: Duration = Duration::from_secs(5);

/// A little spread so that sources on the same schedule do not all start in the same second.
fn jitter(schedule: &Schedule) -> jiff::SignedDuration {
    let spread = match schedule {
        Schedule::Every(d) => (*d / 20).min(Duration::from_secs(30)),
        Schedule::Cron { .. } => Duration::from_secs(30),
    };
    let ms = spread.as_millis() as u64;
    jiff::SignedDuration::from_millis(if ms == 0 { 0 } else { (rand::random::<u64>() % ms) as i64 })
}

/// Runs scheduled pull sources until `shutdown` turns true; runs still going then are stopped
/// the way an interrupted run is (what was read is kept, deletions are not inferred), and this
/// returns once they have recorded so (or after a few seconds).
pub async fn run(store: Arc<dyn store::Database>, env: PullEnv, mut shutdown: watch::Receiver<bool>) {
    let running = Running::default();
    while !*shutdown.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => break,
        }
        if let Err(e) = tick(&store, &env, &running, &shutdown).await {
            tracing::warn!(error = %e, "the scheduler could not read its sources; will retry");
        }
    }
    let wound_down = async {
        while !running.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(WIND_DOWN, wound_down).await.is_err() {
        tracing::warn!("scheduled runs still going at shutdown; the next start finds them interrupted");
    }
}

async fn tick(
    store: &Arc<dyn store::Database>,
    env: &PullEnv,
    running: &Running,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut pulls = store.pulls().await?;
    for source in store.list_sources().await? {
        let Some(settings) = pulls.remove(&source.name) else { continue };
        let schedule = match serde_json::from_str::<PullConfig>(&settings.config).map(|p| p.schedule()) {
            Ok(Ok(Some(schedule))) => schedule,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(source = %source.name, error = %e, "the source's schedule is invalid; set it again");
                continue;
            }
            Err(e) => {
                tracing::warn!(source = %source.name, error = %e, "the source's settings are unreadable");
                continue;
            }
        };
        let mut state: ScheduleState =
            settings.state.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        if state.paused {
            continue;
        }
        let now = Timestamp::now();
        match decide(&schedule, &state, now, running.contains(&source.name)) {
            Decision::Run { next } => {
                state.last_run = Some(now);
                state.next_run = Some(next + jitter(&schedule));
                store.set_pull_state(&source.name, &encode(&state)?).await?;
                running.start(&source.name);
                tokio::spawn(scheduled_run(
                    store.clone(),
                    env.clone(),
                    running.clone(),
                    source.name.clone(),
                    shutdown.clone(),
                ));
            }
            Decision::Wait { next } if state.next_run != Some(next) => {
                state.next_run = Some(next);
                store.set_pull_state(&source.name, &encode(&state)?).await?;
            }
            Decision::Wait { .. } => {}
            Decision::Busy => tracing::debug!(source = %source.name, "due, but the previous run is still going"),
        }
    }
    Ok(())
}

fn encode(state: &ScheduleState) -> Result<String, Error> {
    serde_json::to_string(state).map_err(|e| Error::Invalid(format!("the schedule state cannot be written: {e}")))
}

async fn scheduled_run(
    store: Arc<dyn store::Database>,
    env: PullEnv,
    running: Running,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let stop = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
        "the server shutting down"
    };
    match pull_now(&*store, &name, &env, ReadMode::Auto, &Unwatched, stop).await {
        Ok(summary) => tracing::info!(source = %name, created = summary.users_created, updated = summary.users_updated,
            deleted = summary.users_deleted, complete = summary.complete, "scheduled pull run finished"),
        Err(e) => tracing::warn!(source = %name, error = %e, "scheduled pull run failed"),
    }
    running.finish(&name);
}

#[cfg(test)]
mod tests {
    use super::Running;

    #[test]
    fn one_source_runs_once_at_a_time() {
        let running = Running::default();
        assert!(running.start("hr"));
        assert!(!running.start("hr"), "a second run of one source does not start");
        running.finish("hr");
        assert!(running.start("hr"));
    }
}

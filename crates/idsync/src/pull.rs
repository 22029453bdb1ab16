//! Running a pull source: its stored settings, its connector with the credentials unsealed, and
//! one run — incremental when the provider offers it and a full read is not due, full otherwise —
//! recorded as a run.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::time::Duration;

use store::{RunKind, RunStart, RunState, Store};

use crate::config::Config;
use app::pull::PullConfig;

pub fn not_pull(name: &str) -> String {
    format!("'{name}' is not a pull source (or does not exist); 'idsync source list' shows the sources")
}

pub fn pull_connector(
    pull: &PullConfig,
    credentials: rest::Credentials,
    config: &Config,
) -> anyhow::Result<Box<dyn sources::Connector>> {
    rest::install_crypto();
    let retry = sources::Retry { rate: pull.max_rate, ..sources::Retry::default() };
    let timeout = std::time::Duration::from_secs(config.sync.timeout_seconds);
    Ok(sources::connect_with(&pull.connector, credentials, timeout, retry)?)
}

/// The connector of a stored pull source, its credentials unsealed.
pub async fn stored_connector(
    store: &dyn Store,
    name: &str,
    config: &Config,
) -> anyhow::Result<Box<dyn sources::Connector>> {
    let settings = store.pull(name).await?.with_context(|| not_pull(name))?;
    Ok(connector_of(&settings, name, config)?.1)
}

/// A pull source's settings as stored, and its connector with the credentials unsealed.
fn connector_of(
    settings: &store::PullSettings,
    name: &str,
    config: &Config,
) -> anyhow::Result<(PullConfig, Box<dyn sources::Connector>)> {
    let pull: PullConfig =
        serde_json::from_str(&settings.config).context("the stored source settings are unreadable")?;
    let secrets = app::secrets::SecretBox::open(&config.data_dir)?;
    let credentials: rest::Credentials =
        serde_json::from_slice(&secrets.open_sealed(&settings.secret, &format!("source:{name}"))?)?;
    let connector = pull_connector(&pull, credentials, config)?;
    Ok((pull, connector))
}

/// Whether a run shows its progress (on a terminal; indicatif draws nothing elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Shown,
    Hidden,
}

impl Progress {
    fn bar(self, name: &str) -> ProgressBar {
        if self == Progress::Hidden {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        bar.set_message("connecting");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }
}

/// How a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Only what changed, when the provider can say and a full read is not due.
    Auto,
    /// Everything, whatever the cadence.
    Full,
}

/// Reads a pull source and stores what changed, recorded as a run (`idsync runs list`). A full
/// read leaves the cursor the next incremental run continues from; a read that failed part-way
/// neither removes anything nor moves the cursor.
pub async fn pull_now(
    store: &dyn store::Database,
    name: &str,
    config: &Config,
    mode: ReadMode,
    progress: Progress,
) -> anyhow::Result<sync::PullSummary> {
    let source = store.source(name).await?.with_context(|| format!("there is no source named '{name}'"))?;
    let run = match store.start_run(RunKind::Pull, name, &run_holder(), RUN_LEASE, &holder_is_gone).await? {
        RunStart::Started { id, took_over } => {
            if let Some(stale) = took_over {
                tracing::warn!(source = %name, run = stale, "took over the lock of a run whose process is gone; it is marked interrupted");
            }
            id
        }
        RunStart::Busy(r) => {
            bail!("run {} of {name} is still going (started {}); try again when it is done", r.id, r.started)
        }
    };
    let bar = progress.bar(name);
    // The lease is renewed while the run works; a signal ends the run as interrupted and releases
    // the lock at once, so the source can run again without waiting for the lease.
    // The renewal is polled beside the work, never instead of it: it may wait for the store's
    // one write connection, which the work may hold.
    let work = read_and_apply(store, &source, config, mode, &bar);
    let renewing = async {
        loop {
            tokio::time::sleep(RUN_LEASE / 3).await;
            if let Err(e) = store.renew_run(run, RUN_LEASE).await {
                tracing::warn!(source = %name, error = %e, "cannot renew the run's lease; will retry");
            }
        }
    };
    let stopped = stop_signal();
    tokio::pin!(work, renewing, stopped);
    let result = tokio::select! {
        r = &mut work => Some(r),
        () = &mut renewing => None,
        () = &mut stopped => None,
    };
    bar.finish_and_clear();
    let Some(result) = result else {
        let summary = json!({"error": "interrupted by a signal before the run finished"});
        store.update_run(run, RunState::Interrupted, &summary, None, None).await?;
        bail!("run {run} of {name} was interrupted by a signal; what it had stored stays, nothing was removed");
    };
    match &result {
        Ok(summary) => {
            let state = if summary.complete { RunState::Done } else { RunState::Failed };
            store.update_run(run, state, &serde_json::to_value(summary)?, None, None).await?;
        }
        Err(e) => {
            store.update_run(run, RunState::Failed, &json!({"error": format!("{e:#}")}), None, None).await?;
        }
    }
    result
}

/// How long a run's lock holds without renewal (renewed every third of it while the run works).
/// A holder on the same host that has ended is noticed at once, whatever the lease.
const RUN_LEASE: Duration = Duration::from_secs(180);

/// This process, as a run lock names its holder: host and process id.
fn run_holder() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Whether the process holding a run lock has ended: known only for a holder on this host (its
/// process id is gone); elsewhere the lease decides.
fn holder_is_gone(holder: &str) -> bool {
    match holder.rsplit_once(':') {
        Some((host, pid)) if host == host_name() && !host.is_empty() => {
            pid.parse::<u32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        }
        _ => false,
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn read_and_apply(
    store: &dyn store::Database,
    source: &store::Source,
    config: &Config,
    mode: ReadMode,
    bar: &ProgressBar,
) -> anyhow::Result<sync::PullSummary> {
    let name = &source.name;
    let settings = store.pull(name).await?.with_context(|| not_pull(name))?;
    let (pull, connector) = connector_of(&settings, name, config)?;
    let full_due = settings.last_full.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_none_or(|last| {
        pull.full_every().is_ok_and(|every| jiff::Timestamp::now() >= last.saturating_add(every).unwrap_or(last))
    });
    let mut notes = Vec::new();
    if let (Some(cursor), false, ReadMode::Auto) = (&settings.cursor, full_due, mode) {
        bar.set_message("reading the changes since the last run");
        let changes = connector.read_changes(cursor).await;
        if changes.restart {
            notes.push(format!(
                "the provider no longer knows where the last run stopped ({}); everything was read",
                changes.problems.join("; ")
            ));
        } else {
            bar.set_message(format!(
                "storing {} changed users and {} changed groups",
                changes.users.len(),
                changes.groups.len()
            ));
            let next = changes.cursor.clone();
            let complete = changes.complete;
            let summary = sync::apply_changes(store, source, changes).await?;
            if complete {
                store.set_pull_cursor(name, next.as_deref(), false).await?;
            }
            return Ok(summary);
        }
    }
    // Users are written as they arrive, so a run holds a page of a large directory, not all of it.
    let mut writer = sync::UserWriter::new(store, source).await?;
    let (sink, arriving) = tokio::sync::mpsc::channel(1000);
    let write = async {
        // Owned here, so a failed write closes the channel and the read stops instead of waiting.
        let mut arriving = arriving;
        bar.set_message("reading everything");
        let mut stored = 0u64;
        while let Some(user) = arriving.recv().await {
            writer.write(store, source, user).await?;
            stored += 1;
            if stored.is_multiple_of(100) {
                bar.set_message(format!("reading everything: {stored} users read and stored"));
            }
        }
        Ok::<_, store::StoreError>(())
    };
    let (snapshot, written) = tokio::join!(connector.read_streaming(sink), write);
    written?;
    let (cursor, complete) = (snapshot.cursor.clone(), snapshot.complete);
    bar.set_message(format!("storing {} groups and their members", snapshot.groups.len()));
    let mut summary = writer.finish(store, source, snapshot).await?;
    if complete {
        store.set_pull_cursor(name, cursor.as_deref(), true).await?;
    }
    summary.problems.extend(notes);
    Ok(summary)
}

//! Troubleshooting a running server: its log level, changed at run time (for a while, or until
//! changed back), and its recent log lines, kept in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_types::LogLevel;
use jiff::Timestamp;

use crate::{Error, rfc3339};

/// What the process's logging offers: its filter, changeable while it runs, and a bounded
/// memory of the lines it wrote.
pub trait LogControl: Send + Sync {
    /// The filter in force, as `tracing` directives.
    fn current(&self) -> String;
    /// Checks and applies `directives`.
    fn apply(&self, directives: &str) -> Result<(), String>;
    /// The most recent lines (JSON objects, one per line), oldest first, at most `limit`.
    fn recent(&self, limit: usize) -> Vec<String>;
}

/// Our own crates at `debug`, everything else at `info`: what "debug logging" means to an
/// administrator, without every dependency's chatter.
pub const DEBUG: &str = "info,idsync=debug,app=debug,server=debug,console=debug,sync=debug,engine=debug,scim=debug,store=debug,sources=debug,targets=debug,rest=debug";

/// The log level of a running server, with the timer that turns a debug window off again.
pub struct Logging {
    control: Arc<dyn LogControl>,
    default: String,
    /// Every change bumps it, so a timer set by an earlier change reverts nothing.
    generation: Arc<AtomicU64>,
    until: Arc<Mutex<Option<Timestamp>>>,
}

impl Logging {
    /// `default` is the level the server started with, which a timed change returns to.
    pub fn new(control: Arc<dyn LogControl>, default: String) -> Logging {
        Logging { control, default, generation: Arc::default(), until: Arc::default() }
    }

    pub fn level(&self) -> LogLevel {
        let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
        LogLevel { level: self.control.current(), default: self.default.clone(), until: until.map(rfc3339) }
    }

    /// Sets the level (`debug`, `info`, … or `tracing` directives such as `info,sync=trace`); with
    /// `window`, the default level comes back by itself when it has passed. Must be called within
    /// a Tokio runtime when `window` is given.
    pub fn set(&self, level: &str, window: Option<Duration>) -> Result<LogLevel, Error> {
        let directives = match level.trim() {
            "debug" => DEBUG.to_string(),
            "default" => self.default.clone(),
            other => other.to_string(),
        };
        if directives.is_empty() {
            return Err(Error::Invalid(
                "give a level: error, warn, info, debug, trace, default, or tracing directives".into(),
            ));
        }
        self.control
            .apply(&directives)
            .map_err(|e| Error::Invalid(format!("'{level}' is not a log level or filter: {e}")))?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let until =
            window.map(|w| Timestamp::now().saturating_add(jiff::SignedDuration::try_from(w).unwrap_or_default()));
        let until = until.and_then(Result::ok);
        *self.until.lock().unwrap_or_else(|p| p.into_inner()) = until;
        if let Some(window) = window {
            let (control, default, current, until) =
                (self.control.clone(), self.default.clone(), self.generation.clone(), self.until.clone());
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                if current.load(Ordering::SeqCst) == generation {
                    if let Err(e) = control.apply(&default) {
                        tracing::error!(error = %e, "the log level could not go back to its default");
                    }
                    *until.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    tracing::info!(level = %default, "the debug window is over; the log level is back to its default");
                }
            });
        }
        tracing::info!(level = %directives, until = ?until.map(rfc3339), "log level changed");
        Ok(self.level())
    }

    /// Whether the level in force is [`DEBUG`] (the filter writes its directives in an order of
    /// its own, so they are compared as a set).
    pub fn debugging(&self) -> bool {
        fn set(text: &str) -> std::collections::BTreeSet<&str> {
            text.split(',').map(str::trim).collect()
        }
        set(&self.control.current()) == set(DEBUG)
    }

    /// The most recent log lines, oldest first, each a JSON object as the server wrote it.
    pub fn recent(&self, limit: usize) -> Vec<serde_json::Value> {
        self.control
            .recent(limit)
            .into_iter()
            .map(|line| serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line)))
            .collect()
    }

    /// The most recent lines as written, for a download.
    pub fn recent_text(&self, limit: usize) -> Vec<String> {
        self.control.recent(limit)
    }
}

/// What a status report says of this server besides the database.
pub struct Server<'a> {
    pub version: &'a str,
    pub started: Timestamp,
    pub logging: &'a Logging,
}

/// Version, uptime, database, every target's health and backlog, every source's last and next
/// run, the journal's lag and the runs waiting for approval.
pub async fn status(db: &dyn store::Database, server: &Server<'_>, root: &str) -> Result<api_types::Status, Error> {
    let mut targets = Vec::new();
    for t in crate::targets::overview(db).await? {
        targets.push(api_types::TargetStatus {
            oldest_pending: db.oldest_pending(&t.name).await?,
            name: t.name,
            kind: t.kind,
            healthy: t.healthy,
            health: t.health,
            health_detail: t.health_detail,
            pending: t.pending,
            managed_users: t.managed_users,
        });
    }
    let mut sources = Vec::new();
    for s in crate::sources::list(db, root).await? {
        let detail = crate::sources::detail(db, root, &s.name).await?;
        let pull = detail.pull.as_ref();
        sources.push(api_types::SourceStatus {
            pulled: pull.is_some(),
            last_run: pull.and_then(|p| p.get("last_run")).filter(|r| !r.is_null()).cloned(),
            next_run: pull.and_then(|p| p["next_run"].as_str()).map(String::from),
            name: s.name,
            kind: s.kind,
        });
    }
    let (head, applied) = (db.journal_head().await?, db.journal_cursor().await?);
    let held_runs = crate::runs::list(db, None, None, 1000)
        .await?
        .into_iter()
        .filter(|r| r.state == api_types::RunState::Held)
        .collect();
    let now = Timestamp::now();
    Ok(api_types::Status {
        version: server.version.to_string(),
        started: rfc3339(server.started),
        uptime_seconds: u64::try_from(now.as_second() - server.started.as_second()).unwrap_or(0),
        database: api_types::DatabaseStatus {
            backend: db.backend().to_string(),
            schema_version: db.schema_version().await?,
        },
        log_level: server.logging.level(),
        targets,
        sources,
        journal: api_types::JournalStatus { head, applied, lag: (head - applied).max(0) },
        held_runs,
    })
}

fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn platform(version: &str) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|n| n.trim_matches('"').to_string())
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    format!(
        "idsync {version}\nos {os}\nkernel {}\narch {}\ncpus {}\n",
        read("/proc/sys/kernel/osrelease").trim(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}

/// What an administrator sends to support: a zip of the status, the configuration backup with its
/// secrets left out, the recent log lines, the recent failed changes, and the platform. Secrets have no
/// way in: the views leave them out, and the types that carry them write `[REDACTED]`.
pub async fn bundle(
    db: &dyn store::Database,
    connector: &crate::targets::SealedConnector,
    server: &Server<'_>,
    root: &str,
) -> Result<Vec<u8>, Error> {
    let status = status(db, server, root).await?;
    let configuration = crate::backup::export(db, connector, None).await?;
    let failed = crate::log::entries(
        db,
        &store::EventQuery { result: Some("failed".into()), limit: 1000, ..Default::default() },
    )
    .await?;
    let mut logs = server.logging.recent_text(usize::MAX).join("\n");
    logs.push('\n');
    Ok(crate::zip::stored(&[
        ("status.json", pretty(&status)),
        ("configuration.json", configuration.into_bytes()),
        ("logs.ndjson", logs.into_bytes()),
        ("failed-changes.json", pretty(&failed)),
        ("platform.txt", platform(server.version).into_bytes()),
    ]))
}

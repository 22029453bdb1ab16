use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The log filter of the running server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLevel {
    /// The filter in force, as `tracing` directives (`info`, `info,sync=debug`, …).
    pub level: String,
    /// The filter the server started with, which a timed change returns to.
    pub default: String,
    /// When a timed change ends (RFC 3339); absent when the level stays until changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A change of the log level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLogLevel {
    /// `debug` (idsync's own parts at debug), `default`, `error`, `warn`, `info`, `trace`, or
    /// `tracing` directives such as `info,sync=trace`.
    #[schema(min_length = 1)]
    pub level: String,
    /// For how long (`90s`, `30m`, `2h`); the default level comes back by itself after it.
    /// Absent: until changed again.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[1-9][0-9]{0,4}[smhd]?$")]
    pub window: Option<String>,
}

/// Recent log lines of the running server, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLines {
    /// Each line as the server wrote it: time, level, target, message and fields.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<Value>,
}

/// How a running server is doing, at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub version: String,
    /// When this server started (RFC 3339).
    pub started: String,
    pub uptime_seconds: u64,
    pub database: DatabaseStatus,
    pub log_level: LogLevel,
    pub targets: Vec<TargetStatus>,
    pub sources: Vec<SourceStatus>,
    pub journal: JournalStatus,
    /// Runs waiting for an administrator to approve or reject what they hold.
    pub held_runs: Vec<crate::Run>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatabaseStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub schema_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetStatus {
    pub name: String,
    pub kind: String,
    pub healthy: bool,
    /// ok, credentials refused, DOWN, or unknown.
    pub health: String,
    /// The last error, when there is one.
    pub health_detail: String,
    /// Changes waiting in the outbox.
    pub pending: u64,
    /// When the oldest of them was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_pending: Option<String>,
    pub managed_users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    /// Read by idsync (rather than pushing to it).
    pub pulled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
}

/// How far the sync engine is behind what the sources wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JournalStatus {
    /// The newest change written.
    pub head: i64,
    /// The newest change the engine has taken into the outboxes.
    pub applied: i64,
    pub lag: i64,
}

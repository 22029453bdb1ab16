use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RunKind {
    /// A full reconcile of a target.
    #[serde(rename = "full")]
    Full,
    /// A full reconcile that only planned.
    #[serde(rename = "dry-run")]
    DryRun,
    /// Changes pushed or pulled, applied as they came.
    #[serde(rename = "realtime")]
    Realtime,
    /// A read of a pull source.
    #[serde(rename = "pull")]
    Pull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Done,
    Failed,
    /// Waiting for an administrator to approve or reject what it holds.
    Held,
    Approved,
    Rejected,
    /// Stopped before it finished (a signal, a cancel, or its process ended).
    Interrupted,
}

impl RunKind {
    /// The word the API writes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::DryRun => "dry-run",
            RunKind::Realtime => "realtime",
            RunKind::Pull => "pull",
        }
    }
}

impl RunState {
    /// The word the API writes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
            RunState::Held => "held",
            RunState::Approved => "approved",
            RunState::Rejected => "rejected",
            RunState::Interrupted => "interrupted",
        }
    }
}

/// A run: a read of a pull source, or a reconcile of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    pub id: i64,
    pub kind: RunKind,
    /// The target reconciled, or the source read.
    pub target: String,
    pub state: RunState,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// What the run did (counts, problems), or why it failed.
    #[schema(value_type = Object)]
    pub summary: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<String>,
    /// The operations held for approval, with their reasons (when showing one run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub held: Option<Value>,
    /// How a run that this server is running is getting on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RunProgress>,
}

/// How a running run is getting on; also each event of `GET /api/v1/runs/{id}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunProgress {
    pub run: i64,
    /// `starting`, `reading_changes`, `storing_changes`, `reading`, `storing_groups`, then `finished`.
    pub phase: String,
    /// The phase in words.
    pub message: String,
    /// Users read and stored so far.
    pub users_read: u64,
    /// Requests sent to the identity provider so far.
    #[serde(default)]
    pub requests: u64,
    pub elapsed_seconds: f64,
    /// Seconds still to go, estimated from the last full read of the same source; absent when
    /// nothing is known to estimate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
    /// Set on the last event: how the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
}

/// One server-sent event of `GET /api/v1/runs/{id}/events`, as a client reads it off the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgressEvent {
    /// Always `progress`.
    #[schema(pattern = "^progress$")]
    pub event: String,
    /// A [`RunProgress`], as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// A request to read a pull source now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPull {
    /// Read everything, even when an incremental read would do.
    #[serde(default)]
    pub full: bool,
}

/// A request to reconcile a target in full now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartReconcile {
    /// Only plan: record what a full reconcile would do, with the reasons, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A run that was started (or, for a repeated `Idempotency-Key`, the run the first request started).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunStarted {
    pub run: i64,
    /// Where the run is shown: `/api/v1/runs/{id}`, also in the `Location` header.
    pub location: String,
}

/// What approving a held run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Approved {
    pub run: i64,
    pub applied: u64,
    pub failed: u64,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<String>,
}

/// Which of a held run's users to approve: each named by its source and its id there, as the
/// run's `held` operations name them (`source`, `source_id`). Without `users`, all of them; the
/// users not chosen stay held for a later decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<HeldUser>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldUser {
    pub source: String,
    pub id: String,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only the runs of this target or source.
    pub target: Option<String>,
    /// The `next` cursor of the previous page.
    #[param(pattern = "^([0-9a-fA-F]{2})*$")]
    pub after: Option<String>,
    /// At most this many runs (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_those_the_api_writes() {
        let kinds = [RunKind::Full, RunKind::DryRun, RunKind::Realtime, RunKind::Pull];
        for k in kinds {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        let states = [
            RunState::Running,
            RunState::Done,
            RunState::Failed,
            RunState::Held,
            RunState::Approved,
            RunState::Rejected,
            RunState::Interrupted,
        ];
        for s in states {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}

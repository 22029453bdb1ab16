use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error of the admin API, as `application/problem+json` (RFC 9457).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Stable for each kind of error (`urn:idsync:problem:<code>`): match on this, not on `detail`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind of error in a few words.
    pub title: String,
    /// The HTTP status, repeated for clients that lose it.
    pub status: u16,
    /// What went wrong in this request and what to do about it.
    pub detail: String,
    /// The request field or parameter at fault, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A next step the caller can take, where one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<ProblemHint>,
    /// For `check_failed`: every finding of the checks, the failed ones among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::Check>,
    /// The request's `x-request-id`, which the server's log lines carry too.
    pub request_id: String,
}

impl Problem {
    pub const TYPE_PREFIX: &'static str = "urn:idsync:problem:";
}

/// A next step, as data: the CLI shows it as a command, the console as a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProblemHint {
    ListSources,
    ListTargets,
    ListRuns,
    ListBindings,
    /// Bind a source to this target.
    AddBinding {
        target: String,
    },
}

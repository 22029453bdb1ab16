use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One entry of the provisioning log: a change idsync made, planned or held in a target, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    pub id: i64,
    pub at: String,
    /// The run it belongs to, when it was part of one.
    pub run: Option<i64>,
    pub source: String,
    pub target: String,
    pub user: Option<String>,
    pub group: Option<String>,
    /// What was done: `create_user`, `deactivate_user`, `add_member`, …
    pub action: String,
    /// Why, in words: the rule or the change at the source.
    pub reason: String,
    /// `planned`, `applied`, `failed`, `retrying`, `skipped`, `conflict`, `held`, `rejected`.
    pub result: String,
    /// What the target answered, for a failure.
    pub detail: Option<String>,
}

/// Which log entries to read, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Entries about this user (case-insensitive).
    pub user: Option<String>,
    /// Entries about this group (case-insensitive).
    pub group: Option<String>,
    pub target: Option<String>,
    pub source: Option<String>,
    pub result: Option<String>,
    pub run: Option<i64>,
    /// From this time on (RFC 3339).
    pub since: Option<String>,
    /// Before this time (RFC 3339).
    pub until: Option<String>,
    /// The `next` cursor of the previous page.
    #[param(pattern = "^([0-9a-fA-F]{2})*$")]
    pub after: Option<String>,
    /// At most this many entries (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

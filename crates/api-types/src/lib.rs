//! What travels over the admin API `/api/v1`: request and response bodies with their OpenAPI
//! schemas. The server, the client and the application layer share these types, so the API, the
//! CLI's `--json` and the console cannot drift apart.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod administrators;
mod audit;
mod backup;
mod changes;
mod diagnostics;
mod log;
mod problem;
mod runs;
mod secret;
mod tokens;
mod views;

pub use administrators::{Administrator, NewAdministrator, PasswordChange};
pub use audit::{AuditEntry, AuditQuery};
pub use backup::{Change, ObjectChange, Restore, RestoreMode, RestoreReport, SealedBackup, SecretChange};
pub use changes::{
    BindingImport, Check, CheckStatus, Checked, Credentials, Deprovisioning, DraftRules, Imported, IssuedSourceToken,
    LoginSyncRequest, LoginSyncResult, LoginSynced, LoginToken, Lookup, NewBinding, NewPullSource, NewPushSource,
    NewTarget, Plan, PullChange, PullPreview, Released, Removed, RuleValue, RulesTrial, ScheduleChange, SourceRemoval,
    TargetChange, TargetKind, Tested, TokenRotation, Trial, TrialGroup,
};
pub use diagnostics::{
    DatabaseStatus, JournalStatus, LogLevel, LogLines, NewLogLevel, SourceStatus, Status, TargetStatus,
};
pub use log::{LogEntry, LogQuery};
pub use problem::{Problem, ProblemHint};
pub use runs::{
    Approval, Approved, HeldUser, ProgressEvent, Run, RunKind, RunProgress, RunQuery, RunStarted, RunState, StartPull,
    StartReconcile,
};
pub use secret::Secret;
pub use tokens::{AdminToken, IssuedAdminToken, NewAdminToken, Scope};
pub use views::{
    Binding, ExplainedRecord, ExplainedTarget, ExplainedValue, Explanation, Source, SourceDetail, SourceToken, Target,
    TargetDetail, Unmanaged,
};

/// One page of a list. `next` is an opaque cursor: pass it as `after` to read the following page;
/// it is absent on the last page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Where a list starts and how long a page may be.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` cursor of the previous page.
    #[param(pattern = "^([0-9a-fA-F]{2})*$")]
    pub after: Option<String>,
    /// At most this many items (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1000;
}

/// Text as one segment of a URL's path or a query value: every byte but letters, digits and
/// `-._~` percent-encoded.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

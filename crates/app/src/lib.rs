//! The application layer: every operation of idsync as a service with typed input and output,
//! which the CLI, the admin API and the console call alike. It prints nothing and knows neither
//! HTTP nor a command line; its errors carry a code and words an administrator can act on.
//!
//! It holds sources, targets and bindings with their checks and views, pull runs and the tasks
//! that carry runs in a server, the scheduler, sync at login, the provisioning log, admin tokens,
//! the audit log, backup and restore, diagnostics, secrets at rest, tokens, durations and schedules.
#![forbid(unsafe_code)]

pub mod admin_tokens;
pub mod administrators;
pub mod audit;
pub mod backup;
pub mod bindings;
pub mod diagnostics;
pub mod drafts;
pub mod duration;
mod error;
pub mod explain;
pub mod log;
pub mod login;
pub mod pull;
pub mod runs;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod sources;
pub mod targets;
pub mod tokens;
mod zip;

pub use error::Error;

/// What the checks of a new or changed source or target found, and whether the change was saved:
/// a failed check saves nothing unless the caller chose not to check.
#[derive(Debug)]
pub struct Checked {
    pub checks: Vec<rest::Check>,
    pub saved: bool,
}

impl From<Checked> for api_types::Checked {
    fn from(c: Checked) -> Self {
        api_types::Checked { saved: c.saved, checks: checks(c.checks) }
    }
}

/// Check findings as the API carries them.
pub fn checks(found: Vec<rest::Check>) -> Vec<api_types::Check> {
    found
        .into_iter()
        .map(|c| api_types::Check {
            status: match c.status {
                rest::CheckStatus::Ok => api_types::CheckStatus::Ok,
                rest::CheckStatus::Warning => api_types::CheckStatus::Warning,
                rest::CheckStatus::Failed => api_types::CheckStatus::Failed,
            },
            what: c.what,
        })
        .collect()
}

/// A dry run's plan as the API carries it.
pub fn plan(report: &sync::RunReport) -> api_types::Plan {
    api_types::Plan {
        run: report.run_id,
        target: report.target.clone(),
        ops: report.plan.ops.iter().map(|op| serde_json::to_value(op).unwrap_or_default()).collect(),
        hold_reason: report.hold_reason.clone(),
    }
}

/// Refuses a URL that carries a user or password: URLs are shown, logged and put in support
/// bundles, so credentials go where idsync keeps secrets.
pub(crate) fn no_credentials_in(url: &str) -> Result<(), Error> {
    match rest::Url::parse(url) {
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => Err(Error::Invalid(format!(
            "the URL of {} carries a user or password; give the URL without them and the credentials separately, where idsync keeps them sealed",
            parsed.host_str().unwrap_or("the service")
        ))),
        _ => Ok(()),
    }
}

/// A time as the store and the API write it: RFC 3339, UTC, to the millisecond.
pub fn rfc3339(t: jiff::Timestamp) -> String {
    model::time::format_rfc3339_millis((t.as_second(), t.subsec_nanosecond().max(0) as u32))
}

pub(crate) fn passed(checks: &[rest::Check]) -> bool {
    checks.iter().all(|c| c.status != rest::CheckStatus::Failed)
}

/// A store of its own in a directory of its own (which holds the secret key too), for a test.
#[cfg(test)]
pub(crate) async fn scratch_store() -> (tempfile::TempDir, store::sqlite::SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        store::sqlite::SqliteStore::open(&dir.path().join("db"), store::sqlite::Durability::Process).await.unwrap();
    (dir, store)
}

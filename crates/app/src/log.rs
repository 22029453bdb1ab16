//! The provisioning log: every change idsync made or held in a target, with its reason.

use api_types::LogEntry;
use store::{Event, EventQuery};

use crate::Error;

/// One entry as the CLI, the API and support bundles show it.
pub fn entry(e: &Event) -> LogEntry {
    LogEntry {
        id: e.id,
        at: e.at.to_string(),
        run: e.run_id,
        source: e.source.clone(),
        target: e.target.clone(),
        user: e.user.clone(),
        group: e.group.clone(),
        action: e.action.clone(),
        reason: e.reason.clone(),
        result: e.result.clone(),
        detail: e.detail.clone(),
    }
}

/// The entries `query` selects, newest first.
pub async fn entries(db: &dyn store::Database, query: &EventQuery) -> Result<Vec<LogEntry>, Error> {
    Ok(db.events(query).await?.iter().map(entry).collect())
}

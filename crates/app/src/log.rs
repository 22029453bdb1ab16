//! The provisioning log: every change idsync made or held in a target, with its reason.

use serde_json::{Value, json};
use store::{Event, EventQuery};

use crate::Error;

/// One entry as the CLI, the API and support bundles show it.
pub fn entry(e: &Event) -> Value {
    json!({"id": e.id, "at": e.at, "run": e.run_id, "source": e.source, "target": e.target, "user": e.user,
           "group": e.group, "action": e.action, "reason": e.reason, "result": e.result, "detail": e.detail})
}

/// The entries `query` selects, newest first.
pub async fn entries(db: &dyn store::Database, query: &EventQuery) -> Result<Vec<Value>, Error> {
    Ok(db.events(query).await?.iter().map(entry).collect())
}

//! The audit log: every change of configuration and every approval, with who made it and the
//! object before and after. Secrets never enter it: callers put [`CHANGED`] in their place.

use api_types::AuditEntry;
use serde_json::Value;
use store::{AuditRecord, AuditStore};

use crate::Error;
use crate::admin_tokens::Caller;

/// What an audit entry shows where a secret was set or changed.
pub const CHANGED: &str = "changed";

/// Who made a change: an admin token by name, or an administrator of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn administrator(name: &str) -> Actor {
        Actor(format!("administrator {name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Caller> for Actor {
    fn from(caller: &Caller) -> Actor {
        Actor(format!("token {}", caller.token))
    }
}

/// Records one change; `object` names it as `kind/name` (`target/jira`, `binding/hr/jira`).
pub async fn record(
    db: &dyn AuditStore,
    actor: &Actor,
    action: &str,
    object: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), Error> {
    let entry = AuditRecord {
        id: 0,
        at: store::Time::now(),
        actor: actor.0.clone(),
        action: action.into(),
        object: object.into(),
        before,
        after,
    };
    db.record_audit(&entry).await?;
    Ok(())
}

/// Entries older than the entry `before`, about `object` when given, newest first.
pub async fn list(
    db: &dyn AuditStore,
    object: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, Error> {
    Ok(db
        .audit(object, before, limit)
        .await?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at.to_string(),
            actor: r.actor,
            action: r.action,
            object: r.object,
            before: r.before,
            after: r.after,
        })
        .collect())
}

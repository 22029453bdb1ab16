//! The audit log, and what a status report reads of the database.

use sqlx::Row;

use super::SqliteStore;
use crate::{AuditRecord, StoreError};

fn json(text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Database(format!("an audit entry is not JSON: {e}"))))
        .transpose()
}

#[async_trait::async_trait]
impl crate::AuditStore for SqliteStore {
    async fn record_audit(&self, entry: &AuditRecord) -> Result<i64, StoreError> {
        let done =
            sqlx::query("INSERT INTO audit_log (at, actor, action, object, before, after) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(entry.at)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.object)
                .bind(entry.before.as_ref().map(ToString::to_string))
                .bind(entry.after.as_ref().map(ToString::to_string))
                .execute(&self.write)
                .await?;
        Ok(done.last_insert_rowid())
    }

    async fn audit(
        &self,
        object: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, object, before, after FROM audit_log
             WHERE (?1 IS NULL OR object = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
        )
        .bind(object)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get(0)?,
                    at: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    action: row.try_get(3)?,
                    object: row.try_get(4)?,
                    before: json(row.try_get(5)?)?,
                    after: json(row.try_get(6)?)?,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::StoreHealth for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT IFNULL(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.read)
            .await?
            .try_get(0)?)
    }

    async fn journal_head(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT IFNULL(MAX(seq), 0) FROM changes").fetch_one(&self.read).await?.try_get(0)?)
    }

    async fn oldest_pending(&self, target: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT MIN(enqueued) FROM outbox WHERE target = ?")
            .bind(target)
            .fetch_one(&self.read)
            .await?
            .try_get(0)?)
    }
}

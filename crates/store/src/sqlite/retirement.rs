//! A source's retirement: counting, releasing and deprovisioning what it manages in the targets.

use sqlx::Row;

use super::SqliteStore;
use crate::StoreError;

#[async_trait::async_trait]
impl crate::SourceRetirement for SqliteStore {
    async fn managed_by_source(&self, source: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows =
            sqlx::query("SELECT target, COUNT(*) FROM target_users WHERE source = ? GROUP BY target ORDER BY target")
                .bind(source)
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64))).collect()
    }

    async fn release_source(&self, source: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let rows =
            sqlx::query("SELECT target, COUNT(*) FROM target_users WHERE source = ? GROUP BY target ORDER BY target")
                .bind(source)
                .fetch_all(&mut *tx)
                .await?;
        let released: Vec<(String, u64)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u64)))
            .collect::<Result<_, StoreError>>()?;
        sqlx::query("DELETE FROM target_grants WHERE source = ?").bind(source).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM target_users WHERE source = ?").bind(source).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM outbox WHERE source = ?").bind(source).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn clear_source(&self, source: &str) -> Result<u64, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let id: Option<i64> = sqlx::query("SELECT id FROM sources WHERE name = ?")
            .bind(source)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let Some(id) = id else {
            return Err(StoreError::not_found(format!("there is no source named '{source}'")));
        };
        let done = sqlx::query("DELETE FROM resources WHERE source_id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

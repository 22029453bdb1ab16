//! Bindings and the configuration version. Referential integrity is the database's: a binding's
//! source and target are foreign keys, so a binding goes with either and cannot outlive them.

use serde_json::Value;
use sqlx::Row;

use super::{SqliteStore, is_unique_violation, now};
use crate::{BindingRecord, StoreError};

const COLUMNS: &str = "source, target, rules, revision, reconciled, created, updated";

fn binding_from(row: &sqlx::sqlite::SqliteRow) -> Result<BindingRecord, StoreError> {
    let rules: String = row.try_get(2)?;
    Ok(BindingRecord {
        source: row.try_get(0)?,
        target: row.try_get(1)?,
        rules: serde_json::from_str(&rules)
            .map_err(|e| StoreError::Database(format!("stored rules are not JSON: {e}")))?,
        revision: row.try_get(3)?,
        reconciled: row.try_get(4)?,
        created: row.try_get(5)?,
        updated: row.try_get(6)?,
    })
}

fn no_binding(source: &str, target: &str) -> StoreError {
    StoreError::not_found(format!("there is no binding {source} → {target}"))
}

impl SqliteStore {
    async fn binding_in(
        &self,
        conn: &mut sqlx::SqliteConnection,
        source: &str,
        target: &str,
    ) -> Result<Option<BindingRecord>, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bindings WHERE source = ? AND target = ?")))
                .bind(source)
                .bind(target)
                .fetch_optional(conn)
                .await?;
        row.as_ref().map(binding_from).transpose()
    }
}

#[async_trait::async_trait]
impl crate::BindingStore for SqliteStore {
    async fn bindings(&self) -> Result<Vec<BindingRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM bindings ORDER BY source, target")))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(binding_from).collect()
    }

    async fn binding(&self, source: &str, target: &str) -> Result<Option<BindingRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        self.binding_in(&mut conn, source, target).await
    }

    async fn add_binding(&self, source: &str, target: &str, rules: &Value) -> Result<BindingRecord, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let source_known =
            sqlx::query("SELECT 1 FROM sources WHERE name = ?").bind(source).fetch_optional(&mut *tx).await?;
        if source_known.is_none() {
            return Err(StoreError::not_found(format!("there is no source named '{source}' to bind")));
        }
        let target_known =
            sqlx::query("SELECT 1 FROM targets WHERE name = ?").bind(target).fetch_optional(&mut *tx).await?;
        if target_known.is_none() {
            return Err(StoreError::not_found(format!("there is no target named '{target}' to bind")));
        }
        let at = now();
        let inserted =
            sqlx::query("INSERT INTO bindings (source, target, rules, created, updated) VALUES (?, ?, ?, ?, ?)")
                .bind(source)
                .bind(target)
                .bind(rules.to_string())
                .bind(at)
                .bind(at)
                .execute(&mut *tx)
                .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("binding {source} → {target} exists already")));
            }
            Err(e) => return Err(e.into()),
        }
        let record = self.binding_in(&mut tx, source, target).await?.ok_or_else(|| no_binding(source, target))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn set_binding_rules(&self, source: &str, target: &str, rules: &Value) -> Result<BindingRecord, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE bindings SET rules = ?, revision = revision + 1, updated = ? WHERE source = ? AND target = ?",
        )
        .bind(rules.to_string())
        .bind(now())
        .bind(source)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(no_binding(source, target));
        }
        let record = self.binding_in(&mut tx, source, target).await?.ok_or_else(|| no_binding(source, target))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn remove_binding(&self, source: &str, target: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM bindings WHERE source = ? AND target = ?")
            .bind(source)
            .bind(target)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_binding(source, target));
        }
        Ok(())
    }

    async fn binding_reconciled(&self, source: &str, target: &str, revision: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE bindings SET reconciled = ? WHERE source = ? AND target = ? AND reconciled < ?")
            .bind(revision)
            .bind(source)
            .bind(target)
            .bind(revision)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn announce_server(&self, url: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO server_address (id, url, started) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url, started = excluded.started")
            .bind(url)
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn server_url(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT url FROM server_address WHERE id = 1").fetch_optional(&self.read).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn config_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM config_version WHERE id = 1").fetch_one(&self.read).await?;
        Ok(row.try_get(0)?)
    }
}

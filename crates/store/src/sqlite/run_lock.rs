//! The run lock: starting a run checks for a running one and inserts in one write transaction,
//! so two processes cannot both start; a stale holder is taken over in that same transaction.

use std::time::Duration;

use sqlx::Row;

use super::sync::run_from;
use super::{SqliteStore, now};
use crate::{RunStart, StoreError};

fn lease_end(lease: Duration) -> crate::Time {
    (jiff::Timestamp::now() + jiff::SignedDuration::try_from(lease).unwrap_or(jiff::SignedDuration::ZERO)).into()
}

#[async_trait::async_trait]
impl crate::RunLock for SqliteStore {
    async fn start_run(
        &self,
        kind: crate::RunKind,
        target: &str,
        holder: &str,
        lease: Duration,
        is_gone: &(dyn for<'h> Fn(&'h str) -> bool + Send + Sync),
    ) -> Result<RunStart, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let at = now();
        let running = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, holder, lease_until FROM runs WHERE target = ? AND kind = ? AND state = 'running' ORDER BY id",
            super::sync::RUN_COLUMNS
        )))
        .bind(target)
        .bind(kind.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut took_over = None;
        for row in &running {
            let run = run_from(row)?;
            let holder_of: Option<String> = row.try_get(9)?;
            let lease_until: Option<crate::Time> = row.try_get(10)?;
            let lapsed = lease_until.is_none_or(|until| until < at);
            let gone = holder_of.as_deref().is_none_or(is_gone);
            if !lapsed && !gone {
                return Ok(RunStart::Busy(Box::new(run)));
            }
            let why = if gone { "its process had ended" } else { "its lease lapsed" };
            sqlx::query("UPDATE runs SET state = 'interrupted', finished = ?, summary = ? WHERE id = ?")
                .bind(at)
                .bind(serde_json::json!({"error": format!("interrupted: {why} before the run finished")}).to_string())
                .bind(run.id)
                .execute(&mut *tx)
                .await?;
            took_over = Some(run.id);
        }
        let id: i64 = sqlx::query(
            "INSERT INTO runs (kind, target, state, started, holder, lease_until) VALUES (?, ?, 'running', ?, ?, ?) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(target)
        .bind(at)
        .bind(holder)
        .bind(lease_end(lease))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(RunStart::Started { id, took_over })
    }

    async fn renew_run(&self, id: i64, lease: Duration) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET lease_until = ? WHERE id = ? AND state = 'running'")
            .bind(lease_end(lease))
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

//! Sources and their bearer tokens (hashes only: the token itself never reaches the database).

use std::collections::BTreeMap;

use sqlx::Row;

use super::{SqliteStore, is_unique_violation, now};
use crate::{Source, SourceAuth, SourceId, StoreError, TokenInfo};

const PULL_COLUMNS: &str = "pull_config, pull_secret, pull_state, pull_cursor, pull_last_full";

fn pull_from(r: &sqlx::sqlite::SqliteRow) -> Result<crate::PullSettings, StoreError> {
    Ok(crate::PullSettings {
        config: r.try_get(0)?,
        secret: r.try_get(1)?,
        state: r.try_get(2)?,
        cursor: r.try_get(3)?,
        last_full: r.try_get(4)?,
    })
}

const SOURCE_COLUMNS: &str = "s.id, s.name, s.kind, s.created, \
    IFNULL((SELECT n FROM resource_counts c WHERE c.source_id = s.id AND c.kind = 'User'), 0), \
    IFNULL((SELECT n FROM resource_counts c WHERE c.source_id = s.id AND c.kind = 'Group'), 0)";

fn source_from(row: &sqlx::sqlite::SqliteRow) -> Result<Source, StoreError> {
    Ok(Source {
        id: SourceId(row.try_get(0)?),
        name: row.try_get(1)?,
        kind: row.try_get(2)?,
        created: row.try_get(3)?,
        users: row.try_get::<i64, _>(4)? as u64,
        groups: row.try_get::<i64, _>(5)? as u64,
    })
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound { message: format!("there is no source named '{name}'"), hint: Some(model::Hint::ListSources) }
}

impl SqliteStore {
    pub(super) async fn create_source_impl(
        &self,
        name: &str,
        kind: &str,
        token_hash: &[u8; 32],
    ) -> Result<Source, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let created = now();
        let inserted = sqlx::query("INSERT INTO sources (name, kind, created) VALUES (?, ?, ?) RETURNING id")
            .bind(name)
            .bind(kind)
            .bind(created)
            .fetch_one(&mut *tx)
            .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a source named '{name}' already exists; pick another name")));
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query("INSERT INTO source_tokens (source_id, token_hash, created) VALUES (?, ?, ?)")
            .bind(id)
            .bind(&token_hash[..])
            .bind(created)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Source { id: SourceId(id), name: name.to_string(), kind: kind.to_string(), created, users: 0, groups: 0 })
    }

    pub(super) async fn list_sources_impl(&self) -> Result<Vec<Source>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SOURCE_COLUMNS} FROM sources s ORDER BY s.name")))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(source_from).collect()
    }

    pub(super) async fn source_impl(&self, name: &str) -> Result<Option<Source>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.name = ?")))
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(source_from).transpose()
    }

    pub(super) async fn source_auth_impl(&self, name: &str) -> Result<Option<SourceAuth>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, t.token_hash FROM sources s LEFT JOIN source_tokens t \
             ON t.source_id = s.id AND (t.expires IS NULL OR t.expires > ?) WHERE s.name = ?",
        )
        .bind(now())
        .bind(name)
        .fetch_all(&self.read)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let id = SourceId(first.try_get(0)?);
        let mut token_hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(bytes) = row.try_get::<Option<Vec<u8>>, _>(1)?
                && let Ok(hash) = <[u8; 32]>::try_from(bytes.as_slice())
            {
                token_hashes.push(hash);
            }
        }
        Ok(Some(SourceAuth { id, token_hashes }))
    }

    pub(super) async fn rotate_token_impl(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        grace_seconds: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query("SELECT id FROM sources WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found(name))?
            .try_get(0)?;
        let now_ts = jiff::Timestamp::now();
        let expires = now_ts
            .checked_add(jiff::SignedDuration::from_secs(grace_seconds.min(i64::MAX as u64) as i64))
            .map_err(|e| StoreError::Database(format!("grace period out of range: {e}")))?;
        let expires = crate::Time::from(expires);
        sqlx::query("UPDATE source_tokens SET expires = ? WHERE source_id = ? AND (expires IS NULL OR expires > ?)")
            .bind(expires)
            .bind(id)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO source_tokens (source_id, token_hash, created) VALUES (?, ?, ?)")
            .bind(id)
            .bind(&token_hash[..])
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn tokens_impl(&self, name: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.created, t.expires FROM source_tokens t JOIN sources s ON s.id = t.source_id \
             WHERE s.name = ? AND (t.expires IS NULL OR t.expires > ?) ORDER BY t.id",
        )
        .bind(name)
        .bind(now())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok(TokenInfo { created: r.try_get(0)?, expires: r.try_get(1)? })).collect()
    }

    pub(super) async fn remove_source_impl(&self, name: &str, purge: bool) -> Result<(), StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.name = ?")))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found(name))?;
        let source = source_from(&row)?;
        if !purge && source.users + source.groups > 0 {
            return Err(StoreError::Conflict(format!(
                "source '{name}' still holds {} users and {} groups; remove them first, or pass --purge to delete them with the source",
                source.users, source.groups
            )));
        }
        sqlx::query("DELETE FROM sources WHERE id = ?").bind(source.id.0).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl SqliteStore {
    pub(super) async fn set_pull_impl(&self, name: &str, config: &str, secret: &[u8]) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sources SET pull_config = ?, pull_secret = ? WHERE name = ?")
            .bind(config)
            .bind(secret)
            .bind(name)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    pub(super) async fn pull_impl(&self, name: &str) -> Result<Option<crate::PullSettings>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PULL_COLUMNS} FROM sources WHERE name = ? AND pull_config IS NOT NULL"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(pull_from).transpose()
    }

    pub(super) async fn pulls_impl(&self) -> Result<BTreeMap<String, crate::PullSettings>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PULL_COLUMNS}, name FROM sources WHERE pull_config IS NOT NULL"
        )))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(5)?, pull_from(r)?))).collect()
    }

    pub(super) async fn set_pull_cursor_impl(
        &self,
        name: &str,
        cursor: Option<&str>,
        full_read: bool,
    ) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now().to_string();
        let done = sqlx::query(
            "UPDATE sources SET pull_cursor = ?, pull_last_full = CASE WHEN ? THEN ? ELSE pull_last_full END \
             WHERE name = ?",
        )
        .bind(cursor)
        .bind(full_read)
        .bind(now)
        .bind(name)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }
}

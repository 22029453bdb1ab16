//! Administrators of the web console and their sessions.

use sqlx::Row;

use super::{SqliteStore, is_unique_violation};
use crate::{AdministratorRecord, SessionRecord, StoreError, Time};

const ADMINISTRATOR_COLUMNS: &str = "name, password_hash, created, password_changed, last_login";

fn administrator_from(row: &sqlx::sqlite::SqliteRow) -> Result<AdministratorRecord, StoreError> {
    Ok(AdministratorRecord {
        name: row.try_get(0)?,
        password_hash: row.try_get(1)?,
        created: row.try_get(2)?,
        password_changed: row.try_get(3)?,
        last_login: row.try_get(4)?,
    })
}

#[async_trait::async_trait]
impl crate::ConsoleStore for SqliteStore {
    async fn create_administrator(&self, a: &AdministratorRecord) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO administrators (name, password_hash, created, password_changed, last_login) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&a.name)
        .bind(&a.password_hash)
        .bind(a.created)
        .bind(a.password_changed)
        .bind(a.last_login)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("an administrator named '{}' exists already", a.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn administrator(&self, name: &str) -> Result<Option<AdministratorRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMINISTRATOR_COLUMNS} FROM administrators WHERE name = ?"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(administrator_from).transpose()
    }

    async fn administrators(&self) -> Result<Vec<AdministratorRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMINISTRATOR_COLUMNS} FROM administrators ORDER BY name"
        )))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(administrator_from).collect()
    }

    async fn set_administrator_password(&self, name: &str, hash: &str, at: Time) -> Result<bool, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query("UPDATE administrators SET password_hash = ?, password_changed = ? WHERE name = ?")
            .bind(hash)
            .bind(at)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM admin_sessions WHERE administrator = (SELECT id FROM administrators WHERE name = ?)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed.rows_affected() > 0)
    }

    async fn remove_administrator(&self, name: &str) -> Result<bool, StoreError> {
        // The sessions go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM administrators WHERE name = ?").bind(name).execute(&self.write).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO admin_sessions (id_hash, administrator, created, last_seen, expires, reauthenticated, address) \
             SELECT ?, id, ?, ?, ?, ?, ? FROM administrators WHERE name = ?",
        )
        .bind(&s.id_hash[..])
        .bind(s.created)
        .bind(s.last_seen)
        .bind(s.expires)
        .bind(s.reauthenticated)
        .bind(&s.address)
        .bind(&s.administrator)
        .execute(&self.write)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("there is no administrator named '{}'", s.administrator)));
        }
        Ok(())
    }

    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT a.name, s.created, s.last_seen, s.expires, s.reauthenticated, s.address \
             FROM admin_sessions s JOIN administrators a ON a.id = s.administrator WHERE s.id_hash = ?",
        )
        .bind(&id_hash[..])
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                id_hash: *id_hash,
                administrator: r.try_get(0)?,
                created: r.try_get(1)?,
                last_seen: r.try_get(2)?,
                expires: r.try_get(3)?,
                reauthenticated: r.try_get(4)?,
                address: r.try_get(5)?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8; 32], at: Time, reauthenticated: bool) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE admin_sessions SET last_seen = ?1, reauthenticated = CASE WHEN ?2 THEN ?1 ELSE reauthenticated END \
             WHERE id_hash = ?3",
        )
        .bind(at)
        .bind(reauthenticated)
        .bind(&id_hash[..])
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn end_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM admin_sessions WHERE id_hash = ?").bind(&id_hash[..]).execute(&self.write).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune_sessions(&self, expired_before: Time, idle_since: Time) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM admin_sessions WHERE expires < ? OR last_seen < ?")
            .bind(expired_before)
            .bind(idle_since)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    async fn record_login(&self, name: &str, at: Time) -> Result<(), StoreError> {
        sqlx::query("UPDATE administrators SET last_login = ? WHERE name = ?")
            .bind(at)
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn sign_in_failures(&self, keys: &[String]) -> Result<Vec<(String, u32, Time)>, StoreError> {
        let mut found = Vec::new();
        for key in keys {
            let row: Option<(i64, Time)> = sqlx::query_as("SELECT failures, last FROM sign_in_failures WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.read)
                .await?;
            if let Some((failures, last)) = row {
                found.push((key.clone(), u32::try_from(failures).unwrap_or(u32::MAX), last));
            }
        }
        Ok(found)
    }

    async fn record_sign_in_failure(&self, keys: &[String], at: Time, fresh_after: Time) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE last < ?").bind(fresh_after).execute(&mut *tx).await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO sign_in_failures (key, failures, last) VALUES (?, 1, ?) \
                 ON CONFLICT(key) DO UPDATE SET failures = failures + 1, last = excluded.last",
            )
            .bind(key)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = ?").bind(key).execute(&self.write).await?;
        Ok(())
    }
}

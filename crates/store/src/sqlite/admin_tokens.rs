//! Admin API tokens.

use sqlx::Row;

use super::{SqliteStore, is_unique_violation};
use crate::{AdminTokenRecord, StoreError};

const COLUMNS: &str = "id, name, scope, hash, created, expires, last_used";

fn token_from(row: &sqlx::sqlite::SqliteRow) -> Result<AdminTokenRecord, StoreError> {
    let hash: Vec<u8> = row.try_get(3)?;
    Ok(AdminTokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        scope: row.try_get(2)?,
        hash: hash.try_into().map_err(|_| StoreError::Database("an admin token hash is not 32 bytes".into()))?,
        created: row.try_get(4)?,
        expires: row.try_get(5)?,
        last_used: row.try_get(6)?,
    })
}

#[async_trait::async_trait]
impl crate::AdminTokenStore for SqliteStore {
    async fn create_admin_token(&self, token: &AdminTokenRecord) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO admin_tokens (id, name, scope, hash, created, expires, last_used) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.scope)
        .bind(&token.hash[..])
        .bind(token.created)
        .bind(token.expires)
        .bind(token.last_used)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("an admin token named '{}' exists already", token.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn admin_token(&self, id: &str) -> Result<Option<AdminTokenRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM admin_tokens WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM admin_tokens ORDER BY name")))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(token_from).collect()
    }

    async fn revoke_admin_token(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM admin_tokens WHERE name = ?").bind(name).execute(&self.write).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn admin_token_used(&self, id: &str, at: crate::Time) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_tokens SET last_used = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

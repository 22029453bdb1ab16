//! Configuration restore: sources, tokens, targets and bindings written in one transaction.

use sqlx::Row;

use super::{SqliteStore, now};
use crate::{RestorePlan, StoreError, TokenHash};

#[async_trait::async_trait]
impl crate::ConfigRestore for SqliteStore {
    async fn token_hashes(&self, source: &str) -> Result<Vec<TokenHash>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.token_hash, t.created, t.expires FROM source_tokens t JOIN sources s ON s.id = t.source_id
             WHERE s.name = ? AND (t.expires IS NULL OR t.expires > ?) ORDER BY t.created, t.id",
        )
        .bind(source)
        .bind(now())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let hash: Vec<u8> = row.try_get(0)?;
                Ok(TokenHash {
                    hash: hash.try_into().map_err(|_| StoreError::Database("a token hash is not 32 bytes".into()))?,
                    created: row.try_get(1)?,
                    expires: row.try_get(2)?,
                })
            })
            .collect()
    }

    async fn restore(&self, plan: &RestorePlan) -> Result<(), StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let at = now();
        for (source, target) in &plan.remove_bindings {
            sqlx::query("DELETE FROM bindings WHERE source = ? AND target = ?")
                .bind(source)
                .bind(target)
                .execute(&mut *tx)
                .await?;
        }
        for name in &plan.remove_targets {
            sqlx::query("DELETE FROM targets WHERE name = ?").bind(name).execute(&mut *tx).await?;
        }
        for name in &plan.remove_sources {
            sqlx::query("DELETE FROM sources WHERE name = ?").bind(name).execute(&mut *tx).await?;
        }
        for s in &plan.sources {
            sqlx::query("INSERT INTO sources (name, kind, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind")
                .bind(&s.name)
                .bind(&s.kind)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            let id: i64 = sqlx::query("SELECT id FROM sources WHERE name = ?")
                .bind(&s.name)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            sqlx::query("DELETE FROM source_tokens WHERE source_id = ?").bind(id).execute(&mut *tx).await?;
            for t in &s.tokens {
                sqlx::query("INSERT INTO source_tokens (source_id, token_hash, created, expires) VALUES (?, ?, ?, ?)")
                    .bind(id)
                    .bind(&t.hash[..])
                    .bind(t.created)
                    .bind(t.expires)
                    .execute(&mut *tx)
                    .await?;
            }
            match &s.pull {
                Some((config, Some(secret))) => {
                    sqlx::query("UPDATE sources SET pull_config = ?, pull_secret = ?, pull_cursor = NULL, pull_last_full = NULL WHERE id = ?")
                        .bind(config)
                        .bind(secret)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some((config, None)) => {
                    sqlx::query("UPDATE sources SET pull_config = ?, pull_secret = IFNULL(pull_secret, X''), pull_cursor = NULL, pull_last_full = NULL WHERE id = ?")
                        .bind(config)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("UPDATE sources SET pull_config = NULL, pull_secret = NULL WHERE id = ?")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query("UPDATE sources SET pull_state = ?, login_token_hash = ? WHERE id = ?")
                .bind(&s.pull_state)
                .bind(s.login_token_hash.as_ref().map(|h| h.to_vec()))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for t in &plan.targets {
            let secret = t.secret.clone().unwrap_or_default();
            sqlx::query(
                "INSERT INTO targets (name, kind, url, secret, created, healthy, health_detail) VALUES (?, ?, ?, ?, ?, 1, ?)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url,
                     secret = CASE WHEN ?7 THEN excluded.secret ELSE targets.secret END",
            )
            .bind(&t.name)
            .bind(&t.kind)
            .bind(&t.url)
            .bind(&secret)
            .bind(at)
            .bind(if t.secret.is_some() { crate::NOT_CHECKED } else { "its credentials were not in the backup; set them" })
            .bind(t.secret.is_some())
            .execute(&mut *tx)
            .await?;
        }
        for (source, target, rules) in &plan.bindings {
            sqlx::query(
                "INSERT INTO bindings (source, target, rules, created, updated) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (source, target) DO UPDATE SET rules = excluded.rules, revision = bindings.revision + 1,
                     updated = excluded.updated WHERE bindings.rules <> excluded.rules",
            )
            .bind(source)
            .bind(target)
            .bind(rules.to_string())
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

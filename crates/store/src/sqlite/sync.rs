//! Targets, ownership, the outbox, runs and the provisioning log.

use model::target::{Grant, GrantOrigin, Ownership, UserLink, fold};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, is_unique_violation, now};
use crate::{Event, EventQuery, OutboxItem, OutboxKey, OwnershipChange, RunRecord, StoreError, TargetRecord};

const TARGET_COLUMNS: &str = "name, kind, url, secret, created, healthy, health_detail, health_changed";

fn target_from(row: &SqliteRow) -> Result<TargetRecord, StoreError> {
    Ok(TargetRecord {
        name: row.try_get(0)?,
        kind: row.try_get(1)?,
        url: row.try_get(2)?,
        secret: row.try_get(3)?,
        created: row.try_get(4)?,
        healthy: row.try_get::<i64, _>(5)? != 0,
        health_detail: row.try_get(6)?,
        health_changed: row.try_get(7)?,
    })
}

fn no_target(name: &str) -> StoreError {
    StoreError::NotFound { message: format!("there is no target named '{name}'"), hint: Some(model::Hint::ListTargets) }
}

fn origin_str(o: GrantOrigin) -> &'static str {
    match o {
        GrantOrigin::Rule => "rule",
        GrantOrigin::DefaultForNew => "default_for_new",
    }
}

fn link_from(row: &SqliteRow) -> Result<UserLink, StoreError> {
    Ok(UserLink { source: row.try_get(0)?, source_id: row.try_get(1)?, name: row.try_get(2)? })
}

fn grant_from(row: &SqliteRow) -> Result<Grant, StoreError> {
    let origin: String = row.try_get(3)?;
    Ok(Grant {
        source: row.try_get(0)?,
        group: row.try_get(1)?,
        user: row.try_get(2)?,
        origin: if origin == "default_for_new" { GrantOrigin::DefaultForNew } else { GrantOrigin::Rule },
    })
}

pub(super) const RUN_COLUMNS: &str = "id, kind, target, state, started, finished, summary, hold_reason, held";

fn json_column(text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Database(format!("stored JSON is invalid: {e}"))))
        .transpose()
}

/// A kind or state as stored; a name this idsync does not know is a database fault.
fn parse_column<T: std::str::FromStr<Err = String>>(text: String) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::Database)
}

pub(super) fn run_from(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.try_get(0)?,
        kind: parse_column(row.try_get(1)?)?,
        target: row.try_get(2)?,
        state: parse_column(row.try_get(3)?)?,
        started: row.try_get(4)?,
        finished: row.try_get(5)?,
        summary: json_column(row.try_get(6)?)?.unwrap_or(Value::Null),
        hold_reason: row.try_get(7)?,
        held: json_column(row.try_get(8)?)?,
    })
}

const EVENT_COLUMNS: &str = "id, at, run_id, source, target, user_name, group_name, action, reason, result, detail";

fn event_from(row: &SqliteRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.try_get(0)?,
        at: row.try_get(1)?,
        run_id: row.try_get(2)?,
        source: row.try_get(3)?,
        target: row.try_get(4)?,
        user: row.try_get(5)?,
        group: row.try_get(6)?,
        action: row.try_get(7)?,
        reason: row.try_get(8)?,
        result: row.try_get(9)?,
        detail: row.try_get(10)?,
    })
}

impl SqliteStore {
    pub(super) async fn create_target_impl(
        &self,
        name: &str,
        kind: &str,
        url: &str,
        secret: &[u8],
    ) -> Result<TargetRecord, StoreError> {
        let created = now();
        let result = sqlx::query("INSERT INTO targets (name, kind, url, secret, created) VALUES (?, ?, ?, ?, ?)")
            .bind(name)
            .bind(kind)
            .bind(url)
            .bind(secret)
            .bind(created)
            .execute(&self.write)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a target named '{name}' already exists; pick another name")));
            }
            Err(e) => return Err(e.into()),
        }
        self.target_impl(name).await?.ok_or_else(|| no_target(name))
    }

    pub(super) async fn targets_impl(&self) -> Result<Vec<TargetRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TARGET_COLUMNS} FROM targets ORDER BY name")))
            .fetch_all(&self.write)
            .await?;
        rows.iter().map(target_from).collect()
    }

    pub(super) async fn target_impl(&self, name: &str) -> Result<Option<TargetRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TARGET_COLUMNS} FROM targets WHERE name = ?")))
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(target_from).transpose()
    }

    pub(super) async fn update_target_impl(
        &self,
        name: &str,
        url: Option<&str>,
        secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE targets SET url = IFNULL(?, url), secret = IFNULL(?, secret) WHERE name = ?")
            .bind(url)
            .bind(secret)
            .bind(name)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_target(name));
        }
        Ok(())
    }

    pub(super) async fn remove_target_impl(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM targets WHERE name = ?").bind(name).execute(&self.write).await?;
        if done.rows_affected() == 0 {
            return Err(no_target(name));
        }
        Ok(())
    }

    pub(super) async fn set_target_health_impl(
        &self,
        name: &str,
        healthy: bool,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE targets SET healthy = ?, health_detail = ?, health_changed = ? WHERE name = ? AND healthy != ?",
        )
        .bind(healthy)
        .bind(detail)
        .bind(now())
        .bind(name)
        .bind(healthy)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            sqlx::query("UPDATE targets SET health_detail = ? WHERE name = ?")
                .bind(detail)
                .bind(name)
                .execute(&self.write)
                .await?;
        }
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn journal_cursor_impl(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT seq FROM journal_cursor WHERE id = 1").fetch_one(&self.write).await?.try_get(0)?)
    }

    pub(super) async fn group_renamed_impl(
        &self,
        source: crate::SourceId,
        group_id: &str,
        name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let before: Option<String> = sqlx::query("SELECT name FROM known_groups WHERE source_id = ? AND group_id = ?")
            .bind(source.0)
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        match name {
            Some(n) => {
                sqlx::query(
                    "INSERT INTO known_groups (source_id, group_id, name) VALUES (?, ?, ?) \
                     ON CONFLICT (source_id, group_id) DO UPDATE SET name = excluded.name",
                )
                .bind(source.0)
                .bind(group_id)
                .bind(n)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM known_groups WHERE source_id = ? AND group_id = ?")
                    .bind(source.0)
                    .bind(group_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(matches!((before, name), (Some(b), Some(n)) if b != n))
    }

    pub(super) async fn enqueue_impl(&self, keys: &[OutboxKey], cursor: i64) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for k in keys {
            // A target removed meanwhile has no outbox: the foreign key would refuse the row.
            sqlx::query(
                "INSERT INTO outbox (target, source, source_id, next_at, enqueued) \
                 SELECT ?1, ?2, ?3, ?4, ?4 WHERE EXISTS (SELECT 1 FROM targets WHERE name = ?1) \
                 ON CONFLICT (target, source, source_id) DO UPDATE SET \
                 generation = generation + 1, attempts = 0, next_at = excluded.next_at, last_error = NULL",
            )
            .bind(&k.target)
            .bind(&k.source)
            .bind(&k.source_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE journal_cursor SET seq = MAX(seq, ?) WHERE id = 1").bind(cursor).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn due_impl(
        &self,
        target: &str,
        at: crate::Time,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, source_id, generation, attempts, last_error FROM outbox \
             WHERE target = ? AND next_at <= ? ORDER BY next_at, source, source_id LIMIT ?",
        )
        .bind(target)
        .bind(at)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    key: OutboxKey { target: target.to_string(), source: r.try_get(0)?, source_id: r.try_get(1)? },
                    generation: r.try_get(2)?,
                    attempts: r.try_get::<i64, _>(3)? as u32,
                    last_error: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub(super) async fn pending_impl(&self, target: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM outbox WHERE target = ?")
            .bind(target)
            .fetch_one(&self.write)
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    pub(super) async fn complete_impl(&self, items: &[OutboxItem]) -> Result<(), StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for item in items {
            sqlx::query("DELETE FROM outbox WHERE target = ? AND source = ? AND source_id = ? AND generation = ?")
                .bind(&item.key.target)
                .bind(&item.key.source)
                .bind(&item.key.source_id)
                .bind(item.generation)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn reschedule_impl(
        &self,
        item: &OutboxItem,
        next_at: crate::Time,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? \
             WHERE target = ? AND source = ? AND source_id = ? AND generation = ?",
        )
        .bind(next_at)
        .bind(error)
        .bind(&item.key.target)
        .bind(&item.key.source)
        .bind(&item.key.source_id)
        .bind(item.generation)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn ownership_impl(
        &self,
        target: &str,
        source_ids: &[(String, String)],
        names: &[String],
    ) -> Result<Ownership, StoreError> {
        let mut owned = Ownership::default();
        let mut conn = self.write.acquire().await?;
        for (source, id) in source_ids {
            let rows = sqlx::query(
                "SELECT source, source_id, name FROM target_users WHERE target = ? AND source = ? AND source_id = ?",
            )
            .bind(target)
            .bind(source)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
            for r in &rows {
                owned.users.push(link_from(r)?);
            }
        }
        let mut wanted: Vec<String> = names.iter().map(|n| fold(n)).collect();
        wanted.extend(owned.users.iter().map(|l| fold(&l.name)));
        wanted.sort();
        wanted.dedup();
        for name in &wanted {
            let rows =
                sqlx::query("SELECT source, source_id, name FROM target_users WHERE target = ? AND name_folded = ?")
                    .bind(target)
                    .bind(name)
                    .fetch_all(&mut *conn)
                    .await?;
            for r in &rows {
                let link = link_from(r)?;
                if !owned.users.contains(&link) {
                    owned.users.push(link);
                }
            }
            let rows = sqlx::query(
                "SELECT source, group_name, user_name, origin FROM target_grants WHERE target = ? AND user_folded = ?",
            )
            .bind(target)
            .bind(name)
            .fetch_all(&mut *conn)
            .await?;
            for r in &rows {
                owned.grants.push(grant_from(r)?);
            }
        }
        Ok(owned)
    }

    pub(super) async fn all_ownership_impl(&self, target: &str) -> Result<Ownership, StoreError> {
        let users = sqlx::query("SELECT source, source_id, name FROM target_users WHERE target = ?")
            .bind(target)
            .fetch_all(&self.write)
            .await?;
        let grants = sqlx::query("SELECT source, group_name, user_name, origin FROM target_grants WHERE target = ?")
            .bind(target)
            .fetch_all(&self.write)
            .await?;
        Ok(Ownership {
            users: users.iter().map(link_from).collect::<Result<_, _>>()?,
            grants: grants.iter().map(grant_from).collect::<Result<_, _>>()?,
        })
    }

    pub(super) async fn managed_users_impl(&self, target: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM target_users WHERE target = ?")
            .bind(target)
            .fetch_one(&self.write)
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    pub(super) async fn record_ownership_impl(
        &self,
        target: &str,
        changes: &[OwnershipChange],
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for change in changes {
            match change {
                OwnershipChange::Link(link) => {
                    // One owner per name: a link replaces any other link of the same source to it.
                    sqlx::query("DELETE FROM target_users WHERE target = ? AND source = ? AND name_folded = ?")
                        .bind(target)
                        .bind(&link.source)
                        .bind(fold(&link.name))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO target_users (target, source, source_id, name, name_folded) VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (target, source, source_id) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded",
                    )
                    .bind(target)
                    .bind(&link.source)
                    .bind(&link.source_id)
                    .bind(&link.name)
                    .bind(fold(&link.name))
                    .execute(&mut *tx)
                    .await?;
                }
                OwnershipChange::Unlink { source, source_id, name } => {
                    sqlx::query("DELETE FROM target_users WHERE target = ? AND source = ? AND source_id = ?")
                        .bind(target)
                        .bind(source)
                        .bind(source_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM target_grants WHERE target = ? AND user_folded = ?")
                        .bind(target)
                        .bind(fold(name))
                        .execute(&mut *tx)
                        .await?;
                }
                OwnershipChange::Rename { source, source_id, old_name, new_name } => {
                    sqlx::query("UPDATE target_users SET name = ?, name_folded = ? WHERE target = ? AND source = ? AND source_id = ?")
                        .bind(new_name)
                        .bind(fold(new_name))
                        .bind(target)
                        .bind(source)
                        .bind(source_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE target_grants SET user_name = ?, user_folded = ? WHERE target = ? AND user_folded = ?",
                    )
                    .bind(new_name)
                    .bind(fold(new_name))
                    .bind(target)
                    .bind(fold(old_name))
                    .execute(&mut *tx)
                    .await?;
                }
                OwnershipChange::Grant(g) => {
                    sqlx::query(
                        "INSERT INTO target_grants (target, user_folded, group_folded, user_name, group_name, source, origin) \
                         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, user_folded, group_folded) DO UPDATE SET \
                         user_name = excluded.user_name, group_name = excluded.group_name, source = excluded.source, origin = excluded.origin",
                    )
                    .bind(target)
                    .bind(fold(&g.user))
                    .bind(fold(&g.group))
                    .bind(&g.user)
                    .bind(&g.group)
                    .bind(&g.source)
                    .bind(origin_str(g.origin))
                    .execute(&mut *tx)
                    .await?;
                }
                OwnershipChange::Revoke { user, group } => {
                    sqlx::query("DELETE FROM target_grants WHERE target = ? AND user_folded = ? AND group_folded = ?")
                        .bind(target)
                        .bind(fold(user))
                        .bind(fold(group))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn create_run_impl(&self, kind: crate::RunKind, target: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query("INSERT INTO runs (kind, target, state, started) VALUES (?, ?, 'running', ?) RETURNING id")
            .bind(kind.as_str())
            .bind(target)
            .bind(now())
            .fetch_one(&self.write)
            .await?
            .try_get(0)?)
    }

    pub(super) async fn update_run_impl(
        &self,
        id: i64,
        state: crate::RunState,
        summary: &Value,
        hold_reason: Option<&str>,
        held: Option<&Value>,
    ) -> Result<(), StoreError> {
        let finished = state.is_finished().then(now);
        let done = sqlx::query(
            "UPDATE runs SET state = ?, summary = ?, hold_reason = IFNULL(?, hold_reason), held = IFNULL(?, held), \
             finished = IFNULL(?, finished) WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(summary.to_string())
        .bind(hold_reason)
        .bind(held.map(Value::to_string))
        .bind(finished)
        .bind(id)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                message: format!("there is no run {id}"),
                hint: Some(model::Hint::ListRuns),
            });
        }
        Ok(())
    }

    pub(super) async fn run_impl(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(run_from).transpose()
    }

    pub(super) async fn runs_impl(
        &self,
        target: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR target = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3"
        )))
        .bind(target)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        rows.iter().map(run_from).collect()
    }

    pub(super) async fn record_events_impl(&self, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in events.chunks(500) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO events (at, run_id, source, target, user_name, group_name, action, reason, result, detail) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.at)
                    .push_bind(e.run_id)
                    .push_bind(&e.source)
                    .push_bind(&e.target)
                    .push_bind(&e.user)
                    .push_bind(&e.group)
                    .push_bind(&e.action)
                    .push_bind(&e.reason)
                    .push_bind(&e.result)
                    .push_bind(&e.detail);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn events_impl(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
        if let Some(u) = &query.user {
            q.push(" AND user_name = ").push_bind(u).push(" COLLATE NOCASE");
        }
        if let Some(g) = &query.group {
            q.push(" AND group_name = ").push_bind(g).push(" COLLATE NOCASE");
        }
        if let Some(t) = &query.target {
            q.push(" AND target = ").push_bind(t);
        }
        if let Some(s) = &query.source {
            q.push(" AND source = ").push_bind(s);
        }
        if let Some(r) = &query.result {
            q.push(" AND result = ").push_bind(r);
        }
        if let Some(r) = query.run_id {
            q.push(" AND run_id = ").push_bind(r);
        }
        if let Some(s) = &query.since {
            q.push(" AND at >= ").push_bind(s);
        }
        if let Some(u) = &query.until {
            q.push(" AND at < ").push_bind(u);
        }
        if let Some(before) = query.before {
            q.push(" AND id < ").push_bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit.max(1)));
        let rows = q.build().fetch_all(&self.read).await?;
        rows.iter().map(event_from).collect()
    }

    pub(super) async fn prune_log_impl(&self, before: crate::Time) -> Result<u64, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let events = sqlx::query("DELETE FROM events WHERE at < ?").bind(before).execute(&mut *tx).await?;
        // Held runs wait for a decision however old they are.
        sqlx::query("DELETE FROM runs WHERE finished IS NOT NULL AND finished < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(events.rows_affected())
    }

    pub(super) async fn deprovisioned_since_impl(&self, target: &str, since: crate::Time) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT lower(user_name)) FROM events WHERE target = ? AND at >= ? AND result = 'applied' \
             AND action IN ('deactivate_user', 'delete_user')",
        )
        .bind(target)
        .bind(since)
        .fetch_one(&self.write)
        .await?
        .try_get(0)?;
        Ok(n as u64)
    }
}

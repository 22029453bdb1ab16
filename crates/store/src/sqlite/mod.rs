//! The embedded SQLite backend: WAL, one writer connection (SQLite allows one writer at a time, and
//! queueing in the pool beats SQLITE_BUSY retries), a pool of sqlx readers, and read-only
//! connections owned by the calling thread for lookups by id and list pages (see `reader`).

mod admin_tokens;
mod audit;
mod bindings;
mod console;
mod filter_sql;
mod reader;
mod resources;
mod restore;
mod retirement;
mod run_lock;
mod sources;
mod sync;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::StoreError;

pub use filter_sql::{Arg, SqlFilter, translate};

/// How hard a commit is pushed to disk before the client hears "done".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives the process being killed at any point (WAL, synchronous=NORMAL). A power cut can
    /// lose the last few commits.
    #[default]
    Process,
    /// Also survives a power cut: every commit waits for fsync (synchronous=FULL).
    Power,
}

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "process" => Ok(Durability::Process),
            "power" => Ok(Durability::Power),
            other => Err(format!("durability must be 'process' or 'power', not '{other}'")),
        }
    }
}

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "sync", include_str!("../../migrations/sqlite/0002_sync.sql")),
    (3, "pull", include_str!("../../migrations/sqlite/0003_pull.sql")),
    (4, "login_sync", include_str!("../../migrations/sqlite/0004_login_sync.sql")),
    (5, "pull_cursor", include_str!("../../migrations/sqlite/0005_pull_cursor.sql")),
    (6, "bindings", include_str!("../../migrations/sqlite/0006_bindings.sql")),
    (7, "no_passwords", include_str!("../../migrations/sqlite/0007_no_passwords.sql")),
    // SQLite cannot normalise Unicode, so this one is `refold_names`, in Rust.
    (8, "unique_names", ""),
    (9, "run_lease", include_str!("../../migrations/sqlite/0009_run_lease.sql")),
    (10, "admin_tokens", include_str!("../../migrations/sqlite/0010_admin_tokens.sql")),
    (11, "audit", include_str!("../../migrations/sqlite/0011_audit.sql")),
    (12, "administrators", include_str!("../../migrations/sqlite/0012_administrators.sql")),
    (13, "sign_in_failures", include_str!("../../migrations/sqlite/0013_sign_in_failures.sql")),
];

pub struct SqliteStore {
    path: std::path::PathBuf,
    write: SqlitePool,
    read: SqlitePool,
    checkpointer: tokio::task::JoinHandle<()>,
}

/// SQLite's own automatic checkpoints copy the WAL back into the database, but through sqlx the
/// WAL is never rewound to its start, so under steady writes it grows without end (and every
/// append to fresh file pages costs the kernel zeroing them). A RESTART checkpoint rewinds it.
const WAL_RESTART_BYTES: u64 = 16 * 1024 * 1024;
const WAL_CHECK_INTERVAL: Duration = Duration::from_millis(500);

fn spawn_checkpointer(write: SqlitePool, wal: std::path::PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(WAL_CHECK_INTERVAL).await;
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            if size > WAL_RESTART_BYTES
                && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&write).await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
            }
        }
    })
}

impl SqliteStore {
    /// Opens (creating with mode 0600 when missing) the database file and applies migrations.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let sync = match durability {
            Durability::Process => SqliteSynchronous::Normal,
            Durability::Power => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory");
        // Connections are local files that cannot drop, so the per-acquire liveness ping would only
        // add a round trip to every query.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        migrate(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(2)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let checkpointer =
            spawn_checkpointer(write.clone(), std::path::PathBuf::from(format!("{}-wal", path.display())));
        Ok(SqliteStore { path: path.to_path_buf(), write, read, checkpointer })
    }

    /// Waits for in-flight statements, then checkpoints and closes every connection.
    /// A consistent copy of the whole database at `target` (a new file), taken while it is in use.
    pub async fn snapshot_into(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Conflict(format!("{} exists already; name a new file", target.display())));
        }
        let path =
            target.to_str().ok_or_else(|| StoreError::Database(format!("{} is not a UTF-8 path", target.display())))?;
        sqlx::query("VACUUM INTO ?").bind(path).execute(&self.write).await?;
        Ok(())
    }

    /// Checks that the file at `path` is an idsync database this version can open: SQLite's own
    /// integrity check, and a schema no newer than this idsync knows. Returns its schema version.
    pub async fn check_file(path: &Path) -> Result<i64, StoreError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool =
            SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(|e| {
                StoreError::Database(format!("{} is not a database idsync can open: {e}", path.display()))
            })?;
        let checked: String = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("{} is not an SQLite database: {e}", path.display())))?
            .try_get(0)?;
        if checked != "ok" {
            return Err(StoreError::Database(format!("{} is damaged: {checked}", path.display())));
        }
        let version: i64 = sqlx::query("SELECT IFNULL(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&pool)
            .await
            .map_err(|_| StoreError::Database(format!("{} is an SQLite database, but not idsync's", path.display())))?
            .try_get(0)?;
        pool.close().await;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if version > known {
            return Err(StoreError::Database(format!(
                "{} has schema version {version}, newer than this idsync understands ({known}); use a newer idsync",
                path.display()
            )));
        }
        Ok(version)
    }

    pub async fn close(&self) {
        self.checkpointer.abort();
        self.read.close().await;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await;
        self.write.close().await;
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .or_else(|e| if e.kind() == std::io::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })
        .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)")
        .execute(pool)
        .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Database(format!("migration {version} ({name}) failed: {e}")))?;
            if *version == 8 {
                refold_names(&mut tx)
                    .await
                    .map_err(|e| StoreError::Database(format!("migration {version} ({name}) failed: {e}")))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)")
                .bind(version)
                .bind(name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let latest: i64 =
        sqlx::query("SELECT IFNULL(MAX(version), 0) FROM schema_migrations").fetch_one(pool).await?.try_get(0)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if latest > known {
        return Err(StoreError::Database(format!(
            "the database has schema version {latest}, newer than this idsync understands ({known}); run a newer idsync"
        )));
    }
    Ok(())
}

/// Names were unique under plain lower-casing; they are now unique under `unique_form` (which also
/// NFC-normalises). Only names outside ASCII can differ.
async fn refold_names(tx: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let rows = sqlx::query("SELECT pk, name FROM resources WHERE name GLOB '*[^ -~]*'").fetch_all(&mut *tx).await?;
    for row in rows {
        let (pk, name): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        let refolded = sqlx::query("UPDATE resources SET name_folded = ? WHERE pk = ?")
            .bind(model::resource::unique_form(&name))
            .bind(pk)
            .execute(&mut *tx)
            .await;
        match refolded {
            Ok(_) => {}
            // Two names written before, now one name: the later keeps its old form (and stays
            // reachable) rather than the database refusing to open.
            Err(e) if is_unique_violation(&e) => {
                tracing::warn!(name = %name, "two stored names are one under Unicode normalisation; this one keeps its old form until it is renamed");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Timestamps are stored fixed-width in UTC so that text order is time order (see [`crate::Time`]).
pub(crate) fn now() -> crate::Time {
    crate::Time::now()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
    async fn create_source(&self, name: &str, kind: &str, token_hash: &[u8; 32]) -> Result<crate::Source, StoreError> {
        self.create_source_impl(name, kind, token_hash).await
    }
    async fn list_sources(&self) -> Result<Vec<crate::Source>, StoreError> {
        self.list_sources_impl().await
    }
    async fn source(&self, name: &str) -> Result<Option<crate::Source>, StoreError> {
        self.source_impl(name).await
    }
    async fn source_auth(&self, name: &str) -> Result<Option<crate::SourceAuth>, StoreError> {
        self.source_auth_impl(name).await
    }
    async fn rotate_token(&self, name: &str, token_hash: &[u8; 32], grace_seconds: u64) -> Result<(), StoreError> {
        self.rotate_token_impl(name, token_hash, grace_seconds).await
    }
    async fn remove_source(&self, name: &str, purge: bool) -> Result<(), StoreError> {
        self.remove_source_impl(name, purge).await
    }
    async fn tokens(&self, name: &str) -> Result<Vec<crate::TokenInfo>, StoreError> {
        self.tokens_impl(name).await
    }
    async fn set_pull(&self, name: &str, config: &str, secret: &[u8]) -> Result<(), StoreError> {
        self.set_pull_impl(name, config, secret).await
    }
    async fn pull(&self, name: &str) -> Result<Option<crate::PullSettings>, StoreError> {
        self.pull_impl(name).await
    }
    async fn pulls(&self) -> Result<std::collections::BTreeMap<String, crate::PullSettings>, StoreError> {
        self.pulls_impl().await
    }
    async fn set_login_token(&self, name: &str, hash: &[u8; 32]) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sources SET login_token_hash = ? WHERE name = ?")
            .bind(&hash[..])
            .bind(name)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("there is no source named '{name}'")));
        }
        Ok(())
    }
    async fn login_token(&self, name: &str) -> Result<Option<[u8; 32]>, StoreError> {
        let row = sqlx::query("SELECT login_token_hash FROM sources WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        let bytes: Option<Vec<u8>> = match row {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        Ok(bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()))
    }
    async fn set_pull_cursor(&self, name: &str, cursor: Option<&str>, full_read: bool) -> Result<(), StoreError> {
        self.set_pull_cursor_impl(name, cursor, full_read).await
    }
    async fn set_pull_state(&self, name: &str, state: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sources SET pull_state = ? WHERE name = ?")
            .bind(state)
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(())
    }
    async fn create(
        &self,
        source: crate::SourceId,
        kind: model::ResourceKind,
        data: serde_json::Map<String, serde_json::Value>,
        members: Vec<model::resource::MemberRef>,
    ) -> Result<crate::StoredResource, StoreError> {
        self.create_impl(source, kind, data, members).await
    }
    async fn get(
        &self,
        source: crate::SourceId,
        kind: model::ResourceKind,
        id: &str,
        load: crate::Load,
    ) -> Result<Option<crate::StoredResource>, StoreError> {
        self.get_impl(source, kind, id, load).await
    }
    async fn update(
        &self,
        source: crate::SourceId,
        kind: model::ResourceKind,
        id: &str,
        if_match: Option<u64>,
        mutation: crate::Mutation,
        load: crate::Load,
    ) -> Result<crate::StoredResource, StoreError> {
        self.update_impl(source, kind, id, if_match, mutation, load).await
    }
    async fn delete(
        &self,
        source: crate::SourceId,
        kind: model::ResourceKind,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<(), StoreError> {
        self.delete_impl(source, kind, id, if_match).await
    }
    async fn list(
        &self,
        source: crate::SourceId,
        kind: model::ResourceKind,
        query: &crate::ListQuery<'_>,
    ) -> Result<crate::ListPage, StoreError> {
        self.list_impl(source, kind, query).await
    }
    async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<crate::Change>, StoreError> {
        self.changes_since_impl(after, limit).await
    }
}

#[async_trait::async_trait]
impl crate::SyncStore for SqliteStore {
    async fn create_target(
        &self,
        name: &str,
        kind: &str,
        url: &str,
        secret: &[u8],
    ) -> Result<crate::TargetRecord, StoreError> {
        self.create_target_impl(name, kind, url, secret).await
    }
    async fn targets(&self) -> Result<Vec<crate::TargetRecord>, StoreError> {
        self.targets_impl().await
    }
    async fn target(&self, name: &str) -> Result<Option<crate::TargetRecord>, StoreError> {
        self.target_impl(name).await
    }
    async fn update_target(&self, name: &str, url: Option<&str>, secret: Option<&[u8]>) -> Result<(), StoreError> {
        self.update_target_impl(name, url, secret).await
    }
    async fn remove_target(&self, name: &str) -> Result<(), StoreError> {
        self.remove_target_impl(name).await
    }
    async fn set_target_health(&self, name: &str, healthy: bool, detail: &str) -> Result<bool, StoreError> {
        self.set_target_health_impl(name, healthy, detail).await
    }
    async fn journal_cursor(&self) -> Result<i64, StoreError> {
        self.journal_cursor_impl().await
    }
    async fn group_renamed(
        &self,
        source: crate::SourceId,
        group_id: &str,
        name: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.group_renamed_impl(source, group_id, name).await
    }
    async fn enqueue(&self, keys: &[crate::OutboxKey], cursor: i64) -> Result<(), StoreError> {
        self.enqueue_impl(keys, cursor).await
    }
    async fn due(&self, target: &str, now: crate::Time, limit: u32) -> Result<Vec<crate::OutboxItem>, StoreError> {
        self.due_impl(target, now, limit).await
    }
    async fn pending(&self, target: &str) -> Result<u64, StoreError> {
        self.pending_impl(target).await
    }
    async fn complete(&self, items: &[crate::OutboxItem]) -> Result<(), StoreError> {
        self.complete_impl(items).await
    }
    async fn reschedule(&self, item: &crate::OutboxItem, next_at: crate::Time, error: &str) -> Result<(), StoreError> {
        self.reschedule_impl(item, next_at, error).await
    }
    async fn queued(&self, key: &crate::OutboxKey) -> Result<Option<crate::OutboxItem>, StoreError> {
        let row = sqlx::query(
            "SELECT generation, attempts, last_error FROM outbox WHERE target = ? AND source = ? AND source_id = ?",
        )
        .bind(&key.target)
        .bind(&key.source)
        .bind(&key.source_id)
        .fetch_optional(&self.write)
        .await?;
        row.map(|r| {
            Ok(crate::OutboxItem {
                key: key.clone(),
                generation: r.try_get(0)?,
                attempts: r.try_get::<i64, _>(1)? as u32,
                last_error: r.try_get(2)?,
            })
        })
        .transpose()
    }
    async fn wake(&self, target: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET next_at = ? WHERE target = ? AND next_at > ?")
            .bind(now())
            .bind(target)
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(())
    }
    async fn ownership(
        &self,
        target: &str,
        source_ids: &[(String, String)],
        names: &[String],
    ) -> Result<model::target::Ownership, StoreError> {
        self.ownership_impl(target, source_ids, names).await
    }
    async fn all_ownership(&self, target: &str) -> Result<model::target::Ownership, StoreError> {
        self.all_ownership_impl(target).await
    }
    async fn managed_users(&self, target: &str) -> Result<u64, StoreError> {
        self.managed_users_impl(target).await
    }
    async fn record_ownership(&self, target: &str, changes: &[crate::OwnershipChange]) -> Result<(), StoreError> {
        self.record_ownership_impl(target, changes).await
    }
    async fn create_run(&self, kind: crate::RunKind, target: &str) -> Result<i64, StoreError> {
        self.create_run_impl(kind, target).await
    }
    async fn update_run(
        &self,
        id: i64,
        state: crate::RunState,
        summary: &serde_json::Value,
        hold_reason: Option<&str>,
        held: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        self.update_run_impl(id, state, summary, hold_reason, held).await
    }
    async fn run(&self, id: i64) -> Result<Option<crate::RunRecord>, StoreError> {
        self.run_impl(id).await
    }
    async fn runs(
        &self,
        target: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::RunRecord>, StoreError> {
        self.runs_impl(target, before, limit).await
    }
    async fn record_events(&self, events: &[crate::Event]) -> Result<(), StoreError> {
        self.record_events_impl(events).await
    }
    async fn events(&self, query: &crate::EventQuery) -> Result<Vec<crate::Event>, StoreError> {
        self.events_impl(query).await
    }
    async fn prune_log(&self, before: crate::Time) -> Result<u64, StoreError> {
        self.prune_log_impl(before).await
    }
    async fn deprovisioned_since(&self, target: &str, since: crate::Time) -> Result<u64, StoreError> {
        self.deprovisioned_since_impl(target, since).await
    }
}

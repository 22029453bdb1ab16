//! Work on the data directory itself: the lock a running server holds on it, and the offline
//! database commands, which refuse to replace what a running server has open.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Config;

fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("idsync.lock")
}

fn open_lock(data_dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = lock_path(data_dir);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Who holds the data directory's lock, as written into the lock file for others to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// `idsync serve`, for as long as it runs.
    Server,
    /// A command working on the data directory while no server runs, for moments.
    Command,
}

impl Holder {
    fn tag(self) -> &'static str {
        match self {
            Holder::Server => "server",
            Holder::Command => "command",
        }
    }
}

/// The data directory's lock, held for as long as the returned file lives, or `None` while
/// another process holds it.
pub fn try_lock(data_dir: &Path, holder: Holder) -> anyhow::Result<Option<File>> {
    let mut file = open_lock(data_dir)?;
    match file.try_lock() {
        Ok(()) => {
            // Best effort: the tag only lets a starting server tell whether waiting can help.
            let _ = file.set_len(0).and_then(|()| std::io::Write::write_all(&mut file, holder.tag().as_bytes()));
            Ok(Some(file))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", lock_path(data_dir).display())),
    }
}

fn held_by(data_dir: &Path) -> Option<Holder> {
    match std::fs::read_to_string(lock_path(data_dir)).ok()?.as_str() {
        "server" => Some(Holder::Server),
        "command" => Some(Holder::Command),
        _ => None,
    }
}

/// Takes the data directory's lock for `holder`, waiting a few seconds while a command works on
/// the data directory; `who` says who wants it, for the message when a server has it.
pub async fn lock(data_dir: &Path, holder: Holder, who: &str) -> anyhow::Result<File> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(file) = try_lock(data_dir, holder)? {
            return Ok(file);
        }
        let waiting_helps = held_by(data_dir) == Some(Holder::Command);
        if !waiting_helps || tokio::time::Instant::now() >= deadline {
            let by = if waiting_helps { "a command working without a server" } else { "a server is running there" };
            bail!(
                "the data directory {} is in use ({by}; it holds {}); {who} needs it stopped first",
                data_dir.display(),
                lock_path(data_dir).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// A consistent copy of the whole database, taken while the server runs. It holds sealed
    /// secrets, which only this installation's secret key opens: keep the key with it.
    Backup {
        /// The new file to write.
        file: PathBuf,
    },
    /// Replace the database with a copy made by 'db backup' (the server must be stopped); the
    /// database it replaces is kept beside it.
    Restore {
        /// The copy to restore.
        file: PathBuf,
    },
}

pub async fn db(cmd: DbCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Backup { file } => {
            let store = crate::serve::open_store(config).await?;
            let done = store.snapshot_into(&file).await;
            store.close().await;
            done?;
            println!("wrote {}: the whole database, as of now", file.display());
            println!(
                "it is useless without this installation's secret key ({} or IDSYNC_SECRET_KEY): keep a copy of the key apart from it",
                app::secrets::key_file(&config.data_dir).display()
            );
        }
        DbCommand::Restore { file } => {
            let _held = lock(&config.data_dir, Holder::Command, "'db restore'").await?;
            let version = store::sqlite::SqliteStore::check_file(&file).await?;
            let database = config.database_path();
            if database.exists() {
                let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
                let kept = database.with_extension(format!("db.before-restore-{stamp}"));
                std::fs::rename(&database, &kept)
                    .with_context(|| format!("cannot move {} aside", database.display()))?;
                println!("the database it replaces is kept as {}", kept.display());
            }
            for suffix in ["db-wal", "db-shm"] {
                let _ = std::fs::remove_file(database.with_extension(suffix));
            }
            std::fs::copy(&file, &database).with_context(|| format!("cannot copy {} into place", file.display()))?;
            println!("restored {} (schema version {version}); start the server to use it", file.display());
        }
    }
    Ok(())
}

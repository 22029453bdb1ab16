//! Work on the data directory itself: the lock a running server holds on it, and the offline
//! database commands, which refuse to replace what a running server has open.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Config;

fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("idsync.lock")
}

/// Takes the data directory's lock, for as long as the returned file lives; `holder` says who
/// wants it, for the message when a server has it.
pub fn lock(data_dir: &Path, holder: &str) -> anyhow::Result<File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = lock_path(data_dir);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "a server is running on {} (it holds {}); {holder} needs it stopped first",
            data_dir.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
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
            let _held = lock(&config.data_dir, "'db restore'")?;
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

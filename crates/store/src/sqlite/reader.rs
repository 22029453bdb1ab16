//! Reads on the calling thread.
//!
//! sqlx runs every SQLite statement on a worker thread of its own, so each query costs two thread
//! hand-offs; for an indexed lookup of about 20 µs those cost several times the query itself
//! (measured with perf under scripts/bench). Lookups by id and list pages therefore run on a
//! read-only connection owned by the calling thread. They are indexed and LIMITed; a filter that
//! must scan holds this one worker thread while it runs, the runtime's others go on. Writes stay
//! with the single sqlx writer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use super::filter_sql::Arg;
use crate::StoreError;

thread_local! {
    static READERS: RefCell<HashMap<PathBuf, Connection>> = RefCell::new(HashMap::new());
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.pragma_update(None, "cache_size", -16000)?;
    Ok(conn)
}

/// Runs `f` on this thread's read connection to the database at `path`.
pub(super) fn read<R>(path: &Path, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
    READERS
        .with(|cell| {
            let mut readers = cell.borrow_mut();
            let conn = match readers.entry(path.to_path_buf()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(open(path)?),
            };
            f(conn)
        })
        .map_err(|e| StoreError::Database(e.to_string()))
}

pub(super) fn params(head: impl IntoIterator<Item = SqlValue>, args: &[Arg]) -> Vec<SqlValue> {
    head.into_iter()
        .chain(args.iter().map(|a| match a {
            Arg::Text(s) => SqlValue::Text(s.clone()),
            Arg::Int(i) => SqlValue::Integer(*i),
            Arg::Real(f) => SqlValue::Real(*f),
        }))
        .collect()
}

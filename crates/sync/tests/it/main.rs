//! The sync edge against a real SQLite store: pulled snapshots and change sets into the store.

mod pull;

-- Administrators of the web console, with their argon2id password hashes, and their sessions.
-- A session is named by the SHA-256 of its cookie's secret; it ends when idle too long, at its
-- absolute expiry, at logout, or with its administrator's password change or removal.
CREATE TABLE administrators (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    password_changed TEXT NOT NULL,
    last_login TEXT
);

CREATE TABLE admin_sessions (
    id_hash BLOB PRIMARY KEY,
    administrator INTEGER NOT NULL REFERENCES administrators (id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires TEXT NOT NULL,
    -- When the password was last given in this session: dangerous actions ask for it again after a while.
    reauthenticated TEXT NOT NULL,
    address TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX admin_sessions_of_administrator ON admin_sessions (administrator);

-- Tokens of the admin API. `id` is the token's public half (it names the row without revealing
-- the secret); `hash` is SHA-256 of the whole token. `last_used` is written at most once a minute.
CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    hash BLOB NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    last_used TEXT
) WITHOUT ROWID;

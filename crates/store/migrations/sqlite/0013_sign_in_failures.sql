-- Failed console sign-ins per key (`account:<name>`, `address:<ip>`), kept in the database so
-- that every replica counts the same.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last TEXT NOT NULL
);

-- Every change of configuration and every approval: who (an admin token by name, or `local`), what
-- to which object, and the object before and after (JSON, secrets replaced by "changed").
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_by_object ON audit_log(object, id);

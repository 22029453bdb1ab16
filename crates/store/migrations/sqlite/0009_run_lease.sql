-- Who runs a run (host and process) and until when its lease holds: a run whose process is gone,
-- or whose lease lapsed, no longer keeps others of its source from starting.
ALTER TABLE runs ADD COLUMN holder TEXT;
ALTER TABLE runs ADD COLUMN lease_until TEXT;
CREATE INDEX runs_running ON runs(target, kind) WHERE state = 'running';

-- Where the last server to start listens, so commands run elsewhere print URLs that work.
CREATE TABLE server_address (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    url TEXT NOT NULL,
    started TEXT NOT NULL
);

-- Which source feeds which target, and the rules (JSON: only what the administrator set; the
-- defaults stay in code). A binding cannot name a source or target that does not exist, and goes
-- with either. `revision` goes up with every change of the rules; `reconciled` is the revision a
-- server last reconciled the target for, so a change made while no server ran is caught up at start.
CREATE TABLE bindings (
    source TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    target TEXT NOT NULL REFERENCES targets(name) ON DELETE CASCADE,
    rules TEXT NOT NULL DEFAULT '{}',
    revision INTEGER NOT NULL DEFAULT 1,
    reconciled INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (source, target)
) WITHOUT ROWID;
CREATE INDEX bindings_by_target ON bindings(target);

-- Goes up with every change of configuration a running server caches or acts on, whichever
-- process made it: it polls this one row instead of watching files.
CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE TRIGGER config_binding_added AFTER INSERT ON bindings BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_binding_changed AFTER UPDATE OF rules ON bindings BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_binding_removed AFTER DELETE ON bindings BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_source_added AFTER INSERT ON sources BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_source_changed AFTER UPDATE OF pull_config, pull_secret, login_token_hash ON sources BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_source_removed AFTER DELETE ON sources BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_token_added AFTER INSERT ON source_tokens BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_token_changed AFTER UPDATE ON source_tokens BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_token_removed AFTER DELETE ON source_tokens BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_target_added AFTER INSERT ON targets BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_target_changed AFTER UPDATE OF url, secret ON targets BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER config_target_removed AFTER DELETE ON targets BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
END;

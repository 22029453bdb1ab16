CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE source_tokens (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL,
    created TEXT NOT NULL,
    expires TEXT
);
CREATE INDEX source_tokens_source ON source_tokens(source_id);

-- Users and groups share one table so a membership can point at either.
CREATE TABLE resources (
    pk INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    external_id TEXT,
    data TEXT NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE UNIQUE INDEX resources_by_id ON resources(source_id, id);
CREATE UNIQUE INDEX users_by_name ON resources(source_id, name_folded) WHERE kind = 'User';
-- In primary-key order within a kind, so listing pages needs no sort.
CREATE INDEX resources_by_kind ON resources(source_id, kind);
CREATE INDEX resources_by_name ON resources(source_id, kind, name_folded);
CREATE INDEX resources_by_external_id ON resources(source_id, kind, external_id);

-- Members are kept by id, as the client sent them: SCIM does not require a member to exist, and
-- rows are removed explicitly when the user or group they name is deleted.
CREATE TABLE memberships (
    group_pk INTEGER NOT NULL REFERENCES resources(pk) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    -- The member's display name as the client sent it, if it did.
    display TEXT,
    PRIMARY KEY (group_pk, member_id)
) WITHOUT ROWID;
CREATE INDEX memberships_by_member ON memberships(member_id, group_pk);

-- Written in the same transaction as every accepted change; the sync engine reads it in order.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    change TEXT NOT NULL,
    at TEXT NOT NULL
);

-- How many users and groups each source holds, kept by triggers so that listing without a
-- filter need not count every row.
CREATE TABLE resource_counts (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (source_id, kind)
) WITHOUT ROWID;

CREATE TRIGGER resources_counted_in AFTER INSERT ON resources BEGIN
    INSERT INTO resource_counts (source_id, kind, n) VALUES (NEW.source_id, NEW.kind, 1)
    ON CONFLICT (source_id, kind) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER resources_counted_out AFTER DELETE ON resources BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE source_id = OLD.source_id AND kind = OLD.kind;
END;

-- The change journal is written by triggers, so no write path can forget it and it always commits
-- with the change it records.
CREATE TRIGGER journal_created AFTER INSERT ON resources BEGIN
    INSERT INTO changes (source_id, kind, resource_id, change, at) VALUES (NEW.source_id, NEW.kind, NEW.id, 'created', NEW.created);
END;

CREATE TRIGGER journal_updated AFTER UPDATE OF version ON resources BEGIN
    INSERT INTO changes (source_id, kind, resource_id, change, at) VALUES (NEW.source_id, NEW.kind, NEW.id, 'updated', NEW.last_modified);
END;

-- A deleted user or group leaves every group that held it: those groups change version (and so
-- are journaled as updated) and lose the membership.
CREATE TRIGGER journal_deleted AFTER DELETE ON resources BEGIN
    UPDATE resources SET version = version + 1, last_modified = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE source_id = OLD.source_id AND pk IN (SELECT group_pk FROM memberships WHERE member_id = OLD.id);
    DELETE FROM memberships WHERE member_id = OLD.id AND group_pk IN (SELECT pk FROM resources WHERE source_id = OLD.source_id);
    INSERT INTO changes (source_id, kind, resource_id, change, at) VALUES (OLD.source_id, OLD.kind, OLD.id, 'deleted', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;

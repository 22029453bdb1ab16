-- Membership changes are journaled per member, so the sync engine knows exactly which users a
-- group change touches. 'Member' entries name a user or a group of the source.
CREATE TRIGGER journal_member_joined AFTER INSERT ON memberships BEGIN
    INSERT INTO changes (source_id, kind, resource_id, change, at)
    SELECT g.source_id, 'Member', NEW.member_id, 'joined', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM resources g WHERE g.pk = NEW.group_pk;
END;

CREATE TRIGGER journal_member_left AFTER DELETE ON memberships BEGIN
    INSERT INTO changes (source_id, kind, resource_id, change, at)
    SELECT g.source_id, 'Member', OLD.member_id, 'left', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM resources g WHERE g.pk = OLD.group_pk;
END;

-- A deleted group's memberships go by foreign-key cascade after the group row is gone, when the
-- trigger above can no longer find the source: journal its members before the delete.
CREATE TRIGGER journal_group_members_left BEFORE DELETE ON resources WHEN OLD.kind = 'Group' BEGIN
    INSERT INTO changes (source_id, kind, resource_id, change, at)
    SELECT OLD.source_id, 'Member', m.member_id, 'left', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM memberships m WHERE m.group_pk = OLD.pk;
END;

-- Applications idsync provisions. Credentials are encrypted by the caller; the store never sees
-- them in the clear.
CREATE TABLE targets (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    secret BLOB NOT NULL,
    created TEXT NOT NULL,
    healthy INTEGER NOT NULL DEFAULT 1,
    health_detail TEXT NOT NULL DEFAULT '',
    health_changed TEXT
);

-- Target users idsync manages, each on behalf of one source user.
CREATE TABLE target_users (
    target TEXT NOT NULL REFERENCES targets(name) ON DELETE CASCADE,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    PRIMARY KEY (target, source, source_id)
) WITHOUT ROWID;
CREATE INDEX target_users_by_name ON target_users(target, name_folded);

-- Target memberships idsync granted.
CREATE TABLE target_grants (
    target TEXT NOT NULL REFERENCES targets(name) ON DELETE CASCADE,
    user_folded TEXT NOT NULL,
    group_folded TEXT NOT NULL,
    user_name TEXT NOT NULL,
    group_name TEXT NOT NULL,
    source TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (target, user_folded, group_folded)
) WITHOUT ROWID;

-- The outbox: source users whose target state must be recomputed and applied. Level-triggered:
-- a row says "make this user right", so bursts coalesce into one row and retries are idempotent.
CREATE TABLE outbox (
    target TEXT NOT NULL REFERENCES targets(name) ON DELETE CASCADE,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    -- Bumped by every enqueue, so finishing work taken before a newer change keeps the row.
    generation INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    enqueued TEXT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (target, source, source_id)
) WITHOUT ROWID;
CREATE INDEX outbox_due ON outbox(target, next_at);

-- How far the engine has read the change journal.
CREATE TABLE journal_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO journal_cursor (id, seq) VALUES (1, 0);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    summary TEXT NOT NULL DEFAULT '{}',
    hold_reason TEXT,
    -- Operations waiting for approval, as JSON.
    held TEXT
);

-- The provisioning log.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    run_id INTEGER,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    user_name TEXT,
    group_name TEXT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX events_by_target ON events(target, id);
CREATE INDEX events_by_user ON events(user_name COLLATE NOCASE, id);
CREATE INDEX events_by_group ON events(group_name COLLATE NOCASE, id);

-- Group names as the engine last saw them: a group whose version changed only because of its
-- members needs no reconcile of every member, a renamed one does.
CREATE TABLE known_groups (
    source_id INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (source_id, group_id)
) WITHOUT ROWID;

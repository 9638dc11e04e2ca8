-- Offline sync v1: mutation bookkeeping per client, the change log that pulls read, the current
-- state of every synced entity (for snapshots and checksums), and the objects mutations create.

ALTER TABLE clients ADD COLUMN last_mutation_id INTEGER NOT NULL DEFAULT 0;

-- Every mutation a client pushed, applied or rejected, with a hash of its arguments: a replay with
-- the same id and arguments is answered from here; different arguments under a used id are refused.
CREATE TABLE mutations (
    client_row INTEGER NOT NULL REFERENCES clients(id),
    mid        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    args_hash  TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
    code       TEXT,
    field      TEXT,
    message    TEXT,
    device_time TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (client_row, mid)
) STRICT, WITHOUT ROWID;

-- The change log. `seq` is assigned inside the single writer's transaction, so commit order is seq
-- order and a reader never sees a gap fill in later. `grp` ties the changes of one write together
-- (a page never splits them) and tags the position for restore detection. AUTOINCREMENT: a seq is
-- never reused, even after pruning the tail.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    grp       INTEGER NOT NULL,
    scope     TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    op        TEXT NOT NULL CHECK (op IN ('put', 'remove')),
    data      TEXT,
    at        TEXT NOT NULL
) STRICT;
CREATE INDEX changes_scope_seq ON changes(scope, seq);
CREATE INDEX changes_grp ON changes(grp);

-- Current state of every synced entity: what a snapshot sends, what checksums cover.
CREATE TABLE entities (
    id        INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    data      TEXT NOT NULL,
    hash      INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    UNIQUE (entity, entity_id)
) STRICT;
CREATE INDEX entities_scope ON entities(scope, id);

-- Per scope: how many entities, and the wrapping sum of their hashes.
CREATE TABLE scope_state (
    scope    TEXT PRIMARY KEY,
    count    INTEGER NOT NULL,
    checksum INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Submitted inspections: evidence. The columns an officer submitted never change (triggers below);
-- corrections are amendments, and review and media state move on their own columns.
CREATE TABLE inspections (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT NOT NULL UNIQUE,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    client_row       INTEGER NOT NULL REFERENCES clients(id),
    mid              INTEGER NOT NULL,
    subject_id       INTEGER NOT NULL REFERENCES subjects(id),
    unit_id          INTEGER NOT NULL REFERENCES units(id),
    template_code    TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    results          TEXT NOT NULL,
    notes            TEXT,
    location         TEXT NOT NULL,
    signature_photo  TEXT NOT NULL,
    expected_photos  TEXT NOT NULL,
    started_at       TEXT,
    device_time      TEXT NOT NULL,
    gps_time         TEXT,
    received_at      TEXT NOT NULL,
    clock_offset_ms  INTEGER NOT NULL,
    occurred_at      TEXT NOT NULL,
    score_earned     INTEGER NOT NULL,
    score_possible   INTEGER NOT NULL,
    failed_items     TEXT NOT NULL,
    critical_failed  TEXT NOT NULL,
    compliant        INTEGER NOT NULL,
    flags            TEXT NOT NULL,
    current_version  INTEGER NOT NULL DEFAULT 1,
    media_state      TEXT NOT NULL,
    review_state     TEXT NOT NULL DEFAULT 'received'
) STRICT;
CREATE INDEX inspections_unit_time ON inspections(unit_id, occurred_at);
CREATE INDEX inspections_user ON inspections(user_id, id);

CREATE TRIGGER inspections_evidence_immutable
BEFORE UPDATE OF uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
                 location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at,
                 clock_offset_ms, occurred_at, score_earned, score_possible, failed_items, critical_failed, compliant
ON inspections
BEGIN SELECT RAISE(ABORT, 'submitted inspections are evidence and never change'); END;
CREATE TRIGGER inspections_no_delete BEFORE DELETE ON inspections
BEGIN SELECT RAISE(ABORT, 'submitted inspections are evidence and are never deleted'); END;

CREATE TABLE inspection_amendments (
    id            INTEGER PRIMARY KEY,
    inspection_id INTEGER NOT NULL REFERENCES inspections(id),
    version       INTEGER NOT NULL,
    base_version  INTEGER NOT NULL,
    stale         INTEGER NOT NULL,
    results       TEXT NOT NULL,
    notes         TEXT,
    reason        TEXT NOT NULL,
    score_earned  INTEGER NOT NULL,
    score_possible INTEGER NOT NULL,
    failed_items  TEXT NOT NULL,
    critical_failed TEXT NOT NULL,
    compliant     INTEGER NOT NULL,
    client_row    INTEGER NOT NULL REFERENCES clients(id),
    mid           INTEGER NOT NULL,
    device_time   TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    UNIQUE (inspection_id, version)
) STRICT;
CREATE TRIGGER inspection_amendments_immutable BEFORE UPDATE ON inspection_amendments
BEGIN SELECT RAISE(ABORT, 'amendments are evidence and never change'); END;
CREATE TRIGGER inspection_amendments_no_delete BEFORE DELETE ON inspection_amendments
BEGIN SELECT RAISE(ABORT, 'amendments are evidence and are never deleted'); END;

CREATE TABLE drafts (
    id           INTEGER PRIMARY KEY,
    uuid         TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    owner_client INTEGER NOT NULL REFERENCES clients(id),
    data         TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

CREATE TABLE subject_proposals (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    fields      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'proposed',
    received_at TEXT NOT NULL
) STRICT;

CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    category    TEXT NOT NULL,
    description TEXT NOT NULL,
    location    TEXT NOT NULL,
    photos      TEXT NOT NULL,
    device_time TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER incidents_immutable BEFORE UPDATE ON incidents
BEGIN SELECT RAISE(ABORT, 'incident reports are evidence and never change'); END;
CREATE TRIGGER incidents_no_delete BEFORE DELETE ON incidents
BEGIN SELECT RAISE(ABORT, 'incident reports are evidence and are never deleted'); END;

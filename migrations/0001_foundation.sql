-- Foundation: organisation, campaigns, subjects, checklist templates, identity, audit log.
-- Internal keys are integer rowids; objects phones or URLs name carry a code or a UUIDv7.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE units (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    parent_id  INTEGER REFERENCES units(id),
    -- '/lcucb/dongchangfu/' : root-first codes, so a subtree is a prefix match.
    path       TEXT NOT NULL UNIQUE,
    peer_group TEXT
) STRICT;

CREATE TABLE departments (
    id      INTEGER PRIMARY KEY,
    code    TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
) STRICT;

CREATE TABLE campaigns (
    id        INTEGER PRIMARY KEY,
    code      TEXT NOT NULL UNIQUE,
    name_zh   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on   TEXT NOT NULL,
    targets   TEXT NOT NULL,   -- JSON array of targets
    weights   TEXT NOT NULL    -- JSON object of score weights
) STRICT;

CREATE TABLE campaign_tasks (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    number       INTEGER NOT NULL,
    title_zh     TEXT NOT NULL,
    title_en     TEXT NOT NULL,
    summary_zh   TEXT NOT NULL,
    leader_roles TEXT NOT NULL, -- JSON array of role titles
    UNIQUE (campaign_id, number)
) STRICT;

-- `position` keeps the plan's order: the first department listed leads (牵头).
CREATE TABLE task_departments (
    task_id       INTEGER NOT NULL REFERENCES campaign_tasks(id),
    department_id INTEGER NOT NULL REFERENCES departments(id),
    position      INTEGER NOT NULL,
    PRIMARY KEY (task_id, department_id)
) STRICT;

CREATE TABLE task_units (
    task_id  INTEGER NOT NULL REFERENCES campaign_tasks(id),
    unit_id  INTEGER NOT NULL REFERENCES units(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (task_id, unit_id)
) STRICT;

CREATE TABLE subjects (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    lat         REAL,
    lon         REAL,
    geometry    TEXT,            -- GeoJSON geometry object
    attributes  TEXT NOT NULL,   -- JSON object, shape by kind
    search_text TEXT NOT NULL,   -- name and key attributes, lower-cased, for text filters
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX subjects_unit ON subjects(unit_id, id);
CREATE INDEX subjects_kind ON subjects(kind, id);

CREATE TABLE checklist_templates (
    id           INTEGER PRIMARY KEY,
    code         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    subject_kind TEXT NOT NULL,
    title_zh     TEXT NOT NULL,
    title_en     TEXT NOT NULL,
    items        TEXT NOT NULL,  -- JSON array of items
    content_hash TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by INTEGER,
    UNIQUE (code, version)
) STRICT;

-- A published template version is what inspections were filled against: it never changes.
CREATE TRIGGER checklist_templates_immutable_update BEFORE UPDATE ON checklist_templates
BEGIN SELECT RAISE(ABORT, 'published template versions are immutable'); END;
CREATE TRIGGER checklist_templates_immutable_delete BEFORE DELETE ON checklist_templates
BEGIN SELECT RAISE(ABORT, 'published template versions are immutable'); END;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    unit_id       INTEGER NOT NULL REFERENCES units(id),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
) STRICT;

-- Rotating refresh tokens. Only a hash of each token is kept. Tokens descending from one login
-- share a family; presenting a rotated (used) token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY,
    family     TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens(family);

-- App installs. Each is bound to the user who registered it.
CREATE TABLE clients (
    id            INTEGER PRIMARY KEY,
    client_id     TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    app_version   TEXT NOT NULL,
    device_model  TEXT,
    registered_at TEXT NOT NULL
) STRICT;

-- Append-only, hash-chained audit log: row_hash = SHA-256(prev_hash || canonical content).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,   -- user uuid, or 'system' / 'cli'
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    before_hash TEXT,
    after_hash  TEXT,
    prev_hash   TEXT NOT NULL,
    row_hash    TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

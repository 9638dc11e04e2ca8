-- Review of inspections, rectification orders (整改) and the audit log's recorded heads.

-- Every review decision: evidence of who decided what, never changed or deleted. The inspection's
-- review_state is the latest decision's outcome.
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY,
    inspection_id INTEGER NOT NULL REFERENCES inspections(id),
    decision      TEXT NOT NULL CHECK (decision IN ('approved', 'has_issues', 'rejected')),
    from_state    TEXT NOT NULL,
    comment       TEXT,
    reviewer_id   INTEGER NOT NULL REFERENCES users(id),
    decided_at    TEXT NOT NULL
) STRICT;
CREATE INDEX reviews_inspection ON reviews(inspection_id, id);
CREATE TRIGGER reviews_immutable BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'review decisions are evidence and never change'); END;
CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'review decisions are evidence and are never deleted'); END;
CREATE INDEX inspections_review_queue ON inspections(unit_id, review_state, id);

-- Rectification orders. The order row is the current state (moved by compare-and-set on
-- `version`); its history is the append-only rectification_events.
CREATE TABLE rectifications (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT NOT NULL UNIQUE,
    inspection_id    INTEGER NOT NULL REFERENCES inspections(id),
    item             TEXT NOT NULL,
    subject_id       INTEGER NOT NULL REFERENCES subjects(id),
    unit_id          INTEGER NOT NULL REFERENCES units(id),
    finder_id        INTEGER NOT NULL REFERENCES users(id),
    severity         TEXT NOT NULL,
    opened_by        TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    deadline         TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open', 'reported_handled', 'verifying', 'closed', 'deferred')),
    overdue          INTEGER NOT NULL DEFAULT 0,
    rework_count     INTEGER NOT NULL DEFAULT 0,
    extension_count  INTEGER NOT NULL DEFAULT 0,
    deferred_until   TEXT,
    pending_request  TEXT,
    handled_note     TEXT,
    verified_by      TEXT,
    closed_at        TEXT,
    closed_on_time   INTEGER,
    version          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (inspection_id, item)
) STRICT;
CREATE INDEX rectifications_unit_state ON rectifications(unit_id, state, deadline);
CREATE TABLE rectification_events (
    id        INTEGER PRIMARY KEY,
    order_id  INTEGER NOT NULL REFERENCES rectifications(id),
    event     TEXT NOT NULL,
    actor     TEXT NOT NULL,
    at        TEXT NOT NULL,
    note      TEXT
) STRICT;
CREATE INDEX rectification_events_order ON rectification_events(order_id, id);
CREATE TRIGGER rectification_events_immutable BEFORE UPDATE ON rectification_events
BEGIN SELECT RAISE(ABORT, 'order history never changes'); END;
CREATE TRIGGER rectification_events_no_delete BEFORE DELETE ON rectification_events
BEGIN SELECT RAISE(ABORT, 'order history is never deleted'); END;
CREATE TRIGGER rectifications_no_delete BEFORE DELETE ON rectifications
BEGIN SELECT RAISE(ABORT, 'rectification orders are never deleted'); END;

-- The audit chain's head at the end of each month (and at each checkpoint): a tail cut off the
-- log is found by comparing with these. Append-only like the log itself.
CREATE TABLE audit_heads (
    id        INTEGER PRIMARY KEY,
    label     TEXT NOT NULL UNIQUE,
    seq       INTEGER NOT NULL,
    row_hash  TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'recorded audit heads never change'); END;
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'recorded audit heads are never deleted'); END;

-- The monthly assessment: each campaign's assessment rules (coverage frequencies, rework penalty),
-- the rollups (official revisions are never changed in place; a provisional one per month is
-- replaced nightly), and a record of every job run.

ALTER TABLE campaigns ADD COLUMN assessment TEXT;

-- A month's inspections read for the assessment from this index alone (covering): the rows
-- themselves carry the results and location JSON, ten times the bytes.
CREATE INDEX inspections_assessment ON inspections(occurred_at, unit_id, subject_id, current_version,
    score_earned, score_possible, critical_failed, review_state, verdict_level, media_state);

CREATE TABLE rollups (
    id          INTEGER PRIMARY KEY,
    campaign    TEXT NOT NULL,
    month       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('official', 'provisional')),
    revision    INTEGER NOT NULL,
    data        TEXT NOT NULL,
    diff        TEXT,
    audit_head  TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    UNIQUE (campaign, month, kind, revision)
) STRICT;
CREATE TRIGGER rollups_official_immutable BEFORE UPDATE ON rollups WHEN OLD.kind = 'official'
BEGIN SELECT RAISE(ABORT, 'a published revision is never changed; publish a new one'); END;
CREATE TRIGGER rollups_official_no_delete BEFORE DELETE ON rollups WHEN OLD.kind = 'official'
BEGIN SELECT RAISE(ABORT, 'a published revision is never deleted'); END;

CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    run_key     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    outcome     TEXT,
    detail      TEXT
) STRICT;
CREATE INDEX job_runs_job ON job_runs(job, run_key, id);

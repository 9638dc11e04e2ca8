-- Geography: each inspection's location verdict (recomputed when its photos bring EXIF positions;
-- the location the officer sent never changes), and a revision counter of subjects that the
-- in-memory spatial index compares with to know it is current.

ALTER TABLE inspections ADD COLUMN verdict TEXT;
ALTER TABLE inspections ADD COLUMN verdict_level TEXT CHECK (verdict_level IN ('ok', 'doubtful', 'implausible'));
-- Inspections recorded before verdicts existed, found at start without a scan.
CREATE INDEX inspections_without_verdict ON inspections(id) WHERE verdict IS NULL;
-- The officer's previous fix, for the speed between two inspections.
CREATE INDEX inspections_user_time ON inspections(user_id, occurred_at);
-- Coverage: how often each subject was inspected in a period.
CREATE INDEX inspections_subject_time ON inspections(subject_id, occurred_at);

CREATE TABLE subject_revision (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
) STRICT;
INSERT INTO subject_revision (id, rev) VALUES (1, 0);
CREATE TRIGGER subjects_revision_insert AFTER INSERT ON subjects
BEGIN UPDATE subject_revision SET rev = rev + 1 WHERE id = 1; END;
CREATE TRIGGER subjects_revision_update AFTER UPDATE ON subjects
BEGIN UPDATE subject_revision SET rev = rev + 1 WHERE id = 1; END;
CREATE TRIGGER subjects_revision_delete AFTER DELETE ON subjects
BEGIN UPDATE subject_revision SET rev = rev + 1 WHERE id = 1; END;

-- The rectification clock runs from the finding (issue 14): an order records when the problem was
-- found (the inspection's time of occurrence, from which its deadline runs) beside when the server
-- opened it, and whether its deadline had already passed when it reached the server.
ALTER TABLE rectifications ADD COLUMN found_at TEXT;
ALTER TABLE rectifications ADD COLUMN synced_late INTEGER NOT NULL DEFAULT 0 CHECK (synced_late IN (0, 1));
-- Orders opened before this migration: found when their inspection took place. Their deadlines
-- ran from the opening and stay as they were issued.
UPDATE rectifications SET found_at = (SELECT occurred_at FROM inspections WHERE inspections.id = rectifications.inspection_id);
CREATE INDEX rectifications_subject_item ON rectifications(subject_id, item);
CREATE INDEX rectifications_inspection ON rectifications(inspection_id) WHERE synced_late = 1;

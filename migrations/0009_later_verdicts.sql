-- Later evidence, later verdicts (issue 14): an inspection pushed late that took place before
-- another of the same officer makes that one's speed verdict be computed again. If the verdict of
-- an inspection already reviewed changes, its review stands and the inspection is flagged for the
-- supervisor instead.
ALTER TABLE inspections ADD COLUMN verdict_changed_after_review INTEGER NOT NULL DEFAULT 0
    CHECK (verdict_changed_after_review IN (0, 1));
CREATE INDEX inspections_verdict_changed ON inspections(unit_id, id) WHERE verdict_changed_after_review = 1;

-- SQLite's indexes end with the rowid, so `(user_id, occurred_at)` orders ties by id there and
-- serves the next inspection of an officer, `(occurred_at, id) > (...) ORDER BY occurred_at, id
-- LIMIT 1`, as one step of a range. Here the id must be written out, or the search reads and sorts
-- every later inspection of the officer (measured: 5 ms a submission at 6,400 inspections).
DROP INDEX inspections_user_time;
CREATE INDEX inspections_user_time ON inspections(user_id, occurred_at, id);
DROP INDEX inspections_subject_time;
CREATE INDEX inspections_subject_time ON inspections(subject_id, occurred_at, id);

-- Ledger dates (issue 14): the day from which a subject is on the ledger (台账), by default the day
-- it was created (China Standard Time), settable on import and edit. Coverage of a month counts
-- the subjects on the ledger in that month, so a bureau that imports its ledger now can still
-- assess past months.
ALTER TABLE subjects ADD COLUMN on_ledger_since TEXT;
UPDATE subjects SET on_ledger_since = date(created_at, '+8 hours');
CREATE INDEX subjects_on_ledger_since ON subjects(on_ledger_since);

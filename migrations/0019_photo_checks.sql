-- The nightly photo check hashes a rolling slice of the originals (issue 19): when each original
-- was last hashed and found to be the bytes verified. Not evidence: a bookkeeping row per distinct
-- original, replaced by each later check. An original never checked since its upload counts from
-- its verification (its hash was computed then).
CREATE TABLE photo_checks (
    sha256     TEXT PRIMARY KEY,
    checked_at TEXT NOT NULL
) STRICT;

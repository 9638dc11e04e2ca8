-- What several nodes on one database share instead of keeping in memory (issue 19, decision 0028).
-- The tables exist on both engines, so the schema is one; a single SQLite node uses the claims and
-- leaves the chunks and counters empty (its partial uploads are files, its login counters memory).

-- A partial upload's chunks as received, whichever node received each PATCH: a chunk is recorded
-- in the same transaction as the offset it moves, so a node killed mid-chunk loses nothing
-- acknowledged. Deleted with the upload once it completes, is ended or expires. Not evidence.
CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    "offset"  INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (upload_id, "offset")
) STRICT, WITHOUT ROWID;

-- A node making a photo's renditions holds it until then; one killed while holding it lets
-- another take the photo after that.
CREATE TABLE rendition_claims (
    photo_id      INTEGER PRIMARY KEY REFERENCES photos(id),
    claimed_until TEXT NOT NULL
) STRICT;

-- Login attempts counted per key (account or client address) in fixed windows, shared by nodes.
CREATE TABLE login_counters (
    key          TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    window_ends  TEXT NOT NULL,
    count        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

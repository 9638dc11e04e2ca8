-- What several nodes on one database share instead of keeping in memory (issue 19, decision 0028):
-- SQLite's migration 20, in PostgreSQL's types.

-- A partial upload's chunks as received, whichever node received each PATCH: a chunk is recorded
-- in the same transaction as the offset it moves, so a node killed mid-chunk loses nothing
-- acknowledged. Deleted with the upload once it completes, is ended or expires. Not evidence.
CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    "offset"  BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (upload_id, "offset")
);

-- A node making a photo's renditions holds it until then; one killed while holding it lets
-- another take the photo after that.
CREATE TABLE rendition_claims (
    photo_id      BIGINT PRIMARY KEY REFERENCES photos(id),
    claimed_until TEXT NOT NULL
);

-- Login attempts counted per key (account or client address) in fixed windows, shared by nodes.
-- Unlogged: a crash of the database forgets them, which only loosens a limit for one window.
CREATE UNLOGGED TABLE login_counters (
    key          TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    window_ends  TEXT NOT NULL,
    count        BIGINT NOT NULL
);

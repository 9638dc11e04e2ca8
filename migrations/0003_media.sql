-- Photo evidence: resumable uploads in progress (tus), and verified photos.

-- An upload in progress, keyed by a random id that names it in URLs. One per photo: creating it
-- again with the same photo_id returns this row. Uploads are not evidence: an expired, terminated
-- or refused upload is deleted with its partial file. A completed upload stays (its offset equals
-- its length) so a phone that lost the last response can ask and learn it is done.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    photo_id      TEXT NOT NULL UNIQUE,
    inspection_id INTEGER NOT NULL REFERENCES inspections(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    length        INTEGER NOT NULL CHECK (length > 0),
    "offset"      INTEGER NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    sha256        TEXT NOT NULL,
    content_type  TEXT,
    taken_at      TEXT,
    metadata      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    completed_at  TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX uploads_open_expiry ON uploads(expires_at) WHERE completed_at IS NULL;

-- Verified photos: evidence. Nothing an officer sent, nor what verification found, ever changes;
-- only the renditions' state moves (pending -> ready | failed).
CREATE TABLE photos (
    id                    INTEGER PRIMARY KEY,
    uuid                  TEXT NOT NULL UNIQUE,
    inspection_id         INTEGER NOT NULL REFERENCES inspections(id),
    user_id               INTEGER NOT NULL REFERENCES users(id),
    sha256                TEXT NOT NULL,
    size                  INTEGER NOT NULL,
    format                TEXT NOT NULL CHECK (format IN ('jpeg', 'png', 'webp')),
    width                 INTEGER NOT NULL,
    height                INTEGER NOT NULL,
    exif                  TEXT,
    flags                 TEXT NOT NULL,
    exif_time_diff_s      INTEGER,
    exif_distance_m       REAL,
    declared_content_type TEXT,
    declared_taken_at     TEXT,
    verified_at           TEXT NOT NULL,
    renditions            TEXT NOT NULL DEFAULT 'pending' CHECK (renditions IN ('pending', 'ready', 'failed'))
) STRICT;
CREATE INDEX photos_sha256 ON photos(sha256);
CREATE INDEX photos_inspection ON photos(inspection_id);
CREATE INDEX photos_renditions_pending ON photos(id) WHERE renditions = 'pending';

CREATE TRIGGER photos_evidence_immutable
BEFORE UPDATE OF uuid, inspection_id, user_id, sha256, size, format, width, height, exif, flags, exif_time_diff_s,
                 exif_distance_m, declared_content_type, declared_taken_at, verified_at
ON photos
BEGIN SELECT RAISE(ABORT, 'verified photos are evidence and never change'); END;
CREATE TRIGGER photos_no_delete BEFORE DELETE ON photos
BEGIN SELECT RAISE(ABORT, 'verified photos are evidence and are never deleted'); END;

-- Photos of incident reports (issue 15, item 6). An incident report declared photo ids, but uploads
-- and photos were bound to an inspection only, so its photos could never arrive. A photo (and its
-- upload) now belongs to exactly one inspection or one incident. SQLite cannot relax NOT NULL in
-- place: both tables are rebuilt (foreign keys are off around migrations and checked before
-- commit); the evidence triggers are made again, now covering `incident_id` too.
CREATE TABLE uploads_v2 (
    id            TEXT PRIMARY KEY,
    photo_id      TEXT NOT NULL UNIQUE,
    inspection_id INTEGER REFERENCES inspections(id),
    incident_id   INTEGER REFERENCES incidents(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    length        INTEGER NOT NULL CHECK (length > 0),
    "offset"      INTEGER NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    sha256        TEXT NOT NULL,
    content_type  TEXT,
    taken_at      TEXT,
    metadata      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    completed_at  TEXT,
    CHECK ((inspection_id IS NULL) <> (incident_id IS NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO uploads_v2 (id, photo_id, inspection_id, user_id, length, "offset", sha256, content_type, taken_at,
                        metadata, created_at, expires_at, completed_at)
    SELECT id, photo_id, inspection_id, user_id, length, "offset", sha256, content_type, taken_at,
           metadata, created_at, expires_at, completed_at FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v2 RENAME TO uploads;
CREATE INDEX uploads_open_expiry ON uploads(expires_at) WHERE completed_at IS NULL;

CREATE TABLE photos_v2 (
    id                    INTEGER PRIMARY KEY,
    uuid                  TEXT NOT NULL UNIQUE,
    inspection_id         INTEGER REFERENCES inspections(id),
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
    renditions            TEXT NOT NULL DEFAULT 'pending' CHECK (renditions IN ('pending', 'ready', 'failed')),
    incident_id           INTEGER REFERENCES incidents(id),
    CHECK ((inspection_id IS NULL) <> (incident_id IS NULL))
) STRICT;
INSERT INTO photos_v2 (id, uuid, inspection_id, user_id, sha256, size, format, width, height, exif, flags,
                       exif_time_diff_s, exif_distance_m, declared_content_type, declared_taken_at, verified_at, renditions)
    SELECT id, uuid, inspection_id, user_id, sha256, size, format, width, height, exif, flags,
           exif_time_diff_s, exif_distance_m, declared_content_type, declared_taken_at, verified_at, renditions FROM photos;
DROP TABLE photos;
ALTER TABLE photos_v2 RENAME TO photos;
CREATE INDEX photos_sha256 ON photos(sha256);
CREATE INDEX photos_inspection ON photos(inspection_id);
CREATE INDEX photos_incident ON photos(incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX photos_renditions_pending ON photos(id) WHERE renditions = 'pending';
CREATE TRIGGER photos_evidence_immutable
BEFORE UPDATE OF uuid, inspection_id, incident_id, user_id, sha256, size, format, width, height, exif, flags,
                 exif_time_diff_s, exif_distance_m, declared_content_type, declared_taken_at, verified_at
ON photos
BEGIN SELECT RAISE(ABORT, 'verified photos are evidence and never change'); END;
CREATE TRIGGER photos_no_delete BEFORE DELETE ON photos
BEGIN SELECT RAISE(ABORT, 'verified photos are evidence and are never deleted'); END;

-- An incident waits for its photos as an inspection does. What the officer reported never changes;
-- only this state moves.
ALTER TABLE incidents ADD COLUMN media_state TEXT NOT NULL DEFAULT 'complete';
DROP TRIGGER incidents_immutable;
CREATE TRIGGER incidents_immutable
BEFORE UPDATE OF uuid, user_id, unit_id, category, description, location, photos, device_time, occurred_at, received_at
ON incidents
BEGIN SELECT RAISE(ABORT, 'incident reports are evidence and never change'); END;
UPDATE incidents SET media_state = 'awaiting_media' WHERE json_array_length(photos) > 0;

//! Photo evidence in the database: uploads in progress, verified photos, and what a verified photo
//! changes (its inspection's media state, what syncs down, the audit log).
//!
//! An upload is bound at creation to one expected photo of one inspection, by that inspection's
//! author. A photo row is written once, when the complete file matched its declared SHA-256 and
//! passed the probe; the same transaction syncs the photo down to its author (who may then delete
//! the phone's copy) and, when it was the last expected photo, marks the inspection complete.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use lantian_domain::geo::VerdictThresholds;
use lantian_domain::inspection::LocationFix;
use lantian_domain::media::{
    EvidenceThresholds, ExifInfo, PhotoFormat, PhotoView, RenditionState, evidence_flags,
};
use uuid::Uuid;

use crate::identity::UserRecord;
use crate::sync::{self, Group};
use crate::{StoreError, audit, cols, now_text, push};

/// What a photo is evidence of: an inspection (its first version or an amendment) or an incident
/// report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Inspection(Uuid),
    Incident(Uuid),
}

/// An upload in progress (or completed: `completed`).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    pub id: String,
    pub photo_id: Uuid,
    pub owner: Owner,
    pub user_id: i64,
    pub length: u64,
    pub offset: u64,
    pub sha256: String,
    pub content_type: Option<String>,
    pub taken_at: Option<DateTime<Utc>>,
    /// The `Upload-Metadata` header as created, echoed on HEAD.
    pub metadata: String,
    pub expires_at: DateTime<Utc>,
    pub completed: bool,
}

/// An upload to create.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub id: String,
    pub photo_id: Uuid,
    pub owner: Owner,
    pub length: u64,
    pub sha256: String,
    pub content_type: Option<String>,
    pub taken_at: Option<DateTime<Utc>>,
    pub metadata: String,
    pub expires_at: DateTime<Utc>,
}

/// Why an upload cannot be created: a stable API code, or a storage failure.
#[derive(Debug, Clone)]
pub enum CreateError {
    /// `inspection_not_found` (or an incident not found), `photo_not_expected`, `upload_conflict`.
    Refused(&'static str),
    Store(StoreError),
}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        CreateError::Store(e)
    }
}

impl From<crate::db::Error> for CreateError {
    fn from(e: crate::db::Error) -> Self {
        CreateError::Store(e.into())
    }
}

const UPLOAD_COLUMNS: &str =
    "up.id, up.photo_id, i.uuid, up.user_id, up.length, up.\"offset\", up.sha256, up.content_type,
     up.taken_at, up.metadata, up.expires_at, up.completed_at, n.uuid";

/// The owner of a row from its inspection's and incident's uuid columns (exactly one is set).
fn owner_of(
    r: &crate::db::Row<'_>,
    inspection: usize,
    incident: usize,
) -> crate::db::Result<Owner> {
    match r.get::<_, Option<String>>(inspection)? {
        Some(_) => Ok(Owner::Inspection(cols::uuid(r, inspection)?)),
        None => Ok(Owner::Incident(cols::uuid(r, incident)?)),
    }
}

fn upload_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<UploadRow> {
    let taken: Option<String> = r.get(8)?;
    Ok(UploadRow {
        id: r.get(0)?,
        photo_id: cols::uuid(r, 1)?,
        owner: owner_of(r, 2, 12)?,
        user_id: r.get(3)?,
        length: cols::count(r, 4)?,
        offset: cols::count(r, 5)?,
        sha256: r.get(6)?,
        content_type: r.get(7)?,
        taken_at: taken
            .map(|t| crate::parse_time(&t).map_err(|e| crate::corrupt(8, e.to_string())))
            .transpose()?,
        metadata: r.get(9)?,
        expires_at: cols::time(r, 10)?,
        completed: r.get::<_, Option<String>>(11)?.is_some(),
    })
}

/// What an upload is found by.
enum UploadKey<'a> {
    Id(&'a str),
    Photo(Uuid),
}

fn upload_by(conn: &Tx, key: UploadKey<'_>) -> Result<Option<UploadRow>, StoreError> {
    let (column, value) = match key {
        UploadKey::Id(id) => ("up.id", id.to_owned()),
        UploadKey::Photo(photo) => ("up.photo_id", photo.to_string()),
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads up LEFT JOIN inspections i ON i.id = up.inspection_id
             LEFT JOIN incidents n ON n.id = up.incident_id WHERE {column} = ?1"
        ))?
        .query_row([value], upload_from_row)
        .optional()?)
}

/// The upload with this id.
pub fn upload(conn: &Tx, id: &str) -> Result<Option<UploadRow>, StoreError> {
    upload_by(conn, UploadKey::Id(id))
}

/// The upload of this photo, if any.
pub fn upload_by_photo(conn: &Tx, photo: Uuid) -> Result<Option<UploadRow>, StoreError> {
    upload_by(conn, UploadKey::Photo(photo))
}

/// Photos an inspection declares: those of its first version (`expected_photos`) and those its
/// amendments' answers name. An amendment may add evidence; its photos upload like the first's.
const DECLARED_PHOTOS: &str = "SELECT e.value AS photo FROM inspections i, json_each(i.expected_photos) e WHERE i.id = ?1
     UNION SELECT p.value FROM inspection_amendments a, json_each(a.results) r, json_each(r.value, '$.photos') p
           WHERE a.inspection_id = ?1";
/// [`DECLARED_PHOTOS`] in PostgreSQL's JSON functions.
const DECLARED_PHOTOS_PG: &str = "SELECT e.value AS photo FROM inspections i, json_array_elements_text(CAST(i.expected_photos AS json)) e WHERE i.id = ?1
     UNION SELECT p.value FROM inspection_amendments a, json_array_elements(CAST(a.results AS json)) r,
           json_array_elements_text(coalesce(r.value -> 'photos', '[]')) p
           WHERE a.inspection_id = ?1";

/// Whether an amendment of inspection `row` declares `photo`.
fn declared_by_amendment(conn: &Tx, row: i64, photo: Uuid) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(conn.dialect(
            "SELECT EXISTS (SELECT 1 FROM inspection_amendments a, json_each(a.results) r, json_each(r.value, '$.photos') p
             WHERE a.inspection_id = ?1 AND p.value = ?2)",
            "SELECT EXISTS (SELECT 1 FROM inspection_amendments a, json_array_elements(CAST(a.results AS json)) r,
                 json_array_elements_text(coalesce(r.value -> 'photos', '[]')) p
             WHERE a.inspection_id = ?1 AND p.value = ?2)",
        ))?
        .query_row(params![row, photo.to_string()], |r| r.get(0))?)
}

/// How many photos inspection `row` declares (any version) that are not verified yet.
pub fn missing_photos(conn: &Tx, row: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM ({}) d WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.uuid = d.photo)",
            conn.dialect(DECLARED_PHOTOS, DECLARED_PHOTOS_PG)
        ))?
        .query_row([row], |r| r.get(0))?)
}

/// Creates an upload for one expected photo of one of `user`'s inspections, or returns the upload
/// that already exists for that photo when it is the same file (same length and hash): creating
/// again is how a phone that lost the answer finds its upload and offset.
pub fn create_upload(
    conn: &Tx,
    user: &UserRecord,
    n: &NewUpload,
) -> Result<UploadRow, CreateError> {
    // The photo must be one its owner (of this user) declared; another user's owner answers as a
    // missing one.
    let (inspection_row, incident_row) = match n.owner {
        Owner::Inspection(id) => {
            let found: Option<(i64, i64, String)> = conn
                .prepare_cached(
                    "SELECT id, user_id, expected_photos FROM inspections WHERE uuid = ?1",
                )?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((row, _, expected)) = found.filter(|(_, author, _)| *author == user.id) else {
                return Err(CreateError::Refused("inspection_not_found"));
            };
            let expected: Vec<Uuid> = serde_json::from_str(&expected).map_err(StoreError::from)?;
            if !expected.contains(&n.photo_id) && !declared_by_amendment(conn, row, n.photo_id)? {
                return Err(CreateError::Refused("photo_not_expected"));
            }
            (Some(row), None)
        }
        Owner::Incident(id) => {
            let found: Option<(i64, i64, String)> = conn
                .prepare_cached("SELECT id, user_id, photos FROM incidents WHERE uuid = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((row, _, declared)) = found.filter(|(_, author, _)| *author == user.id) else {
                return Err(CreateError::Refused("incident_not_found"));
            };
            let declared: Vec<Uuid> = serde_json::from_str(&declared).map_err(StoreError::from)?;
            if !declared.contains(&n.photo_id) {
                return Err(CreateError::Refused("photo_not_expected"));
            }
            (None, Some(row))
        }
    };
    if let Some(existing) = upload_by_photo(conn, n.photo_id)? {
        let same = existing.user_id == user.id
            && existing.owner == n.owner
            && existing.length == n.length
            && existing.sha256 == n.sha256;
        return if same {
            Ok(existing)
        } else {
            Err(CreateError::Refused("upload_conflict"))
        };
    }
    conn.prepare_cached(
        "INSERT INTO uploads (id, photo_id, inspection_id, incident_id, user_id, length, sha256, content_type, taken_at, metadata, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        n.id,
        n.photo_id.to_string(),
        inspection_row,
        incident_row,
        user.id,
        cols::int(n.length),
        n.sha256,
        n.content_type,
        n.taken_at.map(crate::time_text),
        n.metadata,
        now_text(),
        crate::time_text(n.expires_at),
    ])?;
    upload(conn, &n.id)?.ok_or(CreateError::Store(StoreError::NotFound))
}

/// Moves an open upload's offset from `from` to `to` and pushes its expiry out. `false` if the
/// offset was not `from` any more (nothing changes then).
pub fn advance(
    conn: &Tx,
    id: &str,
    from: u64,
    to: u64,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE uploads SET \"offset\" = ?3, expires_at = ?4
             WHERE id = ?1 AND \"offset\" = ?2 AND completed_at IS NULL",
        )?
        .execute(params![
            id,
            cols::int(from),
            cols::int(to),
            crate::time_text(expires_at)
        ])?;
    Ok(n == 1)
}

/// The largest chunk row: a PATCH body larger than this (a stock client may send a whole photo in
/// one) is kept as several rows, so no row needs more memory than this to write or read.
const CHUNK_ROW: usize = 1024 * 1024;

/// Records the chunk `data` of upload `id` received at offset `from`, and moves its offset on
/// (nodes that share a database keep partial uploads there, so that each PATCH may reach any of
/// them). Compare-and-set: `false` when the offset is no longer `from` (another node took a chunk
/// at that offset first), and nothing is recorded.
pub fn add_chunk(
    conn: &Tx,
    id: &str,
    from: u64,
    data: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let to = from + data.len() as u64;
    if !advance(conn, id, from, to, expires_at)? {
        return Ok(false);
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO upload_chunks (upload_id, \"offset\", data) VALUES (?1, ?2, ?3)",
    )?;
    let mut at = from;
    for piece in data.chunks(CHUNK_ROW) {
        insert.execute(params![id, cols::int(at), piece])?;
        at += piece.len() as u64;
    }
    Ok(true)
}

/// The recorded chunks of upload `id` in order, each handed to `f` as it is read (the chunks of
/// one photo never need to be in memory together). Only what lies before `before` is handed over.
pub fn read_chunks(
    conn: &Tx,
    id: &str,
    before: u64,
    mut f: impl FnMut(u64, &[u8]) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let mut io = Ok(());
    conn.prepare_cached(
        "SELECT \"offset\", data FROM upload_chunks WHERE upload_id = ?1 AND \"offset\" < ?2
         ORDER BY \"offset\"",
    )?
    .for_each(params![id, cols::int(before)], |r| {
        if io.is_ok() {
            let at: u64 = r.get(0)?;
            if let crate::db::Col::Blob(b) = r.get_ref(1)? {
                io = f(at, b);
            }
        }
        Ok(())
    })?;
    io.map_err(|e| StoreError::Io(e.to_string()))
}

/// Deletes an open upload (termination, refusal, expiry). A completed upload is evidence's receipt
/// and stays: `false` then.
pub fn delete_upload(conn: &Tx, id: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM uploads WHERE id = ?1 AND completed_at IS NULL")?
        .execute([id])?;
    Ok(n == 1)
}

/// Deletes the open uploads whose expiry has passed; returns their ids (their files go next).
pub fn take_expired(conn: &Tx, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM uploads WHERE completed_at IS NULL AND expires_at < ?1 RETURNING id",
        )?
        .query_map([crate::time_text(now)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Ids of the open uploads (to tell orphaned partial files from live ones).
pub fn open_upload_ids(conn: &Tx) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM uploads WHERE completed_at IS NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// What verification established about a complete file.
#[derive(Debug, Clone)]
pub struct Verified {
    pub sha256: String,
    pub size: u64,
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    pub exif: Option<ExifInfo>,
    /// What of the EXIF could not be read, if anything.
    pub exif_unreadable: Option<String>,
    /// Its renditions were made already (a photo that is its own review image gets its thumbnail
    /// while it is completed): nothing is left for the rendition job.
    pub renditions_ready: bool,
}

/// Records a verified photo for a complete upload (in one transaction): the evidence row with its
/// flags, the upload marked complete, the audit entry, the photo synced to its author, and the
/// inspection marked complete if this was its last expected photo.
pub fn record_photo(
    conn: &Tx,
    up: &UploadRow,
    v: &Verified,
    thresholds: EvidenceThresholds,
    verdicts: &VerdictThresholds,
) -> Result<PhotoView, StoreError> {
    // Where and when the photo's owner says it was taken, to check the photo's own metadata against.
    let (owner_sql, owner_id) = match up.owner {
        Owner::Inspection(id) => (
            "SELECT i.id, i.location, i.occurred_at, us.uuid FROM inspections i JOIN users us ON us.id = i.user_id
             WHERE i.uuid = ?1",
            id,
        ),
        Owner::Incident(id) => (
            "SELECT n.id, n.location, n.occurred_at, us.uuid FROM incidents n JOIN users us ON us.id = n.user_id
             WHERE n.uuid = ?1",
            id,
        ),
    };
    let (owner_row, location, occurred, author): (i64, LocationFix, DateTime<Utc>, Uuid) = conn
        .prepare_cached(owner_sql)?
        .query_row([owner_id.to_string()], |r| {
            Ok((
                r.get(0)?,
                cols::json(r, 1)?,
                cols::time(r, 2)?,
                cols::uuid(r, 3)?,
            ))
        })?;
    let (inspection_row, incident_row) = match up.owner {
        Owner::Inspection(_) => (Some(owner_row), None),
        Owner::Incident(_) => (None, Some(owner_row)),
    };
    // The same bytes attached to anything else.
    let reused: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = ?1
                 AND (inspection_id IS DISTINCT FROM ?2 OR incident_id IS DISTINCT FROM ?3))",
        )?
        .query_row(params![v.sha256, inspection_row, incident_row], |r| {
            r.get(0)
        })?;
    let check = evidence_flags(
        v.exif.as_ref(),
        v.exif_unreadable.is_some(),
        location.wgs84(),
        occurred,
        reused,
        thresholds,
    );
    let verified_at = crate::clock::now();
    let exif_json = v.exif.as_ref().map(serde_json::to_string).transpose()?;
    conn.prepare_cached(
        "INSERT INTO photos (uuid, inspection_id, incident_id, user_id, sha256, size, format, width, height, exif, flags,
             exif_time_diff_s, exif_distance_m, declared_content_type, declared_taken_at, verified_at, renditions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        up.photo_id.to_string(),
        inspection_row,
        incident_row,
        up.user_id,
        v.sha256,
        cols::int(v.size),
        v.format.as_str(),
        v.width,
        v.height,
        exif_json,
        serde_json::to_string(&check.flags)?,
        check.time_diff_s,
        check.distance_m,
        up.content_type,
        up.taken_at.map(crate::time_text),
        crate::time_text(verified_at),
        if v.renditions_ready { "ready" } else { "pending" },
    ])?;
    crate::seal::seal(conn, &author.to_string(), "photo", &up.photo_id.to_string())?;
    conn.prepare_cached("DELETE FROM upload_chunks WHERE upload_id = ?1")?
        .execute([&up.id])?;
    conn.prepare_cached("UPDATE uploads SET \"offset\" = length, completed_at = ?2 WHERE id = ?1")?
        .execute(params![up.id, now_text()])?;
    audit::record(
        conn,
        &author.to_string(),
        "photo.verify",
        "photo",
        &up.photo_id.to_string(),
        None,
        Some(v.sha256.clone()),
    )?;
    let g = Group::new();
    let view = publish_photo(conn, g, up.photo_id)?.ok_or(StoreError::NotFound)?;
    match up.owner {
        Owner::Inspection(id) => inspection_after_photo(conn, g, owner_row, id, author, verdicts)?,
        Owner::Incident(id) => incident_after_photo(conn, g, owner_row, id, author)?,
    }
    Ok(view)
}

/// After a photo of an incident is verified: the incident's media is complete once every photo
/// it declared is verified, and it syncs again.
fn incident_after_photo(
    conn: &Tx,
    g: Group,
    row: i64,
    incident: Uuid,
    author: Uuid,
) -> Result<(), StoreError> {
    let missing: i64 = conn
        .prepare_cached(conn.dialect(
            "SELECT count(*) FROM incidents n, json_each(n.photos) e
             WHERE n.id = ?1 AND NOT EXISTS (SELECT 1 FROM photos p WHERE p.uuid = e.value)",
            "SELECT count(*) FROM incidents n, json_array_elements_text(CAST(n.photos AS json)) e
             WHERE n.id = ?1 AND NOT EXISTS (SELECT 1 FROM photos p WHERE p.uuid = e.value)",
        ))?
        .query_row([row], |r| r.get(0))?;
    if missing > 0 {
        return Ok(());
    }
    let completed = conn
        .prepare_cached(
            "UPDATE incidents SET media_state = 'complete' WHERE id = ?1 AND media_state != 'complete'",
        )?
        .execute([row])?
        > 0;
    if !completed {
        return Ok(());
    }
    let view = push::incident_view(conn, incident)?.ok_or(StoreError::NotFound)?;
    resync_owner(
        conn,
        g,
        "incident",
        incident,
        author,
        serde_json::to_string(&view)?,
        true,
    )
}

/// Syncs a photo owner's new view (`data`) to its author, and records in the audit log that its
/// media is complete when it just became so.
fn resync_owner(
    conn: &Tx,
    g: Group,
    entity: &'static str,
    id: Uuid,
    author: Uuid,
    data: String,
    completed: bool,
) -> Result<(), StoreError> {
    if completed {
        audit::record(
            conn,
            "system",
            &format!("{entity}.media_complete"),
            entity,
            &id.to_string(),
            None,
            Some(crate::sha256_hex(data.as_bytes())),
        )?;
    }
    sync::put_text(
        conn,
        g,
        &lantian_domain::sync::user_scope(author),
        entity,
        &id.to_string(),
        data,
    )
}

/// After a photo is verified: the inspection's verdict is recomputed (the photo's EXIF position
/// counts), its media marked complete once every expected photo is verified, and it syncs again.
fn inspection_after_photo(
    conn: &Tx,
    g: Group,
    row: i64,
    inspection: Uuid,
    author: Uuid,
    verdicts: &VerdictThresholds,
) -> Result<(), StoreError> {
    crate::geo::refresh_verdict(conn, row, verdicts)?;
    let missing = missing_photos(conn, row)?;
    let completed = missing == 0
        && conn
            .prepare_cached(
                "UPDATE inspections SET media_state = 'complete' WHERE id = ?1 AND media_state != 'complete'",
            )?
            .execute([row])?
            > 0;
    let view = push::load_view(conn, inspection)?;
    resync_owner(
        conn,
        g,
        "inspection",
        inspection,
        author,
        serde_json::to_string(&view)?,
        completed,
    )
}

/// Syncs the current view of a photo to its author's devices.
fn publish_photo(conn: &Tx, g: Group, id: Uuid) -> Result<Option<PhotoView>, StoreError> {
    let Some(found) = photo(conn, id)? else {
        return Ok(None);
    };
    sync::put(
        conn,
        g,
        &lantian_domain::sync::user_scope(found.author_uuid),
        "photo",
        &id.to_string(),
        &found.view,
    )?;
    Ok(Some(found.view))
}

/// A photo with what deciding access to it needs: its inspection's author and unit.
#[derive(Debug, Clone)]
pub struct PhotoRecord {
    pub view: PhotoView,
    pub author_id: i64,
    pub author_uuid: Uuid,
    pub unit_path: Vec<String>,
}

const PHOTO_COLUMNS: &str = "p.uuid, i.uuid, p.sha256, p.size, p.format, p.width, p.height, p.exif, p.flags,
     p.exif_time_diff_s, p.exif_distance_m, p.declared_content_type, p.declared_taken_at, p.verified_at, p.renditions,
     coalesce(i.user_id, n.user_id), us.uuid, u.path, n.uuid";
/// A photo with its owner (an inspection or an incident), whose author and unit decide access.
const PHOTO_FROM: &str =
    "photos p LEFT JOIN inspections i ON i.id = p.inspection_id LEFT JOIN incidents n ON n.id = p.incident_id
     JOIN users us ON us.id = coalesce(i.user_id, n.user_id)
     JOIN units u ON u.id = coalesce(i.unit_id, n.unit_id)";

fn photo_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<PhotoRecord> {
    let format: String = r.get(4)?;
    let exif: Option<String> = r.get(7)?;
    let declared_taken: Option<String> = r.get(12)?;
    let renditions: String = r.get(14)?;
    Ok(PhotoRecord {
        view: PhotoView {
            id: cols::uuid(r, 0)?,
            inspection_id: r
                .get::<_, Option<String>>(1)?
                .map(|_| cols::uuid(r, 1))
                .transpose()?,
            incident_id: r
                .get::<_, Option<String>>(18)?
                .map(|_| cols::uuid(r, 18))
                .transpose()?,
            state: "verified".into(),
            sha256: r.get(2)?,
            size: cols::count(r, 3)?,
            format: PhotoFormat::parse(&format)
                .ok_or_else(|| crate::corrupt(4, format!("unknown format {format}")))?,
            width: r.get(5)?,
            height: r.get(6)?,
            exif: exif
                .map(|e| serde_json::from_str(&e).map_err(|e| crate::corrupt(7, e.to_string())))
                .transpose()?,
            flags: cols::json(r, 8)?,
            exif_time_diff_s: r.get(9)?,
            exif_distance_m: r.get(10)?,
            declared_content_type: r.get(11)?,
            declared_taken_at: declared_taken
                .map(|t| crate::parse_time(&t).map_err(|e| crate::corrupt(12, e.to_string())))
                .transpose()?,
            verified_at: cols::time(r, 13)?,
            renditions: match renditions.as_str() {
                "ready" => RenditionState::Ready,
                "failed" => RenditionState::Failed,
                _ => RenditionState::Pending,
            },
        },
        author_id: r.get(15)?,
        author_uuid: cols::uuid(r, 16)?,
        unit_path: cols::path(r, 17)?,
    })
}

/// One photo by its id.
pub fn photo(conn: &Tx, id: Uuid) -> Result<Option<PhotoRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PHOTO_COLUMNS} FROM {PHOTO_FROM} WHERE p.uuid = ?1"
        ))?
        .query_row([id.to_string()], photo_from_row)
        .optional()?)
}

/// Every photo with these bytes (callers filter by access).
pub fn photos_by_hash(conn: &Tx, sha256: &str) -> Result<Vec<PhotoRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PHOTO_COLUMNS} FROM {PHOTO_FROM} WHERE p.sha256 = ?1 ORDER BY p.id"
        ))?
        .query_map([sha256], photo_from_row)?
        .collect::<Result<_, _>>()?)
}

/// A photo waiting for its renditions.
#[derive(Debug, Clone)]
pub struct PendingRendition {
    pub id: Uuid,
    pub sha256: String,
    pub format: PhotoFormat,
    pub orientation: u16,
}

/// Claims up to `limit` photos whose renditions are still to be made and that no node holds,
/// oldest first, for `hold` from `now`: in the writer, so that of several nodes each claims
/// different photos. A node killed while holding some lets another claim them once `hold` ran out.
pub fn claim_renditions(
    conn: &Tx,
    limit: usize,
    now: DateTime<Utc>,
    hold: chrono::Duration,
) -> Result<Vec<PendingRendition>, StoreError> {
    let claimed: Vec<(i64, PendingRendition)> = conn
        .prepare_cached(conn.dialect(
            "SELECT p.uuid, p.sha256, p.format, coalesce(json_extract(p.exif, '$.orientation'), 1), p.id
             FROM photos p WHERE p.renditions = 'pending'
               AND NOT EXISTS (SELECT 1 FROM rendition_claims c WHERE c.photo_id = p.id AND c.claimed_until > ?1)
             ORDER BY p.id LIMIT ?2",
            "SELECT p.uuid, p.sha256, p.format, coalesce(CAST(CAST(p.exif AS json) ->> 'orientation' AS BIGINT), 1), p.id
             FROM photos p WHERE p.renditions = 'pending'
               AND NOT EXISTS (SELECT 1 FROM rendition_claims c WHERE c.photo_id = p.id AND c.claimed_until > ?1)
             ORDER BY p.id LIMIT ?2",
        ))?
        .query_map(params![crate::time_text(now), limit as i64], |r| {
            let format: String = r.get(2)?;
            Ok((
                r.get(4)?,
                PendingRendition {
                    id: cols::uuid(r, 0)?,
                    sha256: r.get(1)?,
                    format: PhotoFormat::parse(&format)
                        .ok_or_else(|| crate::corrupt(2, format!("unknown format {format}")))?,
                    orientation: r.get(3)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let until = crate::time_text(now + hold);
    let mut claim = conn.prepare_cached(
        "INSERT INTO rendition_claims (photo_id, claimed_until) VALUES (?1, ?2)
         ON CONFLICT (photo_id) DO UPDATE SET claimed_until = excluded.claimed_until",
    )?;
    for (row, _) in &claimed {
        claim.execute(params![row, until])?;
    }
    Ok(claimed.into_iter().map(|(_, p)| p).collect())
}

/// Records the outcome of making a photo's renditions and syncs the photo again.
pub fn set_renditions(conn: &Tx, id: Uuid, state: RenditionState) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE photos SET renditions = ?2 WHERE uuid = ?1")?
        .execute(params![id.to_string(), state.as_str()])?;
    conn.prepare_cached(
        "DELETE FROM rendition_claims WHERE photo_id = (SELECT id FROM photos WHERE uuid = ?1)",
    )?
    .execute([id.to_string()])?;
    publish_photo(conn, Group::new(), id)?;
    Ok(())
}

/// Records that `actor` read evidence (`what`: `original`, `thumbnail`, `review`, `metadata`).
pub fn record_read(conn: &Tx, actor: Uuid, photo: Uuid, what: &str) -> Result<(), StoreError> {
    audit::append(
        conn,
        &audit::Entry {
            actor: &actor.to_string(),
            action: &format!("photo.read.{what}"),
            object_type: "photo",
            object_id: &photo.to_string(),
            before_hash: None,
            after_hash: None,
        },
    )?;
    Ok(())
}
/// A verified photo's original as recorded at verification, and when its file was last hashed
/// and found intact (its verification, if never since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub photo: String,
    pub sha256: String,
    pub size: i64,
    pub last_checked: String,
}

/// Every verified photo's original, oldest photo first (for the check of the photo files).
pub fn originals(conn: &Tx) -> Result<Vec<Original>, StoreError> {
    Ok(conn
        .prepare(
            "SELECT p.uuid, p.sha256, p.size, COALESCE(c.checked_at, p.verified_at)
             FROM photos p LEFT JOIN photo_checks c ON c.sha256 = p.sha256 ORDER BY p.id",
        )?
        .query_map([], |r| {
            Ok(Original {
                photo: r.get(0)?,
                sha256: r.get(1)?,
                size: r.get(2)?,
                last_checked: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Records that these originals were hashed at `at` and found to be the bytes verified.
pub fn record_checks(conn: &Tx, sha256s: &[String], at: DateTime<Utc>) -> Result<(), StoreError> {
    let at = crate::time_text(at);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO photo_checks (sha256, checked_at) VALUES (?1, ?2)
         ON CONFLICT (sha256) DO UPDATE SET checked_at = excluded.checked_at",
    )?;
    for sha in sha256s {
        stmt.execute(params![sha, at])?;
    }
    Ok(())
}

/// The photos of inspection `id` (every version's), in the order they were verified.
pub fn photos_of_inspection(conn: &Tx, id: Uuid) -> Result<Vec<PhotoRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PHOTO_COLUMNS} FROM {PHOTO_FROM} WHERE i.uuid = ?1 ORDER BY p.id"
        ))?
        .query_map([id.to_string()], photo_from_row)?
        .collect::<Result<_, _>>()?)
}

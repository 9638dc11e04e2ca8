//! Geography in the database: each inspection's location verdict (computed from what was sent, the
//! subject's place, the officer's previous inspection and the photos' EXIF positions), and what the
//! in-memory spatial index of subjects is built from.

use chrono::{DateTime, Utc};
use lantian_domain::geo::{
    PreviousFix, Shape, SpatialIndex, Verdict, VerdictInput, VerdictThresholds, to_wgs84, verdict,
};
use lantian_domain::inspection::LocationFix;
use lantian_domain::media::ExifGps;
use lantian_domain::subject::SubjectKind;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::{StoreError, cols};

/// Computes the verdict of inspection `row` from the database and stores it with the inspection.
pub fn refresh_verdict(
    conn: &Connection,
    row: i64,
    t: &VerdictThresholds,
) -> Result<Verdict, StoreError> {
    let (user, location, at, lat, lon, geometry): (
        i64,
        LocationFix,
        DateTime<Utc>,
        Option<f64>,
        Option<f64>,
        Option<String>,
    ) = conn
        .prepare_cached(
            "SELECT i.user_id, i.location, i.occurred_at, s.lat, s.lon, s.geometry
             FROM inspections i JOIN subjects s ON s.id = i.subject_id WHERE i.id = ?1",
        )?
        .query_row([row], |r| {
            Ok((
                r.get(0)?,
                cols::json(r, 1)?,
                cols::time(r, 2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
    let previous = conn
        .prepare_cached(
            "SELECT location, occurred_at FROM inspections
             WHERE user_id = ?1 AND id != ?2 AND occurred_at <= ?3
             ORDER BY occurred_at DESC, id DESC LIMIT 1",
        )?
        .query_row(params![user, row, crate::time_text(at)], |r| {
            let fix: LocationFix = cols::json(r, 0)?;
            Ok(PreviousFix {
                at: cols::time(r, 1)?,
                wgs84: fix.wgs84(),
            })
        })
        .optional()?;
    let exif: Vec<(f64, f64)> = conn
        .prepare_cached(
            "SELECT json_extract(exif, '$.gps') FROM photos
             WHERE inspection_id = ?1 AND json_extract(exif, '$.gps') IS NOT NULL",
        )?
        .query_map([row], |r| {
            let g: ExifGps = cols::json(r, 0)?;
            Ok(to_wgs84(g.lat, g.lon, g.datum))
        })?
        .collect::<Result<_, _>>()?;
    let shape = geometry
        .as_deref()
        .and_then(|g| serde_json::from_str(g).ok())
        .and_then(|g: serde_json::Value| Shape::from_geojson(&g));
    let v = verdict(
        &VerdictInput {
            original: (location.lat, location.lon),
            datum: location.datum,
            accuracy_m: location.accuracy_m,
            mock: location.mock,
            at,
            subject_point: lat.zip(lon),
            subject_shape: shape.as_ref(),
            previous,
            exif_positions: &exif,
        },
        t,
    );
    conn.prepare_cached("UPDATE inspections SET verdict = ?2, verdict_level = ?3 WHERE id = ?1")?
        .execute(params![row, serde_json::to_string(&v)?, v.level.as_str()])?;
    Ok(v)
}

/// Gives every inspection recorded before verdicts existed its verdict (at start, once).
pub fn backfill(conn: &Connection, t: &VerdictThresholds) -> Result<usize, StoreError> {
    let rows: Vec<i64> = conn
        .prepare("SELECT id FROM inspections WHERE verdict IS NULL ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for row in &rows {
        refresh_verdict(conn, *row, t)?;
    }
    Ok(rows.len())
}

/// The subjects' revision: changes whenever any subject is inserted, updated or deleted.
pub fn subject_revision(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT rev FROM subject_revision WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// What the spatial index keeps of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub id: Uuid,
    pub kind: SubjectKind,
    /// The unit's path (`/root/child/`), for subtree filtering by prefix.
    pub unit_path: String,
}

/// The spatial index of every subject with a point, and the revision it reflects.
pub fn subject_index(conn: &Connection) -> Result<(i64, SpatialIndex<Placed>), StoreError> {
    let rev = subject_revision(conn)?;
    let mut stmt = conn.prepare(
        "SELECT s.uuid, s.kind, u.path, s.lat, s.lon FROM subjects s JOIN units u ON u.id = s.unit_id
         WHERE s.lat IS NOT NULL AND s.lon IS NOT NULL",
    )?;
    let items = stmt
        .query_map([], |r| {
            let kind: String = r.get(1)?;
            Ok((
                r.get::<_, f64>(3)?,
                r.get::<_, f64>(4)?,
                Placed {
                    id: cols::uuid(r, 0)?,
                    kind: serde_json::from_value(serde_json::Value::String(kind.clone()))
                        .map_err(|_| crate::corrupt(1, format!("unknown subject kind {kind}")))?,
                    unit_path: r.get(2)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rev, SpatialIndex::build(items)))
}

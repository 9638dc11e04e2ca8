//! Geography in the database: each inspection's location verdict (computed from what was sent, the
//! subject's place, the officer's previous inspection and the photos' EXIF positions), and what the
//! in-memory spatial index of subjects is built from.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use lantian_domain::geo::{
    PreviousFix, Shape, SpatialIndex, Verdict, VerdictInput, VerdictThresholds, to_wgs84, verdict,
};
use lantian_domain::inspection::LocationFix;
use lantian_domain::media::ExifGps;
use lantian_domain::subject::SubjectKind;
use uuid::Uuid;

use crate::{StoreError, cols};

/// Computes the verdict of inspection `row` from the database and stores it with the inspection.
/// A verdict that changes after the inspection was reviewed (later evidence: a photo's EXIF, an
/// earlier inspection pushed late) leaves the review as it is and flags the inspection
/// `verdict_changed_after_review` for the supervisor.
pub fn refresh_verdict(conn: &Tx, row: i64, t: &VerdictThresholds) -> Result<Verdict, StoreError> {
    type Row = (
        i64,
        LocationFix,
        DateTime<Utc>,
        Option<f64>,
        Option<f64>,
        Option<String>,
        Option<String>,
        String,
    );
    let (user, location, at, lat, lon, geometry, before, review_state): Row = conn
        .prepare_cached(
            "SELECT i.user_id, i.location, i.occurred_at, s.lat, s.lon, s.geometry, i.verdict, i.review_state
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
                r.get(6)?,
                r.get(7)?,
            ))
        })?;
    let shape = geometry
        .as_deref()
        .and_then(|g| serde_json::from_str(g).ok())
        .and_then(|g: serde_json::Value| Shape::from_geojson(&g));
    let exif: Vec<(f64, f64)> = conn
        .prepare_cached(conn.dialect(
            "SELECT json_extract(exif, '$.gps') FROM photos
             WHERE inspection_id = ?1 AND json_extract(exif, '$.gps') IS NOT NULL",
            "SELECT CAST(CAST(exif AS json) -> 'gps' AS TEXT) FROM photos
             WHERE inspection_id = ?1 AND json_typeof(CAST(exif AS json) -> 'gps') = 'object'",
        ))?
        .query_map([row], |r| {
            let g: ExifGps = cols::json(r, 0)?;
            Ok(to_wgs84(g.lat, g.lon, g.datum))
        })?
        .collect::<Result<_, _>>()?;
    let v = judge(
        Judged {
            location: &location,
            at,
            subject_point: lat.zip(lon),
            subject_shape: shape.as_ref(),
            exif: &exif,
        },
        previous_of(conn, user, row, at)?,
        t,
    );
    let text = serde_json::to_string(&v)?;
    if before.as_deref() == Some(text.as_str()) {
        // Judged the same again: nothing to write (verdict and level are written together).
        return Ok(v);
    }
    let changed = before.is_some();
    let reviewed = review_state != lantian_domain::review::ReviewState::Received.as_str();
    conn.prepare_cached(
        "UPDATE inspections SET verdict = ?2, verdict_level = ?3,
             verdict_changed_after_review = CASE WHEN ?4 = 1 THEN 1 ELSE verdict_changed_after_review END WHERE id = ?1",
    )?
    .execute(params![row, text, v.level.as_str(), changed && reviewed])?;
    Ok(v)
}

/// What an inspection's verdict is judged from, besides the officer's previous inspection.
struct Judged<'a> {
    location: &'a LocationFix,
    at: DateTime<Utc>,
    subject_point: Option<(f64, f64)>,
    subject_shape: Option<&'a Shape>,
    /// The WGS-84 positions in its photos' EXIF.
    exif: &'a [(f64, f64)],
}

/// The officer's inspection before inspection `row` (0: one not inserted yet) at `at`.
fn previous_of(
    conn: &Tx,
    user: i64,
    row: i64,
    at: DateTime<Utc>,
) -> Result<Option<PreviousFix>, StoreError> {
    Ok(conn
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
        .optional()?)
}

/// The verdict, given the officer's inspection before this one (the speed check).
fn judge(j: Judged<'_>, previous: Option<PreviousFix>, t: &VerdictThresholds) -> Verdict {
    verdict(
        &VerdictInput {
            original: (j.location.lat, j.location.lon),
            datum: j.location.datum,
            accuracy_m: j.location.accuracy_m,
            mock: j.location.mock,
            at: j.at,
            subject_point: j.subject_point,
            subject_shape: j.subject_shape,
            previous,
            exif_positions: j.exif,
        },
        t,
    )
}

/// The officer's inspection that follows a new one in time, as found before the new one was
/// inserted: it is judged again once it is ([`refresh_next`]).
#[derive(Debug, Clone)]
pub struct Next {
    row: i64,
    uuid: String,
    verdict: Option<String>,
}

impl Next {
    /// Its row id.
    pub fn row(&self) -> i64 {
        self.row
    }
}

/// The verdict of an inspection about to be inserted, so that it is inserted with it: what
/// [`refresh_verdict`] would give it right after the insert (no photo can name it before it
/// exists, and the previous inspection is the same with or without it). Read in the same
/// statement: the officer's inspection that will follow it in time, if any, whose speed check
/// compares with it once it is in ([`refresh_next`]).
pub fn verdict_of_new(
    conn: &Tx,
    user: i64,
    location: &LocationFix,
    at: DateTime<Utc>,
    subject: &lantian_domain::subject::Subject,
    t: &VerdictThresholds,
) -> Result<(Verdict, Option<Next>), StoreError> {
    // As the row will hold it (milliseconds), so that judging it again later gives the same text.
    let at_text = crate::time_text(at);
    let at = crate::parse_time(&at_text)?;
    let mut previous = None;
    let mut next = None;
    // Each side one ordered range of `inspections_user_time`, stopped at its first row. The new
    // inspection's id will be the highest, so the one after it is the first that took place
    // later; the one before, the last that took place at the same time or earlier.
    conn.prepare_cached(
        "SELECT * FROM (SELECT 0 AS side, id, uuid, location, occurred_at, verdict FROM inspections
                         WHERE user_id = ?1 AND occurred_at <= ?2
                         ORDER BY occurred_at DESC, id DESC LIMIT 1) p
         UNION ALL
         SELECT * FROM (SELECT 1 AS side, id, uuid, location, occurred_at, verdict FROM inspections
                         WHERE user_id = ?1 AND occurred_at > ?2
                         ORDER BY occurred_at, id LIMIT 1) n",
    )?
    .for_each(params![user, at_text], |r| {
        if r.get::<_, i64>(0)? == 0 {
            let fix: LocationFix = cols::json(r, 3)?;
            previous = Some(PreviousFix {
                at: cols::time(r, 4)?,
                wgs84: fix.wgs84(),
            });
        } else {
            next = Some(Next {
                row: r.get(1)?,
                uuid: r.get(2)?,
                verdict: r.get(5)?,
            });
        }
        Ok(())
    })?;
    let shape = subject.geometry.as_ref().and_then(Shape::from_geojson);
    let v = judge(
        Judged {
            location,
            at,
            subject_point: subject.location.as_ref().map(|p| (p.lat, p.lon)),
            subject_shape: shape.as_ref(),
            exif: &[],
        },
        previous,
        t,
    );
    Ok((v, next))
}

/// Once a new inspection is in, the officer's inspection after it in time (pushed earlier from a
/// phone that was offline longer) is judged again: its speed check now compares with the new one.
/// Returns its id when its verdict changed (see [`refresh_verdict`] for a reviewed one).
pub fn refresh_next(
    conn: &Tx,
    next: Next,
    t: &VerdictThresholds,
) -> Result<Option<Uuid>, StoreError> {
    let after = serde_json::to_string(&refresh_verdict(conn, next.row, t)?)?;
    if next.verdict.as_deref() == Some(after.as_str()) {
        return Ok(None);
    }
    Ok(Some(
        Uuid::parse_str(&next.uuid).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    ))
}

/// Gives every inspection recorded before verdicts existed its verdict (at start, once).
pub fn backfill(conn: &Tx, t: &VerdictThresholds) -> Result<usize, StoreError> {
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
pub fn subject_revision(conn: &Tx) -> Result<i64, StoreError> {
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
pub fn subject_index(conn: &Tx) -> Result<(i64, SpatialIndex<Placed>), StoreError> {
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

/// Which inspections an export covers.
#[derive(Debug, Clone, Default)]
pub struct InspectionFilter {
    /// Unit subtree (path codes, root first).
    pub within: Vec<String>,
    /// Only this author (officers see their own inspections only).
    pub author: Option<i64>,
    pub kind: Option<SubjectKind>,
    /// `occurred_at` in [from, to), UTC.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub verdict: Option<String>,
}

/// One inspection as exported: where it was done and what was found there.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExportedInspection {
    pub id: Uuid,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub kind: String,
    pub unit: String,
    pub author: String,
    pub occurred_at: String,
    pub score_earned: i64,
    pub score_possible: i64,
    pub compliant: bool,
    pub media_state: String,
    pub review_state: String,
    pub location: LocationFix,
    pub verdict: Option<Verdict>,
}

/// A page of inspections for export, after internal id `after`; returns the last id for the next.
pub fn export_inspections(
    conn: &Tx,
    f: &InspectionFilter,
    after: i64,
    limit: usize,
) -> Result<(Vec<ExportedInspection>, Option<i64>), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.id, i.uuid, s.uuid, s.name, s.kind, u.code, us.username, i.occurred_at, i.score_earned,
                i.score_possible, i.compliant, i.media_state, i.review_state, i.location, i.verdict
         FROM inspections i JOIN subjects s ON s.id = i.subject_id JOIN units u ON u.id = i.unit_id
              JOIN users us ON us.id = i.user_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1
           AND (CAST(?2 AS BIGINT) IS NULL OR i.user_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR s.kind = ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR i.occurred_at >= ?4)
           AND (CAST(?5 AS TEXT) IS NULL OR i.occurred_at < ?5)
           AND (CAST(?6 AS TEXT) IS NULL OR i.verdict_level = ?6)
           AND i.id > ?7
         ORDER BY i.id LIMIT ?8",
    )?;
    let rows: Vec<(i64, ExportedInspection)> = stmt
        .query_map(
            params![
                crate::org::path_text(&f.within),
                f.author,
                f.kind.map(|k| k.as_str()),
                f.from.map(crate::time_text),
                f.to.map(crate::time_text),
                f.verdict,
                after,
                limit as i64
            ],
            |r| {
                let verdict: Option<String> = r.get(14)?;
                Ok((
                    r.get(0)?,
                    ExportedInspection {
                        id: cols::uuid(r, 1)?,
                        subject_id: cols::uuid(r, 2)?,
                        subject_name: r.get(3)?,
                        kind: r.get(4)?,
                        unit: r.get(5)?,
                        author: r.get(6)?,
                        occurred_at: r.get(7)?,
                        score_earned: r.get(8)?,
                        score_possible: r.get(9)?,
                        compliant: r.get(10)?,
                        media_state: r.get(11)?,
                        review_state: r.get(12)?,
                        location: cols::json(r, 13)?,
                        verdict: verdict
                            .map(|v| {
                                serde_json::from_str(&v)
                                    .map_err(|e| crate::corrupt(14, e.to_string()))
                            })
                            .transpose()?,
                    },
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    let last = if rows.len() == limit {
        rows.last().map(|(id, _)| *id)
    } else {
        None
    };
    Ok((rows.into_iter().map(|(_, e)| e).collect(), last))
}

/// How often one subject was inspected in a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SubjectCoverage {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub inspections: i64,
}

/// Coverage of one unit in a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnitCoverage {
    pub unit: String,
    pub name: String,
    pub subjects: i64,
    /// Subjects inspected at least once.
    pub inspected: i64,
    pub inspections: i64,
    /// `inspected / subjects` (1 for a unit without subjects).
    pub ratio: f64,
    pub by_subject: Vec<SubjectCoverage>,
}

/// Per unit of the subtree (each unit on its own, not summed over its children): which subjects
/// were inspected how often with `occurred_at` in [from, to).
pub fn coverage(
    conn: &Tx,
    within: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UnitCoverage>, StoreError> {
    let mut units: Vec<UnitCoverage> = conn
        .prepare_cached(
            "SELECT code, name_zh FROM units WHERE substr(path, 1, length(CAST(?1 AS TEXT))) = ?1 ORDER BY path",
        )?
        .query_map([crate::org::path_text(within)], |r| {
            Ok(UnitCoverage {
                unit: r.get(0)?,
                name: r.get(1)?,
                subjects: 0,
                inspected: 0,
                inspections: 0,
                ratio: 1.0,
                by_subject: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let index: std::collections::HashMap<String, usize> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.unit.clone(), i))
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT u.code, s.uuid, s.name, s.kind,
                (SELECT count(*) FROM inspections i
                  WHERE i.subject_id = s.id AND i.occurred_at >= ?2 AND i.occurred_at < ?3)
         FROM subjects s JOIN units u ON u.id = s.unit_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1
         ORDER BY u.path, s.id",
    )?;
    let rows = stmt.query_map(
        params![
            crate::org::path_text(within),
            crate::time_text(from),
            crate::time_text(to)
        ],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                SubjectCoverage {
                    id: cols::uuid(r, 1)?,
                    name: r.get(2)?,
                    kind: r.get(3)?,
                    inspections: r.get(4)?,
                },
            ))
        },
    )?;
    for row in rows {
        let (unit, s) = row?;
        if let Some(u) = index.get(&unit).and_then(|i| units.get_mut(*i)) {
            u.subjects += 1;
            u.inspections += s.inspections;
            u.inspected += i64::from(s.inspections > 0);
            u.by_subject.push(s);
        }
    }
    for u in &mut units {
        if u.subjects > 0 {
            u.ratio = u.inspected as f64 / u.subjects as f64;
        }
    }
    Ok(units)
}

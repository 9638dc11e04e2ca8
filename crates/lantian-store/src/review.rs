//! Review of inspections: the supervisors' queue, and decisions recorded by compare-and-set on the
//! state the supervisor saw, so of two supervisors deciding at once exactly one wins. Which
//! decisions may be taken is the domain's rule (`lantian_domain::review::decide`).

use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use lantian_domain::geo::VerdictLevel;
use lantian_domain::inspection::InspectionView;
use lantian_domain::media::RenditionState;
use lantian_domain::rectification::QueueOrder;
use lantian_domain::review::{QueueFlag, ReviewState, ReviewStep, ReviewView};
use lantian_domain::subject::{Subject, SubjectKind};
use uuid::Uuid;

use crate::Tx;
use crate::identity::UserRecord;
use crate::sync::{self, Group};
use crate::{StoreError, audit, cols, push, subjects};

/// Who may see an inspection: its author, and its unit (for the subtree rule).
#[derive(Debug, Clone)]
pub struct InspectionAccess {
    pub row: i64,
    pub author_id: i64,
    pub unit_path: Vec<String>,
    pub review_state: ReviewState,
}

pub fn access(conn: &Tx, id: Uuid) -> Result<Option<InspectionAccess>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT i.id, i.user_id, u.path, i.review_state FROM inspections i JOIN units u ON u.id = i.unit_id
             WHERE i.uuid = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok(InspectionAccess {
                row: r.get(0)?,
                author_id: r.get(1)?,
                unit_path: cols::path(r, 2)?,
                review_state: cols::review_state(r, 3)?,
            })
        })
        .optional()?)
}

/// A review decision with the row of its inspection (column 5).
fn review_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, ReviewView)> {
    Ok((
        r.get(5)?,
        ReviewView {
            decision: cols::review_decision(r, 0)?,
            from_state: cols::review_state(r, 1)?,
            comment: r.get(2)?,
            reviewer: cols::uuid(r, 3)?,
            decided_at: cols::time(r, 4)?,
        },
    ))
}

const REVIEW_SELECT: &str =
    "SELECT r.decision, r.from_state, r.comment, u.uuid, r.decided_at, r.inspection_id
     FROM reviews r JOIN users u ON u.id = r.reviewer_id";

/// The review decisions of inspection `row`, oldest first.
pub(crate) fn reviews_of(conn: &Tx, row: i64) -> Result<Vec<ReviewView>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{REVIEW_SELECT} WHERE r.inspection_id = ?1 ORDER BY r.id"
        ))?
        .query_map([row], review_row)?
        .map(|r| r.map(|(_, v)| v))
        .collect::<Result<_, _>>()?)
}

/// The review decisions of the inspections whose rows are the JSON array `rows`, oldest first.
pub(crate) fn reviews_of_many(
    conn: &Tx,
    rows: &str,
) -> Result<std::collections::HashMap<i64, Vec<ReviewView>>, StoreError> {
    let mut out: std::collections::HashMap<i64, Vec<ReviewView>> = Default::default();
    for r in conn
        .prepare_cached(&format!(
            "{REVIEW_SELECT} WHERE r.inspection_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY r.id"
        ))?
        .query_map([rows], review_row)?
    {
        let (row, v) = r?;
        out.entry(row).or_default().push(v);
    }
    Ok(out)
}

/// Records a decision the domain allowed on inspection `id` (read as `a`): moves its state by
/// compare-and-set from `step.from` (`Conflict("review_conflict")` if another decision came first),
/// keeps the decision, seals and audits it, and syncs the inspection to its author.
pub fn record_decision(
    conn: &Tx,
    id: Uuid,
    a: &InspectionAccess,
    reviewer: &UserRecord,
    step: &ReviewStep,
) -> Result<InspectionView, StoreError> {
    let moved = conn
        .prepare_cached(
            "UPDATE inspections SET review_state = ?3 WHERE id = ?1 AND review_state = ?2",
        )?
        .execute(params![a.row, step.from.as_str(), step.to.as_str()])?;
    if moved != 1 {
        return Err(StoreError::Conflict("review_conflict"));
    }
    conn.prepare_cached(
        "INSERT INTO reviews (inspection_id, decision, from_state, comment, reviewer_id, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.row,
        step.to.as_str(),
        step.from.as_str(),
        step.comment,
        reviewer.id,
        crate::now_text()
    ])?;
    crate::seal::seal_last(conn, &reviewer.uuid.to_string(), "review")?;
    let view = push::load_view(conn, id)?;
    let data = serde_json::to_string(&view)?;
    audit::record(
        conn,
        &reviewer.uuid.to_string(),
        &format!("inspection.review.{}", step.to.as_str()),
        "inspection",
        &id.to_string(),
        None,
        Some(crate::sha256_hex(data.as_bytes())),
    )?;
    sync::put_text(
        conn,
        Group::new(),
        &lantian_domain::sync::user_scope(view.author),
        "inspection",
        &id.to_string(),
        data,
    )?;
    crate::webhooks::emit(
        conn,
        "inspection.reviewed",
        "inspection",
        &id.to_string(),
        &serde_json::json!({
            "inspection_id": id,
            "subject_id": view.subject_id,
            "unit": view.unit,
            "review_state": step.to.as_str(),
            "comment": step.comment,
            "reviewer": reviewer.uuid,
            "occurred_at": view.occurred_at,
        }),
    )?;
    Ok(view)
}

/// What the queue can be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub within: Vec<String>,
    pub kind: Option<SubjectKind>,
    /// Review state; default `received`.
    pub state: Option<ReviewState>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub verdict: Option<VerdictLevel>,
    pub flags: Vec<QueueFlag>,
    /// Only this officer's inspections.
    pub officer: Option<Uuid>,
}

/// A photo of a queued inspection: its id, renditions and evidence flags.
#[derive(Debug, Clone)]
pub struct QueuePhoto {
    pub id: Uuid,
    pub renditions: RenditionState,
    pub flags: Vec<String>,
}

/// One inspection of the review queue (results, verdict, reviews), its subject, its photos, the
/// orders opened from it.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub inspection: InspectionView,
    pub subject: Subject,
    pub photos: Vec<QueuePhoto>,
    pub orders: Vec<QueueOrder>,
}

/// One condition of the queue's `WHERE`: a fixed SQL fragment and its parameter, if any.
type Condition = (&'static str, Option<String>);

/// What [`QueueFilter`] narrows to, as fixed SQL fragments: only the conditions a filter sets are
/// in the statement, so the planner can use the index each one has (review state, officer, unit
/// and time); each combination is one cached statement. Flags are cheap checks on the row's own
/// columns where they can be (a flag is a quoted word in a JSON array of words).
fn conditions(f: &QueueFilter) -> Vec<Condition> {
    let mut c: Vec<Condition> = vec![
        (
            "i.review_state = ?",
            Some(f.state.unwrap_or(ReviewState::Received).as_str().to_owned()),
        ),
        (
            "substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1",
            None, // the subtree is always parameter 1
        ),
    ];
    if let Some(k) = f.kind {
        c.push(("s.kind = ?", Some(k.as_str().to_owned())));
    }
    if let Some(t) = f.from {
        c.push(("i.occurred_at >= ?", Some(crate::time_text(t))));
    }
    if let Some(t) = f.to {
        c.push(("i.occurred_at < ?", Some(crate::time_text(t))));
    }
    if let Some(v) = f.verdict {
        c.push(("i.verdict_level = ?", Some(v.as_str().to_owned())));
    }
    if let Some(o) = f.officer {
        c.push((
            "i.user_id = (SELECT id FROM users WHERE uuid = ?)",
            Some(o.to_string()),
        ));
    }
    for flag in &f.flags {
        c.push((
            match flag {
                QueueFlag::AwaitingMedia => "i.media_state = 'awaiting_media'",
                QueueFlag::ReusedPhoto => {
                    "EXISTS (SELECT 1 FROM photos p WHERE p.inspection_id = i.id
                             AND p.flags LIKE '%\"reused_evidence\"%')"
                }
                QueueFlag::ClockSkew => "i.flags LIKE '%\"clock_skew\"%'",
                QueueFlag::MockLocation => "i.flags LIKE '%\"mock_location\"%'",
                QueueFlag::CriticalFailed => "i.critical_failed <> '[]'",
                QueueFlag::OrderSyncedLate => {
                    "EXISTS (SELECT 1 FROM rectifications r
                             WHERE r.inspection_id = i.id AND r.synced_late = 1)"
                }
                QueueFlag::VerdictChangedAfterReview => "i.verdict_changed_after_review = 1",
            },
            None,
        ));
    }
    c
}

/// Up to `limit` (row, inspection, subject) of the queue after internal id `from` (oldest
/// first), or before it (newest first) when `backwards`.
fn queue_rows(
    conn: &Tx,
    f: &QueueFilter,
    from: i64,
    limit: usize,
    backwards: bool,
) -> Result<Vec<(i64, Uuid, Uuid)>, StoreError> {
    let mut sql = String::from(
        "SELECT i.id, i.uuid, s.uuid FROM inspections i JOIN subjects s ON s.id = i.subject_id
         JOIN units u ON u.id = i.unit_id WHERE ",
    );
    // Parameter 1 is the subtree; the others are numbered in the order they appear.
    let mut values: Vec<String> = vec![crate::org::path_text(&f.within)];
    for (n, (fragment, value)) in conditions(f).into_iter().enumerate() {
        if n > 0 {
            sql.push_str(" AND ");
        }
        match value {
            Some(v) => {
                values.push(v);
                sql.push_str(&fragment.replacen('?', &format!("?{}", values.len()), 1));
            }
            None => sql.push_str(fragment),
        }
    }
    let (cursor, limit_at) = (values.len() + 1, values.len() + 2);
    if backwards {
        sql.push_str(&format!(
            " AND i.id < ?{cursor} ORDER BY i.id DESC LIMIT ?{limit_at}"
        ));
    } else {
        sql.push_str(&format!(
            " AND i.id > ?{cursor} ORDER BY i.id LIMIT ?{limit_at}"
        ));
    }
    let mut bound: Vec<&dyn crate::db::ToArg> =
        values.iter().map(|v| v as &dyn crate::db::ToArg).collect();
    let limit = limit as i64;
    bound.push(&from);
    bound.push(&limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(bound.as_slice(), |r| {
            Ok((r.get(0)?, cols::uuid(r, 1)?, cols::uuid(r, 2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The inspections before and after internal id `row` in the queue `f` (either may be absent):
/// what "previous" and "next" move to from one inspection of the queue.
pub fn neighbours(
    conn: &Tx,
    f: &QueueFilter,
    row: i64,
) -> Result<(Option<Uuid>, Option<Uuid>), StoreError> {
    let before = queue_rows(conn, f, row, 1, true)?.first().map(|r| r.1);
    let after = queue_rows(conn, f, row, 1, false)?.first().map(|r| r.1);
    Ok((before, after))
}

/// Up to `limit` inspections of subject `subject` other than `except`, newest first: what the
/// subject's history shows beside one inspection.
pub fn subject_history(
    conn: &Tx,
    subject: Uuid,
    except: Uuid,
    limit: usize,
) -> Result<Vec<InspectionView>, StoreError> {
    let ids: Vec<Uuid> = conn
        .prepare_cached(
            "SELECT i.uuid FROM inspections i JOIN subjects s ON s.id = i.subject_id
             WHERE s.uuid = ?1 AND i.uuid <> ?2 ORDER BY i.occurred_at DESC, i.id DESC LIMIT ?3",
        )?
        .query_map(
            params![subject.to_string(), except.to_string(), limit as i64],
            |r| cols::uuid(r, 0),
        )?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|id| push::load_view(conn, id))
        .collect()
}

/// A verified photo of a subject's inspection: the photo, its inspection, its renditions' state.
pub type SubjectPhoto = (Uuid, Uuid, RenditionState);

/// The latest `limit` inspections of subject `subject`, newest first, and the verified photos
/// of those, in two statements whatever the count.
pub fn subject_record(
    conn: &Tx,
    subject: Uuid,
    limit: usize,
) -> Result<(Vec<InspectionView>, Vec<SubjectPhoto>), StoreError> {
    let rows: Vec<(i64, Uuid)> = conn
        .prepare_cached(
            "SELECT i.id, i.uuid FROM inspections i
             WHERE i.subject_id = (SELECT id FROM subjects WHERE uuid = ?1)
             ORDER BY i.occurred_at DESC, i.id DESC LIMIT ?2",
        )?
        .query_map(params![subject.to_string(), limit as i64], |r| {
            Ok((r.get(0)?, cols::uuid(r, 1)?))
        })?
        .collect::<Result<_, _>>()?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    let mut views: std::collections::HashMap<Uuid, InspectionView> = push::load_views(conn, &ids)?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let row_ids = serde_json::to_string(&rows.iter().map(|r| r.0).collect::<Vec<_>>())?;
    let photos = conn
        .prepare_cached(
            "SELECT p.uuid, i.uuid, p.renditions FROM photos p JOIN inspections i ON i.id = p.inspection_id
             WHERE p.inspection_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY p.id DESC",
        )?
        .query_map([&row_ids], |r| {
            let state: String = r.get(2)?;
            Ok((
                cols::uuid(r, 0)?,
                cols::uuid(r, 1)?,
                RenditionState::parse(&state).ok_or_else(|| {
                    crate::corrupt(2, format!("unknown rendition state {state:?}"))
                })?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let views = ids.iter().filter_map(|id| views.remove(id)).collect();
    Ok((views, photos))
}

/// A page of the queue after internal id `after`, oldest first; returns the last id when more follow.
pub fn queue(
    conn: &Tx,
    f: &QueueFilter,
    after: i64,
    limit: usize,
) -> Result<(Vec<QueueEntry>, Option<i64>), StoreError> {
    let rows = queue_rows(conn, f, after, limit, false)?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.0))
        .flatten();
    // A constant number of statements whatever the page's length: views, subjects, photos and
    // orders each in one.
    let ids: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    let subject_ids: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
    let row_ids = serde_json::to_string(&rows.iter().map(|r| r.0).collect::<Vec<_>>())?;
    let mut views: std::collections::HashMap<Uuid, InspectionView> = push::load_views(conn, &ids)?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let subjects = subjects::get_many(conn, &subject_ids)?;
    let mut photos: std::collections::HashMap<i64, Vec<QueuePhoto>> = Default::default();
    for p in conn
        .prepare_cached(
            "SELECT uuid, renditions, flags, inspection_id FROM photos
             WHERE inspection_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY id",
        )?
        .query_map([&row_ids], |r| {
            let state: String = r.get(1)?;
            Ok((
                r.get::<_, i64>(3)?,
                QueuePhoto {
                    id: cols::uuid(r, 0)?,
                    renditions: RenditionState::parse(&state).ok_or_else(|| {
                        crate::corrupt(1, format!("unknown rendition state {state:?}"))
                    })?,
                    flags: cols::json(r, 2)?,
                },
            ))
        })?
    {
        let (row, p) = p?;
        photos.entry(row).or_default().push(p);
    }
    let mut orders = orders_of_many(conn, &row_ids)?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, id, subject) in rows {
        let inspection = views.remove(&id).ok_or(StoreError::NotFound)?;
        let subject = subjects
            .get(&subject)
            .map(|s| s.subject.clone())
            .ok_or(StoreError::NotFound)?;
        out.push(QueueEntry {
            inspection,
            subject,
            photos: photos.remove(&row).unwrap_or_default(),
            orders: orders.remove(&row).unwrap_or_default(),
        });
    }
    Ok((out, next))
}

/// An order as the queue lists it, with the row of its inspection (column 8).
fn queue_order_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, QueueOrder)> {
    let state: String = r.get(2)?;
    Ok((
        r.get(8)?,
        QueueOrder {
            id: cols::uuid(r, 0)?,
            item: r.get(1)?,
            state: lantian_domain::rectification::OrderState::parse(&state)
                .ok_or_else(|| crate::corrupt(2, format!("unknown order state {state:?}")))?,
            found_at: r
                .get::<_, Option<String>>(3)?
                .map(|t| crate::parse_time(&t).map_err(|e| crate::corrupt(3, e.to_string())))
                .transpose()?,
            opened_at: cols::time(r, 4)?,
            deadline: cols::time(r, 5)?,
            synced_late: r.get(6)?,
            overdue: r.get(7)?,
        },
    ))
}

/// The orders opened from inspection `row`, oldest first.
pub fn orders_of(conn: &Tx, row: i64) -> Result<Vec<QueueOrder>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT uuid, item, state, found_at, opened_at, deadline, synced_late, overdue, inspection_id
             FROM rectifications WHERE inspection_id = ?1 ORDER BY id",
        )?
        .query_map([row], queue_order_row)?
        .map(|r| r.map(|(_, o)| o))
        .collect::<Result<_, _>>()?)
}

/// The orders opened from the inspections whose rows are the JSON array `rows`, oldest first.
fn orders_of_many(
    conn: &Tx,
    rows: &str,
) -> Result<std::collections::HashMap<i64, Vec<QueueOrder>>, StoreError> {
    let mut out: std::collections::HashMap<i64, Vec<QueueOrder>> = Default::default();
    for o in conn
        .prepare_cached(
            "SELECT uuid, item, state, found_at, opened_at, deadline, synced_late, overdue, inspection_id
             FROM rectifications WHERE inspection_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY id",
        )?
        .query_map([rows], queue_order_row)?
    {
        let (row, o) = o?;
        out.entry(row).or_default().push(o);
    }
    Ok(out)
}

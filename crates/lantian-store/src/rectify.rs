//! Rectification orders (整改): opened from failed items, handled by the responsible unit, verified
//! by a re-inspection from another officer, with extensions, deferrals and overdue marking. Every
//! step is an event in the append-only history, an audit row, and a sync of the order to the
//! responsible unit's scope, in one transaction.

use chrono::{DateTime, Utc};
use lantian_domain::ValidationError;
use lantian_domain::rectification::{
    OrderEvent, OrderState, OrderView, PendingRequest, RectifyPolicy, RequestKind,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::sync::{self, Group};
use crate::{StoreError, audit, cols, push, time_text};

fn invalid(code: &'static str, field: &str, message: &str) -> StoreError {
    ValidationError::new(code, field, message).into()
}

const COLUMNS: &str = "r.id, r.uuid, i.uuid, f.uuid, r.item, s.uuid, u.code, r.severity, r.opened_by, r.opened_at,
     r.deadline, r.state, r.overdue, r.rework_count, r.extension_count, r.deferred_until, r.pending_request,
     r.handled_note, r.verified_by, r.closed_at, r.closed_on_time, r.version, u.path";
const FROM: &str = "rectifications r JOIN inspections i ON i.id = r.inspection_id JOIN users f ON f.id = r.finder_id
     JOIN subjects s ON s.id = r.subject_id JOIN units u ON u.id = r.unit_id";

fn opt_time(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    r.get::<_, Option<String>>(i)?
        .map(|t| crate::parse_time(&t).map_err(|e| crate::corrupt(i, e.to_string())))
        .transpose()
}

/// An order with what access decisions need.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub row: i64,
    pub view: OrderView,
    pub unit_path: Vec<String>,
    pub finder_id: i64,
}

fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, OrderView, Vec<String>)> {
    let state: String = r.get(11)?;
    let pending: Option<String> = r.get(16)?;
    let verified: Option<String> = r.get(18)?;
    Ok((
        r.get(0)?,
        OrderView {
            id: cols::uuid(r, 1)?,
            inspection_id: cols::uuid(r, 2)?,
            finder: cols::uuid(r, 3)?,
            item: r.get(4)?,
            subject_id: cols::uuid(r, 5)?,
            unit: r.get(6)?,
            severity: r.get(7)?,
            opened_by: r.get(8)?,
            opened_at: cols::time(r, 9)?,
            deadline: cols::time(r, 10)?,
            state: OrderState::parse(&state)
                .ok_or_else(|| crate::corrupt(11, format!("unknown order state {state}")))?,
            overdue: r.get(12)?,
            rework_count: r.get(13)?,
            extension_count: r.get(14)?,
            deferred_until: opt_time(r, 15)?,
            pending_request: pending
                .map(|p| serde_json::from_str(&p).map_err(|e| crate::corrupt(16, e.to_string())))
                .transpose()?,
            handled_note: r.get(17)?,
            verified_by: verified
                .map(|v| Uuid::parse_str(&v).map_err(|e| crate::corrupt(18, e.to_string())))
                .transpose()?,
            closed_at: opt_time(r, 19)?,
            closed_on_time: r.get(20)?,
            version: r.get(21)?,
            events: Vec::new(),
        },
        cols::path(r, 22)?,
    ))
}

/// One order, with its history.
pub fn get(conn: &Connection, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, r.finder_id FROM {FROM} WHERE r.uuid = ?1"
        ))?
        .query_row([id.to_string()], |r| {
            let (row, view, path) = order_row(r)?;
            Ok((row, view, path, r.get::<_, i64>(23)?))
        })
        .optional()?;
    let Some((row, mut view, unit_path, finder_id)) = found else {
        return Ok(None);
    };
    view.events = conn
        .prepare_cached(
            "SELECT event, actor, at, note FROM rectification_events WHERE order_id = ?1 ORDER BY id",
        )?
        .query_map([row], |r| {
            Ok(OrderEvent {
                event: r.get(0)?,
                actor: r.get(1)?,
                at: cols::time(r, 2)?,
                note: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(OrderRecord {
        row,
        view,
        unit_path,
        finder_id,
    }))
}

/// Appends an event, audits it, and syncs the order to its unit.
fn record(
    conn: &Connection,
    g: Group,
    row: i64,
    id: Uuid,
    event: &str,
    actor: &str,
    note: Option<&str>,
) -> Result<OrderView, StoreError> {
    conn.prepare_cached(
        "INSERT INTO rectification_events (order_id, event, actor, at, note) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![row, event, actor, crate::now_text(), note])?;
    crate::seal::seal_last(conn, actor, "rectification_event")?;
    let view = get(conn, id)?.ok_or(StoreError::NotFound)?.view;
    let data = serde_json::to_string(&view)?;
    audit::record(
        conn,
        actor,
        &format!("rectification.{event}"),
        "rectification",
        &id.to_string(),
        None,
        Some(crate::sha256_hex(data.as_bytes())),
    )?;
    sync::put_text(
        conn,
        g,
        &lantian_domain::sync::unit_scope(&view.unit),
        "rectification",
        &id.to_string(),
        data,
    )?;
    Ok(view)
}

/// Moves an order by compare-and-set on its version; `Conflict("order_changed")` if it moved.
fn set(
    conn: &Connection,
    row: i64,
    version: u32,
    sql_set: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE rectifications SET {sql_set}, version = version + 1 WHERE id = ?1 AND version = ?2"
    );
    let mut all: Vec<&dyn rusqlite::ToSql> = vec![&row, &version];
    all.extend_from_slice(args);
    if conn.prepare_cached(&sql)?.execute(all.as_slice())? != 1 {
        return Err(StoreError::Conflict("order_changed"));
    }
    Ok(())
}

/// Opens an order for a failed item of an inspection (the latest version's results), addressed to
/// the subject's unit, with a deadline from the policy. `actor` is a user UUID or `system`.
pub fn open(
    conn: &Connection,
    g: Group,
    inspection: Uuid,
    item: &str,
    severity: Option<&str>,
    actor: &str,
    policy: &RectifyPolicy,
) -> Result<OrderView, StoreError> {
    let view = push::load_view(conn, inspection)?;
    let score = view
        .amendments
        .last()
        .map(|a| &a.score)
        .unwrap_or(&view.score);
    if !score.failed.iter().any(|f| f == item) {
        return Err(invalid(
            "item_not_failed",
            "item",
            "only a failed item of the inspection's latest version opens an order",
        ));
    }
    let critical = score.critical_failed.iter().any(|f| f == item);
    let now = Utc::now();
    let (severity, deadline) = policy.schedule(item, critical, severity, now);
    let id = Uuid::now_v7();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO rectifications (uuid, inspection_id, item, subject_id, unit_id, finder_id, severity, opened_by,
                 opened_at, deadline, state)
             SELECT ?1, i.id, ?2, i.subject_id, s.unit_id, i.user_id, ?3, ?4, ?5, ?6, 'open'
             FROM inspections i JOIN subjects s ON s.id = i.subject_id WHERE i.uuid = ?7
             ON CONFLICT(inspection_id, item) DO NOTHING",
        )?
        .execute(params![
            id.to_string(),
            item,
            severity,
            actor,
            time_text(now),
            time_text(deadline),
            inspection.to_string()
        ])?;
    if inserted != 1 {
        return Err(StoreError::Conflict("order_exists"));
    }
    let row = conn.last_insert_rowid();
    record(conn, g, row, id, "opened", actor, None)
}

/// Opens orders for every failed critical item of a just-submitted inspection, when the policy
/// says so (the item already having an order is not an error).
pub fn auto_open(
    conn: &Connection,
    g: Group,
    inspection: Uuid,
    critical_failed: &[String],
    policy: &RectifyPolicy,
) -> Result<Vec<OrderView>, StoreError> {
    let mut out = Vec::new();
    if !policy.auto_open_critical {
        return Ok(out);
    }
    for item in critical_failed {
        match open(conn, g, inspection, item, None, "system", policy) {
            Ok(v) => out.push(v),
            Err(StoreError::Conflict("order_exists")) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The responsible unit reports the problem fixed, with a note of what was done.
pub fn report_handled(
    conn: &Connection,
    id: Uuid,
    actor: Uuid,
    note: &str,
) -> Result<OrderView, StoreError> {
    let o = get(conn, id)?.ok_or(StoreError::NotFound)?;
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(invalid(
            "note_required",
            "note",
            "say what was done (at most 2000 characters)",
        ));
    }
    if o.view.state != OrderState::Open {
        return Err(StoreError::Conflict("order_not_open"));
    }
    set(
        conn,
        o.row,
        o.view.version,
        "state = 'reported_handled', handled_note = ?3",
        &[&note],
    )?;
    record(
        conn,
        Group::new(),
        o.row,
        id,
        "reported_handled",
        &actor.to_string(),
        Some(note),
    )
}

/// The responsible unit asks for an extension or a deferral until `until`.
pub fn request(
    conn: &Connection,
    id: Uuid,
    actor: Uuid,
    kind: RequestKind,
    until: DateTime<Utc>,
    reason: &str,
) -> Result<OrderView, StoreError> {
    let o = get(conn, id)?.ok_or(StoreError::NotFound)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(invalid(
            "reason_required",
            "reason",
            "a request needs a reason",
        ));
    }
    if !matches!(o.view.state, OrderState::Open | OrderState::ReportedHandled) {
        return Err(StoreError::Conflict("order_not_open"));
    }
    if o.view.pending_request.is_some() {
        return Err(StoreError::Conflict("request_pending"));
    }
    if until <= o.view.deadline.max(Utc::now()) {
        return Err(invalid(
            "until_too_early",
            "until",
            "must be after the current deadline",
        ));
    }
    let pending = PendingRequest {
        kind,
        until,
        reason: reason.to_owned(),
        by: actor,
        at: Utc::now(),
    };
    set(
        conn,
        o.row,
        o.view.version,
        "pending_request = ?3",
        &[&serde_json::to_string(&pending)?],
    )?;
    let event = match kind {
        RequestKind::Extension => "extension_requested",
        RequestKind::Deferral => "deferral_requested",
    };
    record(
        conn,
        Group::new(),
        o.row,
        id,
        event,
        &actor.to_string(),
        Some(reason),
    )
}

/// A supervisor approves or denies the pending request.
pub fn decide_request(
    conn: &Connection,
    id: Uuid,
    actor: Uuid,
    approve: bool,
    comment: Option<&str>,
) -> Result<OrderView, StoreError> {
    let o = get(conn, id)?.ok_or(StoreError::NotFound)?;
    let Some(p) = o.view.pending_request.clone() else {
        return Err(StoreError::Conflict("no_pending_request"));
    };
    match (p.kind, approve) {
        (RequestKind::Extension, true) => set(
            conn,
            o.row,
            o.view.version,
            "pending_request = NULL, deadline = ?3, extension_count = extension_count + 1, overdue = 0",
            &[&time_text(p.until)],
        )?,
        (RequestKind::Deferral, true) => set(
            conn,
            o.row,
            o.view.version,
            "pending_request = NULL, state = 'deferred', deferred_until = ?3, overdue = 0",
            &[&time_text(p.until)],
        )?,
        (_, false) => set(conn, o.row, o.view.version, "pending_request = NULL", &[])?,
    }
    let event = match (p.kind, approve) {
        (RequestKind::Extension, true) => "extension_approved",
        (RequestKind::Deferral, true) => "deferral_approved",
        (RequestKind::Extension, false) => "extension_denied",
        (RequestKind::Deferral, false) => "deferral_denied",
    };
    record(
        conn,
        Group::new(),
        o.row,
        id,
        event,
        &actor.to_string(),
        comment,
    )
}

/// A re-inspection linked to order `id` arrived (inside the push that carries it): it must be of the
/// order's subject, by someone other than the finder, and answer the item. The item passing closes
/// the order (on time if the re-inspection took place by the deadline); failing sends it back
/// (返工) with its rework count raised.
pub fn verify_with(
    conn: &Connection,
    g: Group,
    id: Uuid,
    inspection: Uuid,
    author_id: i64,
    author: Uuid,
) -> Result<OrderView, ValidationError> {
    let store = |e: StoreError| match e {
        StoreError::Invalid(v) => v,
        other => ValidationError::new(
            "rectification_unavailable",
            "rectification_id",
            other.to_string(),
        ),
    };
    let not_found = || {
        ValidationError::new(
            "rectification_not_found",
            "rectification_id",
            "no such order",
        )
    };
    let o = get(conn, id).map_err(store)?.ok_or_else(not_found)?;
    let re = push::load_view(conn, inspection).map_err(store)?;
    if re.subject_id != o.view.subject_id {
        return Err(ValidationError::new(
            "rectification_subject_mismatch",
            "rectification_id",
            "a re-inspection inspects the order's subject",
        ));
    }
    if author_id == o.finder_id {
        return Err(ValidationError::new(
            "verifier_is_finder",
            "rectification_id",
            "the officer who found the problem cannot verify its rectification",
        ));
    }
    if matches!(o.view.state, OrderState::Closed) {
        return Err(ValidationError::new(
            "rectification_closed",
            "rectification_id",
            "the order is closed",
        ));
    }
    if !re.results.iter().any(|r| r.item == o.view.item) {
        return Err(ValidationError::new(
            "rectification_item_missing",
            "results",
            "the re-inspection does not answer the order's item",
        ));
    }
    let actor = author.to_string();
    let passed = !re.score.failed.iter().any(|f| f == &o.view.item);
    set(
        conn,
        o.row,
        o.view.version,
        "state = 'verifying', verified_by = ?3",
        &[&inspection.to_string()],
    )
    .map_err(store)?;
    record(conn, g, o.row, id, "verifying", &actor, None).map_err(store)?;
    let version = o.view.version + 1;
    if passed {
        let on_time = re.occurred_at <= o.view.deadline;
        set(
            conn,
            o.row,
            version,
            "state = 'closed', closed_at = ?3, closed_on_time = ?4, overdue = 0, pending_request = NULL",
            &[&time_text(re.occurred_at), &on_time],
        )
        .map_err(store)?;
        record(conn, g, o.row, id, "closed", &actor, None).map_err(store)
    } else {
        set(
            conn,
            o.row,
            version,
            "state = 'open', rework_count = rework_count + 1, handled_note = NULL",
            &[],
        )
        .map_err(store)?;
        record(conn, g, o.row, id, "rework", &actor, None).map_err(store)
    }
}

/// Marks orders past their deadline overdue, and resumes deferred orders whose date has come.
/// Returns the orders marked overdue.
pub fn sweep(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Uuid>, StoreError> {
    let now_t = time_text(now);
    let resumed: Vec<(i64, String, u32, String)> = conn
        .prepare_cached(
            "SELECT id, uuid, version, deferred_until FROM rectifications
             WHERE state = 'deferred' AND deferred_until <= ?1",
        )?
        .query_map([&now_t], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    for (row, id, version, until) in resumed {
        set(
            conn,
            row,
            version,
            "state = 'open', deadline = max(deadline, ?3), deferred_until = NULL",
            &[&until],
        )?;
        let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        record(conn, Group::new(), row, id, "resumed", "system", None)?;
    }
    let due: Vec<(i64, String, u32)> = conn
        .prepare_cached(
            "SELECT id, uuid, version FROM rectifications
             WHERE state IN ('open', 'reported_handled', 'verifying') AND overdue = 0 AND deadline < ?1",
        )?
        .query_map([&now_t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut marked = Vec::with_capacity(due.len());
    for (row, id, version) in due {
        set(conn, row, version, "overdue = 1", &[])?;
        let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        record(conn, Group::new(), row, id, "overdue", "system", None)?;
        marked.push(id);
    }
    Ok(marked)
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub within: Vec<String>,
    pub state: Option<OrderState>,
    pub overdue: Option<bool>,
}

/// A page of orders (without history), oldest first.
pub fn list(
    conn: &Connection,
    f: &OrderFilter,
    after: i64,
    limit: usize,
) -> Result<(Vec<OrderView>, Option<i64>), StoreError> {
    let rows: Vec<(i64, OrderView, Vec<String>)> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE substr(u.path, 1, length(?1)) = ?1 AND (?2 IS NULL OR r.state = ?2)
               AND (?3 IS NULL OR r.overdue = ?3) AND r.id > ?4
             ORDER BY r.id LIMIT ?5"
        ))?
        .query_map(
            params![
                crate::org::path_text(&f.within),
                f.state.map(|s| s.as_str()),
                f.overdue,
                after,
                limit as i64
            ],
            order_row,
        )?
        .collect::<Result<_, _>>()?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.0))
        .flatten();
    Ok((rows.into_iter().map(|(_, v, _)| v).collect(), next))
}

/// The counts the monthly assessment takes from orders due in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderStats {
    /// Orders whose deadline falls in the period, deferred ones excluded (按期结案率's denominator).
    pub due: i64,
    pub closed_on_time: i64,
    pub closed_late: i64,
    /// Due, not closed, and overdue.
    pub overdue_open: i64,
    pub deferred: i64,
    pub reworks: i64,
    pub extensions: i64,
}

/// Order counts for the subtree `within`, for orders due in [from, to).
pub fn stats(
    conn: &Connection,
    within: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OrderStats, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT
                 coalesce(sum(r.state != 'deferred'), 0),
                 coalesce(sum(r.state = 'closed' AND r.closed_on_time = 1), 0),
                 coalesce(sum(r.state = 'closed' AND r.closed_on_time = 0), 0),
                 coalesce(sum(r.state NOT IN ('closed', 'deferred') AND r.overdue = 1), 0),
                 coalesce(sum(r.state = 'deferred'), 0),
                 coalesce(sum(r.rework_count), 0),
                 coalesce(sum(r.extension_count), 0)
             FROM rectifications r JOIN units u ON u.id = r.unit_id
             WHERE substr(u.path, 1, length(?1)) = ?1 AND r.deadline >= ?2 AND r.deadline < ?3",
        )?
        .query_row(
            params![
                crate::org::path_text(within),
                time_text(from),
                time_text(to)
            ],
            |r| {
                Ok(OrderStats {
                    due: r.get(0)?,
                    closed_on_time: r.get(1)?,
                    closed_late: r.get(2)?,
                    overdue_open: r.get(3)?,
                    deferred: r.get(4)?,
                    reworks: r.get(5)?,
                    extensions: r.get(6)?,
                })
            },
        )?)
}

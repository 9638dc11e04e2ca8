//! Rectification orders (整改) as stored: the order row, its append-only history, and the sync of
//! the order to the responsible unit's scope. Which steps an order may take is the domain's state
//! machine (`OrderView::apply`); this module writes a step the domain accepted, by compare-and-set
//! on the version it was read at, with its event row, seal and audit row, in one transaction.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use lantian_domain::ValidationError;
use lantian_domain::rectification::{
    BoardTab, Opening, OrderCommand, OrderEvent, OrderRefusal, OrderState, OrderStats, OrderView,
    RectifyPolicy, Transition,
};
use uuid::Uuid;

use crate::sync::{self, Group};
use crate::{StoreError, audit, cols, push, time_text};

/// A refusal of the domain's state machine, as the store reports it.
pub fn refused(r: OrderRefusal) -> StoreError {
    match r {
        OrderRefusal::Invalid(v) => StoreError::Invalid(v),
        OrderRefusal::Conflict(code) => StoreError::Conflict(code),
    }
}

const COLUMNS: &str = "r.id, r.uuid, i.uuid, f.uuid, r.item, s.uuid, u.code, r.severity, r.opened_by, r.opened_at,
     r.deadline, r.state, r.overdue, r.rework_count, r.extension_count, r.deferred_until, r.pending_request,
     r.handled_note, r.verified_by, r.closed_at, r.closed_on_time, r.version, u.path, r.found_at, r.synced_late";
const FROM: &str = "rectifications r JOIN inspections i ON i.id = r.inspection_id JOIN users f ON f.id = r.finder_id
     JOIN subjects s ON s.id = r.subject_id JOIN units u ON u.id = r.unit_id";

fn opt_time(r: &crate::db::Row<'_>, i: usize) -> crate::db::Result<Option<DateTime<Utc>>> {
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

fn order_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, OrderView, Vec<String>)> {
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
            found_at: opt_time(r, 23)?,
            synced_late: r.get(24)?,
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
pub fn get(conn: &Tx, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, r.finder_id FROM {FROM} WHERE r.uuid = ?1"
        ))?
        .query_row([id.to_string()], |r| {
            let (row, view, path) = order_row(r)?;
            Ok((row, view, path, r.get::<_, i64>(25)?))
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
    conn: &Tx,
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
    crate::seal::seal(conn, actor, "rectification", &id.to_string())?;
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
    if matches!(event, "opened" | "overdue" | "closed") {
        crate::webhooks::emit(
            conn,
            &format!("rectification.{event}"),
            "rectification",
            &id.to_string(),
            &view,
        )?;
    }
    Ok(view)
}

/// Writes the order after a step the domain accepted, by compare-and-set on the version it was read
/// at (`Conflict("order_changed")` if it moved since), then appends the step's event.
pub fn save(
    conn: &Tx,
    g: Group,
    o: &OrderRecord,
    t: &Transition,
    actor: &str,
) -> Result<OrderView, StoreError> {
    let n = &t.next;
    let pending = n
        .pending_request
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let changed = conn
        .prepare_cached(
            "UPDATE rectifications SET state = ?3, deadline = ?4, overdue = ?5, rework_count = ?6,
                 extension_count = ?7, deferred_until = ?8, pending_request = ?9, handled_note = ?10,
                 verified_by = ?11, closed_at = ?12, closed_on_time = ?13, version = ?14
             WHERE id = ?1 AND version = ?2",
        )?
        .execute(params![
            o.row,
            o.view.version,
            n.state.as_str(),
            time_text(n.deadline),
            n.overdue,
            n.rework_count,
            n.extension_count,
            n.deferred_until.map(time_text),
            pending,
            n.handled_note,
            n.verified_by.map(|v| v.to_string()),
            n.closed_at.map(time_text),
            n.closed_on_time,
            n.version,
        ])?;
    if changed != 1 {
        return Err(StoreError::Conflict("order_changed"));
    }
    record(conn, g, o.row, n.id, t.event, actor, t.note.as_deref())
}

/// Applies `cmd` to order `id` by the domain's state machine and saves the step.
pub fn step(
    conn: &Tx,
    g: Group,
    id: Uuid,
    cmd: OrderCommand,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<OrderView, StoreError> {
    let o = get(conn, id)?.ok_or(StoreError::NotFound)?;
    let t = o.view.apply(cmd, now).map_err(refused)?;
    save(conn, g, &o, &t, actor)
}

/// Opens an order for a failed item of an inspection (the latest version's results), addressed to
/// the subject's unit, with the severity and deadline of the domain's `opening` rule: the deadline
/// runs from the inspection's time of occurrence. An order whose deadline had passed when it was
/// opened is marked `synced_late` and at once overdue. `actor` is a user UUID or `system`.
pub fn open(
    conn: &Tx,
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
    let now = crate::clock::now();
    let Opening {
        severity,
        deadline,
        synced_late,
    } = lantian_domain::rectification::opening(
        score,
        item,
        severity,
        policy,
        view.occurred_at,
        now,
    )?;
    let id = Uuid::now_v7();
    let row: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO rectifications (uuid, inspection_id, item, subject_id, unit_id, finder_id, severity, opened_by,
                 opened_at, deadline, state, found_at, synced_late)
             SELECT ?1, i.id, ?2, i.subject_id, s.unit_id, i.user_id, ?3, ?4, ?5, ?6, ?8, ?9, ?10
             FROM inspections i JOIN subjects s ON s.id = i.subject_id WHERE i.uuid = ?7
             ON CONFLICT(inspection_id, item) DO NOTHING RETURNING id",
        )?
        .query_row(params![
            id.to_string(),
            item,
            severity,
            actor,
            time_text(now),
            time_text(deadline),
            inspection.to_string(),
            OrderState::Open.as_str(),
            time_text(view.occurred_at),
            synced_late,
        ], |r| r.get(0))
        .optional()?;
    let Some(row) = row else {
        return Err(StoreError::Conflict("order_exists"));
    };
    let opened = record(conn, g, row, id, "opened", actor, None)?;
    if !synced_late {
        return Ok(opened);
    }
    // Due before it arrived: overdue from its first moment, not from the next sweep.
    step(conn, g, id, OrderCommand::MarkOverdue, "system", now)
}

/// Opens orders for every failed critical item of a just-submitted inspection, when the policy
/// says so. An item whose subject already has an order that still stands for it (not closed: the
/// order a failed re-inspection just sent back, or one a repeat visit finds still unfixed) is the
/// same finding and opens nothing: one finding, one order.
pub fn auto_open(
    conn: &Tx,
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
        if standing_order(conn, inspection, item)? {
            continue;
        }
        match open(conn, g, inspection, item, None, "system", policy) {
            Ok(v) => out.push(v),
            Err(StoreError::Conflict("order_exists")) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether the subject of `inspection` has an order for `item` that still stands for its finding
/// (`OrderState::covers_its_finding`).
fn standing_order(conn: &Tx, inspection: Uuid, item: &str) -> Result<bool, StoreError> {
    let states: Vec<String> = conn
        .prepare_cached(
            "SELECT r.state FROM rectifications r JOIN inspections i ON i.subject_id = r.subject_id
             WHERE i.uuid = ?1 AND r.item = ?2",
        )?
        .query_map(params![inspection.to_string(), item], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    states.iter().try_fold(false, |any, s| {
        let state = OrderState::parse(s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown order state {s:?}")))?;
        Ok(any || state.covers_its_finding())
    })
}

/// A re-inspection linked to order `id` arrived (inside the push that carries it). The domain says
/// whether it may verify the order (`OrderView::check_reinspection`); its item passing closes the
/// order (on time if the re-inspection took place by the deadline), failing sends it back (返工).
/// A broken rule is `StoreError::Invalid` (the mutation is rejected); an order that is missing or
/// outside the author's jurisdiction answers alike, `rectification_not_found`, so a push cannot
/// learn that another county's order exists; any other error is the store's own (a busy or full
/// disk aborts the whole push, never rejects the officer's inspection).
pub fn verify_with(
    conn: &Tx,
    g: Group,
    id: Uuid,
    inspection: Uuid,
    author: &crate::identity::UserRecord,
) -> Result<OrderView, StoreError> {
    let not_found = || {
        StoreError::Invalid(ValidationError::new(
            "rectification_not_found",
            "rectification_id",
            "no such order",
        ))
    };
    let o = get(conn, id)?.ok_or_else(not_found)?;
    let rel = lantian_domain::unit::relation(&author.unit_path, &o.unit_path);
    if lantian_domain::policy::decide(
        author.role,
        lantian_domain::policy::Action::SubmitInspection,
        rel,
    ) == lantian_domain::policy::Decision::NotFound
    {
        return Err(not_found());
    }
    let (author_id, author) = (author.id, author.uuid);
    let re = push::load_view(conn, inspection)?;
    let answers = re.results.iter().any(|r| r.item == o.view.item);
    o.view
        .check_reinspection(re.subject_id, author_id == o.finder_id, answers)?;
    let actor = author.to_string();
    let now = crate::clock::now();
    let verifying = o
        .view
        .apply(OrderCommand::StartVerifying { inspection }, now)
        .map_err(refused)?;
    save(conn, g, &o, &verifying, &actor)?;
    let o = OrderRecord {
        view: verifying.next,
        ..o
    };
    let passed = !re.score.failed.iter().any(|f| f == &o.view.item);
    let verdict = o
        .view
        .apply(
            OrderCommand::Verified {
                passed,
                occurred_at: re.occurred_at,
            },
            now,
        )
        .map_err(refused)?;
    save(conn, g, &o, &verdict, &actor)
}

/// Marks orders past their deadline overdue, and resumes deferred orders whose date has come, by the
/// domain's rules (`MarkOverdue`, `Resume`). Returns the orders marked overdue.
pub fn sweep(conn: &Tx, now: DateTime<Utc>) -> Result<Vec<Uuid>, StoreError> {
    let now_t = time_text(now);
    // Candidates by the columns alone; the domain decides each.
    let resumable: Vec<String> = conn
        .prepare_cached(
            "SELECT uuid FROM rectifications WHERE deferred_until IS NOT NULL AND deferred_until <= ?1",
        )?
        .query_map([&now_t], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in resumable {
        let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match step(conn, Group::new(), id, OrderCommand::Resume, "system", now) {
            Ok(_) | Err(StoreError::Conflict("order_not_deferred")) => {}
            Err(e) => return Err(e),
        }
    }
    let due: Vec<String> = conn
        .prepare_cached(
            "SELECT uuid FROM rectifications WHERE overdue = 0 AND deadline < ?1 ORDER BY id",
        )?
        .query_map([&now_t], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut marked = Vec::with_capacity(due.len());
    for id in due {
        let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match step(
            conn,
            Group::new(),
            id,
            OrderCommand::MarkOverdue,
            "system",
            now,
        ) {
            Ok(_) => marked.push(id),
            Err(StoreError::Conflict("order_not_due")) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(marked)
}

/// The orders opened on subject `subject`, newest first (at most `limit`).
pub fn of_subject(conn: &Tx, subject: Uuid, limit: usize) -> Result<Vec<OrderView>, StoreError> {
    let rows: Vec<(i64, OrderView, Vec<String>)> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE r.subject_id = (SELECT id FROM subjects WHERE uuid = ?1)
             ORDER BY r.id DESC LIMIT ?2"
        ))?
        .query_map(params![subject.to_string(), limit as i64], order_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows.into_iter().map(|(_, v, _)| v).collect())
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
    conn: &Tx,
    f: &OrderFilter,
    after: i64,
    limit: usize,
) -> Result<(Vec<OrderView>, Option<i64>), StoreError> {
    let rows: Vec<(i64, OrderView, Vec<String>)> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 AND (CAST(?2 AS TEXT) IS NULL OR r.state = ?2)
               AND (CAST(?3 AS BIGINT) IS NULL OR r.overdue = ?3) AND r.id > ?4
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

/// Order counts for the subtree `within`, for orders due in [from, to).
pub fn stats(
    conn: &Tx,
    within: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OrderStats, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT
                 count(CASE WHEN r.state != 'deferred' THEN 1 END),
                 count(CASE WHEN r.state = 'closed' AND r.closed_on_time = 1 THEN 1 END),
                 count(CASE WHEN r.state = 'closed' AND r.closed_on_time = 0 THEN 1 END),
                 count(CASE WHEN r.state NOT IN ('closed', 'deferred') AND r.overdue = 1 THEN 1 END),
                 count(CASE WHEN r.state = 'deferred' THEN 1 END),
                 CAST(coalesce(sum(r.rework_count), 0) AS BIGINT),
                 CAST(coalesce(sum(r.extension_count), 0) AS BIGINT)
             FROM rectifications r JOIN units u ON u.id = r.unit_id
             WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 AND r.deadline >= ?2 AND r.deadline < ?3",
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

/// The condition of each board tab, over `r` (rectifications) with the due-soon limit as `?DUE`.
fn tab_condition(tab: BoardTab) -> &'static str {
    match tab {
        BoardTab::Open => "r.state = 'open'",
        BoardTab::DueSoon => "r.state = 'open' AND r.overdue = 0 AND r.deadline < ?DUE",
        BoardTab::Overdue => "r.overdue = 1 AND r.state <> 'closed'",
        BoardTab::AwaitingReinspection => "r.state IN ('reported_handled', 'verifying')",
        BoardTab::Rework => "r.rework_count > 0 AND r.state <> 'closed'",
        BoardTab::Requests => "r.pending_request IS NOT NULL",
        BoardTab::Deferred => "r.state = 'deferred'",
        BoardTab::Closed => "r.state = 'closed'",
    }
}

/// An order as the board lists it: with its subject's and unit's names.
#[derive(Debug, Clone)]
pub struct BoardRow {
    pub order: OrderView,
    pub subject_name: String,
    pub unit_name_zh: String,
    pub unit_name_en: String,
}

/// Orders of the subtree `within` on board tab `tab` after internal id `after`, by deadline
/// order of arrival; `due_by` is the due-soon limit. Returns the last id when more follow.
pub fn board(
    conn: &Tx,
    within: &[String],
    tab: BoardTab,
    due_by: DateTime<Utc>,
    after: i64,
    limit: usize,
) -> Result<(Vec<BoardRow>, Option<i64>), StoreError> {
    // The due-soon limit is bound only where the tab's condition names it: PostgreSQL refuses a
    // parameter that no part of a statement gives a type.
    let uses_due = tab_condition(tab).contains("?DUE");
    let cond = tab_condition(tab).replace("?DUE", "?4");
    let (path, due, limit_arg) = (
        crate::org::path_text(within),
        time_text(due_by),
        limit as i64,
    );
    let mut args: Vec<&dyn crate::db::ToArg> = vec![&path, &after, &limit_arg];
    if uses_due {
        args.push(&due);
    }
    let rows: Vec<(i64, BoardRow)> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, s.name, u.name_zh, u.name_en FROM {FROM}
             WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 AND ({cond}) AND r.id > ?2
             ORDER BY r.id LIMIT ?3"
        ))?
        .query_map(args, |r| {
            let (id, order, _) = order_row(r)?;
            Ok((
                id,
                BoardRow {
                    order,
                    subject_name: r.get(25)?,
                    unit_name_zh: r.get(26)?,
                    unit_name_en: r.get(27)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.0))
        .flatten();
    Ok((rows.into_iter().map(|(_, b)| b).collect(), next))
}

/// Counts of one unit's orders on each board tab (in [`BoardTab::ALL`] order).
#[derive(Debug, Clone)]
pub struct UnitBoardCounts {
    pub unit: String,
    pub name_zh: String,
    pub name_en: String,
    pub counts: Vec<i64>,
}

/// Board counts per unit of the subtree `within` that has orders, in one query.
pub fn board_counts(
    conn: &Tx,
    within: &[String],
    due_by: DateTime<Utc>,
) -> Result<Vec<UnitBoardCounts>, StoreError> {
    let sums: Vec<String> = BoardTab::ALL
        .iter()
        .map(|t| {
            format!(
                "count(CASE WHEN {} THEN 1 END)",
                tab_condition(*t).replace("?DUE", "?2")
            )
        })
        .collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT u.code, u.name_zh, u.name_en, {} FROM rectifications r JOIN units u ON u.id = r.unit_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 GROUP BY u.id ORDER BY u.path",
        sums.join(", ")
    ))?;
    let rows = stmt
        .query_map(
            params![crate::org::path_text(within), time_text(due_by)],
            |r| {
                let mut counts = Vec::with_capacity(BoardTab::ALL.len());
                for i in 0..BoardTab::ALL.len() {
                    counts.push(r.get::<_, Option<i64>>(3 + i)?.unwrap_or(0));
                }
                Ok(UnitBoardCounts {
                    unit: r.get(0)?,
                    name_zh: r.get(1)?,
                    name_en: r.get(2)?,
                    counts,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

//! The monthly assessment in the database: the snapshot a month's figures are computed from (read
//! in one read transaction, so it is consistent), the stored rollups and their revisions, and the
//! record of job runs.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use lantian_domain::assessment::{
    Alert, InspectionFact, OrderFact, OverdueOrder, Rollup, Snapshot, SubjectFact, UnitInfo,
    UnitResult,
};
use serde::Serialize;

use crate::{StoreError, cols, time_text};
use uuid::Uuid;

/// Reads the month [from, to) (UTC bounds of the Asia/Shanghai month) in one read transaction.
pub fn snapshot(conn: &Tx, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Snapshot, StoreError> {
    let tx = conn.begin_read()?;
    let (f, t) = (time_text(from), time_text(to));
    // The month's last calendar day in China Standard Time: subjects on the ledger by then are due.
    let last_day = ((to - chrono::Duration::days(1)) + chrono::Duration::hours(8))
        .date_naive()
        .to_string();
    let units = tx
        .prepare("SELECT code, name_zh, path, peer_group FROM units ORDER BY path")?
        .query_map([], |r| {
            Ok(UnitInfo {
                code: r.get(0)?,
                name: r.get(1)?,
                path: cols::path(r, 2)?,
                peer_group: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    // Unit codes, shared by every fact of the unit.
    let codes: std::collections::HashMap<i64, std::sync::Arc<str>> = tx
        .prepare("SELECT id, code FROM units")?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                std::sync::Arc::<str>::from(r.get::<_, String>(1)?),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let code = |id: i64| -> crate::db::Result<std::sync::Arc<str>> {
        codes
            .get(&id)
            .cloned()
            .ok_or_else(|| crate::corrupt(0, format!("unknown unit {id}")))
    };
    // Alerts of the month by the units they cover (their subtrees), strongest level first.
    let alerts = alerts_between(&tx, from, to)?;
    let mut covering: std::collections::HashMap<i64, Vec<(String, String, std::sync::Arc<str>)>> =
        std::collections::HashMap::new();
    if !alerts.is_empty() {
        let unit_paths: Vec<(i64, Vec<String>)> = tx
            .prepare("SELECT id, path FROM units")?
            .query_map([], |r| Ok((r.get(0)?, cols::path(r, 1)?)))?
            .collect::<Result<_, _>>()?;
        let strength = |l: &str| match l {
            "red" => 3,
            "orange" => 2,
            _ => 1,
        };
        let mut ordered = alerts.clone();
        ordered.sort_by_key(|a| std::cmp::Reverse(strength(&a.level)));
        for (id, path) in unit_paths {
            for a in ordered
                .iter()
                .filter(|a| a.units.iter().any(|u| path.contains(u)))
            {
                covering.entry(id).or_default().push((
                    a.starts_at.clone(),
                    a.ends_at.clone(),
                    std::sync::Arc::from(a.level.as_str()),
                ));
            }
        }
    }
    let alert_at = |unit: i64, at: &str| -> Option<std::sync::Arc<str>> {
        covering.get(&unit).and_then(|list| {
            list.iter()
                .find(|(s, e, _)| s.as_str() <= at && at < e.as_str())
                .map(|(_, _, l)| std::sync::Arc::clone(l))
        })
    };
    // The latest version's score: the last amendment's, looked up only for amended inspections.
    let inspections = tx
        .prepare(
            "SELECT i.unit_id, i.subject_id,
                    CASE WHEN i.current_version > 1 THEN (SELECT a.score_earned FROM inspection_amendments a
                         WHERE a.inspection_id = i.id AND a.version = i.current_version) ELSE i.score_earned END,
                    CASE WHEN i.current_version > 1 THEN (SELECT a.score_possible FROM inspection_amendments a
                         WHERE a.inspection_id = i.id AND a.version = i.current_version) ELSE i.score_possible END,
                    CASE WHEN i.current_version > 1 THEN (SELECT a.critical_failed != '[]' FROM inspection_amendments a
                         WHERE a.inspection_id = i.id AND a.version = i.current_version) ELSE i.critical_failed != '[]' END,
                    i.review_state = 'rejected', CASE WHEN i.verdict_level = 'ok' THEN 1 ELSE 0 END, i.media_state = 'complete',
                    i.occurred_at
             FROM inspections i
             WHERE i.occurred_at >= ?1 AND i.occurred_at < ?2",
        )?
        .query_map(params![f, t], |r| {
            let unit_id: i64 = r.get(0)?;
            let alert = if covering.is_empty() {
                None
            } else {
                alert_at(unit_id, r.get_ref(8)?.as_str().unwrap_or_default())
            };
            Ok(InspectionFact {
                alert,
                unit: code(unit_id)?,
                subject: r.get::<_, i64>(1)? as u64,
                earned: r.get(2)?,
                possible: r.get(3)?,
                critical_failed: r.get(4)?,
                rejected: r.get(5)?,
                verdict_ok: r.get(6)?,
                media_complete: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let subjects = tx
        .prepare(tx.dialect(
            "SELECT s.id, s.unit_id, s.kind, json_extract(s.attributes, '$.grade') FROM subjects s
             WHERE s.on_ledger_since <= ?1",
            "SELECT s.id, s.unit_id, s.kind, CAST(s.attributes AS json) ->> 'grade' FROM subjects s
             WHERE s.on_ledger_since <= ?1",
        ))?
        .query_map([&last_day], |r| {
            Ok(SubjectFact {
                id: r.get::<_, i64>(0)? as u64,
                unit: code(r.get(1)?)?,
                kind: r.get(2)?,
                grade: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let orders = tx
        .prepare(
            "SELECT r.unit_id, r.state = 'closed', coalesce(r.closed_on_time, 0), r.state = 'deferred',
                    r.rework_count, r.extension_count > 0
             FROM rectifications r
             WHERE r.deadline >= ?1 AND r.deadline < ?2",
        )?
        .query_map(params![f, t], |r| {
            Ok(OrderFact {
                unit: code(r.get(0)?)?,
                closed: r.get(1)?,
                closed_on_time: r.get(2)?,
                deferred: r.get(3)?,
                rework_count: r.get(4)?,
                extended: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let overdue = tx
        .prepare(
            "SELECT r.uuid, u.code, r.item, r.deadline FROM rectifications r JOIN units u ON u.id = r.unit_id
             WHERE r.overdue = 1 AND r.state NOT IN ('closed', 'deferred') AND r.deadline < ?1 ORDER BY r.deadline, r.id",
        )?
        .query_map([&t], |r| {
            Ok(OverdueOrder {
                id: r.get(0)?,
                unit: r.get(1)?,
                item: r.get(2)?,
                deadline: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(Snapshot {
        month_days: u32::try_from((to - from).num_days()).unwrap_or(30),
        alerts,
        units,
        inspections,
        subjects,
        orders,
        overdue,
    })
}

/// Declares an alert: recorded, audited, synced to every phone (global scope).
pub fn declare_alert(conn: &Tx, a: &Alert) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO alerts (uuid, level, units, starts_at, ends_at, note, declared_by, declared_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            a.id.to_string(),
            a.level,
            serde_json::to_string(&a.units)?,
            time_text(a.starts_at),
            time_text(a.ends_at),
            a.note,
            a.declared_by,
            time_text(a.declared_at)
        ],
    )?;
    crate::seal::seal(conn, &a.declared_by, "alert", &a.id.to_string())?;
    crate::audit::record(
        conn,
        &a.declared_by,
        "alert.declare",
        "alert",
        &a.id.to_string(),
        None,
        Some(crate::audit::object_hash(a)?),
    )?;
    crate::webhooks::emit(conn, "alert.declared", "alert", &a.id.to_string(), a)?;
    publish_alert(conn, a)
}

/// Syncs an alert as it stands to every phone (global scope).
fn publish_alert(conn: &Tx, a: &Alert) -> Result<(), StoreError> {
    crate::sync::put(
        conn,
        crate::sync::Group::new(),
        lantian_domain::sync::GLOBAL,
        "alert",
        &a.id.to_string(),
        a,
    )
}

const ALERT_COLUMNS: &str =
    "uuid, level, units, starts_at, ends_at, note, declared_by, declared_at,
     (SELECT min(e.at) FROM alert_events e WHERE e.alert_id = alerts.id AND e.event = 'ended')";

fn alert_row(r: &crate::db::Row<'_>) -> crate::db::Result<Alert> {
    Ok(Alert {
        id: cols::uuid(r, 0)?,
        level: r.get(1)?,
        units: cols::json(r, 2)?,
        starts_at: cols::time(r, 3)?,
        ends_at: cols::time(r, 4)?,
        note: r.get(5)?,
        declared_by: r.get(6)?,
        declared_at: cols::time(r, 7)?,
        ended_early_at: r
            .get::<_, Option<String>>(8)?
            .map(|t| crate::parse_time(&t).map_err(|e| crate::corrupt(8, e.to_string())))
            .transpose()?,
    })
}

/// One alert, as declared and with its effective end.
pub fn alert(conn: &Tx, id: uuid::Uuid) -> Result<Option<Alert>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE uuid = ?1"
        ))?
        .query_row([id.to_string()], alert_row)
        .optional()?)
}

/// Lifts alert `id` at `at` (the domain's `Alert::end_early` decided it may be): an `ended` event
/// appended and sealed, never an update of the declared alert; the alert, as it now stands, is
/// synced to every phone so the emergency items stop applying.
pub fn end_alert(
    conn: &Tx,
    id: uuid::Uuid,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<Alert, StoreError> {
    let n = conn.execute(
        "INSERT INTO alert_events (alert_id, event, at, actor, recorded_at)
         SELECT id, 'ended', ?2, ?3, ?4 FROM alerts WHERE uuid = ?1",
        params![id.to_string(), time_text(at), actor, crate::now_text()],
    )?;
    if n != 1 {
        return Err(StoreError::NotFound);
    }
    crate::seal::seal_last(conn, actor, "alert_event")?;
    let a = alert(conn, id)?.ok_or(StoreError::NotFound)?;
    crate::audit::record(
        conn,
        actor,
        "alert.end",
        "alert",
        &id.to_string(),
        None,
        Some(crate::audit::object_hash(&a)?),
    )?;
    publish_alert(conn, &a)?;
    crate::webhooks::emit(conn, "alert.ended", "alert", &id.to_string(), &a)?;
    Ok(a)
}

/// Every alert, newest first.
pub fn alerts(conn: &Tx) -> Result<Vec<Alert>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY starts_at DESC, id DESC"
        ))?
        .query_map([], alert_row)?
        .collect::<Result<_, _>>()?)
}

/// Whether a pollution alert covered a place (a unit's path) at a time, by the domain's rule
/// (`Alert::applies`): the emergency checklist items apply then.
pub fn alert_active(
    conn: &Tx,
    unit_path: &[String],
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // The candidates by time alone; the domain decides.
    let candidates: Vec<Alert> = conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE starts_at <= ?1 AND ends_at > ?1"
        ))?
        .query_map([time_text(at)], alert_row)?
        .collect::<Result<_, _>>()?;
    Ok(alert_active_in(&candidates, unit_path, at))
}

/// The alerts that may apply at some moment of [from, to], read once for a batch of questions
/// ([`alert_active_in`]); the domain decides each.
pub fn alerts_during(
    conn: &Tx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE starts_at <= ?2 AND ends_at > ?1"
        ))?
        .query_map(params![time_text(from), time_text(to)], alert_row)?
        .collect::<Result<_, _>>()?)
}

/// [`alert_active`] answered from alerts read by [`alerts_during`] for a range holding `at`.
pub fn alert_active_in(alerts: &[Alert], unit_path: &[String], at: DateTime<Utc>) -> bool {
    alerts.iter().any(|a| a.applies(unit_path, at))
}

/// The alerts that touch [from, to), each with the days of the range it touches
/// (`Alert::window`), in order of their start.
pub fn alerts_between(
    conn: &Tx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<lantian_domain::assessment::AlertWindow>, StoreError> {
    let mut out: Vec<_> = alerts(conn)?
        .iter()
        .filter_map(|a| a.window(from, to))
        .collect();
    out.sort_by(|x, y| x.starts_at.cmp(&y.starts_at).then(x.id.cmp(&y.id)));
    Ok(out)
}

/// The latest rollup of a kind for a month (`official`: the highest revision).
pub fn latest(
    conn: &Tx,
    campaign: &str,
    month: &str,
    kind: &str,
) -> Result<Option<Rollup>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT revision, data, diff, audit_head, computed_at FROM rollups
             WHERE campaign = ?1 AND month = ?2 AND kind = ?3 ORDER BY revision DESC LIMIT 1",
        )?
        .query_row(params![campaign, month, kind], |r| {
            let diff: Option<String> = r.get(2)?;
            Ok(Rollup {
                campaign: campaign.to_owned(),
                month: month.to_owned(),
                kind: kind.to_owned(),
                revision: r.get(0)?,
                units: cols::json(r, 1)?,
                diff: diff
                    .map(|d| serde_json::from_str(&d).map_err(|e| crate::corrupt(2, e.to_string())))
                    .transpose()?
                    .unwrap_or_default(),
                audit_head: r.get(3)?,
                computed_at: cols::time(r, 4)?,
            })
        })
        .optional()?)
}

/// Every official revision of a month, the first first: what was published, and what changed
/// each time.
pub fn revisions(conn: &Tx, campaign: &str, month: &str) -> Result<Vec<Rollup>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT revision, data, diff, audit_head, computed_at FROM rollups
         WHERE campaign = ?1 AND month = ?2 AND kind = 'official' ORDER BY revision",
    )?;
    let rows = stmt.query_map(params![campaign, month], |r| {
        let diff: Option<String> = r.get(2)?;
        Ok(Rollup {
            campaign: campaign.to_owned(),
            month: month.to_owned(),
            kind: "official".to_owned(),
            revision: r.get(0)?,
            units: cols::json(r, 1)?,
            diff: diff
                .map(|d| serde_json::from_str(&d).map_err(|e| crate::corrupt(2, e.to_string())))
                .transpose()?
                .unwrap_or_default(),
            audit_head: r.get(3)?,
            computed_at: cols::time(r, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What storing a rollup did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    pub revision: u32,
    /// False when the figures equal the latest official revision's (nothing was written).
    pub new_revision: bool,
    pub changes: usize,
}

/// Publishes official figures for a month: revision 1 the first time; later, a new revision with
/// the diff only if some figure changed. The published revisions are never changed.
pub fn publish_official(
    conn: &Tx,
    campaign: &str,
    month: &str,
    units: &[UnitResult],
    audit_head: &str,
) -> Result<Stored, StoreError> {
    let prev = latest(conn, campaign, month, "official")?;
    let diff = match &prev {
        Some(p) => lantian_domain::assessment::diff(&p.units, units),
        None => Vec::new(),
    };
    if let Some(p) = &prev
        && diff.is_empty()
    {
        return Ok(Stored {
            revision: p.revision,
            new_revision: false,
            changes: 0,
        });
    }
    let revision = prev.as_ref().map_or(1, |p| p.revision + 1);
    conn.prepare_cached(
        "INSERT INTO rollups (campaign, month, kind, revision, data, diff, audit_head, computed_at)
         VALUES (?1, ?2, 'official', ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        campaign,
        month,
        revision,
        serde_json::to_string(units)?,
        prev.as_ref()
            .map(|_| serde_json::to_string(&diff))
            .transpose()?,
        audit_head,
        crate::now_text()
    ])?;
    crate::seal::seal_last(conn, "system", "rollup")?;
    crate::audit::record(
        conn,
        "system",
        "assessment.publish",
        "rollup",
        &format!("{campaign}/{month}/{revision}"),
        None,
        Some(crate::sha256_hex(serde_json::to_string(units)?.as_bytes())),
    )?;
    crate::webhooks::emit(
        conn,
        "bulletin.published",
        "bulletin",
        &format!("{campaign}/{month}"),
        &serde_json::json!({
            "campaign": campaign, "month": month, "revision": revision, "changes": diff.len(),
        }),
    )?;
    Ok(Stored {
        revision,
        new_revision: true,
        changes: diff.len(),
    })
}

/// Replaces the month's provisional figures (nightly, before the official rollup).
pub fn store_provisional(
    conn: &Tx,
    campaign: &str,
    month: &str,
    units: &[UnitResult],
    audit_head: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO rollups (campaign, month, kind, revision, data, diff, audit_head, computed_at)
         VALUES (?1, ?2, 'provisional', 0, ?3, NULL, ?4, ?5)
         ON CONFLICT (campaign, month, kind, revision) DO UPDATE
         SET data = excluded.data, audit_head = excluded.audit_head, computed_at = excluded.computed_at",
    )?
    .execute(params![
        campaign,
        month,
        serde_json::to_string(units)?,
        audit_head,
        crate::now_text()
    ])?;
    Ok(())
}

/// The audit chain's current head (the bulletin cites it).
pub fn audit_head(conn: &Tx) -> Result<String, StoreError> {
    Ok(conn
        .query_row(
            "SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| crate::audit::GENESIS.to_owned()))
}

/// Records a run that starts and ends inside the caller's transaction (the interval sweeps): the
/// record commits with the work or not at all.
pub fn job_ran(conn: &Tx, job: &str, key: &str, detail: &str) -> Result<(), StoreError> {
    let now = crate::now_text();
    conn.prepare_cached(
        "INSERT INTO job_runs (job, run_key, started_at, ended_at, outcome, detail) VALUES (?1, ?2, ?3, ?3, 'ok', ?4)",
    )?
    .execute(params![job, key, now, detail])?;
    Ok(())
}

/// Records the start of a job run; returns its id.
pub fn job_started(conn: &Tx, job: &str, key: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "INSERT INTO job_runs (job, run_key, started_at) VALUES (?1, ?2, ?3) RETURNING id",
        params![job, key, crate::now_text()],
        |r| r.get(0),
    )?)
}

/// Records the end of a job run.
pub fn job_ended(conn: &Tx, id: i64, outcome: &str, detail: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE job_runs SET ended_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
        params![id, crate::now_text(), outcome, detail],
    )?;
    Ok(())
}

/// Whether a run of `job` for `key` ended well.
pub fn job_done(conn: &Tx, job: &str, key: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = ?1 AND run_key = ?2 AND outcome = 'ok')",
        params![job, key],
        |r| r.get(0),
    )?)
}

/// The campaign running during `month` (see [`lantian_domain::campaign::for_month`]).
pub fn campaign_for_month(
    conn: &Tx,
    month: &str,
) -> Result<Option<lantian_domain::campaign::Campaign>, StoreError> {
    let campaigns = crate::org::campaigns(conn)?;
    Ok(lantian_domain::campaign::for_month(&campaigns, month).cloned())
}

/// The bulletin of `month` from its latest official revision, with the trend of the campaign's
/// earlier months (their latest official revisions), headed in `style`, its lists naming
/// subjects, units and items as a reader knows them. `None` before the month's official rollup.
pub fn bulletin(
    conn: &Tx,
    campaign: &str,
    month: &str,
    style: &lantian_domain::assessment::BulletinStyle,
) -> Result<Option<lantian_domain::assessment::Bulletin>, StoreError> {
    let Some(current) = latest(conn, campaign, month, "official")? else {
        return Ok(None);
    };
    let months: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT month FROM rollups WHERE campaign = ?1 AND kind = 'official' AND month < ?2 ORDER BY month",
        )?
        .query_map(params![campaign, month], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut history = Vec::with_capacity(months.len());
    for m in months {
        if let Some(r) = latest(conn, campaign, &m, "official")? {
            history.push((m, r.units));
        }
    }
    let mut b = lantian_domain::assessment::bulletin(
        campaign,
        month,
        current.revision,
        &current.audit_head,
        &current.units,
        &history,
    );
    // Templates read once for both lists.
    let mut labels = ItemLabels::default();
    if let Some((from, to)) = lantian_domain::assessment::month_bounds(month) {
        b.alerts = alerts_between(conn, from, to)?;
        b.reworked = reworked_orders(conn, from, to, current.computed_at, &mut labels)?;
    }
    b.campaign_name = crate::org::campaign(conn, campaign)?
        .map(|c| c.name_zh)
        .unwrap_or_else(|| campaign.to_owned());
    b.header = style.header(month, current.computed_at);
    let mut named = Vec::with_capacity(b.overdue.len());
    for o in &b.overdue {
        let id = Uuid::parse_str(&o.id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(listed) = listed_order(conn, id, &mut labels)? {
            named.push(listed);
        }
    }
    b.overdue_named = named;
    Ok(Some(b))
}

/// Checklist item labels by (template, version, item), each template read once per bulletin.
#[derive(Default)]
struct ItemLabels(
    std::collections::HashMap<(String, u32), std::collections::HashMap<String, String>>,
);

impl ItemLabels {
    /// The item's Chinese label, or its code when the template does not name it.
    fn label(
        &mut self,
        conn: &Tx,
        code: &str,
        version: u32,
        item: String,
    ) -> Result<String, StoreError> {
        let key = (code.to_owned(), version);
        if !self.0.contains_key(&key) {
            let labels = crate::templates::get(conn, code, version)?
                .map(|t| t.items.into_iter().map(|i| (i.code, i.label_zh)).collect())
                .unwrap_or_default();
            self.0.insert(key.clone(), labels);
        }
        Ok(self.0[&key].get(&item).cloned().unwrap_or(item))
    }
}

/// An order as a bulletin lists it: the subject's, unit's and item's names, the deadline in China
/// Standard Time, its reworks.
fn listed_order(
    conn: &Tx,
    id: Uuid,
    labels: &mut ItemLabels,
) -> Result<Option<lantian_domain::assessment::ListedOrder>, StoreError> {
    let row: Option<(String, String, String, String, u32, String, u32)> = conn
        .prepare_cached(
            "SELECT s.name, u.name_zh, r.item, r.deadline, r.rework_count, i.template_code, i.template_version
             FROM rectifications r JOIN subjects s ON s.id = r.subject_id JOIN units u ON u.id = r.unit_id
                  JOIN inspections i ON i.id = r.inspection_id
             WHERE r.uuid = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .optional()?;
    let Some((subject, unit, item, deadline, reworks, code, version)) = row else {
        return Ok(None);
    };
    let title = labels.label(conn, &code, version, item)?;
    let deadline = crate::parse_time(&deadline)
        .map(|t| {
            (t + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(lantian_domain::assessment::ListedOrder {
        subject,
        unit,
        item: title,
        deadline,
        reworks,
    }))
}

/// The orders due in [from, to) that were sent back (返工) by `as_of` (the revision's time, so the
/// list is the one the figures were computed with), most reworks first.
fn reworked_orders(
    conn: &Tx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
    labels: &mut ItemLabels,
) -> Result<Vec<lantian_domain::assessment::ListedOrder>, StoreError> {
    let ids: Vec<(String, u32)> = conn
        .prepare_cached(
            "SELECT r.uuid, count(e.id) FROM rectifications r
               JOIN rectification_events e ON e.order_id = r.id AND e.event = 'rework' AND e.at <= ?3
             WHERE r.deadline >= ?1 AND r.deadline < ?2
             GROUP BY r.id ORDER BY count(e.id) DESC, r.id",
        )?
        .query_map(
            params![time_text(from), time_text(to), time_text(as_of)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, reworks) in ids {
        let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(mut listed) = listed_order(conn, id, labels)? {
            listed.reworks = reworks;
            out.push(listed);
        }
    }
    Ok(out)
}

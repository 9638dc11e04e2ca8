//! Evidence seals: when a row of evidence is written (a submitted inspection, a verified photo, an
//! amendment, a review decision, a rectification event, a rectification order as it stands after
//! each event, a declared alert, an official revision of a month's figures), the audit log gets a
//! `*.seal` row whose
//! `after_hash` is the SHA-256 of the row's evidence columns as stored, read back and written as one
//! canonical JSON array (SQLite's `json_array` text, which the first seals were made with, built by
//! `db::json_array` so that both engines seal the same text). [`check`] recomputes every seal: a row changed behind
//! the server's back (triggers dropped, the file edited) no longer matches its seal, a row
//! planted without one has none, and a deleted row leaves its seal behind.

use std::collections::{HashMap, HashSet};

use crate::Tx;
use crate::db::OptionalExtension;

use crate::{StoreError, audit, sha256_hex};

/// One kind of sealed row.
struct Sealed {
    object_type: &'static str,
    action: &'static str,
    table: &'static str,
    /// The column that names the row in the audit log (`uuid`, or the row id as text).
    key: &'static str,
    /// The evidence columns, in the order of the canonical JSON array.
    columns: &'static str,
    /// The last column joins the array only when it is not null (a column added to the evidence
    /// later: rows without it keep the seals they were given).
    last_if_set: bool,
    /// The action by which the server recorded writing such a row before seals existed, when its
    /// object id is the same key; `None`: rows before the first seal of the table are taken as
    /// written before seals.
    written_by: Option<&'static str>,
    /// Which rows of the table are sealed (SQL condition).
    rows: &'static str,
}

const SEALED: [Sealed; 9] = [
    Sealed {
        object_type: "inspection",
        action: "inspection.seal",
        table: "inspections",
        key: "uuid",
        columns: "uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
             location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at,
             clock_offset_ms, occurred_at, score_earned, score_possible, failed_items, critical_failed, compliant",
        last_if_set: false,
        written_by: Some("inspection.submit"),
        rows: "1 = 1",
    },
    Sealed {
        object_type: "photo",
        action: "photo.seal",
        table: "photos",
        key: "uuid",
        // An incident's photo (issue 15) seals its incident too; an inspection's is sealed as it
        // always was, so that earlier seals still check.
        columns: "uuid, inspection_id, user_id, sha256, size, format, width, height, exif, flags, exif_time_diff_s,
             exif_distance_m, declared_content_type, declared_taken_at, verified_at, incident_id",
        last_if_set: true,
        written_by: Some("photo.verify"),
        rows: "1 = 1",
    },
    Sealed {
        object_type: "amendment",
        action: "amendment.seal",
        table: "inspection_amendments",
        key: "id",
        columns: "id, inspection_id, version, base_version, stale, results, notes, reason, score_earned,
             score_possible, failed_items, critical_failed, compliant, client_row, mid, device_time, received_at",
        last_if_set: false,
        written_by: None,
        rows: "1 = 1",
    },
    Sealed {
        object_type: "review",
        action: "review.seal",
        table: "reviews",
        key: "id",
        columns: "id, inspection_id, decision, from_state, comment, reviewer_id, decided_at",
        last_if_set: false,
        written_by: None,
        rows: "1 = 1",
    },
    Sealed {
        object_type: "rectification_event",
        action: "rectification_event.seal",
        table: "rectification_events",
        key: "id",
        columns: "id, order_id, event, actor, at, note",
        last_if_set: false,
        written_by: None,
        rows: "1 = 1",
    },
    // An order changes, but only by an appended event: each event re-seals the row as it stands
    // (what the rollup reads: deadline, state, overdue, closed on time), so a change made any
    // other way no longer matches the latest seal.
    Sealed {
        object_type: "rectification",
        action: "rectification.seal",
        table: "rectifications",
        key: "uuid",
        columns: "uuid, inspection_id, item, subject_id, unit_id, finder_id, severity, opened_by, opened_at,
             deadline, state, overdue, rework_count, extension_count, deferred_until, pending_request, handled_note,
             verified_by, closed_at, closed_on_time, version, found_at, synced_late",
        last_if_set: false,
        written_by: Some("rectification.opened"),
        rows: "1 = 1",
    },
    Sealed {
        object_type: "alert",
        action: "alert.seal",
        table: "alerts",
        key: "uuid",
        columns: "uuid, level, units, starts_at, ends_at, note, declared_by, declared_at",
        last_if_set: false,
        written_by: Some("alert.declare"),
        rows: "1 = 1",
    },
    Sealed {
        object_type: "alert_event",
        action: "alert_event.seal",
        table: "alert_events",
        key: "id",
        columns: "id, alert_id, event, at, actor, recorded_at",
        last_if_set: false,
        written_by: None,
        rows: "1 = 1",
    },
    // Official revisions only: provisional figures are replaced every night.
    Sealed {
        object_type: "rollup",
        action: "rollup.seal",
        table: "rollups",
        key: "id",
        columns: "id, campaign, month, kind, revision, data, diff, audit_head, computed_at",
        last_if_set: false,
        written_by: None,
        rows: "kind = 'official'",
    },
];

fn spec(object_type: &str) -> Result<&'static Sealed, StoreError> {
    SEALED
        .iter()
        .find(|s| s.object_type == object_type)
        .ok_or_else(|| StoreError::Corrupt(format!("{object_type} is not sealed evidence")))
}

/// The canonical text of a sealed row read by `SELECT {columns}` from column `from` on.
fn canonical(s: &Sealed, r: &crate::db::Row<'_>, from: usize) -> crate::db::Result<String> {
    let n = s.columns.split(',').count();
    let mut values = Vec::with_capacity(n);
    for i in from..from + n {
        values.push(r.get_ref(i)?);
    }
    if s.last_if_set && values.last() == Some(&crate::db::Col::Null) {
        values.pop();
    }
    Ok(crate::db::json_array(&values))
}

/// The statement that reads one sealed row by its key. The key is compared in its own type, so
/// that the table's index on it answers (a cast of the column would read every row of the table
/// for every seal): a row id as an integer, a uuid as text.
fn lookup(s: &Sealed) -> Result<&'static str, StoreError> {
    // Made once per kind: every seal of a push looked its statement up by a text formatted anew.
    static LOOKUPS: std::sync::LazyLock<HashMap<&'static str, String>> =
        std::sync::LazyLock::new(|| {
            SEALED
                .iter()
                .map(|s| {
                    (
                        s.object_type,
                        format!("SELECT {} FROM {} WHERE {} = ?1", s.columns, s.table, s.key),
                    )
                })
                .collect()
        });
    LOOKUPS
        .get(s.object_type)
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not sealed evidence", s.object_type)))
}

/// The seal of one row as stored now; `None` if there is no such row (a row id that is not a
/// number names none).
pub fn compute(conn: &Tx, object_type: &str, key: &str) -> Result<Option<String>, StoreError> {
    let s = spec(object_type)?;
    let mut stmt = conn.prepare_cached(lookup(s)?)?;
    let text: Option<String> = if s.key == "id" {
        match key.parse::<i64>() {
            Ok(id) => stmt.query_row([id], |r| canonical(s, r, 0)).optional()?,
            Err(_) => None,
        }
    } else {
        stmt.query_row([key], |r| canonical(s, r, 0)).optional()?
    };
    Ok(text.map(|t| sha256_hex(t.as_bytes())))
}

/// Seals the row just written (named by its `uuid`, or its row id for tables without one), in the
/// caller's transaction.
pub fn seal(conn: &Tx, actor: &str, object_type: &str, key: &str) -> Result<(), StoreError> {
    let s = spec(object_type)?;
    let hash = compute(conn, object_type, key)?
        .ok_or_else(|| StoreError::Corrupt(format!("no {object_type} {key} to seal")))?;
    audit::record(conn, actor, s.action, object_type, key, None, Some(hash))?;
    Ok(())
}

/// [`seal`] of the row the connection inserted last (tables keyed by row id).
pub fn seal_last(conn: &Tx, actor: &str, object_type: &str) -> Result<(), StoreError> {
    seal(
        conn,
        actor,
        object_type,
        &conn.last_insert_rowid()?.to_string(),
    )
}

/// One row that does not match the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub object_type: &'static str,
    /// The row's `uuid`, or its row id.
    pub key: String,
    /// `altered` (the row's seal differs), `unsealed` (no seal and no record of the server
    /// writing it: planted) or `missing` (sealed, and no longer there: deleted).
    pub problem: &'static str,
}

/// The result of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Rows whose seal was recomputed and compared.
    pub checked: u64,
    /// Rows written before seals existed (audited, but not sealed): not comparable.
    pub legacy: u64,
    pub findings: Vec<Finding>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Recomputes the seal of every sealed row and compares it with the latest seal in the audit log.
/// Run it inside one read transaction when the server may be writing (a row committed between the
/// two reads would otherwise look unsealed).
pub fn check(conn: &Tx) -> Result<Check, StoreError> {
    let mut out = Check::default();
    for s in &SEALED {
        let mut seals: HashMap<String, String> = HashMap::new();
        {
            let mut st = conn.prepare(
                "SELECT object_id, after_hash FROM audit_log WHERE action = ?1 ORDER BY seq",
            )?;
            st.for_each([s.action], |r| {
                if let Some(h) = r.get::<_, Option<String>>(1)? {
                    seals.insert(r.get(0)?, h);
                }
                Ok(())
            })?;
        }
        let written: HashSet<String> = match s.written_by {
            Some(action) => conn
                .prepare("SELECT object_id FROM audit_log WHERE action = ?1")?
                .query_map([action], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
            None => HashSet::new(),
        };
        // For tables keyed by row id: rows before the first sealed one predate seals.
        let first_sealed: Option<i64> = match s.written_by {
            Some(_) => None,
            None => seals.keys().filter_map(|k| k.parse().ok()).min(),
        };
        let mut st = conn.prepare(&format!(
            "SELECT CAST({} AS TEXT), id, {} FROM {} WHERE {} ORDER BY 2",
            s.key, s.columns, s.table, s.rows
        ))?;
        st.for_each([], |r| {
            let key: String = r.get(0)?;
            let id: i64 = r.get(1)?;
            let text = canonical(s, r, 2)?;
            match seals.remove(&key) {
                Some(sealed) => {
                    out.checked += 1;
                    if sealed != sha256_hex(text.as_bytes()) {
                        out.findings.push(Finding {
                            object_type: s.object_type,
                            key,
                            problem: "altered",
                        });
                    }
                }
                None if written.contains(&key) => out.legacy += 1,
                None if s.written_by.is_none() && first_sealed.is_none_or(|f| id < f) => {
                    out.legacy += 1
                }
                None => out.findings.push(Finding {
                    object_type: s.object_type,
                    key,
                    problem: "unsealed",
                }),
            }
            Ok(())
        })?;
        // Sealed rows that are no longer there were deleted.
        let mut gone: Vec<String> = seals.into_keys().collect();
        gone.sort();
        out.findings.extend(gone.into_iter().map(|key| Finding {
            object_type: s.object_type,
            key,
            problem: "missing",
        }));
    }
    Ok(out)
}
/// The audit chain walked and every seal recomputed in one read snapshot: a write committing
/// between the two walks must not show as a row without its seal.
pub fn verify_all(conn: &Tx) -> Result<(crate::audit::Verification, Check), StoreError> {
    let tx = conn.begin_read()?;
    let chain = crate::audit::verify(&tx)?;
    let seals = check(&tx)?;
    tx.commit()?;
    Ok((chain, seals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_reads_its_row_through_an_index_not_the_whole_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        crate::migrate_file(&path).expect("migrate");
        let conn = rusqlite::Connection::open(&path).expect("open");
        for s in &SEALED {
            let plan: Vec<String> = conn
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    lookup(s).expect("a lookup")
                ))
                .expect("explain")
                .query_map([0], |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN")),
                "{}: {plan:?}",
                s.object_type
            );
            assert!(
                plan.iter().any(|step| step.starts_with("SEARCH")),
                "{}: {plan:?}",
                s.object_type
            );
        }
    }
}

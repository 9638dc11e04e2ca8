//! Evidence seals: when a submitted inspection or a verified photo is written, the audit log gets a
//! `*.seal` row whose `after_hash` is the SHA-256 of the row's evidence columns as stored (the
//! columns the immutability triggers guard, read back through SQLite's `json_array`, so the text is
//! canonical). [`check`] recomputes every seal: a row changed behind the server's back (triggers
//! dropped, the file edited) no longer matches its seal, and a row planted without one has none.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use crate::{StoreError, audit, sha256_hex};

/// What is sealed: (object type, audit action, the evidence columns as one canonical JSON array).
const SEALED: [(&str, &str, &str, &str); 2] = [
    (
        "inspection",
        "inspection.seal",
        "inspections",
        "json_array(uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
             location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at,
             clock_offset_ms, occurred_at, score_earned, score_possible, failed_items, critical_failed, compliant)",
    ),
    (
        "photo",
        "photo.seal",
        "photos",
        "json_array(uuid, inspection_id, user_id, sha256, size, format, width, height, exif, flags, exif_time_diff_s,
             exif_distance_m, declared_content_type, declared_taken_at, verified_at)",
    ),
];

/// The action whose presence shows an object was written by the server before seals existed.
fn written_by(object_type: &str) -> &'static str {
    match object_type {
        "inspection" => "inspection.submit",
        _ => "photo.verify",
    }
}

fn spec(
    object_type: &str,
) -> Result<&'static (&'static str, &'static str, &'static str, &'static str), StoreError> {
    SEALED
        .iter()
        .find(|s| s.0 == object_type)
        .ok_or_else(|| StoreError::Corrupt(format!("{object_type} is not sealed evidence")))
}

/// The seal of one object's row as stored now; `None` if there is no such row.
pub fn compute(
    conn: &Connection,
    object_type: &str,
    uuid: &str,
) -> Result<Option<String>, StoreError> {
    let (_, _, table, columns) = spec(object_type)?;
    let text: Option<String> = conn
        .prepare_cached(&format!("SELECT {columns} FROM {table} WHERE uuid = ?1"))?
        .query_row([uuid], |r| r.get(0))
        .optional()?;
    Ok(text.map(|t| sha256_hex(t.as_bytes())))
}

/// Seals the row just written, in the caller's transaction.
pub fn seal(
    conn: &Connection,
    actor: &str,
    object_type: &str,
    uuid: &str,
) -> Result<(), StoreError> {
    let (_, action, _, _) = spec(object_type)?;
    let hash = compute(conn, object_type, uuid)?
        .ok_or_else(|| StoreError::Corrupt(format!("no {object_type} {uuid} to seal")))?;
    audit::record(conn, actor, action, object_type, uuid, None, Some(hash))?;
    Ok(())
}

/// One object whose row does not match the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub object_type: &'static str,
    pub uuid: String,
    /// `altered` (the row's seal differs) or `unsealed` (no seal and no record of the server
    /// writing it: planted).
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
pub fn check(conn: &Connection) -> Result<Check, StoreError> {
    let mut out = Check::default();
    for (object_type, action, table, columns) in SEALED {
        let mut seals: HashMap<String, String> = HashMap::new();
        {
            let mut st = conn.prepare(
                "SELECT object_id, after_hash FROM audit_log WHERE action = ?1 ORDER BY seq",
            )?;
            let mut rows = st.query([action])?;
            while let Some(r) = rows.next()? {
                if let Some(h) = r.get::<_, Option<String>>(1)? {
                    seals.insert(r.get(0)?, h);
                }
            }
        }
        let written: std::collections::HashSet<String> = conn
            .prepare("SELECT object_id FROM audit_log WHERE action = ?1")?
            .query_map([written_by(object_type)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut st = conn.prepare(&format!("SELECT uuid, {columns} FROM {table} ORDER BY id"))?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let uuid: String = r.get(0)?;
            let text: String = r.get(1)?;
            match seals.get(&uuid) {
                Some(sealed) => {
                    out.checked += 1;
                    if *sealed != sha256_hex(text.as_bytes()) {
                        out.findings.push(Finding {
                            object_type,
                            uuid,
                            problem: "altered",
                        });
                    }
                }
                None if written.contains(&uuid) => out.legacy += 1,
                None => out.findings.push(Finding {
                    object_type,
                    uuid,
                    problem: "unsealed",
                }),
            }
        }
    }
    Ok(out)
}

//! Serving a pull: the changes after a cursor, in seq order, for the caller's scopes; or, after a
//! reset, a snapshot of the current state followed by the changes since it began.
//!
//! A page is bounded by a count and a byte budget, never splits the changes of one write (one
//! group), and is read in one read transaction. The last page (`has_more == false`) carries each
//! scope's count and checksum as of that transaction, which is exactly the state the client holds
//! once it has applied everything it was sent.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where a client stands. Opaque to clients (the HTTP layer encodes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last change seq the client has.
    pub seq: i64,
    /// The group of the change at `seq`: if a restored database later reuses `seq` for another
    /// change, the tags differ and the client is reset.
    pub tag: i64,
    /// Hash of the scope set the cursor was made for.
    pub scopes: String,
    /// While a snapshot is being sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Entity rows sent so far (by row id).
    pub after_row: i64,
    /// Only these scopes (a repair); `None`: all of the caller's scopes.
    pub only: Option<Vec<String>>,
    /// Where the change log resumes once the snapshot is sent.
    pub resume_seq: i64,
}

pub use lantian_domain::sync::ResetReason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub reason: ResetReason,
    /// The scopes to clear before applying; `None`: everything pulled (never the outbox).
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRow {
    /// 0 for snapshot rows.
    pub seq: i64,
    pub scope: String,
    pub entity: String,
    pub id: String,
    /// `put` or `remove`.
    pub op: String,
    pub data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSum {
    pub scope: String,
    pub count: u64,
    pub checksum: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub changes: Vec<ChangeRow>,
    pub cursor: Cursor,
    pub has_more: bool,
    pub reset: Option<Reset>,
    pub checkpoint: Option<Vec<ScopeSum>>,
}

/// Limits of one page.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_changes: usize,
    pub max_bytes: usize,
}

/// A stable name for what a caller sees: their scopes and their role.
pub fn scopes_hash(scopes: &[String], role: &str) -> String {
    crate::sha256_hex(format!("{role}\n{}", scopes.join("\n")).as_bytes())[..16].to_owned()
}

fn tag_at(conn: &Tx, seq: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row("SELECT grp FROM changes WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .optional()?)
}

fn min_seq(conn: &Tx) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row("SELECT min(seq) FROM changes", [], |r| r.get(0))?)
}

fn fresh_snapshot(
    conn: &Tx,
    scopes_id: &str,
    only: Option<Vec<String>>,
    resume_seq: i64,
) -> Result<Cursor, StoreError> {
    Ok(Cursor {
        seq: resume_seq,
        tag: tag_at(conn, resume_seq)?.unwrap_or(0),
        scopes: scopes_id.to_owned(),
        snapshot: Some(Snapshot {
            after_row: 0,
            only,
            resume_seq,
        }),
    })
}

/// Why a changes-phase cursor cannot continue, if it cannot.
fn check_cursor(
    conn: &Tx,
    c: &Cursor,
    scopes_id: &str,
    head: i64,
) -> Result<Option<ResetReason>, StoreError> {
    if c.scopes != scopes_id {
        return Ok(Some(ResetReason::ScopeChanged));
    }
    if c.seq == 0 {
        // Synced when the log was empty: fine unless changes have since been pruned.
        return Ok(match min_seq(conn)? {
            Some(min) if min > 1 => Some(ResetReason::CursorTooOld),
            _ => None,
        });
    }
    if c.seq > head {
        return Ok(Some(ResetReason::HistoryDiverged));
    }
    match tag_at(conn, c.seq)? {
        Some(t) if t == c.tag => Ok(None),
        Some(_) => Ok(Some(ResetReason::HistoryDiverged)),
        None => Ok(Some(match min_seq(conn)? {
            Some(min) if c.seq < min => ResetReason::CursorTooOld,
            _ => ResetReason::HistoryDiverged,
        })),
    }
}

/// One page for a caller who sees `scopes` (sorted) with `role`. `resync` asks for a snapshot of
/// those scopes. A change of scopes or role since the cursor was made resets the client.
pub fn pull(
    conn: &Tx,
    scopes: &[String],
    role: &str,
    cursor: Option<Cursor>,
    resync: &[String],
    limits: Limits,
) -> Result<Page, StoreError> {
    let tx = conn.begin_read()?;
    let scopes_id = scopes_hash(scopes, role);
    let head = crate::sync::head(&tx)?;
    let mut reset = None;
    let mut cur = match cursor {
        None => {
            reset = Some(Reset {
                reason: ResetReason::Initial,
                scopes: None,
            });
            fresh_snapshot(&tx, &scopes_id, None, head)?
        }
        Some(c) if c.snapshot.is_some() => {
            if c.scopes != scopes_id {
                reset = Some(Reset {
                    reason: ResetReason::ScopeChanged,
                    scopes: None,
                });
                fresh_snapshot(&tx, &scopes_id, None, head)?
            } else {
                c
            }
        }
        Some(c) => match check_cursor(&tx, &c, &scopes_id, head)? {
            Some(reason) => {
                reset = Some(Reset {
                    reason,
                    scopes: None,
                });
                fresh_snapshot(&tx, &scopes_id, None, head)?
            }
            None if !resync.is_empty() => {
                let only: Vec<String> = resync
                    .iter()
                    .filter(|s| scopes.contains(s))
                    .cloned()
                    .collect();
                reset = Some(Reset {
                    reason: ResetReason::Repair,
                    scopes: Some(only.clone()),
                });
                // Resume the log where the client was: replaying its tail over the fresh snapshot
                // converges, skipping it would not.
                let mut fresh = fresh_snapshot(&tx, &scopes_id, Some(only), c.seq)?;
                fresh.tag = c.tag;
                fresh
            }
            None => c,
        },
    };
    let scope_list = serde_json::to_string(scopes)?;
    let mut changes = Vec::new();
    let mut has_more;
    if let Some(snap) = cur.snapshot.clone() {
        let wanted = match &snap.only {
            Some(only) => serde_json::to_string(only)?,
            None => scope_list.clone(),
        };
        // On PostgreSQL each scope's rows are read in order from `entities_scope` and only those
        // merged: its planner cannot see how few rows the list names, and otherwise sorts every
        // row past the cursor for each page (a snapshot then costs pages x rows).
        // An entity's text is the change's that put it last (`sync::entity_text!`), read by its
        // seq for the rows of the page only.
        let mut stmt = tx.prepare_cached(tx.dialect(
            concat!(
                "SELECT e.id, e.scope, e.entity, e.entity_id, ",
                crate::sync::entity_text!(),
                " FROM entities e
                 WHERE e.id > ?1 AND e.scope IN (SELECT value FROM json_each(?2)) ORDER BY e.id LIMIT ?3"
            ),
            concat!(
                "SELECT e.id, e.scope, e.entity, e.entity_id, ",
                crate::sync::entity_text!(),
                " FROM (SELECT DISTINCT value FROM json_each(?2)) s
                   CROSS JOIN LATERAL (SELECT id, scope, entity, entity_id, data, seq FROM entities
                                        WHERE scope = s.value AND id > ?1 ORDER BY id LIMIT ?3) e
                  ORDER BY e.id LIMIT ?3"
            ),
        ))?;
        let rows = stmt.query_map(
            params![snap.after_row, wanted, limits.max_changes as i64 + 1],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ChangeRow {
                        seq: 0,
                        scope: r.get(1)?,
                        entity: r.get(2)?,
                        id: r.get(3)?,
                        op: "put".into(),
                        data: r.get(4)?,
                    },
                ))
            },
        )?;
        let mut bytes = 0usize;
        let mut last_row = snap.after_row;
        has_more = false;
        for row in rows {
            let (row_id, change) = row?;
            if changes.len() >= limits.max_changes
                || (bytes >= limits.max_bytes && !changes.is_empty())
            {
                has_more = true;
                break;
            }
            bytes += change.data.as_ref().map_or(0, String::len) + 64;
            last_row = row_id;
            changes.push(change);
        }
        if has_more {
            cur.snapshot = Some(Snapshot {
                after_row: last_row,
                ..snap
            });
        } else {
            // Snapshot done: continue with the log from where it began.
            cur.snapshot = None;
            cur.seq = snap.resume_seq;
            cur.tag = tag_at(&tx, snap.resume_seq)?.unwrap_or(cur.tag);
            has_more = head > snap.resume_seq;
        }
    } else {
        // Each scope's changes from `changes_scope_seq` on PostgreSQL, as for the snapshot.
        let mut stmt = tx.prepare_cached(tx.dialect(
            "SELECT seq, grp, scope, entity, entity_id, op, data FROM changes
             WHERE seq > ?1 AND scope IN (SELECT value FROM json_each(?2)) ORDER BY seq LIMIT ?3",
            "SELECT c.seq, c.grp, c.scope, c.entity, c.entity_id, c.op, c.data
               FROM (SELECT DISTINCT value FROM json_each(?2)) s
               CROSS JOIN LATERAL (SELECT seq, grp, scope, entity, entity_id, op, data FROM changes
                                    WHERE scope = s.value AND seq > ?1 ORDER BY seq LIMIT ?3) c
              ORDER BY c.seq LIMIT ?3",
        ))?;
        // Fetch a little past the count limit so the last group can be completed.
        let fetch = limits.max_changes as i64 * 2 + 1;
        let rows: Vec<(i64, ChangeRow)> = stmt
            .query_map(params![cur.seq, scope_list, fetch], |r| {
                Ok((
                    r.get::<_, i64>(1)?,
                    ChangeRow {
                        seq: r.get(0)?,
                        scope: r.get(2)?,
                        entity: r.get(3)?,
                        id: r.get(4)?,
                        op: r.get(5)?,
                        data: r.get(6)?,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut bytes = 0usize;
        let mut i = 0;
        has_more = false;
        while i < rows.len() {
            // Take the whole group starting at i, or stop before it.
            let grp = rows[i].0;
            let mut j = i;
            let mut group_bytes = 0;
            while j < rows.len() && rows[j].0 == grp {
                group_bytes += rows[j].1.data.as_ref().map_or(0, String::len) + 64;
                j += 1;
            }
            let full = !changes.is_empty()
                && (changes.len() + (j - i) > limits.max_changes
                    || bytes + group_bytes > limits.max_bytes);
            let cut_short = j == rows.len() && rows.len() as i64 == fetch;
            if full || (cut_short && !changes.is_empty()) {
                has_more = true;
                break;
            }
            if cut_short {
                // One group larger than what was fetched: fetch it whole.
                let mut all = tx.prepare_cached(
                    "SELECT seq, scope, entity, entity_id, op, data FROM changes
                     WHERE grp = ?1 AND seq >= ?2 AND scope IN (SELECT value FROM json_each(?3)) ORDER BY seq",
                )?;
                let whole: Vec<ChangeRow> = all
                    .query_map(params![grp, rows[i].1.seq, scope_list], |r| {
                        Ok(ChangeRow {
                            seq: r.get(0)?,
                            scope: r.get(1)?,
                            entity: r.get(2)?,
                            id: r.get(3)?,
                            op: r.get(4)?,
                            data: r.get(5)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                changes.extend(whole);
                has_more = true;
                break;
            }
            for (_, c) in &rows[i..j] {
                changes.push(c.clone());
            }
            bytes += group_bytes;
            i = j;
        }
        if let Some(last) = changes.last() {
            cur.seq = last.seq;
            cur.tag = tag_at(&tx, last.seq)?.unwrap_or(0);
        }
        if !has_more {
            // Rows beyond the page may exist past other scopes' rows; ask directly.
            has_more = tx
                .query_row(
                    // One probe of `changes_scope_seq` per scope (a plan both engines find).
                    "SELECT 1 FROM json_each(?2) s
                      WHERE EXISTS (SELECT 1 FROM changes c WHERE c.scope = s.value AND c.seq > ?1)
                      LIMIT 1",
                    params![cur.seq, scope_list],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
        }
        if !has_more && head > cur.seq {
            // Nothing more for this caller: move the cursor to the head so the next pull starts there.
            cur.seq = head;
            cur.tag = tag_at(&tx, head)?.unwrap_or(0);
        }
    }
    let checkpoint = if has_more {
        None
    } else {
        Some(scope_sums(&tx, scopes)?)
    };
    tx.commit()?;
    Ok(Page {
        changes,
        cursor: cur,
        has_more,
        reset,
        checkpoint,
    })
}

/// What `GET /v1/sync/status` reports, in one read transaction so that the figures are of one
/// moment: `user`'s install `client_id` (none if it is not theirs), and unless it is missing or
/// revoked, the log's head and the count and checksum of each scope `user` sees.
pub fn status(
    conn: &Tx,
    client_id: uuid::Uuid,
    user: &crate::identity::UserRecord,
) -> Result<(Option<crate::push::Install>, i64, Vec<ScopeSum>), StoreError> {
    let tx = conn.begin_read()?;
    let install = match crate::push::client(&tx, client_id, user.id)? {
        Some(i) if !i.revoked => i,
        other => return Ok((other, 0, Vec::new())),
    };
    let scopes = scopes_for(&tx, user)?;
    let read = (
        Some(install),
        crate::sync::head(&tx)?,
        scope_sums(&tx, &scopes)?,
    );
    tx.commit()?;
    Ok(read)
}

/// Count and checksum of each scope (zero for scopes with nothing in them).
pub fn scope_sums(conn: &Tx, scopes: &[String]) -> Result<Vec<ScopeSum>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT count, checksum FROM scope_state WHERE scope = ?1")?;
    scopes
        .iter()
        .map(|s| {
            let (count, checksum): (i64, i64) = stmt
                .query_row([s], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((0, 0));
            Ok(ScopeSum {
                scope: s.clone(),
                count: count as u64,
                checksum: checksum as u64,
            })
        })
        .collect()
}

/// The scopes a user sees: global, each unit of their subtree, and their own.
pub fn scopes_for(
    conn: &Tx,
    user: &crate::identity::UserRecord,
) -> Result<Vec<String>, StoreError> {
    let mut v: Vec<String> = crate::org::units_in_subtree(conn, &user.unit_path)?
        .into_iter()
        .map(|u| lantian_domain::sync::unit_scope(&u.code))
        .collect();
    v.push(lantian_domain::sync::GLOBAL.to_owned());
    v.push(lantian_domain::sync::user_scope(user.uuid));
    v.sort();
    Ok(v)
}

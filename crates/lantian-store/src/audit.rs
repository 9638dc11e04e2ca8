//! The append-only, hash-chained audit log. Every write appends a row in the same transaction as
//! its effect: who, what, when, and hashes of the object before and after. Each row's hash covers
//! its content and the previous row's hash, so an edited, removed or reordered row breaks the chain.
//! SQL triggers refuse UPDATE and DELETE on the table.

use crate::Tx;
use crate::db::{OptionalExtension, params};

use crate::{StoreError, now_text, sha256_hex};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited event.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// User UUID, or `cli` / `system`.
    pub actor: &'a str,
    /// e.g. `subject.create`, `auth.login`, `template.publish`.
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub before_hash: Option<String>,
    pub after_hash: Option<String>,
}

fn row_hash(prev: &str, seq: i64, at: &str, e: &Entry<'_>) -> String {
    let content = format!(
        "{prev}\n{seq}\n{at}\n{}\n{}\n{}\n{}\n{}\n{}",
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        e.before_hash.as_deref().unwrap_or("-"),
        e.after_hash.as_deref().unwrap_or("-"),
    );
    sha256_hex(content.as_bytes())
}

/// Appends `entry`; must run inside the writer's transaction so it commits with the effect.
pub fn append(conn: &Tx, entry: &Entry<'_>) -> Result<i64, StoreError> {
    let last: Option<(i64, String)> = match conn.kept_audit_head() {
        Some(head) => Some(head),
        None => conn
            .prepare_cached("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    };
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    let at = now_text();
    let hash = row_hash(&prev, seq, &at, entry);
    conn.prepare_cached("INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, before_hash, after_hash, prev_hash, row_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?.execute(
        params![seq, at, entry.actor, entry.action, entry.object_type, entry.object_id, entry.before_hash, entry.after_hash, prev, hash],
    )?;
    // The next append of this transaction links to it without reading it back.
    conn.keep_audit_head(seq, &hash);
    Ok(seq)
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub rows: u64,
    /// The first row whose content, link or sequence does not hold, if any.
    pub first_broken: Option<i64>,
    pub head: String,
    /// A recorded head (label, seq) beyond the log's last row: its tail was cut off.
    pub truncated: Option<(String, i64)>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.first_broken.is_none() && self.truncated.is_none()
    }
}

/// Walks the whole chain in order, then checks it against every recorded head: a head's row must
/// still exist with the recorded hash, or the log was cut or rewritten after it was recorded.
pub fn verify(conn: &Tx) -> Result<Verification, StoreError> {
    let mut walked = walk(conn)?;
    if walked.first_broken.is_some() {
        return Ok(walked);
    }
    let heads: Vec<(String, i64, String)> = conn
        .prepare("SELECT label, seq, row_hash FROM audit_heads ORDER BY seq, id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (label, seq, hash) in heads {
        if seq > walked.rows as i64 {
            walked.truncated = Some((label, seq));
            break;
        }
        let stored: Option<String> = conn
            .query_row(
                "SELECT row_hash FROM audit_log WHERE seq = ?1",
                [seq],
                |r| r.get(0),
            )
            .optional()?;
        if stored.as_deref() != Some(hash.as_str()) {
            walked.first_broken = Some(seq);
            break;
        }
    }
    Ok(walked)
}

fn walk(conn: &Tx) -> Result<Verification, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, object_type, object_id, before_hash, after_hash, prev_hash, row_hash
         FROM audit_log ORDER BY seq",
    )?;
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    let mut broken: Option<i64> = None;
    stmt.for_each([], |r| {
        if broken.is_some() {
            return Ok(());
        }
        let seq: i64 = r.get(0)?;
        let at: String = r.get(1)?;
        let (actor, action, object_type, object_id): (String, String, String, String) =
            (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
        let entry = Entry {
            actor: &actor,
            action: &action,
            object_type: &object_type,
            object_id: &object_id,
            before_hash: r.get(6)?,
            after_hash: r.get(7)?,
        };
        let stored_prev: String = r.get(8)?;
        let stored_hash: String = r.get(9)?;
        if seq != expected_seq
            || stored_prev != prev
            || row_hash(&prev, seq, &at, &entry) != stored_hash
        {
            broken = Some(seq);
            return Ok(());
        }
        prev = stored_hash;
        expected_seq += 1;
        count += 1;
        Ok(())
    })?;
    if broken.is_some() {
        return Ok(Verification {
            rows: count,
            first_broken: broken,
            head: prev,
            truncated: None,
        });
    }
    Ok(Verification {
        rows: count,
        first_broken: None,
        head: prev,
        truncated: None,
    })
}

/// Records the chain's current head under `label` (a checkpoint). Returns (seq, hash); `None` for
/// an empty log or a label already recorded.
pub fn record_head(conn: &Tx, label: &str) -> Result<Option<(i64, String)>, StoreError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((seq, hash)) = last else {
        return Ok(None);
    };
    let n = conn.execute(
        "INSERT INTO audit_heads (label, seq, row_hash, recorded_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(label) DO NOTHING",
        crate::db::params![label, seq, hash, now_text()],
    )?;
    Ok((n == 1).then_some((seq, hash)))
}

/// Records the head at the end of every finished month (China Standard Time) not recorded yet:
/// the last row written before the month ended. Returns the labels recorded.
pub fn record_month_heads(
    conn: &Tx,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, StoreError> {
    use chrono::{Datelike, TimeZone};
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let first: Option<String> = conn
        .query_row("SELECT at FROM audit_log ORDER BY seq LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let first = crate::parse_time(&first)?.with_timezone(&cst);
    let now = now.with_timezone(&cst);
    let (mut y, mut m) = (first.year(), first.month());
    let mut recorded = Vec::new();
    // Bounded: at most the months between the first row and now (a few hundred in a lifetime).
    for _ in 0..1200 {
        if (y, m) >= (now.year(), now.month()) {
            break;
        }
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let end = cst
            .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
            .single()
            .map(|t| crate::time_text(t.with_timezone(&chrono::Utc)))
            .ok_or_else(|| StoreError::Corrupt("month end out of range".into()))?;
        let label = format!("{y:04}-{m:02}");
        let last: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, row_hash FROM audit_log WHERE at < ?1 ORDER BY seq DESC LIMIT 1",
                [&end],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, hash)) = last {
            let n = conn.execute(
                "INSERT INTO audit_heads (label, seq, row_hash, recorded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(label) DO NOTHING",
                crate::db::params![label, seq, hash, now_text()],
            )?;
            if n == 1 {
                recorded.push(label);
            }
        }
        (y, m) = (ny, nm);
    }
    Ok(recorded)
}

/// SHA-256 of an object's canonical JSON, for `before_hash` / `after_hash`.
pub fn object_hash<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(sha256_hex(&serde_json::to_vec(value)?))
}

/// Appends inside a write closure; shorthand for the common case.
pub fn record(
    conn: &Tx,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    before_hash: Option<String>,
    after_hash: Option<String>,
) -> Result<i64, StoreError> {
    append(
        conn,
        &Entry {
            actor,
            action,
            object_type,
            object_id,
            before_hash,
            after_hash,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Tx) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        crate::migrate_file(&path).expect("migrate");
        let conn = Tx::new(rusqlite::Connection::open(&path).expect("open"));
        (dir, conn)
    }

    #[test]
    fn an_intact_chain_verifies_and_an_edited_row_is_found() {
        let (_d, conn) = db();
        for i in 0..5 {
            record(
                &conn,
                "cli",
                "subject.create",
                "subject",
                &format!("s{i}"),
                None,
                Some("h".into()),
            )
            .expect("append");
        }
        let v = verify(&conn).expect("verify");
        assert_eq!((v.rows, v.first_broken), (5, None));
        // Behind the server's back: drop the guard trigger and edit row 3.
        conn.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 3;")
            .expect("tamper");
        assert_eq!(verify(&conn).expect("verify").first_broken, Some(3));
    }

    #[test]
    fn the_log_refuses_updates_and_deletes() {
        let (_d, conn) = db();
        record(&conn, "cli", "x", "y", "z", None, None).expect("append");
        for sql in ["UPDATE audit_log SET actor = 'm'", "DELETE FROM audit_log"] {
            let refused = conn.execute(sql, []).expect_err(sql).to_string();
            assert!(
                refused.contains("the audit log is append-only"),
                "{refused}"
            );
        }
    }
}

/// One audit row about an object, with the name of who acted when it was a user.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// The acting user's display name, when the actor is a user.
    pub actor_name: Option<String>,
    pub action: String,
    pub before_hash: Option<String>,
    pub after_hash: Option<String>,
}

/// The audit rows about subject `id`, oldest first (what the ledger shows as its trail).
pub fn of_subject(conn: &Tx, id: &str) -> Result<Vec<ObjectEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.seq, a.at, a.actor, us.display_name, a.action, a.before_hash, a.after_hash
         FROM audit_log a LEFT JOIN users us ON us.uuid = a.actor
         WHERE a.object_type = 'subject' AND a.object_id = ?1
         ORDER BY a.seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(ObjectEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            actor_name: r.get(3)?,
            action: r.get(4)?,
            before_hash: r.get(5)?,
            after_hash: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

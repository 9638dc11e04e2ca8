//! The change log and the current state of synced entities.
//!
//! Every write that changes something a phone holds calls [`put`] or [`remove`] inside its
//! transaction. Each appends a row to `changes` (its `seq` assigned by the single writer, so commit
//! order is seq order), keeps `entities` (the current state, for snapshots) and keeps `scope_state`
//! (per-scope count and wrapping hash sum, for checkpoints) up to date, all in the same transaction
//! as the effect (a write transaction keeps each scope's figures in hand and writes them once, just
//! before it commits: `Tx::execute_batch`). A [`Group`] ties the changes of one write together:
//! a pull page never splits it.
//!
//! An entity's text is stored once: in the change that put it last. Its `entities` row holds the
//! hash and that change's `seq`, and `data` only once [`prune`] has taken that change away
//! (`entity_text!` reads it either way).

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::sync::entity_hash;
use serde::Serialize;

use crate::{StoreError, now_text};

/// The changes of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(i64);

impl Group {
    pub fn new() -> Group {
        // Random, so a position in the log can be told apart from the same seq in a log that was
        // restored from an older backup and then grew again.
        let v = uuid::Uuid::new_v4().as_u64_pair().0 as i64;
        Group(if v == 0 { 1 } else { v })
    }
    pub fn id(self) -> i64 {
        self.0
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

fn adjust_scope(
    conn: &Tx,
    scope: &str,
    count_delta: i64,
    hash_add: u64,
    hash_sub: u64,
) -> Result<(), StoreError> {
    let (count, sum): (i64, i64) = match conn.kept_scope(scope) {
        Some(kept) => kept,
        None => conn
            .prepare_cached("SELECT count, checksum FROM scope_state WHERE scope = ?1")?
            .query_row([scope], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0)),
    };
    // Wrapping arithmetic in Rust: SQLite would turn an overflowing integer into a float.
    let sum = (sum as u64).wrapping_add(hash_add).wrapping_sub(hash_sub) as i64;
    let count = count + count_delta;
    // Inside a write transaction the new figures are kept and written once, at its commit.
    if !conn.keep_scope(scope, count, sum, false) {
        write_scope(conn, scope, count, sum)?;
    }
    Ok(())
}

/// Writes a scope's count and checksum.
pub(crate) fn write_scope(
    conn: &Tx,
    scope: &str,
    count: i64,
    checksum: i64,
) -> crate::db::Result<()> {
    conn.prepare_cached(
        "INSERT INTO scope_state (scope, count, checksum) VALUES (?1, ?2, ?3)
         ON CONFLICT(scope) DO UPDATE SET count = excluded.count, checksum = excluded.checksum",
    )?
    .execute(params![scope, count, checksum])?;
    Ok(())
}

fn log(
    conn: &Tx,
    g: Group,
    scope: &str,
    entity: &str,
    id: &str,
    op: &str,
    data: Option<&str>,
) -> Result<i64, StoreError> {
    conn.insert_id(
        "INSERT INTO changes (grp, scope, entity, entity_id, op, data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq",
        params![g.0, scope, entity, id, op, data, now_text()],
    )?
    .ok_or_else(|| StoreError::Database("a change was not logged".into()))
}

/// Records that `entity`/`id` now has `value`, in `scope`. If it was in another scope before, that
/// scope gets a `remove` (a scope exit).
pub fn put<T: Serialize>(
    conn: &Tx,
    g: Group,
    scope: &str,
    entity: &str,
    id: &str,
    value: &T,
) -> Result<(), StoreError> {
    put_text(conn, g, scope, entity, id, serde_json::to_string(value)?)
}

/// [`put`] for a value already serialised (its exact text is what phones store and checksum).
pub fn put_text(
    conn: &Tx,
    g: Group,
    scope: &str,
    entity: &str,
    id: &str,
    data: String,
) -> Result<(), StoreError> {
    let hash = entity_hash(entity, id, &data);
    let existing: Option<(i64, String, i64)> = conn
        .prepare_cached(
            "SELECT id, scope, hash FROM entities WHERE entity = ?1 AND entity_id = ?2",
        )?
        .query_row(params![entity, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match existing {
        Some((row, old_scope, old_hash)) => {
            if old_scope != scope {
                log(conn, g, &old_scope, entity, id, "remove", None)?;
                adjust_scope(conn, &old_scope, -1, 0, old_hash as u64)?;
                adjust_scope(conn, scope, 1, hash, 0)?;
            } else {
                adjust_scope(conn, scope, 0, hash, old_hash as u64)?;
            }
            let seq = log(conn, g, scope, entity, id, "put", Some(&data))?;
            // Its text is the change's (a text left here by a prune goes).
            conn.prepare_cached(
                "UPDATE entities SET scope = ?2, data = NULL, hash = ?3, seq = ?4 WHERE id = ?1",
            )?
            .execute(params![row, scope, hash as i64, seq])?;
        }
        None => {
            if !insert_entity(conn, g, scope, (entity, id), &data, hash)? {
                // Only a writer without the write lock could have put it there since the look-up.
                return Err(StoreError::Database(format!(
                    "{entity} {id} appeared under the write lock"
                )));
            }
        }
    }
    Ok(())
}

/// [`put_text`] for an entity just created (an inspection, an incident, a proposal under a new
/// id): it is inserted without being looked up first. Should it be there after all, the change
/// logged stands and [`put_text`] follows it, as for any entity that existed.
pub fn put_new_text(
    conn: &Tx,
    g: Group,
    scope: &str,
    entity: &str,
    id: &str,
    data: String,
) -> Result<(), StoreError> {
    let hash = entity_hash(entity, id, &data);
    if insert_entity(conn, g, scope, (entity, id), &data, hash)? {
        Ok(())
    } else {
        put_text(conn, g, scope, entity, id, data)
    }
}

/// Logs the put of an entity and inserts its row (its text is the change's); false (the change
/// logged, no row inserted) if a row for it was there already.
fn insert_entity(
    conn: &Tx,
    g: Group,
    scope: &str,
    (entity, id): (&str, &str),
    data: &str,
    hash: u64,
) -> Result<bool, StoreError> {
    let seq = log(conn, g, scope, entity, id, "put", Some(data))?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO entities (entity, entity_id, scope, hash, seq) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (entity, entity_id) DO NOTHING",
        )?
        .execute(params![entity, id, scope, hash as i64, seq])?;
    if inserted == 1 {
        adjust_scope(conn, scope, 1, hash, 0)?;
    }
    Ok(inserted == 1)
}

/// Records that `entity`/`id` is gone. A no-op if it was not synced.
pub fn remove(conn: &Tx, g: Group, entity: &str, id: &str) -> Result<(), StoreError> {
    let existing: Option<(i64, String, i64)> = conn
        .prepare_cached(
            "SELECT id, scope, hash FROM entities WHERE entity = ?1 AND entity_id = ?2",
        )?
        .query_row(params![entity, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    if let Some((row, scope, hash)) = existing {
        log(conn, g, &scope, entity, id, "remove", None)?;
        adjust_scope(conn, &scope, -1, 0, hash as u64)?;
        conn.prepare_cached("DELETE FROM entities WHERE id = ?1")?
            .execute([row])?;
    }
    Ok(())
}

/// The newest seq in the log (0 if empty).
pub fn head(conn: &Tx) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM changes")?
        .query_row([], |r| r.get(0))?)
}

/// Deletes changes older than `cutoff` (RFC 3339), always keeping the newest row. Returns how many
/// went. Cursors that pointed before the oldest remaining change get a `cursor_too_old` reset.
/// An entity whose text is in a change that goes keeps that text in its own row first.
pub fn prune(conn: &Tx, cutoff: &str) -> Result<usize, StoreError> {
    let head = head(conn)?;
    conn.prepare_cached(
        "UPDATE entities SET data = (SELECT c.data FROM changes c WHERE c.seq = entities.seq)
          WHERE data IS NULL
            AND EXISTS (SELECT 1 FROM changes c WHERE c.seq = entities.seq AND c.at < ?1 AND c.seq < ?2)",
    )?
    .execute(params![cutoff, head])?;
    Ok(conn
        .prepare_cached("DELETE FROM changes WHERE at < ?1 AND seq < ?2")?
        .execute(params![cutoff, head])?)
}

/// The text of the entity row `e`, an SQL expression (a literal, for `concat!`): its own once a
/// prune took its change away, else the text of the change that put it last.
macro_rules! entity_text {
    () => {
        "coalesce(e.data, (SELECT c.data FROM changes c WHERE c.seq = e.seq))"
    };
}
pub(crate) use entity_text;

/// The current state in `scopes`: (entity, id, scope, text), as a phone of theirs holds it after
/// a full pull. For tests that compare a phone with the server.
#[cfg(any(test, feature = "test-door"))]
pub fn current(
    conn: &Tx,
    scopes: &[String],
) -> Result<Vec<(String, String, String, String)>, StoreError> {
    let mut stmt = conn.prepare(concat!(
        "SELECT e.entity, e.entity_id, e.scope, ",
        entity_text!(),
        " FROM entities e WHERE e.scope IN (SELECT value FROM json_each(?1)) ORDER BY e.id"
    ))?;
    let rows = stmt
        .query_map([serde_json::to_string(scopes)?], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Emits the current state of every synced entity that existed before sync did (units, subjects,
/// templates, campaigns), once. Runs at open, after migrations.
pub(crate) fn backfill(conn: &Tx) -> Result<(), StoreError> {
    let done = conn
        .prepare_cached("SELECT 1 FROM meta WHERE key = 'sync:backfilled'")?
        .query_row([], |_| Ok(()))
        .optional()?
        .is_some();
    if done {
        return Ok(());
    }
    let g = Group::new();
    let units: Vec<String> = {
        let mut s = conn.prepare("SELECT code FROM units ORDER BY id")?;
        s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    for code in units {
        if let Some(u) = crate::org::unit_by_code(conn, &code)? {
            crate::org::publish_unit(conn, g, &u.unit)?;
        }
    }
    for c in crate::org::campaigns(conn)? {
        put(
            conn,
            g,
            lantian_domain::sync::GLOBAL,
            "campaign",
            &c.code,
            &c,
        )?;
    }
    let templates: Vec<(String, u32)> = {
        let mut s = conn.prepare("SELECT code, version FROM checklist_templates ORDER BY id")?;
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    for (code, version) in templates {
        if let Some(t) = crate::templates::get(conn, &code, version)? {
            crate::templates::publish_entity(conn, g, &t)?;
        }
    }
    let subjects: Vec<String> = {
        let mut s = conn.prepare("SELECT uuid FROM subjects ORDER BY id")?;
        s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    for id in subjects {
        let uuid = uuid::Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(rec) = crate::subjects::get(conn, uuid)? {
            crate::subjects::publish(conn, g, &rec.subject)?;
        }
    }
    conn.prepare_cached("INSERT INTO meta (key, value) VALUES ('sync:backfilled', ?1)")?
        .execute([now_text()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite database of its own (the folder goes when the first is dropped).
    fn fresh() -> (tempfile::TempDir, Tx) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        crate::migrate_file(&path).expect("migrate");
        let conn = Tx::new(rusqlite::Connection::open(&path).expect("open"));
        (dir, conn)
    }

    /// Each scope's count and checksum, from `scope_state` and recounted from `entities`.
    fn stored_and_recounted(conn: &Tx, scope: &str) -> ((u64, u64), (u64, u64)) {
        let rows = current(conn, &[scope.to_owned()]).expect("current");
        let recount = lantian_domain::sync::scope_sum(
            rows.iter()
                .map(|(e, i, _, d)| (e.as_str(), i.as_str(), d.as_str())),
        );
        let stored: (i64, i64) = conn
            .query_row(
                "SELECT count, checksum FROM scope_state WHERE scope = ?1",
                [scope],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .expect("state")
            .unwrap_or((0, 0));
        ((stored.0 as u64, stored.1 as u64), recount)
    }

    #[test]
    fn scope_sums_kept_in_a_transaction_follow_its_savepoints_and_are_written_at_its_commit() {
        let (_dir, conn) = fresh();
        let g = Group::new();
        let v = |n: i32| serde_json::json!({ "v": n });
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        for i in 0..5 {
            put(&conn, g, "unit:a", "subject", &i.to_string(), &v(i)).expect("put");
        }
        // Kept, not written yet.
        assert_eq!(stored_and_recounted(&conn, "unit:a").0, (0, 0));
        conn.execute_batch("SAVEPOINT request").expect("savepoint");
        put(&conn, g, "unit:a", "subject", "9", &v(9)).expect("put");
        put(&conn, g, "unit:b", "subject", "1", &v(1)).expect("move");
        conn.execute_batch("SAVEPOINT mutation").expect("savepoint");
        remove(&conn, g, "subject", "2").expect("remove");
        put_new_text(&conn, g, "unit:b", "subject", "7", "{}".into()).expect("new");
        // Its effect goes back, and so do the figures it changed.
        conn.execute_batch("ROLLBACK TO mutation; RELEASE mutation")
            .expect("rollback to");
        // A "new" entity that was there after all is put as any other.
        put_new_text(&conn, g, "unit:b", "subject", "3", "{}".into()).expect("existing");
        conn.execute_batch("RELEASE request").expect("release");
        conn.execute_batch("COMMIT").expect("commit");
        for scope in ["unit:a", "unit:b"] {
            let (stored, recount) = stored_and_recounted(&conn, scope);
            assert_eq!(stored, recount, "{scope}");
        }
        assert_eq!(stored_and_recounted(&conn, "unit:a").0.0, 4);
        assert_eq!(stored_and_recounted(&conn, "unit:b").0.0, 2);

        // A batch of transaction control that fails while figures wait to be written: the
        // transaction may only roll back.
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        put(&conn, g, "unit:a", "subject", "10", &v(10)).expect("put");
        assert!(conn.execute_batch("RELEASE nothing_such").is_err());
        let refused = conn.execute_batch("COMMIT").expect_err("commit refused");
        assert!(matches!(refused, crate::db::Error::Unflushed), "{refused}");
        conn.execute_batch("ROLLBACK").expect("rollback");
        let (stored, recount) = stored_and_recounted(&conn, "unit:a");
        assert_eq!((stored, stored.0), (recount, 4));
    }

    #[test]
    fn an_entity_text_is_stored_once_and_kept_by_its_row_when_a_prune_takes_its_change() {
        let (_dir, conn) = fresh();
        let g = Group::new();
        let own = |id: &str| -> Option<String> {
            conn.query_row(
                "SELECT data FROM entities WHERE entity = 'subject' AND entity_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("row")
        };
        put(
            &conn,
            g,
            "unit:a",
            "subject",
            "1",
            &serde_json::json!({"v": 1}),
        )
        .expect("put");
        put_new_text(&conn, g, "unit:a", "subject", "2", r#"{"v":2}"#.into()).expect("new");
        put(
            &conn,
            g,
            "unit:a",
            "subject",
            "1",
            &serde_json::json!({"v": "again"}),
        )
        .expect("edit");
        // Each text is in its change only.
        assert_eq!((own("1"), own("2")), (None, None));
        let texts = |conn: &Tx| -> Vec<(String, String)> {
            current(conn, &["unit:a".to_owned()])
                .expect("current")
                .into_iter()
                .map(|(_, id, _, data)| (id, data))
                .collect()
        };
        let before = texts(&conn);
        assert_eq!(
            before,
            vec![
                ("1".to_owned(), r#"{"v":"again"}"#.to_owned()),
                ("2".to_owned(), r#"{"v":2}"#.to_owned())
            ]
        );
        // Every change but the newest goes: the entity whose text was in one keeps it.
        assert_eq!(prune(&conn, "9999-01-01T00:00:00Z").expect("prune"), 2);
        assert_eq!((own("1"), own("2")), (None, Some(r#"{"v":2}"#.to_owned())));
        assert_eq!(texts(&conn), before);
        // Put again, its text is the new change's and the kept one goes.
        put(
            &conn,
            g,
            "unit:a",
            "subject",
            "2",
            &serde_json::json!({"v": 3}),
        )
        .expect("edit");
        assert_eq!(own("2"), None);
        assert_eq!(texts(&conn)[1].1, r#"{"v":3}"#);
        let (stored, recount) = stored_and_recounted(&conn, "unit:a");
        assert_eq!(stored, recount);
    }

    #[test]
    fn incremental_scope_sums_equal_a_recount_after_puts_moves_and_removes() {
        let (_dir, conn) = fresh();
        let g = Group::new();
        for i in 0..20 {
            put(
                &conn,
                g,
                "unit:a",
                "subject",
                &i.to_string(),
                &serde_json::json!({"v": i}),
            )
            .expect("put");
        }
        put(
            &conn,
            g,
            "unit:a",
            "subject",
            "3",
            &serde_json::json!({"v": "changed"}),
        )
        .expect("edit");
        put(
            &conn,
            g,
            "unit:b",
            "subject",
            "4",
            &serde_json::json!({"v": 4}),
        )
        .expect("move");
        remove(&conn, g, "subject", "5").expect("remove");
        remove(&conn, g, "subject", "nothing").expect("no-op");
        for scope in ["unit:a", "unit:b"] {
            let (stored, recount) = stored_and_recounted(&conn, scope);
            assert_eq!(stored, recount, "{scope}");
        }
        // The move left a remove in the old scope.
        let removes: i64 = conn
            .query_row(
                "SELECT count(*) FROM changes WHERE scope = 'unit:a' AND op = 'remove'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(removes, 2);
    }
}

//! Migrations: `migrations/NNNN_name.sql`, embedded in the binary, applied in order at open. An
//! applied migration is recorded with a checksum; if its file later differs, opening fails rather
//! than running on a schema nobody wrote down.

use std::path::Path;

use rusqlite::Connection;

use crate::{StoreError, Tx, now_text, sha256_hex};

/// PostgreSQL's migrations (version, name, SQL): the schema of SQLite's first 19 in one step, then
/// the same numbers as SQLite's (decision 0028).
pub const PG_MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        19,
        "schema",
        include_str!("../../../migrations/postgres/0019_schema.sql"),
    ),
    (
        20,
        "shared_state",
        include_str!("../../../migrations/postgres/0020_shared_state.sql"),
    ),
    (
        21,
        "index_order",
        include_str!("../../../migrations/postgres/0021_index_order.sql"),
    ),
    (
        22,
        "entity_text_once",
        include_str!("../../../migrations/postgres/0022_entity_text_once.sql"),
    ),
];

/// The advisory lock nodes take while they migrate (session-level: a node killed while it holds
/// it releases it with its connection).
const PG_MIGRATE_LOCK: i64 = 0x6c74_6d69_6772_6174; // "ltmigrat"

/// Applies PostgreSQL's pending migrations under an advisory lock, so that nodes starting together
/// apply each once: the second waits, then finds nothing to do.
pub(crate) fn apply_pg(conn: &Tx) -> Result<Vec<u32>, StoreError> {
    conn.query_row("SELECT pg_advisory_lock(?1)", [PG_MIGRATE_LOCK], |_| Ok(()))?;
    let done = apply_pg_locked(conn);
    let unlocked = conn.query_row("SELECT pg_advisory_unlock(?1)", [PG_MIGRATE_LOCK], |_| {
        Ok(())
    });
    let done = done?;
    unlocked?;
    Ok(done)
}

fn apply_pg_locked(conn: &Tx) -> Result<Vec<u32>, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    let applied: Vec<(u32, String)> = conn
        .prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::db::Result<_>>()?;
    check_applied(PG_MIGRATIONS, &applied)?;
    let mut done = Vec::new();
    for (version, name, sql) in PG_MIGRATIONS {
        if applied.iter().any(|(v, _)| v == version) {
            continue;
        }
        conn.execute_batch("BEGIN")?;
        let applied = conn
            .execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("migration {version} ({name}) failed: {e}")))
            .and_then(|()| {
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                    crate::db::params![version, name, sha256_hex(sql.as_bytes()), now_text()],
                )?;
                Ok(conn.execute_batch("COMMIT")?)
            });
        if let Err(e) = applied {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        done.push(*version);
    }
    Ok(done)
}

/// Refuses a database whose applied migrations this binary does not know, or knows differently.
fn check_applied(known: &[(u32, &str, &str)], applied: &[(u32, String)]) -> Result<(), StoreError> {
    for (version, checksum) in applied {
        match known.iter().find(|(v, _, _)| v == version) {
            None => {
                return Err(StoreError::Migration(format!(
                    "the database has migration {version}, which this binary does not know: it is newer than this binary"
                )));
            }
            Some((_, name, sql)) if sha256_hex(sql.as_bytes()) != *checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {version} ({name}) was edited after it was applied; add a new migration instead"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// (version, name, SQL).
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/0001_foundation.sql"),
    ),
    (2, "sync", include_str!("../../../migrations/0002_sync.sql")),
    (
        3,
        "media",
        include_str!("../../../migrations/0003_media.sql"),
    ),
    (4, "geo", include_str!("../../../migrations/0004_geo.sql")),
    (
        5,
        "review",
        include_str!("../../../migrations/0005_review.sql"),
    ),
    (
        6,
        "assessment",
        include_str!("../../../migrations/0006_assessment.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../../migrations/0007_alerts.sql"),
    ),
    (
        8,
        "rectification_clock",
        include_str!("../../../migrations/0008_rectification_clock.sql"),
    ),
    (
        9,
        "later_verdicts",
        include_str!("../../../migrations/0009_later_verdicts.sql"),
    ),
    (
        10,
        "ledger_dates",
        include_str!("../../../migrations/0010_ledger_dates.sql"),
    ),
    (
        11,
        "alert_events",
        include_str!("../../../migrations/0011_alert_events.sql"),
    ),
    (
        12,
        "install_credentials",
        include_str!("../../../migrations/0012_install_credentials.sql"),
    ),
    (
        13,
        "incident_photos",
        include_str!("../../../migrations/0013_incident_photos.sql"),
    ),
    (
        14,
        "console_sessions",
        include_str!("../../../migrations/0014_console_sessions.sql"),
    ),
    (
        15,
        "queue_indexes",
        include_str!("../../../migrations/0015_queue_indexes.sql"),
    ),
    (
        16,
        "user_lifecycle",
        include_str!("../../../migrations/0016_user_lifecycle.sql"),
    ),
    (
        17,
        "webhooks",
        include_str!("../../../migrations/0017_webhooks.sql"),
    ),
    (
        18,
        "ledger_indexes",
        include_str!("../../../migrations/0018_ledger_indexes.sql"),
    ),
    (
        19,
        "photo_checks",
        include_str!("../../../migrations/0019_photo_checks.sql"),
    ),
    (
        20,
        "shared_state",
        include_str!("../../../migrations/0020_shared_state.sql"),
    ),
    (
        21,
        "index_order",
        include_str!("../../../migrations/0021_index_order.sql"),
    ),
    (
        22,
        "entity_text_once",
        include_str!("../../../migrations/0022_entity_text_once.sql"),
    ),
];

/// Applies pending migrations; returns the versions applied now (empty when up to date).
pub(crate) fn apply(conn: &mut Connection) -> Result<Vec<u32>, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_at TEXT NOT NULL
        ) STRICT;",
    )?;
    let applied: Vec<(u32, String)> = {
        let mut stmt =
            conn.prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    check_applied(MIGRATIONS, &applied)?;
    // A migration may rebuild a table (SQLite's way to change a constraint), which needs foreign keys
    // off while it runs; they are checked before each commit and turned back on after.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let done = apply_pending(conn, &applied);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    done
}

fn apply_pending(conn: &mut Connection, applied: &[(u32, String)]) -> Result<Vec<u32>, StoreError> {
    let mut done = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if applied.iter().any(|(v, _)| v == version) {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Migration(format!("migration {version} ({name}) failed: {e}"))
        })?;
        let orphans: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if orphans > 0 {
            return Err(StoreError::Migration(format!(
                "migration {version} ({name}) left {orphans} rows whose foreign keys point nowhere"
            )));
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![version, name, sha256_hex(sql.as_bytes()), now_text()],
        )?;
        tx.commit()?;
        done.push(*version);
    }
    Ok(done)
}

/// Applies pending migrations to the store's database, SQLite's file or PostgreSQL (for
/// `lantian migrate`); returns the versions applied.
pub fn migrate(config: &crate::StoreConfig) -> Result<Vec<u32>, StoreError> {
    match &config.database_url {
        None => migrate_file(&config.path),
        Some(url) => std::thread::scope(|s| {
            s.spawn(|| {
                let conn = Tx::postgres(crate::db::pg::connect(url)?);
                apply_pg(&conn)
            })
            .join()
            .map_err(|_| StoreError::Database("migrating panicked".into()))?
        }),
    }
}

/// Applies pending migrations to the database file at `path`.
pub fn migrate_file(path: &Path) -> Result<Vec<u32>, StoreError> {
    crate::conn::ensure_parent_dir(path)?;
    let mut conn = crate::conn::open(path, false)?;
    apply(&mut conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_applied_twice_are_a_no_op() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let all: Vec<u32> = MIGRATIONS.iter().map(|(v, ..)| *v).collect();
        assert_eq!(all, (1..=all.len() as u32).collect::<Vec<_>>());
        assert_eq!(migrate_file(&path).expect("first"), all);
        assert!(migrate_file(&path).expect("second").is_empty());
    }

    #[test]
    fn migration_22_leaves_out_each_entity_text_its_change_holds_and_keeps_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
             checksum TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT",
        )
        .expect("table");
        for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v < 22) {
            conn.execute_batch(sql).expect("migration");
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, ?3, 'then')",
                rusqlite::params![version, name, sha256_hex(sql.as_bytes())],
            )
            .expect("record");
        }
        // Entities as the previous release wrote them: each with its text. The third's change
        // was pruned.
        conn.execute_batch(
            r#"INSERT INTO changes (seq, grp, scope, entity, entity_id, op, data, at) VALUES
                 (1, 1, 'unit:a', 'subject', 'x', 'put', '{"v":1}', 'then'),
                 (2, 1, 'unit:a', 'subject', 'y', 'put', '{"v":2}', 'then');
               INSERT INTO entities (id, entity, entity_id, scope, data, hash, seq) VALUES
                 (10, 'subject', 'x', 'unit:a', '{"v":1}', 11, 1),
                 (11, 'subject', 'y', 'unit:a', '{"v":2}', 12, 2),
                 (12, 'subject', 'z', 'unit:a', '{"v":0}', 13, 0);"#,
        )
        .expect("rows");
        drop(conn);
        assert_eq!(migrate_file(&path).expect("migrate"), vec![22]);
        let conn = Connection::open(&path).expect("open");
        let rows: Vec<(i64, String, Option<String>, i64, i64)> = conn
            .prepare("SELECT id, entity_id, data, hash, seq FROM entities ORDER BY id")
            .expect("prepare")
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                (10, "x".into(), None, 11, 1),
                (11, "y".into(), None, 12, 2),
                (12, "z".into(), Some(r#"{"v":0}"#.into()), 13, 0),
            ]
        );
        let index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'entities_scope'",
                [],
                |r| r.get(0),
            )
            .expect("index");
        assert_eq!(index, 1);
    }

    #[test]
    fn an_edited_applied_migration_stops_the_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        migrate_file(&path).expect("migrate");
        let conn = Connection::open(&path).expect("open");
        conn.execute(
            "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1",
            [],
        )
        .expect("tamper");
        drop(conn);
        let err = migrate_file(&path).expect_err("edited migration must fail");
        assert!(err.to_string().contains("edited"), "{err}");
    }
}

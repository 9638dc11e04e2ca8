//! Moving a deployment from its SQLite file to PostgreSQL (`lantian copy`, decision 0028): every
//! row of every table, as stored, ids included, in one PostgreSQL transaction read from one
//! SQLite transaction that holds SQLite's write lock (a server still writing to the file makes the
//! copy refuse to start, rather than copy a state that is about to be left behind). Rows are
//! copied byte for byte, so the audit chain, every evidence seal and the sync log's numbers (the
//! phones' cursors) hold on the other side.

use std::path::Path;

use crate::db::{Arg, Col};
use crate::{StoreError, Tx};

/// Tables in an order in which every foreign key points back.
const TABLES: &[&str] = &[
    "meta",
    "units",
    "departments",
    "campaigns",
    "campaign_tasks",
    "task_departments",
    "task_units",
    "subjects",
    "checklist_templates",
    "users",
    "clients",
    "refresh_tokens",
    "audit_log",
    "audit_heads",
    "mutations",
    "changes",
    "entities",
    "scope_state",
    "inspections",
    "inspection_amendments",
    "drafts",
    "subject_proposals",
    "incidents",
    "reviews",
    "rectifications",
    "rectification_events",
    "rollups",
    "job_runs",
    "alerts",
    "alert_events",
    "install_challenges_used",
    "uploads",
    "upload_chunks",
    "photos",
    "rendition_claims",
    "photo_checks",
    "console_sessions",
    "user_moves",
    "webhooks",
    "webhook_events",
    "webhook_deliveries",
    "login_counters",
];

/// Tables whose ids the database assigns: their sequences continue after the copied rows.
const IDENTITIES: &[(&str, &str)] = &[
    ("units", "id"),
    ("departments", "id"),
    ("campaigns", "id"),
    ("campaign_tasks", "id"),
    ("subjects", "id"),
    ("checklist_templates", "id"),
    ("users", "id"),
    ("clients", "id"),
    ("refresh_tokens", "id"),
    ("audit_heads", "id"),
    ("changes", "seq"),
    ("entities", "id"),
    ("inspections", "id"),
    ("inspection_amendments", "id"),
    ("drafts", "id"),
    ("subject_proposals", "id"),
    ("incidents", "id"),
    ("reviews", "id"),
    ("rectifications", "id"),
    ("rectification_events", "id"),
    ("rollups", "id"),
    ("job_runs", "id"),
    ("alerts", "id"),
    ("alert_events", "id"),
    ("photos", "id"),
    ("console_sessions", "id"),
    ("user_moves", "id"),
    ("webhooks", "id"),
    ("webhook_events", "id"),
    ("webhook_deliveries", "id"),
];

/// What was copied.
#[derive(Debug, Clone, Default)]
pub struct Copied {
    /// (table, rows), in copy order.
    pub tables: Vec<(String, u64)>,
    /// The target held this source's rows already, from an earlier run of the copy that went no
    /// further (photos, the signing key, the check): nothing was copied again.
    pub resumed: bool,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the SQLite database at `sqlite` into the empty PostgreSQL database at `url` (migrated
/// here), calling `progress(table, rows)` after each table. Partial uploads in progress are copied
/// with their chunks read from `part_file(id)` (the file of SQLite's partial upload), up to their
/// recorded offset. A target that holds this very source's rows (an earlier run committed them
/// and stopped after: copying photos, say) is left as it is and the copy goes on from there
/// (`Copied::resumed`); any other target that holds a deployment is refused, one holding a copy
/// of an earlier state of this source (the server ran since) with `target_outdated`.
pub fn sqlite_to_postgres(
    sqlite: &Path,
    url: &str,
    part_file: impl Fn(&str) -> std::path::PathBuf + Send + Sync,
    mut progress: impl FnMut(&str, u64) + Send,
) -> Result<Copied, StoreError> {
    // The source is migrated to this binary's schema first: the tables then match column for
    // column (tests hold the two schemas equal).
    crate::migrate_file(sqlite)?;
    let config = crate::StoreConfig {
        database_url: Some(url.to_owned()),
        ..crate::StoreConfig::new(sqlite)
    };
    crate::migrate(&config)?;
    // On a plain thread: the blocking PostgreSQL client runs a runtime of its own.
    std::thread::scope(|s| {
        s.spawn(|| {
            let source = Tx::new(crate::conn::open(sqlite, false)?);
            source.execute_batch("PRAGMA busy_timeout = 0")?;
            // SQLite's write lock for the whole copy: a server still running on the file cannot
            // commit behind it (and its presence makes this fail at once).
            source.execute_batch("BEGIN IMMEDIATE").map_err(|e| {
                StoreError::Conflict(match StoreError::from(e) {
                    StoreError::Busy(_) => "sqlite_in_use",
                    _ => "sqlite_unreadable",
                })
            })?;
            let target = Tx::postgres(crate::db::pg::connect(url)?);
            let already: i64 = target.query_row(
                "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM audit_log)",
                [],
                |r| r.get(0),
            )?;
            let source_print = fingerprint(&source)?;
            if already > 0 {
                let _ = source.execute_batch("ROLLBACK");
                let copied_from: Option<String> = target
                    .prepare("SELECT value FROM meta WHERE key = ?1")?
                    .query_map([COPIED_FROM], |r| r.get(0))?
                    .next()
                    .transpose()?;
                return match copied_from {
                    Some(p) if p == source_print => Ok(Copied {
                        tables: Vec::new(),
                        resumed: true,
                    }),
                    Some(_) => Err(StoreError::Conflict("target_outdated")),
                    None => Err(StoreError::Conflict("target_not_empty")),
                };
            }
            crate::begin_write(&target)?;
            let done = copy_tables(&source, &target, &part_file, &mut progress).and_then(|c| {
                // In the same transaction as the rows: a later run knows them for this source's.
                target.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    [COPIED_FROM, source_print.as_str()],
                )?;
                Ok(c)
            });
            let _ = source.execute_batch("ROLLBACK");
            match done {
                Ok(c) => {
                    target.execute_batch("COMMIT")?;
                    Ok(c)
                }
                Err(e) => {
                    let _ = target.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .join()
        .map_err(|_| StoreError::Database("the copy panicked".into()))?
    })
}

/// The target's `meta` key that names the source its rows were copied from (`fingerprint`).
const COPIED_FROM: &str = "copy:source";

/// A digest of every row of every copied table of `source`, in each table's order, each value with
/// its type: equal only for a source in the same state (a server that ran in between, even to
/// update one row, changes it). One read of the database, without writing.
fn fingerprint(source: &Tx) -> Result<String, StoreError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for table in TABLES.iter().copied().chain(["subject_revision"]) {
        let columns = columns_of(source, table)?;
        if columns.is_empty() {
            continue;
        }
        h.update(format!("table {table} {}\n", columns.join(",")));
        // A table's own order (its rowid or primary key): the same for the same file.
        let mut select = source.prepare(&format!("SELECT {} FROM {table}", quoted(&columns)))?;
        select.for_each([], |r| {
            for i in 0..columns.len() {
                match r.get_ref(i)? {
                    Col::Null => h.update([0u8]),
                    Col::Int(v) => {
                        h.update([1u8]);
                        h.update(v.to_le_bytes());
                    }
                    Col::Real(v) => {
                        h.update([2u8]);
                        h.update(v.to_le_bytes());
                    }
                    Col::Text(s) => {
                        h.update([3u8]);
                        h.update((s.len() as u64).to_le_bytes());
                        h.update(s.as_bytes());
                    }
                    Col::Blob(b) => {
                        h.update([4u8]);
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(hex::encode(h.finalize()))
}

/// A SQLite table's columns, in order (none for a table this database does not have).
fn columns_of(source: &Tx, table: &str) -> Result<Vec<String>, StoreError> {
    Ok(source
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<crate::db::Result<_>>()?)
}

fn quoted(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn copy_tables(
    source: &Tx,
    target: &Tx,
    part_file: &dyn Fn(&str) -> std::path::PathBuf,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Copied, StoreError> {
    let mut out = Copied::default();
    // What the migrations put there (the subject revision's row) makes way for the source's.
    target.execute_batch("DELETE FROM subject_revision")?;
    for table in TABLES.iter().copied().chain(["subject_revision"]) {
        let columns = columns_of(source, table)?;
        if columns.is_empty() {
            continue;
        }
        let list = quoted(&columns);
        let marks = (1..=columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut insert =
            target.prepare(&format!("INSERT INTO {table} ({list}) VALUES ({marks})"))?;
        let mut select = source.prepare(&format!("SELECT {list} FROM {table}"))?;
        let mut rows = 0u64;
        let mut failed: Option<StoreError> = None;
        select.for_each([], |r| {
            if failed.is_some() {
                return Ok(());
            }
            let values: Vec<Col<'_>> = (0..columns.len())
                .map(|i| r.get_ref(i))
                .collect::<crate::db::Result<_>>()?;
            let args: Vec<Arg<'_>> = values.iter().map(col_arg).collect();
            let args: Vec<&dyn crate::db::ToArg> =
                args.iter().map(|a| a as &dyn crate::db::ToArg).collect();
            if let Err(e) = insert.execute(args) {
                failed = Some(StoreError::Database(format!("copying {table}: {e}")));
            }
            rows += 1;
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        out.tables.push((table.to_owned(), rows));
        progress(table, rows);
    }
    copy_partial_uploads(source, target, part_file)?;
    for (table, column) in IDENTITIES {
        target.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            [],
            |_| Ok(()),
        )?;
    }
    Ok(out)
}

/// Partial uploads in progress: on SQLite their bytes are files; on PostgreSQL, chunks.
fn copy_partial_uploads(
    source: &Tx,
    target: &Tx,
    part_file: &dyn Fn(&str) -> std::path::PathBuf,
) -> Result<(), StoreError> {
    let open: Vec<(String, i64)> = source
        .prepare(
            "SELECT id, \"offset\" FROM uploads WHERE completed_at IS NULL AND \"offset\" > 0",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::db::Result<_>>()?;
    for (id, offset) in open {
        let mut bytes = std::fs::read(part_file(&id)).unwrap_or_default();
        if bytes.len() < offset as usize {
            // The file is gone or short: the phone starts this photo again.
            target.execute("UPDATE uploads SET \"offset\" = 0 WHERE id = ?1", [&id])?;
            continue;
        }
        bytes.truncate(offset as usize);
        let mut at = 0usize;
        for piece in bytes.chunks(1024 * 1024) {
            target.execute(
                "INSERT INTO upload_chunks (upload_id, \"offset\", data) VALUES (?1, ?2, ?3)",
                crate::db::params![id, at as i64, piece],
            )?;
            at += piece.len();
        }
    }
    Ok(())
}

fn col_arg<'a>(c: &Col<'a>) -> Arg<'a> {
    match *c {
        Col::Null => Arg::Null,
        Col::Int(v) => Arg::Int(v),
        Col::Real(v) => Arg::Real(v),
        Col::Text(s) => Arg::Text(s),
        Col::Blob(b) => Arg::Blob(b),
    }
}

//! [`Tx`]: the store's handle on one transaction, the only way to its tables. Outside this crate it
//! is opaque: callers pass it to the store's typed functions and never see SQL or a connection.
//! Inside, it offers the few connection methods the store's modules use, on either engine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::db::{self, OptionalExtension, Params, Row, Stmt, pg::PgConn};

/// The engine a [`Tx`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

/// One transaction of the store: inside a write (the writer's batch, in a savepoint of its own) or
/// a read (a reader connection). Given to the closures of [`crate::Store::write`] and
/// [`crate::Store::read`]; store functions take it as their first argument.
pub struct Tx {
    conn: Conn,
    kept: RefCell<Kept>,
    /// Statements run through this handle, counted here on both engines: each run of a prepared
    /// statement and each batch (not the trigger programs inside them). What
    /// [`crate::Store::statements_run`] adds up.
    statements: Arc<AtomicU64>,
}

/// What a write transaction keeps in hand between its statements, so that it need not read back
/// what it wrote itself: the audit chain's head, and each scope's count and checksum (written once,
/// at the commit, rather than once per change: on PostgreSQL every update of the one row of a busy
/// scope is a new row version). Valid only inside a transaction begun through
/// [`Tx::execute_batch`]: the writer holds the write lock (SQLite's, or PostgreSQL's advisory
/// lock) from its `BEGIN` to its end, so nothing else changes these rows meanwhile. Each savepoint
/// keeps a copy, which a `ROLLBACK TO` restores.
#[derive(Default)]
struct Kept {
    /// A transaction begun through `execute_batch` is open.
    open: bool,
    state: Figures,
    savepoints: Vec<(String, Figures)>,
    /// A batch of transaction control failed while scope checksums waited to be written: the
    /// transaction may only roll back.
    lost: bool,
}

#[derive(Default, Clone)]
struct Figures {
    audit_head: Option<(i64, String)>,
    /// Scope → (count, checksum, written yet).
    scopes: HashMap<String, (i64, i64, bool)>,
}

impl Figures {
    fn unwritten(&self) -> bool {
        self.scopes.values().any(|(_, _, written)| !written)
    }
}

/// One statement of transaction control, as [`Tx::execute_batch`] sees it.
enum Control<'a> {
    Begin,
    /// `COMMIT`, `END` or a whole `ROLLBACK`.
    End,
    Savepoint(&'a str),
    Release(&'a str),
    RollbackTo(&'a str),
}

fn control(statement: &str) -> Option<Control<'_>> {
    let mut words = statement.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    let mut name = |skip: &str| {
        let w = words.next()?;
        if w.eq_ignore_ascii_case(skip) {
            words.next()
        } else {
            Some(w)
        }
    };
    match first.as_str() {
        "BEGIN" => Some(Control::Begin),
        "COMMIT" | "END" => Some(Control::End),
        "SAVEPOINT" => name("").map(Control::Savepoint),
        "RELEASE" => name("SAVEPOINT").map(Control::Release),
        "ROLLBACK" => match name("TRANSACTION") {
            Some(w) if w.eq_ignore_ascii_case("TO") => name("SAVEPOINT").map(Control::RollbackTo),
            _ => Some(Control::End),
        },
        _ => None,
    }
}

/// Whether the statement ends the transaction by committing it.
fn commits(statement: &str) -> bool {
    statement
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("COMMIT") || w.eq_ignore_ascii_case("END"))
}

impl Tx {
    pub(crate) fn new(conn: rusqlite::Connection) -> Tx {
        Tx {
            conn: Conn::Sqlite(conn),
            kept: RefCell::default(),
            statements: Arc::default(),
        }
    }

    pub(crate) fn postgres(conn: PgConn) -> Tx {
        Tx {
            conn: Conn::Postgres(Box::new(conn)),
            kept: RefCell::default(),
            statements: Arc::default(),
        }
    }

    /// Counts this handle's statements into `counter` (shared by a store's connections).
    pub(crate) fn counting_into(mut self, counter: Arc<AtomicU64>) -> Tx {
        self.statements = counter;
        self
    }

    /// The audit chain's head as this transaction last wrote or read it, if kept.
    pub(crate) fn kept_audit_head(&self) -> Option<(i64, String)> {
        let k = self.kept.borrow();
        if k.open {
            k.state.audit_head.clone()
        } else {
            None
        }
    }

    /// Keeps the audit chain's head (no-op outside a transaction begun here).
    pub(crate) fn keep_audit_head(&self, seq: i64, hash: &str) {
        let mut k = self.kept.borrow_mut();
        if k.open {
            k.state.audit_head = Some((seq, hash.to_owned()));
        }
    }

    /// A scope's count and checksum as this transaction last read or changed them, if kept.
    pub(crate) fn kept_scope(&self, scope: &str) -> Option<(i64, i64)> {
        let k = self.kept.borrow();
        if !k.open {
            return None;
        }
        k.state.scopes.get(scope).map(|(c, s, _)| (*c, *s))
    }

    /// Keeps a scope's count and checksum as read (`written`) or as changed and still to be
    /// written at the commit. Returns false outside a transaction begun here: the caller writes.
    pub(crate) fn keep_scope(&self, scope: &str, count: i64, checksum: i64, written: bool) -> bool {
        let mut k = self.kept.borrow_mut();
        if !k.open {
            return false;
        }
        k.state
            .scopes
            .insert(scope.to_owned(), (count, checksum, written));
        true
    }

    /// Writes the scope checksums kept for the commit.
    fn write_kept(&self) -> db::Result<()> {
        let pending: Vec<(String, i64, i64)> = {
            let k = self.kept.borrow();
            if k.lost {
                return Err(db::Error::Unflushed);
            }
            k.state
                .scopes
                .iter()
                .filter(|(_, (_, _, written))| !written)
                .map(|(scope, (c, s, _))| (scope.clone(), *c, *s))
                .collect()
        };
        for (scope, count, checksum) in &pending {
            crate::sync::write_scope(self, scope, *count, *checksum)?;
        }
        let mut k = self.kept.borrow_mut();
        for (scope, ..) in pending {
            if let Some(e) = k.state.scopes.get_mut(&scope) {
                e.2 = true;
            }
        }
        Ok(())
    }

    /// Follows the transaction control statements of a batch that ran (`ok`) or failed.
    fn track(&self, statements: &[&str], ok: bool) {
        let mut k = self.kept.borrow_mut();
        if !ok {
            // Where the batch stopped is not known: keep nothing, and if changes were waiting to
            // be written, the transaction must not commit without them.
            let unwritten = k.state.unwritten() || k.savepoints.iter().any(|(_, s)| s.unwritten());
            if k.open && unwritten {
                k.lost = true;
            }
            k.state = Figures::default();
            k.savepoints.clear();
            // A failed BEGIN leaves no transaction; a failed COMMIT or ROLLBACK ends it.
            if statements
                .iter()
                .any(|s| matches!(control(s), Some(Control::Begin | Control::End)))
            {
                *k = Kept::default();
            }
            return;
        }
        for s in statements {
            match control(s) {
                Some(Control::Begin) => {
                    *k = Kept::default();
                    k.open = true;
                }
                Some(Control::End) => *k = Kept::default(),
                Some(Control::Savepoint(name)) => {
                    let copy = k.state.clone();
                    k.savepoints.push((name.to_owned(), copy));
                }
                Some(Control::Release(name)) => {
                    if let Some(i) = k.savepoints.iter().rposition(|(n, _)| n == name) {
                        k.savepoints.truncate(i);
                    }
                }
                Some(Control::RollbackTo(name)) => {
                    if let Some(i) = k.savepoints.iter().rposition(|(n, _)| n == name) {
                        k.savepoints.truncate(i + 1);
                        k.state = k.savepoints[i].1.clone();
                    }
                }
                None => {}
            }
        }
    }

    pub(crate) fn into_sqlite(self) -> Option<rusqlite::Connection> {
        match self.conn {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    /// Which engine this transaction runs on.
    pub fn engine(&self) -> Engine {
        match self.conn {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// The text of a statement that the two engines spell differently.
    pub(crate) fn dialect<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self.conn {
            Conn::Sqlite(_) => sqlite,
            Conn::Postgres(_) => postgres,
        }
    }

    /// A statement prepared once per connection and kept.
    pub(crate) fn prepare_cached(&self, sql: &str) -> db::Result<Stmt<'_>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Stmt::sqlite(c.prepare_cached(sql)?, &self.statements)),
            Conn::Postgres(c) => Ok(Stmt::postgres(
                c,
                c.prepare(sql).map_err(|e| db::Error::InStatement {
                    sql: sql.into(),
                    error: Box::new(e),
                })?,
                sql,
                &self.statements,
            )),
        }
    }

    /// A statement used rarely (kept all the same: both engines' caches are bounded).
    pub(crate) fn prepare(&self, sql: &str) -> db::Result<Stmt<'_>> {
        self.prepare_cached(sql)
    }

    pub(crate) fn execute<P: Params>(&self, sql: &str, params: P) -> db::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Statements without parameters: transaction control, savepoints, DDL. What a transaction
    /// keeps in hand follows its savepoints here, and is written before its commit.
    pub(crate) fn execute_batch(&self, sql: &str) -> db::Result<()> {
        let statements: Vec<&str> = sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if statements.iter().any(|s| commits(s))
            && self.kept.borrow().open
            && let Err(e) = self.write_kept()
        {
            // Nothing was sent: the transaction is still open, and may only roll back.
            self.kept.borrow_mut().lost = true;
            return Err(e);
        }
        // A batch counts once: one call to the database, as PostgreSQL's simple query is.
        self.statements.fetch_add(1, Ordering::Relaxed);
        let ran = match &self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(db::Error::from),
            Conn::Postgres(c) => c.batch(sql),
        };
        self.track(&statements, ran.is_ok());
        ran
    }

    pub(crate) fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> db::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> db::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// The id of the row the last INSERT of this connection made (for a table whose id the
    /// database assigns): SQLite's `last_insert_rowid`, PostgreSQL's `lastval()`.
    pub(crate) fn last_insert_rowid(&self) -> db::Result<i64> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(c.last_insert_rowid()),
            Conn::Postgres(_) => self.query_row("SELECT lastval()", [], |r| r.get(0)),
        }
    }

    /// Runs an `INSERT` of one row that ends in `RETURNING id`, where `id` is the table's integer
    /// key, and gives that id (`None`: an `ON CONFLICT … DO NOTHING` inserted nothing).
    ///
    /// SQLite runs the statement without its `RETURNING` and reads `last_insert_rowid`: it
    /// implements `RETURNING` as a trigger, and a statement with a trigger that may abort opens a
    /// statement journal, into which every page it changes is copied first. On the push path that
    /// was a fifth of the writer's time (docs/performance.md, "Statement journals"). PostgreSQL
    /// runs the statement as written.
    pub(crate) fn insert_id<P: Params>(&self, sql: &str, params: P) -> db::Result<Option<i64>> {
        match &self.conn {
            Conn::Sqlite(c) => {
                let plain = sql
                    .rfind("RETURNING")
                    .filter(|&at| sql[..at].ends_with(char::is_whitespace))
                    .map_or(sql, |at| sql[..at].trim_end());
                let inserted =
                    Stmt::sqlite(c.prepare_cached(plain)?, &self.statements).execute(params)?;
                Ok((inserted > 0).then(|| c.last_insert_rowid()))
            }
            Conn::Postgres(_) => self
                .prepare_cached(sql)?
                .query_row(params, |r| r.get(0))
                .optional(),
        }
    }

    /// Begins a read transaction (one snapshot for several queries) on a reader connection; it
    /// ends when the guard is committed or dropped.
    pub(crate) fn begin_read(&self) -> db::Result<ReadTx<'_>> {
        self.execute_batch(self.dialect(
            "BEGIN DEFERRED",
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ))?;
        Ok(ReadTx {
            tx: self,
            open: true,
        })
    }

    /// Whether the connection is in a transaction (a failed commit may have left one open).
    pub(crate) fn in_transaction(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(c) => !c.is_autocommit(),
            // After a failed COMMIT PostgreSQL has ended the transaction; a ROLLBACK outside one
            // is only a warning, so the writer always sends it.
            Conn::Postgres(_) => true,
        }
    }

    /// The connection was lost (PostgreSQL restarted, failed over, or the network cut it).
    pub(crate) fn is_broken(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c.is_closed(),
        }
    }

    /// The connection, for tests that plant a state or tamper with a row behind the server's
    /// back (in SQL both engines take). Only with the `test-door` feature, which production
    /// builds do not enable.
    #[cfg(feature = "test-door")]
    pub fn raw(&self) -> Raw<'_> {
        Raw(self)
    }
}

/// The connection of a [`Tx`] as tests use it (`test-door` feature).
#[cfg(feature = "test-door")]
pub struct Raw<'a>(&'a Tx);

#[cfg(feature = "test-door")]
impl<'a> Raw<'a> {
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> db::Result<usize> {
        self.0.execute(sql, params)
    }

    pub fn execute_batch(&self, sql: &str) -> db::Result<()> {
        self.0.execute_batch(sql)
    }

    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> db::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> db::Result<T>,
    {
        self.0.query_row(sql, params, f)
    }

    pub fn prepare(&self, sql: &str) -> db::Result<Stmt<'a>> {
        self.0.prepare(sql)
    }

    pub fn engine(&self) -> Engine {
        self.0.engine()
    }
}

/// A read transaction begun by [`Tx::begin_read`]; rolled back when dropped unfinished.
pub(crate) struct ReadTx<'a> {
    tx: &'a Tx,
    open: bool,
}

impl ReadTx<'_> {
    pub(crate) fn commit(mut self) -> db::Result<()> {
        self.open = false;
        self.tx.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for ReadTx<'_> {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        self.tx
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.tx.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_gives_its_new_key_and_a_conflict_that_inserted_nothing_gives_none() {
        let conn = Tx::new(rusqlite::Connection::open_in_memory().expect("open"));
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
            .expect("table");
        let insert = "INSERT INTO t (name) VALUES (?1) ON CONFLICT (name) DO NOTHING RETURNING id";
        assert_eq!(conn.insert_id(insert, ["a"]).expect("a"), Some(1));
        assert_eq!(conn.insert_id(insert, ["b"]).expect("b"), Some(2));
        assert_eq!(conn.insert_id(insert, ["a"]).expect("again"), None);
        // `RETURNING` on a line of its own.
        let spelled = "INSERT INTO t (name) VALUES (?1)\n             RETURNING id";
        assert_eq!(conn.insert_id(spelled, ["c"]).expect("c"), Some(3));
        // A failed insert is an error, not an id.
        assert!(conn.insert_id(insert, [None::<&str>]).is_err());
    }

    #[test]
    fn every_statement_run_counts_once_and_a_trigger_inside_one_does_not() {
        let counter = Arc::new(AtomicU64::new(0));
        let conn = Tx::new(rusqlite::Connection::open_in_memory().expect("open"))
            .counting_into(Arc::clone(&counter));
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE log (name TEXT NOT NULL);
             CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.name); END",
        )
        .expect("schema");
        assert_eq!(counter.load(Ordering::Relaxed), 1);
        for name in ["a", "b"] {
            conn.execute("INSERT INTO t (name) VALUES (?1)", [name])
                .expect("insert");
        }
        conn.insert_id("INSERT INTO t (name) VALUES (?1) RETURNING id", ["c"])
            .expect("insert c");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM log ORDER BY name")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(names, ["a", "b", "c"]);
        let found = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .expect("count");
        assert_eq!(found, 3);
        // One batch made the tables; three inserts (their triggers not counted), two reads.
        assert_eq!(counter.load(Ordering::Relaxed), 6);
    }
}

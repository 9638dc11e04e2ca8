//! [`Tx`]: the store's handle on one transaction, the only way to its tables. Outside this crate it
//! is opaque: callers pass it to the store's typed functions and never see SQL or a connection.
//! Inside, it offers the few connection methods the store's modules use, on either engine.

use crate::db::{self, Params, Row, Stmt, pg::PgConn};

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
}

impl Tx {
    pub(crate) fn new(conn: rusqlite::Connection) -> Tx {
        Tx {
            conn: Conn::Sqlite(conn),
        }
    }

    pub(crate) fn postgres(conn: PgConn) -> Tx {
        Tx {
            conn: Conn::Postgres(Box::new(conn)),
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
            Conn::Sqlite(c) => Ok(Stmt::sqlite(c.prepare_cached(sql)?)),
            Conn::Postgres(c) => Ok(Stmt::postgres(
                c,
                c.prepare(sql).map_err(|e| db::Error::InStatement {
                    sql: sql.into(),
                    error: Box::new(e),
                })?,
                sql,
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

    /// Statements without parameters: transaction control, savepoints, DDL.
    pub(crate) fn execute_batch(&self, sql: &str) -> db::Result<()> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.batch(sql),
        }
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

//! [`Tx`]: the store's handle on one transaction, the only way to its tables. Outside this crate it
//! is opaque: callers pass it to the store's typed functions and never see SQL or a connection.
//! Inside, it offers the few connection methods the store's modules use.

use rusqlite::{CachedStatement, Connection, Params, Row, Statement};

/// One transaction of the store: inside a write (the writer's batch, in a savepoint of its own) or
/// a read (a reader connection). Given to the closures of [`crate::Store::write`] and
/// [`crate::Store::read`]; store functions take it as their first argument.
pub struct Tx {
    conn: Connection,
}

impl Tx {
    pub(crate) fn new(conn: Connection) -> Tx {
        Tx { conn }
    }

    pub(crate) fn into_inner(self) -> Connection {
        self.conn
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn prepare_cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>> {
        self.conn.prepare_cached(sql)
    }

    pub(crate) fn prepare(&self, sql: &str) -> rusqlite::Result<Statement<'_>> {
        self.conn.prepare(sql)
    }

    pub(crate) fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.execute(sql, params)
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.execute_batch(sql)
    }

    pub(crate) fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.conn.query_row(sql, params, f)
    }

    /// Begins a read transaction (one snapshot for several queries) on a reader connection; it
    /// ends when the guard is committed or dropped.
    pub(crate) fn begin_read(&self) -> rusqlite::Result<ReadTx<'_>> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        Ok(ReadTx {
            tx: self,
            open: true,
        })
    }

    pub(crate) fn last_insert_rowid(&self) -> i64 {
        self.conn.last_insert_rowid()
    }

    /// The connection itself, for tests that plant a state or tamper with a row behind the
    /// server's back. Only with the `test-door` feature, which production builds do not enable.
    #[cfg(feature = "test-door")]
    pub fn raw(&self) -> &Connection {
        &self.conn
    }
}

/// A read transaction begun by [`Tx::begin_read`]; rolled back when dropped unfinished.
pub(crate) struct ReadTx<'a> {
    tx: &'a Tx,
    open: bool,
}

impl ReadTx<'_> {
    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
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

//! The two database engines behind one small interface: statements with `?N` parameters, rows read
//! by column index, savepoints and transactions as SQL. The store's modules are written once
//! against it; what differs per engine lives in its modules `sqlite` and `pg` (opening a connection,
//! binding a value, reading a column, the few statements that need another spelling).
//!
//! The SQL the modules write is the common subset of SQLite and PostgreSQL (decision 0028): `?N`
//! parameters (turned into `$N` for PostgreSQL), `RETURNING`, `ON CONFLICT`, `IS DISTINCT FROM`,
//! `CASE`, `coalesce`, `substr`, `CAST(... AS BIGINT)`, integers for flags, RFC 3339 text for times.
//! A statement that cannot be written in that subset picks its text with `Tx::dialect`.

pub(crate) mod pg;
pub(crate) mod sqlite;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// An error of either engine, or a column the code cannot read.
#[derive(Debug)]
pub enum Error {
    /// A query that must return a row returned none.
    NoRows,
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// A column that holds something the code cannot read back (corrupt data, or a type mismatch).
    Column {
        index: usize,
        message: String,
    },
    /// A value that cannot be bound (a number out of range).
    Bind(String),
    /// The connection is in use by an unfinished row stream of the same request (a bug).
    Reentered,
    /// A write transaction asked to commit after a statement failed in a way that lost what it
    /// kept to write at its commit (the scope checksums): it must roll back instead.
    Unflushed,
    /// A PostgreSQL error with the statement it came from (for the log, never for a client).
    InStatement {
        sql: Box<str>,
        error: Box<Error>,
    },
}

impl Error {
    /// The error itself, without the statement it came from.
    pub fn inner(&self) -> &Error {
        match self {
            Error::InStatement { error, .. } => error.inner(),
            e => e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoRows => f.write_str("query returned no rows"),
            Error::Sqlite(e) => write!(f, "{e}"),
            Error::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => write!(f, "{e}"),
            },
            Error::Column { index, message } => write!(f, "column {index}: {message}"),
            Error::Bind(m) => write!(f, "cannot bind: {m}"),
            Error::Reentered => f.write_str("connection used while it streams rows"),
            Error::Unflushed => f.write_str(
                "the transaction lost the scope checksums it was to write at its commit; not committed",
            ),
            Error::InStatement { sql, error } => {
                let short: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = short.chars().take(240).collect();
                write!(f, "{error} in: {short}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A column that holds something the code cannot read back: reported as corrupt data.
pub(crate) fn corrupt(index: usize, message: String) -> Error {
    Error::Column { index, message }
}

/// `Ok(None)` for a query that returned no row.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value bound to a parameter, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
    /// A value that has no database form (an unsigned number above `i64::MAX`); binding it fails.
    Invalid(&'static str),
}

/// Something that binds to a parameter.
pub trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.arg(),
            None => Arg::Null,
        }
    }
}

impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [u8] {
    fn arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl ToArg for Vec<u8> {
    fn arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for f64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}

impl ToArg for f32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Real(f64::from(*self))
    }
}

impl ToArg for Arg<'_> {
    fn arg(&self) -> Arg<'_> {
        *self
    }
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                Arg::Int(i64::from(*self))
            }
        }
    )*};
}
small_ints!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! big_ints {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                match i64::try_from(*self) {
                    Ok(v) => Arg::Int(v),
                    Err(_) => Arg::Invalid("an integer above i64::MAX"),
                }
            }
        }
    )*};
}
big_ints!(u64, usize, isize);

/// The parameters of one statement.
pub trait Params {
    fn args(&self) -> Vec<Arg<'_>>;
}

impl Params for [&dyn ToArg; 0] {
    fn args(&self) -> Vec<Arg<'_>> {
        Vec::new()
    }
}

impl Params for &[&dyn ToArg] {
    fn args(&self) -> Vec<Arg<'_>> {
        self.iter().map(|a| a.arg()).collect()
    }
}

impl Params for Vec<&dyn ToArg> {
    fn args(&self) -> Vec<Arg<'_>> {
        self.iter().map(|a| a.arg()).collect()
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToArg> Params for [T; $n] {
            fn args(&self) -> Vec<Arg<'_>> {
                self.iter().map(ToArg::arg).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

/// `params![a, b, c]`: parameters of different types.
#[macro_export]
#[doc(hidden)]
macro_rules! __store_params {
    () => {
        &[] as &[&dyn $crate::db::ToArg]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToArg),+] as &[&dyn $crate::db::ToArg]
    };
}
pub use crate::__store_params as params;

/// A column's value as either engine returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Col<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> Col<'a> {
    /// The text of a text column (`None` otherwise).
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Col::Text(s) => Some(s),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Col::Null => "null",
            Col::Int(_) => "integer",
            Col::Real(_) => "real",
            Col::Text(_) => "text",
            Col::Blob(_) => "blob",
        }
    }
}

/// Something a column reads into.
pub trait FromCol: Sized {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String>;
}

fn mismatch<T>(c: Col<'_>, want: &str) -> std::result::Result<T, String> {
    Err(format!("expected {want}, found {}", c.kind()))
}

impl FromCol for i64 {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Int(v) => Ok(v),
            c => mismatch(c, "an integer"),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromCol for $t {
            fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
                let v = i64::from_col(c)?;
                <$t>::try_from(v).map_err(|_| format!("{v} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
from_int!(i32, i16, u8, u16, u32, u64, usize);

impl FromCol for bool {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        Ok(i64::from_col(c)? != 0)
    }
}

impl FromCol for f64 {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Real(v) => Ok(v),
            Col::Int(v) => Ok(v as f64),
            c => mismatch(c, "a number"),
        }
    }
}

impl FromCol for String {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Text(s) => Ok(s.to_owned()),
            c => mismatch(c, "text"),
        }
    }
}

impl FromCol for Vec<u8> {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Blob(b) => Ok(b.to_vec()),
            Col::Text(s) => Ok(s.as_bytes().to_vec()),
            c => mismatch(c, "a blob"),
        }
    }
}

impl<T: FromCol> FromCol for Option<T> {
    fn from_col(c: Col<'_>) -> std::result::Result<Self, String> {
        match c {
            Col::Null => Ok(None),
            c => T::from_col(c).map(Some),
        }
    }
}

/// A column's position (from 0). Only `usize`, so that a literal `0` needs no suffix.
pub trait ColIndex {
    fn index(self) -> usize;
}

impl ColIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// The value of column `i` (from 0) as it is stored.
    pub fn get_ref(&self, i: usize) -> Result<Col<'_>> {
        match self {
            Row::Sqlite(r) => sqlite::col(r, i),
            Row::Postgres(r) => pg::col(r, i),
        }
    }

    /// Column `i` (from 0) read as `T`. The first type parameter is there so that the calls
    /// written for rusqlite (`r.get::<_, i64>(0)`) read the same.
    pub fn get<I: ColIndex, T: FromCol>(&self, i: I) -> Result<T> {
        let i = i.index();
        let c = self.get_ref(i)?;
        T::from_col(c).map_err(|message| Error::Column { index: i, message })
    }
}

/// A prepared statement of either engine. Each run of it counts one in its transaction's counter
/// ([`crate::Store::statements_run`]).
pub struct Stmt<'c> {
    inner: StmtInner<'c>,
    runs: &'c AtomicU64,
}

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c pg::PgConn,
        stmt: postgres::Statement,
        sql: Box<str>,
    },
}

/// A PostgreSQL error named with its statement.
fn in_statement(sql: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Postgres(_) => Error::InStatement {
            sql: sql.into(),
            error: Box::new(e),
        },
        e => e,
    }
}

impl<'c> Stmt<'c> {
    pub(crate) fn sqlite(s: rusqlite::CachedStatement<'c>, runs: &'c AtomicU64) -> Stmt<'c> {
        Stmt {
            inner: StmtInner::Sqlite(s),
            runs,
        }
    }

    pub(crate) fn postgres(
        conn: &'c pg::PgConn,
        stmt: postgres::Statement,
        sql: &str,
        runs: &'c AtomicU64,
    ) -> Stmt<'c> {
        Stmt {
            inner: StmtInner::Postgres {
                conn,
                stmt,
                sql: sql.into(),
            },
            runs,
        }
    }

    fn count(&self) {
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs the statement; returns how many rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let args = params.args();
        self.count();
        match &mut self.inner {
            StmtInner::Sqlite(s) => Ok(s.execute(sqlite::bind(&args)?.as_slice())?),
            StmtInner::Postgres { conn, stmt, sql } => {
                conn.execute(stmt, &args).map_err(in_statement(sql))
            }
        }
    }

    /// The first row, read by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let args = params.args();
        self.count();
        match &mut self.inner {
            StmtInner::Sqlite(s) => {
                let mut rows = s.query(sqlite::bind(&args)?.as_slice())?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(Error::NoRows),
                }
            }
            StmtInner::Postgres { conn, stmt, sql } => {
                let row = conn
                    .query_opt(stmt, &args)
                    .map_err(in_statement(sql))?
                    .ok_or(Error::NoRows)?;
                f(&Row::Postgres(&row))
            }
        }
    }

    /// Every row, each read by `f`.
    pub fn query_map<T, P, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let args = params.args();
        self.count();
        let mut out = Vec::new();
        match &mut self.inner {
            StmtInner::Sqlite(s) => {
                let mut rows = s.query(sqlite::bind(&args)?.as_slice())?;
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
            }
            StmtInner::Postgres { conn, stmt, sql } => {
                for r in conn.query(stmt, &args).map_err(in_statement(sql))? {
                    out.push(f(&Row::Postgres(&r)));
                }
            }
        }
        Ok(out.into_iter())
    }

    /// Every row, read by `f` as it arrives (a table of any size in bounded memory). `f` must not
    /// use the connection: on PostgreSQL the rows are streaming from it.
    pub fn for_each<P, F>(&mut self, params: P, mut f: F) -> Result<()>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<()>,
    {
        let args = params.args();
        self.count();
        match &mut self.inner {
            StmtInner::Sqlite(s) => {
                let mut rows = s.query(sqlite::bind(&args)?.as_slice())?;
                while let Some(r) = rows.next()? {
                    f(&Row::Sqlite(r))?;
                }
                Ok(())
            }
            StmtInner::Postgres { conn, stmt, sql } => conn
                .for_each(stmt, &args, |r| f(&Row::Postgres(r)))
                .map_err(in_statement(sql)),
        }
    }

    /// Whether the statement returns a row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

/// SQLite's rendering of a value in `json_array(...)`, which the evidence seals were computed with
/// (and keep being: the seals of rows written on SQLite must check on PostgreSQL after a copy). The
/// text is built here from the column values, the same on both engines.
pub(crate) fn json_array(values: &[Col<'_>]) -> String {
    let mut out = String::with_capacity(64 * values.len());
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Col::Null => out.push_str("null"),
            Col::Int(n) => out.push_str(&n.to_string()),
            Col::Real(r) => out.push_str(&sqlite::json_real(*r)),
            Col::Text(s) => sqlite::json_string(&mut out, s),
            // SQLite refuses a blob in JSON; no sealed column holds one.
            Col::Blob(_) => out.push_str("null"),
        }
    }
    out.push(']');
    out
}

//! Storage errors the HTTP layer can match without seeing SQL types.

use lantian_domain::ValidationError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A rule of the data was broken (a unique name taken, a stale version); the code is stable.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("invalid: {0}")]
    Invalid(ValidationError),
    /// Transient: the database is locked or the disk is full. Retry later.
    #[error("storage busy: {0}")]
    Busy(String),
    /// The writer has stopped (shutting down).
    #[error("store closed")]
    Closed,
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("migration: {0}")]
    Migration(String),
    #[error("io: {0}")]
    Io(String),
    #[error("database: {0}")]
    Database(String),
}

impl StoreError {
    /// Transient failures: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy(_) | StoreError::Closed)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(crate::db::Error::from(e))
    }
}

impl From<crate::db::Error> for StoreError {
    fn from(e: crate::db::Error) -> Self {
        use crate::db::Error as E;
        use rusqlite::ErrorCode::*;
        match e.inner() {
            E::NoRows => StoreError::NotFound,
            E::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
                DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure => {
                    StoreError::Busy(e.to_string())
                }
                ReadOnly | CannotOpen => StoreError::Busy(e.to_string()),
                _ => StoreError::Database(e.to_string()),
            },
            E::Column { .. } => StoreError::Corrupt(e.to_string()),
            E::Postgres(pg) => match pg.code() {
                // Transient by its SQLSTATE class: a serialization failure or deadlock (40),
                // too many connections, a full disk or out of memory (53), the server shutting
                // down or failing over (57P), the connection lost (08).
                // Text PostgreSQL cannot hold (a NUL character, which SQLite keeps): what a client
                // sent is refused, as any other invalid value is.
                Some(code) if code.code() == "22021" => StoreError::Invalid(ValidationError::new(
                    "text_invalid",
                    "",
                    "text must not contain the NUL character",
                )),
                Some(code) => {
                    let c = code.code();
                    if c.starts_with("40")
                        || c.starts_with("53")
                        || c.starts_with("57P")
                        || c.starts_with("08")
                        || c == "25006"
                    {
                        StoreError::Busy(e.to_string())
                    } else {
                        StoreError::Database(e.to_string())
                    }
                }
                // No SQLSTATE: the connection itself failed (closed, refused, timed out).
                None => StoreError::Busy(e.to_string()),
            },
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<ValidationError> for StoreError {
    fn from(e: ValidationError) -> Self {
        StoreError::Invalid(e)
    }
}

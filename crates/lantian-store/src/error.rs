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
        use rusqlite::ErrorCode::*;
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure => {
                    StoreError::Busy(e.to_string())
                }
                ReadOnly | CannotOpen => StoreError::Busy(e.to_string()),
                _ => StoreError::Database(e.to_string()),
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

//! [`AppError`]: what an operation answers when it does not succeed. The code is one of the stable
//! codes of `lantian_protocol::error`; an adapter renders it (HTTP as the JSON error shape, the
//! console as a page, the CLI as a line).

use lantian_domain::ValidationError;
use lantian_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{code}{}{}",
    detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
    note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
)]
pub struct AppError {
    /// A code of the protocol's error table (`not_found`, `forbidden`, `validation_failed`, ...).
    pub code: &'static str,
    pub field: Option<String>,
    /// A finer machine code (e.g. the validation rule broken).
    pub detail: Option<String>,
    /// Human text appended to the table's message.
    pub note: Option<String>,
    /// For transient failures: when to try again, seconds.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            field: None,
            detail: None,
            note: None,
            retry_after: None,
        }
    }
    pub fn not_found() -> Self {
        Self::new("not_found")
    }
    pub fn forbidden() -> Self {
        Self::new("forbidden")
    }
    pub fn internal() -> Self {
        Self::new("internal")
    }
    /// A malformed input field (`bad_request` on `field`).
    pub fn bad_request(field: &str) -> Self {
        Self::new("bad_request").field(field)
    }
    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.note = Some(n.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        AppError::new("validation_failed")
            .field(e.field)
            .detail(e.code)
            .note(e.message)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::not_found(),
            StoreError::Conflict("version_conflict") => AppError::new("version_conflict"),
            StoreError::Conflict(code) => AppError::new("conflict").detail(code),
            StoreError::Invalid(v) => v.into(),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "transient storage failure");
                AppError::new("unavailable").retry_after(2)
            }
            e => {
                // Logged with its cause; callers see only the code (5xx never leak internals).
                tracing::error!(error = %e, "storage failure");
                AppError::internal()
            }
        }
    }
}

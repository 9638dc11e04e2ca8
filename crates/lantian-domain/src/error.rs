//! Validation failures of domain values, with a stable machine code.

/// A domain value that breaks a rule. `code` is stable and snake_case; the HTTP layer maps it to the
/// `validation_failed` error with this code as the detail, and the CLI prints it next to a line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({code})")]
pub struct ValidationError {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

//! Reference data on the wire: subjects as clients write them, and paged listings.

use lantian_domain::subject::Subject;
pub use lantian_domain::subject::SubjectFields;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectPage {
    pub items: Vec<Subject>,
    /// Opaque; pass as `cursor` for the next page. Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
}

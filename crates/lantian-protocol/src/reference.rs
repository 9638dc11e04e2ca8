//! Reference data on the wire: subjects as clients write them, and paged listings.

use lantian_domain::ValidationError;
use lantian_domain::subject::{GeoPoint, Subject, SubjectAttributes, SubjectDraft, SubjectKind};
use serde::{Deserialize, Serialize};

/// The editable fields of a subject, for `POST /v1/subjects` and `PUT /v1/subjects/{id}` (whose
/// expected version comes in `If-Match`). Server-owned fields (id, version, times) are not
/// accepted: a payload naming them is refused as an unknown field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFields {
    pub name: String,
    /// Code of the responsible unit.
    pub unit: String,
    pub kind: SubjectKind,
    /// Type-specific attributes; their shape depends on `kind`.
    #[serde(default = "empty_object")]
    pub attributes: serde_json::Value,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    #[serde(default)]
    pub geometry: Option<serde_json::Value>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl SubjectFields {
    /// Reads the attributes as the shape `kind` requires and validates the whole subject.
    pub fn into_draft(self) -> Result<SubjectDraft, ValidationError> {
        let attributes: SubjectAttributes = serde_json::from_value(serde_json::json!({
            "kind": self.kind,
            "attributes": self.attributes,
        }))
        .map_err(|e| ValidationError::new("attributes_invalid", "attributes", e.to_string()))?;
        let draft = SubjectDraft {
            name: self.name,
            unit: self.unit,
            attributes,
            location: self.location,
            geometry: self.geometry,
        };
        draft.validate()?;
        Ok(draft)
    }
}

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

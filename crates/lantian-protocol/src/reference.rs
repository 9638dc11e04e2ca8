//! Reference data on the wire: subjects as clients write them, and paged listings.

use lantian_domain::subject::Subject;
pub use lantian_domain::subject::SubjectFields;
use serde::{Deserialize, Serialize};

/// `GET /v1/subjects?kind&unit&q&cursor&limit`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    pub kind: Option<String>,
    pub unit: Option<String>,
    /// Case-insensitive substring of the name, plate number, project or road name.
    pub q: Option<String>,
    /// An attribute and its value, `name:value` (`grade:b`, `approval_status:approved`,
    /// `linear:true`).
    pub attr: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
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

/// `GET /v1/subjects/nearby`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearbyQuery {
    pub lat: f64,
    pub lon: f64,
    pub datum: Option<lantian_domain::geo::Datum>,
    /// Metres; default 300, at most 5000.
    pub radius: Option<f64>,
    pub limit: Option<u32>,
    pub kind: Option<String>,
}

/// A subject near the query point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NearbySubject {
    pub distance_m: f64,
    pub subject: Subject,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NearbyPage {
    /// The query point as WGS-84 (converted from `datum`).
    pub wgs84: [f64; 2],
    pub items: Vec<NearbySubject>,
}

//! Review, rectification, assessment and alerts as the API reads and writes them.

use chrono::{DateTime, Utc};
use lantian_domain::inspection::InspectionView;
use lantian_domain::media::RenditionState;
pub use lantian_domain::rectification::QueueOrder;
use lantian_domain::rectification::{OrderView, RequestKind};
use lantian_domain::review::ReviewDecision;
use lantian_domain::subject::Subject;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /v1/review/queue`: what to narrow the queue to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    pub unit: Option<String>,
    pub kind: Option<String>,
    /// Review state (default `received`).
    pub state: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub verdict: Option<String>,
    /// Comma-separated: `awaiting_media`, `reused_photo`, `clock_skew`, `mock_location`,
    /// `critical_failed`, `order_synced_late`, `verdict_changed_after_review`.
    pub flags: Option<String>,
    /// Only this officer's inspections (a user id).
    pub officer: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// A photo of a queued inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePhoto {
    pub id: Uuid,
    pub renditions: RenditionState,
    pub flags: Vec<String>,
    /// Where its thumbnail is read.
    pub thumbnail: String,
}

/// One entry of the review queue: the inspection (results, verdict, reviews), its subject, its
/// photos, the orders opened from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub inspection: InspectionView,
    pub subject: Subject,
    pub photos: Vec<QueuePhoto>,
    pub orders: Vec<QueueOrder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePage {
    pub items: Vec<QueueEntry>,
    pub next: Option<String>,
}

/// `POST /v1/inspections/{id}/review`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The review state the supervisor saw; the decision applies only if it is still that.
    pub expected_state: String,
    pub decision: ReviewDecision,
    pub comment: Option<String>,
}

/// `POST /v1/rectifications`: a supervisor opens an order for a failed item.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenOrder {
    pub inspection_id: Uuid,
    pub item: String,
    /// A severity of the configured table (default: the item's, or by criticality).
    pub severity: Option<String>,
}

/// `GET /v1/rectifications`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    pub unit: Option<String>,
    pub state: Option<String>,
    pub overdue: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub next: Option<String>,
}

/// `POST /v1/rectifications/{id}/handled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handled {
    pub note: String,
}

/// `POST /v1/rectifications/{id}/requests`: an extension (延期) or a deferral (缓办).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub kind: RequestKind,
    pub until: DateTime<Utc>,
    pub reason: String,
}

/// `POST /v1/rectifications/{id}/requests/decision`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDecision {
    pub approve: bool,
    pub comment: Option<String>,
}

/// `GET /v1/rectifications/stats`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    pub unit: Option<String>,
    pub from: String,
    pub to: String,
}

/// `GET /v1/assessment/{month}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentQuery {
    /// `official` (default: the latest revision) or `provisional`.
    pub kind: Option<String>,
}

/// `GET /v1/bulletins/{month}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinQuery {
    /// `json` (default), `csv`, `xlsx` or `html`.
    pub format: Option<String>,
}

/// `POST /v1/alerts`: an admin declares a pollution alert.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareAlert {
    /// `yellow`, `orange` or `red`.
    pub level: String,
    /// Unit codes; the alert covers their subtrees.
    pub units: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// `POST /v1/alerts/{id}/end`: lift an alert before its declared end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndAlert {
    /// From when it no longer applies; default now. Not earlier than now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

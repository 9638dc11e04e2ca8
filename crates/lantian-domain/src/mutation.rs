//! The mutations a phone queues offline and pushes later, as domain commands. The sync envelope
//! (mutation ids, batches) is in `lantian-protocol`; what each mutation means is here, so the
//! store applies exactly what the client validated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;
use crate::inspection::{ItemResult, LocationFix, TemplateRef};
use crate::subject::SubjectFields;

/// `inspection.submit`: a finished inspection. Immutable evidence once accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionSubmit {
    pub inspection_id: Uuid,
    pub subject_id: Uuid,
    pub template: TemplateRef,
    pub results: Vec<ItemResult>,
    #[serde(default)]
    pub notes: Option<String>,
    pub location: LocationFix,
    /// When the officer started, by the device clock.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// The officer's signature, taken as a photo.
    pub signature_photo_id: Uuid,
    /// A re-inspection (核查) of this rectification order: its result for the order's item closes
    /// the order or sends it back. Must be by someone other than the officer who found the problem.
    #[serde(default)]
    pub rectification_id: Option<Uuid>,
}

/// `inspection.amend`: a correction, naming the version it starts from. Kept alongside the
/// original; flagged for a supervisor when `base_version` is not the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionAmend {
    pub inspection_id: Uuid,
    pub base_version: u32,
    pub results: Vec<ItemResult>,
    #[serde(default)]
    pub notes: Option<String>,
    pub reason: String,
}

/// `draft.save`: an unfinished inspection, owned by the client that first saved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftSave {
    pub draft_id: Uuid,
    /// The app's own draft form state (at most 64 KiB of JSON).
    pub data: serde_json::Value,
}

/// `draft.discard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftDiscard {
    pub draft_id: Uuid,
}

/// `subject.propose`: a subject found in the field (an unlisted stockpile, a truck by its plate),
/// for a unit admin to accept into the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectPropose {
    pub proposal_id: Uuid,
    pub subject: SubjectFields,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentCategory {
    /// 露天焚烧.
    OpenBurning,
    /// Dumped spoil or waste.
    IllegalDumping,
    /// Uncontrolled dust not tied to a registered subject.
    Dust,
    /// Emergency measures not followed during a pollution alert.
    EmergencyMeasures,
    Other,
}

/// `incident.report`: a violation seen in passing, not tied to a registered subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentReport {
    pub incident_id: Uuid,
    pub category: IncidentCategory,
    pub description: String,
    pub location: LocationFix,
    #[serde(default)]
    pub photos: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SubmitInspection(Box<InspectionSubmit>),
    AmendInspection(Box<InspectionAmend>),
    SaveDraft(DraftSave),
    DiscardDraft(DraftDiscard),
    ProposeSubject(Box<SubjectPropose>),
    ReportIncident(IncidentReport),
}

/// The mutation names this server knows.
pub const NAMES: [&str; 6] = [
    "inspection.submit",
    "inspection.amend",
    "draft.save",
    "draft.discard",
    "subject.propose",
    "incident.report",
];

fn args<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, ValidationError> {
    serde_json::from_value(v.clone())
        .map_err(|e| ValidationError::new("args_invalid", "args", e.to_string()))
}

/// Reads a mutation's arguments as the command its name says. Unknown names and malformed
/// arguments are permanent rejections.
pub fn parse(name: &str, v: &serde_json::Value) -> Result<Command, ValidationError> {
    Ok(match name {
        "inspection.submit" => Command::SubmitInspection(Box::new(args(v)?)),
        "inspection.amend" => Command::AmendInspection(Box::new(args(v)?)),
        "draft.save" => Command::SaveDraft(args(v)?),
        "draft.discard" => Command::DiscardDraft(args(v)?),
        "subject.propose" => Command::ProposeSubject(Box::new(args(v)?)),
        "incident.report" => Command::ReportIncident(args(v)?),
        other => {
            return Err(ValidationError::new(
                "mutation_unknown",
                "name",
                format!(
                    "unknown mutation {other:?}; this server knows {}",
                    NAMES.join(", ")
                ),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_and_fields_are_rejected_with_codes() {
        assert_eq!(
            parse("inspection.delete", &serde_json::json!({})).map_err(|e| e.code),
            Err("mutation_unknown")
        );
        let bad = serde_json::json!({"draft_id": Uuid::now_v7(), "owner": "me"});
        assert_eq!(
            parse("draft.discard", &bad).map_err(|e| e.code),
            Err("args_invalid")
        );
        let ok = serde_json::json!({"draft_id": Uuid::now_v7()});
        assert!(matches!(
            parse("draft.discard", &ok),
            Ok(Command::DiscardDraft(_))
        ));
    }
}

//! The mutations a phone queues offline and pushes later, as domain commands. The sync envelope
//! (mutation ids, batches) is in `lantian-protocol`; what each mutation means is here, so the
//! store applies exactly what the client validated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;
use crate::inspection::{ItemResult, LocationFix, TemplateRef};
use crate::limits;
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

/// The largest draft, as JSON text.
pub const DRAFT_BYTES: usize = 64 * 1024;

impl InspectionSubmit {
    /// The rules of the submission itself, before any subject or template is looked up: a
    /// plausible fix, notes within the limit. (Answers are checked against the template.)
    pub fn check(&self) -> Result<(), ValidationError> {
        self.location.validate()?;
        if self
            .notes
            .as_deref()
            .is_some_and(|n| !limits::within(n, limits::TEXT_CHARS))
        {
            return Err(ValidationError::new(
                "notes_too_long",
                "notes",
                "notes are at most 4000 characters",
            ));
        }
        Ok(())
    }
}

impl InspectionAmend {
    /// An amendment says why (at most a note's length).
    pub fn check_reason(&self) -> Result<(), ValidationError> {
        limits::required(
            &self.reason,
            limits::NOTE_CHARS,
            "reason_required",
            "reason",
            "an amendment needs a reason (at most 2000 characters)",
        )
        .map(drop)
    }
}

impl DraftSave {
    /// The draft's JSON text, if it is within [`DRAFT_BYTES`].
    pub fn text(&self) -> Result<String, ValidationError> {
        let data = self.data.to_string();
        if data.len() > DRAFT_BYTES {
            return Err(ValidationError::new(
                "draft_too_large",
                "data",
                "a draft is at most 64 KiB of JSON",
            ));
        }
        Ok(data)
    }
}

impl IncidentReport {
    /// A plausible fix, a description of 1 to 4000 characters, at most 20 photos.
    pub fn check(&self) -> Result<(), ValidationError> {
        self.location.validate()?;
        let description = self.description.trim();
        if description.is_empty()
            || !limits::within(description, limits::TEXT_CHARS)
            || self.photos.len() > limits::PHOTOS_PER_ITEM
        {
            return Err(ValidationError::new(
                "incident_invalid",
                "description",
                "a description of 1 to 4000 characters and at most 20 photos",
            ));
        }
        Ok(())
    }
}

/// A command that passed every rule needing nothing but itself, with what those rules produced
/// (a draft's text, a proposal's subject). The server prepares this outside its writer; the
/// writer applies it after the checks that need data (rights, existence, the template).
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    SubmitInspection(Box<InspectionSubmit>),
    AmendInspection(Box<InspectionAmend>),
    SaveDraft {
        draft: DraftSave,
        text: String,
    },
    DiscardDraft(DraftDiscard),
    ProposeSubject {
        proposal_id: Uuid,
        fields: Box<SubjectFields>,
        draft: Box<crate::subject::SubjectDraft>,
    },
    ReportIncident(IncidentReport),
}

impl Command {
    /// Every rule of the command that needs nothing but the command: what the server checks before
    /// it looks anything up, and what the offline client checks before it queues. (Rights,
    /// existence and the template's answers need the server's data.)
    pub fn check(&self) -> Result<(), ValidationError> {
        self.clone().checked().map(drop)
    }

    /// [`Command::check`], keeping what the checks produced.
    pub fn checked(self) -> Result<Checked, ValidationError> {
        Ok(match self {
            Command::SubmitInspection(s) => {
                s.check()?;
                Checked::SubmitInspection(s)
            }
            Command::AmendInspection(a) => {
                a.check_reason()?;
                Checked::AmendInspection(a)
            }
            Command::SaveDraft(d) => Checked::SaveDraft {
                text: d.text()?,
                draft: d,
            },
            Command::DiscardDraft(d) => Checked::DiscardDraft(d),
            Command::ProposeSubject(p) => Checked::ProposeSubject {
                draft: Box::new(p.subject.clone().into_draft()?),
                proposal_id: p.proposal_id,
                fields: Box::new(p.subject),
            },
            Command::ReportIncident(i) => {
                i.check()?;
                Checked::ReportIncident(i)
            }
        })
    }
}

/// What identifies a mutation's content when its id comes again: a replay with the same hash is
/// answered from the record, one with another hash is a reused id (`docs/sync-protocol.md`).
pub fn args_hash(name: &str, args: &serde_json::Value) -> String {
    use sha2::Digest;
    // The hash of `"{name}\n{args}"`, with the arguments' compact JSON written straight into the
    // hasher rather than into a string first.
    let mut h = Hashing(sha2::Sha256::new());
    h.0.update(name.as_bytes());
    h.0.update(b"\n");
    serde_json::to_writer(&mut h, args).expect("a JSON value always serialises");
    hex::encode(h.0.finalize())
}

/// An `io::Write` that feeds what is written to a hasher.
struct Hashing(sha2::Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The observations a supervisor sees on a submission (`clock_skew`, `mock_location`,
/// `occurred_in_future`): flags, never refusals.
pub fn submission_flags(
    clock_offset_ms: i64,
    mock_location: bool,
    occurred: DateTime<Utc>,
    received: DateTime<Utc>,
) -> Vec<String> {
    let mut flags = Vec::new();
    if clock_offset_ms.abs() > crate::inspection::CLOCK_SKEW_FLAG_MS {
        flags.push("clock_skew".to_owned());
    }
    if mock_location {
        flags.push("mock_location".to_owned());
    }
    if occurred > received + chrono::Duration::minutes(5) {
        flags.push("occurred_in_future".to_owned());
    }
    flags
}

fn args<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, ValidationError> {
    // From the borrowed value: a clone of the whole tree only to be taken apart again was a
    // fifth of what preparing a submission cost.
    T::deserialize(v).map_err(|e| ValidationError::new("args_invalid", "args", e.to_string()))
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

    /// The hash is the record's key of what a mutation id stood for: it must never change, or
    /// every replay after an upgrade would be reported as a reused id.
    #[test]
    fn the_args_hash_is_sha256_of_name_newline_compact_json() {
        let args = serde_json::json!({"draft_id": "01900000-0000-7000-8000-000000000001"});
        assert_eq!(
            args_hash("draft.discard", &args),
            "76567fabdb2fef0786df62a66e6b8fdfde3d3508d8452c207d59f526d39f8744"
        );
        // Written straight into the hasher, the text is still the value's compact JSON: nested
        // objects in key order, escapes, other scripts, numbers of every kind.
        let args = serde_json::json!({
            "z": [1, -2, 3.5, 1e300, u64::MAX, null, true],
            "a": {"备注": "工地\"东门\"\n扬尘\t\u{1}", "b": {}},
        });
        use sha2::Digest;
        assert_eq!(
            args_hash("inspection.submit", &args),
            hex::encode(sha2::Sha256::digest(
                format!("inspection.submit\n{args}").as_bytes()
            ))
        );
    }

    #[test]
    fn checked_keeps_what_the_checks_produced() {
        let id = Uuid::now_v7();
        let save = serde_json::json!({"draft_id": id, "data": {"step": 2}});
        let checked = parse("draft.save", &save).and_then(Command::checked);
        assert!(matches!(
            checked,
            Ok(Checked::SaveDraft { ref text, .. }) if text == r#"{"step":2}"#
        ));
        let big = serde_json::json!({"draft_id": id, "data": "x".repeat(DRAFT_BYTES)});
        let e = parse("draft.save", &big)
            .and_then(Command::checked)
            .expect_err("too large");
        assert_eq!(e.code, "draft_too_large");
    }
}

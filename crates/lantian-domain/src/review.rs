//! Review of inspections by supervisors (审核): the states an inspection's review goes through, the
//! decisions that move it, and the rules of a decision. The server applies them inside a
//! compare-and-set on the state the supervisor saw; the offline client can check them too.
//!
//! ```text
//! received ──approve──> approved (final)
//!    │  └───reject────> rejected (final)
//!    └──has issues──> has_issues ──(after an amendment, any decision again)──> ...
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;
use crate::limits;

/// Where an inspection's review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Waiting for a supervisor.
    Received,
    Approved,
    /// Sent back to the officer: amend it, or open orders for what it found.
    HasIssues,
    Rejected,
}

impl ReviewState {
    pub const ALL: [ReviewState; 4] = [
        ReviewState::Received,
        ReviewState::Approved,
        ReviewState::HasIssues,
        ReviewState::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Received => "received",
            ReviewState::Approved => "approved",
            ReviewState::HasIssues => "has_issues",
            ReviewState::Rejected => "rejected",
        }
    }

    /// The state named `s`; `None` for anything else (a stored unknown state is corrupt data, never
    /// read as some other state).
    pub fn parse(s: &str) -> Option<ReviewState> {
        ReviewState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Approved and rejected are final: no decision moves them, and no amendment is taken.
    pub fn is_final(self) -> bool {
        matches!(self, ReviewState::Approved | ReviewState::Rejected)
    }
}

/// A state compares equal to its name, as it is written on the wire.
impl PartialEq<&str> for ReviewState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ReviewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A supervisor's decision on an inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    /// Sent back to the officer: amend it, or open orders for what it found.
    HasIssues,
    Rejected,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        self.state().as_str()
    }
    /// The decision named `s`, `None` for anything else.
    pub fn parse(s: &str) -> Option<ReviewDecision> {
        match ReviewState::parse(s)? {
            ReviewState::Received => None,
            ReviewState::Approved => Some(ReviewDecision::Approved),
            ReviewState::HasIssues => Some(ReviewDecision::HasIssues),
            ReviewState::Rejected => Some(ReviewDecision::Rejected),
        }
    }
    /// The state the decision moves an inspection to.
    pub fn state(self) -> ReviewState {
        match self {
            ReviewDecision::Approved => ReviewState::Approved,
            ReviewDecision::HasIssues => ReviewState::HasIssues,
            ReviewDecision::Rejected => ReviewState::Rejected,
        }
    }
    /// `has_issues` and `rejected` need a comment saying why.
    pub fn needs_comment(self) -> bool {
        !matches!(self, ReviewDecision::Approved)
    }
}

/// One review decision, as synced to the inspection's author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    pub decision: ReviewDecision,
    pub from_state: ReviewState,
    pub comment: Option<String>,
    pub reviewer: Uuid,
    pub decided_at: DateTime<Utc>,
}

/// What the review queue can be narrowed to, besides unit, kind, state, verdict and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueFlag {
    /// Photos still expected.
    AwaitingMedia,
    /// A photo's file was already evidence of another inspection.
    ReusedPhoto,
    ClockSkew,
    MockLocation,
    CriticalFailed,
    /// An order opened from the inspection reached the server after its deadline (the sync was
    /// late): whose delay it was is the supervisor's to see.
    OrderSyncedLate,
    /// Its location verdict changed after it was reviewed (later evidence arrived); the review
    /// stands, the supervisor may look again.
    VerdictChangedAfterReview,
}

impl QueueFlag {
    pub const ALL: [QueueFlag; 7] = [
        QueueFlag::AwaitingMedia,
        QueueFlag::ReusedPhoto,
        QueueFlag::ClockSkew,
        QueueFlag::MockLocation,
        QueueFlag::CriticalFailed,
        QueueFlag::OrderSyncedLate,
        QueueFlag::VerdictChangedAfterReview,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            QueueFlag::AwaitingMedia => "awaiting_media",
            QueueFlag::ReusedPhoto => "reused_photo",
            QueueFlag::ClockSkew => "clock_skew",
            QueueFlag::MockLocation => "mock_location",
            QueueFlag::CriticalFailed => "critical_failed",
            QueueFlag::OrderSyncedLate => "order_synced_late",
            QueueFlag::VerdictChangedAfterReview => "verdict_changed_after_review",
        }
    }
    pub fn parse(s: &str) -> Option<QueueFlag> {
        QueueFlag::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Why a decision is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewRefusal {
    /// The input breaks a rule (a comment missing or too long).
    Invalid(ValidationError),
    /// The reviewer wrote the inspection: nobody reviews their own work.
    OwnInspection,
    /// The state moved since the supervisor saw it (another supervisor decided).
    Conflict,
    /// The inspection's review is final.
    Final,
}

/// A decision that may be taken: the state it moves from and to, and the comment as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewStep {
    pub from: ReviewState,
    pub to: ReviewState,
    pub comment: Option<String>,
}

/// Decides whether a reviewer who saw the inspection in `expected` may take `decision` on it now
/// that it is in `current`. The caller's right to supervise the inspection's unit is the policy
/// table's question, asked before this.
pub fn decide(
    current: ReviewState,
    expected: ReviewState,
    decision: ReviewDecision,
    comment: Option<String>,
    reviewer_is_author: bool,
) -> Result<ReviewStep, ReviewRefusal> {
    if reviewer_is_author {
        return Err(ReviewRefusal::OwnInspection);
    }
    let comment = limits::optional(comment, limits::NOTE_CHARS, "comment_too_long", "comment")
        .map_err(ReviewRefusal::Invalid)?;
    if decision.needs_comment() && comment.is_none() {
        return Err(ReviewRefusal::Invalid(ValidationError::new(
            "comment_required",
            "comment",
            "sending back or rejecting needs a comment",
        )));
    }
    if current != expected {
        return Err(ReviewRefusal::Conflict);
    }
    if expected.is_final() {
        return Err(ReviewRefusal::Final);
    }
    Ok(ReviewStep {
        from: expected,
        to: decision.state(),
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReviewDecision as D;
    use ReviewState as S;

    #[test]
    fn final_reviews_are_final() {
        for from in [S::Approved, S::Rejected] {
            assert_eq!(
                decide(from, from, D::Approved, None, false),
                Err(ReviewRefusal::Final)
            );
        }
        for from in [S::Received, S::HasIssues] {
            let step = decide(from, from, D::Rejected, Some(" why ".into()), false).expect("ok");
            assert_eq!((step.from, step.to), (from, S::Rejected));
            assert_eq!(step.comment.as_deref(), Some("why"));
        }
    }

    #[test]
    fn nobody_reviews_their_own_inspection() {
        assert_eq!(
            decide(S::Received, S::Received, D::Approved, None, true),
            Err(ReviewRefusal::OwnInspection)
        );
    }

    #[test]
    fn a_moved_state_is_a_conflict_and_sending_back_needs_a_comment() {
        assert_eq!(
            decide(S::Approved, S::Received, D::Approved, None, false),
            Err(ReviewRefusal::Conflict)
        );
        let refused = decide(
            S::Received,
            S::Received,
            D::HasIssues,
            Some("  ".into()),
            false,
        );
        assert!(
            matches!(refused, Err(ReviewRefusal::Invalid(ref e)) if e.code == "comment_required"),
            "{refused:?}"
        );
        let long = "改".repeat(limits::NOTE_CHARS + 1);
        let refused = decide(S::Received, S::Received, D::Approved, Some(long), false);
        assert!(
            matches!(refused, Err(ReviewRefusal::Invalid(ref e)) if e.code == "comment_too_long"),
            "{refused:?}"
        );
    }

    #[test]
    fn states_and_decisions_parse_only_their_own_names() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("approve"), None);
        assert_eq!(D::parse("received"), None);
        assert_eq!(D::parse("has_issues"), Some(D::HasIssues));
        assert_eq!(D::parse("something_else"), None);
    }
}

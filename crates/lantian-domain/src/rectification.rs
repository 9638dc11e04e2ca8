//! Rectification orders (整改): their states, the events that move them and the rules between them
//! ([`OrderView::apply`]), severities and deadlines in the Asia/Shanghai working calendar.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a rectification order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Open,
    /// The responsible unit says it is fixed, with its evidence; waiting for a re-inspection.
    ReportedHandled,
    /// A re-inspection linked to the order has arrived and is being weighed.
    Verifying,
    Closed,
    /// Put off by approval (缓办) until a date; excluded from the on-time rate.
    Deferred,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::ReportedHandled => "reported_handled",
            OrderState::Verifying => "verifying",
            OrderState::Closed => "closed",
            OrderState::Deferred => "deferred",
        }
    }
    pub fn parse(s: &str) -> Option<OrderState> {
        Some(match s {
            "open" => OrderState::Open,
            "reported_handled" => OrderState::ReportedHandled,
            "verifying" => OrderState::Verifying,
            "closed" => OrderState::Closed,
            "deferred" => OrderState::Deferred,
            _ => return None,
        })
    }
}

/// What a responsible unit may ask of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// 延期: a later deadline.
    Extension,
    /// 缓办: put off until a date (e.g. the construction phase that allows the fix).
    Deferral,
}

/// A request waiting for a supervisor's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub kind: RequestKind,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

/// One step in an order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// `opened`, `reported_handled`, `verifying`, `closed`, `rework`, `extension_requested`,
    /// `extension_approved`, `extension_denied`, `deferral_requested`, `deferral_approved`,
    /// `deferral_denied`, `overdue`, `resumed`.
    pub event: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// A rectification order, as synced to the responsible unit (`unit:` scope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: Uuid,
    /// The inspection that found the problem.
    pub inspection_id: Uuid,
    /// Who found it: the re-inspection must be by someone else.
    pub finder: Uuid,
    pub item: String,
    pub subject_id: Uuid,
    /// The responsible unit (the subject's).
    pub unit: String,
    pub severity: String,
    pub opened_by: String,
    /// When the server opened it (the sync of the finding, or a reviewer's decision).
    pub opened_at: DateTime<Utc>,
    /// When the problem was found: the inspection's time of occurrence, from which the deadline
    /// runs (the officer issued the notice on site). Absent only in copies synced before it was
    /// recorded.
    #[serde(default)]
    pub found_at: Option<DateTime<Utc>>,
    /// The deadline had already passed when the order reached the server: the delay was the
    /// sync's (or the reviewer's), and the order counts by its real deadline all the same.
    #[serde(default)]
    pub synced_late: bool,
    pub deadline: DateTime<Utc>,
    pub state: OrderState,
    pub overdue: bool,
    pub rework_count: u32,
    pub extension_count: u32,
    pub deferred_until: Option<DateTime<Utc>>,
    pub pending_request: Option<PendingRequest>,
    pub handled_note: Option<String>,
    pub verified_by: Option<Uuid>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Closed by its deadline (the assessment's 按期结案).
    pub closed_on_time: Option<bool>,
    pub version: u32,
    pub events: Vec<OrderEvent>,
}

/// An order as the review queue lists it beside the inspection it was opened from: when the
/// problem was found (its deadline runs from then), when the order reached the server, and whether
/// that was after the deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueOrder {
    pub id: Uuid,
    pub item: String,
    pub state: OrderState,
    pub found_at: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub synced_late: bool,
    pub overdue: bool,
}

/// What happens to an order. Each command the order accepts becomes one event of its history.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    /// The responsible unit says it is fixed, and what was done.
    ReportHandled { note: String },
    /// The responsible unit asks for an extension or a deferral until `until`.
    Request {
        kind: RequestKind,
        until: DateTime<Utc>,
        reason: String,
        by: Uuid,
    },
    /// A supervisor approves or denies the pending request, with a comment kept on the event.
    DecideRequest {
        approve: bool,
        comment: Option<String>,
    },
    /// A re-inspection linked to the order arrived; what it found follows as [`OrderCommand::Verified`].
    StartVerifying { inspection: Uuid },
    /// The re-inspection's verdict on the order's item, and when it took place.
    Verified {
        passed: bool,
        occurred_at: DateTime<Utc>,
    },
    /// The deadline passed with the order not closed (the overdue sweep).
    MarkOverdue,
    /// A deferral's date came: the order is open again.
    Resume,
}

/// Why an order does not accept a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRefusal {
    /// The input breaks a rule (a note missing, a date too early); the code is stable.
    Invalid(crate::ValidationError),
    /// The order's state does not allow it (`order_not_open`, `request_pending`,
    /// `no_pending_request`, `order_not_due`, `order_not_deferred`).
    Conflict(&'static str),
}

/// An accepted command: the event to append to the history, its note, and the order after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub event: &'static str,
    pub note: Option<String>,
    pub next: OrderView,
}

fn invalid(code: &'static str, field: &str, message: &str) -> OrderRefusal {
    OrderRefusal::Invalid(crate::ValidationError::new(code, field, message))
}

impl OrderState {
    /// Whether a deadline still runs for an order in this state (it can become overdue).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            OrderState::Open | OrderState::ReportedHandled | OrderState::Verifying
        )
    }
}

impl OrderView {
    /// Applies `cmd` at `now`: the order's one state machine. The version moves by one per event;
    /// the store writes the result by compare-and-set on the version it read.
    ///
    /// ```text
    /// open ──handled──> reported_handled ──re-inspection──> verifying ──pass──> closed
    ///   ^                                                      └──fail──> open (返工, rework + 1)
    ///   └── deferred <──deferral approved── open | reported_handled ──extension approved──> (new deadline)
    /// ```
    pub fn apply(&self, cmd: OrderCommand, now: DateTime<Utc>) -> Result<Transition, OrderRefusal> {
        let mut next = self.clone();
        next.version = self.version + 1;
        let (event, note) = match cmd {
            OrderCommand::ReportHandled { note } => {
                let note = crate::limits::required(
                    &note,
                    crate::limits::NOTE_CHARS,
                    "note_required",
                    "note",
                    "say what was done (at most 2000 characters)",
                )
                .map_err(OrderRefusal::Invalid)?
                .to_owned();
                if self.state != OrderState::Open {
                    return Err(OrderRefusal::Conflict("order_not_open"));
                }
                next.state = OrderState::ReportedHandled;
                next.handled_note = Some(note.clone());
                ("reported_handled", Some(note))
            }
            OrderCommand::Request {
                kind,
                until,
                reason,
                by,
            } => {
                let reason = crate::limits::required(
                    &reason,
                    crate::limits::NOTE_CHARS,
                    "reason_required",
                    "reason",
                    "a request needs a reason",
                )
                .map_err(OrderRefusal::Invalid)?
                .to_owned();
                if !matches!(self.state, OrderState::Open | OrderState::ReportedHandled) {
                    return Err(OrderRefusal::Conflict("order_not_open"));
                }
                if self.pending_request.is_some() {
                    return Err(OrderRefusal::Conflict("request_pending"));
                }
                if until <= self.deadline.max(now) {
                    return Err(invalid(
                        "until_too_early",
                        "until",
                        "must be after the current deadline",
                    ));
                }
                next.pending_request = Some(PendingRequest {
                    kind,
                    until,
                    reason: reason.clone(),
                    by,
                    at: now,
                });
                let event = match kind {
                    RequestKind::Extension => "extension_requested",
                    RequestKind::Deferral => "deferral_requested",
                };
                (event, Some(reason))
            }
            OrderCommand::DecideRequest { approve, comment } => {
                let comment = crate::limits::optional(
                    comment,
                    crate::limits::NOTE_CHARS,
                    "comment_too_long",
                    "comment",
                )
                .map_err(OrderRefusal::Invalid)?;
                let Some(p) = self.pending_request.clone() else {
                    return Err(OrderRefusal::Conflict("no_pending_request"));
                };
                next.pending_request = None;
                let event = match (p.kind, approve) {
                    (RequestKind::Extension, true) => {
                        next.deadline = p.until;
                        next.extension_count += 1;
                        next.overdue = false;
                        "extension_approved"
                    }
                    (RequestKind::Deferral, true) => {
                        next.state = OrderState::Deferred;
                        next.deferred_until = Some(p.until);
                        next.overdue = false;
                        "deferral_approved"
                    }
                    (RequestKind::Extension, false) => "extension_denied",
                    (RequestKind::Deferral, false) => "deferral_denied",
                };
                (event, comment)
            }
            OrderCommand::StartVerifying { inspection } => {
                if self.state == OrderState::Closed {
                    return Err(invalid(
                        "rectification_closed",
                        "rectification_id",
                        "the order is closed",
                    ));
                }
                next.state = OrderState::Verifying;
                next.verified_by = Some(inspection);
                ("verifying", None)
            }
            OrderCommand::Verified {
                passed,
                occurred_at,
            } => {
                if self.state != OrderState::Verifying {
                    return Err(OrderRefusal::Conflict("order_not_verifying"));
                }
                if passed {
                    next.state = OrderState::Closed;
                    next.closed_at = Some(occurred_at);
                    next.closed_on_time = Some(occurred_at <= self.deadline);
                    next.overdue = false;
                    next.pending_request = None;
                    ("closed", None)
                } else {
                    next.state = OrderState::Open;
                    next.rework_count += 1;
                    next.handled_note = None;
                    ("rework", None)
                }
            }
            OrderCommand::MarkOverdue => {
                if !self.state.is_running() || self.overdue || self.deadline >= now {
                    return Err(OrderRefusal::Conflict("order_not_due"));
                }
                next.overdue = true;
                ("overdue", None)
            }
            OrderCommand::Resume => {
                let Some(until) = self
                    .deferred_until
                    .filter(|u| self.state == OrderState::Deferred && *u <= now)
                else {
                    return Err(OrderRefusal::Conflict("order_not_deferred"));
                };
                next.state = OrderState::Open;
                next.deadline = self.deadline.max(until);
                next.deferred_until = None;
                ("resumed", None)
            }
        };
        Ok(Transition { event, note, next })
    }

    /// Whether a re-inspection may verify this order: of the order's subject, by someone other than
    /// the officer who found the problem, not of a closed order, and answering the order's item.
    pub fn check_reinspection(
        &self,
        subject_id: Uuid,
        by_finder: bool,
        answers_item: bool,
    ) -> Result<(), crate::ValidationError> {
        use crate::ValidationError as V;
        if subject_id != self.subject_id {
            return Err(V::new(
                "rectification_subject_mismatch",
                "rectification_id",
                "a re-inspection inspects the order's subject",
            ));
        }
        if by_finder {
            return Err(V::new(
                "verifier_is_finder",
                "rectification_id",
                "the officer who found the problem cannot verify its rectification",
            ));
        }
        if self.state == OrderState::Closed {
            return Err(V::new(
                "rectification_closed",
                "rectification_id",
                "the order is closed",
            ));
        }
        if !answers_item {
            return Err(V::new(
                "rectification_item_missing",
                "results",
                "the re-inspection does not answer the order's item",
            ));
        }
        Ok(())
    }
}

/// An order about to be opened: what the policy gives a failed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub severity: String,
    /// Counted from the finding, not from the opening.
    pub deadline: DateTime<Utc>,
    /// The deadline passed before the order was opened.
    pub synced_late: bool,
}

impl OrderState {
    /// Whether an order in this state still stands for its finding: while it does, the same
    /// item found failing again on the same subject (a failed re-inspection, a repeat visit) is
    /// the same finding and opens no second order. One finding, one order.
    pub fn covers_its_finding(self) -> bool {
        self != OrderState::Closed
    }
}

/// Whether an order may be opened for `item` of an inspection whose latest version scored
/// `score`, and with which severity and deadline. The deadline runs from `found_at`, the
/// inspection's time of occurrence: the officer issued the rectification notice on site, so a
/// phone that syncs days later gives the site no extra days. Opened at `now` after that deadline,
/// the order is `synced_late`.
pub fn opening(
    score: &crate::inspection::InspectionScore,
    item: &str,
    named_severity: Option<&str>,
    policy: &RectifyPolicy,
    found_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Opening, crate::ValidationError> {
    if !score.failed.iter().any(|f| f == item) {
        return Err(crate::ValidationError::new(
            "item_not_failed",
            "item",
            "only a failed item of the inspection's latest version opens an order",
        ));
    }
    let critical = score.critical_failed.iter().any(|f| f == item);
    let (severity, deadline) = policy.schedule(item, critical, named_severity, found_at);
    Ok(Opening {
        severity,
        deadline,
        synced_late: deadline < now,
    })
}

/// The counts the monthly assessment takes from orders due in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStats {
    /// Orders whose deadline falls in the period, deferred ones excluded (按期结案率's denominator).
    pub due: i64,
    pub closed_on_time: i64,
    pub closed_late: i64,
    /// Due, not closed, and overdue.
    pub overdue_open: i64,
    pub deferred: i64,
    pub reworks: i64,
    pub extensions: i64,
}

/// How long a unit has to fix a problem of a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimit {
    Hours(u32),
    /// Working days in the Asia/Shanghai calendar: the deadline is the end of the n-th working day
    /// after the day the order was opened.
    WorkingDays(u32),
}

fn cst() -> FixedOffset {
    // China Standard Time has been UTC+8 without daylight saving since 1991.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Whether `d` is a working day: Monday to Friday, not a listed holiday, or a listed make-up
/// working day (调休, a Saturday or Sunday worked to bridge a holiday).
pub fn is_working_day(d: NaiveDate, holidays: &[NaiveDate], workdays: &[NaiveDate]) -> bool {
    if workdays.contains(&d) {
        return true;
    }
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

/// The deadline of an order opened at `opened` with `limit`.
pub fn deadline(
    opened: DateTime<Utc>,
    limit: TimeLimit,
    holidays: &[NaiveDate],
    workdays: &[NaiveDate],
) -> DateTime<Utc> {
    match limit {
        TimeLimit::Hours(h) => opened + Duration::hours(i64::from(h)),
        TimeLimit::WorkingDays(n) => {
            let mut day = opened.with_timezone(&cst()).date_naive();
            let mut left = n.max(1);
            // Bounded: even a long holiday season ends within a year of working days.
            for _ in 0..3660 {
                day = day.succ_opt().unwrap_or(day);
                if is_working_day(day, holidays, workdays) {
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
            let end = day
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| cst().from_local_datetime(&t).single())
                .map(|t| t.with_timezone(&Utc));
            end.unwrap_or(opened + Duration::days(i64::from(n) + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_runs_from_the_finding_and_a_late_opening_is_marked() {
        let policy = RectifyPolicy::default();
        let score = crate::inspection::InspectionScore {
            earned: 0,
            possible: 10,
            failed: vec!["CS1".into()],
            critical_failed: vec!["CS1".into()],
            compliant: false,
        };
        let found = at("2019-11-04T02:00:00Z");
        let in_time = opening(
            &score,
            "CS1",
            None,
            &policy,
            found,
            at("2019-11-04T03:00:00Z"),
        )
        .expect("opens");
        let (_, deadline) = policy.schedule("CS1", true, None, found);
        assert_eq!(in_time.deadline, deadline);
        assert!(!in_time.synced_late);
        // Synced three days later: the same deadline, now past.
        let late = opening(
            &score,
            "CS1",
            None,
            &policy,
            found,
            at("2019-11-07T03:00:00Z"),
        )
        .expect("opens");
        assert_eq!(late.deadline, deadline);
        assert!(late.synced_late);
        assert!(OrderState::Deferred.covers_its_finding());
        assert!(!OrderState::Closed.covers_its_finding());
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn order(deadline: &str) -> OrderView {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("t");
        OrderView {
            id: Uuid::nil(),
            inspection_id: Uuid::nil(),
            finder: Uuid::nil(),
            item: "CS1".into(),
            subject_id: Uuid::nil(),
            unit: "yanggu".into(),
            severity: "normal".into(),
            opened_by: "system".into(),
            opened_at: t("2019-11-01T00:00:00Z"),
            found_at: Some(t("2019-11-01T00:00:00Z")),
            synced_late: false,
            deadline: t(deadline),
            state: OrderState::Open,
            overdue: false,
            rework_count: 0,
            extension_count: 0,
            deferred_until: None,
            pending_request: None,
            handled_note: None,
            verified_by: None,
            closed_at: None,
            closed_on_time: None,
            version: 1,
            events: Vec::new(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn an_order_goes_from_handled_through_rework_to_closed_late() {
        let o = order("2019-11-08T16:00:00Z");
        let now = at("2019-11-05T00:00:00Z");
        let blank = o.apply(OrderCommand::ReportHandled { note: "  ".into() }, now);
        assert!(matches!(blank, Err(OrderRefusal::Invalid(ref e)) if e.code == "note_required"));
        let h = o
            .apply(
                OrderCommand::ReportHandled {
                    note: " swept ".into(),
                },
                now,
            )
            .expect("handled");
        assert_eq!(
            (h.event, h.next.state, h.next.version),
            ("reported_handled", OrderState::ReportedHandled, 2)
        );
        assert_eq!(h.next.handled_note.as_deref(), Some("swept"));
        assert_eq!(
            h.next.apply(
                OrderCommand::ReportHandled {
                    note: "again".into()
                },
                now
            ),
            Err(OrderRefusal::Conflict("order_not_open"))
        );
        let v = h
            .next
            .apply(
                OrderCommand::StartVerifying {
                    inspection: Uuid::max(),
                },
                now,
            )
            .expect("v");
        let rework = v
            .next
            .apply(
                OrderCommand::Verified {
                    passed: false,
                    occurred_at: now,
                },
                now,
            )
            .expect("rework");
        assert_eq!(
            (rework.event, rework.next.state, rework.next.rework_count),
            ("rework", OrderState::Open, 1)
        );
        assert_eq!(rework.next.handled_note, None);
        // Overdue once its deadline passed, and only once.
        let late = at("2019-11-10T00:00:00Z");
        assert_eq!(
            rework.next.apply(OrderCommand::MarkOverdue, now),
            Err(OrderRefusal::Conflict("order_not_due"))
        );
        let overdue = rework
            .next
            .apply(OrderCommand::MarkOverdue, late)
            .expect("overdue");
        assert!(overdue.next.overdue);
        assert!(overdue.next.apply(OrderCommand::MarkOverdue, late).is_err());
        let v = overdue
            .next
            .apply(
                OrderCommand::StartVerifying {
                    inspection: Uuid::max(),
                },
                late,
            )
            .expect("v");
        let closed = v
            .next
            .apply(
                OrderCommand::Verified {
                    passed: true,
                    occurred_at: late,
                },
                late,
            )
            .expect("closed");
        assert_eq!(closed.next.state, OrderState::Closed);
        assert_eq!(closed.next.closed_on_time, Some(false));
        assert!(!closed.next.overdue);
        assert!(
            closed
                .next
                .apply(
                    OrderCommand::StartVerifying {
                        inspection: Uuid::max()
                    },
                    late
                )
                .is_err()
        );
    }

    #[test]
    fn requests_wait_for_one_decision_and_a_deferral_resumes_on_its_date() {
        let o = order("2019-11-08T16:00:00Z");
        let now = at("2019-11-05T00:00:00Z");
        let ask = |kind, until: &str| OrderCommand::Request {
            kind,
            until: at(until),
            reason: "rain".into(),
            by: Uuid::nil(),
        };
        assert!(matches!(
            o.apply(ask(RequestKind::Extension, "2019-11-08T00:00:00Z"), now),
            Err(OrderRefusal::Invalid(ref e)) if e.code == "until_too_early"
        ));
        let r = o
            .apply(ask(RequestKind::Extension, "2019-11-20T00:00:00Z"), now)
            .expect("asked");
        assert_eq!(r.event, "extension_requested");
        assert_eq!(
            r.next
                .apply(ask(RequestKind::Deferral, "2019-12-20T00:00:00Z"), now),
            Err(OrderRefusal::Conflict("request_pending"))
        );
        let ok = r
            .next
            .apply(
                OrderCommand::DecideRequest {
                    approve: true,
                    comment: None,
                },
                now,
            )
            .expect("ok");
        assert_eq!(
            (ok.event, ok.next.deadline, ok.next.extension_count),
            ("extension_approved", at("2019-11-20T00:00:00Z"), 1)
        );
        assert_eq!(
            ok.next.apply(
                OrderCommand::DecideRequest {
                    approve: true,
                    comment: None
                },
                now
            ),
            Err(OrderRefusal::Conflict("no_pending_request"))
        );
        let d = ok
            .next
            .apply(ask(RequestKind::Deferral, "2019-12-20T00:00:00Z"), now)
            .expect("asked");
        let deferred = d
            .next
            .apply(
                OrderCommand::DecideRequest {
                    approve: true,
                    comment: None,
                },
                now,
            )
            .expect("deferred");
        assert_eq!(deferred.next.state, OrderState::Deferred);
        assert_eq!(
            deferred.next.apply(OrderCommand::Resume, now),
            Err(OrderRefusal::Conflict("order_not_deferred"))
        );
        let back = deferred
            .next
            .apply(OrderCommand::Resume, at("2019-12-21T00:00:00Z"))
            .expect("resumed");
        assert_eq!(
            (back.event, back.next.state, back.next.deadline),
            ("resumed", OrderState::Open, at("2019-12-20T00:00:00Z"))
        );
        assert_eq!(back.next.deferred_until, None);
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_end_at_local_midnight() {
        // Friday 2019-11-29 10:00 in Liaocheng; three working days: Mon, Tue, Wed.
        let opened: DateTime<Utc> = "2019-11-29T02:00:00Z".parse().expect("t");
        let due = deadline(opened, TimeLimit::WorkingDays(3), &[], &[]);
        assert_eq!(due.to_rfc3339(), "2019-12-04T16:00:00+00:00"); // Thursday 00:00 CST
        // With Monday a holiday: Tue, Wed, Thu.
        let due = deadline(opened, TimeLimit::WorkingDays(3), &[d("2019-12-02")], &[]);
        assert_eq!(due.to_rfc3339(), "2019-12-05T16:00:00+00:00");
        // A make-up Saturday counts.
        let due = deadline(opened, TimeLimit::WorkingDays(1), &[], &[d("2019-11-30")]);
        assert_eq!(due.to_rfc3339(), "2019-11-30T16:00:00+00:00");
        assert_eq!(
            deadline(opened, TimeLimit::Hours(24), &[], &[]).to_rfc3339(),
            "2019-11-30T02:00:00+00:00"
        );
    }
}

/// How orders are opened and timed: the per-severity time limits, which items have which severity,
/// the working calendar, and whether failed critical items open orders by themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct RectifyPolicy {
    pub auto_open_critical: bool,
    pub limits: std::collections::BTreeMap<String, TimeLimit>,
    /// Item code -> severity name; items not listed get `default_severity` (critical items
    /// `critical_severity`).
    pub item_severity: std::collections::BTreeMap<String, String>,
    pub default_severity: String,
    pub critical_severity: String,
    pub holidays: Vec<NaiveDate>,
    /// Make-up working days (调休).
    pub workdays: Vec<NaiveDate>,
}

impl Default for RectifyPolicy {
    fn default() -> Self {
        let limits = [
            ("urgent", TimeLimit::Hours(24)),
            ("major", TimeLimit::WorkingDays(3)),
            ("normal", TimeLimit::WorkingDays(5)),
            ("minor", TimeLimit::WorkingDays(10)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            auto_open_critical: true,
            limits,
            item_severity: Default::default(),
            default_severity: "normal".into(),
            critical_severity: "urgent".into(),
            holidays: Vec::new(),
            workdays: Vec::new(),
        }
    }
}

impl RectifyPolicy {
    /// The severity of a failed item, and its deadline for an order opened at `opened`. A named
    /// severity overrides the item's; an unknown name falls back to the default severity.
    pub fn schedule(
        &self,
        item: &str,
        critical: bool,
        named: Option<&str>,
        opened: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let name = named
            .filter(|n| self.limits.contains_key(*n))
            .map(str::to_owned)
            .or_else(|| self.item_severity.get(item).cloned())
            .unwrap_or_else(|| {
                if critical {
                    self.critical_severity.clone()
                } else {
                    self.default_severity.clone()
                }
            });
        let limit = self
            .limits
            .get(&name)
            .copied()
            .unwrap_or(TimeLimit::WorkingDays(5));
        (
            name,
            deadline(opened, limit, &self.holidays, &self.workdays),
        )
    }
}

/// The tabs of the rectification board (整改): which orders a supervisor looks at together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardTab {
    /// Open, not yet reported handled.
    Open,
    /// Open, not overdue, and due within [`DUE_SOON_WORKING_DAYS`] working days.
    DueSoon,
    /// Past their deadline and not closed.
    Overdue,
    /// Reported handled, waiting for (or under) a re-inspection.
    AwaitingReinspection,
    /// Sent back at least once by a failed re-inspection, and not closed.
    Rework,
    /// An extension (延期) or deferral (缓办) request waits for a decision.
    Requests,
    Deferred,
    Closed,
}

/// "Due soon" on the board: within this many working days.
pub const DUE_SOON_WORKING_DAYS: u32 = 2;

impl BoardTab {
    pub const ALL: [BoardTab; 8] = [
        BoardTab::Open,
        BoardTab::DueSoon,
        BoardTab::Overdue,
        BoardTab::AwaitingReinspection,
        BoardTab::Rework,
        BoardTab::Requests,
        BoardTab::Deferred,
        BoardTab::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BoardTab::Open => "open",
            BoardTab::DueSoon => "due_soon",
            BoardTab::Overdue => "overdue",
            BoardTab::AwaitingReinspection => "awaiting_reinspection",
            BoardTab::Rework => "rework",
            BoardTab::Requests => "requests",
            BoardTab::Deferred => "deferred",
            BoardTab::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<BoardTab> {
        BoardTab::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

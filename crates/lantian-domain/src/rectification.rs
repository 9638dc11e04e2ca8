//! Review of inspections and rectification orders (整改): their states, the rules between them, and
//! deadlines in the Asia/Shanghai working calendar.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
        match self {
            ReviewDecision::Approved => "approved",
            ReviewDecision::HasIssues => "has_issues",
            ReviewDecision::Rejected => "rejected",
        }
    }
    /// `has_issues` and `rejected` need a comment saying why.
    pub fn needs_comment(self) -> bool {
        !matches!(self, ReviewDecision::Approved)
    }
}

/// Whether a review may move an inspection from `from`: a received inspection, or one sent back
/// (after its amendment). Approved and rejected are final.
pub fn review_allowed_from(from: &str) -> bool {
    matches!(from, "received" | "has_issues")
}

/// One review decision, as synced to the inspection's author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    pub decision: ReviewDecision,
    pub from_state: String,
    pub comment: Option<String>,
    pub reviewer: Uuid,
    pub decided_at: DateTime<Utc>,
}

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
    pub opened_at: DateTime<Utc>,
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

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
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

    #[test]
    fn final_reviews_are_final() {
        assert!(review_allowed_from("received"));
        assert!(review_allowed_from("has_issues"));
        assert!(!review_allowed_from("approved"));
        assert!(!review_allowed_from("rejected"));
        assert!(ReviewDecision::Rejected.needs_comment());
        assert!(!ReviewDecision::Approved.needs_comment());
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

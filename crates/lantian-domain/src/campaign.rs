//! Campaigns (攻坚行动): a period, targets, numbered tasks and the weights of the monthly
//! assessment. A deployment runs many campaigns over the years, so a campaign is data, never code.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// First day of the campaign (inclusive), Asia/Shanghai calendar.
    pub starts_on: NaiveDate,
    /// Last day of the campaign (inclusive).
    pub ends_on: NaiveDate,
    pub targets: Vec<Target>,
    pub weights: ScoreWeights,
    /// Required inspection frequencies and the rework deduction of the monthly assessment.
    #[serde(default)]
    pub assessment: AssessmentRules,
    pub tasks: Vec<Task>,
}

/// The campaign that runs during `month` (`YYYY-MM`): the first (newest, as listed) whose period
/// overlaps it. `None` when no campaign's period touches the month (the month is assessed under
/// no campaign: a rollup of it is refused, never filed under another campaign) or for a malformed
/// month.
pub fn for_month<'a>(campaigns: &'a [Campaign], month: &str) -> Option<&'a Campaign> {
    let (first, last) = month_days(month)?;
    campaigns
        .iter()
        .find(|c| c.starts_on <= last && c.ends_on >= first)
}

/// The first and last calendar day (Asia/Shanghai) of `month`.
fn month_days(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (from, to) = crate::assessment::month_bounds(month)?;
    let first = (from + chrono::Duration::hours(8)).date_naive();
    let last = (to + chrono::Duration::hours(8) - chrono::Duration::days(1)).date_naive();
    Some((first, last))
}

/// A campaign of a demonstration deployment: the rules, tasks and targets of `template`, from the
/// 24 months before the month of `today` to the end of the twelfth month after it, so that the
/// demo's own months (and its history) are assessed.
pub fn demo_campaign(template: &Campaign, today: NaiveDate) -> Campaign {
    use chrono::Datelike;
    let month_start = |months_from_now: i32| {
        let m = today.year() * 12 + today.month0() as i32 + months_from_now;
        NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or(today)
    };
    Campaign {
        code: "demo".into(),
        name_zh: format!("{}（演示）", template.name_zh),
        name_en: format!("{} (demonstration)", template.name_en),
        starts_on: month_start(-24),
        ends_on: month_start(13).pred_opt().unwrap_or(today),
        ..template.clone()
    }
}

/// How often a kind of subject (of a grade, for graded kinds) must be inspected each month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRule {
    /// Subject kind, e.g. `construction_site`.
    pub kind: String,
    /// For graded kinds (restaurants): the grade the rule applies to; absent = every grade.
    #[serde(default)]
    pub grade: Option<String>,
    pub per_month: u32,
}

/// The assessment's rules that are campaign data, not code (see `docs/scoring.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRules {
    pub coverage: Vec<CoverageRule>,
    /// Each rework (返工) deducts this share of one on-time closure from the rectification score.
    pub rework_penalty: f64,
    /// During a pollution alert of a level (`yellow`, `orange`, `red`), the required frequency of a
    /// subject kind in the alert's region is multiplied by this, for the alert's days.
    #[serde(default = "default_alert_multipliers")]
    pub alert_multipliers:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    /// During an alert of a level, the points an inspection in its region loses weigh this many
    /// percent (200: twice): its possible points rise by the extra (see `docs/scoring.md`).
    #[serde(default = "default_alert_violation_weight")]
    pub alert_violation_weight: std::collections::BTreeMap<String, u32>,
}

fn default_alert_violation_weight() -> std::collections::BTreeMap<String, u32> {
    [("yellow", 150), ("orange", 200), ("red", 300)]
        .into_iter()
        .map(|(l, w)| (l.to_owned(), w))
        .collect()
}

fn default_alert_multipliers()
-> std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> {
    let level = |m: f64| {
        [
            "construction_site",
            "stockpile",
            "bare_land",
            "road_section",
        ]
        .into_iter()
        .map(|k| (k.to_owned(), m))
        .collect()
    };
    [("yellow", 1.5), ("orange", 2.0), ("red", 3.0)]
        .into_iter()
        .map(|(l, m)| (l.to_owned(), level(m)))
        .collect()
}

impl Default for AssessmentRules {
    fn default() -> Self {
        Self {
            coverage: Vec::new(),
            rework_penalty: 0.5,
            alert_multipliers: default_alert_multipliers(),
            alert_violation_weight: default_alert_violation_weight(),
        }
    }
}

impl AssessmentRules {
    /// Inspections a subject of `kind` (and `grade`) needs in a month; a grade-specific rule wins
    /// over a kind-wide one; 0 when no rule names the kind.
    pub fn required(&self, kind: &str, grade: Option<&str>) -> u32 {
        self.coverage
            .iter()
            .filter(|r| r.kind == kind && r.grade.as_deref().is_none_or(|g| Some(g) == grade))
            .max_by_key(|r| r.grade.is_some())
            .map_or(0, |r| r.per_month)
    }

    /// The required inspections of a subject in a month of `month_days` days when alerts covering
    /// its place ran `(level, days)` of them: the base frequency, plus for each alert
    /// `ceil(base x (multiplier - 1) x days / month_days)`.
    pub fn required_with_alerts(
        &self,
        kind: &str,
        grade: Option<&str>,
        alerts: &[(&str, u32)],
        month_days: u32,
    ) -> u32 {
        let base = self.required(kind, grade);
        if base == 0 || month_days == 0 {
            return base;
        }
        let extra: u32 = alerts
            .iter()
            .map(|(level, days)| {
                let m = self
                    .alert_multipliers
                    .get(*level)
                    .and_then(|k| k.get(kind))
                    .copied()
                    .unwrap_or(1.0);
                let x =
                    f64::from(base) * (m - 1.0).max(0.0) * f64::from(*days) / f64::from(month_days);
                // Rounded up, after removing floating-point noise (2.0000000001 is 2).
                ((x * 1e9).round() / 1e9).ceil() as u32
            })
            .sum();
        base + extra
    }
}

/// An outcome the campaign aims for, e.g. PM2.5 average down 5% year on year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub code: String,
    pub description_zh: String,
    pub description_en: String,
    /// The measured quantity, e.g. `pm25_mean_change_pct` or `heavy_pollution_days_change`.
    pub metric: String,
    /// The required change of `metric` over the period (negative = reduction).
    pub change: f64,
}

/// Weights of the monthly composite score, in percent; they sum to 100. The indicators themselves
/// are defined in `docs/scoring.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreWeights {
    pub inspection_compliance: u32,
    pub coverage: u32,
    pub rectification_on_time: u32,
    pub evidence_quality: u32,
}

/// A numbered task (主要任务) with its three kinds of responsibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub number: u32,
    pub title_zh: String,
    pub title_en: String,
    pub summary_zh: String,
    /// 分管领导, as role titles (never personal names).
    pub leader_roles: Vec<String>,
    /// 责任督导科室: department codes.
    pub supervising_departments: Vec<String>,
    /// 责任落实单位: unit codes.
    pub responsible_units: Vec<String>,
}

impl Campaign {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !crate::unit::valid_unit_code(&self.code) {
            return Err(ValidationError::new(
                "code_invalid",
                "code",
                "a campaign code is 2 to 64 lowercase letters, digits, _ or -",
            ));
        }
        for (field, name) in [("name_zh", &self.name_zh), ("name_en", &self.name_en)] {
            if name.trim().is_empty() || !crate::limits::within(name, 200) {
                return Err(ValidationError::new(
                    "name_invalid",
                    field,
                    "a campaign's names are 1 to 200 characters",
                ));
            }
        }
        if self.ends_on < self.starts_on {
            return Err(ValidationError::new(
                "period_reversed",
                "ends_on",
                "the campaign ends before it starts",
            ));
        }
        let w = self.weights;
        let sum =
            w.inspection_compliance + w.coverage + w.rectification_on_time + w.evidence_quality;
        if sum != 100 {
            return Err(ValidationError::new(
                "weights_not_100",
                "weights",
                format!("weights sum to {sum}, not 100"),
            ));
        }
        let mut numbers: Vec<u32> = self.tasks.iter().map(|t| t.number).collect();
        numbers.sort_unstable();
        if numbers.windows(2).any(|w| w[0] == w[1]) {
            return Err(ValidationError::new(
                "duplicate_task_number",
                "tasks",
                "two tasks share a number",
            ));
        }
        Ok(())
    }

    /// A month belongs to one campaign at most: the period may not overlap that of another
    /// campaign in `others` (the campaign's own earlier version, same code, is not another).
    pub fn check_overlap(&self, others: &[Campaign]) -> Result<(), ValidationError> {
        match others.iter().find(|o| {
            o.code != self.code && o.starts_on <= self.ends_on && o.ends_on >= self.starts_on
        }) {
            Some(o) => Err(ValidationError::new(
                "campaign_overlaps",
                "starts_on",
                format!(
                    "the period overlaps campaign {} ({} to {}): a month is assessed under one campaign",
                    o.code, o.starts_on, o.ends_on
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whether `day` falls inside the campaign period.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.starts_on <= day && day <= self.ends_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Campaign {
        crate::reference::liaocheng().expect("reference").campaign
    }

    #[test]
    fn a_month_outside_every_campaign_belongs_to_none() {
        let c = reference();
        let all = [c.clone()];
        assert_eq!(
            for_month(&all, "2019-12").map(|c| c.code.as_str()),
            Some(c.code.as_str())
        );
        // Formerly the newest campaign was the fallback: 2026 filed under 2019-2020.
        assert_eq!(for_month(&all, "2026-12"), None);
    }

    #[test]
    fn the_demo_campaign_covers_two_years_back_and_one_ahead_and_overlaps_nothing_older() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("day");
        let demo = demo_campaign(&reference(), today);
        assert_eq!(
            demo.starts_on,
            NaiveDate::from_ymd_opt(2024, 12, 1).expect("day")
        );
        assert_eq!(
            demo.ends_on,
            NaiveDate::from_ymd_opt(2027, 12, 31).expect("day")
        );
        assert!(demo.validate().is_ok());
        assert!(demo.check_overlap(&[reference()]).is_ok());
        let all = [demo.clone(), reference()];
        assert_eq!(
            for_month(&all, "2026-12").map(|c| c.code.as_str()),
            Some("demo")
        );
    }

    #[test]
    fn overlapping_periods_and_bad_codes_are_refused_with_their_fields() {
        let mut winter = reference();
        winter.code = "winter-2020".into();
        winter.starts_on = NaiveDate::from_ymd_opt(2020, 1, 1).expect("day");
        let e = winter.check_overlap(&[reference()]).expect_err("overlaps");
        assert_eq!(
            (e.code, e.field.as_str()),
            ("campaign_overlaps", "starts_on")
        );
        // Its own earlier version is not another campaign.
        assert!(reference().check_overlap(&[reference()]).is_ok());
        winter.code = "Winter 2020".into();
        assert_eq!(winter.validate().map_err(|e| e.code), Err("code_invalid"));
    }
}

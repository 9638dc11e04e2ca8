//! Inspections: what an officer submits, its validation against the exact template version it
//! names, and its score. Pure: the server records this score, and the offline client computes the
//! same one on site.

use crate::limits;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;
use crate::checklist::{AnswerKind, ChecklistItem, ChecklistTemplate, Comparison};
use crate::subject::{GeoPoint, SubjectAttributes};

pub use crate::geo::Datum;

/// A location fix as the phone reports it, in its own datum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy, metres (68% radius as Android and iOS report it).
    pub accuracy_m: f64,
    pub datum: Datum,
    /// The OS said the location came from a mock provider.
    #[serde(default)]
    pub mock: bool,
    /// Time of the fix by the GNSS clock, when the phone reports it.
    #[serde(default)]
    pub gps_time: Option<DateTime<Utc>>,
}

impl LocationFix {
    pub fn validate(&self) -> Result<(), ValidationError> {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
        .validate("location")?;
        if !self.accuracy_m.is_finite() || self.accuracy_m < 0.0 || self.accuracy_m > 100_000.0 {
            return Err(ValidationError::new(
                "accuracy_invalid",
                "location.accuracy_m",
                "accuracy must be 0 to 100000 m",
            ));
        }
        Ok(())
    }

    /// The fix as WGS-84 (lat, lon), converted from its datum.
    pub fn wgs84(&self) -> (f64, f64) {
        crate::geo::to_wgs84(self.lat, self.lon, self.datum)
    }
}

/// The answer to one checklist item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    Pass,
    Fail,
    /// Not applicable (or not measured).
    Na,
    Number {
        value: f64,
    },
    Text {
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemResult {
    pub item: String,
    pub answer: Answer,
    #[serde(default)]
    pub note: Option<String>,
    /// Photos of this item (evidence of a failure, typically), by client-made id.
    #[serde(default)]
    pub photos: Vec<Uuid>,
}

/// Names a template version exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub code: String,
    pub version: u32,
}

/// Score of an inspection against its template.
///
/// `earned / possible` is the weighted pass ratio over the items that apply and were not answered
/// N/A; numeric items pass when they meet their limit; text items are not scored. A failed critical
/// item is decisive: [`InspectionScore::percent`] is 0 and the inspection is not compliant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionScore {
    pub earned: u32,
    pub possible: u32,
    pub failed: Vec<String>,
    pub critical_failed: Vec<String>,
    /// No item failed.
    pub compliant: bool,
}

impl InspectionScore {
    /// 0 to 100, two decimals kept by the caller if needed; 0 when a critical item failed, 100 when
    /// nothing scored applied.
    pub fn percent(&self) -> f64 {
        if !self.critical_failed.is_empty() {
            0.0
        } else if self.possible == 0 {
            100.0
        } else {
            f64::from(self.earned) * 100.0 / f64::from(self.possible)
        }
    }
}

/// The `applies_if` condition of emergency items: they apply while a pollution alert covers the
/// subject's place (earthwork stopped, trucks off the road), and not otherwise.
pub const ALERT_CONDITION: &str = "alert";

/// Whether an item applies to a subject: unconditionally, by a yes/no attribute of the subject
/// (CS7: `linear`), or during a pollution alert (`alert`).
pub fn applies(item: &ChecklistItem, subject: &SubjectAttributes, alert: bool) -> bool {
    let Some(attr) = &item.applies_if else {
        return true;
    };
    if attr == ALERT_CONDITION {
        return alert;
    }
    let v = serde_json::to_value(subject).unwrap_or_default();
    v.get("attributes")
        .and_then(|a| a.get(attr))
        .and_then(|b| b.as_bool())
        .unwrap_or(false)
}

/// Whether a numeric value meets its limit.
pub fn within_limit(value: f64, limit: f64, comparison: Comparison) -> bool {
    match comparison {
        Comparison::AtMost => value <= limit,
        Comparison::AtLeast => value >= limit,
    }
}

/// Checks results against the template: every item known and answered once, every applicable
/// scored item answered, answers of the item's kind, N/A only where allowed, photos where a failure
/// requires them. Returns the score.
pub fn evaluate(
    template: &ChecklistTemplate,
    subject: &SubjectAttributes,
    results: &[ItemResult],
) -> Result<InspectionScore, ValidationError> {
    evaluate_with(template, subject, results, false)
}

/// [`evaluate`] for an inspection during a pollution alert covering the subject's place (`alert`):
/// the emergency items (`applies_if: "alert"`) then apply and must be answered.
pub fn evaluate_with(
    template: &ChecklistTemplate,
    subject: &SubjectAttributes,
    results: &[ItemResult],
    alert: bool,
) -> Result<InspectionScore, ValidationError> {
    if subject.kind() != template.subject_kind {
        return Err(ValidationError::new(
            "template_mismatch",
            "template",
            "the template is for another kind of subject",
        ));
    }
    let items: BTreeMap<&str, &ChecklistItem> = template
        .items
        .iter()
        .map(|i| (i.code.as_str(), i))
        .collect();
    let mut answered: BTreeMap<&str, &ItemResult> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        let field = format!("results[{i}]");
        if !items.contains_key(r.item.as_str()) {
            return Err(ValidationError::new(
                "item_unknown",
                field,
                format!("{} is not an item of this template version", r.item),
            ));
        }
        if answered.insert(r.item.as_str(), r).is_some() {
            return Err(ValidationError::new(
                "item_repeated",
                field,
                format!("{} is answered twice", r.item),
            ));
        }
        if r.note
            .as_deref()
            .is_some_and(|n| !limits::within(n, limits::NOTE_CHARS))
            || r.photos.len() > limits::PHOTOS_PER_ITEM
        {
            return Err(ValidationError::new(
                "item_too_large",
                field,
                "a note is at most 2000 characters, photos at most 20",
            ));
        }
    }
    let mut score = InspectionScore {
        earned: 0,
        possible: 0,
        failed: Vec::new(),
        critical_failed: Vec::new(),
        compliant: true,
    };
    for item in &template.items {
        let field = format!("results.{}", item.code);
        let applicable = applies(item, subject, alert);
        let Some(result) = answered.get(item.code.as_str()) else {
            if applicable && !matches!(item.answer, AnswerKind::Text) {
                return Err(ValidationError::new(
                    "item_missing",
                    field,
                    format!("{} must be answered", item.code),
                ));
            }
            continue;
        };
        if !applicable && result.answer != Answer::Na {
            return Err(ValidationError::new(
                "item_not_applicable",
                field,
                format!(
                    "{} does not apply to this subject: answer na or leave it out",
                    item.code
                ),
            ));
        }
        let passed = match (&item.answer, &result.answer) {
            (_, Answer::Na) => {
                let allowed = !applicable
                    || matches!(
                        item.answer,
                        AnswerKind::PassFail { allow_na: true }
                            | AnswerKind::Number { allow_na: true, .. }
                            | AnswerKind::Text
                    );
                if !allowed {
                    return Err(ValidationError::new(
                        "na_not_allowed",
                        field,
                        format!("{} may not be answered N/A", item.code),
                    ));
                }
                None
            }
            (AnswerKind::PassFail { .. }, Answer::Pass) => Some(true),
            (AnswerKind::PassFail { .. }, Answer::Fail) => Some(false),
            (
                AnswerKind::Number {
                    limit, comparison, ..
                },
                Answer::Number { value },
            ) => {
                if !value.is_finite() {
                    return Err(ValidationError::new(
                        "value_not_finite",
                        field,
                        "the value is not a finite number",
                    ));
                }
                Some(within_limit(*value, *limit, *comparison))
            }
            (AnswerKind::Text, Answer::Text { value }) => {
                if !limits::within(value, limits::TEXT_CHARS) {
                    return Err(ValidationError::new(
                        "item_too_large",
                        field,
                        "text answers are at most 4000 characters",
                    ));
                }
                None
            }
            _ => {
                return Err(ValidationError::new(
                    "answer_kind_mismatch",
                    field,
                    format!("{} takes another kind of answer", item.code),
                ));
            }
        };
        if let Some(passed) = passed {
            score.possible += item.weight;
            if passed {
                score.earned += item.weight;
            } else {
                if item.photo_required_on_fail && result.photos.is_empty() {
                    return Err(ValidationError::new(
                        "photo_required",
                        field,
                        format!("a failed {} needs a photo", item.code),
                    ));
                }
                score.failed.push(item.code.clone());
                score.compliant = false;
                if item.critical {
                    score.critical_failed.push(item.code.clone());
                }
            }
        }
    }
    Ok(score)
}

/// Every photo an inspection expects: item photos, then the signature. Repeats are refused.
pub fn expected_photos(
    results: &[ItemResult],
    signature: Uuid,
) -> Result<Vec<(Uuid, Option<String>)>, ValidationError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in results {
        for p in &r.photos {
            if !seen.insert(*p) {
                return Err(ValidationError::new(
                    "photo_repeated",
                    format!("results.{}", r.item),
                    format!("photo {p} is listed twice"),
                ));
            }
            out.push((*p, Some(r.item.clone())));
        }
    }
    if !seen.insert(signature) {
        return Err(ValidationError::new(
            "photo_repeated",
            "signature_photo_id",
            "the signature is also an item photo",
        ));
    }
    out.push((signature, None));
    Ok(out)
}

/// How far the device clock is from the server's, from when the phone sent a request by its own
/// clock and when the server received it. Positive: the device is ahead.
pub fn clock_offset_ms(device_sent_at: DateTime<Utc>, server_received_at: DateTime<Utc>) -> i64 {
    (device_sent_at - server_received_at).num_milliseconds()
}

/// Offsets beyond this are flagged as clock skew (five minutes).
pub const CLOCK_SKEW_FLAG_MS: i64 = 5 * 60 * 1000;

/// When the inspection took place, by the best clock available: the GNSS time of the fix if the
/// phone reported one, else the device time corrected by the estimated offset.
pub fn occurred_at(
    device_time: DateTime<Utc>,
    gps_time: Option<DateTime<Utc>>,
    offset_ms: i64,
) -> DateTime<Utc> {
    gps_time.unwrap_or_else(|| device_time - chrono::Duration::milliseconds(offset_ms))
}

/// Where the media of an inspection stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Some expected photos have not arrived and been verified yet.
    AwaitingMedia,
    Complete,
}

/// One amendment as synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmendmentView {
    pub version: u32,
    pub base_version: u32,
    /// The amendment started from an older version than the latest: a supervisor must look.
    pub stale: bool,
    pub results: Vec<ItemResult>,
    pub notes: Option<String>,
    pub reason: String,
    pub score: InspectionScore,
    pub received_at: DateTime<Utc>,
}

/// An inspection as the server recorded it, and as it syncs to the officer's device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionView {
    pub id: Uuid,
    pub author: Uuid,
    pub subject_id: Uuid,
    pub unit: String,
    pub template: TemplateRef,
    pub results: Vec<ItemResult>,
    pub notes: Option<String>,
    pub location: LocationFix,
    pub signature_photo_id: Uuid,
    pub expected_photos: Vec<Uuid>,
    pub device_time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub clock_offset_ms: i64,
    /// When it took place (decides its month, Asia/Shanghai).
    pub occurred_at: DateTime<Utc>,
    /// Version 1's figures as submitted and sealed (never changed; see `effective`).
    pub score: InspectionScore,
    /// Observations for a supervisor: `clock_skew`, `mock_location`, `occurred_in_future`, ...
    pub flags: Vec<String>,
    pub version: u32,
    pub amendments: Vec<AmendmentView>,
    /// The current version's figures as the assessment counts them (a failed critical item earns
    /// 0): what the record, the synced entity, the console and the rollup all show. Set by
    /// [`InspectionView::settle`].
    #[serde(default)]
    pub effective: EffectiveScore,
    pub media_state: MediaState,
    pub review_state: crate::review::ReviewState,
    /// Was it done where it claims? Recomputed when photos bring EXIF positions.
    #[serde(default)]
    pub verdict: Option<crate::geo::Verdict>,
    /// Supervisors' decisions, oldest first (the last one is `review_state`).
    #[serde(default)]
    pub reviews: Vec<crate::review::ReviewView>,
}

/// An inspection's figures as they count: the current version's, with the critical rule applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EffectiveScore {
    /// The version the figures are of (the latest amendment's, or 1).
    pub version: u32,
    /// Points earned as counted: 0 when a critical item failed.
    pub earned: u32,
    pub possible: u32,
    /// `earned / possible` in percent, rounded half away from zero to two decimals (100 when
    /// nothing scored applied, 0 when a critical item failed).
    pub percent: f64,
    pub critical_failed: bool,
    pub compliant: bool,
}

/// Points an inspection earns as the assessment counts them: none when a critical item failed,
/// whatever the other items earned (`docs/scoring.md`).
pub fn effective_earned(earned: u32, critical_failed: bool) -> u32 {
    if critical_failed { 0 } else { earned }
}

impl InspectionScore {
    /// These figures as they count, for `version`.
    pub fn effective(&self, version: u32) -> EffectiveScore {
        let critical = !self.critical_failed.is_empty();
        EffectiveScore {
            version,
            earned: effective_earned(self.earned, critical),
            possible: self.possible,
            percent: (self.percent() * 100.0).round() / 100.0,
            critical_failed: critical,
            compliant: self.compliant,
        }
    }
}

impl InspectionView {
    /// The figures of the current version: the latest amendment's, or those submitted.
    pub fn current_score(&self) -> &InspectionScore {
        self.amendments
            .last()
            .map(|a| &a.score)
            .unwrap_or(&self.score)
    }

    /// Sets [`InspectionView::effective`] from the current version; call after the amendments
    /// are in place.
    pub fn settle(mut self) -> Self {
        self.effective = self.current_score().effective(self.version);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::liaocheng;
    use crate::subject::{ConstructionSite, Restaurant, RestaurantGrade};

    fn template(code: &str) -> ChecklistTemplate {
        let spec = liaocheng()
            .expect("reference")
            .templates
            .into_iter()
            .find(|t| t.code == code)
            .expect("template");
        ChecklistTemplate {
            code: spec.code.clone(),
            version: 1,
            subject_kind: spec.subject_kind,
            title_zh: spec.title_zh.clone(),
            title_en: spec.title_en.clone(),
            items: spec.items.clone(),
            published_at: Utc::now(),
            content_hash: String::new(),
        }
    }

    fn pass(item: &str) -> ItemResult {
        ItemResult {
            item: item.into(),
            answer: Answer::Pass,
            note: None,
            photos: vec![],
        }
    }

    fn site(linear: bool) -> SubjectAttributes {
        SubjectAttributes::ConstructionSite(ConstructionSite {
            linear,
            ..Default::default()
        })
    }

    fn all_pass(linear: bool) -> Vec<ItemResult> {
        let mut v: Vec<ItemResult> = ["CS1", "CS2", "CS3", "CS4", "CS5", "CS6", "CS8"]
            .iter()
            .map(|c| pass(c))
            .collect();
        if linear {
            v.push(pass("CS7"));
        }
        v
    }

    #[test]
    fn a_clean_site_scores_full_marks() {
        let s = evaluate(
            &template("construction_site"),
            &site(false),
            &all_pass(false),
        )
        .expect("valid");
        assert_eq!((s.earned, s.possible, s.compliant), (95, 95, true));
        assert_eq!(s.percent(), 100.0);
    }

    #[test]
    fn na_items_leave_the_denominator_and_failures_count_against() {
        let mut r = all_pass(false);
        r[1].answer = Answer::Na; // CS2, weight 15, N/A allowed
        r[3].answer = Answer::Fail; // CS4, weight 10
        r[3].photos = vec![Uuid::now_v7()];
        let s = evaluate(&template("construction_site"), &site(false), &r).expect("valid");
        assert_eq!((s.earned, s.possible), (70, 80));
        assert_eq!(s.failed, vec!["CS4".to_owned()]);
        assert!(!s.compliant);
        assert!((s.percent() - 87.5).abs() < 1e-9);
    }

    #[test]
    fn a_failed_critical_item_is_decisive() {
        let mut r = all_pass(false);
        r[0].answer = Answer::Fail; // CS1 critical
        r[0].photos = vec![Uuid::now_v7()];
        let s = evaluate(&template("construction_site"), &site(false), &r).expect("valid");
        assert_eq!(s.critical_failed, vec!["CS1".to_owned()]);
        assert_eq!(s.percent(), 0.0);
    }

    #[test]
    fn numeric_items_are_judged_against_their_limit() {
        let t = template("restaurant");
        let subject = SubjectAttributes::Restaurant(Restaurant {
            grade: RestaurantGrade::A,
            licence_number: None,
            seats: None,
        });
        let mut r: Vec<ItemResult> = ["RE1", "RE2", "RE4", "RE5", "RE6"]
            .iter()
            .map(|c| pass(c))
            .collect();
        r.push(ItemResult {
            item: "RE3".into(),
            answer: Answer::Number { value: 2.0 },
            note: None,
            photos: vec![],
        });
        assert!(
            evaluate(&t, &subject, &r).expect("valid").compliant,
            "2.0 mg/m³ is within an at-most 2.0 limit"
        );
        r[5] = ItemResult {
            item: "RE3".into(),
            answer: Answer::Number { value: 2.4 },
            note: None,
            photos: vec![Uuid::now_v7()],
        };
        assert_eq!(
            evaluate(&t, &subject, &r).expect("valid").failed,
            vec!["RE3".to_owned()]
        );
        r[5].answer = Answer::Pass;
        assert_eq!(
            evaluate(&t, &subject, &r).map_err(|e| e.code),
            Err("answer_kind_mismatch")
        );
    }

    #[test]
    fn results_that_break_the_template_are_refused_with_codes() {
        let t = template("construction_site");
        let mut unknown = all_pass(false);
        unknown.push(pass("XX9"));
        assert_eq!(
            evaluate(&t, &site(false), &unknown).map_err(|e| e.code),
            Err("item_unknown")
        );
        let missing: Vec<ItemResult> = all_pass(false).into_iter().skip(1).collect();
        assert_eq!(
            evaluate(&t, &site(false), &missing).map_err(|e| e.code),
            Err("item_missing")
        );
        let mut repeated = all_pass(false);
        repeated.push(pass("CS1"));
        assert_eq!(
            evaluate(&t, &site(false), &repeated).map_err(|e| e.code),
            Err("item_repeated")
        );
        let mut no_photo = all_pass(false);
        no_photo[0].answer = Answer::Fail;
        assert_eq!(
            evaluate(&t, &site(false), &no_photo).map_err(|e| e.code),
            Err("photo_required")
        );
        let mut na = all_pass(false);
        na[0].answer = Answer::Na; // CS1 does not allow N/A
        assert_eq!(
            evaluate(&t, &site(false), &na).map_err(|e| e.code),
            Err("na_not_allowed")
        );
    }

    #[test]
    fn an_item_that_does_not_apply_is_neither_required_nor_answerable() {
        let t = template("construction_site");
        // CS7 applies only to linear works.
        assert!(evaluate(&t, &site(false), &all_pass(false)).is_ok());
        assert_eq!(
            evaluate(&t, &site(false), &all_pass(true)).map_err(|e| e.code),
            Err("item_not_applicable")
        );
        assert_eq!(
            evaluate(&t, &site(true), &all_pass(false)).map_err(|e| e.code),
            Err("item_missing")
        );
        assert_eq!(
            evaluate(&t, &site(true), &all_pass(true))
                .expect("valid")
                .possible,
            100
        );
    }

    #[test]
    fn the_best_clock_decides_when_an_inspection_took_place() {
        let device = "2019-11-30T23:50:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        // Device three days ahead: corrected back.
        let offset = 3 * 24 * 3600 * 1000;
        assert_eq!(
            occurred_at(device, None, offset),
            "2019-11-27T23:50:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
        let gps = "2019-11-28T01:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        assert_eq!(occurred_at(device, Some(gps), offset), gps);
    }
}

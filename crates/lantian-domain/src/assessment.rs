//! The monthly assessment (考评): per-unit indicators, the composite score and the rank within a
//! peer group, computed by pure functions from a snapshot of one month. Every formula is in
//! `docs/scoring.md`, with a worked example that the tests below check figure by figure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::{AssessmentRules, ScoreWeights};

/// A unit as the assessment sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitInfo {
    pub code: String,
    pub name: String,
    /// Codes from the root to this unit.
    pub path: Vec<String>,
    pub peer_group: Option<String>,
}

/// One inspection that took place in the month (its latest version's score).
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionFact {
    /// The unit responsible for the subject (shared: a million facts name a few hundred units).
    pub unit: std::sync::Arc<str>,
    pub subject: u64,
    pub earned: u32,
    pub possible: u32,
    pub critical_failed: bool,
    /// Rejected by a supervisor: left out of every indicator.
    pub rejected: bool,
    pub verdict_ok: bool,
    pub media_complete: bool,
    /// The level of the strongest pollution alert covering the inspection's place at its time.
    pub alert: Option<std::sync::Arc<str>>,
}

/// A registered subject at the month's end.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectFact {
    pub id: u64,
    pub unit: std::sync::Arc<str>,
    pub kind: String,
    pub grade: Option<String>,
}

/// A rectification order whose deadline falls in the month.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFact {
    pub unit: std::sync::Arc<str>,
    pub closed: bool,
    pub closed_on_time: bool,
    pub deferred: bool,
    pub rework_count: u32,
    pub extended: bool,
}

/// An order overdue at the month's end, for the bulletin's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueOrder {
    pub id: String,
    pub unit: String,
    pub item: String,
    pub deadline: String,
}

/// A pollution alert as far as one month is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertWindow {
    pub id: String,
    pub level: String,
    /// Units whose subtrees the alert covers.
    pub units: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    /// Days of the month (China Standard Time) the alert touches.
    pub days: u32,
}

/// Everything one month's assessment needs, as the store reads it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Days in the month.
    pub month_days: u32,
    pub alerts: Vec<AlertWindow>,
    pub units: Vec<UnitInfo>,
    pub inspections: Vec<InspectionFact>,
    pub subjects: Vec<SubjectFact>,
    pub orders: Vec<OrderFact>,
    pub overdue: Vec<OverdueOrder>,
}

/// The raw counts behind every rate: a figure can be checked by hand from these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Inspections counted (rejected ones left out).
    pub inspections: u64,
    /// Sum of points earned, inspections with a failed critical item counting 0.
    pub earned: u64,
    /// Sum of points possible (N/A items already excluded by each inspection's score).
    pub possible: u64,
    /// Extra possible points, in hundredths, from violations during pollution alerts: the points an
    /// inspection lost times (weight − 100%).
    #[serde(default)]
    pub alert_extra_centi: u64,
    pub critical_failures: u64,
    /// Subjects with a required frequency, and those inspected at least that often.
    pub subjects_due: u64,
    pub subjects_covered: u64,
    /// Orders due in the month, deferred ones excluded.
    pub orders_due: u64,
    pub orders_closed: u64,
    pub orders_closed_on_time: u64,
    pub reworks: u64,
    pub orders_extended: u64,
    pub orders_deferred: u64,
    /// Inspections with an `ok` location verdict and all photos verified.
    pub evidence_ok: u64,
}

impl Counts {
    /// Whether the unit had any work to assess in the month: an inspection, a subject due or an
    /// order due. A unit without is shown as having no data (无考核数据): not ranked, no change.
    pub fn has_data(&self) -> bool {
        self.inspections > 0 || self.subjects_due > 0 || self.orders_due > 0
    }
}

/// Rates in [0, 1] (rework may exceed 1), rounded to 4 decimals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub compliance: f64,
    pub coverage: f64,
    /// 结案率
    pub closed: f64,
    /// 按期结案率
    pub on_time: f64,
    /// 返工率
    pub rework: f64,
    /// 延期率
    pub extension: f64,
    /// The rectification indicator: on time, less the rework penalty.
    pub rectification: f64,
    pub evidence_quality: f64,
}

/// One unit's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    pub unit: String,
    pub name: String,
    pub peer_group: Option<String>,
    pub counts: Counts,
    pub rates: Rates,
    /// Composite, 0 to 100, two decimals.
    pub score: f64,
    /// Rank within the peer group (1 = best; equal scores share a rank); none outside any group.
    pub rank: Option<u32>,
    pub ranked_among: u32,
    /// Score minus last month's, when there was one.
    pub change: Option<f64>,
    pub overdue: Vec<OverdueOrder>,
}

/// The UTC bounds [start, end) of month `YYYY-MM` in China Standard Time (UTC+8, no daylight
/// saving): the assessment's months, and exports' month filter.
pub fn month_bounds(
    month: &str,
) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    use chrono::{NaiveDate, TimeZone};
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    let start = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    let cst = chrono::FixedOffset::east_opt(8 * 3600)?;
    let at = |d: NaiveDate| {
        cst.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    Some((at(start)?, at(next)?))
}

/// The month before `YYYY-MM`.
pub fn previous_month(month: &str) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    })
}

/// Rounds half away from zero to `d` decimals.
pub fn round(x: f64, d: i32) -> f64 {
    let f = 10f64.powi(d);
    (x * f).round() / f
}

fn ratio(n: u64, d: u64, empty: f64) -> f64 {
    if d == 0 { empty } else { n as f64 / d as f64 }
}

/// The month's results for every unit, each over its whole subtree, ranked within peer groups.
/// `previous` is last month's results (for the change).
pub fn rollup(
    s: &Snapshot,
    weights: &ScoreWeights,
    rules: &AssessmentRules,
    previous: Option<&[UnitResult]>,
) -> Vec<UnitResult> {
    // Counts per unit of its own facts, then added to every ancestor: O(facts x depth), with one
    // lookup of the unit per fact and its ancestors' indexes computed once.
    let paths: HashMap<&str, &[String]> = s
        .units
        .iter()
        .map(|u| (u.code.as_str(), u.path.as_slice()))
        .collect();
    let index: HashMap<&str, usize> = s
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.code.as_str(), i))
        .collect();
    let ancestors: Vec<Vec<usize>> = s
        .units
        .iter()
        .map(|u| {
            u.path
                .iter()
                .filter_map(|c| index.get(c.as_str()).copied())
                .collect()
        })
        .collect();
    let mut counts: Vec<Counts> = vec![Counts::default(); s.units.len()];
    let mut add = |unit: &str, f: &dyn Fn(&mut Counts)| {
        if let Some(&i) = index.get(unit) {
            for &a in &ancestors[i] {
                f(&mut counts[a]);
            }
        }
    };
    let mut per_subject: HashMap<u64, u32> = HashMap::new();
    for i in s.inspections.iter().filter(|i| !i.rejected) {
        *per_subject.entry(i.subject).or_default() += 1;
        let earned = u64::from(crate::inspection::effective_earned(
            i.earned,
            i.critical_failed,
        ));
        let possible = u64::from(i.possible);
        let evidence = u64::from(i.verdict_ok && i.media_complete);
        let critical = u64::from(i.critical_failed);
        let weight = i
            .alert
            .as_deref()
            .and_then(|l| rules.alert_violation_weight.get(l))
            .copied()
            .unwrap_or(100);
        let extra = possible.saturating_sub(earned) * u64::from(weight.saturating_sub(100));
        add(&i.unit, &|c: &mut Counts| {
            c.inspections += 1;
            c.earned += earned;
            c.possible += possible;
            c.alert_extra_centi += extra;
            c.critical_failures += critical;
            c.evidence_ok += evidence;
        });
    }
    for subj in &s.subjects {
        let path = paths.get(&*subj.unit).copied().unwrap_or_default();
        let alerts: Vec<(&str, u32)> = s
            .alerts
            .iter()
            .filter(|a| a.units.iter().any(|u| path.contains(u)))
            .map(|a| (a.level.as_str(), a.days))
            .collect();
        let required =
            rules.required_with_alerts(&subj.kind, subj.grade.as_deref(), &alerts, s.month_days);
        if required == 0 {
            continue;
        }
        let covered = u64::from(per_subject.get(&subj.id).copied().unwrap_or(0) >= required);
        add(&subj.unit, &|c: &mut Counts| {
            c.subjects_due += 1;
            c.subjects_covered += covered;
        });
    }
    for o in &s.orders {
        let (deferred, due) = (u64::from(o.deferred), u64::from(!o.deferred));
        let closed = u64::from(!o.deferred && o.closed);
        let on_time = u64::from(!o.deferred && o.closed && o.closed_on_time);
        let reworks = if o.deferred {
            0
        } else {
            u64::from(o.rework_count)
        };
        let extended = u64::from(!o.deferred && o.extended);
        add(&o.unit, &|c: &mut Counts| {
            c.orders_deferred += deferred;
            c.orders_due += due;
            c.orders_closed += closed;
            c.orders_closed_on_time += on_time;
            c.reworks += reworks;
            c.orders_extended += extended;
        });
    }
    let total_weight = f64::from(
        weights.inspection_compliance
            + weights.coverage
            + weights.rectification_on_time
            + weights.evidence_quality,
    )
    .max(1.0);
    // Change compares with last month only where the unit had data then.
    let prev: HashMap<&str, f64> = previous
        .unwrap_or_default()
        .iter()
        .filter(|u| u.counts.has_data())
        .map(|u| (u.unit.as_str(), u.score))
        .collect();
    let mut out: Vec<UnitResult> = s
        .units
        .iter()
        .map(|u| {
            let c = index
                .get(u.code.as_str())
                .map(|&i| std::mem::take(&mut counts[i]))
                .unwrap_or_default();
            let has_data = c.has_data();
            let on_time = ratio(c.orders_closed_on_time, c.orders_due, 1.0);
            let rework = ratio(c.reworks, c.orders_due, 0.0);
            let rates = Rates {
                compliance: if c.possible == 0 {
                    0.0
                } else {
                    c.earned as f64 / (c.possible as f64 + c.alert_extra_centi as f64 / 100.0)
                },
                coverage: ratio(c.subjects_covered, c.subjects_due, 1.0),
                closed: ratio(c.orders_closed, c.orders_due, 1.0),
                on_time,
                rework,
                extension: ratio(c.orders_extended, c.orders_due, 0.0),
                rectification: (on_time - rules.rework_penalty * rework).clamp(0.0, 1.0),
                evidence_quality: ratio(c.evidence_ok, c.inspections, 0.0),
            };
            let score = round(
                100.0
                    * (f64::from(weights.inspection_compliance) * rates.compliance
                        + f64::from(weights.coverage) * rates.coverage
                        + f64::from(weights.rectification_on_time) * rates.rectification
                        + f64::from(weights.evidence_quality) * rates.evidence_quality)
                    / total_weight,
                2,
            );
            let rates = Rates {
                compliance: round(rates.compliance, 4),
                coverage: round(rates.coverage, 4),
                closed: round(rates.closed, 4),
                on_time: round(rates.on_time, 4),
                rework: round(rates.rework, 4),
                extension: round(rates.extension, 4),
                rectification: round(rates.rectification, 4),
                evidence_quality: round(rates.evidence_quality, 4),
            };
            UnitResult {
                unit: u.code.clone(),
                name: u.name.clone(),
                peer_group: u.peer_group.clone(),
                counts: c,
                rates,
                score,
                rank: None,
                ranked_among: 0,
                change: prev
                    .get(u.code.as_str())
                    .filter(|_| has_data)
                    .map(|p| round(score - p, 2)),
                overdue: s
                    .overdue
                    .iter()
                    .filter(|o| {
                        paths
                            .get(o.unit.as_str())
                            .is_some_and(|p| p.contains(&u.code))
                    })
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    // Competition ranking within each peer group: 1, 2, 2, 4; units without data are not ranked.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, u) in out.iter().enumerate() {
        if let Some(g) = &u.peer_group
            && u.counts.has_data()
        {
            groups.entry(g.clone()).or_default().push(i);
        }
    }
    for members in groups.values() {
        for &i in members {
            let better = members
                .iter()
                .filter(|&&j| out[j].score > out[i].score)
                .count();
            out[i].rank = Some(better as u32 + 1);
            out[i].ranked_among = members.len() as u32;
        }
    }
    out
}

/// One changed figure between two results of a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub unit: String,
    /// e.g. `score`, `counts.inspections`, `rates.coverage`, `rank`.
    pub figure: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// Every figure that differs between two results of the same month (units added or removed
/// included), in unit then figure order.
pub fn diff(before: &[UnitResult], after: &[UnitResult]) -> Vec<Change> {
    let by_unit = |rs: &[UnitResult]| -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
        rs.iter()
            .map(|u| {
                let mut m = BTreeMap::new();
                flatten("", &serde_json::to_value(u).unwrap_or_default(), &mut m);
                (u.unit.clone(), m)
            })
            .collect()
    };
    let (b, a) = (by_unit(before), by_unit(after));
    let mut out = Vec::new();
    let units: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let empty = BTreeMap::new();
    for unit in units {
        let (bu, au) = (b.get(unit).unwrap_or(&empty), a.get(unit).unwrap_or(&empty));
        let figures: std::collections::BTreeSet<&String> = bu.keys().chain(au.keys()).collect();
        for f in figures {
            let (x, y) = (bu.get(f), au.get(f));
            if x != y {
                out.push(Change {
                    unit: unit.clone(),
                    figure: f.clone(),
                    before: x.cloned().unwrap_or(serde_json::Value::Null),
                    after: y.cloned().unwrap_or(serde_json::Value::Null),
                });
            }
        }
    }
    out
}

/// One row of a bulletin's ranking table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulletinRow {
    pub rank: Option<u32>,
    pub unit: String,
    pub name: String,
    pub score: f64,
    pub change: Option<f64>,
    pub compliance: f64,
    pub coverage: f64,
    pub closed: f64,
    pub on_time: f64,
    pub rework: f64,
    pub extension: f64,
    pub evidence_quality: f64,
    pub inspections: u64,
    pub orders_due: u64,
    /// The rectification figure as it enters the total (按期结案率 less the rework penalty).
    #[serde(default)]
    pub rectification: f64,
    /// Nothing to assess in the month (无考核数据): shown as such, not ranked.
    #[serde(default)]
    pub no_data: bool,
}

/// A peer group's ranking, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulletinGroup {
    pub group: String,
    /// The group's heading as printed (e.g. 县（市、区）); the code when the campaign names none.
    #[serde(default)]
    pub name_zh: String,
    pub rows: Vec<BulletinRow>,
}

/// How a deployment heads its bulletins: who issues them, their document number and who signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulletinStyle {
    /// The issuing body, e.g. 聊城市城市管理局.
    pub issuer: String,
    /// The document number; `{year}` and `{month}` (1 to 12) are filled in, e.g.
    /// `聊城管考〔{year}〕{month}号`.
    pub number: String,
    /// The signature block's name (the issuer when empty).
    pub signature: String,
}

impl Default for BulletinStyle {
    fn default() -> Self {
        Self {
            issuer: "聊城市城市管理局".into(),
            number: "聊城管考〔{year}〕{month}号".into(),
            signature: String::new(),
        }
    }
}

/// The heading of one issued bulletin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulletinHeader {
    pub issuer: String,
    pub number: String,
    /// The date of issue: the day the revision was published (China Standard Time).
    pub issued_on: String,
    pub signature: String,
}

impl BulletinStyle {
    /// The heading of the bulletin of `month` published at `published`.
    pub fn header(&self, month: &str, published: DateTime<Utc>) -> BulletinHeader {
        let (year, m) = month.split_once('-').unwrap_or((month, ""));
        let m = m.trim_start_matches('0');
        BulletinHeader {
            issuer: self.issuer.clone(),
            number: self.number.replace("{year}", year).replace("{month}", m),
            issued_on: (published + chrono::Duration::hours(8))
                .format("%Y年%-m月%-d日")
                .to_string(),
            signature: if self.signature.trim().is_empty() {
                self.issuer.clone()
            } else {
                self.signature.clone()
            },
        }
    }
}

/// An order named in a bulletin's lists, by the names a reader knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedOrder {
    pub subject: String,
    pub unit: String,
    pub item: String,
    /// The deadline, China Standard Time (`YYYY-MM-DD HH:MM`).
    pub deadline: String,
    /// Times it was sent back (返工).
    pub reworks: u32,
}

/// A unit's score in a month (for the trend over the campaign).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub month: String,
    pub unit: String,
    pub score: f64,
}

/// Units with reworks in the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReworkRow {
    pub unit: String,
    pub name: String,
    pub reworks: u64,
    pub orders_due: u64,
}

/// The monthly bulletin (考评通报): ranked tables per peer group, the overdue and rework lists,
/// the trend, and the audit chain head the figures were published with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bulletin {
    pub campaign: String,
    pub month: String,
    pub revision: u32,
    pub audit_head: String,
    pub groups: Vec<BulletinGroup>,
    pub overdue: Vec<OverdueOrder>,
    pub reworks: Vec<ReworkRow>,
    pub trend: Vec<TrendPoint>,
    /// Pollution alerts in the month: their requirements were raised.
    #[serde(default)]
    pub alerts: Vec<AlertWindow>,
    /// The campaign's Chinese name.
    #[serde(default)]
    pub campaign_name: String,
    #[serde(default)]
    pub header: BulletinHeader,
    /// The whole deployment's figures (the root unit's row, 全市).
    #[serde(default)]
    pub summary: Option<BulletinRow>,
    /// The overdue orders by name: subject, unit, item, deadline.
    #[serde(default)]
    pub overdue_named: Vec<ListedOrder>,
    /// The orders due in the month that were sent back, by name.
    #[serde(default)]
    pub reworked: Vec<ListedOrder>,
    /// Chinese names of the units the bulletin mentions by code (alerts' regions).
    #[serde(default)]
    pub unit_names: BTreeMap<String, String>,
}

/// Assembles the bulletin of a month from its results and the earlier months' (for the trend).
/// Only ranked units (those in a peer group) appear in the tables and the trend.
pub fn bulletin(
    campaign: &str,
    month: &str,
    revision: u32,
    audit_head: &str,
    units: &[UnitResult],
    history: &[(String, Vec<UnitResult>)],
) -> Bulletin {
    let mut groups: BTreeMap<String, Vec<BulletinRow>> = BTreeMap::new();
    for u in units {
        let Some(g) = &u.peer_group else { continue };
        groups.entry(g.clone()).or_default().push(bulletin_row(u));
    }
    let groups = groups
        .into_iter()
        .map(|(group, mut rows)| {
            // Ranked first, best first; units without data after them.
            rows.sort_by(|a, b| {
                (a.rank.is_none(), a.rank, &a.unit).cmp(&(b.rank.is_none(), b.rank, &b.unit))
            });
            // A group named after a unit (`<unit>` or `<unit>_streets`) is its streets and towns.
            let parent = group.strip_suffix("_streets").unwrap_or(&group);
            let name_zh = match units.iter().find(|u| u.unit == parent) {
                Some(parent) => format!("{}所辖街道（乡镇）", parent.name),
                None => group_name_zh(&group),
            };
            BulletinGroup {
                name_zh,
                group,
                rows,
            }
        })
        .collect();
    // The root unit (the shortest path) is the deployment as a whole.
    let summary = units
        .iter()
        .filter(|u| u.peer_group.is_none())
        .min_by_key(|u| (u.unit.len(), u.unit.clone()))
        .map(bulletin_row);
    let mut seen = std::collections::BTreeSet::new();
    let mut overdue: Vec<OverdueOrder> = units
        .iter()
        .flat_map(|u| u.overdue.iter())
        .filter(|o| seen.insert(o.id.clone()))
        .cloned()
        .collect();
    overdue.sort_by(|a, b| a.deadline.cmp(&b.deadline).then(a.id.cmp(&b.id)));
    let reworks = units
        .iter()
        .filter(|u| u.peer_group.is_some() && u.counts.reworks > 0)
        .map(|u| ReworkRow {
            unit: u.unit.clone(),
            name: u.name.clone(),
            reworks: u.counts.reworks,
            orders_due: u.counts.orders_due,
        })
        .collect();
    let mut trend: Vec<TrendPoint> = history
        .iter()
        .filter(|(m, _)| m.as_str() < month)
        .flat_map(|(m, us)| us.iter().map(move |u| (m.as_str(), u)))
        .chain(units.iter().map(|u| (month, u)))
        .filter(|(_, u)| u.peer_group.is_some())
        .map(|(m, u)| TrendPoint {
            month: m.to_owned(),
            unit: u.unit.clone(),
            score: u.score,
        })
        .collect();
    trend.sort_by(|a, b| a.month.cmp(&b.month).then(a.unit.cmp(&b.unit)));
    Bulletin {
        campaign: campaign.to_owned(),
        month: month.to_owned(),
        revision,
        audit_head: audit_head.to_owned(),
        groups,
        overdue,
        reworks,
        trend,
        alerts: Vec::new(),
        campaign_name: String::new(),
        header: BulletinHeader::default(),
        summary,
        overdue_named: Vec::new(),
        reworked: Vec::new(),
        unit_names: units
            .iter()
            .map(|u| (u.unit.clone(), u.name.clone()))
            .collect(),
    }
}

/// A unit's row in the bulletin.
pub fn bulletin_row(u: &UnitResult) -> BulletinRow {
    BulletinRow {
        rank: u.rank,
        unit: u.unit.clone(),
        name: u.name.clone(),
        score: u.score,
        change: u.change,
        compliance: u.rates.compliance,
        coverage: u.rates.coverage,
        closed: u.rates.closed,
        on_time: u.rates.on_time,
        rework: u.rates.rework,
        extension: u.rates.extension,
        evidence_quality: u.rates.evidence_quality,
        inspections: u.counts.inspections,
        orders_due: u.counts.orders_due,
        rectification: u.rates.rectification,
        no_data: !u.counts.has_data(),
    }
}

/// The printed heading of a peer group.
pub fn group_name_zh(group: &str) -> String {
    match group {
        "counties" | "county" => "县（市、区）".into(),
        "main_districts" => "主城区及功能区".into(),
        "city_offices" => "市局直属单位".into(),
        "utilities" => "公用事业单位".into(),
        "streets" | "street" => "街道".into(),
        other => other.to_owned(),
    }
}

/// A rollup of a month as kept: official revisions and the provisional figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub campaign: String,
    pub month: String,
    pub kind: String,
    pub revision: u32,
    pub units: Vec<UnitResult>,
    /// What changed against the previous revision (empty for the first).
    pub diff: Vec<Change>,
    pub audit_head: String,
    pub computed_at: DateTime<Utc>,
}

/// A declared pollution alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: uuid::Uuid,
    pub level: String,
    pub units: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: Option<String>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
    /// Lifted before its declared end: from then on it no longer applies. The declared `ends_at`
    /// stays as declared; this comes from an appended event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_early_at: Option<DateTime<Utc>>,
}

/// Pollution alert levels (黄色, 橙色, 红色预警), weakest first.
pub const ALERT_LEVELS: [&str; 3] = ["yellow", "orange", "red"];

impl Alert {
    /// Whether the alert covers a place in the unit with path `unit_path` at `at`: it has begun
    /// and not yet ended (it ends at `ends_at`, exclusive), and one of its units is the place's
    /// unit or above it.
    pub fn applies(&self, unit_path: &[String], at: DateTime<Utc>) -> bool {
        self.starts_at <= at
            && at < self.effective_end()
            && self.units.iter().any(|u| unit_path.contains(u))
    }

    /// When it stops applying: its declared end, or earlier if it was lifted.
    pub fn effective_end(&self) -> DateTime<Utc> {
        self.ended_early_at
            .map_or(self.ends_at, |e| e.min(self.ends_at))
    }

    /// Whether it may be lifted at `at`, decided at `now`: not already lifted, not yet over, and
    /// not backwards (an alert is lifted from now on; figures already computed under it stand).
    /// Returns the time it ends.
    pub fn end_early(
        &self,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, crate::ValidationError> {
        let at = at.unwrap_or(now).max(self.starts_at);
        if self.ended_early_at.is_some() || self.ends_at <= now {
            return Err(crate::ValidationError::new(
                "alert_over",
                "id",
                "the alert has already ended",
            ));
        }
        if at + chrono::Duration::minutes(1) < now {
            return Err(crate::ValidationError::new(
                "alert_end_in_past",
                "at",
                "an alert is lifted from now on, not backwards",
            ));
        }
        if at >= self.ends_at {
            return Err(crate::ValidationError::new(
                "alert_end_after_declared",
                "at",
                "lifting ends an alert before its declared end",
            ));
        }
        Ok(at)
    }

    /// The alert as far as the period [from, to) is concerned (a month: at most 31 days), with the
    /// number of days [d, d + 1) of the period it overlaps; `None` when it does not touch it.
    pub fn window(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<AlertWindow> {
        let ends_at = self.effective_end();
        if self.starts_at >= to || ends_at <= from {
            return None;
        }
        let mut days = 0u32;
        let mut d = from;
        for _ in 0..32 {
            if d >= to {
                break;
            }
            let next = d + chrono::Duration::days(1);
            if self.starts_at < next && ends_at > d {
                days += 1;
            }
            d = next;
        }
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Some(AlertWindow {
            id: self.id.to_string(),
            level: self.level.clone(),
            units: self.units.clone(),
            starts_at: text(self.starts_at),
            ends_at: text(ends_at),
            days,
        })
    }

    /// Whether a declaration is well formed: a known level, 1 to 500 units, an end after the
    /// start; the note is cut to the limit of a note. Unit codes are checked against the organisation by the
    /// caller, which also asks whether the declarer may cover them.
    pub fn check(
        level: &str,
        units: &[String],
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        note: Option<String>,
    ) -> Result<Option<String>, crate::ValidationError> {
        use crate::ValidationError as V;
        if !ALERT_LEVELS.contains(&level) {
            return Err(V::new(
                "alert_level_invalid",
                "level",
                "yellow, orange or red",
            ));
        }
        if units.is_empty() || units.len() > 500 {
            return Err(V::new(
                "alert_units_invalid",
                "units",
                "1 to 500 unit codes",
            ));
        }
        if ends_at <= starts_at {
            return Err(V::new(
                "alert_period_invalid",
                "ends_at",
                "an alert ends after it starts",
            ));
        }
        Ok(note.map(|n| n.chars().take(crate::limits::NOTE_CHARS).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(starts: &str, ends: &str) -> Alert {
        Alert {
            id: uuid::Uuid::nil(),
            level: "orange".into(),
            units: vec!["yanggu".into()],
            starts_at: starts.parse().expect("t"),
            ends_at: ends.parse().expect("t"),
            note: None,
            declared_by: "x".into(),
            declared_at: starts.parse().expect("t"),
            ended_early_at: None,
        }
    }

    #[test]
    fn a_lifted_alert_stops_applying_and_touches_only_its_days() {
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("t");
        let mut a = alert("2019-11-03T16:00:00Z", "2019-11-10T16:00:00Z");
        let now = t("2019-11-05T04:00:00Z");
        assert_eq!(
            a.end_early(Some(t("2019-11-01T00:00:00Z")), now)
                .map_err(|e| e.code),
            Err("alert_end_in_past")
        );
        assert_eq!(
            a.end_early(Some(t("2019-12-01T00:00:00Z")), now)
                .map_err(|e| e.code),
            Err("alert_end_after_declared")
        );
        let at = a.end_early(None, now).expect("lifted now");
        assert_eq!(at, now);
        a.ended_early_at = Some(at);
        let place = ["yanggu".to_owned()];
        assert!(a.applies(&place, t("2019-11-05T03:59:00Z")));
        assert!(!a.applies(&place, t("2019-11-05T04:00:00Z")));
        let (from, to) = month_bounds("2019-11").expect("month");
        // CST days touched: the 4th (from 00:00) and the 5th (until 12:00), not the seven declared.
        assert_eq!(a.window(from, to).map(|w| w.days), Some(2));
        assert_eq!(
            a.end_early(None, now).map_err(|e| e.code),
            Err("alert_over"),
            "lifted once"
        );
    }

    #[test]
    fn an_alert_applies_below_its_units_until_its_end_and_counts_the_days_it_touches() {
        let a = alert("2019-11-03T16:00:00Z", "2019-11-05T16:00:00Z");
        let place = ["lcucb".to_owned(), "yanggu".to_owned()];
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("t");
        assert!(a.applies(&place, t("2019-11-04T00:00:00Z")));
        assert!(
            !a.applies(&place, t("2019-11-05T16:00:00Z")),
            "the end is exclusive"
        );
        assert!(!a.applies(&["lcucb".to_owned()], t("2019-11-04T00:00:00Z")));
        let (from, to) = month_bounds("2019-11").expect("month");
        assert_eq!(a.window(from, to).map(|w| w.days), Some(2));
        // Ending at a midnight, it does not touch the next day.
        let (from, to) = month_bounds("2019-12").expect("month");
        assert!(a.window(from, to).is_none());
    }
    use crate::campaign::CoverageRule;

    /// The worked example of `docs/scoring.md`: a city bureau with two counties in one peer group
    /// and a town under the first county.
    fn example() -> Snapshot {
        let unit = |code: &str, path: &[&str], group: Option<&str>| UnitInfo {
            code: code.into(),
            name: code.into(),
            path: path.iter().map(|p| p.to_string()).collect(),
            peer_group: group.map(str::to_owned),
        };
        let insp =
            |unit: &str, subject: u64, earned: u32, possible: u32, critical: bool, ok: bool| {
                InspectionFact {
                    unit: unit.into(),
                    subject,
                    earned,
                    possible,
                    critical_failed: critical,
                    rejected: false,
                    verdict_ok: ok,
                    media_complete: true,
                    alert: None,
                }
            };
        let subj = |id: u64, unit: &str, kind: &str, grade: Option<&str>| SubjectFact {
            id,
            unit: unit.into(),
            kind: kind.into(),
            grade: grade.map(str::to_owned),
        };
        let order = |unit: &str,
                     closed: bool,
                     on_time: bool,
                     deferred: bool,
                     rework: u32,
                     extended: bool| OrderFact {
            unit: unit.into(),
            closed,
            closed_on_time: on_time,
            deferred,
            rework_count: rework,
            extended,
        };
        let mut rejected = insp("east", 1, 100, 100, false, true);
        rejected.rejected = true;
        Snapshot {
            month_days: 30,
            alerts: Vec::new(),
            units: vec![
                unit("city", &["city"], None),
                unit("east", &["city", "east"], Some("county")),
                unit("east_town", &["city", "east", "east_town"], None),
                unit("west", &["city", "west"], Some("county")),
            ],
            inspections: vec![
                // east: site 1 twice (80/100, 90/100), restaurant 2 once with a critical failure.
                insp("east", 1, 80, 100, false, true),
                insp("east", 1, 90, 100, false, false),
                insp("east_town", 2, 30, 40, true, true),
                rejected,
                // west: site 3 four times, all 100/100, one with a doubtful verdict.
                insp("west", 3, 100, 100, false, true),
                insp("west", 3, 100, 100, false, true),
                insp("west", 3, 100, 100, false, true),
                insp("west", 3, 100, 100, false, false),
            ],
            subjects: vec![
                subj(1, "east", "construction_site", None),
                subj(2, "east_town", "restaurant", Some("b")),
                subj(3, "west", "construction_site", None),
                subj(4, "west", "muck_truck", None),
            ],
            orders: vec![
                order("east", true, true, false, 0, false),
                order("east", true, false, false, 1, true),
                order("east_town", false, false, false, 0, false),
                order("east", false, false, true, 0, false),
                order("west", true, true, false, 0, false),
            ],
            overdue: vec![OverdueOrder {
                id: "o3".into(),
                unit: "east_town".into(),
                item: "RE1".into(),
                deadline: "2019-11-20T16:00:00Z".into(),
            }],
        }
    }

    fn rules() -> AssessmentRules {
        AssessmentRules {
            coverage: vec![
                CoverageRule {
                    kind: "construction_site".into(),
                    grade: None,
                    per_month: 4,
                },
                CoverageRule {
                    kind: "restaurant".into(),
                    grade: Some("b".into()),
                    per_month: 1,
                },
            ],
            rework_penalty: 0.5,
            ..AssessmentRules::default()
        }
    }

    const WEIGHTS: ScoreWeights = ScoreWeights {
        inspection_compliance: 40,
        coverage: 25,
        rectification_on_time: 25,
        evidence_quality: 10,
    };

    /// A county with nothing to assess in the month (no inspection, no subject due, no order due)
    /// is shown as having no data: not ranked first with the 50 points its empty rates would give,
    /// not counted among those ranked, and with no change from a month it has data in either.
    #[test]
    fn a_unit_without_work_is_not_ranked_and_has_no_change() {
        let mut s = example();
        s.units.push(UnitInfo {
            code: "north".into(),
            name: "north".into(),
            path: vec!["city".into(), "north".into()],
            peer_group: Some("county".into()),
        });
        let first = rollup(&s, &WEIGHTS, &rules(), None);
        let north = first.iter().find(|u| u.unit == "north").expect("north");
        assert!(!north.counts.has_data());
        assert_eq!((north.rank, north.change), (None, None));
        let east = first.iter().find(|u| u.unit == "east").expect("east");
        assert_eq!(east.ranked_among, 2, "north is not among the ranked");
        // Next month north has data; east's previous month had data, north's did not.
        let next = rollup(&example(), &WEIGHTS, &rules(), Some(&first));
        let east = next.iter().find(|u| u.unit == "east").expect("east");
        assert_eq!(east.change, Some(0.0));
        let mut with_north = example();
        with_north.units = s.units.clone();
        with_north.inspections.push(InspectionFact {
            unit: "north".into(),
            subject: 9,
            earned: 10,
            possible: 10,
            critical_failed: false,
            rejected: false,
            verdict_ok: true,
            media_complete: true,
            alert: None,
        });
        let later = rollup(&with_north, &WEIGHTS, &rules(), Some(&first));
        let north = later.iter().find(|u| u.unit == "north").expect("north");
        assert!(north.rank.is_some());
        assert_eq!(north.change, None, "no change from a month without data");
    }

    #[test]
    fn the_worked_example_of_the_scoring_document_holds_figure_by_figure() {
        let r = rollup(&example(), &WEIGHTS, &rules(), None);
        let get = |code: &str| r.iter().find(|u| u.unit == code).expect("unit");
        let east = get("east");
        // Compliance: (80 + 90 + 0) / (100 + 100 + 40) = 170 / 240; the rejected one is left out.
        assert_eq!(east.counts.inspections, 3);
        assert_eq!((east.counts.earned, east.counts.possible), (170, 240));
        assert_eq!(east.rates.compliance, 0.7083);
        // Coverage: site 1 needs 4 (had 2), restaurant 2 (grade b) needs 1 (had 1): 1 / 2.
        assert_eq!(
            (east.counts.subjects_covered, east.counts.subjects_due),
            (1, 2)
        );
        // Orders due 3 (the deferred one excluded): closed 2, on time 1, 1 rework, 1 extended.
        assert_eq!(
            (
                east.counts.orders_due,
                east.counts.orders_closed,
                east.counts.orders_closed_on_time
            ),
            (3, 2, 1)
        );
        assert_eq!(
            (
                east.counts.reworks,
                east.counts.orders_extended,
                east.counts.orders_deferred
            ),
            (1, 1, 1)
        );
        assert_eq!(east.rates.closed, 0.6667);
        assert_eq!(east.rates.on_time, 0.3333);
        assert_eq!(east.rates.rework, 0.3333);
        assert_eq!(east.rates.extension, 0.3333);
        // Rectification: 1/3 - 0.5 x 1/3 = 1/6.
        assert_eq!(east.rates.rectification, 0.1667);
        // Evidence: 2 of 3 inspections ok and complete.
        assert_eq!(east.rates.evidence_quality, 0.6667);
        // Score: (40 x 170/240 + 25 x 1/2 + 25 x 1/6 + 10 x 2/3) / 100 x 100 = 51.67.
        assert_eq!(east.score, 51.67);
        assert_eq!(east.overdue.len(), 1);

        let west = get("west");
        // Compliance 400/400; coverage: site 3 inspected 4 times (needed 4); the muck truck has no
        // rule: 1/1; one order closed on time; evidence 3/4.
        assert_eq!(west.rates.compliance, 1.0);
        assert_eq!(west.rates.coverage, 1.0);
        assert_eq!(west.rates.rectification, 1.0);
        assert_eq!(west.rates.evidence_quality, 0.75);
        // (40 + 25 + 25 + 10 x 0.75) = 97.5
        assert_eq!(west.score, 97.5);
        assert_eq!((west.rank, east.rank), (Some(1), Some(2)));
        assert_eq!(west.ranked_among, 2);

        // The town alone: 0 earned of 40 (critical failure); its restaurant covered; one order due,
        // open, so on time 0/1.
        let town = get("east_town");
        assert_eq!(town.rates.compliance, 0.0);
        assert_eq!(town.rates.coverage, 1.0);
        assert_eq!(town.rates.on_time, 0.0);
        assert_eq!(town.score, 35.0);
        assert_eq!(town.rank, None);
        // The city sums everything below it.
        let city = get("city");
        assert_eq!(city.counts.inspections, 7);
        assert_eq!((city.counts.earned, city.counts.possible), (570, 640));
    }

    #[test]
    fn the_bulletin_ranks_each_peer_group_and_lists_what_is_late() {
        let r = rollup(&example(), &WEIGHTS, &rules(), None);
        let b = bulletin(
            "c",
            "2019-11",
            1,
            "head",
            &r,
            &[("2019-10".into(), r.clone())],
        );
        assert_eq!(b.groups.len(), 1);
        let rows: Vec<(Option<u32>, &str)> = b.groups[0]
            .rows
            .iter()
            .map(|r| (r.rank, r.unit.as_str()))
            .collect();
        assert_eq!(rows, [(Some(1), "west"), (Some(2), "east")]);
        assert_eq!(b.overdue.len(), 1);
        assert_eq!(b.reworks.len(), 1);
        assert_eq!(b.trend.len(), 4);
    }

    #[test]
    fn an_orange_alert_raises_coverage_in_its_region_only_and_for_its_days() {
        // West's site 3 had 4 inspections: enough normally.
        let mut s = example();
        s.month_days = 30;
        let base = rollup(&s, &WEIGHTS, &rules(), None);
        let west = |r: &[UnitResult]| {
            r.iter()
                .find(|u| u.unit == "west")
                .map(|u| u.counts.subjects_covered)
        };
        assert_eq!(west(&base), Some(1));
        // An orange alert (x2 for construction sites) over 15 of the 30 days in west: 4 + ceil(4 x 1 x 15/30) = 6.
        s.alerts = vec![AlertWindow {
            id: "a1".into(),
            level: "orange".into(),
            units: vec!["west".into()],
            starts_at: String::new(),
            ends_at: String::new(),
            days: 15,
        }];
        let during = rollup(&s, &WEIGHTS, &rules(), None);
        assert_eq!(west(&during), Some(0));
        // East is outside the region: unchanged.
        let east = |r: &[UnitResult]| {
            r.iter()
                .find(|u| u.unit == "east")
                .map(|u| u.counts.clone())
        };
        assert_eq!(east(&during), east(&base));
        assert_eq!(
            rules().required_with_alerts("construction_site", None, &[("orange", 15)], 30),
            6
        );
        assert_eq!(
            rules().required_with_alerts("construction_site", None, &[("orange", 30)], 30),
            8
        );
        assert_eq!(
            rules().required_with_alerts("construction_site", None, &[("orange", 0)], 30),
            4
        );
        assert_eq!(
            rules().required_with_alerts("restaurant", Some("b"), &[("orange", 30)], 30),
            1
        );
    }

    #[test]
    fn violations_during_an_alert_weigh_more() {
        let mut s = example();
        // West's four clean inspections lose nothing: an alert changes nothing there.
        for i in s.inspections.iter_mut().filter(|i| &*i.unit == "west") {
            i.alert = Some("orange".into());
        }
        // East's 80/100 inspection took place during an orange alert: its 20 lost points weigh
        // 200%, so it counts 80 of 120.
        s.inspections[0].alert = Some("orange".into());
        let r = rollup(&s, &WEIGHTS, &rules(), None);
        let get = |code: &str| r.iter().find(|u| u.unit == code).expect("unit").clone();
        assert_eq!(get("east").counts.alert_extra_centi, 2000);
        // (80 + 90 + 0) / (240 + 20) = 170 / 260
        assert_eq!(get("east").rates.compliance, 0.6538);
        assert_eq!(get("west").rates.compliance, 1.0);
    }

    #[test]
    fn months_are_china_standard_time() {
        let (a, b) = month_bounds("2019-12").expect("month");
        assert_eq!(a.to_rfc3339(), "2019-11-30T16:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2019-12-31T16:00:00+00:00");
        assert!(month_bounds("2019-13").is_none());
        assert!(month_bounds("12-2019").is_none());
        assert_eq!(previous_month("2020-01").as_deref(), Some("2019-12"));
        assert_eq!(previous_month("2019-11").as_deref(), Some("2019-10"));
    }

    #[test]
    fn last_month_gives_the_change_and_a_diff_lists_exactly_what_moved() {
        let first = rollup(&example(), &WEIGHTS, &rules(), None);
        let mut later = example();
        // A late inspection of site 1 arrives.
        later.inspections.push(InspectionFact {
            unit: "east".into(),
            subject: 1,
            earned: 100,
            possible: 100,
            critical_failed: false,
            rejected: false,
            verdict_ok: true,
            media_complete: true,
            alert: None,
        });
        let second = rollup(&later, &WEIGHTS, &rules(), None);
        let d = diff(&first, &second);
        let east: Vec<&str> = d
            .iter()
            .filter(|c| c.unit == "east")
            .map(|c| c.figure.as_str())
            .collect();
        assert_eq!(
            east,
            [
                "counts.earned",
                "counts.evidence_ok",
                "counts.inspections",
                "counts.possible",
                "rates.compliance",
                "rates.evidence_quality",
                "score"
            ]
        );
        assert!(
            d.iter().all(|c| c.unit == "east" || c.unit == "city"),
            "{d:?}"
        );
        assert!(diff(&first, &first).is_empty());
        let next = rollup(&example(), &WEIGHTS, &rules(), Some(&second));
        let e = next.iter().find(|u| u.unit == "east").expect("east");
        assert!(e.change.is_some_and(|c| c < 0.0));
    }
}

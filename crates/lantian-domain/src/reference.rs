//! Reference data: the 2019-2020 Liaocheng campaign of the source plan, kept as data
//! (`reference/liaocheng-2019-2020.json`), and the deterministic demo data set that `--demo` adds.
//!
//! Responsible units in the plan are often groups ("各县（市、区）、市属开发区城管（执法）部门");
//! the JSON names such a group as `@group` and [`liaocheng`] expands it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::ValidationError;
use crate::campaign::Campaign;
use crate::checklist::{ChecklistItem, TemplateDraft};
use crate::subject::{self, GeoPoint, SubjectAttributes, SubjectDraft, SubjectKind};
use crate::unit::{Department, UnitKind, valid_unit_code};
use crate::user::Role;

const LIAOCHENG_JSON: &str = include_str!("../reference/liaocheng-2019-2020.json");

/// A unit as reference data declares it; parents come before their children.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSpec {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    pub parent: Option<String>,
    pub peer_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub code: String,
    pub subject_kind: SubjectKind,
    pub title_zh: String,
    pub title_en: String,
    pub items: Vec<ChecklistItem>,
}

impl TemplateSpec {
    pub fn draft(&self) -> TemplateDraft {
        TemplateDraft {
            subject_kind: self.subject_kind,
            title_zh: self.title_zh.clone(),
            title_en: self.title_en.clone(),
            items: self.items.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceData {
    pub source: String,
    pub units: Vec<UnitSpec>,
    pub unit_groups: BTreeMap<String, Vec<String>>,
    pub departments: Vec<Department>,
    pub campaign: Campaign,
    pub templates: Vec<TemplateSpec>,
}

/// The Liaocheng 2019-2020 reference data, parsed, with unit groups expanded and every cross
/// reference checked.
pub fn liaocheng() -> Result<ReferenceData, ValidationError> {
    let mut data: ReferenceData = serde_json::from_str(LIAOCHENG_JSON)
        .map_err(|e| ValidationError::new("reference_unreadable", "reference", e.to_string()))?;
    data.resolve()?;
    Ok(data)
}

impl ReferenceData {
    fn resolve(&mut self) -> Result<(), ValidationError> {
        let mut seen = BTreeSet::new();
        for u in &self.units {
            if !valid_unit_code(&u.code) || !seen.insert(u.code.clone()) {
                return Err(ValidationError::new(
                    "unit_code_invalid",
                    "units",
                    format!("bad or repeated unit code {}", u.code),
                ));
            }
            if let Some(p) = &u.parent
                && (!seen.contains(p) || p == &u.code)
            {
                return Err(ValidationError::new(
                    "unit_parent_unknown",
                    "units",
                    format!("{} names parent {p} before it is declared", u.code),
                ));
            }
        }
        let departments: BTreeSet<&str> =
            self.departments.iter().map(|d| d.code.as_str()).collect();
        for task in &mut self.campaign.tasks {
            let mut expanded = Vec::new();
            for code in &task.responsible_units {
                match code.strip_prefix('@') {
                    Some(group) => {
                        let members = self.unit_groups.get(group).ok_or_else(|| {
                            ValidationError::new(
                                "unit_group_unknown",
                                "tasks",
                                format!("task {} names unknown group {group}", task.number),
                            )
                        })?;
                        expanded.extend(members.iter().cloned());
                    }
                    None => expanded.push(code.clone()),
                }
            }
            for code in &expanded {
                if !seen.contains(code) {
                    return Err(ValidationError::new(
                        "unit_unknown",
                        "tasks",
                        format!("task {} names unknown unit {code}", task.number),
                    ));
                }
            }
            let mut dedup = BTreeSet::new();
            expanded.retain(|c| dedup.insert(c.clone()));
            task.responsible_units = expanded;
            for d in &task.supervising_departments {
                if !departments.contains(d.as_str()) {
                    return Err(ValidationError::new(
                        "department_unknown",
                        "tasks",
                        format!("task {} names unknown department {d}", task.number),
                    ));
                }
            }
        }
        self.campaign.validate()?;
        for t in &self.templates {
            t.draft().validate()?;
        }
        Ok(())
    }
}

/// A demo user: one per role.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit: String,
}

/// The password of every demo user; printed by `lantian serve --demo`. Demo data is for trying
/// lantian out, never for a real deployment.
pub const DEMO_PASSWORD: &str = "lantian-demo-2019";

/// An argon2id hash of [`DEMO_PASSWORD`] (the parameters of every other account's hash), given to
/// every demo user: the demo's accounts and password are public, and hashing six of them at the
/// first start held 38 MiB of hashing memory that the allocator kept.
pub const DEMO_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$x9fQ+Sq2sizdEyTE8hCqYA$VG12hrB89V+5C0Pr3vM2BprntRQ1EOjs46rjjATMmys";

/// The demo data set: a few streets, one user per role, and about 300 subjects spread over the
/// districts and counties at plausible coordinates. Deterministic: the same every time.
pub struct Demo {
    pub streets: Vec<UnitSpec>,
    pub users: Vec<DemoUser>,
    pub subjects: Vec<(uuid::Uuid, SubjectDraft)>,
}

/// Approximate WGS-84 centres of the local bureaus' towns.
const CENTRES: &[(&str, f64, f64, u32)] = &[
    ("dongchangfu", 36.434, 115.986, 60),
    ("econ_dev_zone", 36.420, 116.060, 22),
    ("high_tech_zone", 36.485, 116.045, 22),
    ("jiangbei_resort", 36.405, 115.935, 16),
    ("chiping", 36.581, 116.255, 20),
    ("yanggu", 36.114, 115.791, 22),
    ("shenxian", 36.234, 115.671, 22),
    ("dong_e", 36.335, 116.248, 20),
    ("guanxian", 36.484, 115.442, 22),
    ("gaotang", 36.866, 116.230, 20),
    ("linqing", 36.838, 115.705, 22),
    ("enforcement_detachment", 36.457, 115.985, 12),
    ("municipal_works_office", 36.452, 115.990, 8),
    ("sanitation_office", 36.446, 115.978, 6),
    ("landscaping_office", 36.461, 115.970, 6),
];

const ROADS: &[&str] = &[
    "东昌路",
    "柳园路",
    "兴华路",
    "建设路",
    "花园路",
    "光岳路",
    "湖南路",
    "振兴路",
    "昌润路",
    "向阳路",
    "长江路",
    "黄河路",
    "徐州路",
    "卫育路",
    "利民路",
    "站前街",
    "东关街",
    "新华路",
];
const DISHES: &[&str] = &[
    "烧烤",
    "羊肉馆",
    "面馆",
    "火锅",
    "炒鸡店",
    "饺子馆",
    "烤鸭店",
    "排骨米饭",
];
const SHOP_WORDS: &[&str] = &[
    "老街", "聚福", "鸿运", "家常", "东方", "水城", "运河", "凤凰", "古楼", "湖畔",
];
const WORKS: &[&str] = &[
    "道路改造工程",
    "雨污分流工程",
    "供热管网工程",
    "燃气管道工程",
    "住宅小区项目",
    "综合管廊工程",
    "桥梁维修工程",
];
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

/// splitmix64: small, deterministic and good enough to scatter demo points and tell the demo's
/// history (`lantian_app::demo`): the same seed, the same data, on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 for an empty range).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// A number in [0, 1).
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    /// A random (version 4 shaped) id.
    pub fn uuid(&mut self) -> uuid::Uuid {
        let (hi, lo) = (self.next_u64(), self.next_u64());
        uuid::Builder::from_random_bytes(((u128::from(hi) << 64) | u128::from(lo)).to_le_bytes())
            .into_uuid()
    }
}

pub fn demo() -> Demo {
    let streets = [
        ("gulou", "古楼街道", "Gulou Subdistrict"),
        ("liuyuan", "柳园街道", "Liuyuan Subdistrict"),
        ("xinqu", "新区街道", "Xinqu Subdistrict"),
    ]
    .into_iter()
    .map(|(code, zh, en)| UnitSpec {
        code: format!("dongchangfu_{code}"),
        name_zh: format!("东昌府区{zh}"),
        name_en: format!("{en}, Dongchangfu"),
        kind: UnitKind::Street,
        parent: Some("dongchangfu".into()),
        peer_group: Some("dongchangfu_streets".into()),
    })
    .collect::<Vec<_>>();

    let users = [
        (Role::Inspector, "dongchangfu", "东昌府区执法人员"),
        (Role::Supervisor, "lcucb", "市容管理科督导员"),
        (Role::Assessor, "lcucb", "考评督查科考评员"),
        (Role::UnitAdmin, "dongchangfu", "东昌府区单位管理员"),
        (Role::Admin, "lcucb", "系统管理员"),
        (Role::Viewer, "lcucb", "分管副局长（只读）"),
    ]
    .into_iter()
    .map(|(role, unit, title)| DemoUser {
        username: format!("demo_{}", role.as_str()),
        display_name: title.to_owned(),
        role,
        unit: unit.to_owned(),
    })
    .collect();

    let mut rng = Rng(20_191_001);
    let mut subjects = Vec::new();
    let base_ms: u64 = 1_569_859_200_000; // 2019-10-01T00:00:00+08:00
    for &(unit, lat0, lon0, count) in CENTRES {
        for _ in 0..count {
            let n = subjects.len() as u64;
            let mut bytes = [0u8; 10];
            bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            bytes[8..].copy_from_slice(&(n as u16).to_le_bytes());
            let id = uuid::Builder::from_unix_timestamp_millis(base_ms + n, &bytes).into_uuid();
            // Within about 4 km of the town centre.
            let lat = lat0 + (rng.unit_f64() - 0.5) * 0.07;
            let lon = lon0 + (rng.unit_f64() - 0.5) * 0.09;
            let unit = if unit == "dongchangfu" && rng.below(3) == 0 {
                format!(
                    "dongchangfu_{}",
                    ["gulou", "liuyuan", "xinqu"][rng.below(3)]
                )
            } else {
                unit.to_owned()
            };
            subjects.push((id, demo_subject(&mut rng, unit, GeoPoint { lat, lon })));
        }
    }
    Demo {
        streets,
        users,
        subjects,
    }
}

fn square(p: GeoPoint, half_deg: f64) -> serde_json::Value {
    let (a, b) = (p.lon - half_deg, p.lon + half_deg);
    let (c, d) = (p.lat - half_deg * 0.8, p.lat + half_deg * 0.8);
    serde_json::json!({"type": "Polygon", "coordinates": [[[a, c], [b, c], [b, d], [a, d], [a, c]]]})
}

fn demo_subject(rng: &mut Rng, unit: String, p: GeoPoint) -> SubjectDraft {
    let roll = rng.below(100);
    let road = rng.pick(ROADS);
    let (name, attributes, location, geometry) = match roll {
        0..=24 => {
            let works = rng.pick(WORKS);
            let linear = works.contains("道路") || works.contains("管");
            (
                format!("{road}{works}"),
                SubjectAttributes::ConstructionSite(subject::ConstructionSite {
                    project_name: Some(format!("{road}{works}")),
                    builder: Some(format!("聊城{}建设有限公司", rng.pick(SHOP_WORDS))),
                    linear,
                    sunshine_construction: rng.below(2) == 0,
                }),
                Some(p),
                Some(square(p, 0.0012)),
            )
        }
        25..=54 => {
            let grade = [
                subject::RestaurantGrade::A,
                subject::RestaurantGrade::B,
                subject::RestaurantGrade::C,
            ][rng.below(3)];
            (
                format!("{}{}（{road}店）", rng.pick(SHOP_WORDS), rng.pick(DISHES)),
                SubjectAttributes::Restaurant(subject::Restaurant {
                    grade,
                    licence_number: None,
                    seats: Some(20 + rng.below(180) as u32),
                }),
                Some(p),
                None,
            )
        }
        55..=66 => {
            let letter = LETTERS[rng.below(LETTERS.len())] as char;
            let plate = format!("鲁P{letter}{:04}", rng.below(10_000));
            (
                format!("渣土车 {plate}"),
                SubjectAttributes::MuckTruck(subject::MuckTruck {
                    plate_number: plate,
                    carrier_company: Some(format!("聊城{}运输有限公司", rng.pick(SHOP_WORDS))),
                    approval_status: if rng.below(10) == 0 {
                        subject::ApprovalStatus::Suspended
                    } else {
                        subject::ApprovalStatus::Approved
                    },
                    approved_until: chrono::NaiveDate::from_ymd_opt(2020, 6, 30),
                }),
                None,
                None,
            )
        }
        67..=76 => {
            let (kind, label) = [
                (subject::PileKind::Coal, "煤堆"),
                (subject::PileKind::Ash, "灰堆"),
                (subject::PileKind::Material, "料堆"),
                (subject::PileKind::Spoil, "渣土堆"),
            ][rng.below(4)];
            (
                format!("{road}{label}"),
                SubjectAttributes::Stockpile(subject::Stockpile {
                    pile_kind: kind,
                    owner: None,
                }),
                Some(p),
                Some(square(p, 0.0004)),
            )
        }
        77..=82 => {
            let machine = ["挖掘机", "装载机", "压路机", "清扫车"][rng.below(4)];
            (
                format!("{machine}（{road}）"),
                SubjectAttributes::NonRoadMachinery(subject::NonRoadMachinery {
                    ledger_number: Some(format!("LC-NR-{:05}", rng.below(100_000))),
                    machine_type: Some(machine.to_owned()),
                    emission_stage: Some(["国二", "国三", "国四"][rng.below(3)].to_owned()),
                    owner: None,
                }),
                Some(p),
                None,
            )
        }
        83..=89 => {
            let end = GeoPoint {
                lat: p.lat + 0.004,
                lon: p.lon + 0.009,
            };
            (
                format!("{road}（{}段）", rng.pick(ROADS)),
                SubjectAttributes::RoadSection(subject::RoadSection {
                    road_name: road.to_owned(),
                    road_class: [
                        subject::RoadClass::Main,
                        subject::RoadClass::Secondary,
                        subject::RoadClass::Branch,
                        subject::RoadClass::BackStreet,
                    ][rng.below(4)],
                    sweeping_per_day: Some(1 + rng.below(3) as u32),
                }),
                Some(p),
                Some(
                    serde_json::json!({"type": "LineString", "coordinates": [[p.lon, p.lat], [end.lon, end.lat]]}),
                ),
            )
        }
        90..=95 => (
            format!("{road}东侧闲置地块"),
            SubjectAttributes::BareLand(subject::BareLand {
                area_m2: Some(500 + rng.below(20_000) as u32),
                treatment: subject::BareLandTreatment::None,
                owner: None,
            }),
            Some(p),
            Some(square(p, 0.0008)),
        ),
        _ => {
            let industry = ["钢管", "轴承", "板材", "化纤"][rng.below(4)];
            (
                format!("{industry}产业集群周边（{road}）"),
                SubjectAttributes::IndustryCluster(subject::IndustryCluster {
                    cluster_name: Some(format!("{industry}产业集群")),
                    industry: Some(industry.to_owned()),
                }),
                Some(p),
                None,
            )
        }
    };
    SubjectDraft {
        name,
        unit,
        attributes,
        location,
        geometry,
        on_ledger_since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_liaocheng_reference_loads_with_fifteen_tasks_and_a_template_per_kind() {
        let r = liaocheng().expect("reference data is valid");
        assert_eq!(r.campaign.tasks.len(), 15);
        let kinds: BTreeSet<SubjectKind> = r.templates.iter().map(|t| t.subject_kind).collect();
        assert_eq!(kinds.len(), SubjectKind::ALL.len());
        // "@local_bureaus" expanded: task 8 falls to the detachment and the eleven local bureaus.
        let t8 = &r.campaign.tasks[7];
        assert_eq!(t8.responsible_units.len(), 12);
        assert!(t8.responsible_units.iter().all(|u| !u.starts_with('@')));
    }

    #[test]
    fn the_reference_data_names_roles_never_people() {
        // Leaders and responsible persons named in the plan must not appear.
        for name in [
            "王华明",
            "靳春燕",
            "岳同昌",
            "赵同江",
            "张朝举",
            "于海霞",
            "闵杰",
            "张学宏",
            "黄雷",
            "陶杰",
        ] {
            assert!(
                !LIAOCHENG_JSON.contains(name),
                "{name} appears in the reference data"
            );
        }
    }

    #[test]
    fn demo_data_is_deterministic_valid_and_about_three_hundred_subjects() {
        let a = demo();
        let b = demo();
        assert_eq!(a.subjects.len(), 300);
        assert_eq!(a.subjects, b.subjects);
        for (_, s) in &a.subjects {
            s.validate().expect("demo subject is valid");
        }
        let kinds: BTreeSet<SubjectKind> = a.subjects.iter().map(|(_, s)| s.kind()).collect();
        assert_eq!(kinds.len(), SubjectKind::ALL.len());
        assert_eq!(a.users.len(), Role::ALL.len());
    }
}

//! Words and figures of the console: times in Asia/Shanghai, and the names of the states,
//! verdicts, flags and events the domain speaks of in codes.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use lantian_domain::subject::SubjectKind;

fn pick(lang: &str, zh: &'static str, en: &'static str) -> &'static str {
    if lang == "en" { en } else { zh }
}

/// A time as people in the bureau read it: Asia/Shanghai, to the minute.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A time to the second (device and GNSS clocks are compared to the second).
pub fn time_s(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A distance in metres or kilometres.
pub fn metres(m: f64) -> String {
    if m >= 1000.0 {
        format!("{:.2} km", m / 1000.0)
    } else {
        format!("{m:.0} m")
    }
}

/// A byte count.
pub fn bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", n.div_ceil(1024))
    }
}

pub fn kind(lang: &str, k: SubjectKind) -> &'static str {
    match k {
        SubjectKind::ConstructionSite => pick(lang, "施工工地", "Construction site"),
        SubjectKind::Restaurant => pick(lang, "餐饮单位", "Restaurant"),
        SubjectKind::MuckTruck => pick(lang, "渣土运输车", "Muck truck"),
        SubjectKind::Stockpile => pick(lang, "堆场", "Stockpile"),
        SubjectKind::NonRoadMachinery => pick(lang, "非道路移动机械", "Non-road machinery"),
        SubjectKind::RoadSection => pick(lang, "城市道路", "Road section"),
        SubjectKind::BareLand => pick(lang, "裸土、闲置土地", "Bare land"),
        SubjectKind::IndustryCluster => pick(lang, "传统产业集群周边", "Industry cluster"),
    }
}

pub fn review_state(lang: &str, s: &str) -> &'static str {
    match s {
        "received" => pick(lang, "待审核", "Waiting"),
        "approved" => pick(lang, "通过", "Approved"),
        "has_issues" => pick(lang, "退回", "Has issues"),
        "rejected" => pick(lang, "不通过", "Rejected"),
        _ => pick(lang, "未知", "Unknown"),
    }
}

pub fn verdict_level(lang: &str, s: Option<&str>) -> &'static str {
    match s {
        Some("ok") => pick(lang, "位置可信", "Plausible"),
        Some("doubtful") => pick(lang, "位置存疑", "Doubtful"),
        Some("implausible") => pick(lang, "位置不可信", "Implausible"),
        _ => pick(lang, "未核验", "Not judged"),
    }
}

/// A location verdict's reason in words.
pub fn verdict_reason(lang: &str, r: &str) -> String {
    let s = match r {
        "off_site" => pick(
            lang,
            "定位点在检查对象范围之外",
            "the fix lies outside the subject's area",
        ),
        "far_from_subject" => pick(
            lang,
            "定位点距检查对象过远",
            "the fix is far from the subject",
        ),
        "datum_suspect" => pick(
            lang,
            "坐标系可能标错（换算后反而更近）",
            "the datum looks mislabelled (converted, it is much nearer)",
        ),
        "poor_accuracy" => pick(lang, "定位精度差", "the fix's accuracy is poor"),
        "mock_location" => pick(
            lang,
            "手机报告为模拟定位",
            "the phone reported a mock location",
        ),
        "fast_travel" => pick(
            lang,
            "与上一次检查之间移动速度偏快",
            "travel from the previous inspection was fast",
        ),
        "impossible_speed" => pick(
            lang,
            "与上一次检查之间移动速度不可能达到",
            "travel from the previous inspection was impossibly fast",
        ),
        "exif_position_far" => pick(
            lang,
            "照片 EXIF 位置距定位点过远",
            "a photo's EXIF position is far from the fix",
        ),
        other => return other.to_owned(),
    };
    s.to_owned()
}

/// An inspection's or a photo's flag in words.
pub fn flag(lang: &str, f: &str) -> String {
    let s = match f {
        "awaiting_media" => pick(lang, "照片未到齐", "photos still expected"),
        "reused_photo" | "reused_evidence" => pick(lang, "照片重复使用", "photo used before"),
        "clock_skew" => pick(lang, "设备时间偏差", "device clock skew"),
        "mock_location" => pick(lang, "模拟定位", "mock location"),
        "critical_failed" => pick(lang, "关键项不合格", "critical item failed"),
        "order_synced_late" => pick(
            lang,
            "整改单同步晚于期限",
            "order synced after its deadline",
        ),
        "verdict_changed_after_review" => {
            pick(lang, "审核后位置核验改变", "verdict changed after review")
        }
        "occurred_in_future" => pick(lang, "检查时间在未来", "time in the future"),
        "exif_time_far" => pick(
            lang,
            "EXIF 时间与检查时间相差大",
            "EXIF time far from the form",
        ),
        "exif_position_far" => pick(
            lang,
            "EXIF 位置距定位点远",
            "EXIF position far from the fix",
        ),
        "exif_missing" => pick(lang, "无 EXIF", "no EXIF"),
        "exif_unreadable" => pick(lang, "EXIF 部分无法读取", "EXIF partly unreadable"),
        "after_move" => pick(lang, "调动前完成", "done before a move"),
        other => return other.to_owned(),
    };
    s.to_owned()
}

pub fn order_state(lang: &str, s: &str) -> &'static str {
    match s {
        "open" => pick(lang, "整改中", "Open"),
        "reported_handled" => pick(lang, "已报整改，待核查", "Reported handled"),
        "verifying" => pick(lang, "核查中", "Re-inspecting"),
        "closed" => pick(lang, "已结案", "Closed"),
        "deferred" => pick(lang, "缓办", "Deferred"),
        _ => pick(lang, "未知", "Unknown"),
    }
}

pub fn order_event(lang: &str, e: &str) -> String {
    let s = match e {
        "opened" => pick(lang, "下达整改", "Opened"),
        "reported_handled" => pick(lang, "报告已整改", "Reported handled"),
        "verifying" => pick(lang, "核查（复查）", "Re-inspected"),
        "closed" => pick(lang, "结案", "Closed"),
        "rework" => pick(lang, "复查不合格，返工", "Sent back (rework)"),
        "extension_requested" => pick(lang, "申请延期", "Extension requested"),
        "extension_approved" => pick(lang, "批准延期", "Extension approved"),
        "extension_denied" => pick(lang, "不批准延期", "Extension refused"),
        "deferral_requested" => pick(lang, "申请缓办", "Deferral requested"),
        "deferral_approved" => pick(lang, "批准缓办", "Deferral approved"),
        "deferral_denied" => pick(lang, "不批准缓办", "Deferral refused"),
        "overdue" => pick(lang, "逾期", "Overdue"),
        "resumed" => pick(lang, "缓办期满，恢复整改", "Resumed"),
        other => return other.to_owned(),
    };
    s.to_owned()
}

pub fn severity(lang: &str, s: &str) -> String {
    let w = match s {
        "urgent" => pick(lang, "紧急", "Urgent"),
        "major" => pick(lang, "较重", "Major"),
        "normal" => pick(lang, "一般", "Normal"),
        "minor" => pick(lang, "轻微", "Minor"),
        other => return other.to_owned(),
    };
    w.to_owned()
}

pub fn board_tab(lang: &str, t: lantian_domain::rectification::BoardTab) -> &'static str {
    use lantian_domain::rectification::BoardTab as B;
    match t {
        B::Open => pick(lang, "整改中", "Open"),
        B::DueSoon => pick(lang, "两个工作日内到期", "Due within 2 working days"),
        B::Overdue => pick(lang, "已逾期", "Overdue"),
        B::AwaitingReinspection => pick(lang, "待核查", "Awaiting re-inspection"),
        B::Rework => pick(lang, "返工", "Rework"),
        B::Requests => pick(lang, "待批延期/缓办", "Requests waiting"),
        B::Deferred => pick(lang, "缓办", "Deferred"),
        B::Closed => pick(lang, "已结案", "Closed"),
    }
}

pub fn decision(lang: &str, d: &str) -> &'static str {
    review_state(lang, d)
}

/// A pollution alert's level in words.
pub fn alert_level(lang: &str, level: &str) -> &'static str {
    match level {
        "yellow" => pick(lang, "黄色预警", "Yellow alert"),
        "orange" => pick(lang, "橙色预警", "Orange alert"),
        "red" => pick(lang, "红色预警", "Red alert"),
        _ => pick(lang, "预警", "Alert"),
    }
}

/// A rate in [0, 1] as a percentage with two decimals: every digit of the rate as published
/// (rates are kept to four decimals).
pub fn percent(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

/// A score to two decimals.
pub fn score(s: f64) -> String {
    format!("{s:.2}")
}

/// A change of score with its sign (`+1.25`, `-0.50`), or a dash.
pub fn change(c: Option<f64>) -> String {
    match c {
        Some(c) if c > 0.0 => format!("+{c:.2}"),
        Some(c) => format!("{c:.2}"),
        None => "—".to_owned(),
    }
}

/// The month `YYYY-MM` a time falls in, in China Standard Time.
pub fn month_of(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%Y-%m").to_string()
}

/// A subject attribute's name in words.
pub fn attr_label(lang: &str, field: &str) -> String {
    let s = match field {
        "project_name" => pick(lang, "项目名称", "Project"),
        "builder" => pick(lang, "建设单位", "Builder"),
        "linear" => pick(lang, "线性工程", "Linear works"),
        "sunshine_construction" => pick(lang, "阳光施工", "Sunshine construction"),
        "grade" => pick(lang, "等级", "Grade"),
        "licence_number" => pick(lang, "许可证号", "Licence number"),
        "seats" => pick(lang, "座位数", "Seats"),
        "plate_number" => pick(lang, "车牌号", "Plate number"),
        "carrier_company" => pick(lang, "运输企业", "Carrier"),
        "approval_status" => pick(lang, "核准状态", "Approval"),
        "approved_until" => pick(lang, "核准有效期至", "Approved until"),
        "pile_kind" => pick(lang, "堆场类型", "Pile kind"),
        "owner" => pick(lang, "责任单位", "Owner"),
        "ledger_number" => pick(lang, "台账编号", "Ledger number"),
        "machine_type" => pick(lang, "机械类型", "Machine type"),
        "emission_stage" => pick(lang, "排放阶段", "Emission stage"),
        "road_name" => pick(lang, "道路名称", "Road"),
        "road_class" => pick(lang, "道路等级", "Road class"),
        "sweeping_per_day" => pick(lang, "每日清扫次数", "Sweeps a day"),
        "area_m2" => pick(lang, "面积（平方米）", "Area (m²)"),
        "treatment" => pick(lang, "处置方式", "Treatment"),
        "cluster_name" => pick(lang, "集群名称", "Cluster"),
        "industry" => pick(lang, "行业", "Industry"),
        other => return other.to_owned(),
    };
    s.to_owned()
}

/// A choice of an attribute in words.
pub fn attr_choice(lang: &str, value: &str) -> String {
    let s = match value {
        "a" => pick(lang, "A 级", "Grade A"),
        "b" => pick(lang, "B 级", "Grade B"),
        "c" => pick(lang, "C 级", "Grade C"),
        "approved" => pick(lang, "已核准", "Approved"),
        "pending" => pick(lang, "待核准", "Pending"),
        "suspended" => pick(lang, "暂停", "Suspended"),
        "revoked" => pick(lang, "已吊销", "Revoked"),
        "coal" => pick(lang, "煤堆", "Coal"),
        "ash" => pick(lang, "灰堆", "Ash"),
        "material" => pick(lang, "料堆", "Material"),
        "spoil" => pick(lang, "渣土堆", "Spoil"),
        "main" => pick(lang, "主干道", "Main road"),
        "secondary" => pick(lang, "次干道", "Secondary road"),
        "branch" => pick(lang, "支路", "Branch road"),
        "back_street" => pick(lang, "背街小巷", "Back street"),
        "none" => pick(lang, "未处置", "Untreated"),
        "greened" => pick(lang, "已绿化", "Greened"),
        "hardened" => pick(lang, "已硬化", "Hardened"),
        "covered" => pick(lang, "已苫盖", "Covered"),
        other => return other.to_owned(),
    };
    s.to_owned()
}

/// An attribute's value as stored (JSON), in words.
pub fn attr_value(lang: &str, v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Bool(true) => pick(lang, "是", "Yes").to_owned(),
        serde_json::Value::Bool(false) => pick(lang, "否", "No").to_owned(),
        serde_json::Value::String(s) => attr_choice(lang, s),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An audit action on a subject in words.
pub fn subject_action(lang: &str, action: &str) -> String {
    let s = match action {
        "subject.create" => pick(lang, "新建", "Created"),
        "subject.update" => pick(lang, "修改", "Edited"),
        "subject.import" => pick(lang, "批量导入", "Imported"),
        "subject.accept_proposal" => pick(lang, "采纳现场上报", "Accepted from a proposal"),
        other => return other.to_owned(),
    };
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_china_standard_time() {
        let t: DateTime<Utc> = "2026-11-30T16:30:00Z".parse().expect("time");
        assert_eq!(time(t), "2026-12-01 00:30");
        assert_eq!(time_s(t), "2026-12-01 00:30:00");
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(metres(12.4), "12 m");
        assert_eq!(metres(1520.0), "1.52 km");
        assert_eq!(bytes(300 * 1024), "300 KB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MB");
    }
}

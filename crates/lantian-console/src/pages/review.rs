//! The review workbench (审核台): the queue with its filters, one inspection on one screen, and
//! the decision (with orders opened from failed items in the same step).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Shanghai;
use lantian_app::review::ReviewSheet;
use lantian_domain::geo::VerdictLevel;
use lantian_domain::inspection::{Answer, InspectionView};
use lantian_domain::review::{QueueFlag, ReviewState};
use lantian_domain::subject::SubjectKind;
use lantian_http::AppState;
use lantian_protocol::review::{OpenOrder, QueueQuery, ReviewRequest};
use uuid::Uuid;

use super::{Opt, Thumb};
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt, map};

/// The queue's form as the browser sends it: dates as `YYYY-MM-DD` (days in Asia/Shanghai),
/// flags repeated.
#[derive(Debug, Default)]
struct QueueForm {
    unit: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    verdict: Option<String>,
    officer: Option<String>,
    from: Option<String>,
    to: Option<String>,
    flags: Vec<String>,
    cursor: Option<String>,
}

impl QueueForm {
    fn parse(raw: Option<&str>) -> QueueForm {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
        let mut f = QueueForm::default();
        for (k, v) in pairs {
            let v = v.trim().to_owned();
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "unit" => f.unit = Some(v),
                "kind" => f.kind = Some(v),
                "state" => f.state = Some(v),
                "verdict" => f.verdict = Some(v),
                "officer" => f.officer = Some(v),
                "from" => f.from = Some(v),
                "to" => f.to = Some(v),
                "flags" => f.flags.push(v),
                "cursor" => f.cursor = Some(v),
                _ => {}
            }
        }
        f
    }

    /// The API's query for this form: days become the instants that start them (the `to` day is
    /// included whole).
    fn query(&self) -> Result<QueueQuery, &'static str> {
        let day = |d: &str, field: &'static str, next: bool| {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| field)?;
            let date = if next {
                date.succ_opt().ok_or(field)?
            } else {
                date
            };
            let start = Shanghai
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).ok_or(field)?)
                .single()
                .ok_or(field)?;
            Ok::<_, &'static str>(start.to_rfc3339())
        };
        Ok(QueueQuery {
            unit: self.unit.clone(),
            kind: self.kind.clone(),
            state: self.state.clone(),
            verdict: self.verdict.clone(),
            flags: (!self.flags.is_empty()).then(|| self.flags.join(",")),
            officer: self.officer.clone(),
            from: self
                .from
                .as_deref()
                .map(|d| day(d, "from", false))
                .transpose()?,
            to: self.to.as_deref().map(|d| day(d, "to", true)).transpose()?,
            cursor: self.cursor.clone(),
            limit: Some(PAGE),
        })
    }
}

/// Inspections per page of the queue.
const PAGE: u32 = 25;

/// A query string carrying the queue's filters (not its page), for links that keep them.
fn filters_qs(q: &QueueQuery) -> String {
    let q = QueueQuery {
        cursor: None,
        limit: None,
        ..q.clone()
    };
    serde_urlencoded::to_string(&q).unwrap_or_default()
}

fn with_qs(path: String, qs: &str) -> String {
    if qs.is_empty() {
        path
    } else {
        format!("{path}?{qs}")
    }
}

struct QueueRow {
    url: String,
    occurred: String,
    subject: String,
    kind: String,
    unit: String,
    officer: String,
    score: String,
    critical: bool,
    verdict_level: String,
    verdict: String,
    flags: Vec<String>,
    photos: usize,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    l: Layout,
    error: Option<String>,
    units: Vec<Opt>,
    kinds: Vec<Opt>,
    states: Vec<Opt>,
    verdicts: Vec<Opt>,
    officers: Vec<Opt>,
    flags: Vec<Opt>,
    from: String,
    to: String,
    rows: Vec<QueueRow>,
    next_url: Option<String>,
}

fn score_text(v: &InspectionView) -> String {
    let e = &v.effective;
    format!("{:.2}% ({}/{})", e.percent, e.earned, e.possible)
}

fn verdict_code(v: &InspectionView) -> &'static str {
    v.verdict.as_ref().map_or("none", |v| v.level.as_str())
}

/// `GET /console/review`: the queue, filtered.
pub async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let form = QueueForm::parse(raw.as_deref());
    let app = state.app();
    let (units, officers) = tokio_join(app.units(actor), app.officers(actor)).await;
    let units = units.map_err(|e| signed.fail(e))?;
    let officers = officers.map_err(|e| signed.fail(e))?;
    let mut error = None;
    let mut rows = Vec::new();
    let mut next_url = None;
    match form.query() {
        Err(field) => {
            error = Some(lantian_app::AppError::bad_request(field))
                .map(|e| crate::i18n::error_message(&e, lang) + &format!(" ({field})"))
        }
        Ok(q) => match app.review_queue(actor, q.clone()).await {
            Err(e) => error = Some(crate::i18n::error_message(&e, lang)),
            Ok(page) => {
                let qs = filters_qs(&q);
                let unit_names: std::collections::HashMap<&str, &str> = units
                    .iter()
                    .map(|u| {
                        let n = if lang == "en" { &u.name_en } else { &u.name_zh };
                        (u.code.as_str(), n.as_str())
                    })
                    .collect();
                let names: std::collections::HashMap<Uuid, String> = officers
                    .iter()
                    .map(|p| (p.id, p.display_name.clone()))
                    .collect();
                rows = page
                    .items
                    .iter()
                    .map(|e| {
                        let v = &e.inspection;
                        let mut flags: Vec<String> =
                            v.flags.iter().map(|f| fmt::flag(lang, f)).collect();
                        for p in &e.photos {
                            for f in &p.flags {
                                let w = fmt::flag(lang, f);
                                if !flags.contains(&w) {
                                    flags.push(w);
                                }
                            }
                        }
                        QueueRow {
                            url: with_qs(format!("/console/review/{}", v.id), &qs),
                            occurred: fmt::time(v.occurred_at),
                            subject: e.subject.name.clone(),
                            kind: fmt::kind(lang, e.subject.attributes.kind()).to_owned(),
                            unit: unit_names
                                .get(v.unit.as_str())
                                .map_or_else(|| v.unit.clone(), |n| (*n).to_owned()),
                            officer: names
                                .get(&v.author)
                                .cloned()
                                .unwrap_or_else(|| v.author.to_string()),
                            score: score_text(v),
                            critical: v.effective.critical_failed,
                            verdict_level: verdict_code(v).to_owned(),
                            verdict: fmt::verdict_level(
                                lang,
                                v.verdict.as_ref().map(|x| x.level.as_str()),
                            )
                            .to_owned(),
                            flags,
                            photos: e.photos.len(),
                        }
                    })
                    .collect();
                next_url = page.next.map(|c| {
                    let mut f =
                        serde_urlencoded::to_string([("cursor", c.as_str())]).unwrap_or_default();
                    if let Some(r) = raw.as_deref() {
                        let kept: Vec<(String, String)> =
                            serde_urlencoded::from_str::<Vec<(String, String)>>(r)
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|(k, _): &(String, String)| k != "cursor")
                                .collect();
                        let kept = serde_urlencoded::to_string(kept).unwrap_or_default();
                        if !kept.is_empty() {
                            f = format!("{kept}&{f}");
                        }
                    }
                    format!("/console/review?{f}")
                });
            }
        },
    }
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let page = QueuePage {
        l: signed.layout("review", t.review_title),
        error,
        units: units
            .iter()
            .map(|u| {
                let name = if lang == "en" { &u.name_en } else { &u.name_zh };
                Opt::new(u.code.clone(), name.clone(), sel(&form.unit, &u.code))
            })
            .collect(),
        kinds: SubjectKind::ALL
            .iter()
            .map(|k| Opt::new(k.as_str(), fmt::kind(lang, *k), sel(&form.kind, k.as_str())))
            .collect(),
        states: ReviewState::ALL
            .iter()
            .map(|s| {
                let selected = match &form.state {
                    None => *s == ReviewState::Received,
                    Some(x) => x == s.as_str(),
                };
                Opt::new(s.as_str(), fmt::review_state(lang, s.as_str()), selected)
            })
            .collect(),
        verdicts: [
            VerdictLevel::Ok,
            VerdictLevel::Doubtful,
            VerdictLevel::Implausible,
        ]
        .iter()
        .map(|v| {
            Opt::new(
                v.as_str(),
                fmt::verdict_level(lang, Some(v.as_str())),
                sel(&form.verdict, v.as_str()),
            )
        })
        .collect(),
        officers: officers
            .iter()
            .map(|p| {
                let id = p.id.to_string();
                let selected = sel(&form.officer, &id);
                Opt::new(id, format!("{} ({})", p.display_name, p.username), selected)
            })
            .collect(),
        flags: QueueFlag::ALL
            .iter()
            .map(|f| {
                Opt::new(
                    f.as_str(),
                    fmt::flag(lang, f.as_str()),
                    form.flags.iter().any(|x| x == f.as_str()),
                )
            })
            .collect(),
        from: form.from.clone().unwrap_or_default(),
        to: form.to.clone().unwrap_or_default(),
        rows,
        next_url,
    };
    Ok(render(&page))
}

/// Two reads at once.
async fn tokio_join<A, B>(
    a: impl std::future::Future<Output = A>,
    b: impl std::future::Future<Output = B>,
) -> (A, B) {
    let a = a.await;
    let b = b.await;
    (a, b)
}

struct AnswerRow {
    code: String,
    label: String,
    critical: bool,
    failed: bool,
    answer: String,
    note: String,
    photos: Vec<Thumb>,
}

struct Reuse {
    url: String,
    label: String,
}

struct PhotoCard {
    ready: bool,
    pending: String,
    thumb_url: String,
    review_url: String,
    original_url: String,
    alt: String,
    exif_time: String,
    exif_position: String,
    size: String,
    flags: Vec<String>,
    reused_in: Vec<Reuse>,
}

struct HistoryRow {
    url: String,
    occurred: String,
    score: String,
    state: String,
}

struct ReviewRow {
    decision: String,
    who: String,
    at: String,
    comment: Option<String>,
}

struct OrderRow {
    url: String,
    item: String,
    state: String,
    deadline: String,
}

struct CanOpen {
    item: String,
    label: String,
    checked: bool,
    options: Vec<Opt>,
}

struct SheetView {
    subject: String,
    kind: String,
    state: String,
    state_code: String,
    officer: String,
    unit: String,
    template: String,
    occurred: String,
    device_time: String,
    gnss_time: String,
    received: String,
    score: String,
    critical: bool,
    verdict: String,
    verdict_level: String,
    distance: String,
    accuracy: String,
    flags: Vec<String>,
    notes: Option<String>,
    /// The amendment shown (the latest), in words: its version, when, why, and whether it started
    /// from an older version than the latest.
    amended: Option<String>,
    reasons: Vec<String>,
    map_json: String,
    map_label: String,
    answers: Vec<AnswerRow>,
    photos: Vec<PhotoCard>,
    attributes: Vec<(String, String)>,
    history: Vec<HistoryRow>,
    reviews: Vec<ReviewRow>,
    orders: Vec<OrderRow>,
    can_open: Vec<CanOpen>,
    may_decide: bool,
    post_url: String,
}

#[derive(Template)]
#[template(path = "sheet.html")]
struct SheetPage {
    l: Layout,
    s: SheetView,
    error: Option<String>,
    comment: String,
    q: String,
    back_url: String,
    prev_url: Option<String>,
    next_url: Option<String>,
}

/// What the reviewer had entered, kept when a decision is refused.
#[derive(Debug, Default)]
struct Entered {
    comment: String,
    open: Vec<String>,
    severities: Vec<(String, String)>,
}

fn answer_text(lang: &str, a: &Answer) -> String {
    match a {
        Answer::Pass => fmt_pick(lang, "合格", "Pass"),
        Answer::Fail => fmt_pick(lang, "不合格", "Fail"),
        Answer::Na => fmt_pick(lang, "不适用", "N/A"),
        Answer::Number { value } => format!("{value}"),
        Answer::Text { value } => value.clone(),
    }
}

fn fmt_pick(lang: &str, zh: &str, en: &str) -> String {
    if lang == "en" { en } else { zh }.to_owned()
}

/// The subject's attributes as label/value pairs (what the ledger recorded).
fn attributes(lang: &str, s: &lantian_domain::subject::Subject) -> Vec<(String, String)> {
    let mut out = vec![
        (fmt_pick(lang, "名称", "Name"), s.name.clone()),
        (
            fmt_pick(lang, "类型", "Kind"),
            fmt::kind(lang, s.attributes.kind()).to_owned(),
        ),
        (fmt_pick(lang, "单位", "Unit"), s.unit.clone()),
    ];
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&s.attributes)
        && let Some(serde_json::Value::Object(attrs)) = m.get("attributes")
    {
        for (k, v) in attrs {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            out.push((k.clone(), v));
        }
    }
    out
}

fn sheet_view(
    lang: &'static str,
    config: &ConsoleConfig,
    sheet: &ReviewSheet,
    entered: &Entered,
) -> SheetView {
    let v = &sheet.inspection;
    let results = v
        .amendments
        .last()
        .map(|a| &a.results)
        .unwrap_or(&v.results);
    let score = v.amendments.last().map(|a| &a.score).unwrap_or(&v.score);
    let item = |code: &str| {
        sheet
            .template
            .as_ref()
            .and_then(|t| t.items.iter().find(|i| i.code == code))
    };
    let label = |code: &str| {
        item(code)
            .map(|i| {
                if lang == "en" {
                    i.label_en.clone()
                } else {
                    i.label_zh.clone()
                }
            })
            .unwrap_or_default()
    };
    let photo_ids: std::collections::HashSet<Uuid> =
        sheet.photos.iter().map(|p| p.view.id).collect();
    let answers = results
        .iter()
        .map(|r| AnswerRow {
            code: r.item.clone(),
            label: label(&r.item),
            critical: item(&r.item).is_some_and(|i| i.critical),
            failed: score.failed.contains(&r.item),
            answer: answer_text(lang, &r.answer),
            note: r.note.clone().unwrap_or_default(),
            photos: r
                .photos
                .iter()
                .filter(|p| photo_ids.contains(p))
                .map(|p| Thumb::of(*p, format!("{} {}", r.item, label(&r.item))))
                .collect(),
        })
        .collect();
    let item_of_photo = |id: Uuid| {
        results
            .iter()
            .find(|r| r.photos.contains(&id))
            .map(|r| r.item.clone())
    };
    let photos = sheet
        .photos
        .iter()
        .map(|p| {
            let pv = &p.view;
            let ready = pv.renditions == lantian_domain::media::RenditionState::Ready;
            let exif = pv.exif.as_ref();
            let alt = match item_of_photo(pv.id) {
                Some(i) => format!("{} {}", i, label(&i)),
                None => fmt_pick(lang, "检查照片", "Inspection photo"),
            };
            PhotoCard {
                ready,
                pending: if pv.renditions == lantian_domain::media::RenditionState::Failed {
                    fmt_pick(lang, "无法生成预览", "No preview could be made")
                } else {
                    fmt_pick(lang, "预览生成中", "Preview being made")
                },
                thumb_url: format!("/console/photos/{}/thumbnail", pv.id),
                review_url: format!("/console/photos/{}/review", pv.id),
                original_url: format!("/console/photos/{}/original", pv.id),
                alt,
                exif_time: exif
                    .and_then(|e| e.taken_at)
                    .map(|t| {
                        let mut s = fmt::time_s(t);
                        if let Some(d) = pv.exif_time_diff_s {
                            s.push_str(&format!(" ({d:+} s)"));
                        }
                        s
                    })
                    .unwrap_or_else(|| "—".to_owned()),
                exif_position: exif
                    .and_then(|e| e.gps.as_ref())
                    .map(|g| {
                        let mut s = format!("{:.6}, {:.6}", g.lat, g.lon);
                        if let Some(d) = pv.exif_distance_m {
                            s.push_str(&format!(" ({})", fmt::metres(d)));
                        }
                        s
                    })
                    .unwrap_or_else(|| "—".to_owned()),
                size: format!("{} · {}×{}", fmt::bytes(pv.size), pv.width, pv.height),
                flags: pv.flags.iter().map(|f| fmt::flag(lang, f)).collect(),
                reused_in: p
                    .reused_in
                    .iter()
                    .map(|i| Reuse {
                        url: format!("/console/review/{i}"),
                        label: i.to_string()[..8].to_owned(),
                    })
                    .collect(),
            }
        })
        .collect();
    let verdict = v.verdict.as_ref();
    let tiles = config.tiles.as_ref();
    let mut points = Vec::new();
    let fix_wgs = verdict.map(|x| x.wgs84).unwrap_or_else(|| {
        lantian_domain::geo::to_wgs84(v.location.lat, v.location.lon, v.location.datum)
    });
    let fix_label = fmt_pick(lang, "定位点", "Fix");
    points.push(map::point(
        tiles,
        fix_wgs,
        Some(v.location.accuracy_m),
        "fix",
        fix_label,
    ));
    if let Some(p) = &sheet.subject.location {
        points.push(map::point(
            tiles,
            (p.lat, p.lon),
            None,
            "subject",
            sheet.subject.name.clone(),
        ));
    }
    let distance = verdict
        .and_then(|x| x.distance_to_point_m.or(x.distance_to_boundary_m))
        .or_else(|| {
            sheet
                .subject
                .location
                .as_ref()
                .map(|p| lantian_domain::geo::distance_m(fix_wgs, (p.lat, p.lon)))
        });
    let map_label = match distance {
        Some(d) => format!(
            "{} {} · {} {}",
            fmt_pick(lang, "定位点与检查对象相距", "The fix is"),
            fmt::metres(d),
            fmt_pick(lang, "定位精度", "accuracy"),
            fmt::metres(v.location.accuracy_m)
        ),
        None => fmt_pick(
            lang,
            "检查对象没有登记位置",
            "The subject has no recorded place",
        ),
    };
    let people: std::collections::HashMap<Uuid, String> = sheet
        .reviewers
        .iter()
        .map(|p| (p.id, format!("{} ({})", p.display_name, p.username)))
        .collect();
    let can_open = sheet
        .can_open
        .iter()
        .map(|o| {
            let chosen = entered
                .severities
                .iter()
                .find(|(i, _)| i == &o.item)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| o.severity.clone());
            CanOpen {
                item: o.item.clone(),
                label: label(&o.item),
                checked: entered.open.contains(&o.item),
                options: o
                    .options
                    .iter()
                    .map(|(sev, deadline, late)| {
                        let mut text = format!(
                            "{} · {} {}",
                            fmt::severity(lang, sev),
                            fmt_pick(lang, "期限", "due"),
                            fmt::time(*deadline)
                        );
                        if *late {
                            text.push_str(&fmt_pick(
                                lang,
                                "（已过期，将即逾期）",
                                " (already past: overdue at once)",
                            ));
                        }
                        Opt::new(sev.clone(), text, *sev == chosen)
                    })
                    .collect(),
            }
        })
        .collect();
    SheetView {
        subject: sheet.subject.name.clone(),
        kind: fmt::kind(lang, sheet.subject.attributes.kind()).to_owned(),
        state: fmt::review_state(lang, v.review_state.as_str()).to_owned(),
        state_code: v.review_state.as_str().to_owned(),
        officer: format!(
            "{} ({})",
            sheet.officer.display_name, sheet.officer.username
        ),
        unit: sheet
            .unit
            .as_ref()
            .map(|u| {
                if lang == "en" {
                    u.name_en.clone()
                } else {
                    u.name_zh.clone()
                }
            })
            .unwrap_or_else(|| v.unit.clone()),
        template: sheet
            .template
            .as_ref()
            .map(|t| {
                let title = if lang == "en" {
                    &t.title_en
                } else {
                    &t.title_zh
                };
                format!("{title} · {} v{}", t.code, t.version)
            })
            .unwrap_or_else(|| format!("{} v{}", v.template.code, v.template.version)),
        occurred: fmt::time_s(v.occurred_at),
        device_time: format!(
            "{} ({} {:+} s)",
            fmt::time_s(v.device_time),
            fmt_pick(lang, "时钟偏差", "clock offset"),
            (v.clock_offset_ms as f64 / 1000.0).round() as i64
        ),
        gnss_time: v
            .location
            .gps_time
            .map(fmt::time_s)
            .unwrap_or_else(|| "—".to_owned()),
        received: fmt::time_s(v.received_at),
        score: score_text(v),
        critical: v.effective.critical_failed,
        verdict: fmt::verdict_level(lang, verdict.map(|x| x.level.as_str())).to_owned(),
        verdict_level: verdict_code(v).to_owned(),
        distance: distance.map(fmt::metres).unwrap_or_else(|| "—".to_owned()),
        accuracy: fmt::metres(v.location.accuracy_m),
        flags: v.flags.iter().map(|f| fmt::flag(lang, f)).collect(),
        notes: v
            .amendments
            .last()
            .and_then(|a| a.notes.clone())
            .or_else(|| v.notes.clone()),
        amended: v.amendments.last().map(|a| {
            let stale = if a.stale {
                fmt_pick(
                    lang,
                    "（基于旧版本，请核对）",
                    " (made from an older version: check it)",
                )
            } else {
                String::new()
            };
            format!(
                "v{} · {} · {}{stale}",
                a.version,
                fmt::time(a.received_at),
                a.reason
            )
        }),
        reasons: verdict
            .map(|x| {
                x.reasons
                    .iter()
                    .map(|r| fmt::verdict_reason(lang, r))
                    .collect()
            })
            .unwrap_or_default(),
        map_json: map::json(tiles, points, distance.map(fmt::metres)),
        map_label,
        answers,
        photos,
        attributes: attributes(lang, &sheet.subject),
        history: sheet
            .history
            .iter()
            .map(|h| HistoryRow {
                url: format!("/console/review/{}", h.id),
                occurred: fmt::time(h.occurred_at),
                score: score_text(h),
                state: fmt::review_state(lang, h.review_state.as_str()).to_owned(),
            })
            .collect(),
        reviews: v
            .reviews
            .iter()
            .map(|r| ReviewRow {
                decision: fmt::decision(lang, r.decision.as_str()).to_owned(),
                who: people
                    .get(&r.reviewer)
                    .cloned()
                    .unwrap_or_else(|| r.reviewer.to_string()),
                at: fmt::time_s(r.decided_at),
                comment: r.comment.clone(),
            })
            .collect(),
        orders: sheet
            .orders
            .iter()
            .map(|o| OrderRow {
                url: format!("/console/orders/{}", o.id),
                item: o.item.clone(),
                state: fmt::order_state(lang, o.state.as_str()).to_owned(),
                deadline: fmt::time(o.deadline),
            })
            .collect(),
        can_open,
        may_decide: sheet.may_decide && !v.review_state.is_final(),
        post_url: format!("/console/review/{}", v.id),
    }
}

/// The queue's filters as the sheet's links carry them (the API's query form).
fn sheet_query(raw: Option<&str>) -> QueueQuery {
    serde_urlencoded::from_str::<QueueQuery>(raw.unwrap_or("")).unwrap_or_default()
}

/// How a sheet is shown: after a refused decision, with its status, the error and what the
/// reviewer had entered.
struct Shown {
    status: StatusCode,
    error: Option<String>,
    entered: Entered,
}

impl Shown {
    fn fresh() -> Shown {
        Shown {
            status: StatusCode::OK,
            error: None,
            entered: Entered::default(),
        }
    }
}

/// Renders the sheet of inspection `id` (with `error` and what the reviewer entered, after a
/// refused decision).
async fn show_sheet(
    state: &AppState,
    config: &ConsoleConfig,
    signed: &Signed,
    id: Uuid,
    q: QueueQuery,
    shown: Shown,
) -> Result<Response, PageError> {
    let Shown {
        status,
        error,
        entered,
    } = shown;
    let lang = signed.lang();
    let sheet = state
        .app()
        .review_sheet(&signed.0.actor, id, &q)
        .await
        .map_err(|e| signed.fail(e))?;
    let qs = filters_qs(&q);
    let s = sheet_view(lang, config, &sheet, &entered);
    let title = s.subject.clone();
    let page = SheetPage {
        l: signed.layout("review", title),
        error,
        comment: entered.comment,
        back_url: with_qs("/console/review".to_owned(), &api_to_form_qs(&q)),
        prev_url: sheet
            .previous
            .map(|p| with_qs(format!("/console/review/{p}"), &qs)),
        next_url: sheet
            .next
            .map(|n| with_qs(format!("/console/review/{n}"), &qs)),
        q: qs,
        s,
    };
    Ok((status, render(&page)).into_response())
}

/// The queue page's own form for an API query (dates back to days in Asia/Shanghai).
fn api_to_form_qs(q: &QueueQuery) -> String {
    let day = |t: &Option<String>, back: bool| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                let d = t.with_timezone(&Shanghai).date_naive();
                let d = if back { d.pred_opt().unwrap_or(d) } else { d };
                d.format("%Y-%m-%d").to_string()
            })
    };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("unit", q.unit.clone()),
        ("kind", q.kind.clone()),
        ("state", q.state.clone()),
        ("verdict", q.verdict.clone()),
        ("officer", q.officer.clone()),
        ("from", day(&q.from, false)),
        ("to", day(&q.to, true)),
    ] {
        if let Some(v) = v {
            pairs.push((k, v));
        }
    }
    for f in q
        .flags
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
    {
        pairs.push(("flags", f.to_owned()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// `GET /console/review/{id}`: one inspection on one screen.
pub async fn sheet(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    let q = sheet_query(raw.as_deref());
    show_sheet(&state, &config, &signed, id, q, Shown::fresh()).await
}

/// `POST /console/review/{id}`: a decision, and the orders ticked with it. A refused decision
/// (a comment missing, another supervisor first) shows the sheet again as it now stands, with
/// what the reviewer wrote kept.
pub async fn decide(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    signed.check_form(&config, &headers, get("csrf").unwrap_or(""))?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let q = sheet_query(get("q"));
    let entered = Entered {
        comment: get("comment").unwrap_or("").to_owned(),
        open: pairs
            .iter()
            .filter(|(k, _)| k == "open")
            .map(|(_, v)| v.clone())
            .collect(),
        severities: pairs
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("severity.")
                    .map(|i| (i.to_owned(), v.clone()))
            })
            .collect(),
    };
    let decision = match serde_json::from_value(serde_json::Value::String(
        get("decision").unwrap_or("").to_owned(),
    )) {
        Ok(d) => d,
        Err(_) => {
            let e = lantian_app::AppError::bad_request("decision");
            let msg = crate::i18n::error_message(&e, lang);
            return show_sheet(
                &state,
                &config,
                &signed,
                id,
                q,
                Shown {
                    status: StatusCode::BAD_REQUEST,
                    error: Some(msg),
                    entered,
                },
            )
            .await;
        }
    };
    let comment = Some(entered.comment.trim().to_owned()).filter(|c| !c.is_empty());
    let app = state.app();
    let actor = &signed.0.actor;
    // Where to go next: the queue's next inspection after this one, as it stood before deciding.
    // A caller who may not review here has no next; the decision below says why.
    let next = app.queue_next(actor, id, &q).await.ok().flatten();
    if let Err(e) = app
        .review(
            actor,
            id,
            ReviewRequest {
                expected_state: get("expected_state").unwrap_or("").to_owned(),
                decision,
                comment,
            },
        )
        .await
    {
        let status = lantian_http::error::ApiError(e.clone()).status();
        let msg = crate::i18n::error_message(&e, lang);
        let shown = Shown {
            status,
            error: Some(msg),
            entered,
        };
        return show_sheet(&state, &config, &signed, id, q, shown).await;
    }
    let mut failures = Vec::new();
    for item in &entered.open {
        let severity = entered
            .severities
            .iter()
            .find(|(i, _)| i == item)
            .map(|(_, s)| s.clone());
        if let Err(e) = app
            .open_order(
                actor,
                OpenOrder {
                    inspection_id: id,
                    item: item.clone(),
                    severity,
                },
            )
            .await
        {
            failures.push(format!("{item}: {}", crate::i18n::error_message(&e, lang)));
        }
    }
    if !failures.is_empty() {
        // The decision stands; say which orders could not be opened.
        return show_sheet(
            &state,
            &config,
            &signed,
            id,
            q,
            Shown {
                status: StatusCode::CONFLICT,
                error: Some(failures.join("；")),
                entered: Entered::default(),
            },
        )
        .await;
    }
    let qs = filters_qs(&q);
    let to = match next {
        Some(n) => with_qs(format!("/console/review/{n}"), &qs),
        None => with_qs("/console/review".to_owned(), &api_to_form_qs(&q)),
    };
    Ok(Redirect::to(&to).into_response())
}

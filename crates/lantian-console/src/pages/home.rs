//! The home page (工作台): what each role needs first. Everyone: the alerts in force and the
//! rectification figures of their subtree. Supervisors: the inspections waiting for review.
//! Assessors: this month's provisional standing. Leaders (and administrators): the latest official
//! ranking and the map of this month's inspections. Every part is an operation the other pages
//! call too.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lantian_domain::assessment::Rollup;
use lantian_domain::rectification::BoardTab;
use lantian_domain::user::Role;
use lantian_http::AppState;
use lantian_protocol::review::QueueQuery;

use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt, map};

pub struct AlertLine {
    pub level: String,
    pub class: &'static str,
    pub units: String,
    pub period: String,
    pub note: Option<String>,
}

struct ReviewLine {
    url: String,
    subject: String,
    officer: String,
    at: String,
    verdict: String,
    verdict_class: String,
}

struct Card {
    url: String,
    label: String,
    count: i64,
}

struct OrderLine {
    url: String,
    subject: String,
    item: String,
    unit: String,
    deadline: String,
}

struct StandingRow {
    rank: String,
    name: String,
    score: String,
    change: String,
}

struct Standing {
    title: String,
    provisional: bool,
    rows: Vec<StandingRow>,
    url: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    l: Layout,
    alerts: Vec<AlertLine>,
    reviews: Option<Vec<ReviewLine>>,
    order_cards: Vec<Card>,
    overdue: Vec<OrderLine>,
    standing: Option<Standing>,
    map_json: Option<String>,
    map_note: Option<String>,
}

/// How many waiting inspections and overdue orders the page lists.
const LISTED: usize = 8;
/// How many of the month's inspections the map draws.
const MAP_POINTS: usize = 2000;

/// The alerts in force now, in words.
pub fn alerts_in_force(
    lang: &str,
    alerts: &[lantian_domain::assessment::Alert],
    unit_name: &dyn Fn(&str) -> String,
) -> Vec<AlertLine> {
    let now = chrono::Utc::now();
    alerts
        .iter()
        .filter(|a| a.starts_at <= now && now < a.effective_end())
        .map(|a| AlertLine {
            level: fmt::alert_level(lang, &a.level).to_owned(),
            class: match a.level.as_str() {
                "red" => "bad",
                _ => "warn",
            },
            units: a
                .units
                .iter()
                .map(|u| unit_name(u))
                .collect::<Vec<_>>()
                .join("、"),
            period: format!(
                "{} – {}",
                fmt::time(a.starts_at),
                fmt::time(a.effective_end())
            ),
            note: a.note.clone(),
        })
        .collect()
}

fn standing_rows(r: &Rollup) -> Vec<StandingRow> {
    let mut units: Vec<_> = r.units.iter().filter(|u| u.peer_group.is_some()).collect();
    units.sort_by(|a, b| {
        (&a.peer_group, a.rank.is_none(), a.rank, &a.unit).cmp(&(
            &b.peer_group,
            b.rank.is_none(),
            b.rank,
            &b.unit,
        ))
    });
    units
        .into_iter()
        .map(|u| StandingRow {
            rank: u.rank.map_or("—".to_owned(), |r| r.to_string()),
            name: u.name.clone(),
            score: fmt::score(u.score),
            change: fmt::change(u.change),
        })
        .collect()
}

/// `GET /console/`.
pub async fn page(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
    let l = signed.layout("home", t.home_title);
    let units = app.units(actor).await.map_err(|e| signed.fail(e))?;
    let unit_name = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map(|u| {
                if lang == "en" {
                    u.name_en.clone()
                } else {
                    u.name_zh.clone()
                }
            })
            .unwrap_or_else(|| code.to_owned())
    };
    let alerts = app.alerts(actor).await.map_err(|e| signed.fail(e))?;
    let alerts = alerts_in_force(lang, &alerts, &unit_name);

    let reviews = if l.may_review {
        let officers = app.officers(actor).await.map_err(|e| signed.fail(e))?;
        let q = QueueQuery {
            limit: Some(LISTED as u32),
            ..Default::default()
        };
        let page = app
            .review_queue(actor, q)
            .await
            .map_err(|e| signed.fail(e))?;
        Some(
            page.items
                .into_iter()
                .map(|e| {
                    let v = e.inspection.verdict.as_ref().map(|v| v.level.as_str());
                    ReviewLine {
                        url: format!("/console/review/{}", e.inspection.id),
                        subject: e.subject.name.clone(),
                        officer: officers
                            .iter()
                            .find(|p| p.id == e.inspection.author)
                            .map(|p| p.display_name.clone())
                            .unwrap_or_default(),
                        at: fmt::time(e.inspection.occurred_at),
                        verdict: fmt::verdict_level(lang, v).to_owned(),
                        verdict_class: v.unwrap_or("none").to_owned(),
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    let board = app
        .order_board(actor, None, BoardTab::Overdue, None)
        .await
        .map_err(|e| signed.fail(e))?;
    let order_cards = BoardTab::ALL
        .iter()
        .zip(&board.totals)
        .map(|(tab, n)| Card {
            url: format!("/console/orders?tab={}", tab.as_str()),
            label: fmt::board_tab(lang, *tab).to_owned(),
            count: *n,
        })
        .collect();
    let overdue = board
        .items
        .iter()
        .take(LISTED)
        .map(|r| OrderLine {
            url: format!("/console/orders/{}", r.order.id),
            subject: r.subject_name.clone(),
            item: r.order.item.clone(),
            unit: if lang == "en" {
                r.unit_name_en.clone()
            } else {
                r.unit_name_zh.clone()
            },
            deadline: fmt::time(r.order.deadline),
        })
        .collect();

    let this_month = fmt::month_of(chrono::Utc::now());
    let leader = matches!(actor.role, Role::Viewer | Role::Admin);
    let standing = if !l.may_assess {
        None
    } else if leader {
        // The latest official figures: this month's once published, else the months before.
        let mut month = this_month.clone();
        let mut found = None;
        for _ in 0..3 {
            if let Ok(r) = app
                .assessment(actor, month.clone(), Some("official".into()))
                .await
            {
                found = Some(r);
                break;
            }
            match lantian_domain::assessment::previous_month(&month) {
                Some(m) => month = m,
                None => break,
            }
        }
        Some(Standing {
            title: match &found {
                Some(r) => format!("{}（{}）", t.official_ranking, r.month),
                None => t.official_ranking.to_owned(),
            },
            provisional: false,
            rows: found.as_ref().map(standing_rows).unwrap_or_default(),
            url: format!(
                "/console/assessment?month={}",
                found
                    .as_ref()
                    .map_or(this_month.as_str(), |r| r.month.as_str())
            ),
        })
    } else if actor.role == Role::Assessor {
        let r = app
            .assessment(actor, this_month.clone(), Some("provisional".into()))
            .await
            .ok();
        Some(Standing {
            title: t.provisional_standing.to_owned(),
            provisional: true,
            rows: r.as_ref().map(standing_rows).unwrap_or_default(),
            url: format!("/console/assessment?month={this_month}&kind=provisional"),
        })
    } else {
        None
    };

    let (map_json, map_note) = if leader {
        let (items, more) = app
            .month_inspections(actor, &this_month, MAP_POINTS)
            .await
            .map_err(|e| signed.fail(e))?;
        let tiles = config.tiles.as_ref();
        let points = items
            .iter()
            .map(|i| {
                map::point(
                    tiles,
                    (i.location.lat, i.location.lon),
                    None,
                    match i.verdict.as_ref().map(|v| v.level.as_str()) {
                        Some("implausible") => "flagged",
                        _ => "inspection",
                    },
                    format!(
                        "{} {}",
                        i.subject_name,
                        i.occurred_at.get(..16).unwrap_or("")
                    ),
                )
            })
            .collect();
        (
            Some(map::json(tiles, points, None)),
            more.then(|| t.map_more.replace("{n}", &MAP_POINTS.to_string())),
        )
    } else {
        (None, None)
    };

    let page = HomePage {
        l,
        alerts,
        reviews,
        order_cards,
        overdue,
        standing,
        map_json,
        map_note,
    };
    Ok(render(&page).into_response())
}

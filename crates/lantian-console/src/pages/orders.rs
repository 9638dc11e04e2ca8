//! The rectification board (整改): orders by tab with counts per unit, one order's page with its
//! timeline and the photos of each step, and decisions on extension and deferral requests.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_domain::rectification::{BoardTab, RequestKind};
use lantian_http::AppState;
use lantian_protocol::review::RequestDecision;
use serde::Deserialize;
use uuid::Uuid;

use super::Thumb;
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt};

#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    tab: Option<String>,
    unit: Option<String>,
    cursor: Option<String>,
}

struct TabView {
    url: String,
    label: String,
    count: i64,
    active: bool,
}

struct BoardRowView {
    url: String,
    subject: String,
    item: String,
    unit: String,
    severity: String,
    deadline: String,
    overdue: bool,
    state: String,
    reworks: u32,
    request: String,
}

struct UnitCountsView {
    url: String,
    name: String,
    counts: Vec<i64>,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct BoardPage {
    l: Layout,
    tabs: Vec<TabView>,
    tab_label: String,
    rows: Vec<BoardRowView>,
    units: Vec<UnitCountsView>,
    next_url: Option<String>,
}

fn board_url(tab: BoardTab, unit: Option<&str>) -> String {
    let mut pairs = vec![("tab", tab.as_str().to_owned())];
    if let Some(u) = unit {
        pairs.push(("unit", u.to_owned()));
    }
    format!(
        "/console/orders?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

fn request_text(lang: &str, kind: RequestKind) -> &'static str {
    match (kind, lang == "en") {
        (RequestKind::Extension, false) => "延期",
        (RequestKind::Extension, true) => "Extension",
        (RequestKind::Deferral, false) => "缓办",
        (RequestKind::Deferral, true) => "Deferral",
    }
}

/// `GET /console/orders`: the board.
pub async fn board(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<BoardQuery>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let tab = match q.tab.as_deref() {
        None | Some("") => BoardTab::Open,
        Some(s) => BoardTab::parse(s)
            .ok_or_else(|| signed.fail(lantian_app::AppError::bad_request("tab")))?,
    };
    let unit = q.unit.clone().filter(|u| !u.is_empty());
    let b = state
        .app()
        .order_board(&signed.0.actor, unit.clone(), tab, q.cursor.as_deref())
        .await
        .map_err(|e| signed.fail(e))?;
    let tabs = BoardTab::ALL
        .iter()
        .zip(&b.totals)
        .map(|(t, n)| TabView {
            url: board_url(*t, unit.as_deref()),
            label: fmt::board_tab(lang, *t).to_owned(),
            count: *n,
            active: *t == tab,
        })
        .collect();
    let rows = b
        .items
        .iter()
        .map(|r| {
            let o = &r.order;
            BoardRowView {
                url: format!("/console/orders/{}", o.id),
                subject: r.subject_name.clone(),
                item: o.item.clone(),
                unit: if lang == "en" {
                    r.unit_name_en.clone()
                } else {
                    r.unit_name_zh.clone()
                },
                severity: fmt::severity(lang, &o.severity),
                deadline: fmt::time(o.deadline),
                overdue: o.overdue,
                state: fmt::order_state(lang, o.state.as_str()).to_owned(),
                reworks: o.rework_count,
                request: o
                    .pending_request
                    .as_ref()
                    .map(|p| format!("{} → {}", request_text(lang, p.kind), fmt::time(p.until)))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let units = b
        .units
        .iter()
        .map(|u| UnitCountsView {
            url: board_url(tab, Some(&u.unit)),
            name: if lang == "en" {
                u.name_en.clone()
            } else {
                u.name_zh.clone()
            },
            counts: u.counts.clone(),
        })
        .collect();
    let next_url = b.next.map(|c| {
        let mut pairs = vec![("tab", tab.as_str().to_owned()), ("cursor", c)];
        if let Some(u) = &unit {
            pairs.push(("unit", u.clone()));
        }
        format!(
            "/console/orders?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let page = BoardPage {
        l: signed.layout("orders", t.orders_title),
        tabs,
        tab_label: fmt::board_tab(lang, tab).to_owned(),
        rows,
        units,
        next_url,
    };
    Ok(render(&page))
}

struct TimelineRow {
    what: String,
    at: String,
    who: String,
    note: Option<String>,
}

struct StepView {
    title: String,
    at: String,
    photos: Vec<Thumb>,
}

struct RequestView {
    title: String,
    until: String,
    who: String,
    at: String,
    reason: String,
}

struct OrderView {
    subject: String,
    item: String,
    item_label: String,
    state: String,
    overdue: bool,
    unit: String,
    severity: String,
    found: String,
    opened: String,
    deadline: String,
    deferred_until: Option<String>,
    closed: Option<String>,
    handled_note: Option<String>,
    inspection_url: String,
    timeline: Vec<TimelineRow>,
    steps: Vec<StepView>,
    request: Option<RequestView>,
    request_url: String,
    may_decide: bool,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    l: Layout,
    o: OrderView,
    error: Option<String>,
}

async fn show_order(
    state: &AppState,
    signed: &Signed,
    id: Uuid,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let s = state
        .app()
        .order_sheet(&signed.0.actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    let o = &s.order;
    let name = |who: &str| {
        if who == "system" {
            return if lang == "en" { "system" } else { "系统" }.to_owned();
        }
        Uuid::parse_str(who)
            .ok()
            .and_then(|u| s.people.iter().find(|p| p.id == u))
            .map(|p| format!("{} ({})", p.display_name, p.username))
            .unwrap_or_else(|| who.to_owned())
    };
    let item_label = s
        .finding
        .as_ref()
        .and_then(|f| f.inspection.results.iter().find(|r| r.item == o.item))
        .and_then(|r| r.note.clone())
        .unwrap_or_default();
    let mut steps = Vec::new();
    if let Some(f) = &s.finding {
        steps.push(StepView {
            title: if lang == "en" {
                "Found"
            } else {
                "发现问题"
            }
            .to_owned(),
            at: fmt::time(f.inspection.occurred_at),
            photos: f
                .photos
                .iter()
                .map(|p| Thumb::of(p.id, format!("{} {}", o.item, s.subject.name)))
                .collect(),
        });
    }
    if let Some(r) = &s.reinspection {
        steps.push(StepView {
            title: if lang == "en" {
                "Re-inspected"
            } else {
                "核查（复查）"
            }
            .to_owned(),
            at: fmt::time(r.inspection.occurred_at),
            photos: r
                .photos
                .iter()
                .map(|p| Thumb::of(p.id, format!("{} {}", o.item, s.subject.name)))
                .collect(),
        });
    }
    let view = OrderView {
        subject: s.subject.name.clone(),
        item: o.item.clone(),
        item_label,
        state: fmt::order_state(lang, o.state.as_str()).to_owned(),
        overdue: o.overdue,
        unit: o.unit.clone(),
        severity: fmt::severity(lang, &o.severity),
        found: o.found_at.map(fmt::time).unwrap_or_else(|| "—".to_owned()),
        opened: fmt::time(o.opened_at),
        deadline: fmt::time(o.deadline),
        deferred_until: o.deferred_until.map(fmt::time),
        closed: o.closed_at.map(fmt::time),
        handled_note: o.handled_note.clone(),
        inspection_url: format!("/console/review/{}", o.inspection_id),
        // The finding first (the inspection's time, from which the deadline runs), then every
        // event of the order's history.
        timeline: o
            .found_at
            .map(|at| TimelineRow {
                what: if lang == "en" {
                    "Found"
                } else {
                    "发现问题"
                }
                .to_owned(),
                at: fmt::time(at),
                who: name(&o.finder.to_string()),
                note: None,
            })
            .into_iter()
            .chain(o.events.iter().map(|e| TimelineRow {
                what: fmt::order_event(lang, &e.event),
                at: fmt::time(e.at),
                who: name(&e.actor),
                note: e.note.clone(),
            }))
            .collect(),
        steps,
        request: o.pending_request.as_ref().map(|p| RequestView {
            title: format!(
                "{}{}",
                request_text(lang, p.kind),
                if lang == "en" { " requested" } else { "申请" }
            ),
            until: fmt::time(p.until),
            who: name(&p.by.to_string()),
            at: fmt::time(p.at),
            reason: p.reason.clone(),
        }),
        request_url: format!("/console/orders/{}/request", o.id),
        may_decide: s.may_decide,
    };
    let page = OrderPage {
        l: signed.layout("orders", format!("{} · {}", t.order, view.subject)),
        o: view,
        error,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/orders/{id}`.
pub async fn sheet(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    show_order(&state, &signed, id, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    approve: String,
    #[serde(default)]
    comment: String,
}

/// `POST /console/orders/{id}/request`: approve or refuse the pending request.
pub async fn decide_request(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<RequestForm>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let decision = RequestDecision {
        approve: f.approve == "true",
        comment: Some(f.comment.trim().to_owned()).filter(|c| !c.is_empty()),
    };
    match state
        .app()
        .decide_order_request(&signed.0.actor, id, decision)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/console/orders/{id}")).into_response()),
        Err(e) if e.code == "not_found" => Err(signed.fail(e)),
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = crate::i18n::error_message(&e, lang);
            show_order(&state, &signed, id, status, Some(msg)).await
        }
    }
}

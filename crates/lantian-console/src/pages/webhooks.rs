//! Webhooks (系统对接): the endpoints other systems registered, registering one (its signing
//! secret shown once), an endpoint's deliveries with the receiver's answers, retrying one given
//! up, ending an endpoint. `App::register_webhook` and the rest, as `/v1/webhooks`.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_http::AppState;
use lantian_protocol::webhook::RegisterWebhook;
use serde::Deserialize;
use uuid::Uuid;

use super::Opt;
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt, i18n};

/// An event type in words.
fn event_label(t: &i18n::Tr, kind: &str) -> String {
    match kind {
        "inspection.reviewed" => t.ev_inspection_reviewed,
        "rectification.opened" => t.ev_rectification_opened,
        "rectification.overdue" => t.ev_rectification_overdue,
        "rectification.closed" => t.ev_rectification_closed,
        "bulletin.published" => t.ev_bulletin_published,
        "alert.declared" => t.ev_alert_declared,
        "alert.ended" => t.ev_alert_ended,
        other => return other.to_owned(),
    }
    .to_owned()
}

struct HookRow {
    page: String,
    url: String,
    description: Option<String>,
    events: String,
    pending: u64,
    failed: u64,
    delivered: u64,
    ended: bool,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct HooksPage {
    l: Layout,
    hooks: Vec<HookRow>,
    events: Vec<Opt>,
    secret: Option<String>,
    error: Option<String>,
}

async fn show(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    secret: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = signed.t();
    let hooks = state
        .app()
        .webhooks(&signed.0.actor)
        .await
        .map_err(|e| signed.fail(e))?
        .into_iter()
        .map(|w| HookRow {
            page: format!("/console/webhooks/{}", w.id),
            url: w.url,
            description: w.description,
            events: w
                .events
                .iter()
                .map(|e| event_label(t, e))
                .collect::<Vec<_>>()
                .join("、"),
            pending: w.pending,
            failed: w.failed,
            delivered: w.delivered,
            ended: w.ended_at.is_some(),
        })
        .collect();
    let page = HooksPage {
        l: signed.layout("webhooks", t.webhooks_title),
        hooks,
        events: lantian_domain::webhook::EVENTS
            .iter()
            .map(|(k, _)| Opt::new(*k, event_label(t, k), false))
            .collect(),
        secret,
        error,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/webhooks`.
pub async fn list(State(state): State<AppState>, signed: Signed) -> Result<Response, PageError> {
    show(&state, &signed, StatusCode::OK, None, None).await
}

/// `POST /console/webhooks`: registers an endpoint; the page shows its secret once.
pub async fn register(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    signed.check_form(&config, &headers, &get("csrf"))?;
    let req = RegisterWebhook {
        url: get("url"),
        events: pairs
            .iter()
            .filter(|(n, _)| n == "events")
            .map(|(_, v)| v.clone())
            .collect(),
        description: Some(get("description")).filter(|d| !d.trim().is_empty()),
    };
    match state.app().register_webhook(&signed.0.actor, req).await {
        Ok(w) => show(&state, &signed, StatusCode::CREATED, Some(w.secret), None).await,
        Err(e) if e.code == "forbidden" => Err(signed.fail(e)),
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = i18n::error_message(&e, signed.lang());
            show(&state, &signed, status, None, Some(msg)).await
        }
    }
}

struct DeliveryRow {
    kind: String,
    event: String,
    object: String,
    at: String,
    state: String,
    next: Option<String>,
    attempts: u32,
    answer: String,
    failed: bool,
    retry_url: Option<String>,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct HookPage {
    l: Layout,
    url: String,
    events: String,
    description: Option<String>,
    ended: bool,
    end_url: String,
    deliveries: Vec<DeliveryRow>,
    next_url: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct HookQuery {
    before: Option<i64>,
}

fn shown_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|x| fmt::time(x.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| t.to_owned())
}

async fn show_one(
    state: &AppState,
    signed: &Signed,
    id: Uuid,
    before: Option<i64>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = signed.t();
    let (w, items) = state
        .app()
        .webhook_deliveries(&signed.0.actor, id, before)
        .await
        .map_err(|e| signed.fail(e))?;
    let next_url = (items.len() == lantian_app::webhooks::DELIVERIES_PAGE)
        .then(|| {
            items
                .last()
                .map(|d| format!("/console/webhooks/{id}?before={}", d.id))
        })
        .flatten();
    let deliveries = items
        .into_iter()
        .map(|d| {
            let state_text = match d.state.as_str() {
                "delivered" => t.delivered_count,
                "failed" => t.failed_count,
                _ => t.pending_count,
            };
            let answer = match (d.last_status, &d.last_answer, &d.last_error) {
                (Some(s), Some(a), _) => format!("HTTP {s} · {a}"),
                (Some(s), None, _) => format!("HTTP {s}"),
                (None, _, Some(e)) => e.clone(),
                _ => String::new(),
            };
            DeliveryRow {
                kind: event_label(t, &d.kind),
                event: d.event.to_string(),
                object: format!("{}/{}", d.object_kind, d.object_id),
                at: shown_time(&d.occurred_at),
                state: state_text.to_owned(),
                next: (d.state == "pending" && d.attempts > 0)
                    .then(|| shown_time(&d.next_attempt_at)),
                attempts: d.attempts,
                answer,
                failed: d.state == "failed",
                retry_url: (d.state == "failed" && w.ended_at.is_none())
                    .then(|| format!("/console/webhooks/{id}/deliveries/{}/retry", d.id)),
            }
        })
        .collect();
    let page = HookPage {
        l: signed.layout("webhooks", w.url.clone()),
        url: w.url.clone(),
        events: w
            .events
            .iter()
            .map(|e| event_label(t, e))
            .collect::<Vec<_>>()
            .join("、"),
        description: w.description.clone(),
        ended: w.ended_at.is_some(),
        end_url: format!("/console/webhooks/{id}/end"),
        deliveries,
        next_url,
        error,
    };
    Ok(render(&page).into_response())
}

/// `GET /console/webhooks/{id}`.
pub async fn one(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<HookQuery>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    show_one(&state, &signed, id, q.before, None).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/webhooks/{id}/end`.
pub async fn end(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    state
        .app()
        .end_webhook(&signed.0.actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    Ok(Redirect::to(&format!("/console/webhooks/{id}")).into_response())
}

/// `POST /console/webhooks/{id}/deliveries/{delivery}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, i64)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    match state
        .app()
        .retry_delivery(&signed.0.actor, id, delivery)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/console/webhooks/{id}")).into_response()),
        Err(e) if e.code == "forbidden" => Err(signed.fail(e)),
        Err(e) => {
            let msg = i18n::error_message(&e, signed.lang());
            show_one(&state, &signed, id, None, Some(msg)).await
        }
    }
}

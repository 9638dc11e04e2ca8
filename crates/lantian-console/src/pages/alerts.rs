//! Pollution alerts (预警): the current and past alerts, declaring one (level, units, period) and
//! ending one early, by the roles the policy table allows (`App::declare_alert`,
//! `App::end_alert`, as `POST /v1/alerts`), and what an alert changes: the checklists' emergency
//! items and the raised inspection frequencies and weights of the campaign.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Asia::Shanghai;
use lantian_domain::assessment::ALERT_LEVELS;
use lantian_domain::policy::Action;
use lantian_http::AppState;
use lantian_protocol::review::DeclareAlert;
use serde::Deserialize;
use uuid::Uuid;

use super::Opt;
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt, i18n};

struct AlertRow {
    level: String,
    class: &'static str,
    units: String,
    starts: String,
    ends: String,
    state: String,
    note: String,
    end_url: Option<String>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    l: Layout,
    alerts: Vec<AlertRow>,
    may_declare: bool,
    levels: Vec<Opt>,
    units: Vec<Opt>,
    default_start: String,
    default_end: String,
    emergency: Vec<(String, String)>,
    level_names: Vec<String>,
    multipliers: Vec<(String, Vec<String>)>,
    weights: Vec<String>,
    error: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct AlertsQuery {
    done: Option<String>,
}

/// A `datetime-local` value (`2026-12-03T08:00`) as China Standard Time.
fn local_time(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Shanghai
        .from_local_datetime(&t)
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn local_input(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn show(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
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
    let may_declare = actor
        .may(Action::DeclareAlert, Some(&actor.unit_path))
        .is_ok();
    let now = chrono::Utc::now();
    let codes: std::collections::HashSet<&str> = units.iter().map(|u| u.code.as_str()).collect();
    let alerts = app
        .alerts(actor)
        .await
        .map_err(|e| signed.fail(e))?
        .into_iter()
        .map(|a| {
            let end = a.effective_end();
            let state = if a.ended_early_at.is_some() && end <= now {
                t.ended_early
            } else if a.starts_at > now {
                t.scheduled
            } else if now < end {
                t.in_force
            } else {
                t.over
            };
            // Lifted by whoever may declare over every one of its units (the operation decides).
            let ours = a.units.iter().all(|u| codes.contains(u.as_str()));
            AlertRow {
                level: fmt::alert_level(lang, &a.level).to_owned(),
                class: if a.level == "red" { "bad" } else { "warn" },
                units: a
                    .units
                    .iter()
                    .map(|u| unit_name(u))
                    .collect::<Vec<_>>()
                    .join("、"),
                starts: fmt::time(a.starts_at),
                ends: fmt::time(end),
                state: state.to_owned(),
                note: a.note.clone().unwrap_or_default(),
                end_url: (may_declare && ours && now < end)
                    .then(|| format!("/console/alerts/{}/end", a.id)),
            }
        })
        .collect();
    let templates = app.templates(actor).await.map_err(|e| signed.fail(e))?;
    let emergency = templates
        .iter()
        .filter_map(|tpl| {
            let items: Vec<String> = tpl
                .items
                .iter()
                .filter(|i| {
                    i.applies_if.as_deref() == Some(lantian_domain::inspection::ALERT_CONDITION)
                })
                .map(|i| {
                    if lang == "en" {
                        i.label_en.clone()
                    } else {
                        i.label_zh.clone()
                    }
                })
                .collect();
            (!items.is_empty()).then(|| {
                (
                    if lang == "en" {
                        tpl.title_en.clone()
                    } else {
                        tpl.title_zh.clone()
                    },
                    items.join("；"),
                )
            })
        })
        .collect();
    let campaigns = app.campaigns(actor).await.map_err(|e| signed.fail(e))?;
    let campaign =
        lantian_domain::campaign::for_month(&campaigns, &fmt::month_of(now)).or(campaigns.first());
    let (multipliers, weights) = match campaign {
        Some(c) => {
            let rules = &c.assessment;
            let mut kinds: Vec<&String> = rules
                .alert_multipliers
                .values()
                .flat_map(|m| m.keys())
                .collect();
            kinds.sort();
            kinds.dedup();
            let rows = kinds
                .into_iter()
                .map(|k| {
                    let label = lantian_domain::subject::SubjectKind::parse(k)
                        .map(|kind| fmt::kind(lang, kind).to_owned())
                        .unwrap_or_else(|| k.clone());
                    (
                        label,
                        ALERT_LEVELS
                            .iter()
                            .map(|lv| {
                                rules
                                    .alert_multipliers
                                    .get(*lv)
                                    .and_then(|m| m.get(k))
                                    .map_or("×1".to_owned(), |m| format!("×{m}"))
                            })
                            .collect(),
                    )
                })
                .collect();
            let weights = ALERT_LEVELS
                .iter()
                .map(|lv| {
                    rules
                        .alert_violation_weight
                        .get(*lv)
                        .map_or("100%".to_owned(), |w| format!("{w}%"))
                })
                .collect();
            (rows, weights)
        }
        None => (Vec::new(), Vec::new()),
    };
    let page = AlertsPage {
        l: signed.layout("alerts", t.alerts_title),
        alerts,
        may_declare,
        levels: ALERT_LEVELS
            .iter()
            .map(|lv| Opt::new(*lv, fmt::alert_level(lang, lv), *lv == "orange"))
            .collect(),
        units: units
            .iter()
            .map(|u| {
                let name = if lang == "en" { &u.name_en } else { &u.name_zh };
                Opt::new(u.code.clone(), name.clone(), false)
            })
            .collect(),
        default_start: local_input(now),
        default_end: local_input(now + chrono::Duration::days(3)),
        emergency,
        level_names: ALERT_LEVELS
            .iter()
            .map(|lv| fmt::alert_level(lang, lv).to_owned())
            .collect(),
        multipliers,
        weights,
        error,
        done,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/alerts`.
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, PageError> {
    let t = signed.t();
    let done = match q.done.as_deref() {
        Some("declared") => Some(t.alert_declared.to_owned()),
        Some("ended") => Some(t.alert_ended.to_owned()),
        _ => None,
    };
    show(&state, &signed, StatusCode::OK, None, done).await
}

/// `POST /console/alerts`: declares an alert (fields in China Standard Time).
pub async fn declare(
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
    let lang = signed.lang();
    let units: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "units")
        .map(|(_, v)| v.clone())
        .collect();
    let times = (local_time(&get("starts_at")), local_time(&get("ends_at")));
    let (Some(starts_at), Some(ends_at)) = times else {
        let e = lantian_app::AppError::bad_request("starts_at");
        return show(
            &state,
            &signed,
            StatusCode::BAD_REQUEST,
            Some(i18n::error_message(&e, lang)),
            None,
        )
        .await;
    };
    let note = Some(get("note")).filter(|n| !n.trim().is_empty());
    let a = DeclareAlert {
        level: get("level"),
        units,
        starts_at,
        ends_at,
        note,
    };
    match state.app().declare_alert(&signed.0.actor, a).await {
        Ok(_) => Ok(Redirect::to("/console/alerts?done=declared").into_response()),
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let mut msg = i18n::error_message(&e, lang);
            if let Some(f) = &e.field {
                msg = format!("{msg} · {f}");
            }
            show(&state, &signed, status, Some(msg), None).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/alerts/{id}/end`: lifts an alert from now on.
pub async fn end(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let lang = signed.lang();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    match state.app().end_alert(&signed.0.actor, id, None).await {
        Ok(_) => Ok(Redirect::to("/console/alerts?done=ended").into_response()),
        Err(e) if e.code == "not_found" => Err(signed.fail(e)),
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            show(
                &state,
                &signed,
                status,
                Some(i18n::error_message(&e, lang)),
                None,
            )
            .await
        }
    }
}

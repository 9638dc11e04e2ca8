//! Review and rectification: the supervisors' queue, review decisions (compare-and-set), orders
//! from failed items and their life: handled, requests for extension or deferral and their
//! decisions, the overdue list, and the counts the assessment needs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use chrono::{DateTime, Utc};
use lantian_domain::inspection::InspectionView;
use lantian_domain::policy::{Action, may_read_inspection};
use lantian_domain::rectification::{OrderState, OrderView, RequestKind, ReviewDecision};
use lantian_domain::subject::SubjectKind;
use lantian_domain::unit::relation;
use lantian_store::org;
use lantian_store::rectify::{self, OrderFilter, OrderStats};
use lantian_store::review::{self, QueueEntry, QueueFilter};
use lantian_store::sync::Group;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};

fn encode_cursor(after: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("r:{after}"))
}

fn decode_cursor(c: Option<&str>) -> Result<i64, ApiError> {
    let Some(c) = c else { return Ok(0) };
    let bad = || {
        ApiError::new("bad_request")
            .field("cursor")
            .detail("cursor_invalid")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|t| t.strip_prefix("r:").and_then(|n| n.parse().ok()))
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(bad)
}

fn limit_of(l: Option<u32>, default: u32) -> Result<usize, ApiError> {
    match l.unwrap_or(default) {
        n @ 1..=200 => Ok(n as usize),
        _ => Err(ApiError::new("bad_request").field("limit").note("1 to 200")),
    }
}

fn parse_time(field: &'static str, t: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    t.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::new("bad_request")
                    .field(field)
                    .note("an RFC 3339 time")
            })
    })
    .transpose()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueQuery {
    unit: Option<String>,
    kind: Option<String>,
    /// Review state (default `received`).
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    verdict: Option<String>,
    /// Comma-separated: `awaiting_media`, `reused_photo`, `clock_skew`, `mock_location`,
    /// `critical_failed`.
    flags: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct QueuePage {
    items: Vec<QueueEntry>,
    next: Option<String>,
}

/// `GET /v1/review/queue`: inspections of the caller's subtree waiting for review, oldest first.
pub(crate) async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<QueueQuery>,
) -> Result<Json<QueuePage>, ApiError> {
    let within = super::unit_scope(&state, &caller, q.unit, Action::Supervise).await?;
    let flags: Vec<String> = q
        .flags
        .as_deref()
        .map(|f| {
            f.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for f in &flags {
        if !matches!(
            f.as_str(),
            "awaiting_media" | "reused_photo" | "clock_skew" | "mock_location" | "critical_failed"
        ) {
            return Err(ApiError::new("bad_request")
                .field("flags")
                .note(format!("unknown flag {f}")));
        }
    }
    if let Some(s) = q.state.as_deref()
        && !matches!(s, "received" | "approved" | "has_issues" | "rejected")
    {
        return Err(ApiError::new("bad_request").field("state"));
    }
    if let Some(v) = q.verdict.as_deref()
        && !matches!(v, "ok" | "doubtful" | "implausible")
    {
        return Err(ApiError::new("bad_request").field("verdict"));
    }
    let filter = QueueFilter {
        within,
        kind: q
            .kind
            .as_deref()
            .map(|k| {
                SubjectKind::parse(k).ok_or_else(|| {
                    ApiError::new("bad_request")
                        .field("kind")
                        .detail("kind_unknown")
                })
            })
            .transpose()?,
        state: q.state,
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        verdict: q.verdict,
        flags,
    };
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit_of(q.limit, 20)?;
    let (items, next) = state
        .store()
        .read(move |c| review::queue(c, &filter, after, limit))
        .await?;
    Ok(Json(QueuePage {
        items,
        next: next.map(encode_cursor),
    }))
}

/// The inspection if the caller may see it (its author, or oversight of its subtree), else 404.
async fn visible_inspection(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<review::InspectionAccess, ApiError> {
    let a = state
        .store()
        .read(move |c| review::access(c, id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !may_read_inspection(
        caller.0.role,
        a.author_id == caller.0.id,
        relation(&caller.0.unit_path, &a.unit_path),
    ) {
        return Err(ApiError::not_found());
    }
    Ok(a)
}

/// `GET /v1/inspections/{id}`: one inspection with its amendments, verdict and reviews.
pub(crate) async fn get_inspection(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<InspectionView>, ApiError> {
    visible_inspection(&state, &caller, id).await?;
    let view = state
        .store()
        .read(move |c| lantian_store::push::load_view(c, id))
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewRequest {
    /// The review state the supervisor saw; the decision applies only if it is still that.
    expected_state: String,
    decision: ReviewDecision,
    comment: Option<String>,
}

/// `POST /v1/inspections/{id}/review`: a decision, compare-and-set on the expected state.
pub(crate) async fn review_inspection(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<ReviewRequest>,
) -> Result<Json<InspectionView>, ApiError> {
    let a = visible_inspection(&state, &caller, id).await?;
    caller.may(Action::Supervise, Some(&a.unit_path))?;
    if a.author_id == caller.0.id {
        return Err(ApiError::forbidden().note("nobody reviews their own inspection"));
    }
    let reviewer = caller.0.clone();
    let view = state
        .store()
        .write(move |c| review::decide(c, id, &reviewer, &r.expected_state, r.decision, r.comment))
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenOrder {
    inspection_id: Uuid,
    item: String,
    /// A severity of the configured table (default: the item's, or by criticality).
    severity: Option<String>,
}

/// `POST /v1/rectifications`: a supervisor opens an order for a failed item.
pub(crate) async fn open_order(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(o): AppJson<OpenOrder>,
) -> Result<impl IntoResponse, ApiError> {
    let a = visible_inspection(&state, &caller, o.inspection_id).await?;
    caller.may(Action::Supervise, Some(&a.unit_path))?;
    let policy = state.config().rectify.clone();
    let actor = caller.0.uuid.to_string();
    let view = state
        .store()
        .write(move |c| {
            rectify::open(
                c,
                Group::new(),
                o.inspection_id,
                &o.item,
                o.severity.as_deref(),
                &actor,
                &policy,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderQuery {
    unit: Option<String>,
    state: Option<String>,
    overdue: Option<bool>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct OrderPage {
    items: Vec<OrderView>,
    next: Option<String>,
}

/// `GET /v1/rectifications`: orders of the caller's subtree (`overdue=true`: the escalation list for
/// the unit's leaders and the assessment section).
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let within = super::unit_scope(&state, &caller, q.unit, Action::ReadSubject).await?;
    let filter = OrderFilter {
        within,
        state: q
            .state
            .as_deref()
            .map(|s| {
                OrderState::parse(s).ok_or_else(|| ApiError::new("bad_request").field("state"))
            })
            .transpose()?,
        overdue: q.overdue,
    };
    let after = decode_cursor(q.cursor.as_deref())?;
    let limit = limit_of(q.limit, 50)?;
    let (items, next) = state
        .store()
        .read(move |c| rectify::list(c, &filter, after, limit))
        .await?;
    Ok(Json(OrderPage {
        items,
        next: next.map(encode_cursor),
    }))
}

/// The order if the caller's subtree holds its unit (and the role may `action` there), else 404/403.
async fn order_for(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> Result<rectify::OrderRecord, ApiError> {
    let o = state
        .store()
        .read(move |c| rectify::get(c, id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    caller.may(Action::ReadSubject, Some(&o.unit_path))?;
    caller.may(action, Some(&o.unit_path))?;
    Ok(o)
}

/// `GET /v1/rectifications/{id}`: one order with its history.
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        order_for(&state, &caller, id, Action::ReadSubject)
            .await?
            .view,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Handled {
    note: String,
}

/// `POST /v1/rectifications/{id}/handled`: the responsible unit reports it fixed.
pub(crate) async fn report_handled(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(h): AppJson<Handled>,
) -> Result<Json<OrderView>, ApiError> {
    order_for(&state, &caller, id, Action::HandleRectification).await?;
    let actor = caller.0.uuid;
    Ok(Json(
        state
            .store()
            .write(move |c| rectify::report_handled(c, id, actor, &h.note))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderRequest {
    kind: RequestKind,
    until: DateTime<Utc>,
    reason: String,
}

/// `POST /v1/rectifications/{id}/requests`: ask for an extension (延期) or a deferral (缓办).
pub(crate) async fn request(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<OrderRequest>,
) -> Result<Json<OrderView>, ApiError> {
    order_for(&state, &caller, id, Action::HandleRectification).await?;
    let actor = caller.0.uuid;
    Ok(Json(
        state
            .store()
            .write(move |c| rectify::request(c, id, actor, r.kind, r.until, &r.reason))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestDecision {
    approve: bool,
    comment: Option<String>,
}

/// `POST /v1/rectifications/{id}/requests/decision`: a supervisor approves or denies the request.
pub(crate) async fn decide_request(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(d): AppJson<RequestDecision>,
) -> Result<Json<OrderView>, ApiError> {
    order_for(&state, &caller, id, Action::Supervise).await?;
    let actor = caller.0.uuid;
    Ok(Json(
        state
            .store()
            .write(move |c| rectify::decide_request(c, id, actor, d.approve, d.comment.as_deref()))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    unit: Option<String>,
    from: String,
    to: String,
}

/// `GET /v1/rectifications/stats`: counts of the orders due in [from, to) for the assessment.
pub(crate) async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Json<OrderStats>, ApiError> {
    let within = super::unit_scope(&state, &caller, q.unit, Action::ReadInspection).await?;
    let from = parse_time("from", Some(&q.from))?
        .ok_or_else(|| ApiError::new("bad_request").field("from"))?;
    let to =
        parse_time("to", Some(&q.to))?.ok_or_else(|| ApiError::new("bad_request").field("to"))?;
    Ok(Json(
        state
            .store()
            .read(move |c| rectify::stats(c, &within, from, to))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssessmentQuery {
    /// `official` (default: the latest revision) or `provisional`.
    kind: Option<String>,
}

/// `GET /v1/assessment/{month}`: the month's figures for the units of the caller's subtree, with
/// the raw counts, ranks, change from last month, the overdue list and the diff of the revision.
pub(crate) async fn assessment(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(month): AppPath<String>,
    AppQuery(q): AppQuery<AssessmentQuery>,
) -> Result<Json<lantian_store::assessment::StoredRollup>, ApiError> {
    caller.may(Action::ReadInspection, Some(&caller.0.unit_path))?;
    let kind = q.kind.unwrap_or_else(|| "official".into());
    if !matches!(kind.as_str(), "official" | "provisional") {
        return Err(ApiError::new("bad_request").field("kind"));
    }
    if lantian_domain::assessment::month_bounds(&month).is_none() {
        return Err(ApiError::not_found());
    }
    let mine = caller.0.unit_path.clone();
    let mut r = state
        .store()
        .read(move |c| {
            let Some(campaign) = lantian_store::assessment::campaign_for_month(c, &month)? else {
                return Ok(None);
            };
            let units = lantian_store::org::units_in_subtree(c, &mine)?;
            Ok(
                lantian_store::assessment::latest(c, &campaign.code, &month, &kind)?
                    .map(|r| (r, units)),
            )
        })
        .await?
        .ok_or_else(ApiError::not_found)
        .map(|(mut r, units)| {
            let visible: std::collections::HashSet<String> =
                units.into_iter().map(|u| u.code).collect();
            r.units.retain(|u| visible.contains(&u.unit));
            r.diff.retain(|d| visible.contains(&d.unit));
            r
        })?;
    r.units.sort_by(|a, b| a.unit.cmp(&b.unit));
    Ok(Json(r))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulletinQuery {
    /// `json` (default), `csv`, `xlsx` or `html`.
    format: Option<String>,
}

/// `GET /v1/bulletins/{month}`: the month's bulletin (from its latest official revision).
pub(crate) async fn bulletin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(month): AppPath<String>,
    AppQuery(q): AppQuery<BulletinQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    caller.may(Action::ReadInspection, Some(&caller.0.unit_path))?;
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv" | "xlsx" | "html") {
        return Err(ApiError::new("bad_request")
            .field("format")
            .note("json, csv, xlsx or html"));
    }
    if lantian_domain::assessment::month_bounds(&month).is_none() {
        return Err(ApiError::not_found());
    }
    let m = month.clone();
    let b = state
        .store()
        .read(
            move |c| match lantian_store::assessment::campaign_for_month(c, &m)? {
                Some(campaign) => lantian_store::assessment::bulletin(c, &campaign.code, &m),
                None => Ok(None),
            },
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    let fail = |e: String| {
        tracing::error!(error = %e, "bulletin rendering failed");
        ApiError::internal()
    };
    let (body, content_type, ext): (Vec<u8>, &str, &str) = match format.as_str() {
        "csv" => (
            crate::bulletin::to_csv(&b).map_err(|e| fail(e.to_string()))?,
            "text/csv; charset=utf-8",
            "csv",
        ),
        "xlsx" => (
            crate::bulletin::to_xlsx(&b).map_err(|e| fail(e.to_string()))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        "html" => (
            crate::bulletin::to_html(&b).into_bytes(),
            "text/html; charset=utf-8",
            "html",
        ),
        _ => (
            serde_json::to_vec(&b).map_err(|e| fail(e.to_string()))?,
            "application/json",
            "json",
        ),
    };
    axum::response::Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"bulletin-{month}.{ext}\""),
        )
        .body(axum::body::Body::from(body))
        .map_err(|_| ApiError::internal())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeclareAlert {
    /// `yellow`, `orange` or `red`.
    level: String,
    /// Unit codes; the alert covers their subtrees.
    units: Vec<String>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    note: Option<String>,
}

/// `POST /v1/alerts`: an admin declares a pollution alert; it syncs to every phone.
pub(crate) async fn declare_alert(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(a): AppJson<DeclareAlert>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::DeclareAlert, Some(&caller.0.unit_path))?;
    if !matches!(a.level.as_str(), "yellow" | "orange" | "red") {
        return Err(ApiError::from(lantian_domain::ValidationError::new(
            "alert_level_invalid",
            "level",
            "yellow, orange or red",
        )));
    }
    if a.units.is_empty() || a.units.len() > 500 {
        return Err(ApiError::from(lantian_domain::ValidationError::new(
            "alert_units_invalid",
            "units",
            "1 to 500 unit codes",
        )));
    }
    if a.ends_at <= a.starts_at {
        return Err(ApiError::from(lantian_domain::ValidationError::new(
            "alert_period_invalid",
            "ends_at",
            "an alert ends after it starts",
        )));
    }
    for code in &a.units {
        let c = code.clone();
        let unit = state
            .store()
            .read(move |s| org::unit_by_code(s, &c))
            .await?
            .ok_or_else(ApiError::not_found)?;
        caller.may(Action::DeclareAlert, Some(&unit.unit.path))?;
    }
    let alert = lantian_store::assessment::Alert {
        id: Uuid::now_v7(),
        level: a.level,
        units: a.units,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        note: a.note.map(|n| n.chars().take(2000).collect()),
        declared_by: caller.0.uuid.to_string(),
        declared_at: Utc::now(),
    };
    let stored = alert.clone();
    state
        .store()
        .write(move |c| lantian_store::assessment::declare_alert(c, &stored))
        .await?;
    Ok((StatusCode::CREATED, Json(alert)))
}

/// `GET /v1/alerts`: every declared alert, newest first.
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<lantian_store::assessment::Alert>>, ApiError> {
    caller.may(Action::ReadCampaign, None)?;
    Ok(Json(
        state
            .store()
            .read(lantian_store::assessment::alerts)
            .await?,
    ))
}

//! Review and rectification: the supervisors' queue, review decisions, orders and their life, the
//! month's assessment, the bulletin and alerts. Each handler parses, calls one operation of
//! `lantian_app`, and renders.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use lantian_app::assessment::BulletinFormat;
use lantian_domain::assessment::{Alert, Rollup};
use lantian_domain::inspection::InspectionView;
use lantian_domain::rectification::{OrderStats, OrderView};
use lantian_protocol::review::{
    AssessmentQuery, BulletinQuery, DeclareAlert, Handled, OpenOrder, OrderPage, OrderQuery,
    OrderRequest, QueuePage, QueueQuery, RequestDecision, ReviewRequest, StatsQuery,
};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};

/// `GET /v1/review/queue`: inspections of the caller's subtree waiting for review, oldest first.
pub(crate) async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<QueueQuery>,
) -> Result<Json<QueuePage>, ApiError> {
    Ok(Json(state.app().review_queue(&caller.0, q).await?))
}

/// `GET /v1/inspections/{id}`: one inspection with its amendments, verdict and reviews.
pub(crate) async fn get_inspection(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<InspectionView>, ApiError> {
    Ok(Json(state.app().inspection(&caller.0, id).await?))
}

/// `POST /v1/inspections/{id}/review`: a decision, compare-and-set on the expected state.
pub(crate) async fn review_inspection(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<ReviewRequest>,
) -> Result<Json<InspectionView>, ApiError> {
    Ok(Json(state.app().review(&caller.0, id, r).await?))
}

/// `POST /v1/rectifications`: a supervisor opens an order for a failed item.
pub(crate) async fn open_order(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(o): AppJson<OpenOrder>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state.app().open_order(&caller.0, o).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/rectifications`: orders of the caller's subtree (`overdue=true`: the escalation list for
/// the unit's leaders and the assessment section).
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    Ok(Json(state.app().orders(&caller.0, q).await?))
}

/// `GET /v1/rectifications/{id}`: one order with its history.
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(state.app().order(&caller.0, id).await?))
}

/// `POST /v1/rectifications/{id}/handled`: the responsible unit reports it fixed.
pub(crate) async fn report_handled(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(h): AppJson<Handled>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(state.app().report_handled(&caller.0, id, h).await?))
}

/// `POST /v1/rectifications/{id}/requests`: ask for an extension (延期) or a deferral (缓办).
pub(crate) async fn request(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<OrderRequest>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        state.app().request_order_change(&caller.0, id, r).await?,
    ))
}

/// `POST /v1/rectifications/{id}/requests/decision`: a supervisor approves or denies the request.
pub(crate) async fn decide_request(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(d): AppJson<RequestDecision>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        state.app().decide_order_request(&caller.0, id, d).await?,
    ))
}

/// `GET /v1/rectifications/stats`: counts of the orders due in [from, to) for the assessment.
pub(crate) async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<StatsQuery>,
) -> Result<Json<OrderStats>, ApiError> {
    Ok(Json(state.app().order_stats(&caller.0, q).await?))
}

/// `GET /v1/assessment/{month}`: the month's figures for the units of the caller's subtree, with
/// the raw counts, ranks, change from last month, the overdue list and the diff of the revision.
pub(crate) async fn assessment(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(month): AppPath<String>,
    AppQuery(q): AppQuery<AssessmentQuery>,
) -> Result<Json<Rollup>, ApiError> {
    Ok(Json(
        state.app().assessment(&caller.0, month, q.kind).await?,
    ))
}

/// `GET /v1/bulletins/{month}`: the month's bulletin (from its latest official revision).
pub(crate) async fn bulletin(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(month): AppPath<String>,
    AppQuery(q): AppQuery<BulletinQuery>,
) -> Result<axum::response::Response, ApiError> {
    let format = BulletinFormat::parse(q.format.as_deref())?;
    let b = state
        .app()
        .bulletin(&caller.0, month.clone(), format)
        .await?;
    let mut builder = axum::response::Response::builder();
    if format == lantian_app::assessment::BulletinFormat::Html {
        // A page: its own stylesheet (by hash) and inline SVG charts, nothing else.
        builder = builder.header(
            "content-security-policy",
            format!(
                "default-src 'none'; style-src {}; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                lantian_app::bulletin::bulletin_style_source()
            ),
        );
    }
    builder
        .header(header::CONTENT_TYPE, format.content_type())
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "inline; filename=\"bulletin-{month}.{}\"",
                format.extension()
            ),
        )
        .body(axum::body::Body::from(b.body))
        .map_err(|_| ApiError::internal())
}

/// `POST /v1/alerts`: an admin declares a pollution alert; it syncs to every phone.
pub(crate) async fn declare_alert(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(a): AppJson<DeclareAlert>,
) -> Result<impl IntoResponse, ApiError> {
    let alert = state.app().declare_alert(&caller.0, a).await?;
    Ok((StatusCode::CREATED, Json(alert)))
}

/// `POST /v1/alerts/{id}/end`: lifts an alert before its declared end (an appended event).
pub(crate) async fn end_alert(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppJson(e): AppJson<lantian_protocol::review::EndAlert>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.app().end_alert(&caller.0, id, e.at).await?))
}

/// `GET /v1/alerts`: every declared alert, newest first.
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(state.app().alerts(&caller.0).await?))
}

/// `POST /v1/assessment/{month}/provisional`: the month's provisional figures computed now.
pub(crate) async fn compute_provisional(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(month): AppPath<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    Ok(Json(
        state.app().compute_provisional(&caller.0, month).await?,
    ))
}

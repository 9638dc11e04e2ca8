//! Webhooks: endpoints registered, listed and ended, their deliveries read and retried. What is
//! checked and kept is `lantian_app::webhooks`'.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lantian_protocol::webhook::RegisterWebhook;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};

/// `GET /v1/webhooks`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().webhooks(&caller.0).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `POST /v1/webhooks`: the endpoint and its secret, shown once.
pub(crate) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<RegisterWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let w = state.app().register_webhook(&caller.0, req).await?;
    Ok((StatusCode::CREATED, Json(w)))
}

/// `POST /v1/webhooks/{webhook_id}/end`.
pub(crate) async fn end(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.app().end_webhook(&caller.0, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveriesQuery {
    /// The next page: deliveries older than this one.
    before: Option<i64>,
}

/// `GET /v1/webhooks/{webhook_id}/deliveries`.
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppQuery(q): AppQuery<DeliveriesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (webhook, items) = state
        .app()
        .webhook_deliveries(&caller.0, id, q.before)
        .await?;
    Ok(Json(
        serde_json::json!({ "webhook": webhook, "items": items }),
    ))
}

/// `POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry`.
pub(crate) async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((id, delivery)): AppPath<(Uuid, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    state.app().retry_delivery(&caller.0, id, delivery).await?;
    Ok(StatusCode::NO_CONTENT)
}

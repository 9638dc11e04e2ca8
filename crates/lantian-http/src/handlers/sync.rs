//! The sync protocol v1: pre-flight, push, pull, status (the operations are `lantian_app::sync`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use lantian_protocol::sync::{
    PROTOCOL_HEADER, PROTOCOL_VERSION, PullRequest, PushRequest, SERVER_TIME_HEADER,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, Bearer, Caller};

/// `HEAD /v1/sync`: 204 with the protocol version and the server time, so a phone can tell a
/// captive portal from the server and estimate its clock offset before it pushes.
pub(crate) async fn preflight() -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(
        SERVER_TIME_HEADER,
        HeaderValue::from(chrono::Utc::now().timestamp_millis()),
    );
    (StatusCode::NO_CONTENT, h)
}

/// `POST /v1/sync/push`.
pub(crate) async fn push(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    AppJson(req): AppJson<PushRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.app().push(token, req).await?))
}

/// `POST /v1/sync/pull`.
pub(crate) async fn pull(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    AppJson(req): AppJson<PullRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.app().pull(token, req).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    client_id: Uuid,
}

/// `GET /v1/sync/status?client_id=`: per-scope count and checksum, for diagnostics.
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<StatusQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state.app().sync_status(&caller.0, q.client_id).await?,
    ))
}

//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::AppState;
use crate::error::ApiError;

/// The process is up.
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The writer runs and the database answers: ready for traffic.
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if state.store().ready().await {
        Ok((
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        ))
    } else {
        Err(ApiError::new("unavailable").retry_after(1))
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state
            .metrics()
            .render(state.store().writer_stats(), state.store().statements_run()),
    )
}

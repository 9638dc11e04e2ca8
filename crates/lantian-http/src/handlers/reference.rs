//! Reference data: units, departments, campaigns, checklist templates (the operations are
//! `lantian_app::reference`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lantian_domain::campaign::Campaign;
use lantian_domain::checklist::TemplateDraft;
use lantian_protocol::reference::Page;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, Caller};

/// `GET /v1/units`: the caller's unit and everything below it.
pub(crate) async fn list_units(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().units(&caller.0).await?;
    Ok(axum::Json(Page { items }))
}

/// `GET /v1/units/{code}`.
pub(crate) async fn get_unit(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.app().unit(&caller.0, code).await?))
}

/// `GET /v1/departments`: the supervising departments (global).
pub(crate) async fn list_departments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().departments(&caller.0).await?;
    Ok(axum::Json(Page { items }))
}

/// `GET /v1/campaigns`.
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().campaigns(&caller.0).await?;
    Ok(axum::Json(Page { items }))
}

/// `GET /v1/campaigns/{code}`.
pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.app().campaign(&caller.0, code).await?))
}

/// `POST /v1/campaigns`: a new campaign (root admins).
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(campaign): AppJson<Campaign>,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.app().create_campaign(&caller.0, campaign).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// `PUT /v1/campaigns/{code}`: the campaign replaced as a whole (root admins).
pub(crate) async fn update_campaign(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
    AppJson(campaign): AppJson<Campaign>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state
            .app()
            .update_campaign(&caller.0, code, campaign)
            .await?,
    ))
}

/// `GET /v1/templates`: the latest version of every template.
pub(crate) async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().templates(&caller.0).await?;
    Ok(axum::Json(Page { items }))
}

/// `GET /v1/templates/{code}/versions`.
pub(crate) async fn list_template_versions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().template_versions(&caller.0, code).await?;
    Ok(axum::Json(Page { items }))
}

/// `GET /v1/templates/{code}/versions/{version}`.
pub(crate) async fn get_template_version(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((code, version)): AppPath<(String, u32)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state
            .app()
            .template_version(&caller.0, code, version)
            .await?,
    ))
}

/// `POST /v1/templates/{code}/versions`: publishes the next, immutable version.
pub(crate) async fn publish_template(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
    AppJson(draft): AppJson<TemplateDraft>,
) -> Result<impl IntoResponse, ApiError> {
    let t = state.app().publish_template(&caller.0, code, draft).await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

//! Reference data: units, departments, campaigns, checklist templates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lantian_domain::checklist::TemplateDraft;
use lantian_domain::policy::Action;
use lantian_protocol::reference::Page;
use lantian_store::sync::Group;
use lantian_store::{audit, org, templates};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, Caller};

/// `GET /v1/units`: the caller's unit and everything below it.
pub(crate) async fn list_units(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadUnit, Some(&caller.0.unit_path))?;
    let path = caller.0.unit_path.clone();
    let units = state
        .store()
        .read(move |c| org::units_in_subtree(c, &path))
        .await?;
    Ok(axum::Json(Page { items: units }))
}

/// `GET /v1/units/{code}`.
pub(crate) async fn get_unit(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let unit = state
        .store()
        .read(move |c| org::unit_by_code(c, &code))
        .await?
        .ok_or_else(ApiError::not_found)?;
    caller.may(Action::ReadUnit, Some(&unit.unit.path))?;
    Ok(axum::Json(unit.unit))
}

/// `GET /v1/departments`: the supervising departments (global).
pub(crate) async fn list_departments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadCampaign, None)?;
    let items = state.store().read(org::departments).await?;
    Ok(axum::Json(Page { items }))
}

pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadCampaign, None)?;
    let items = state.store().read(org::campaigns).await?;
    Ok(axum::Json(Page { items }))
}

pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadCampaign, None)?;
    let c = state
        .store()
        .read(move |c| org::campaign(c, &code))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(c))
}

/// `GET /v1/templates`: the latest version of every template.
pub(crate) async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadTemplate, None)?;
    let items = state.store().read(templates::latest).await?;
    Ok(axum::Json(Page { items }))
}

pub(crate) async fn list_template_versions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadTemplate, None)?;
    let items = state
        .store()
        .read(move |c| templates::versions(c, &code))
        .await?;
    if items.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(axum::Json(Page { items }))
}

pub(crate) async fn get_template_version(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((code, version)): AppPath<(String, u32)>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::ReadTemplate, None)?;
    let t = state
        .store()
        .read(move |c| templates::get(c, &code, version))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(t))
}

/// `POST /v1/templates/{code}/versions`: publishes the next, immutable version.
pub(crate) async fn publish_template(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(code): AppPath<String>,
    AppJson(draft): AppJson<TemplateDraft>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::PublishTemplate, None)?;
    draft.validate()?;
    let (actor, user_id) = (caller.0.uuid.to_string(), caller.0.id);
    let t = state
        .store()
        .write(move |c| {
            let t = templates::publish(c, Group::new(), &code, &draft, Some(user_id))?;
            audit::record(
                c,
                &actor,
                "template.publish",
                "template",
                &format!("{}@{}", t.code, t.version),
                None,
                Some(t.content_hash.clone()),
            )?;
            Ok(t)
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

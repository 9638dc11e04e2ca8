//! Subjects: list (filtered, cursor-paged), get, create, edit with `If-Match`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use lantian_app::AppError;
use lantian_domain::subject::Subject;
use lantian_protocol::reference::{NearbyPage, NearbyQuery, SubjectFields, SubjectQuery};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};

/// `GET /v1/subjects?kind&unit&q&cursor&limit`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<SubjectQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.app().subjects(&caller.0, q).await?))
}

fn with_etag(s: Subject) -> impl IntoResponse {
    let etag = HeaderValue::from_str(&format!("\"{}\"", s.version)).ok();
    let mut headers = HeaderMap::new();
    if let Some(e) = etag {
        headers.insert(header::ETAG, e);
    }
    (headers, axum::Json(s))
}

/// `GET /v1/subjects/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(with_etag(state.app().subject(&caller.0, id).await?))
}

/// `GET /v1/subjects/nearby`: the subjects the caller may see within `radius` metres of a point
/// (in any datum), nearest first, from the spatial index.
pub(crate) async fn nearby(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<NearbyQuery>,
) -> Result<axum::Json<NearbyPage>, ApiError> {
    Ok(axum::Json(state.app().nearby(&caller.0, q).await?))
}

/// `POST /v1/subjects`: creates a subject in a unit of the caller's subtree.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(fields): AppJson<SubjectFields>,
) -> Result<impl IntoResponse, ApiError> {
    let subject = state.app().create_subject(&caller.0, fields).await?;
    Ok((StatusCode::CREATED, with_etag(subject)))
}

/// The version an `If-Match` header names.
fn if_match_version(headers: &HeaderMap) -> Result<i64, AppError> {
    let v = headers
        .get(header::IF_MATCH)
        .ok_or_else(|| AppError::new("precondition_required"))?;
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_request("If-Match").detail("if_match_invalid"))
}

/// `PUT /v1/subjects/{id}` with `If-Match: "<version>"`. Both the subject's current unit and the
/// unit it is moved to must lie in the caller's subtree.
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    AppJson(fields): AppJson<SubjectFields>,
) -> Result<impl IntoResponse, ApiError> {
    // The precondition is read here, and judged after the caller's right to the subject.
    let expected = if_match_version(&headers);
    let subject = state
        .app()
        .update_subject(&caller.0, id, expected, fields)
        .await?;
    Ok(with_etag(subject))
}

//! Subjects: list (filtered, cursor-paged), get, create, edit with `If-Match`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use lantian_app::AppError;
use lantian_domain::policy::Action;
use lantian_domain::subject::{Subject, SubjectKind};
use lantian_protocol::reference::{SubjectFields, SubjectQuery};
use lantian_store::{org, subjects};
use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NearbyQuery {
    lat: f64,
    lon: f64,
    datum: Option<lantian_domain::geo::Datum>,
    /// Metres; default 300, at most 5000.
    radius: Option<f64>,
    limit: Option<u32>,
    kind: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct NearbySubject {
    distance_m: f64,
    subject: Subject,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct NearbyPage {
    /// The query point as WGS-84 (converted from `datum`).
    wgs84: [f64; 2],
    items: Vec<NearbySubject>,
}

/// `GET /v1/subjects/nearby`: the subjects the caller may see within `radius` metres of a point
/// (in any datum), nearest first, from the spatial index.
pub(crate) async fn nearby(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<NearbyQuery>,
) -> Result<axum::Json<NearbyPage>, ApiError> {
    caller.may(Action::ReadSubject, Some(&caller.0.unit_path))?;
    lantian_domain::subject::GeoPoint {
        lat: q.lat,
        lon: q.lon,
    }
    .validate("lat")?;
    let radius = q.radius.unwrap_or(300.0);
    if !radius.is_finite() || radius <= 0.0 || radius > 5000.0 {
        return Err(ApiError::new("bad_request")
            .field("radius")
            .note("1 to 5000 metres"));
    }
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > 200 {
        return Err(ApiError::new("bad_request").field("limit").note("1 to 200"));
    }
    let kind = match q.kind.as_deref() {
        Some(k) => Some(SubjectKind::parse(k).ok_or_else(|| {
            ApiError::new("bad_request")
                .field("kind")
                .detail("kind_unknown")
        })?),
        None => None,
    };
    let (lat, lon) = lantian_domain::geo::to_wgs84(
        q.lat,
        q.lon,
        q.datum.unwrap_or(lantian_domain::geo::Datum::Wgs84),
    );
    let index = state.subject_index().current(state.store()).await?;
    let prefix = org::path_text(&caller.0.unit_path);
    let found: Vec<(Uuid, f64)> = index
        .1
        .nearby(lat, lon, radius, limit as usize, |p| {
            p.unit_path.starts_with(&prefix) && kind.is_none_or(|k| p.kind == k)
        })
        .into_iter()
        .map(|n| (n.item.id, n.distance_m))
        .collect();
    let items = state
        .store()
        .read(move |c| {
            let mut out = Vec::with_capacity(found.len());
            for (id, d) in found {
                // A subject deleted since the index was built is simply left out.
                if let Some(rec) = subjects::get(c, id)? {
                    out.push(NearbySubject {
                        distance_m: (d * 10.0).round() / 10.0,
                        subject: rec.subject,
                    });
                }
            }
            Ok(out)
        })
        .await?;
    Ok(axum::Json(NearbyPage {
        wgs84: [lat, lon],
        items,
    }))
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

//! Subjects: list (filtered, cursor-paged), get, create, edit with `If-Match`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use lantian_domain::policy::Action;
use lantian_domain::subject::{Subject, SubjectKind};
use lantian_protocol::reference::{SubjectFields, SubjectPage};
use lantian_store::subjects::{self, SubjectFilter};
use lantian_store::sync::Group;
use lantian_store::{audit, org};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    kind: Option<String>,
    unit: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn encode_cursor(after: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("s:{after}"))
}

fn decode_cursor(c: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::new("bad_request")
            .field("cursor")
            .detail("cursor_invalid")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("s:")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(bad)
}

/// The path of unit `code` if the caller may use it, else 404 (unknown and foreign look the same).
async fn unit_path_for(
    state: &AppState,
    caller: &Caller,
    code: String,
    action: Action,
) -> Result<Vec<String>, ApiError> {
    let unit = state
        .store()
        .read(move |c| org::unit_by_code(c, &code))
        .await?
        .ok_or_else(|| ApiError::not_found().field("unit"))?;
    caller.may(action, Some(&unit.unit.path)).map_err(|e| {
        if e.code == "not_found" {
            e.field("unit")
        } else {
            e
        }
    })?;
    Ok(unit.unit.path)
}

/// `GET /v1/subjects?kind&unit&q&cursor&limit`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let within = match q.unit {
        Some(code) => unit_path_for(&state, &caller, code, Action::ReadSubject).await?,
        None => {
            caller.may(Action::ReadSubject, Some(&caller.0.unit_path))?;
            caller.0.unit_path.clone()
        }
    };
    let kind = match q.kind.as_deref() {
        Some(k) => Some(SubjectKind::parse(k).ok_or_else(|| {
            ApiError::new("bad_request")
                .field("kind")
                .detail("kind_unknown")
        })?),
        None => None,
    };
    let text = q.q.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
        return Err(ApiError::new("bad_request")
            .field("q")
            .detail("query_too_long"));
    }
    let filter = SubjectFilter {
        within,
        kind,
        text,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    };
    let page = state
        .store()
        .read(move |c| subjects::list(c, &filter))
        .await?;
    Ok(axum::Json(SubjectPage {
        items: page.items,
        next_cursor: page.next.map(encode_cursor),
    }))
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
    let rec = state
        .store()
        .read(move |c| subjects::get(c, id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    caller.may(Action::ReadSubject, Some(&rec.unit_path))?;
    Ok(with_etag(rec.subject))
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
    let draft = fields.into_draft()?;
    unit_path_for(&state, &caller, draft.unit.clone(), Action::CreateSubject).await?;
    let actor = caller.0.uuid.to_string();
    let id = Uuid::now_v7();
    let rec = state
        .store()
        .write(move |c| {
            let rec = subjects::insert(c, Group::new(), id, draft)?;
            audit::record(
                c,
                &actor,
                "subject.create",
                "subject",
                &id.to_string(),
                None,
                Some(audit::object_hash(&rec.subject)?),
            )?;
            Ok(rec)
        })
        .await?;
    Ok((StatusCode::CREATED, with_etag(rec.subject)))
}

fn if_match_version(headers: &HeaderMap) -> Result<i64, ApiError> {
    let v = headers
        .get(header::IF_MATCH)
        .ok_or_else(|| ApiError::new("precondition_required"))?;
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::new("bad_request")
                .field("If-Match")
                .detail("if_match_invalid")
        })
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
    let current = state
        .store()
        .read(move |c| subjects::get(c, id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    caller.may(Action::UpdateSubject, Some(&current.unit_path))?;
    let expected = if_match_version(&headers)?;
    let draft = fields.into_draft()?;
    if draft.unit != current.subject.unit {
        unit_path_for(&state, &caller, draft.unit.clone(), Action::UpdateSubject).await?;
    }
    let actor = caller.0.uuid.to_string();
    let rec = state
        .store()
        .write(move |c| {
            let before = subjects::get(c, id)?.ok_or(lantian_store::StoreError::NotFound)?;
            let after = subjects::update(c, Group::new(), id, expected, draft)?;
            audit::record(
                c,
                &actor,
                "subject.update",
                "subject",
                &id.to_string(),
                Some(audit::object_hash(&before.subject)?),
                Some(audit::object_hash(&after.subject)?),
            )?;
            Ok(after)
        })
        .await?;
    Ok(with_etag(rec.subject))
}

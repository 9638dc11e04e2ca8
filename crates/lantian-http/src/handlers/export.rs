//! GeoJSON (RFC 7946) out: subjects with their point and boundary, inspections at their WGS-84 fix
//! with verdicts, streamed page by page so a city's data never sits in memory whole. And coverage:
//! how often each subject was inspected in a period, by unit.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lantian_domain::subject::Subject;
use lantian_store::geo::ExportedInspection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppQuery, Caller};

/// A GeoJSON FeatureCollection streamed from pages `next(after) -> (features, next after)`.
fn stream_collection<F, Fut>(next: F) -> Response
where
    F: Fn(i64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(Vec<Value>, Option<i64>), ApiError>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        if tx
            .send(Ok(Bytes::from_static(
                b"{\"type\":\"FeatureCollection\",\"features\":[\n",
            )))
            .await
            .is_err()
        {
            return;
        }
        let mut after = 0;
        let mut first = true;
        for _ in 0..1_000_000 {
            let (features, more) = match next(after).await {
                Ok(p) => p,
                Err(e) => {
                    // Headers are gone: end the body early; the client sees invalid JSON, not a
                    // silently short file.
                    tracing::error!(code = e.code, "export page failed");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            let mut chunk = Vec::with_capacity(features.len() * 512);
            for f in features {
                if !first {
                    chunk.extend_from_slice(b",\n");
                }
                first = false;
                if serde_json::to_writer(&mut chunk, &f).is_err() {
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            }
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            match more {
                Some(a) => after = a,
                None => break,
            }
        }
        let _ = tx.send(Ok(Bytes::from_static(b"\n]}\n"))).await;
    });
    // Fused: the body may be polled again after its end.
    let stream =
        futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    resp
}

/// A subject as a Feature: its boundary or route as the geometry when it has one (the point then in
/// `lat`/`lon`), else its point, else none (muck trucks). `lantian import subjects` reads it back.
fn subject_feature(s: &Subject) -> Value {
    let v = serde_json::to_value(s).unwrap_or(Value::Null);
    let point = s
        .location
        .map(|p| json!({"type": "Point", "coordinates": [p.lon, p.lat]}));
    let geometry = s.geometry.clone().or(point).unwrap_or(Value::Null);
    let mut props = json!({
        "id": s.id, "name": s.name, "kind": v.get("kind"), "unit": s.unit,
        "attributes": v.get("attributes"), "version": s.version,
    });
    if let (Some(p), Some(m)) = (s.location, props.as_object_mut())
        && s.geometry.is_some()
    {
        m.insert("lat".into(), json!(p.lat));
        m.insert("lon".into(), json!(p.lon));
    }
    json!({"type": "Feature", "id": s.id, "geometry": geometry, "properties": props})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubjectExportQuery {
    unit: Option<String>,
    kind: Option<String>,
}

/// `GET /v1/export/subjects`: the caller's subjects (or a unit's) as GeoJSON.
pub(crate) async fn subjects_geojson(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<SubjectExportQuery>,
) -> Result<Response, ApiError> {
    let export = state
        .app()
        .export_subjects(&caller.0, q.unit, q.kind)
        .await?;
    Ok(stream_collection(move |after| {
        let export = export.clone();
        async move {
            let (items, next) = export.page(after).await?;
            Ok((items.iter().map(subject_feature).collect(), next))
        }
    }))
}

fn inspection_feature(i: &ExportedInspection) -> Value {
    let (lat, lon) = i
        .verdict
        .as_ref()
        .map(|v| v.wgs84)
        .unwrap_or_else(|| i.location.wgs84());
    let v = i.verdict.as_ref();
    json!({"type": "Feature", "id": i.id, "geometry": {"type": "Point", "coordinates": [lon, lat]},
    "properties": {
        "id": i.id, "subject_id": i.subject_id, "subject_name": i.subject_name, "kind": i.kind,
        "unit": i.unit, "author": i.author, "occurred_at": i.occurred_at,
        "score_earned": i.score_earned, "score_possible": i.score_possible, "compliant": i.compliant,
        "media_state": i.media_state, "review_state": i.review_state,
        "verdict": v.map(|v| v.level.as_str()),
        "verdict_reasons": v.map(|v| v.reasons.join(",")),
        "distance_to_subject_m": v.and_then(|v| v.distance_to_point_m),
        "inside_boundary": v.and_then(|v| v.inside_boundary),
        "accuracy_m": i.location.accuracy_m, "mock": i.location.mock,
        "sent_datum": i.location.datum, "sent_lat": i.location.lat, "sent_lon": i.location.lon,
    }})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InspectionExportQuery {
    unit: Option<String>,
    kind: Option<String>,
    /// `YYYY-MM`, China Standard Time.
    month: Option<String>,
    /// `ok`, `doubtful` or `implausible`.
    verdict: Option<String>,
}

/// `GET /v1/export/inspections`: inspections as GeoJSON points at their WGS-84 fix, with verdicts.
/// Officers export their own; supervisors, assessors, viewers and admins their subtree's.
pub(crate) async fn inspections_geojson(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<InspectionExportQuery>,
) -> Result<Response, ApiError> {
    let export = state
        .app()
        .export_inspections(&caller.0, q.unit, q.kind, q.month, q.verdict)
        .await?;
    Ok(stream_collection(move |after| {
        let export = export.clone();
        async move {
            let (items, next) = export.page(after).await?;
            Ok((items.iter().map(inspection_feature).collect(), next))
        }
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoverageQuery {
    unit: Option<String>,
    /// `YYYY-MM`, China Standard Time.
    month: String,
    /// Include every subject's count (default: totals per unit only).
    #[serde(default)]
    detail: bool,
}

/// `GET /v1/coverage`: per unit of the subtree, how many subjects were inspected how often in a
/// month. For those who oversee inspections.
pub(crate) async fn coverage(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<CoverageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let (from, to, units) = state
        .app()
        .coverage(&caller.0, q.unit, &q.month, q.detail)
        .await?;
    Ok(axum::Json(
        json!({"month": q.month, "from": from, "to": to, "units": units}),
    ))
}

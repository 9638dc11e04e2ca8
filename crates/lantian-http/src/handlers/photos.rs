//! Reading photo evidence: a photo's record, its original (byte-exact, with Range), its renditions,
//! and the photos that share a hash. Access follows access to the inspection: its author, or a
//! role that reads inspections in the inspection's subtree. Knowing a hash or an id grants nothing
//! (404), and every read is written to the audit log.

use std::ops::Range;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use lantian_app::evidence::PhotoPart;
use lantian_domain::media::PhotoView;
use lantian_media::blob::{Blobs, Kind};
use serde::Serialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppPath, Caller};

/// `GET /v1/photos/{id}`: the photo's record (hash, EXIF, flags, renditions).
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<PhotoView>, ApiError> {
    let p = state
        .app()
        .photo(&caller.0, id, PhotoPart::Metadata)
        .await?;
    Ok(Json(p.view))
}

#[derive(Serialize)]
pub(crate) struct PhotoList {
    photos: Vec<PhotoView>,
}

/// `GET /v1/photos/by-hash/{sha256}`: the photos with these bytes that the caller may see (where
/// else was this picture used?). 404 when there are none the caller may see.
pub(crate) async fn by_hash(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(sha256): AppPath<String>,
) -> Result<Json<PhotoList>, ApiError> {
    let photos = state.app().photos_by_hash(&caller.0, &sha256).await?;
    Ok(Json(PhotoList { photos }))
}

/// `GET /v1/photos/{id}/original`: the bytes as uploaded.
pub(crate) async fn original(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    photo_bytes(&state, &caller.0, id, PhotoPart::Original, &headers).await
}

/// `GET /v1/photos/{id}/thumbnail`.
pub(crate) async fn thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    photo_bytes(&state, &caller.0, id, PhotoPart::Thumbnail, &headers).await
}

/// `GET /v1/photos/{id}/review`.
pub(crate) async fn review(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    photo_bytes(&state, &caller.0, id, PhotoPart::Review, &headers).await
}

/// The bytes of one part of photo `id` (the original, or a rendition) if `actor` may see it, with
/// ETag, conditional GET and Range; the read is audited. The API's photo routes and the console's
/// (under a session) both answer with this.
pub async fn photo_bytes(
    state: &AppState,
    actor: &lantian_app::Actor,
    id: Uuid,
    part: PhotoPart,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let p = state.app().photo(actor, id, part).await?;
    let sha = &p.view.sha256;
    let (path, etag, content_type) = match part {
        PhotoPart::Original | PhotoPart::Metadata => (
            Blobs::original(sha),
            format!("\"{sha}\""),
            p.view.format.content_type(),
        ),
        PhotoPart::Thumbnail => (
            Blobs::rendition(Kind::Thumb, sha),
            format!("\"{sha}-thumb\""),
            "image/jpeg",
        ),
        // A JPEG no larger than the review size is its own review image.
        PhotoPart::Review
            if lantian_media::render::review_is_original(
                p.view.format,
                p.view.width,
                p.view.height,
            ) =>
        {
            (
                Blobs::original(sha),
                format!("\"{sha}-review\""),
                "image/jpeg",
            )
        }
        PhotoPart::Review => (
            Blobs::rendition(Kind::Review, sha),
            format!("\"{sha}-review\""),
            "image/jpeg",
        ),
    };
    serve(state, headers, path, etag, content_type).await
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    All,
    Part(Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`). Several ranges, or a unit other than bytes, are
/// answered with the whole object, as RFC 9110 allows.
fn want(range: Option<&str>, size: u64) -> Want {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Want::All;
    };
    if spec.contains(',') {
        return Want::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Want::All;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let r = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match parse(b) {
            Some(0) | None => return Want::Unsatisfiable,
            Some(n) => size.saturating_sub(n)..size,
        },
        (false, true) => match parse(a) {
            Some(start) => start..size,
            None => return Want::All,
        },
        (false, false) => match (parse(a), parse(b)) {
            (Some(start), Some(end)) if start <= end => start..end.saturating_add(1).min(size),
            _ => return Want::All,
        },
        (true, true) => return Want::All,
    };
    if r.start >= size {
        Want::Unsatisfiable
    } else {
        Want::Part(r)
    }
}

/// Streams a stored object with ETag, conditional GET, Range and `nosniff`.
async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    path: object_store::path::Path,
    etag: String,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    let blobs = &state.media().blobs;
    let storage = |e: lantian_media::MediaError| {
        tracing::error!(error = %e, "cannot read a stored photo");
        ApiError::new("unavailable").retry_after(2)
    };
    let size = blobs.size(&path).await.map_err(storage)?.ok_or_else(|| {
        tracing::error!(path = %path, "a recorded photo is missing from storage");
        ApiError::internal()
    })?;
    let etag_value = HeaderValue::from_str(&etag).map_err(|_| ApiError::internal())?;
    let mut base = Response::builder()
        .header(header::ETAG, etag_value.clone())
        .header(header::CONTENT_TYPE, content_type)
        .header("x-content-type-options", "nosniff")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=86400, immutable");
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        return base
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|_| ApiError::internal());
    }
    // If-Range with another validator: the object changed (it cannot, but obey): whole object.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = if if_range_ok {
        want(
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
            size,
        )
    } else {
        Want::All
    };
    let (status, r) = match range {
        Want::Unsatisfiable => {
            return base
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .body(Body::empty())
                .map_err(|_| ApiError::internal());
        }
        Want::All => (StatusCode::OK, None),
        Want::Part(r) => {
            base = base.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
    };
    let got = blobs
        .get(&path, r.clone())
        .await
        .map_err(storage)?
        .ok_or_else(ApiError::internal)?;
    let len = r.map_or(size, |r| r.end - r.start);
    base.status(status)
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(got.into_stream()))
        .map_err(|_| ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(want(None, 100), Want::All);
        assert_eq!(want(Some("bytes=0-9"), 100), Want::Part(0..10));
        assert_eq!(want(Some("bytes=90-"), 100), Want::Part(90..100));
        assert_eq!(want(Some("bytes=-10"), 100), Want::Part(90..100));
        assert_eq!(want(Some("bytes=-500"), 100), Want::Part(0..100));
        assert_eq!(want(Some("bytes=50-500"), 100), Want::Part(50..100));
        assert_eq!(want(Some("bytes=100-"), 100), Want::Unsatisfiable);
        assert_eq!(want(Some("bytes=-0"), 100), Want::Unsatisfiable);
        assert_eq!(want(Some("bytes=0-1,5-6"), 100), Want::All);
        assert_eq!(want(Some("items=0-1"), 100), Want::All);
        assert_eq!(want(Some("bytes=9-3"), 100), Want::All);
    }
}

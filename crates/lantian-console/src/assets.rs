//! The console's static files, embedded in the binary: our stylesheet and script, and the vendored
//! htmx and Leaflet (`vendor/`, pinned in `vendor/PINS`). Served with a content-hash ETag and
//! revalidated (`no-cache`), so a new binary never serves a stale file.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// (path under /console/assets/, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/console.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../vendor/htmx.org/dist/htmx.min.js"),
    ),
    (
        "leaflet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../vendor/leaflet/dist/leaflet.js"),
    ),
    (
        "leaflet.css",
        "text/css; charset=utf-8",
        include_bytes!("../vendor/leaflet/dist/leaflet.css"),
    ),
    (
        "images/layers.png",
        "image/png",
        include_bytes!("../vendor/leaflet/dist/images/layers.png"),
    ),
    (
        "images/layers-2x.png",
        "image/png",
        include_bytes!("../vendor/leaflet/dist/images/layers-2x.png"),
    ),
    (
        "images/marker-icon.png",
        "image/png",
        include_bytes!("../vendor/leaflet/dist/images/marker-icon.png"),
    ),
    (
        "images/marker-icon-2x.png",
        "image/png",
        include_bytes!("../vendor/leaflet/dist/images/marker-icon-2x.png"),
    ),
    (
        "images/marker-shadow.png",
        "image/png",
        include_bytes!("../vendor/leaflet/dist/images/marker-shadow.png"),
    ),
    (
        "licenses/htmx.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../vendor/htmx.org/LICENSE"),
    ),
    (
        "licenses/leaflet.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../vendor/leaflet/LICENSE"),
    ),
];

/// The ETag of each file, computed once.
fn etags() -> &'static Vec<String> {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, b)| format!("\"{}\"", &hex::encode(Sha256::digest(b))[..16]))
            .collect()
    })
}

/// `GET /console/assets/{path}`.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|(p, ..)| *p == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (_, content_type, bytes) = FILES[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

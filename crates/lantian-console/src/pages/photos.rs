//! Photo evidence for the browser, under the session: the same access rule, the same audit of
//! every read and the same byte serving (ETag, Range) as the API's photo routes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use lantian_app::evidence::PhotoPart;
use lantian_http::AppState;
use uuid::Uuid;

use crate::web::{PageError, Signed};

/// `GET /console/photos/{id}/{thumbnail|review|original}`.
pub async fn bytes(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, part)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let part = match part.as_str() {
        "thumbnail" => PhotoPart::Thumbnail,
        "review" => PhotoPart::Review,
        "original" => PhotoPart::Original,
        _ => return Err(PageError::not_found(lang)),
    };
    match lantian_http::photo_bytes(&state, &signed.0.actor, id, part, &headers).await {
        Ok(mut resp) => {
            if part == PhotoPart::Original
                && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.jpg\""))
            {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        }
        Err(e) => Err(PageError::app(e.0, lang)),
    }
}

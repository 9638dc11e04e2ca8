//! The one JSON error shape for every failure, extractor rejections and framework responses
//! included, with the message in the language the caller prefers.
//!
//! Handlers return [`ApiError`]; it renders a Chinese body and leaves a copy of itself in the
//! response extensions. The [`localize`] middleware re-renders that body in English when
//! `Accept-Language` prefers it, and turns any bare error response the framework produced (405,
//! 413, 408) into the same shape.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lantian_app::AppError;
use lantian_protocol::error::{ErrorBody, ErrorDetail, lookup};
use lantian_store::StoreError;

/// An operation's [`AppError`] as HTTP renders it. Reads as the `AppError` it wraps (`e.code`).
#[derive(Debug, Clone)]
pub struct ApiError(pub AppError);

impl std::ops::Deref for ApiError {
    type Target = AppError;
    fn deref(&self) -> &AppError {
        &self.0
    }
}

impl ApiError {
    pub fn new(code: &'static str) -> Self {
        Self(AppError::new(code))
    }
    pub fn not_found() -> Self {
        Self::new("not_found")
    }
    pub fn forbidden() -> Self {
        Self::new("forbidden")
    }
    pub fn unauthenticated() -> Self {
        Self::new("unauthenticated")
    }
    pub fn internal() -> Self {
        Self::new("internal")
    }
    pub fn field(self, f: impl Into<String>) -> Self {
        Self(self.0.field(f))
    }
    pub fn detail(self, d: impl Into<String>) -> Self {
        Self(self.0.detail(d))
    }
    pub fn note(self, n: impl Into<String>) -> Self {
        Self(self.0.note(n))
    }
    pub fn retry_after(self, secs: u64) -> Self {
        Self(self.0.retry_after(secs))
    }

    pub fn status(&self) -> StatusCode {
        lookup(self.code)
            .and_then(|(s, ..)| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn body(&self, english: bool) -> ErrorBody {
        let (_, zh, en) =
            lookup(self.code).unwrap_or((500, "服务器内部错误", "Internal server error"));
        let base = if english { en } else { zh };
        let message = match (&self.note, &self.field) {
            (Some(n), _) => format!("{base}: {n}"),
            (None, Some(f)) => format!("{base}: {f}"),
            (None, None) => base.to_owned(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message,
                field: self.field.clone(),
                detail: self.detail.clone(),
            },
        }
    }

    fn render(&self, english: bool) -> Response {
        let mut resp = (self.status(), axum::Json(self.body(english))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<lantian_domain::ValidationError> for ApiError {
    fn from(e: lantian_domain::ValidationError) -> Self {
        Self(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self(e.into())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.render(false);
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Whether the caller prefers English: the highest-weighted language in `Accept-Language` starts
/// with `en`. Anything else, or nothing, means Chinese.
pub fn prefers_english(accept_language: Option<&str>) -> bool {
    let Some(value) = accept_language else {
        return false;
    };
    let mut best: Option<(f32, bool)> = None;
    for part in value.split(',').take(16) {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        if tag.is_empty() {
            continue;
        }
        let q = pieces
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, tag.starts_with("en")));
        }
    }
    best.is_some_and(|(_, en)| en)
}

fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Middleware: localizes [`ApiError`] bodies and gives framework error responses the same shape.
pub async fn localize(req: Request, next: Next) -> Response {
    let english = prefers_english(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let resp = next.run(req).await;
    if let Some(err) = resp.extensions().get::<ApiError>() {
        if english {
            let err = err.clone();
            let mut fresh = err.render(true);
            copy_headers(&resp, &mut fresh);
            fresh.extensions_mut().insert(err);
            return fresh;
        }
        return resp;
    }
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        let err = ApiError::new(code_for_status(status));
        let mut fresh = err.render(english);
        *fresh.status_mut() = status;
        copy_headers(&resp, &mut fresh);
        return fresh;
    }
    resp
}

fn copy_headers(from: &Response, to: &mut Response) {
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = from.headers().get(&name) {
            to.headers_mut().insert(name, v.clone());
        }
    }
    if let Some(v) = from.headers().get("x-request-id") {
        to.headers_mut().insert("x-request-id", v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_the_default_and_english_needs_the_top_weight() {
        assert!(!prefers_english(None));
        assert!(!prefers_english(Some("zh-CN,zh;q=0.9,en;q=0.8")));
        assert!(prefers_english(Some("en-US,en;q=0.9")));
        assert!(prefers_english(Some("zh;q=0.5, en;q=0.9")));
        assert!(!prefers_english(Some("fr")));
    }

    #[test]
    fn every_error_code_has_a_status_and_both_messages() {
        for (code, status, zh, en) in lantian_protocol::error::CODES {
            assert!(StatusCode::from_u16(*status).is_ok(), "{code}");
            assert!(!zh.is_empty() && !en.is_empty(), "{code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }
}

//! Extractors whose rejections speak the API's error shape, and the authenticated caller.

use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use lantian_app::Actor;
use lantian_domain::policy::Action;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// JSON body. Malformed JSON, unknown fields, wrong types, a missing content type and oversized
/// bodies each answer their own code.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new("unsupported_media_type"));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new("payload_too_large"));
            }
            Err(r) => return Err(ApiError::new("bad_request").note(r.body_text())),
        };
        // A body that parses is read once, without the path bookkeeping of axum's `Json` (which
        // allocates every key it passes); one that does not is read again by it, for the error's
        // field path.
        match serde_json::from_slice::<T>(&bytes) {
            Ok(v) => Ok(AppJson(v)),
            Err(_) => match axum::Json::<T>::from_bytes(&bytes) {
                Ok(axum::Json(v)) => Ok(AppJson(v)),
                Err(rejection) => Err(json_rejection(rejection)),
            },
        }
    }
}

/// `application/json`, or any `application/…+json`, as axum's `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let text = r.body_text();
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new("unsupported_media_type"),
        JsonRejection::JsonSyntaxError(_) => ApiError::new("invalid_json").note(text),
        JsonRejection::JsonDataError(_) => {
            if let Some(field) = unknown_field_name(&text) {
                ApiError::new("unknown_field").field(field)
            } else {
                ApiError::new("validation_failed")
                    .detail("type_mismatch")
                    .note(text)
            }
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new("payload_too_large")
        }
        _ => ApiError::new("bad_request").note(text),
    }
}

/// serde says "unknown field `x`, expected ...": pull out `x`.
fn unknown_field_name(text: &str) -> Option<String> {
    let rest = text.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_owned())
}

/// Query string. Unknown parameters are refused like unknown body fields.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(AppQuery(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    let text = r.body_text();
    match unknown_field_name(&text) {
        Some(f) => ApiError::new("unknown_field").field(f),
        None => ApiError::new("bad_request").note(text),
    }
}

/// Path parameters. An id that does not even parse cannot name an object: 404.
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(AppPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found()),
            Err(r) => {
                tracing::error!(error = %r.body_text(), "path extraction failed");
                Err(ApiError::internal())
            }
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, what the proxies'
/// `X-Forwarded-For` says ([`crate::forwarded`]). `None` when the server runs without connect
/// info (tests with `oneshot`).
pub struct PeerAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| {
                    state
                        .config()
                        .trusted_proxies
                        .client(c.0.ip(), &parts.headers)
                }),
        ))
    }
}

/// A verified access token (signature and expiry), not yet looked up: for the operations that
/// read the caller in the same read as their own work (push and pull), so that a phone's request
/// takes one hop to a reader. Everything else takes [`Caller`].
#[derive(Debug, Clone, Copy)]
pub struct Bearer(pub lantian_app::Token);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthenticated)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthenticated)?
            .trim();
        let (user, install) = state.keys().verify_access(token)?;
        Ok(Bearer(lantian_app::Token { user, install }))
    }
}

/// The authenticated caller, loaded from the database on every request: a disabled user, a changed
/// role or unit, or a revoked install takes effect at once, whatever the token says.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        Ok(Caller(state.app().actor(token).await?))
    }
}

impl Caller {
    /// The policy decision for `action` on an object in the unit with `object_path` (`None` for
    /// global objects), as a result a handler can `?`.
    pub fn may(&self, action: Action, object_path: Option<&[String]>) -> Result<(), ApiError> {
        Ok(self.0.may(action, object_path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unknown_field_name_is_pulled_from_serde_text() {
        assert_eq!(
            unknown_field_name(
                "Failed to deserialize: unknown field `version`, expected one of `name`"
            )
            .as_deref(),
            Some("version")
        );
        assert_eq!(unknown_field_name("missing field `name`"), None);
    }

    fn with(ct: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_str(ct).expect("value"),
        );
        h
    }

    #[test]
    fn json_content_types_are_those_axum_accepts() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(json_content_type(&with(ok)), "{ok}");
        }
        for no in ["text/json", "application/xml", "application", "json", ""] {
            assert!(!json_content_type(&with(no)), "{no}");
        }
        assert!(!json_content_type(&axum::http::HeaderMap::new()));
    }
}

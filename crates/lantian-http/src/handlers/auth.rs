//! Login, refresh rotation, logout, the caller's own profile, and client registration: the login
//! limits and access tokens here, what is checked, stored and audited in `lantian_app::auth`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lantian_app::auth::Refreshed;
use lantian_protocol::auth::{
    LoginRequest, RefreshRequest, RegisterClientRequest, TokenResponse, UserView,
};
use lantian_store::identity::UserRecord;

use crate::AppState;
use crate::auth::{new_refresh_token, refresh_token_hash};
use crate::error::ApiError;
use crate::extract::{AppJson, Caller, PeerAddr};
use crate::limiter::peer_key;

pub(crate) fn user_view(u: &UserRecord) -> UserView {
    UserView {
        id: u.uuid,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        unit: u.unit.clone(),
    }
}

fn expires_at(from_now: std::time::Duration) -> String {
    let d = chrono::Duration::from_std(from_now).unwrap_or(chrono::Duration::days(30));
    (chrono::Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn tokens(
    state: &AppState,
    user: &UserRecord,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let cfg = state.config();
    let access_ttl = cfg.access_ttl.as_secs() as i64;
    Ok(TokenResponse {
        access_token: state.keys().sign_access(
            user.uuid,
            chrono::Utc::now().timestamp(),
            access_ttl,
        )?,
        token_type: "Bearer".into(),
        expires_in: access_ttl,
        refresh_token,
        refresh_expires_in: cfg.refresh_ttl.as_secs() as i64,
        user: user_view(user),
    })
}

fn rate_limited(state: &AppState, wait: std::time::Duration) -> ApiError {
    state
        .metrics()
        .login_rate_limited
        .fetch_add(1, Ordering::Relaxed);
    ApiError::new("rate_limited").retry_after(wait.as_secs().max(1))
}

/// `POST /v1/auth/login`. Limits: attempts per peer address, failures per account. A username that
/// does not exist costs the same argon2 verification as one that does.
pub(crate) async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cfg = state.config().clone();
    if let Some(ip) = peer
        && let Some(wait) = state.limiter().hit(&peer_key(ip), cfg.peer_attempts)
    {
        return Err(rate_limited(&state, wait));
    }
    let account_key = format!("account:{}", req.username.to_lowercase());
    if let Some(wait) = state.limiter().blocked(&account_key, cfg.account_failures) {
        return Err(rate_limited(&state, wait));
    }
    let user = match state
        .app()
        .check_password(req.username.clone(), req.password)
        .await?
    {
        Some(u) => u,
        None => {
            state
                .metrics()
                .login_failure
                .fetch_add(1, Ordering::Relaxed);
            state.limiter().hit(&account_key, cfg.account_failures);
            tracing::warn!(username = %req.username, peer = ?peer, "failed login");
            return Err(ApiError::new("invalid_credentials"));
        }
    };
    state.limiter().reset(&account_key);
    let refresh = new_refresh_token()?;
    state
        .app()
        .open_refresh_family(
            &user,
            refresh_token_hash(&refresh),
            expires_at(cfg.refresh_ttl),
        )
        .await?;
    state
        .metrics()
        .login_success
        .fetch_add(1, Ordering::Relaxed);
    Ok(axum::Json(tokens(&state, &user, refresh)?))
}

/// `POST /v1/auth/refresh`: rotates the refresh token. Presenting a token that was already rotated
/// revokes its whole family (someone else holds a copy).
pub(crate) async fn refresh(
    State(state): State<AppState>,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let presented = refresh_token_hash(&req.refresh_token);
    let next = new_refresh_token()?;
    let next_hash = refresh_token_hash(&next);
    let expires = expires_at(state.config().refresh_ttl);
    match state
        .app()
        .rotate_refresh(presented, next_hash, expires)
        .await?
    {
        Refreshed::Rotated(user) => Ok(axum::Json(tokens(&state, &user, next)?)),
        Refreshed::Reused => {
            tracing::warn!("a rotated refresh token was presented again; its family is revoked");
            Err(ApiError::new("refresh_token_reused"))
        }
        Refreshed::Invalid => Err(ApiError::new("refresh_token_invalid")),
    }
}

/// `POST /v1/auth/logout`: revokes the refresh token's family. Answers 204 whether or not the token
/// was known, so it cannot be used to test tokens.
pub(crate) async fn logout(
    State(state): State<AppState>,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .app()
        .logout(refresh_token_hash(&req.refresh_token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`.
pub(crate) async fn me(caller: Caller) -> impl IntoResponse {
    axum::Json(user_view(&caller.0))
}

/// `POST /v1/clients`: registers an app install for the caller. 201 when new, 200 when the same
/// user registers it again, 409 when it belongs to someone else.
pub(crate) async fn register_client(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<RegisterClientRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (view, created) = state.app().register_client(&caller.0, req).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(view),
    ))
}

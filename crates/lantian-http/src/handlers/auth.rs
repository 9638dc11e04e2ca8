//! Login, refresh rotation, logout, the caller's own profile, and client registration: the login
//! limits and access tokens here, what is checked, stored and audited in `lantian_app::auth`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lantian_app::auth::{KeySignIn, Refreshed};
use lantian_protocol::auth::{
    ChallengeRequest, ChallengeResponse, ChangePasswordRequest, CreateUserRequest,
    InstallSignInRequest, LoginRequest, RefreshRequest, RegisterClientRequest, TokenResponse,
    UserView,
};
use lantian_store::identity::UserRecord;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{CHALLENGE_TTL_SECS, new_refresh_token, refresh_token_hash};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, Caller, PeerAddr};
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

/// A token pair for `user`; the access token names the install the login is bound to.
fn tokens(
    state: &AppState,
    user: &UserRecord,
    install: Option<Uuid>,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let cfg = state.config();
    let access_ttl = cfg.access_ttl.as_secs() as i64;
    Ok(TokenResponse {
        access_token: state.keys().sign_access(
            user.uuid,
            install,
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

/// The user whose password this is, under the login limits: attempts per peer address, failures
/// per account and address, and (slower) per account from anywhere. A username that does not exist
/// costs the same argon2 verification. The API's login and the console's sign-in both call this,
/// so that one account has one set of limits whichever door is tried.
pub async fn password_sign_in(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    username: &str,
    password: String,
) -> Result<UserRecord, ApiError> {
    let cfg = state.config().clone();
    if let Some(ip) = peer
        && let Some(wait) = state.limiter().hit(&peer_key(ip), cfg.peer_attempts).await
    {
        return Err(rate_limited(state, wait));
    }
    // Failures are counted per account and address, so that a stranger who knows a username
    // locks out only themselves, and per account from anywhere under a slower limit, so that
    // many addresses cannot guess on for long.
    let account = username.to_lowercase();
    let global_key = format!("account:{account}");
    let account_key = format!(
        "{global_key}@{}",
        peer.map_or_else(|| "unknown".to_owned(), peer_key)
    );
    let blocked = match state
        .limiter()
        .blocked(&account_key, cfg.account_failures)
        .await
    {
        Some(wait) => Some(wait),
        None => {
            state
                .limiter()
                .blocked(&global_key, cfg.account_global_failures)
                .await
        }
    };
    if let Some(wait) = blocked {
        return Err(rate_limited(state, wait));
    }
    let user = match state
        .app()
        .check_password(username.to_owned(), password)
        .await?
    {
        Some(u) => u,
        None => {
            state
                .metrics()
                .login_failure
                .fetch_add(1, Ordering::Relaxed);
            state
                .limiter()
                .hit(&account_key, cfg.account_failures)
                .await;
            state
                .limiter()
                .hit(&global_key, cfg.account_global_failures)
                .await;
            tracing::warn!(username = %username, peer = ?peer, "failed login");
            return Err(ApiError::new("invalid_credentials"));
        }
    };
    state.limiter().reset(&account_key).await;
    state
        .metrics()
        .login_success
        .fetch_add(1, Ordering::Relaxed);
    Ok(user)
}

/// `POST /v1/auth/login`: the password under the login limits ([`password_sign_in`]), then a new
/// refresh-token family, bound to the install named.
pub(crate) async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = password_sign_in(&state, peer, &req.username, req.password).await?;
    // A one-time password opens no login: it is changed first (`POST /v1/auth/password`).
    lantian_app::App::password_opens_login(&user)?;
    new_login(&state, &user, req.client_id).await
}

/// A new refresh family for `user`, bound to the install named, and its first tokens.
async fn new_login(
    state: &AppState,
    user: &UserRecord,
    client_id: Option<Uuid>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let cfg = state.config().clone();
    let refresh = new_refresh_token()?;
    let install = state
        .app()
        .open_refresh_family(
            user,
            refresh_token_hash(&refresh),
            expires_at(cfg.refresh_ttl),
            client_id,
        )
        .await?;
    Ok(axum::Json(tokens(state, user, install, refresh)?))
}

/// `POST /v1/auth/password`: a user changes their own password with the current one (a one-time
/// password too: the forced change), under the login limits. Every other login of theirs ends;
/// the answer is a new login.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let current = req.current_password.clone();
    let user = password_sign_in(&state, peer, &req.username, req.current_password).await?;
    let user = state
        .app()
        .change_password(&user, &current, req.new_password)
        .await?;
    new_login(&state, &user, req.client_id).await
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
        .rotate_refresh(presented, next_hash, expires, req.client_id)
        .await?
    {
        Refreshed::Rotated(user, install) => Ok(axum::Json(tokens(&state, &user, install, next)?)),
        Refreshed::Reused => {
            tracing::warn!("a rotated refresh token was presented again; its family is revoked");
            Err(ApiError::new("refresh_token_reused"))
        }
        Refreshed::Invalid => Err(ApiError::new("refresh_token_invalid")),
    }
}

/// Key sign-ins are counted per address apart from password logins: an office whose phones all
/// come back online at once must not use up the address's password attempts.
fn install_peer_key(ip: std::net::IpAddr) -> String {
    format!("{}:install", peer_key(ip))
}

/// `POST /v1/auth/challenge`: a challenge for an install to sign. Every well-formed request gets
/// one, so that it tells nothing about which users and installs exist; it is stateless, so that
/// asking costs the server no write.
pub(crate) async fn challenge(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    AppJson(req): AppJson<ChallengeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(ip) = peer
        && let Some(wait) = state
            .limiter()
            .hit(&install_peer_key(ip), state.config().peer_attempts)
            .await
    {
        return Err(rate_limited(&state, wait));
    }
    let challenge =
        state
            .keys()
            .new_challenge(&req.username, req.client_id, chrono::Utc::now().timestamp())?;
    Ok(axum::Json(ChallengeResponse {
        challenge,
        expires_in: CHALLENGE_TTL_SECS,
    }))
}

/// `POST /v1/auth/install`: signs an install in with its key, answering a challenge once.
pub(crate) async fn install_sign_in(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    AppJson(req): AppJson<InstallSignInRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cfg = state.config().clone();
    if let Some(ip) = peer
        && let Some(wait) = state
            .limiter()
            .hit(&install_peer_key(ip), cfg.peer_attempts)
            .await
    {
        return Err(rate_limited(&state, wait));
    }
    let Some(checked) = state.keys().check_challenge(
        &req.challenge,
        &req.username,
        req.client_id,
        chrono::Utc::now().timestamp(),
    ) else {
        tracing::warn!(username = %req.username, peer = ?peer, "install sign-in with a challenge that is not ours or has expired");
        return Err(ApiError::new("install_auth_failed"));
    };
    let refresh = new_refresh_token()?;
    let install = req.client_id;
    let user = state
        .app()
        .install_sign_in(KeySignIn {
            username: req.username.clone(),
            client_id: req.client_id,
            challenge: req.challenge,
            challenge_hash: checked.hash,
            challenge_expires: checked.expires_at,
            signature: req.signature,
            token_hash: refresh_token_hash(&refresh),
            expires: expires_at(cfg.refresh_ttl),
        })
        .await
        .inspect_err(|e| {
            tracing::warn!(username = %req.username, peer = ?peer, code = e.code, "install sign-in refused");
        })?;
    Ok(axum::Json(tokens(&state, &user, Some(install), refresh)?))
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

/// `GET /v1/users/{user_id}/clients`: a user's app installs.
pub(crate) async fn list_user_clients(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().clients_of(&caller.0, user).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })))
}

/// `POST /v1/users/{user_id}/clients/{client_id}/revoke`: ends an install at once.
pub(crate) async fn revoke_user_client(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((user, client)): AppPath<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state.app().revoke_client(&caller.0, user, client).await?,
    ))
}

/// `GET /v1/users`: the users of the caller's subtree, for those who manage users.
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().users(&caller.0).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })))
}

async fn change_user(
    state: &AppState,
    caller: &Caller,
    user: Uuid,
    change: lantian_app::users::UserChange,
) -> Result<axum::Json<lantian_protocol::auth::UserSummary>, ApiError> {
    Ok(axum::Json(
        state.app().change_user(&caller.0, user, change).await?,
    ))
}

/// `POST /v1/users/{user_id}/disable`: every login of the user ends at once.
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    change_user(
        &state,
        &caller,
        user,
        lantian_app::users::UserChange::Disabled(true),
    )
    .await
}

/// `POST /v1/users/{user_id}/enable`.
pub(crate) async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    change_user(
        &state,
        &caller,
        user,
        lantian_app::users::UserChange::Disabled(false),
    )
    .await
}

/// `PUT /v1/users/{user_id}/role`.
pub(crate) async fn set_user_role(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
    AppJson(req): AppJson<lantian_protocol::auth::RoleChange>,
) -> Result<impl IntoResponse, ApiError> {
    change_user(
        &state,
        &caller,
        user,
        lantian_app::users::UserChange::Role(req.role),
    )
    .await
}

/// `PUT /v1/users/{user_id}/unit`.
pub(crate) async fn set_user_unit(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
    AppJson(req): AppJson<lantian_protocol::auth::UnitChange>,
) -> Result<impl IntoResponse, ApiError> {
    change_user(
        &state,
        &caller,
        user,
        lantian_app::users::UserChange::Unit(req.unit),
    )
    .await
}

/// `POST /v1/users`: a new account with a one-time password, answered once.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state.app().create_user(&caller.0, req).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// `POST /v1/users/{user_id}/password-reset`: a one-time password, answered once; every login of
/// the user ends.
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state.app().reset_password(&caller.0, user).await?,
    ))
}

/// `GET /v1/users/{user_id}/sessions`: the user's console sessions and app logins.
pub(crate) async fn list_user_sessions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(user): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.app().user_sessions(&caller.0, user).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })))
}

/// `POST /v1/users/{user_id}/sessions/{session_id}/revoke`: ends one of them at once.
pub(crate) async fn revoke_user_session(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((user, session)): AppPath<(Uuid, String)>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .app()
        .end_user_session(&caller.0, user, session)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

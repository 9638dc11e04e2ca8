//! Choosing a new password: the forced change of a one-time password at sign-in (no session yet:
//! the sign-in form's double-submit cookie guards it), and a signed-in person's own change. Both
//! are the API's `POST /v1/auth/password`: the same login limits, the same operation
//! (`App::change_password`), then a new session.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_app::session::Origin;
use lantian_http::AppState;
use lantian_http::extract::PeerAddr;
use serde::Deserialize;

use crate::web::{
    LOGIN_COOKIE, Layout, PageError, SESSION_COOKIE, Signed, check_post, cookie, render,
    request_lang, safe_next, set_cookie,
};
use crate::{ConsoleConfig, i18n};

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    l: Layout,
    /// A one-time password is being replaced at sign-in.
    forced: bool,
    error: Option<String>,
    username: String,
    next: String,
    csrf: String,
}

/// The page of the forced change (no session): a fresh sign-in cookie guards its form.
pub fn forced_page(
    config: &ConsoleConfig,
    status: StatusCode,
    lang: &'static str,
    error: Option<String>,
    username: String,
    next: String,
) -> Response {
    let token = crate::pages::login::login_token();
    let page = PasswordPage {
        l: Layout::bare(lang, i18n::tr(lang).change_password_title),
        forced: true,
        error,
        username,
        next,
        csrf: token.clone(),
    };
    let mut resp = (status, render(&page)).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(config, LOGIN_COOKIE, &token, None)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn own_page(signed: &Signed, status: StatusCode, error: Option<String>) -> Response {
    let t = signed.t();
    let page = PasswordPage {
        l: signed.layout("", t.change_password_title),
        forced: false,
        error,
        username: signed.0.actor.username.clone(),
        next: "/console/".into(),
        csrf: signed.0.csrf.clone(),
    };
    (status, render(&page)).into_response()
}

/// `GET /console/password`: a signed-in person changes their own password.
pub async fn form(signed: Signed) -> Response {
    own_page(&signed, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
    username: String,
    current_password: String,
    new_password: String,
    new_password_again: String,
}

/// `POST /console/password`: the change, then a new session (every other one has ended).
pub async fn submit(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Result<Response, PageError> {
    // Signed in: the session's token, and only their own account. Else the sign-in cookie.
    let signed = match cookie(&headers, SESSION_COOKIE) {
        Some(c) => state.app().session(c).await.ok().flatten().map(Signed),
        None => None,
    };
    let lang = match &signed {
        Some(s) => s.lang(),
        None => request_lang(&headers, Some(f.lang.as_str()).filter(|l| !l.is_empty())),
    };
    match &signed {
        Some(s) => s.check_form(&config, &headers, &f.csrf)?,
        None => {
            let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
            check_post(
                &config,
                &headers,
                &f.csrf,
                |p| !expected.is_empty() && p == expected,
                lang,
            )?;
        }
    }
    let username = match &signed {
        Some(s) => s.0.actor.username.clone(),
        None => f.username.trim().to_owned(),
    };
    let next = safe_next(Some(&f.next));
    let again = |message: String, status: StatusCode| match &signed {
        Some(s) => own_page(s, status, Some(message)),
        None => forced_page(
            &config,
            status,
            lang,
            Some(message),
            username.clone(),
            next.clone(),
        ),
    };
    if f.new_password != f.new_password_again {
        return Ok(again(
            i18n::tr(lang).passwords_differ.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let current = f.current_password.clone();
    let user =
        match lantian_http::password_sign_in(&state, peer, &username, f.current_password).await {
            Ok(u) => u,
            Err(e) => return Ok(again(i18n::error_message(&e.0, lang), e.status())),
        };
    let user = match state
        .app()
        .change_password(&user, &current, f.new_password)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            return Ok(again(i18n::error_message(&e, lang), status));
        }
    };
    let origin = Origin {
        peer: peer.map(|p| p.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    };
    let opened = state
        .app()
        .open_session(&user, lang, origin)
        .await
        .map_err(|e| PageError::app(e, lang))?;
    let mut resp = Redirect::to(&next).into_response();
    let h = resp.headers_mut();
    for c in [
        set_cookie(&config, SESSION_COOKIE, &opened.cookie, None),
        set_cookie(&config, LOGIN_COOKIE, "", Some(0)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

//! Sign-in, sign-out and the language switch. The password is checked under the same login limits
//! as the API's login (`lantian_http::password_sign_in`), on the same argon2 threads.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_app::session::Origin;
use lantian_http::AppState;
use lantian_http::extract::PeerAddr;
use serde::Deserialize;

use crate::ConsoleConfig;
use crate::i18n;
use crate::web::{
    LOGIN_COOKIE, Layout, PageError, SESSION_COOKIE, Signed, check_post, cookie, render,
    request_lang, safe_next, set_cookie,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    error: Option<String>,
    username: String,
    next: String,
    login_csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// A fresh value for the sign-in form's double-submit cookie.
pub(crate) fn login_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn login_page(
    config: &ConsoleConfig,
    status: StatusCode,
    lang: &'static str,
    error: Option<String>,
    username: String,
    next: String,
) -> Response {
    let token = login_token();
    let t = i18n::tr(lang);
    let page = LoginPage {
        l: Layout::bare(lang, t.sign_in_title),
        error,
        username,
        next,
        login_csrf: token.clone(),
    };
    let mut resp = (status, render(&page)).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(config, LOGIN_COOKIE, &token, None)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /console/login`: the form (or straight on, for someone already signed in).
pub async fn form(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Some(c) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(_)) = state.app().session(c).await
    {
        return Redirect::to(&next).into_response();
    }
    let lang = request_lang(&headers, q.lang.as_deref());
    login_page(&config, StatusCode::OK, lang, None, String::new(), next)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
    username: String,
    password: String,
}

/// `POST /console/login`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let lang = request_lang(&headers, Some(f.lang.as_str()).filter(|l| !l.is_empty()));
    // Login CSRF: the form must carry the value of the cookie the form page set.
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    check_post(
        &config,
        &headers,
        &f.csrf,
        |p| !expected.is_empty() && p == expected,
        lang,
    )?;
    let next = safe_next(Some(&f.next));
    let user =
        match lantian_http::password_sign_in(&state, peer, f.username.trim(), f.password).await {
            Ok(u) => u,
            Err(e) => {
                let status = e.status();
                let message = i18n::error_message(&e.0, lang);
                return Ok(login_page(
                    &config,
                    status,
                    lang,
                    Some(message),
                    f.username,
                    next,
                ));
            }
        };
    // A one-time password opens no session: its holder chooses their own first.
    if let Err(e) = lantian_app::App::password_opens_login(&user) {
        let status = lantian_http::error::ApiError(e.clone()).status();
        return Ok(if e.code == "password_change_required" {
            crate::pages::password::forced_page(
                &config,
                StatusCode::OK,
                lang,
                None,
                user.username.clone(),
                next,
            )
        } else {
            login_page(
                &config,
                status,
                lang,
                Some(i18n::error_message(&e, lang)),
                f.username,
                next,
            )
        });
    }
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

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    state
        .app()
        .end_session(&signed.0)
        .await
        .map_err(|e| signed.fail(e))?;
    let mut resp = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&config, SESSION_COOKIE, "", Some(0))) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct LangForm {
    #[serde(default)]
    csrf: String,
    lang: String,
}

/// `POST /console/lang`: the session's language; back to the page it was chosen on.
pub async fn set_lang(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<LangForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    state
        .app()
        .set_session_lang(&signed.0, &f.lang)
        .await
        .map_err(|e| signed.fail(e))?;
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/console/").map(|i| r[i..].to_owned()));
    Ok(Redirect::to(&safe_next(back.as_deref())).into_response())
}

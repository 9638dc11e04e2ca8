//! The console's web plumbing: the session cookie and its extractor, CSRF and origin checks, the
//! page frame every template shares, errors as pages, and the security headers.
//!
//! A request's session is read from the database on every request (`App::session`), so a user
//! disabled or moved, or a session revoked, stops at once. Every state-changing form carries the
//! session's CSRF token, and a post whose `Origin` (or `Sec-Fetch-Site`) says it came from
//! elsewhere is refused before the token is even looked at: 403, nothing changed.

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use lantian_app::session::Session;
use lantian_http::AppState;

use crate::ConsoleConfig;
use crate::i18n::{self, Tr};

/// The session cookie (its value names a server-side row; only its hash is stored).
pub const SESSION_COOKIE: &str = "lantian_session";
/// The sign-in form's own CSRF cookie (double submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "lantian_login";

/// The Content-Security-Policy of every console page: scripts, styles and fonts only from this
/// origin, images from here (and `data:` for Leaflet's internals, and the tile server when one is
/// configured), forms only to here, never framed.
pub fn page_csp(config: &ConsoleConfig) -> Arc<str> {
    let tiles = config
        .tiles
        .as_ref()
        .and_then(|t| origin_of_template(&t.url))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; \
         connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'"
    )
    .into()
}

/// The origin of a tile URL template (`https://{s}.tile.example/{z}/{x}/{y}.png` ->
/// `https://*.tile.example`).
fn origin_of_template(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    let host = match host.split_once('}') {
        Some((_, after)) if host.starts_with('{') => format!("*{after}"),
        _ => host.to_owned(),
    };
    Some(format!("{scheme}://{host}"))
}

/// Security headers of every console answer; pages are never cached (they show evidence and a
/// CSRF token), while assets and photos set their own caching.
pub async fn headers(csp: Arc<str>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A response that set its own, narrower policy (the bulletin's page) keeps it.
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.entry("content-security-policy").or_insert(v);
    }
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the console: `HttpOnly`, `SameSite=Strict`, path `/console`, `Secure`
/// when the public address is https. `max_age` `None` is a session cookie, `Some(0)` removes it.
pub fn set_cookie(config: &ConsoleConfig, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if config.secure() {
        c.push_str("; Secure");
    }
    c
}

/// The language a request asks for when there is no session: `?lang=`, else `Accept-Language`.
pub fn request_lang(headers: &HeaderMap, asked: Option<&str>) -> &'static str {
    match asked {
        Some("en") => "en",
        Some(_) => "zh-CN",
        None => {
            if lantian_http::error::prefers_english(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            ) {
                "en"
            } else {
                "zh-CN"
            }
        }
    }
}

/// A page that could not be shown: a sign-in first, or an error in words.
#[derive(Debug)]
pub enum PageError {
    /// No session (or it ended): sign in, then come back to `next`. `htmx`: the request came from
    /// htmx, which follows redirects itself and would swap the sign-in page into a fragment; it is
    /// told to load the sign-in page whole instead.
    SignIn { next: String, htmx: bool },
    /// An error shown as a page in `lang`.
    Status {
        status: StatusCode,
        message: String,
        lang: &'static str,
    },
}

impl PageError {
    /// The page for an operation's refusal, in `lang` (messages from the API's error table).
    pub fn app(e: lantian_app::AppError, lang: &'static str) -> PageError {
        let api = lantian_http::error::ApiError(e);
        let status = api.status();
        PageError::Status {
            status,
            message: i18n::error_message(&api.0, lang),
            lang,
        }
    }

    pub fn forbidden(lang: &'static str) -> PageError {
        PageError::app(lantian_app::AppError::forbidden(), lang)
    }

    pub fn not_found(lang: &'static str) -> PageError {
        PageError::app(lantian_app::AppError::not_found(), lang)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next, htmx } => {
                let to = format!("/console/login?next={}", url_escape(&next));
                if !htmx {
                    return Redirect::to(&to).into_response();
                }
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert("hx-redirect", v);
                }
                r
            }
            PageError::Status {
                status,
                message,
                lang,
            } => {
                let page = ErrorPage {
                    l: Layout::bare(lang, &message),
                    status: status.as_u16(),
                    message,
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

/// A template rendered as an HTML answer (a rendering failure is logged and answered 500).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Percent-escapes everything but unreserved characters (for a path carried in a query).
pub fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A path inside the console to go back to after signing in; anything else (another origin,
/// `//host`, a scheme) is the console's home.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("://") =>
        {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

/// The signed-in person of a request, from the session cookie, as the database has them now.
pub struct Signed(pub Session);

impl Signed {
    pub fn lang(&self) -> &'static str {
        if self.0.lang == "en" { "en" } else { "zh-CN" }
    }
    pub fn t(&self) -> &'static Tr {
        i18n::tr(self.lang())
    }
    /// The page frame for this person.
    pub fn layout(&self, nav: &'static str, title: impl Into<String>) -> Layout {
        let t = self.t();
        let u = &self.0.actor;
        Layout {
            t,
            lang: self.lang(),
            title: title.into(),
            nav,
            user: Some(UserBar {
                name: u.display_name.clone(),
                unit: u.unit.clone(),
                role: i18n::role(t, u.role).to_owned(),
            }),
            csrf: self.0.csrf.clone(),
            may_review: may_supervise(&u.0),
            may_manage_users: may(&u.0, lantian_domain::policy::Action::ManageUsers),
            may_assess: may(&u.0, lantian_domain::policy::Action::ReadAssessment),
            may_webhooks: u
                .may(lantian_domain::policy::Action::ManageWebhooks, None)
                .is_ok(),
        }
    }
    /// [`check_post`] for a form of this session: same origin, and this session's CSRF token.
    pub fn check_form(
        &self,
        config: &ConsoleConfig,
        headers: &HeaderMap,
        presented: &str,
    ) -> Result<(), PageError> {
        check_post(
            config,
            headers,
            presented,
            |p| self.0.csrf_matches(p),
            self.lang(),
        )
    }

    /// An operation's refusal as a page in this person's language.
    pub fn fail(&self, e: lantian_app::AppError) -> PageError {
        PageError::app(e, self.lang())
    }
}

/// Whether the user's role may take `action` in their own unit (what the navigation offers).
fn may(u: &lantian_store::identity::UserRecord, action: lantian_domain::policy::Action) -> bool {
    lantian_domain::policy::decide(u.role, action, lantian_domain::unit::Relation::Own)
        == lantian_domain::policy::Decision::Allow
}

/// Whether the user reviews inspections (the review workbench is theirs).
pub fn may_review(u: &lantian_store::identity::UserRecord) -> bool {
    may_supervise(u)
}

fn may_supervise(u: &lantian_store::identity::UserRecord) -> bool {
    may(u, lantian_domain::policy::Action::Supervise)
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let lang = request_lang(&parts.headers, None);
        let htmx = parts.headers.contains_key("hx-request");
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(PageError::SignIn { next, htmx });
        };
        match state.app().session(cookie).await {
            Ok(Some(s)) => Ok(Signed(s)),
            Ok(None) => Err(PageError::SignIn { next, htmx }),
            Err(e) => Err(PageError::app(e, lang)),
        }
    }
}

/// Whether a state-changing request came from this console: its `Origin` (when the browser sends
/// one) is ours, `Sec-Fetch-Site` (when sent) is `same-origin`, and the form's CSRF token is
/// `expected`. Any failure is 403 and the handler does nothing.
pub fn check_post(
    config: &ConsoleConfig,
    headers: &HeaderMap,
    presented: &str,
    expected: impl Fn(&str) -> bool,
    lang: &'static str,
) -> Result<(), PageError> {
    if !same_origin(config, headers) {
        tracing::warn!("a console form came from another origin");
        return Err(PageError::forbidden(lang));
    }
    if !expected(presented) {
        tracing::warn!("a console form without its CSRF token");
        return Err(PageError::forbidden(lang));
    }
    Ok(())
}

fn same_origin(config: &ConsoleConfig, headers: &HeaderMap) -> bool {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    let Some(origin) = text("origin") else {
        // Browsers send Origin on every POST; a client that does not is not a browser carrying
        // someone's cookie, and still needs the token.
        return true;
    };
    match config.public_origin() {
        Some(o) => origin.eq_ignore_ascii_case(&o),
        None => {
            let host = text("host").unwrap_or("");
            origin
                .split_once("://")
                .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host))
        }
    }
}

/// The signed-in person shown in the page's header.
#[derive(Debug, Clone)]
pub struct UserBar {
    pub name: String,
    pub unit: String,
    pub role: String,
}

/// What every page's frame needs (`templates/base.html`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub t: &'static Tr,
    pub lang: &'static str,
    pub title: String,
    /// Which navigation entry is current (`review`, `orders`, or empty).
    pub nav: &'static str,
    pub user: Option<UserBar>,
    /// The session's CSRF token, for the forms of the frame (sign-out, language).
    pub csrf: String,
    /// Whether the review workbench is in the navigation.
    pub may_review: bool,
    /// Whether the people pages are in the navigation.
    pub may_manage_users: bool,
    /// Whether the assessment is in the navigation.
    pub may_assess: bool,
    /// Whether the webhooks page is in the navigation.
    pub may_webhooks: bool,
}

impl Layout {
    /// The frame of a page shown without a session (sign-in, errors).
    pub fn bare(lang: &'static str, title: &str) -> Layout {
        Layout {
            t: i18n::tr(lang),
            lang,
            title: title.to_owned(),
            nav: "",
            user: None,
            csrf: String::new(),
            may_review: false,
            may_manage_users: false,
            may_assess: false,
            may_webhooks: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(
            safe_next(Some("/console/orders?tab=overdue")),
            "/console/orders?tab=overdue"
        );
        for bad in [
            "//evil.example/console/",
            "https://evil.example",
            "/v1/me",
            "/console/\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn tile_origins_allow_their_subdomains() {
        assert_eq!(
            origin_of_template("https://{s}.tile.example/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example")
        );
        assert_eq!(
            origin_of_template("https://t0.tianditu.gov.cn/vec_w/wmts?x={x}").as_deref(),
            Some("https://t0.tianditu.gov.cn")
        );
    }

    #[test]
    fn cookies_are_found_by_name_only() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lantian_session=abc; lantian_sessionx=no"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}

//! lantian-console: the web console of the people in the bureau (督导, 考评, leaders), served by
//! the same binary at `/console/`.
//!
//! Pages are rendered on the server (askama templates compiled in); htmx swaps parts of them and
//! Leaflet draws maps, both vendored from their npm packages (`vendor/`, `scripts/vendor-console`)
//! and embedded, so nothing is loaded from another origin. Every page calls the same
//! application-layer operation as the API route that does the same thing: one authorization path,
//! no rule written twice. The session, the CSRF checks and the security headers are in [`web`].
//!
//! # Layout
//! - [`web`] — sessions (cookie), CSRF, the page frame, errors as pages, security headers.
//! - [`i18n`] — the console's words in Chinese (default) and English, from `docs/glossary.md`.
//! - [`fmt`] — times in Asia/Shanghai, names of states, verdicts and flags.
//! - `assets` — the embedded files (ours and the vendored ones).
//! - `map` — what a map shows, in the tiles' datum.
//! - `pages` — one module per area: sign-in and passwords, home (工作台), review (审核台),
//!   rectification (整改), ledger (台账), assessment (考评), alerts (预警), people (人员),
//!   webhooks (系统对接), photos.

mod assets;
pub mod fmt;
pub mod i18n;
mod map;
mod pages;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use lantian_domain::geo::Datum;
use lantian_http::AppState;

/// A tile layer for the console's maps.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiles {
    /// `https://host/{z}/{x}/{y}.png`-style template.
    pub url: String,
    /// The datum the tiles are drawn in: `gcj02` for AMap-style tiles, `wgs84` for Tianditu-style.
    pub datum: Datum,
    pub attribution: String,
    pub max_zoom: u8,
}

/// Settings of the console.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// The public address people reach the server at (`https://lantian.example.gov.cn`). When it
    /// is https, cookies are `Secure` (TLS may end at a proxy); its origin is the one forms must
    /// come from. Without it, the request's own `Host` is the origin.
    pub public_url: Option<String>,
    /// Map tiles; without them maps draw on a plain background with a scale bar.
    pub tiles: Option<Tiles>,
}

impl ConsoleConfig {
    /// Whether cookies carry `Secure`.
    pub fn secure(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// The origin (`scheme://host[:port]`) of `public_url`, if set.
    pub fn public_origin(&self) -> Option<String> {
        let u = self.public_url.as_deref()?;
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}"))
    }
}

/// The console's routes, to be merged beside the API (`lantian_http::router_with`).
pub fn routes(config: ConsoleConfig) -> Router<AppState> {
    let config = Arc::new(config);
    let csp = web::page_csp(&config);
    Router::new()
        .route(
            "/console",
            get(|| async { axum::response::Redirect::to("/console/") }),
        )
        .route("/console/", get(pages::home::page))
        .route(
            "/console/login",
            get(pages::login::form).post(pages::login::submit),
        )
        .route("/console/logout", post(pages::login::logout))
        .route(
            "/console/password",
            get(pages::password::form).post(pages::password::submit),
        )
        .route("/console/lang", post(pages::login::set_lang))
        .route("/console/review", get(pages::review::queue))
        .route(
            "/console/review/{id}",
            get(pages::review::sheet).post(pages::review::decide),
        )
        .route("/console/orders", get(pages::orders::board))
        .route("/console/orders/{id}", get(pages::orders::sheet))
        .route(
            "/console/orders/{id}/request",
            post(pages::orders::decide_request),
        )
        .route("/console/subjects", get(pages::ledger::list))
        .route(
            "/console/subjects/new",
            get(pages::ledger::new_form).post(pages::ledger::create),
        )
        .route(
            "/console/subjects/import",
            get(pages::ledger::import_form)
                .post(pages::ledger::import)
                .layer(axum::extract::DefaultBodyLimit::max(
                    pages::ledger::IMPORT_MAX_BYTES,
                )),
        )
        .route("/console/subjects/{id}", get(pages::ledger::sheet))
        .route(
            "/console/subjects/{id}/edit",
            get(pages::ledger::edit_form).post(pages::ledger::update),
        )
        .route(
            "/console/alerts",
            get(pages::alerts::list).post(pages::alerts::declare),
        )
        .route("/console/alerts/{id}/end", post(pages::alerts::end))
        .route("/console/assessment", get(pages::assessment::page))
        .route(
            "/console/assessment/{month}/provisional",
            post(pages::assessment::compute),
        )
        .route(
            "/console/bulletins/{file}",
            get(pages::assessment::download),
        )
        .route("/console/people", get(pages::people::list))
        .route("/console/people/new", post(pages::people::create))
        .route(
            "/console/people/{id}",
            get(pages::people::person).post(pages::people::change),
        )
        .route("/console/people/{id}/reset", post(pages::people::reset))
        .route(
            "/console/people/{id}/sessions/{session}/end",
            post(pages::people::end_session),
        )
        .route(
            "/console/people/{id}/installs/{install}/revoke",
            post(pages::people::revoke_install),
        )
        .route(
            "/console/webhooks",
            get(pages::webhooks::list).post(pages::webhooks::register),
        )
        .route("/console/webhooks/{id}", get(pages::webhooks::one))
        .route("/console/webhooks/{id}/end", post(pages::webhooks::end))
        .route(
            "/console/webhooks/{id}/deliveries/{delivery}/retry",
            post(pages::webhooks::retry),
        )
        .route("/console/photos/{id}/{part}", get(pages::photos::bytes))
        .route("/console/assets/{*path}", get(assets::serve))
        // Anything else under /console/ is a page that does not exist (HTML, not the API's JSON).
        .route("/console/{*rest}", axum::routing::any(pages::not_found))
        .layer(axum::middleware::from_fn(move |req, next| {
            web::headers(csp.clone(), req, next)
        }))
        .layer(axum::Extension(config))
}

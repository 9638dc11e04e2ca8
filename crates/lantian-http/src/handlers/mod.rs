//! Handlers, one module per area, and the one list of routes.

mod auth;
mod health;
mod reference;
mod subjects;
mod sync;

use axum::http::Method;

use crate::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.on(Method::GET, "/healthz", health::healthz)
        .on(Method::GET, "/readyz", health::readyz)
        .on(Method::GET, "/metrics", health::metrics)
        .on(Method::POST, "/v1/auth/login", auth::login)
        .on(Method::POST, "/v1/auth/refresh", auth::refresh)
        .on(Method::POST, "/v1/auth/logout", auth::logout)
        .on(Method::GET, "/v1/me", auth::me)
        .on(Method::POST, "/v1/clients", auth::register_client)
        .on(Method::GET, "/v1/units", reference::list_units)
        .on(Method::GET, "/v1/units/{code}", reference::get_unit)
        .on(Method::GET, "/v1/departments", reference::list_departments)
        .on(Method::GET, "/v1/campaigns", reference::list_campaigns)
        .on(Method::GET, "/v1/campaigns/{code}", reference::get_campaign)
        .on(Method::GET, "/v1/templates", reference::list_templates)
        .on(
            Method::GET,
            "/v1/templates/{code}/versions",
            reference::list_template_versions,
        )
        .on(
            Method::POST,
            "/v1/templates/{code}/versions",
            reference::publish_template,
        )
        .on(
            Method::GET,
            "/v1/templates/{code}/versions/{version}",
            reference::get_template_version,
        )
        .on(Method::GET, "/v1/subjects", subjects::list)
        .on(Method::POST, "/v1/subjects", subjects::create)
        .on(Method::GET, "/v1/subjects/{id}", subjects::get)
        .on(Method::PUT, "/v1/subjects/{id}", subjects::update)
        .on(Method::HEAD, "/v1/sync", sync::preflight)
        .on(Method::POST, "/v1/sync/push", sync::push)
        .on(Method::POST, "/v1/sync/pull", sync::pull)
        .on(Method::GET, "/v1/sync/status", sync::status)
}

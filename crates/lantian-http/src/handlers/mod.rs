//! Handlers, one module per area, and the one list of routes.

mod auth;
mod export;
mod health;
mod photos;
mod reference;
mod review;
mod subjects;
mod sync;
mod uploads;
mod webhooks;

pub use auth::password_sign_in;
pub use photos::photo_bytes;

pub(crate) use uploads::tus_headers;

use axum::http::Method;

use crate::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.on(Method::GET, "/healthz", health::healthz)
        .on(Method::GET, "/readyz", health::readyz)
        .on(Method::GET, "/metrics", health::metrics)
        .on(Method::POST, "/v1/auth/login", auth::login)
        .on(Method::POST, "/v1/auth/refresh", auth::refresh)
        .on(Method::POST, "/v1/auth/challenge", auth::challenge)
        .on(Method::POST, "/v1/auth/install", auth::install_sign_in)
        .on(Method::POST, "/v1/auth/logout", auth::logout)
        .on(Method::POST, "/v1/auth/password", auth::change_password)
        .on(Method::GET, "/v1/me", auth::me)
        .on(Method::POST, "/v1/clients", auth::register_client)
        .on(Method::GET, "/v1/users", auth::list_users)
        .on(Method::POST, "/v1/users", auth::create_user)
        .on(
            Method::POST,
            "/v1/users/{user_id}/password-reset",
            auth::reset_password,
        )
        .on(
            Method::GET,
            "/v1/users/{user_id}/sessions",
            auth::list_user_sessions,
        )
        .on(
            Method::POST,
            "/v1/users/{user_id}/sessions/{session_id}/revoke",
            auth::revoke_user_session,
        )
        .on(
            Method::POST,
            "/v1/users/{user_id}/disable",
            auth::disable_user,
        )
        .on(
            Method::POST,
            "/v1/users/{user_id}/enable",
            auth::enable_user,
        )
        .on(Method::PUT, "/v1/users/{user_id}/role", auth::set_user_role)
        .on(Method::PUT, "/v1/users/{user_id}/unit", auth::set_user_unit)
        .on(
            Method::GET,
            "/v1/users/{user_id}/clients",
            auth::list_user_clients,
        )
        .on(
            Method::POST,
            "/v1/users/{user_id}/clients/{client_id}/revoke",
            auth::revoke_user_client,
        )
        .on(Method::GET, "/v1/units", reference::list_units)
        .on(Method::GET, "/v1/units/{code}", reference::get_unit)
        .on(Method::GET, "/v1/departments", reference::list_departments)
        .on(Method::GET, "/v1/campaigns", reference::list_campaigns)
        .on(Method::POST, "/v1/campaigns", reference::create_campaign)
        .on(Method::GET, "/v1/campaigns/{code}", reference::get_campaign)
        .on(
            Method::PUT,
            "/v1/campaigns/{code}",
            reference::update_campaign,
        )
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
        .on(Method::GET, "/v1/subjects/nearby", subjects::nearby)
        .on(Method::GET, "/v1/subjects/{id}", subjects::get)
        .on(Method::PUT, "/v1/subjects/{id}", subjects::update)
        .on(Method::HEAD, "/v1/sync", sync::preflight)
        .on(Method::POST, "/v1/sync/push", sync::push)
        .on(Method::POST, "/v1/sync/pull", sync::pull)
        .on(Method::GET, "/v1/sync/status", sync::status)
        .on_upload(Method::OPTIONS, "/v1/uploads", uploads::options)
        .on_upload(Method::POST, "/v1/uploads", uploads::create)
        .on_upload(Method::HEAD, "/v1/uploads/{id}", uploads::head)
        .on_upload(Method::PATCH, "/v1/uploads/{id}", uploads::patch)
        .on_upload(Method::DELETE, "/v1/uploads/{id}", uploads::terminate)
        .on(Method::GET, "/v1/photos/{id}", photos::get)
        .on(Method::GET, "/v1/photos/{id}/original", photos::original)
        .on(Method::GET, "/v1/photos/{id}/thumbnail", photos::thumbnail)
        .on(Method::GET, "/v1/photos/{id}/review", photos::review)
        .on(Method::GET, "/v1/photos/by-hash/{sha256}", photos::by_hash)
        .on(Method::GET, "/v1/export/subjects", export::subjects_geojson)
        .on(
            Method::GET,
            "/v1/export/inspections",
            export::inspections_geojson,
        )
        .on(Method::GET, "/v1/coverage", export::coverage)
        .on(Method::GET, "/v1/review/queue", review::queue)
        .on(Method::GET, "/v1/assessment/{month}", review::assessment)
        .on(
            Method::POST,
            "/v1/assessment/{month}/provisional",
            review::compute_provisional,
        )
        .on(Method::GET, "/v1/webhooks", webhooks::list)
        .on(Method::POST, "/v1/webhooks", webhooks::register)
        .on(Method::POST, "/v1/webhooks/{webhook_id}/end", webhooks::end)
        .on(
            Method::GET,
            "/v1/webhooks/{webhook_id}/deliveries",
            webhooks::deliveries,
        )
        .on(
            Method::POST,
            "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            webhooks::retry,
        )
        .on(Method::GET, "/v1/bulletins/{month}", review::bulletin)
        .on(Method::POST, "/v1/alerts", review::declare_alert)
        .on(Method::GET, "/v1/alerts", review::list_alerts)
        .on(Method::POST, "/v1/alerts/{id}/end", review::end_alert)
        .on(Method::GET, "/v1/inspections/{id}", review::get_inspection)
        .on(
            Method::POST,
            "/v1/inspections/{id}/review",
            review::review_inspection,
        )
        .on(Method::POST, "/v1/rectifications", review::open_order)
        .on(Method::GET, "/v1/rectifications", review::list_orders)
        .on(Method::GET, "/v1/rectifications/stats", review::stats)
        .on(Method::GET, "/v1/rectifications/{id}", review::get_order)
        .on(
            Method::POST,
            "/v1/rectifications/{id}/handled",
            review::report_handled,
        )
        .on(
            Method::POST,
            "/v1/rectifications/{id}/requests",
            review::request,
        )
        .on(
            Method::POST,
            "/v1/rectifications/{id}/requests/decision",
            review::decide_request,
        )
}

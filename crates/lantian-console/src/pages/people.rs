//! People (人员): the users of the caller's subtree, disabled and enabled, given another role,
//! moved to another unit. Every change is `App::change_user`, as the API's routes are: the same
//! policy (subtree, nobody changes themselves, no role above one's own), the same audit.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_app::users::UserChange;
use lantian_domain::user::{Role, check_user_change};
use lantian_http::AppState;
use serde::Deserialize;
use uuid::Uuid;

use super::Opt;
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, i18n};

struct PersonRow {
    name: String,
    username: String,
    page_url: String,
    must_change: bool,
    role: String,
    unit: String,
    disabled: bool,
    /// The caller may change this user (not themselves, not a higher role).
    changeable: bool,
    post_url: String,
    roles: Vec<Opt>,
    units: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    l: Layout,
    people: Vec<PersonRow>,
    error: Option<String>,
    done: Option<String>,
    /// What a new account may be given: roles no higher than the caller's, units of the subtree.
    new_roles: Vec<Opt>,
    new_units: Vec<Opt>,
}

#[derive(Debug, Deserialize)]
pub struct PeopleQuery {
    done: Option<String>,
}

async fn show(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
    let users = app.users(actor).await.map_err(|e| signed.fail(e))?;
    let units = app.units(actor).await.map_err(|e| signed.fail(e))?;
    let unit_name = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map(|u| {
                if lang == "en" {
                    u.name_en.clone()
                } else {
                    u.name_zh.clone()
                }
            })
            .unwrap_or_else(|| code.to_owned())
    };
    let people = users
        .into_iter()
        .map(|u| {
            // What the page offers is what the operation allows (the domain's rule, not a copy):
            // nothing on one's own row, nothing on a role above one's own.
            let changeable =
                check_user_change(actor.role, u.id == actor.uuid, u.role, None).is_ok();
            PersonRow {
                name: u.display_name.clone(),
                username: u.username.clone(),
                page_url: format!("/console/people/{}", u.id),
                must_change: u.must_change_password,
                role: i18n::role(t, u.role).to_owned(),
                unit: unit_name(&u.unit),
                disabled: u.disabled,
                changeable,
                post_url: format!("/console/people/{}", u.id),
                roles: Role::ALL
                    .iter()
                    .filter(|r| check_user_change(actor.role, false, u.role, Some(**r)).is_ok())
                    .map(|r| Opt::new(r.as_str(), i18n::role(t, *r), *r == u.role))
                    .collect(),
                units: units
                    .iter()
                    .map(|un| {
                        let name = if lang == "en" {
                            &un.name_en
                        } else {
                            &un.name_zh
                        };
                        Opt::new(un.code.clone(), name.clone(), un.code == u.unit)
                    })
                    .collect(),
            }
        })
        .collect();
    let new_roles = Role::ALL
        .iter()
        .filter(|r| check_user_change(actor.role, false, **r, Some(**r)).is_ok())
        .map(|r| Opt::new(r.as_str(), i18n::role(t, *r), *r == Role::Inspector))
        .collect();
    let new_units = units
        .iter()
        .map(|un| {
            let name = if lang == "en" {
                &un.name_en
            } else {
                &un.name_zh
            };
            Opt::new(un.code.clone(), name.clone(), un.code == actor.unit)
        })
        .collect();
    let page = PeoplePage {
        l: signed.layout("people", t.people_title),
        people,
        error,
        done: done.map(|d| format!("{}{d}", t.updated)),
        new_roles,
        new_units,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/people`.
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<PeopleQuery>,
) -> Result<Response, PageError> {
    show(&state, &signed, StatusCode::OK, None, q.done).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    value: String,
}

/// `POST /console/people/{id}`: one change to one user.
pub async fn change(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let change = match (f.action.as_str(), Role::parse(&f.value)) {
        ("disable", _) => UserChange::Disabled(true),
        ("enable", _) => UserChange::Disabled(false),
        ("role", Some(r)) => UserChange::Role(r),
        ("unit", _) if !f.value.is_empty() => UserChange::Unit(f.value.clone()),
        _ => return Err(signed.fail(lantian_app::AppError::bad_request("action"))),
    };
    match state.app().change_user(&signed.0.actor, id, change).await {
        Ok(u) => Ok(Redirect::to(&format!(
            "/console/people?done={}",
            crate::web::url_escape(&u.username)
        ))
        .into_response()),
        Err(e) if e.code == "not_found" && e.field.as_deref() == Some("user_id") => {
            Err(signed.fail(e))
        }
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = i18n::error_message(&e, lang);
            show(&state, &signed, status, Some(msg), None).await
        }
    }
}

/// A one-time password shown once on the page that made it.
struct ShownPassword {
    title: String,
    password: String,
    note: String,
}

struct SessionRow {
    kind: String,
    started: String,
    last_seen: String,
    whence: String,
    end_url: String,
}

struct InstallRow {
    id: String,
    model: String,
    registered: String,
    has_key: String,
    revoked: Option<String>,
    revoke_url: String,
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    l: Layout,
    name: String,
    username: String,
    role: String,
    unit: String,
    disabled: bool,
    must_change: bool,
    /// The caller may change this user (reset, end sessions).
    changeable: bool,
    reset_url: String,
    sessions: Vec<SessionRow>,
    installs: Vec<InstallRow>,
    password: Option<ShownPassword>,
    error: Option<String>,
}

/// An RFC 3339 time as the console shows it (as stored if it does not parse).
fn shown_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| crate::fmt::time(t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| t.to_owned())
}

async fn person_page(
    state: &AppState,
    signed: &Signed,
    id: Uuid,
    status: StatusCode,
    password: Option<ShownPassword>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
    let users = app.users(actor).await.map_err(|e| signed.fail(e))?;
    let u = users
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| PageError::not_found(lang))?;
    let sessions = app
        .user_sessions(actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    let installs = app
        .clients_of(actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    let unit = app
        .units(actor)
        .await
        .map_err(|e| signed.fail(e))?
        .into_iter()
        .find(|x| x.code == u.unit)
        .map(|x| if lang == "en" { x.name_en } else { x.name_zh })
        .unwrap_or_else(|| u.unit.clone());
    let changeable = check_user_change(actor.role, u.id == actor.uuid, u.role, None).is_ok();
    let page = PersonPage {
        l: signed.layout("people", u.display_name.clone()),
        name: u.display_name.clone(),
        username: u.username.clone(),
        role: i18n::role(t, u.role).to_owned(),
        unit,
        disabled: u.disabled,
        must_change: u.must_change_password,
        changeable,
        reset_url: format!("/console/people/{id}/reset"),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                kind: if s.kind == "console" {
                    t.kind_console
                } else {
                    t.kind_app
                }
                .to_owned(),
                started: shown_time(&s.started_at),
                last_seen: shown_time(&s.last_seen_at),
                whence: match (&s.install, &s.peer) {
                    (Some(i), _) => i.to_string(),
                    (None, Some(p)) => p.clone(),
                    (None, None) => String::new(),
                },
                end_url: format!(
                    "/console/people/{id}/sessions/{}/end",
                    crate::web::url_escape(&s.id)
                ),
            })
            .collect(),
        installs: installs
            .into_iter()
            .map(|c| InstallRow {
                id: c.client_id.to_string(),
                model: c.device_model.unwrap_or_default(),
                registered: shown_time(&c.registered_at),
                has_key: if c.has_key { t.yes } else { t.no }.to_owned(),
                revoked: c.revoked_at.as_deref().map(shown_time),
                revoke_url: format!("/console/people/{id}/installs/{}/revoke", c.client_id),
            })
            .collect(),
        password,
        error,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/people/{id}`: one user, their sessions and installs.
pub async fn person(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    person_page(&state, &signed, id, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn one_time(
    t: &i18n::Tr,
    title: &str,
    p: lantian_protocol::auth::OneTimePassword,
) -> ShownPassword {
    ShownPassword {
        title: title.to_owned(),
        note: t
            .one_time_shown_once
            .replace("{until}", &shown_time(&p.expires_at)),
        password: p.one_time_password,
    }
}

/// A refused change on a user's page: the page again with the refusal, unless the user is not
/// there at all for the caller (then the not-found page, as for any other object).
async fn refused_on_person(
    state: &AppState,
    signed: &Signed,
    id: Uuid,
    e: lantian_app::AppError,
) -> Result<Response, PageError> {
    if e.code == "not_found" && e.field.as_deref() == Some("user_id") {
        return Err(signed.fail(e));
    }
    let status = lantian_http::error::ApiError(e.clone()).status();
    let msg = i18n::error_message(&e, signed.lang());
    person_page(state, signed, id, status, None, Some(msg)).await
}

/// `POST /console/people/{id}/reset`: a one-time password, shown on the page once.
pub async fn reset(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    match state.app().reset_password(&signed.0.actor, id).await {
        Ok(p) => {
            let t = signed.t();
            let shown = one_time(t, t.password_reset_done, p);
            person_page(&state, &signed, id, StatusCode::OK, Some(shown), None).await
        }
        Err(e) => refused_on_person(&state, &signed, id, e).await,
    }
}

/// `POST /console/people/{id}/sessions/{session}/end`.
pub async fn end_session(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path((id, session)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    match state
        .app()
        .end_user_session(&signed.0.actor, id, session)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/console/people/{id}")).into_response()),
        Err(e) => refused_on_person(&state, &signed, id, e).await,
    }
}

/// `POST /console/people/{id}/installs/{install}/revoke`.
pub async fn revoke_install(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path((id, install)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let lang = signed.lang();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let install = Uuid::parse_str(&install).map_err(|_| PageError::not_found(lang))?;
    match state
        .app()
        .revoke_client(&signed.0.actor, id, install)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/console/people/{id}")).into_response()),
        Err(e) => refused_on_person(&state, &signed, id, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct NewAccountForm {
    #[serde(default)]
    csrf: String,
    username: String,
    display_name: String,
    role: String,
    unit: String,
}

/// `POST /console/people/new`: the account, and its one-time password shown once.
pub async fn create(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<NewAccountForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    let lang = signed.lang();
    let Some(role) = Role::parse(&f.role) else {
        return Err(signed.fail(lantian_app::AppError::bad_request("role")));
    };
    let req = lantian_protocol::auth::CreateUserRequest {
        username: f.username.trim().to_owned(),
        display_name: f.display_name,
        role,
        unit: f.unit,
    };
    match state.app().create_user(&signed.0.actor, req).await {
        Ok(created) => {
            let t = signed.t();
            let shown = one_time(t, t.account_created, created.password);
            person_page(
                &state,
                &signed,
                created.user.id,
                StatusCode::CREATED,
                Some(shown),
                None,
            )
            .await
        }
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = i18n::error_message(&e, lang);
            show(&state, &signed, status, Some(msg), None).await
        }
    }
}

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
    let page = PeoplePage {
        l: signed.layout("people", t.people_title),
        people,
        error,
        done: done.map(|d| format!("{}{d}", t.updated)),
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

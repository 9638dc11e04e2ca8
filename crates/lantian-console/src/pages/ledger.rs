//! The ledger (台账): subjects searched by name, plate, kind, unit and attribute, on a list and a
//! map; a subject's page with its inspections, orders, photos and audit trail; subjects created and
//! edited; and a CSV or GeoJSON file imported, all or nothing. The same operations as the API's
//! `/v1/subjects` and the command line's `lantian import`.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_domain::geo::Datum;
use lantian_domain::subject::{FieldType, GeoPoint, Subject, SubjectFields, SubjectKind};
use lantian_http::AppState;
use lantian_protocol::reference::SubjectQuery;
use serde::Deserialize;
use uuid::Uuid;

use super::{Opt, Thumb};
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt, i18n, map};

/// Subjects a list page shows.
const PAGE: u32 = 50;

#[derive(Debug, Deserialize, Default)]
pub struct LedgerQuery {
    q: Option<String>,
    kind: Option<String>,
    unit: Option<String>,
    attr: Option<String>,
    cursor: Option<String>,
}

struct SubjectRow {
    url: String,
    name: String,
    kind: String,
    unit: String,
    details: String,
    since: String,
}

#[derive(Template)]
#[template(path = "subjects.html")]
struct LedgerPage {
    l: Layout,
    q: String,
    attr: String,
    kinds: Vec<Opt>,
    units: Vec<Opt>,
    rows: Vec<SubjectRow>,
    next_url: Option<String>,
    map_json: String,
    may_create: bool,
    error: Option<String>,
}

fn unit_options(units: &[lantian_domain::unit::Unit], lang: &str, selected: &str) -> Vec<Opt> {
    units
        .iter()
        .map(|u| {
            let name = if lang == "en" { &u.name_en } else { &u.name_zh };
            Opt::new(u.code.clone(), name.clone(), u.code == selected)
        })
        .collect()
}

fn unit_label(units: &[lantian_domain::unit::Unit], lang: &str, code: &str) -> String {
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
}

/// The subject's attributes as (name, value) in words, in the kind's field order.
fn attribute_lines(lang: &str, s: &Subject) -> Vec<(String, String)> {
    let v = serde_json::to_value(&s.attributes).unwrap_or_default();
    let attrs = v.get("attributes").cloned().unwrap_or_default();
    s.attributes
        .kind()
        .attribute_fields()
        .iter()
        .filter_map(|(f, _)| {
            let x = attrs.get(*f)?;
            let shown = fmt::attr_value(lang, x);
            (!shown.is_empty()).then(|| (fmt::attr_label(lang, f), shown))
        })
        .collect()
}

/// `GET /console/subjects`.
pub async fn list(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    Query(q): Query<LedgerQuery>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
    let units = app.units(actor).await.map_err(|e| signed.fail(e))?;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let query = SubjectQuery {
        kind: nonempty(&q.kind),
        unit: nonempty(&q.unit),
        q: nonempty(&q.q),
        attr: nonempty(&q.attr),
        cursor: nonempty(&q.cursor),
        limit: Some(PAGE),
    };
    let (found, error) = match app.subjects(actor, query).await {
        Ok(p) => (p, None),
        Err(e) if e.code == "bad_request" => (
            lantian_protocol::reference::SubjectPage {
                items: Vec::new(),
                next_cursor: None,
            },
            Some(i18n::error_message(&e, lang)),
        ),
        Err(e) => return Err(signed.fail(e)),
    };
    let tiles = config.tiles.as_ref();
    let points = found
        .items
        .iter()
        .filter_map(|s| {
            s.location
                .map(|p| map::point(tiles, (p.lat, p.lon), None, "subject", s.name.clone()))
        })
        .collect();
    let rows = found
        .items
        .iter()
        .map(|s| SubjectRow {
            url: format!("/console/subjects/{}", s.id),
            name: s.name.clone(),
            kind: fmt::kind(lang, s.attributes.kind()).to_owned(),
            unit: unit_label(&units, lang, &s.unit),
            details: attribute_lines(lang, s)
                .into_iter()
                .take(3)
                .map(|(k, v)| format!("{k}：{v}"))
                .collect::<Vec<_>>()
                .join("；"),
            since: s.on_ledger_since.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    let next_url = found.next_cursor.map(|c| {
        let mut pairs: Vec<(&str, String)> = vec![("cursor", c)];
        for (k, v) in [
            ("q", &q.q),
            ("kind", &q.kind),
            ("unit", &q.unit),
            ("attr", &q.attr),
        ] {
            if let Some(v) = nonempty(v) {
                pairs.push((k, v));
            }
        }
        format!(
            "/console/subjects?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let kind = q.kind.clone().unwrap_or_default();
    let mut kinds = vec![Opt::new("", t.all, kind.is_empty())];
    kinds.extend(
        SubjectKind::ALL
            .iter()
            .map(|k| Opt::new(k.as_str(), fmt::kind(lang, *k), k.as_str() == kind)),
    );
    let mut unit_opts = vec![Opt::new(
        "",
        t.all,
        q.unit.as_deref().unwrap_or("").is_empty(),
    )];
    unit_opts.extend(unit_options(&units, lang, q.unit.as_deref().unwrap_or("")));
    let page = LedgerPage {
        l: signed.layout("ledger", t.ledger_title),
        q: q.q.unwrap_or_default(),
        attr: q.attr.unwrap_or_default(),
        kinds,
        units: unit_opts,
        rows,
        next_url,
        map_json: map::json(tiles, points, None),
        may_create: actor
            .may(
                lantian_domain::policy::Action::CreateSubject,
                Some(&actor.unit_path),
            )
            .is_ok(),
        error,
    };
    Ok(render(&page).into_response())
}

struct InspectionRow {
    url: Option<String>,
    at: String,
    score: String,
    compliant: bool,
    review: String,
    review_class: String,
    verdict: String,
    verdict_class: String,
}

struct OrderRow {
    url: String,
    item: String,
    state: String,
    deadline: String,
    overdue: bool,
}

struct TrailRow {
    at: String,
    who: String,
    what: String,
    hashes: String,
}

#[derive(Template)]
#[template(path = "subject.html")]
struct SubjectPage {
    l: Layout,
    name: String,
    kind: String,
    unit: String,
    attributes: Vec<(String, String)>,
    location: String,
    since: String,
    version: i64,
    edit_url: Option<String>,
    map_json: Option<String>,
    inspections: Vec<InspectionRow>,
    only_own: bool,
    orders: Vec<OrderRow>,
    photos: Vec<Thumb>,
    trail: Vec<TrailRow>,
}

fn short(h: &Option<String>) -> String {
    h.as_deref()
        .map(|h| h.get(..12).unwrap_or(h).to_owned())
        .unwrap_or_else(|| "—".to_owned())
}

/// `GET /console/subjects/{id}`.
pub async fn sheet(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let actor = &signed.0.actor;
    let app = state.app();
    let s = app
        .subject_sheet(actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    let units = app.units(actor).await.map_err(|e| signed.fail(e))?;
    let subject = &s.subject;
    let tiles = config.tiles.as_ref();
    let may_review = crate::web::may_review(&actor.0);
    let inspections = s
        .inspections
        .iter()
        .map(|i| {
            let v = i.verdict.as_ref().map(|v| v.level.as_str());
            InspectionRow {
                // The review sheet is for those who review, and for the author.
                url: (may_review || i.author == actor.uuid)
                    .then(|| format!("/console/review/{}", i.id)),
                at: fmt::time(i.occurred_at),
                score: format!("{}/{}", i.effective.earned, i.effective.possible),
                compliant: i.effective.compliant,
                review: fmt::review_state(lang, i.review_state.as_str()).to_owned(),
                review_class: i.review_state.as_str().to_owned(),
                verdict: fmt::verdict_level(lang, v).to_owned(),
                verdict_class: v.unwrap_or("none").to_owned(),
            }
        })
        .collect();
    let page = SubjectPage {
        l: signed.layout("ledger", subject.name.clone()),
        name: subject.name.clone(),
        kind: fmt::kind(lang, subject.attributes.kind()).to_owned(),
        unit: unit_label(&units, lang, &subject.unit),
        attributes: attribute_lines(lang, subject),
        location: subject
            .location
            .map(|p| format!("{:.6}, {:.6} (WGS-84)", p.lat, p.lon))
            .unwrap_or_else(|| t.none.to_owned()),
        since: subject
            .on_ledger_since
            .map(|d| d.to_string())
            .unwrap_or_default(),
        version: subject.version,
        edit_url: s
            .may_edit
            .then(|| format!("/console/subjects/{}/edit", subject.id)),
        map_json: subject.location.map(|p| {
            map::json(
                tiles,
                vec![map::point(
                    tiles,
                    (p.lat, p.lon),
                    None,
                    "subject",
                    subject.name.clone(),
                )],
                None,
            )
        }),
        inspections,
        only_own: !s.reads_inspections,
        orders: s
            .orders
            .iter()
            .map(|o| OrderRow {
                url: format!("/console/orders/{}", o.id),
                item: o.item.clone(),
                state: fmt::order_state(lang, o.state.as_str()).to_owned(),
                deadline: fmt::time(o.deadline),
                overdue: o.overdue,
            })
            .collect(),
        photos: s
            .photos
            .iter()
            .filter(|(_, _, r)| *r == lantian_domain::media::RenditionState::Ready)
            .take(24)
            .map(|(p, _, _)| Thumb::of(*p, format!("{} {}", subject.name, t.photo)))
            .collect(),
        trail: s
            .trail
            .iter()
            .map(|a| TrailRow {
                at: chrono::DateTime::parse_from_rfc3339(&a.at)
                    .map(|x| fmt::time(x.with_timezone(&chrono::Utc)))
                    .unwrap_or_else(|_| a.at.clone()),
                who: a.actor_name.clone().unwrap_or_else(|| a.actor.clone()),
                what: fmt::subject_action(lang, &a.action),
                hashes: format!("{} → {}", short(&a.before_hash), short(&a.after_hash)),
            })
            .collect(),
    };
    Ok(render(&page).into_response())
}

/// One attribute field of the form.
struct FieldView {
    name: String,
    label: String,
    /// `text`, `number`, `date`, `bool` or `choice`.
    input: &'static str,
    value: String,
    choices: Vec<Opt>,
}

struct KindFields {
    kind: String,
    label: String,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "subject_form.html")]
struct FormPage {
    l: Layout,
    title: String,
    action: String,
    /// Editing: the kind is fixed, and the version is carried.
    editing: bool,
    version: i64,
    kinds: Vec<Opt>,
    units: Vec<Opt>,
    name: String,
    lat: String,
    lon: String,
    datums: Vec<Opt>,
    geometry: String,
    since: String,
    groups: Vec<KindFields>,
    error: Option<String>,
    back_url: String,
}

/// What the form holds, as typed.
#[derive(Debug, Clone, Default)]
struct Typed {
    kind: String,
    name: String,
    unit: String,
    lat: String,
    lon: String,
    datum: String,
    geometry: String,
    since: String,
    version: i64,
    attrs: Vec<(String, String)>,
    csrf: String,
}

impl Typed {
    fn from_pairs(pairs: Vec<(String, String)>) -> Typed {
        let mut t = Typed::default();
        for (k, v) in pairs {
            match k.as_str() {
                "kind" => t.kind = v,
                "name" => t.name = v,
                "unit" => t.unit = v,
                "lat" => t.lat = v,
                "lon" => t.lon = v,
                "datum" => t.datum = v,
                "geometry" => t.geometry = v,
                "on_ledger_since" => t.since = v,
                "version" => t.version = v.parse().unwrap_or(0),
                "csrf" => t.csrf = v,
                other => {
                    if let Some(f) = other.strip_prefix("attr.") {
                        t.attrs.push((f.to_owned(), v));
                    }
                }
            }
        }
        t
    }

    fn of(s: &Subject) -> Typed {
        let v = serde_json::to_value(&s.attributes).unwrap_or_default();
        let attrs = v.get("attributes").cloned().unwrap_or_default();
        let kind = s.attributes.kind();
        Typed {
            kind: kind.as_str().to_owned(),
            name: s.name.clone(),
            unit: s.unit.clone(),
            lat: s.location.map(|p| p.lat.to_string()).unwrap_or_default(),
            lon: s.location.map(|p| p.lon.to_string()).unwrap_or_default(),
            datum: "wgs84".into(),
            geometry: s
                .geometry
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
            since: s.on_ledger_since.map(|d| d.to_string()).unwrap_or_default(),
            version: s.version,
            attrs: kind
                .attribute_fields()
                .iter()
                .filter_map(|(f, _)| {
                    let x = attrs.get(*f)?;
                    let text = match x {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => return None,
                        other => other.to_string(),
                    };
                    Some(((*f).to_owned(), text))
                })
                .collect(),
            csrf: String::new(),
        }
    }

    /// The fields as the operation takes them, every typed cell read by the import's rules.
    fn fields(&self) -> Result<SubjectFields, lantian_app::AppError> {
        let bad = |field: &str, message: String| {
            lantian_app::AppError::from(lantian_domain::ValidationError::new(
                "invalid", field, message,
            ))
        };
        let kind = SubjectKind::parse(&self.kind)
            .ok_or_else(|| lantian_app::AppError::bad_request("kind"))?;
        let mut attributes = serde_json::Map::new();
        for (field, raw) in &self.attrs {
            let raw = raw.trim();
            // Only the chosen kind's fields are read; blank ones are left out.
            if raw.is_empty() || !kind.attribute_fields().iter().any(|(f, _)| f == field) {
                continue;
            }
            let v = lantian_app::import::attribute_from_cell(kind, field, raw)
                .map_err(|m| bad(&format!("attributes.{field}"), m))?;
            attributes.insert(field.clone(), v);
        }
        let location = match (self.lat.trim(), self.lon.trim()) {
            ("", "") => None,
            (lat, lon) => {
                let lat: f64 = lat
                    .parse()
                    .map_err(|_| bad("lat", "a decimal latitude".into()))?;
                let lon: f64 = lon
                    .parse()
                    .map_err(|_| bad("lon", "a decimal longitude".into()))?;
                let datum = match self.datum.as_str() {
                    "gcj02" => Datum::Gcj02,
                    "bd09" => Datum::Bd09,
                    _ => Datum::Wgs84,
                };
                let (lat, lon) = lantian_domain::geo::to_wgs84(lat, lon, datum);
                Some(GeoPoint { lat, lon })
            }
        };
        let geometry = match self.geometry.trim() {
            "" => None,
            g => Some(
                serde_json::from_str(g)
                    .map_err(|e| bad("geometry", format!("not GeoJSON: {e}")))?,
            ),
        };
        let on_ledger_since = match self.since.trim() {
            "" => None,
            d => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| bad("on_ledger_since", "YYYY-MM-DD".into()))?,
            ),
        };
        Ok(SubjectFields {
            name: self.name.clone(),
            unit: self.unit.clone(),
            kind,
            attributes: serde_json::Value::Object(attributes),
            location,
            geometry,
            on_ledger_since,
        })
    }
}

async fn form_page(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    typed: &Typed,
    editing: Option<Uuid>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let units = state
        .app()
        .units(&signed.0.actor)
        .await
        .map_err(|e| signed.fail(e))?;
    let chosen = SubjectKind::parse(&typed.kind);
    let groups = SubjectKind::ALL
        .iter()
        .filter(|k| editing.is_none() || Some(**k) == chosen)
        .map(|k| KindFields {
            kind: k.as_str().to_owned(),
            label: t.attributes_of.replace("{kind}", fmt::kind(lang, *k)),
            fields: k
                .attribute_fields()
                .iter()
                .map(|(f, ty)| {
                    let value = if Some(*k) == chosen {
                        typed
                            .attrs
                            .iter()
                            .find(|(n, _)| n == f)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    let (input, choices) = match ty {
                        FieldType::Text => ("text", Vec::new()),
                        FieldType::Integer => ("number", Vec::new()),
                        FieldType::Date => ("date", Vec::new()),
                        FieldType::Bool => (
                            "choice",
                            vec![
                                Opt::new("", "—", value.is_empty()),
                                Opt::new("true", t.yes, value == "true"),
                                Opt::new("false", t.no, value == "false"),
                            ],
                        ),
                        FieldType::Choice(options) => {
                            let mut c = vec![Opt::new("", "—", value.is_empty())];
                            c.extend(
                                options
                                    .iter()
                                    .map(|o| Opt::new(*o, fmt::attr_choice(lang, o), value == *o)),
                            );
                            ("choice", c)
                        }
                    };
                    FieldView {
                        name: format!("attr.{f}"),
                        label: fmt::attr_label(lang, f),
                        input,
                        value,
                        choices,
                    }
                })
                .collect(),
        })
        .collect();
    let page = FormPage {
        l: signed.layout(
            "ledger",
            if editing.is_some() {
                t.edit_subject
            } else {
                t.new_subject
            },
        ),
        title: if editing.is_some() {
            t.edit_subject
        } else {
            t.new_subject
        }
        .to_owned(),
        action: match editing {
            Some(id) => format!("/console/subjects/{id}/edit"),
            None => "/console/subjects/new".into(),
        },
        editing: editing.is_some(),
        version: typed.version,
        kinds: SubjectKind::ALL
            .iter()
            .map(|k| Opt::new(k.as_str(), fmt::kind(lang, *k), Some(*k) == chosen))
            .collect(),
        units: unit_options(&units, lang, &typed.unit),
        name: typed.name.clone(),
        lat: typed.lat.clone(),
        lon: typed.lon.clone(),
        datums: [("wgs84", "WGS-84"), ("gcj02", "GCJ-02"), ("bd09", "BD-09")]
            .iter()
            .map(|(v, label)| {
                Opt::new(
                    *v,
                    *label,
                    typed.datum == *v || (typed.datum.is_empty() && *v == "wgs84"),
                )
            })
            .collect(),
        geometry: typed.geometry.clone(),
        since: typed.since.clone(),
        groups,
        error,
        back_url: match editing {
            Some(id) => format!("/console/subjects/{id}"),
            None => "/console/subjects".into(),
        },
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /console/subjects/new`.
pub async fn new_form(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, PageError> {
    let typed = Typed {
        kind: SubjectKind::ConstructionSite.as_str().into(),
        unit: signed.0.actor.unit.clone(),
        datum: "wgs84".into(),
        ..Default::default()
    };
    form_page(&state, &signed, StatusCode::OK, &typed, None, None).await
}

/// `POST /console/subjects/new`.
pub async fn create(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let typed = Typed::from_pairs(pairs);
    signed.check_form(&config, &headers, &typed.csrf)?;
    let lang = signed.lang();
    let created = match typed.fields() {
        Ok(f) => state.app().create_subject(&signed.0.actor, f).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(s) => Ok(Redirect::to(&format!("/console/subjects/{}", s.id)).into_response()),
        Err(e) if e.code == "forbidden" => Err(signed.fail(e)),
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = field_message(&e, lang);
            form_page(&state, &signed, status, &typed, None, Some(msg)).await
        }
    }
}

/// A refusal of the form in words, naming the field.
fn field_message(e: &lantian_app::AppError, lang: &str) -> String {
    let base = i18n::error_message(e, lang);
    let mut parts = vec![base];
    if let Some(f) = &e.field {
        parts.push(f.clone());
    }
    if let Some(n) = &e.note {
        parts.push(n.clone());
    }
    parts.join(" · ")
}

/// `GET /console/subjects/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(signed.lang()))?;
    let s = state
        .app()
        .subject_sheet(&signed.0.actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    if !s.may_edit {
        return Err(PageError::forbidden(signed.lang()));
    }
    let typed = Typed::of(&s.subject);
    form_page(&state, &signed, StatusCode::OK, &typed, Some(id), None).await
}

/// `POST /console/subjects/{id}/edit`: saved if nobody changed it since the form was read.
pub async fn update(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut typed = Typed::from_pairs(pairs);
    signed.check_form(&config, &headers, &typed.csrf)?;
    let lang = signed.lang();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::not_found(lang))?;
    let app = state.app();
    // The kind is the subject's: a form that names another is read as the subject's.
    let current = app
        .subject(&signed.0.actor, id)
        .await
        .map_err(|e| signed.fail(e))?;
    typed.kind = current.attributes.kind().as_str().to_owned();
    let saved = match typed.fields() {
        Ok(f) => {
            app.update_subject(&signed.0.actor, id, Ok(typed.version), f)
                .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/console/subjects/{id}")).into_response()),
        Err(e) if matches!(e.code, "forbidden" | "not_found") && e.field.is_none() => {
            Err(signed.fail(e))
        }
        Err(e) => {
            let status = lantian_http::error::ApiError(e.clone()).status();
            let msg = field_message(&e, lang);
            form_page(&state, &signed, status, &typed, Some(id), Some(msg)).await
        }
    }
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    l: Layout,
    imported: Option<usize>,
    errors: Vec<String>,
    failure: Option<String>,
}

fn import_page(
    signed: &Signed,
    status: StatusCode,
    imported: Option<usize>,
    errors: Vec<String>,
    failure: Option<String>,
) -> Response {
    let page = ImportPage {
        l: signed.layout("ledger", signed.t().import_title),
        imported,
        errors,
        failure,
    };
    (status, render(&page)).into_response()
}

/// `GET /console/subjects/import`.
pub async fn import_form(signed: Signed) -> Response {
    import_page(&signed, StatusCode::OK, None, Vec::new(), None)
}

/// The largest file the import takes (a city's ledger as CSV is a few megabytes).
pub const IMPORT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// `POST /console/subjects/import`: a multipart upload of one file, imported all or nothing.
pub async fn import(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let mut csrf = String::new();
    let mut file: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Ok(import_page(
                    &signed,
                    StatusCode::BAD_REQUEST,
                    None,
                    Vec::new(),
                    Some(e.body_text()),
                ));
            }
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(e) => {
                    return Ok(import_page(
                        &signed,
                        e.status(),
                        None,
                        Vec::new(),
                        Some(e.body_text()),
                    ));
                }
            },
            _ => {}
        }
    }
    signed.check_form(&config, &headers, &csrf)?;
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        let e = lantian_app::AppError::bad_request("file");
        return Ok(import_page(
            &signed,
            StatusCode::BAD_REQUEST,
            None,
            Vec::new(),
            Some(i18n::error_message(&e, lang)),
        ));
    };
    use lantian_app::import::ImportError;
    match state.app().import_subjects(&signed.0.actor, &file).await {
        Ok(n) => Ok(import_page(
            &signed,
            StatusCode::OK,
            Some(n),
            Vec::new(),
            None,
        )),
        Err(ImportError::Rows(rows)) => Ok(import_page(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            rows.iter().map(|r| r.to_string()).collect(),
            None,
        )),
        Err(ImportError::Unreadable(m)) => Ok(import_page(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Vec::new(),
            Some(m),
        )),
        Err(ImportError::Store(e)) if matches!(e.code, "forbidden" | "not_found") => {
            Err(signed.fail(e))
        }
        Err(ImportError::Store(e)) => Ok(import_page(
            &signed,
            lantian_http::error::ApiError(e.clone()).status(),
            None,
            Vec::new(),
            Some(i18n::error_message(&e, lang)),
        )),
    }
}

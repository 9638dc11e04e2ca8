//! The assessment (考评): a month's ranking per peer group with every indicator (its definition
//! one hover away), month over month as a small chart per unit, the official revisions and their
//! diffs, the bulletin's downloads, and the provisional figures computed on demand by assessors.
//! The figures are the bulletin's own (`App::bulletin_document`) for official months, so the page
//! and the circulated document cannot differ.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use lantian_app::assessment::BulletinFormat;
use lantian_domain::assessment::{Bulletin, BulletinGroup, BulletinRow, TrendPoint};
use lantian_domain::policy::Action;
use lantian_http::AppState;
use serde::Deserialize;

use super::Opt;
use crate::web::{Layout, PageError, Signed, render};
use crate::{ConsoleConfig, fmt};

#[derive(Debug, Deserialize, Default)]
pub struct AssessmentQuery {
    month: Option<String>,
    kind: Option<String>,
}

/// One indicator column: its heading and its definition.
struct Column {
    label: &'static str,
    definition: &'static str,
}

struct RowView {
    rank: String,
    unit: String,
    name: String,
    no_data: bool,
    cells: Vec<String>,
}

struct GroupView {
    name: String,
    rows: Vec<RowView>,
}

struct TrendView {
    name: String,
    /// SVG polyline points, in a 160 x 40 box (score 0 at the bottom, 100 at the top).
    points: String,
    /// Months and scores in words, for those who do not see the chart.
    text: String,
    last: String,
}

struct ChangeView {
    unit: String,
    figure: String,
    before: String,
    after: String,
}

struct RevisionView {
    number: u32,
    at: String,
    first: bool,
    changes: Vec<ChangeView>,
    more: usize,
}

#[derive(Template)]
#[template(path = "assessment.html")]
struct AssessmentPage {
    l: Layout,
    month: String,
    months: Vec<Opt>,
    kinds: Vec<Opt>,
    official: bool,
    columns: Vec<Column>,
    groups: Vec<GroupView>,
    summary: Option<RowView>,
    trends: Vec<TrendView>,
    revisions: Vec<RevisionView>,
    downloads: Vec<(String, &'static str)>,
    may_compute: bool,
    compute_url: String,
    empty: Option<&'static str>,
    notice: Option<String>,
}

/// Changes a revision lists on the page (the rest are counted).
const CHANGES_SHOWN: usize = 100;

fn columns(t: &crate::i18n::Tr) -> Vec<Column> {
    vec![
        Column {
            label: t.score,
            definition: t.def_score,
        },
        Column {
            label: t.change_from_last,
            definition: t.def_score,
        },
        Column {
            label: t.ind_compliance,
            definition: t.def_compliance,
        },
        Column {
            label: t.ind_coverage,
            definition: t.def_coverage,
        },
        Column {
            label: t.ind_rectification,
            definition: t.def_rectification,
        },
        Column {
            label: t.ind_on_time,
            definition: t.def_on_time,
        },
        Column {
            label: t.ind_closed,
            definition: t.def_closed,
        },
        Column {
            label: t.ind_rework,
            definition: t.def_rework,
        },
        Column {
            label: t.ind_extension,
            definition: t.def_extension,
        },
        Column {
            label: t.ind_evidence,
            definition: t.def_evidence,
        },
        Column {
            label: t.ind_inspections,
            definition: t.def_inspections,
        },
        Column {
            label: t.ind_orders_due,
            definition: t.def_orders_due,
        },
    ]
}

fn row_view(r: &BulletinRow, no_data_text: &str) -> RowView {
    let cells = if r.no_data {
        vec![no_data_text.to_owned()]
    } else {
        vec![
            fmt::score(r.score),
            fmt::change(r.change),
            fmt::percent(r.compliance),
            fmt::percent(r.coverage),
            fmt::percent(r.rectification),
            fmt::percent(r.on_time),
            fmt::percent(r.closed),
            fmt::percent(r.rework),
            fmt::percent(r.extension),
            fmt::percent(r.evidence_quality),
            r.inspections.to_string(),
            r.orders_due.to_string(),
        ]
    };
    RowView {
        rank: r.rank.map_or("—".to_owned(), |n| n.to_string()),
        unit: r.unit.clone(),
        name: r.name.clone(),
        no_data: r.no_data,
        cells,
    }
}

fn groups_view(groups: &[BulletinGroup], lang: &str, no_data_text: &str) -> Vec<GroupView> {
    groups
        .iter()
        .map(|g| GroupView {
            name: if lang == "en" {
                g.group.clone()
            } else {
                g.name_zh.clone()
            },
            rows: g.rows.iter().map(|r| row_view(r, no_data_text)).collect(),
        })
        .collect()
}

fn trends_view(trend: &[TrendPoint], names: &BTreeMap<String, String>) -> Vec<TrendView> {
    let mut by_unit: BTreeMap<&str, Vec<&TrendPoint>> = BTreeMap::new();
    for p in trend {
        by_unit.entry(p.unit.as_str()).or_default().push(p);
    }
    let months: Vec<&str> = {
        let mut m: Vec<&str> = trend.iter().map(|p| p.month.as_str()).collect();
        m.sort();
        m.dedup();
        m
    };
    let step = if months.len() > 1 {
        150.0 / (months.len() - 1) as f64
    } else {
        0.0
    };
    by_unit
        .into_iter()
        .map(|(unit, points)| {
            let xy: Vec<String> = points
                .iter()
                .map(|p| {
                    let i = months.iter().position(|m| *m == p.month).unwrap_or(0);
                    let x = 5.0 + i as f64 * step;
                    let y = 38.0 - 36.0 * (p.score.clamp(0.0, 100.0) / 100.0);
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            TrendView {
                name: names.get(unit).cloned().unwrap_or_else(|| unit.to_owned()),
                points: xy.join(" "),
                text: points
                    .iter()
                    .map(|p| format!("{} {}", p.month, fmt::score(p.score)))
                    .collect::<Vec<_>>()
                    .join("，"),
                last: points
                    .last()
                    .map(|p| fmt::score(p.score))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The months a picker offers: those of the campaigns, up to this one, newest first.
fn months_of(campaigns: &[lantian_domain::campaign::Campaign], now: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in campaigns {
        let mut m = c.starts_on.format("%Y-%m").to_string();
        let last = c.ends_on.format("%Y-%m").to_string();
        let mut guard = 0;
        while m.as_str() <= last.as_str() && m.as_str() <= now && guard < 240 {
            out.push(m.clone());
            m = next_month(&m);
            guard += 1;
        }
    }
    out.sort();
    out.dedup();
    out.reverse();
    out
}

fn next_month(m: &str) -> String {
    let (y, mm) = m.split_once('-').unwrap_or(("0", "0"));
    let (y, mm): (i32, u32) = (y.parse().unwrap_or(0), mm.parse().unwrap_or(0));
    if mm >= 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", mm + 1)
    }
}

/// `GET /console/assessment`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AssessmentQuery>,
) -> Result<Response, PageError> {
    show(&state, &signed, q, None).await
}

async fn show(
    state: &AppState,
    signed: &Signed,
    q: AssessmentQuery,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let t = signed.t();
    let actor = &signed.0.actor;
    let app = state.app();
    actor
        .may(Action::ReadAssessment, Some(&actor.unit_path))
        .map_err(|e| signed.fail(e))?;
    let now = fmt::month_of(chrono::Utc::now());
    let campaigns = app.campaigns(actor).await.map_err(|e| signed.fail(e))?;
    let months = months_of(&campaigns, &now);
    let official_default = lantian_domain::assessment::previous_month(&now).unwrap_or(now.clone());
    let month = q
        .month
        .filter(|m| lantian_domain::assessment::month_bounds(m).is_some())
        .unwrap_or(official_default);
    let official = q.kind.as_deref() != Some("provisional");
    let no_data = t.no_data;
    let mut page = AssessmentPage {
        l: signed.layout("assessment", format!("{} {month}", t.assessment_title)),
        months: months
            .iter()
            .map(|m| Opt::new(m.clone(), m.clone(), *m == month))
            .collect(),
        kinds: vec![
            Opt::new("official", t.official, official),
            Opt::new("provisional", t.provisional, !official),
        ],
        official,
        columns: columns(t),
        groups: Vec::new(),
        summary: None,
        trends: Vec::new(),
        revisions: Vec::new(),
        downloads: Vec::new(),
        may_compute: actor
            .may(Action::ComputeAssessment, Some(&actor.unit_path))
            .is_ok(),
        compute_url: format!("/console/assessment/{month}/provisional"),
        empty: None,
        notice,
        month: month.clone(),
    };
    if official {
        match app.bulletin_document(actor, month.clone()).await {
            Ok(b) => fill_official(&mut page, &b, lang, no_data),
            Err(e) if e.code == "not_found" => page.empty = Some(t.no_official),
            Err(e) => return Err(signed.fail(e)),
        }
        if page.empty.is_none() {
            let revisions = app
                .assessment_revisions(actor, month.clone())
                .await
                .map_err(|e| signed.fail(e))?;
            page.revisions = revisions
                .iter()
                .rev()
                .map(|r| RevisionView {
                    number: r.revision,
                    at: fmt::time(r.computed_at),
                    first: r.revision == 1,
                    changes: r
                        .diff
                        .iter()
                        .take(CHANGES_SHOWN)
                        .map(|c| ChangeView {
                            unit: c.unit.clone(),
                            figure: c.figure.clone(),
                            before: c.before.to_string(),
                            after: c.after.to_string(),
                        })
                        .collect(),
                    more: r.diff.len().saturating_sub(CHANGES_SHOWN),
                })
                .collect();
            page.downloads = [
                (BulletinFormat::Html, "HTML"),
                (BulletinFormat::Xlsx, "Excel (XLSX)"),
                (BulletinFormat::Csv, "CSV"),
            ]
            .into_iter()
            .map(|(f, label)| {
                (
                    format!("/console/bulletins/{month}.{}", f.extension()),
                    label,
                )
            })
            .collect();
        }
    } else {
        match app
            .assessment(actor, month.clone(), Some("provisional".into()))
            .await
        {
            Ok(r) => {
                let b = lantian_domain::assessment::bulletin(
                    &r.campaign,
                    &r.month,
                    0,
                    &r.audit_head,
                    &r.units,
                    &[],
                );
                page.groups = groups_view(&b.groups, lang, no_data);
                page.summary = b.summary.as_ref().map(|s| row_view(s, no_data));
            }
            Err(e) if e.code == "not_found" => page.empty = Some(t.no_provisional),
            Err(e) => return Err(signed.fail(e)),
        }
    }
    Ok(render(&page).into_response())
}

fn fill_official(page: &mut AssessmentPage, b: &Bulletin, lang: &str, no_data: &str) {
    page.groups = groups_view(&b.groups, lang, no_data);
    page.summary = b.summary.as_ref().map(|s| row_view(s, no_data));
    page.trends = trends_view(&b.trend, &b.unit_names);
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/assessment/{month}/provisional`: the month's provisional figures, now.
pub async fn compute(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    signed: Signed,
    headers: HeaderMap,
    Path(month): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_form(&config, &headers, &f.csrf)?;
    match state
        .app()
        .compute_provisional(&signed.0.actor, month.clone())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/console/assessment?month={month}&kind=provisional"
        ))
        .into_response()),
        Err(e) if e.code == "forbidden" => Err(signed.fail(e)),
        Err(e) => {
            let msg = crate::i18n::error_message(&e, signed.lang());
            let q = AssessmentQuery {
                month: Some(month),
                kind: Some("provisional".into()),
            };
            show(&state, &signed, q, Some(msg)).await
        }
    }
}

/// `GET /console/bulletins/{file}` (`2026-11.xlsx`): the bulletin's download, under the session.
pub async fn download(
    State(state): State<AppState>,
    signed: Signed,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    let lang = signed.lang();
    let (month, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| PageError::not_found(lang))?;
    let format = BulletinFormat::parse(Some(ext)).map_err(|_| PageError::not_found(lang))?;
    if format == BulletinFormat::Json {
        return Err(PageError::not_found(lang));
    }
    let b = state
        .app()
        .bulletin(&signed.0.actor, month.to_owned(), format)
        .await
        .map_err(|e| signed.fail(e))?;
    let mut resp = b.body.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(format.content_type()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let disposition = if format == BulletinFormat::Html {
        "inline"
    } else {
        "attachment"
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{disposition}; filename=\"bulletin-{month}.{}\"",
        format.extension()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if format == BulletinFormat::Html {
        // The bulletin page carries its own stylesheet, allowed by its hash, and nothing else.
        if let Ok(v) = HeaderValue::from_str(&format!(
            "default-src 'none'; style-src {}; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            lantian_app::bulletin::bulletin_style_source()
        )) {
            h.insert("content-security-policy", v);
        }
    }
    Ok(resp)
}

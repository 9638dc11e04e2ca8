//! Exports (GeoJSON of subjects and inspections, read page by page so a city's data never sits in
//! memory whole) and coverage: how often each subject was inspected in a month, by unit.

use chrono::{DateTime, Utc};
use lantian_domain::geo::VerdictLevel;
use lantian_domain::policy::{Action, grants};
use lantian_domain::subject::{Subject, SubjectKind};
use lantian_store::geo::{self, ExportedInspection, InspectionFilter, UnitCoverage};
use lantian_store::subjects::{self, SubjectFilter};

use crate::{Actor, App, AppError};

/// Rows read per page of an export.
pub const PAGE: usize = 500;

/// `YYYY-MM` as a UTC range of that month in China Standard Time.
pub fn month_range(m: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    lantian_domain::assessment::month_bounds(m)
        .ok_or_else(|| AppError::bad_request("month").note("YYYY-MM"))
}

/// An export of subjects the caller may read, ready to be read page by page.
#[derive(Clone)]
pub struct SubjectExport {
    app: App,
    within: Vec<String>,
    kind: Option<SubjectKind>,
}

impl SubjectExport {
    /// The subjects after internal id `after`, and the id to continue from.
    pub async fn page(&self, after: i64) -> Result<(Vec<Subject>, Option<i64>), AppError> {
        let filter = SubjectFilter {
            attribute: None,
            within: self.within.clone(),
            kind: self.kind,
            text: None,
            after: Some(after),
            limit: PAGE as u32,
        };
        let page = self
            .app
            .store()
            .read(move |c| subjects::list(c, &filter))
            .await?;
        Ok((page.items, page.next))
    }
}

/// An export of inspections the caller may read, ready to be read page by page.
#[derive(Clone)]
pub struct InspectionExport {
    app: App,
    filter: InspectionFilter,
}

impl InspectionExport {
    /// The inspections after internal id `after`, and the id to continue from.
    pub async fn page(
        &self,
        after: i64,
    ) -> Result<(Vec<ExportedInspection>, Option<i64>), AppError> {
        let filter = self.filter.clone();
        Ok(self
            .app
            .store()
            .read(move |c| geo::export_inspections(c, &filter, after, PAGE))
            .await?)
    }
}

impl App {
    /// The caller's subjects (or a unit's within the subtree), optionally of one kind.
    pub async fn export_subjects(
        &self,
        actor: &Actor,
        unit: Option<String>,
        kind: Option<String>,
    ) -> Result<SubjectExport, AppError> {
        let within = self.unit_scope(actor, unit, Action::ReadSubject).await?;
        Ok(SubjectExport {
            app: self.clone(),
            within,
            kind: crate::parse_kind(kind.as_deref())?,
        })
    }

    /// Inspections with their verdicts: officers export their own, those who oversee
    /// inspections their subtree's.
    pub async fn export_inspections(
        &self,
        actor: &Actor,
        unit: Option<String>,
        kind: Option<String>,
        month: Option<String>,
        verdict: Option<String>,
    ) -> Result<InspectionExport, AppError> {
        let within = self.unit_scope(actor, unit, Action::ReadSubject).await?;
        let author = if grants(actor.role, Action::ReadInspection) {
            None
        } else if grants(actor.role, Action::SubmitInspection) {
            Some(actor.id)
        } else {
            return Err(AppError::forbidden());
        };
        if verdict
            .as_deref()
            .is_some_and(|v| VerdictLevel::parse(v).is_none())
        {
            return Err(AppError::bad_request("verdict").note("ok, doubtful or implausible"));
        }
        let (from, to) = match month.as_deref() {
            Some(m) => {
                let (a, b) = month_range(m)?;
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        Ok(InspectionExport {
            app: self.clone(),
            filter: InspectionFilter {
                within,
                author,
                kind: crate::parse_kind(kind.as_deref())?,
                from,
                to,
                verdict,
            },
        })
    }

    /// Up to `max` inspections of `month` the caller may read (the map of a month's work), and
    /// whether there were more.
    pub async fn month_inspections(
        &self,
        actor: &Actor,
        month: &str,
        max: usize,
    ) -> Result<(Vec<ExportedInspection>, bool), AppError> {
        let export = self
            .export_inspections(actor, None, None, Some(month.to_owned()), None)
            .await?;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let (items, next) = export.page(after).await?;
            out.extend(items);
            match next {
                Some(n) if out.len() < max => after = n,
                Some(_) => break,
                None => {
                    out.truncate(max);
                    return Ok((out, false));
                }
            }
        }
        let more = out.len() >= max;
        out.truncate(max);
        Ok((out, more))
    }

    /// Per unit of the subtree, how many subjects were inspected how often in `month` (with every
    /// subject's count when `detail`).
    pub async fn coverage(
        &self,
        actor: &Actor,
        unit: Option<String>,
        month: &str,
        detail: bool,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>, Vec<UnitCoverage>), AppError> {
        let within = self.unit_scope(actor, unit, Action::ReadInspection).await?;
        let (from, to) = month_range(month)?;
        let mut units = self
            .store()
            .read(move |c| geo::coverage(c, &within, from, to))
            .await?;
        if !detail {
            for u in &mut units {
                u.by_subject.clear();
            }
        }
        Ok((from, to, units))
    }
}

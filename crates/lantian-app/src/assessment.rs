//! The monthly assessment (考评): rolling a month up (`rollup`: snapshot in one read transaction,
//! pure computation off the async threads, one write that publishes or leaves the revision, and a
//! record of the run; `lantian rollup` and the scheduler both come here), the figures as people
//! read them, the bulletin (考评通报), and pollution alerts.

use chrono::Utc;
use lantian_domain::assessment::{self, Alert, Rollup, UnitResult, month_bounds};
use lantian_domain::campaign::Campaign;
use lantian_domain::policy::Action;
use lantian_protocol::review::DeclareAlert;
use lantian_store::Store;
use lantian_store::assessment as store_assessment;
use lantian_store::assessment as stored;
use serde::Serialize;
use uuid::Uuid;

use crate::{Actor, App, AppError};

/// Formats of the bulletin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulletinFormat {
    Json,
    Csv,
    Xlsx,
    Html,
}

impl BulletinFormat {
    /// `json` (default when `None`), `csv`, `xlsx` or `html`; else `bad_request` on `format`.
    pub fn parse(s: Option<&str>) -> Result<BulletinFormat, AppError> {
        Ok(match s.unwrap_or("json") {
            "json" => BulletinFormat::Json,
            "csv" => BulletinFormat::Csv,
            "xlsx" => BulletinFormat::Xlsx,
            "html" => BulletinFormat::Html,
            _ => {
                return Err(AppError::bad_request("format").note("json, csv, xlsx or html"));
            }
        })
    }
    pub fn extension(self) -> &'static str {
        match self {
            BulletinFormat::Json => "json",
            BulletinFormat::Csv => "csv",
            BulletinFormat::Xlsx => "xlsx",
            BulletinFormat::Html => "html",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            BulletinFormat::Json => "application/json",
            BulletinFormat::Csv => "text/csv; charset=utf-8",
            BulletinFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            BulletinFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// A rendered bulletin.
#[derive(Debug, Clone)]
pub struct RenderedBulletin {
    pub format: BulletinFormat,
    pub body: Vec<u8>,
}

impl App {
    /// The month's figures (`official`, the latest revision, or `provisional`), sorted by unit
    /// code: every unit's official figures (they are circulated to every unit), the provisional
    /// ones of the caller's subtree only (`policy::official_figures_circulate`).
    pub async fn assessment(
        &self,
        actor: &Actor,
        month: String,
        kind: Option<String>,
    ) -> Result<Rollup, AppError> {
        actor.may(Action::ReadAssessment, Some(&actor.unit_path))?;
        let kind = kind.unwrap_or_else(|| "official".into());
        if !matches!(kind.as_str(), "official" | "provisional") {
            return Err(AppError::bad_request("kind"));
        }
        if month_bounds(&month).is_none() {
            return Err(AppError::not_found());
        }
        let mine = actor.unit_path.clone();
        let (mut r, units) = self
            .store()
            .read(move |c| {
                let Some(campaign) = stored::campaign_for_month(c, &month)? else {
                    return Ok(None);
                };
                let units = lantian_store::org::units_in_subtree(c, &mine)?;
                Ok(stored::latest(c, &campaign.code, &month, &kind)?.map(|r| (r, units)))
            })
            .await?
            .ok_or_else(AppError::not_found)?;
        if !lantian_domain::policy::official_figures_circulate(r.kind == "official") {
            let visible: std::collections::HashSet<String> =
                units.into_iter().map(|u| u.code).collect();
            r.units.retain(|u| visible.contains(&u.unit));
            r.diff.retain(|d| visible.contains(&d.unit));
        }
        r.units.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(r)
    }

    /// The month's bulletin (考评通报) from its latest official revision, as a document: every
    /// unit's rows and lists, to anyone who may read the assessment (official figures are
    /// circulated to every unit).
    pub async fn bulletin_document(
        &self,
        actor: &Actor,
        month: String,
    ) -> Result<assessment::Bulletin, AppError> {
        actor.may(Action::ReadAssessment, Some(&actor.unit_path))?;
        if month_bounds(&month).is_none() {
            return Err(AppError::not_found());
        }
        crate::operator::official_bulletin(self.store(), &month, &self.config().bulletin)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// Every official revision of the month, the first first, with what changed each time.
    pub async fn assessment_revisions(
        &self,
        actor: &Actor,
        month: String,
    ) -> Result<Vec<Rollup>, AppError> {
        actor.may(Action::ReadAssessment, Some(&actor.unit_path))?;
        if month_bounds(&month).is_none() {
            return Err(AppError::not_found());
        }
        Ok(self
            .store()
            .read(move |c| match stored::campaign_for_month(c, &month)? {
                Some(campaign) => stored::revisions(c, &campaign.code, &month),
                None => Ok(Vec::new()),
            })
            .await?)
    }

    /// The month's bulletin rendered in `format` ([`App::bulletin_document`]).
    pub async fn bulletin(
        &self,
        actor: &Actor,
        month: String,
        format: BulletinFormat,
    ) -> Result<RenderedBulletin, AppError> {
        let b = self.bulletin_document(actor, month).await?;
        let fail = |e: String| {
            tracing::error!(error = %e, "bulletin rendering failed");
            AppError::internal()
        };
        let body = match format {
            BulletinFormat::Csv => crate::bulletin::to_csv(&b).map_err(|e| fail(e.to_string()))?,
            BulletinFormat::Xlsx => {
                crate::bulletin::to_xlsx(&b).map_err(|e| fail(e.to_string()))?
            }
            BulletinFormat::Html => crate::bulletin::to_html(&b).into_bytes(),
            BulletinFormat::Json => serde_json::to_vec(&b).map_err(|e| fail(e.to_string()))?,
        };
        Ok(RenderedBulletin { format, body })
    }

    /// Whether `actor` may declare (or lift) an alert over every one of `units`: each must exist
    /// and lie in the caller's subtree.
    async fn may_declare_over(&self, actor: &Actor, units: &[String]) -> Result<(), AppError> {
        let codes = units.to_vec();
        let paths = self
            .store()
            .read(move |s| {
                codes
                    .iter()
                    .map(|c| Ok(lantian_store::org::unit_by_code(s, c)?.map(|u| u.unit.path)))
                    .collect::<Result<Vec<_>, lantian_store::StoreError>>()
            })
            .await?;
        for path in paths {
            actor.may(
                Action::DeclareAlert,
                Some(&path.ok_or_else(AppError::not_found)?),
            )?;
        }
        Ok(())
    }

    /// An admin declares a pollution alert over units of its subtree; it syncs to every phone.
    pub async fn declare_alert(&self, actor: &Actor, a: DeclareAlert) -> Result<Alert, AppError> {
        actor.may(Action::DeclareAlert, Some(&actor.unit_path))?;
        let note = Alert::check(&a.level, &a.units, a.starts_at, a.ends_at, a.note)?;
        self.may_declare_over(actor, &a.units).await?;
        let alert = Alert {
            id: Uuid::now_v7(),
            level: a.level,
            units: a.units,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            note,
            declared_by: actor.uuid.to_string(),
            declared_at: Utc::now(),
            ended_early_at: None,
        };
        // Answered as stored (times at the store's millisecond precision), as every read shows it.
        let id = alert.id;
        Ok(self
            .store()
            .write(move |c| {
                stored::declare_alert(c, &alert)?;
                stored::alert(c, id)?.ok_or(lantian_store::StoreError::NotFound)
            })
            .await?)
    }

    /// Lifts an alert before its declared end (from `at`, default now), by whoever may declare
    /// over all its units: an appended event, synced to every phone.
    pub async fn end_alert(
        &self,
        actor: &Actor,
        id: Uuid,
        at: Option<chrono::DateTime<Utc>>,
    ) -> Result<Alert, AppError> {
        actor.may(Action::DeclareAlert, Some(&actor.unit_path))?;
        let a = self
            .store()
            .read(move |c| stored::alert(c, id))
            .await?
            .ok_or_else(AppError::not_found)?;
        self.may_declare_over(actor, &a.units).await?;
        let who = actor.uuid.to_string();
        Ok(self
            .store()
            .write(move |c| {
                // Decided on the alert as the writer reads it: a concurrent lift wins once.
                let current = stored::alert(c, id)?.ok_or(lantian_store::StoreError::NotFound)?;
                let at = current.end_early(at, Utc::now())?;
                stored::end_alert(c, id, at, &who)
            })
            .await?)
    }

    /// Computes the month's provisional figures now (an assessor who will not wait for the
    /// night's run). The figures are the whole deployment's, as the nightly run's are; each reader
    /// still sees only their subtree's ([`App::assessment`]). A month not begun, or no campaign's,
    /// is refused.
    pub async fn compute_provisional(
        &self,
        actor: &Actor,
        month: String,
    ) -> Result<RollupReport, AppError> {
        actor.may(Action::ComputeAssessment, Some(&actor.unit_path))?;
        let (from, _) = month_bounds(&month).ok_or_else(AppError::not_found)?;
        if from > Utc::now() {
            return Err(AppError::new("conflict")
                .detail("month_not_begun")
                .note("a month that has not begun has no figures"));
        }
        let mut r = rollup(self.store(), &month, false).await?;
        let mine = actor.unit_path.clone();
        let visible: std::collections::HashSet<String> = self
            .store()
            .read(move |c| lantian_store::org::units_in_subtree(c, &mine))
            .await?
            .into_iter()
            .map(|u| u.code)
            .collect();
        r.units.retain(|u| visible.contains(&u.unit));
        Ok(r)
    }

    /// Every declared alert, newest first.
    pub async fn alerts(&self, actor: &Actor) -> Result<Vec<Alert>, AppError> {
        actor.may(Action::ReadCampaign, None)?;
        Ok(self.store().read(stored::alerts).await?)
    }
}

/// What a rollup run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RollupReport {
    pub campaign: String,
    pub month: String,
    pub official: bool,
    /// The official revision now published (0 for provisional figures).
    pub revision: u32,
    /// A new official revision was published by this run.
    pub new_revision: bool,
    pub changes: usize,
    pub units: Vec<UnitResult>,
}

/// Rolls up a month: computes `month` and publishes it as official (a new revision only if a figure changed) or
/// stores it as the provisional figures. Idempotent: running it again with the same data changes
/// nothing. A run killed midway leaves nothing (the result is written in one transaction).
/// The refusal to assess a month no campaign's period covers: it is not filed under another.
pub fn no_campaign(month: &str) -> AppError {
    AppError::not_found().detail("no_campaign").note(format!(
        "no campaign covers {month}: create one (POST /v1/campaigns, or `lantian campaign add`) before assessing it"
    ))
}

pub async fn rollup(store: &Store, month: &str, official: bool) -> Result<RollupReport, AppError> {
    rollup_at(store, month, official, None).await
}

/// A write now, or recorded as of `at` (the demo's history publishes its past months' figures
/// when they would have been published).
async fn write_when<T, F>(
    store: &Store,
    at: Option<chrono::DateTime<chrono::Utc>>,
    f: F,
) -> Result<T, lantian_store::StoreError>
where
    F: FnOnce(&lantian_store::Tx) -> Result<T, lantian_store::StoreError> + Send + 'static,
    T: Send + 'static,
{
    match at {
        None => store.write(f).await,
        Some(t) => store.write_at(t, f).await,
    }
}

/// [`rollup`], recorded as of `at` when given.
pub async fn rollup_at(
    store: &Store,
    month: &str,
    official: bool,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<RollupReport, AppError> {
    let (from, to) = assessment::month_bounds(month)
        .ok_or_else(|| AppError::bad_request("month").note("YYYY-MM"))?;
    let m = month.to_owned();
    let campaign = store
        .read(move |c| store_assessment::campaign_for_month(c, &m))
        .await?
        .ok_or_else(|| no_campaign(month))?;
    let job = if official {
        "rollup.official"
    } else {
        "rollup.provisional"
    };
    let key = format!("{}/{month}", campaign.code);
    let (j, k) = (job.to_owned(), key.clone());
    let run_id = write_when(store, at, move |c| store_assessment::job_started(c, &j, &k)).await?;
    let outcome = compute_and_store(store, &campaign, month, from, to, official, at).await;
    let (text, detail) = match &outcome {
        Ok(r) => (
            "ok",
            format!("revision {} ({} changes)", r.revision, r.changes),
        ),
        Err(e) => ("failed", e.to_string()),
    };
    write_when(store, at, move |c| {
        store_assessment::job_ended(c, run_id, text, &detail)
    })
    .await?;
    outcome
}

async fn compute_and_store(
    store: &Store,
    campaign: &Campaign,
    month: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    official: bool,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<RollupReport, AppError> {
    let snapshot = store
        .read(move |c| store_assessment::snapshot(c, from, to))
        .await?;
    let code = campaign.code.clone();
    let previous = match assessment::previous_month(month) {
        Some(p) => {
            let code = code.clone();
            store
                .read(move |c| store_assessment::latest(c, &code, &p, "official"))
                .await?
        }
        None => None,
    };
    let (weights, rules) = (campaign.weights, campaign.assessment.clone());
    let units = tokio::task::spawn_blocking(move || {
        assessment::rollup(
            &snapshot,
            &weights,
            &rules,
            previous.as_ref().map(|p| p.units.as_slice()),
        )
    })
    .await
    .map_err(|_| AppError::internal())?;
    let (m, u) = (month.to_owned(), units.clone());
    let (revision, new_revision, changes) = if official {
        let s = write_when(store, at, move |c| {
            let head = store_assessment::audit_head(c)?;
            store_assessment::publish_official(c, &code, &m, &u, &head)
        })
        .await?;
        (s.revision, s.new_revision, s.changes)
    } else {
        write_when(store, at, move |c| {
            let head = store_assessment::audit_head(c)?;
            store_assessment::store_provisional(c, &code, &m, &u, &head)
        })
        .await?;
        (0, false, 0)
    };
    Ok(RollupReport {
        campaign: campaign.code.clone(),
        month: month.to_owned(),
        official,
        revision,
        new_revision,
        changes,
        units,
    })
}

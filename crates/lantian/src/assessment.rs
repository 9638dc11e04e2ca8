//! Running a month's assessment: snapshot (one read transaction), pure computation off the async
//! threads, one write that publishes (or leaves unchanged) the revision, and a record of the run.
//! `lantian rollup --month 2019-11` and the scheduler both come here.

use anyhow::Context;
use lantian_domain::assessment::{self, UnitResult};
use lantian_domain::campaign::Campaign;
use lantian_store::Store;
use lantian_store::assessment as store_assessment;
use serde::Serialize;

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

/// Computes `month` and publishes it as official (a new revision only if a figure changed) or
/// stores it as the provisional figures. Idempotent: running it again with the same data changes
/// nothing. A run killed midway leaves nothing (the result is written in one transaction).
pub async fn run(store: &Store, month: &str, official: bool) -> anyhow::Result<RollupReport> {
    let (from, to) = assessment::month_bounds(month).context("a month is YYYY-MM")?;
    let m = month.to_owned();
    let campaign = store
        .read(move |c| store_assessment::campaign_for_month(c, &m))
        .await?
        .context("no campaign is loaded")?;
    let job = if official {
        "rollup.official"
    } else {
        "rollup.provisional"
    };
    let key = format!("{}/{month}", campaign.code);
    let (j, k) = (job.to_owned(), key.clone());
    let run_id = store
        .write(move |c| store_assessment::job_started(c, &j, &k))
        .await?;
    let outcome = compute_and_store(store, &campaign, month, from, to, official).await;
    let (text, detail) = match &outcome {
        Ok(r) => (
            "ok",
            format!("revision {} ({} changes)", r.revision, r.changes),
        ),
        Err(e) => ("failed", e.to_string()),
    };
    store
        .write(move |c| store_assessment::job_ended(c, run_id, text, &detail))
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
) -> anyhow::Result<RollupReport> {
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
    .await?;
    let (m, u) = (month.to_owned(), units.clone());
    let (revision, new_revision, changes) = if official {
        let s = store
            .write(move |c| {
                let head = store_assessment::audit_head(c)?;
                store_assessment::publish_official(c, &code, &m, &u, &head)
            })
            .await?;
        (s.revision, s.new_revision, s.changes)
    } else {
        store
            .write(move |c| {
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

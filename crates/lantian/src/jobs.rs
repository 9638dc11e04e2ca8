//! Every background job of the server, started from here and nowhere else.
//!
//! - Scheduled (Asia/Shanghai): the nightly provisional rollup of the current month, the official
//!   rollup of the previous month after the grace period, and the nightly backup. Every run is
//!   recorded (`job_runs`: start, end, outcome) and idempotent; on start, a run that fell due while
//!   the server was down is made once (`catch_up`).
//! - Continuous ([`start_background`]): photo renditions, the expiry of abandoned uploads, and the
//!   oversight sweep (overdue orders, deferrals resumed, the audit chain's month heads), and the
//!   webhook sender (`crate::webhooks`). Their work
//!   is `lantian_app`'s; this module only runs it on its timers.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrono_tz::Asia::Shanghai;
use lantian_app::operator;
use lantian_store::Store;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::Config;

/// When each job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The official rollup of a month runs on this day of the next month...
    pub official_day: u32,
    /// ...at this hour.
    pub official_hour: u32,
    pub provisional_hour: u32,
    pub backup_hour: u32,
    pub backups_keep: usize,
}

/// Whether the official figures of `month` may be published at `now`: its grace period for
/// offline phones has passed (`official_month_due`). Months compare as `YYYY-MM` text.
pub fn grace_passed(month: &str, now: DateTime<Utc>, s: &Schedule) -> bool {
    month <= official_month_due(now, s).as_str()
}

/// The month whose official rollup is due by `now`: the previous month once its grace period
/// (day `official_day`, `official_hour` o'clock) has passed, else the one before.
pub fn official_month_due(now: DateTime<Utc>, s: &Schedule) -> String {
    let local = now.with_timezone(&Shanghai);
    let passed = (local.day(), local.hour()) >= (s.official_day, s.official_hour);
    let back = if passed { 1 } else { 2 };
    let (mut y, mut m) = (local.year(), local.month() as i32 - back);
    while m < 1 {
        m += 12;
        y -= 1;
    }
    format!("{y:04}-{m:02}")
}

fn month_of(now: DateTime<Utc>) -> String {
    now.with_timezone(&Shanghai).format("%Y-%m").to_string()
}

fn day_key(now: DateTime<Utc>, hour: u32) -> String {
    // The day whose run at `hour` is the latest one due by `now`.
    let local = now.with_timezone(&Shanghai);
    let day = if local.hour() >= hour {
        local.date_naive()
    } else {
        local.date_naive() - Duration::days(1)
    };
    day.to_string()
}

async fn campaign_key(store: &Store, month: &str) -> anyhow::Result<String> {
    Ok(operator::campaign_for_month(store, month)
        .await?
        .map(|c| format!("{}/{month}", c.code))
        .unwrap_or_default())
}

async fn done(store: &Store, job: &'static str, key: String) -> anyhow::Result<bool> {
    Ok(operator::jobs::done(store, job, &key).await?)
}

/// Runs what fell due by `now` and has no successful run recorded: the official rollup of the month
/// whose grace period passed, today's provisional rollup, today's backup, then today's check of the
/// photo originals. Returns the jobs run.
///
/// One node at a time, across every node of a deployment: it first takes the scheduled jobs' lock
/// in the database, waiting while another node holds it. A node that waited finds what the other
/// ran recorded and runs only the rest; one killed mid-run lets a waiting node take over.
pub async fn catch_up(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
    s: &Schedule,
) -> anyhow::Result<Vec<String>> {
    let _one_node = store
        .job_lock(SCHEDULED_JOBS, std::time::Duration::from_secs(2))
        .await?;
    catch_up_here(config, store, now, s).await
}

/// The lock the scheduled jobs run under.
pub const SCHEDULED_JOBS: &str = "scheduled";

async fn catch_up_here(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
    s: &Schedule,
) -> anyhow::Result<Vec<String>> {
    let mut ran = Vec::new();
    // One job failing (a rollup refused, a disk full) does not keep the others from running: the
    // backup must not wait on the assessment. Failures are recorded in `job_runs` and reported
    // together at the end.
    let mut failed = Vec::new();
    // The scheduled official run is recorded apart from any other official run of the month: a
    // revision published by hand before the grace period ended (`lantian rollup --force`) does not
    // stand in for the run after it, which takes in what offline phones synced since. A month no
    // campaign covers is not assessed.
    let official = official_month_due(now, s);
    let key = campaign_key(store, &official).await?;
    if !key.is_empty() && !done(store, "rollup.official.scheduled", key.clone()).await? {
        let run = recorded(store, "rollup.official.scheduled", &key, || async {
            scheduled_rollup(config, store, &official, true).await?;
            Ok(format!("month {official}"))
        })
        .await;
        note(
            &mut ran,
            &mut failed,
            format!("rollup.official {official}"),
            run,
        );
    }
    let today = day_key(now, s.provisional_hour);
    let covered = !campaign_key(store, &month_of(now)).await?.is_empty();
    if covered && !done(store, "rollup.provisional.night", today.clone()).await? {
        let run = nightly_provisional(config, store, now, &today).await;
        note(
            &mut ran,
            &mut failed,
            format!("rollup.provisional {today}"),
            run,
        );
    }
    let backup_day = day_key(now, s.backup_hour);
    // On PostgreSQL the database's own tools back the records up (docs/scale-out.md).
    if config.database_url.is_none() && !done(store, "backup", backup_day.clone()).await? {
        let run = nightly_backup(config, store, &backup_day, s.backups_keep).await;
        note(&mut ran, &mut failed, format!("backup {backup_day}"), run);
    }
    if !done(store, "photos.verify", backup_day.clone()).await? {
        let run = nightly_photo_check(config, store, &backup_day).await;
        note(
            &mut ran,
            &mut failed,
            format!("photos.verify {backup_day}"),
            run,
        );
    }
    if !failed.is_empty() {
        anyhow::bail!("{} (ran: {})", failed.join("; "), ran.join(", "));
    }
    Ok(ran)
}

/// Adds a job's outcome to the runs made, or to the failures.
fn note(ran: &mut Vec<String>, failed: &mut Vec<String>, what: String, run: anyhow::Result<()>) {
    match run {
        Ok(()) => ran.push(what),
        Err(e) => failed.push(format!("{what} failed: {e}")),
    }
}

/// Records a run of `job` for `key` around `f`.
async fn recorded<F, Fut>(store: &Store, job: &'static str, key: &str, f: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let id = operator::jobs::started(store, job, key).await?;
    let out = f().await;
    let (outcome, detail) = match &out {
        Ok(d) => ("ok", d.clone()),
        Err(e) => ("failed", e.to_string()),
    };
    operator::jobs::ended(store, id, outcome, &detail).await?;
    out.map(|_| ())
}

async fn nightly_provisional(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
    day: &str,
) -> anyhow::Result<()> {
    let month = month_of(now);
    recorded(store, "rollup.provisional.night", day, || async {
        scheduled_rollup(config, store, &month, false).await?;
        Ok(format!("month {month}"))
    })
    .await
}

/// Runs a rollup for the scheduler. From the server binary it runs as a child `lantian rollup`
/// process at the lowest CPU priority (`nice -n 19`; the database is shared through WAL), so sync
/// requests keep the CPU while a month is computed. Anywhere else (tests, tools), or without `nice`,
/// it runs in this process. Either way the run records itself in `job_runs`.
async fn scheduled_rollup(
    config: &Config,
    store: &Store,
    month: &str,
    official: bool,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.file_stem().is_some_and(|s| s == "lantian"));
    if let Some(exe) = exe {
        let mut cmd = tokio::process::Command::new("nice");
        cmd.args(["-n", "19"])
            .arg(exe)
            .arg("--data-dir")
            .arg(&config.data_dir)
            .args(["rollup", "--month", month])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // The same database (by the environment: a password on a command line is visible to
        // every user of the machine).
        match &config.database_url {
            Some(url) => cmd.env("LANTIAN_DATABASE_URL", &url.0),
            None => cmd.env_remove("LANTIAN_DATABASE_URL"),
        };
        if official {
            // The schedule decided the month is due; the process need not judge it again.
            cmd.arg("--force");
        } else {
            cmd.arg("--provisional");
        }
        match cmd.output().await {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => anyhow::bail!(
                "the rollup process failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            // No `nice` here: compute in this process.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    crate::assessment::run(store, month, official)
        .await
        .map(|_| ())
}

async fn nightly_backup(
    config: &Config,
    store: &Store,
    day: &str,
    keep: usize,
) -> anyhow::Result<()> {
    recorded(store, "backup", day, || async {
        let p = crate::backup::run(config, store, keep).await?;
        Ok(p.display().to_string())
    })
    .await
}

/// After the backup: every photo original's presence and length, and a rolling slice of them
/// hashed against its record, so that each is hashed within `photos.verify_cycle_days` runs.
/// Missing or altered files make the run fail, with each one named in `job_runs` and the log; the
/// next catch-up checks again.
async fn nightly_photo_check(config: &Config, store: &Store, day: &str) -> anyhow::Result<()> {
    recorded(store, "photos.verify", day, || async {
        let slice = crate::audit::PhotoSlice::Rolling {
            cycle: config.photos.verify_cycle_days.max(1),
        };
        let p = crate::audit::verify_photo_files(config, store, slice).await?;
        let text = crate::audit::describe_photo_files(&p);
        if p.findings.is_empty() {
            Ok(text)
        } else {
            tracing::error!(findings = p.findings.len(), "{text}");
            Err(anyhow::anyhow!(text))
        }
    })
    .await
}

/// Starts the scheduler and, in the background, the catch-up, once `after` resolves (or is
/// dropped): the demo's history is laid down first, so that the catch-up finds its months and does
/// not publish them empty. The scheduler lives as long as the returned handle.
pub async fn start(
    config: &Config,
    store: &Store,
    s: Schedule,
    after: Option<tokio::sync::oneshot::Receiver<()>>,
) -> anyhow::Result<JobScheduler> {
    // In the background: the server answers at once, and what fell due while it was down runs now.
    {
        let (config, store) = (config.clone(), store.clone());
        tokio::spawn(async move {
            if let Some(gate) = after {
                let _ = gate.await;
            }
            match catch_up(&config, &store, Utc::now(), &s).await {
                Ok(ran) if !ran.is_empty() => tracing::info!(?ran, "jobs caught up on start"),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "catching up jobs failed; the schedule retries")
                }
            }
        });
    }
    let sched = JobScheduler::new().await?;
    let at = |h: u32| format!("0 0 {h} * * *");
    let jobs: [(String, &'static str); 3] = [
        (at(s.provisional_hour), "provisional"),
        (
            format!("0 0 {} {} * *", s.official_hour, s.official_day),
            "official",
        ),
        (at(s.backup_hour), "backup"),
    ];
    for (cron, which) in jobs {
        let (config, store) = (config.clone(), store.clone());
        let job = Job::new_async_tz(cron.as_str(), Shanghai, move |_id, _lock| {
            let (config, store) = (config.clone(), store.clone());
            Box::pin(async move {
                // The catch-up knows what is due and skips what already ran: one code path.
                let now = Utc::now();
                let r = match which {
                    "official" | "provisional" | "backup" => {
                        catch_up(&config, &store, now, &s).await
                    }
                    _ => Ok(Vec::new()),
                };
                match r {
                    Ok(ran) => tracing::info!(job = which, ?ran, "scheduled job"),
                    Err(e) => tracing::error!(job = which, error = %e, "scheduled job failed"),
                }
            })
        })?;
        sched.add(job).await?;
    }
    sched.start().await?;
    Ok(sched)
}

/// A time in Asia/Shanghai, for tests and tools.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32) -> Option<DateTime<Utc>> {
    Shanghai
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Starts the continuous jobs: renditions (woken by each verified photo), the upload expiry every
/// `uploads_every`, the oversight sweep every `oversight_every`, and the webhook sender. Call
/// once, in the runtime.
pub fn start_background(
    app: &lantian_app::App,
    uploads_every: std::time::Duration,
    oversight_every: std::time::Duration,
    webhooks: crate::config::WebhookSettings,
) {
    tokio::spawn(crate::webhooks::sender(app.clone(), webhooks));
    let media = std::sync::Arc::clone(app.media());
    tokio::spawn(media.rendition_job(app.store().clone()));
    let media = std::sync::Arc::clone(app.media());
    tokio::spawn(media.expiry_job(app.store().clone(), uploads_every));
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(oversight_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // One node sweeps at a time; the others' ticks find the lock held and skip.
            let _one_node = match app.store().try_job_lock("sweep.oversight").await {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "oversight sweep: cannot take its lock");
                    continue;
                }
            };
            let now = Utc::now();
            match app.sweep_orders(now).await {
                Ok(marked) if !marked.is_empty() => {
                    tracing::info!(count = marked.len(), "rectification orders overdue")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "overdue sweep failed"),
            }
            if let Err(e) = app.record_month_heads(now).await {
                tracing::warn!(error = %e, "recording audit heads failed");
            }
            match app.forget_ended_sessions(now).await {
                Ok(n) if n > 0 => tracing::debug!(count = n, "ended console sessions forgotten"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "forgetting ended sessions failed"),
            }
            // Login counters of windows that ended (kept in the database by nodes that share one).
            if app.store().engine() == lantian_store::Engine::Postgres
                && let Err(e) = app
                    .store()
                    .write(move |c| lantian_store::identity::prune_attempts(c, now))
                    .await
            {
                tracing::warn!(error = %e, "pruning login counters failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Schedule = Schedule {
        official_day: 3,
        official_hour: 2,
        provisional_hour: 1,
        backup_hour: 3,
        backups_keep: 7,
    };

    #[test]
    fn the_official_month_is_due_after_the_grace_period() {
        let t = |d, h| shanghai(2019, 12, d, h).expect("time");
        assert_eq!(official_month_due(t(3, 1), &S), "2019-10");
        assert_eq!(official_month_due(t(3, 2), &S), "2019-11");
        assert_eq!(official_month_due(t(31, 23), &S), "2019-11");
        let jan = shanghai(2020, 1, 2, 0).expect("time");
        assert_eq!(official_month_due(jan, &S), "2019-11");
        let jan = shanghai(2020, 1, 3, 2).expect("time");
        assert_eq!(official_month_due(jan, &S), "2019-12");
    }

    #[test]
    fn a_nightly_run_belongs_to_the_day_whose_hour_has_passed() {
        assert_eq!(
            day_key(shanghai(2019, 12, 5, 0).expect("t"), 1),
            "2019-12-04"
        );
        assert_eq!(
            day_key(shanghai(2019, 12, 5, 1).expect("t"), 1),
            "2019-12-05"
        );
    }
}

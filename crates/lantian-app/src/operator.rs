//! Operations an operator runs on the server's machine, from the command line or the scheduler,
//! with no signed-in caller: they are audited as `cli`. Each is one named operation as the rest of
//! the layer is; the `lantian` binary only parses arguments and prints.

use std::collections::BTreeMap;

use lantian_domain::campaign::Campaign;
use lantian_domain::user::{Role, check_new_account};
use lantian_store::assessment as stored;
use lantian_store::audit::{self, Verification};
use lantian_store::identity::{self, NewUser, UserRecord};
use lantian_store::{Store, seal};

use crate::AppError;

/// Who the audit log names for operator actions.
pub const OPERATOR: &str = "cli";

/// An account as an operator creates it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The code of the user's unit.
    pub unit: String,
    pub password: String,
}

/// Creates a user with an argon2id hash of the password (`lantian user add`). The name and
/// password rules are the domain's; an unknown unit or a taken name is a conflict.
pub async fn add_user(store: &Store, account: NewAccount) -> Result<UserRecord, AppError> {
    check_new_account(&account.username, &account.password)?;
    let pw = account.password;
    let password_hash = tokio::task::spawn_blocking(move || crate::password::hash(&pw))
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })?;
    let new = NewUser {
        username: account.username,
        display_name: account.display_name,
        role: account.role,
        unit: account.unit,
        password_hash,
        one_time_until: None,
    };
    Ok(store
        .write(move |c| {
            let rec = identity::create_user(c, &new)?;
            audit::record(
                c,
                OPERATOR,
                "user.create",
                "user",
                &rec.uuid.to_string(),
                None,
                None,
            )?;
            Ok(rec)
        })
        .await?)
}

/// The app installs of the user `username` (`lantian client list`).
pub async fn clients(
    store: &Store,
    username: String,
) -> Result<Vec<lantian_protocol::auth::ClientView>, AppError> {
    let rows = store
        .read(move |c| {
            let Some(user) = identity::user_by_username(c, &username)? else {
                return Ok(None);
            };
            identity::clients_of_user(c, user.id).map(Some)
        })
        .await?
        .ok_or_else(|| AppError::not_found().field("username"))?;
    Ok(rows.into_iter().map(crate::auth::client_view).collect())
}

/// Revokes the install `client_id` of `username` at once (`lantian client revoke`): the same
/// operation as the API's, audited as `cli`.
pub async fn revoke_client(
    store: &Store,
    username: String,
    client_id: uuid::Uuid,
) -> Result<lantian_protocol::auth::ClientView, AppError> {
    let rec = store
        .write(move |c| {
            let Some(user) = identity::user_by_username(c, &username)? else {
                return Ok(None);
            };
            crate::auth::revoke_install(c, &user, client_id, OPERATOR)
        })
        .await?
        .ok_or_else(|| AppError::not_found().field("client_id"))?;
    Ok(crate::auth::client_view(rec))
}

/// The audit chain walked and every evidence seal recomputed, in one read transaction.
pub async fn verify_audit(store: &Store) -> Result<(Verification, seal::Check), AppError> {
    Ok(store.read(seal::verify_all).await?)
}

/// Records the audit chain's current head under `label`: its row and hash, or `None` when the
/// log is empty or the label is taken.
pub async fn checkpoint(store: &Store, label: String) -> Result<Option<(i64, String)>, AppError> {
    Ok(store.write(move |c| audit::record_head(c, &label)).await?)
}

/// One photo whose original on disk does not match its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoFinding {
    pub photo: String,
    pub sha256: String,
    /// `missing`, or `altered` (other bytes or another length than recorded).
    pub problem: &'static str,
}

/// Which originals a photo check hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSlice {
    /// Every original (`lantian audit photos`).
    All,
    /// The nightly rolling check: every original's presence and length, and, oldest check first,
    /// originals making up at least 1/`cycle` of the bytes stored, hashed. Each original is
    /// hashed again within `cycle` runs of its last check (its verification at first): new
    /// photos join the back of the line, and each run takes a share of everything stored.
    Rolling { cycle: u32 },
}

/// What [`verify_photo_files`] found.
#[derive(Debug, Clone, Default)]
pub struct PhotoFiles {
    /// Distinct originals present in the photo store at their recorded length, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Of these, hashed by this check.
    pub hashed_files: u64,
    pub hashed_bytes: u64,
    /// The oldest last check among the originals this check did not hash (`None`: it hashed all).
    pub oldest_unhashed: Option<String>,
    pub findings: Vec<PhotoFinding>,
}

/// Checks the originals in the photo store against the SHA-256 and length their photo rows
/// recorded at verification: every original's presence and length, and the hash of those
/// `slice` names. Originals hashed intact are recorded as checked now. Runs on a blocking
/// thread, one file at a time.
pub async fn verify_photo_files(
    store: &Store,
    blobs: &lantian_media::blob::Blobs,
    slice: PhotoSlice,
) -> Result<PhotoFiles, AppError> {
    let rows = store.read(lantian_store::media::originals).await?;
    let (out, intact) = check_files(rows, blobs, slice).await.map_err(|e| {
        tracing::error!(error = %e, "the photo check cannot read the photo store");
        AppError::new("unavailable").retry_after(60)
    })?;
    if !intact.is_empty() {
        let now = chrono::Utc::now();
        store
            .write(move |c| lantian_store::media::record_checks(c, &intact, now))
            .await?;
    }
    Ok(out)
}

/// [`verify_photo_files`] on the photo store: what was found, and the originals hashed intact.
/// Presence and length from one listing of the store; the slice's hashes streamed, one at a time.
async fn check_files(
    rows: Vec<lantian_store::media::Original>,
    blobs: &lantian_media::blob::Blobs,
    slice: PhotoSlice,
) -> Result<(PhotoFiles, Vec<String>), lantian_media::MediaError> {
    let stored = blobs.original_sizes().await?;
    // One entry per distinct original: (length, last check, its photos).
    let mut by_hash: BTreeMap<String, (i64, String, Vec<String>)> = BTreeMap::new();
    for o in rows {
        by_hash
            .entry(o.sha256)
            .or_insert((o.size, o.last_checked, Vec::new()))
            .2
            .push(o.photo);
    }
    let mut out = PhotoFiles::default();
    let mut present = Vec::new();
    for (sha, (size, last, photos)) in by_hash {
        let problem = match stored.get(&sha) {
            None => Some("missing"),
            Some(&len) if len != size as u64 => Some("altered"),
            Some(&len) => {
                out.files += 1;
                out.bytes += len;
                present.push((last, sha.clone(), len, photos.clone()));
                None
            }
        };
        if let Some(problem) = problem {
            out.findings
                .extend(photos.into_iter().map(|photo| PhotoFinding {
                    photo,
                    sha256: sha.clone(),
                    problem,
                }));
        }
    }
    // Oldest check first; ties (one upload batch) by hash, so the order is the same every run.
    present.sort();
    let budget = match slice {
        PhotoSlice::All => u64::MAX,
        PhotoSlice::Rolling { cycle } => out.bytes.div_ceil(u64::from(cycle.max(1))),
    };
    let mut intact = Vec::new();
    let mut taken = 0u64;
    let mut rest = present.into_iter();
    for (_, sha, len, photos) in rest.by_ref() {
        out.hashed_files += 1;
        out.hashed_bytes += len;
        taken += len;
        let path = lantian_media::blob::Blobs::original(&sha);
        if blobs.sha256(&path).await?.is_some_and(|h| h == sha) {
            intact.push(sha);
        } else {
            out.findings
                .extend(photos.into_iter().map(|photo| PhotoFinding {
                    photo,
                    sha256: sha.clone(),
                    problem: "altered",
                }));
        }
        if taken >= budget {
            break;
        }
    }
    out.oldest_unhashed = rest.next().map(|(last, ..)| last);
    Ok((out, intact))
}

/// Creates a campaign from the command line (`lantian campaign add`), by the API's rules.
pub async fn create_campaign(store: &Store, campaign: Campaign) -> Result<Campaign, AppError> {
    crate::reference::create_campaign(store, OPERATOR.to_owned(), campaign).await
}

/// Replaces a campaign from the command line (`lantian campaign edit`), by the API's rules.
pub async fn update_campaign(store: &Store, campaign: Campaign) -> Result<Campaign, AppError> {
    let code = campaign.code.clone();
    crate::reference::update_campaign(store, OPERATOR.to_owned(), code, campaign).await
}

/// Every campaign, newest first.
pub async fn campaigns(store: &Store) -> Result<Vec<Campaign>, AppError> {
    Ok(store.read(lantian_store::org::campaigns).await?)
}

/// The campaign a month is assessed under, if any.
pub async fn campaign_for_month(store: &Store, month: &str) -> Result<Option<Campaign>, AppError> {
    let m = month.to_owned();
    Ok(store
        .read(move |c| stored::campaign_for_month(c, &m))
        .await?)
}

/// The bulletin of `month` from its latest official revision, headed in `style`; `None` before
/// the first.
pub async fn official_bulletin(
    store: &Store,
    month: &str,
    style: &lantian_domain::assessment::BulletinStyle,
) -> Result<Option<lantian_domain::assessment::Bulletin>, AppError> {
    let (m, style) = (month.to_owned(), style.clone());
    Ok(store
        .read(move |c| match stored::campaign_for_month(c, &m)? {
            Some(campaign) => stored::bulletin(c, &campaign.code, &m, &style),
            None => Ok(None),
        })
        .await?)
}

/// The record of scheduled runs: a run is started, ended with its outcome, and asked about so
/// that a run due while the server was down is made once on start.
pub mod jobs {
    use super::*;

    /// Records the start of `job` for `key`; the id ends it.
    pub async fn started(store: &Store, job: &str, key: &str) -> Result<i64, AppError> {
        let (j, k) = (job.to_owned(), key.to_owned());
        Ok(store.write(move |c| stored::job_started(c, &j, &k)).await?)
    }

    /// Records how run `id` ended: `ok` or `failed`, with a line of detail.
    pub async fn ended(
        store: &Store,
        id: i64,
        outcome: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        let (o, d) = (outcome.to_owned(), detail.to_owned());
        Ok(store
            .write(move |c| stored::job_ended(c, id, &o, &d))
            .await?)
    }

    /// Whether `job` ran successfully for `key`.
    pub async fn done(store: &Store, job: &str, key: &str) -> Result<bool, AppError> {
        let (j, k) = (job.to_owned(), key.to_owned());
        Ok(store.read(move |c| stored::job_done(c, &j, &k)).await?)
    }
}

/// Every user (the operator's view), by unit then name.
pub async fn users(store: &Store) -> Result<Vec<lantian_protocol::auth::UserSummary>, AppError> {
    Ok(store
        .read(|c| lantian_store::identity::users_under(c, &[]))
        .await?
        .into_iter()
        .map(crate::users::summary)
        .collect())
}

/// Changes user `username` as the operator (who runs the server, above every policy): disable or
/// enable, another role, another unit; audited as `operator`.
pub async fn change_user(
    store: &Store,
    username: String,
    change: crate::users::UserChange,
) -> Result<lantian_protocol::auth::UserSummary, AppError> {
    let done = store
        .write(move |c| {
            let Some(target) = lantian_store::identity::user_by_username(c, &username)? else {
                return Ok(None);
            };
            crate::users::apply(c, &target, &change, "operator").map(Some)
        })
        .await?;
    done.map(crate::users::summary)
        .ok_or_else(|| AppError::not_found().field("username"))
}

/// Gives user `username` a one-time password as the operator (a locked-out administrator too):
/// every login of theirs ends; audited as `operator`. The password is answered once.
pub async fn reset_password(
    store: &Store,
    username: String,
) -> Result<lantian_protocol::auth::OneTimePassword, AppError> {
    let password = crate::users::new_one_time_password()?;
    let plain = password.one_time_password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::password::hash(&plain))
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })?;
    let until = password.expires_at.clone();
    store
        .write(move |c| {
            let Some(target) = identity::user_by_username(c, &username)? else {
                return Ok(None);
            };
            identity::set_password(c, target.id, &hash, Some(&until), None)?;
            audit::record(
                c,
                "operator",
                "user.password_reset",
                "user",
                &target.uuid.to_string(),
                None,
                None,
            )?;
            Ok(Some(()))
        })
        .await?
        .ok_or_else(|| AppError::not_found().field("username"))?;
    Ok(password)
}

/// The sessions (console) and logins (app) of user `username` that have not ended.
pub async fn sessions(
    store: &Store,
    username: String,
) -> Result<Vec<lantian_protocol::auth::UserSession>, AppError> {
    let now = chrono::Utc::now();
    store
        .read(move |c| {
            let Some(target) = identity::user_by_username(c, &username)? else {
                return Ok(None);
            };
            crate::users::sessions_of(c, target.id, now).map(Some)
        })
        .await?
        .ok_or_else(|| AppError::not_found().field("username"))
}

/// Ends one session of user `username` as the operator; audited as `operator`.
pub async fn end_session(store: &Store, username: String, session: String) -> Result<(), AppError> {
    store
        .write(move |c| {
            let Some(target) = identity::user_by_username(c, &username)? else {
                return Ok(Err(AppError::not_found().field("username")));
            };
            crate::users::end_session(c, &target, &session, "operator")
        })
        .await?
}

//! lantian-app: the application layer. Every use of the system is one named operation here:
//! review an inspection, open an order, report it handled, decide a request, read the month's
//! assessment, declare an alert, ... Each takes the caller ([`Actor`]; push and pull, the phone's
//! busiest, the verified [`Token`], read in their own read) and typed input, asks the
//! policy table, lets the domain decide, runs one store transaction, and returns domain or
//! protocol types. HTTP handlers, console pages and CLI commands are adapters that parse, call one
//! operation, and render; none composes store calls or writes a rule of its own.
//!
//! The rule of the layers: rules in the domain, orchestration here, SQL in the store, HTTP in
//! `lantian-http`.
//!
//! # Layout
//! - [`App`] — the store and the settings operations need; cheap to clone.
//! - [`Actor`] — the authenticated caller and its policy question [`Actor::may`]; [`Token`], a
//!   verified access token not yet read.
//! - [`error`] — [`AppError`], the one failure type of operations, with stable codes.
//! - [`review`] — the review queue, one inspection, review decisions.
//! - [`rectify`] — rectification orders: open, list, read, handled, requests, decisions, stats.
//! - [`session`] — console sessions: opened at sign-in, held, expired, revoked.
//! - [`auth`] — passwords checked, refresh-token families, app installs registered.
//! - [`reference`](mod@reference) — units, departments, campaigns, checklist templates.
//! - [`subjects`] — the ledger's subjects: list, read, create, edit.
//! - [`users`] — user management: accounts, one-time passwords, roles, units, sessions.
//! - [`webhooks`] — endpoints other systems registered, their deliveries claimed and recorded.
//! - [`sync`] — push, pull and status of the offline sync protocol.
//! - [`assessment`] — the month's figures, the bulletin, pollution alerts.
//! - [`demo`] — the demo's history: two past months of work laid down on the first demo start.
//! - [`bulletin`] — the bulletin rendered as CSV, XLSX and HTML (for HTTP and the CLI alike).
//! - [`evidence`] — the photo service: uploads (create, complete), renditions, expiry.
//! - [`export`] — GeoJSON exports read page by page, and coverage.
//! - [`import`] — subjects from CSV or GeoJSON, all or nothing, errors reported by line.
//! - [`operator`] — what an operator runs without a signed-in caller: accounts, the audit check,
//!   the official bulletin, the record of scheduled runs.
//! - [`password`] — argon2id hashing on a bounded pool of threads.
//! - [`page`] — the opaque cursor of paged lists.
//!
//! Write operations take the shape "prepare outside the writer (parse, validate, decide what can be
//! decided), then commit inside it (compare-and-set, existence checks, inserts, the authorization
//! re-checked on what the transaction reads)".
//!
//! Must not depend on axum, hyper or any HTTP type, nor on rusqlite: the store's interface is typed.

pub mod assessment;
pub mod auth;
pub mod bulletin;
pub mod demo;
pub mod error;
pub mod evidence;
pub mod export;
pub mod import;
pub mod operator;
pub mod page;
pub mod password;
pub mod rectify;
pub mod reference;
pub mod review;
pub mod session;
mod spatial;
pub mod subjects;
pub mod sync;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use lantian_domain::policy::{Action, Decision, decide};
use lantian_domain::rectification::RectifyPolicy;
use lantian_domain::unit::relation;
use lantian_store::Store;
use lantian_store::identity::UserRecord;

pub use error::AppError;

/// The authenticated caller, as read from the database for this request (a disabled user or a
/// changed role or unit takes effect at once).
#[derive(Debug, Clone)]
pub struct Actor(pub UserRecord);

impl std::ops::Deref for Actor {
    type Target = UserRecord;
    fn deref(&self) -> &UserRecord {
        &self.0
    }
}

impl Actor {
    /// The policy table's answer for `action` on an object in the unit with `object_path` (`None`
    /// for global objects): outside the caller's subtree is not found, inside without the right
    /// is forbidden.
    pub fn may(&self, action: Action, object_path: Option<&[String]>) -> Result<(), AppError> {
        let rel = match object_path {
            Some(p) => relation(&self.0.unit_path, p),
            None => lantian_domain::unit::global_relation(&self.0.unit_path),
        };
        match decide(self.0.role, action, rel) {
            Decision::Allow => Ok(()),
            Decision::Forbidden => Err(AppError::forbidden()),
            Decision::NotFound => Err(AppError::not_found()),
        }
    }
}

/// A verified access token's claims: the user it names and the install its login is bound to.
/// Not yet a caller: [`App::actor`] reads them from the database. Push and pull read them in the
/// same read as their own work, so a phone's request takes one hop to a reader, not two.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub user: uuid::Uuid,
    pub install: Option<uuid::Uuid>,
}

/// What the database says of a [`Token`]: its user, and whether the install its login is bound
/// to was revoked (or is not the user's). The one place the rules of [`App::actor`] live.
pub(crate) struct Seen {
    user: Option<UserRecord>,
    revoked: bool,
}

impl Seen {
    pub(crate) fn read(
        c: &lantian_store::Tx,
        token: Token,
    ) -> Result<Seen, lantian_store::StoreError> {
        let Some(user) = lantian_store::identity::user_by_uuid(c, token.user)? else {
            return Ok(Seen {
                user: None,
                revoked: false,
            });
        };
        let revoked = match token.install {
            None => false,
            Some(i) => lantian_store::identity::client_of_user(c, user.id, i)?
                .is_none_or(|rec| rec.revoked_at.is_some()),
        };
        Ok(Seen {
            user: Some(user),
            revoked,
        })
    }

    /// The user, if the token may act as them; what to read on their behalf in the same read.
    pub(crate) fn admitted(&self) -> Option<&UserRecord> {
        self.user.as_ref().filter(|u| !u.disabled && !self.revoked)
    }

    pub(crate) fn actor(self) -> Result<Actor, AppError> {
        let user = self
            .user
            .filter(|u| !u.disabled)
            .ok_or_else(|| AppError::new("unauthenticated"))?;
        if self.revoked {
            return Err(AppError::new("client_revoked"));
        }
        Ok(Actor(user))
    }
}

/// A subject kind named in a query (`bad_request` on `kind`, `kind_unknown`, for a name that is
/// not one).
pub(crate) fn parse_kind(
    k: Option<&str>,
) -> Result<Option<lantian_domain::subject::SubjectKind>, AppError> {
    k.map(|k| {
        lantian_domain::subject::SubjectKind::parse(k)
            .ok_or_else(|| AppError::bad_request("kind").detail("kind_unknown"))
    })
    .transpose()
}

/// Settings of the operations.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Severities, deadlines and the working calendar of rectification orders.
    pub rectify: Arc<RectifyPolicy>,
    /// Thresholds of inspections' location verdicts.
    pub verdicts: lantian_domain::geo::VerdictThresholds,
    /// Soft byte budget of one pull page (a page never splits one write's changes).
    pub pull_page_bytes: usize,
    /// Password hashes computed at once; the rest wait. Keeps argon2 from taking every core.
    pub hash_concurrency: usize,
    /// How the monthly bulletin is headed: issuer, document number, signature.
    pub bulletin: lantian_domain::assessment::BulletinStyle,
    /// Seconds within which a rotated refresh token presented again counts as a retry of a lost
    /// answer (a fresh pair, the login kept) rather than a theft (the login revoked).
    pub refresh_grace_secs: i64,
    /// How long console sessions last.
    pub session: session::SessionPolicy,
}

/// The application: the store and the settings. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: AppConfig,
    media: Arc<evidence::Media>,
    hasher: password::Hasher,
    subjects: spatial::SubjectIndex,
    /// Verified against when a username does not exist, so a miss costs what a hit costs.
    dummy_hash: String,
    /// Published template versions read by pushes (they never change once published).
    templates: std::sync::Mutex<lantian_store::push::KnownTemplates>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("hashing threads: {0}")]
    Threads(#[from] std::io::Error),
    #[error("photo storage: {0}")]
    Media(#[from] lantian_media::MediaError),
}

impl App {
    /// The application over `store`, with the photo service started from `media` (its upload
    /// folder created, its decode pool running) and the password hashing threads.
    pub fn new(
        store: Store,
        config: AppConfig,
        media: evidence::MediaConfig,
    ) -> Result<App, StartError> {
        let media = Arc::new(evidence::Media::start(media)?);
        let dummy_hash = password::NO_SUCH_USER.to_owned();
        let hasher = password::Hasher::start(config.hash_concurrency)?;
        Ok(App {
            inner: Arc::new(Inner {
                store,
                config,
                media,
                hasher,
                dummy_hash,
                subjects: spatial::SubjectIndex::new(),
                templates: std::sync::Mutex::default(),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// The caller a verified access token names, as the database has them now: a user who is gone
    /// or disabled is `unauthenticated`, a changed role or unit takes effect at once, and a token
    /// of a login bound to an install that was revoked (or is not the user's) is `client_revoked`.
    pub async fn actor(&self, token: Token) -> Result<Actor, AppError> {
        self.store()
            .read(move |c| Seen::read(c, token))
            .await?
            .actor()
    }

    /// The subtree of unit `code` (or the caller's own unit when `None`) if the caller may do
    /// `action` there; a unit that does not exist answers like one outside the subtree.
    pub async fn unit_scope(
        &self,
        actor: &Actor,
        unit: Option<String>,
        action: Action,
    ) -> Result<Vec<String>, AppError> {
        let path = match unit {
            None => actor.unit_path.clone(),
            Some(code) => {
                self.store()
                    .read(move |c| lantian_store::org::unit_by_code(c, &code))
                    .await?
                    .ok_or_else(AppError::not_found)?
                    .unit
                    .path
            }
        };
        actor.may(action, Some(&path))?;
        Ok(path)
    }
}

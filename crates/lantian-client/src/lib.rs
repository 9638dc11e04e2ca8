//! lantian-client: the reference offline client. It does what a phone app does, so tests and
//! benchmarks drive the server the way the field does.
//!
//! - Mutations are queued in a local SQLite outbox with consecutive ids, and stay there after the
//!   server confirms them (retention), so nothing acknowledged is lost if the server is restored.
//! - [`Client::sync`] pushes, then pulls. Each pulled page and its cursor are applied in one local
//!   transaction, so a kill at any point leaves a consistent store that a later pull completes.
//! - After the last page, each scope's count and checksum are compared with the server's; only a
//!   scope that differs is pulled again.
//! - Requests are retried with exponential backoff, honouring `Retry-After`; an expired access
//!   token is refreshed once.
//!
//! # Layout
//! - this file: [`Client`] and the sync loop; `local`: the local store; [`sim`]: simulated officers.
//!
//! Depends on the domain (checklist scoring, shared checksums) and protocol crates only.

mod local;
mod photos;
pub mod sim;

pub use photos::{LocalPhoto, UploadSummary};

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use lantian_domain::inspection::InspectionScore;
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::Subject;
use lantian_protocol::auth::{RegisterClientRequest, TokenResponse};
use lantian_protocol::error::ErrorBody;
use lantian_protocol::sync::{
    MutationStatus, Op, PROTOCOL_VERSION, PullRequest, PullResponse, PushRequest, PushResponse,
    ResetReason,
};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Schema version of the local store, reported in pushes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub app_version: String,
    /// Attempts per request before giving up (the queue stays; the next sync tries again).
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub push_batch: usize,
    pub pull_limit: u32,
    /// A new TCP connection per request (for fault-injection proxies that act per connection).
    pub fresh_connections: bool,
    pub request_timeout: Duration,
    /// Bytes per tus PATCH.
    pub upload_chunk: usize,
    /// Gzip request bodies larger than 1 KiB (on by default; off to measure what it saves).
    pub gzip_requests: bool,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            app_version: concat!("lantian-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_attempts: 5,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            push_batch: 100,
            pull_limit: 1000,
            fresh_connections: false,
            request_timeout: Duration::from_secs(30),
            upload_chunk: 256 * 1024,
            gzip_requests: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (or kept failing transiently): work offline, try later.
    #[error("offline: {0}")]
    Offline(String),
    #[error("server answered {status} {code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("local store: {0}")]
    Local(String),
    #[error("not signed in: sign in again with `lantian-field login`")]
    NotLoggedIn,
    #[error("invalid: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for ClientError {
    fn from(e: rusqlite::Error) -> Self {
        ClientError::Local(e.to_string())
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        ClientError::Local(e.to_string())
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushSummary {
    pub requests: u32,
    pub applied: u32,
    pub rejected: u32,
    /// Mutations this install sent again whose first answer was lost: the server had them already
    /// and answered from its record. Nothing was applied twice.
    pub resent: u32,
    pub mismatched: u32,
    pub gaps: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PullSummary {
    pub pages: u32,
    pub changes: u64,
    pub resets: Vec<ResetReason>,
    /// Scopes whose checksum differed and that were pulled again.
    pub repaired: Vec<String>,
    /// Scopes still differing after the repair rounds (should be empty).
    pub diverged: Vec<String>,
}

/// What a sync is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Mutations the server has answered in this push, of those waiting when it began.
    Pushed { done: u64, total: u64 },
    /// Photo bytes sent in this run, of the bytes of the photos that can go now.
    PhotoBytes { sent: u64, total: u64 },
    /// Photos finished (uploaded or refused) in this run, of those that can go now.
    PhotosDone { done: u64, total: u64 },
    /// Changes pulled so far in this pull.
    Pulled { changes: u64 },
}

type ProgressFn = std::sync::Arc<dyn Fn(&Progress) + Send + Sync>;

/// What one sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub push: PushSummary,
    pub uploads: UploadSummary,
    pub pull: PullSummary,
    /// Mutations still waiting for the server's answer after this sync.
    pub pending: i64,
}

/// An outbox entry with the server's verdict, if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub mid: i64,
    pub name: String,
    pub status: Option<String>,
    pub code: Option<String>,
}

pub struct Client {
    db: Mutex<Connection>,
    /// The folder of the local store (photos waiting to upload live under it).
    dir: std::path::PathBuf,
    /// The install's private key, in its own owner-only file beside the database.
    key_path: std::path::PathBuf,
    http: reqwest::Client,
    cfg: ClientConfig,
    client_id: Uuid,
    /// Simulated device clock error, for tests: device time = true time + this.
    clock_offset_ms: AtomicI64,
    /// Where progress is reported, if anywhere.
    progress: Mutex<Option<ProgressFn>>,
}

/// Whether `answer` fails `item`: a `fail`, or a number beyond its limit. The field client gives
/// every failing answer a photo slot (the evidence of a failure is its photo).
pub fn is_failing(
    item: &lantian_domain::checklist::ChecklistItem,
    answer: &lantian_domain::inspection::Answer,
) -> bool {
    use lantian_domain::checklist::AnswerKind;
    use lantian_domain::inspection::Answer;
    match (answer, &item.answer) {
        (Answer::Fail, _) => true,
        (
            Answer::Number { value },
            AnswerKind::Number {
                limit, comparison, ..
            },
        ) => !lantian_domain::inspection::within_limit(*value, *limit, *comparison),
        _ => false,
    }
}

/// Bodies larger than this go gzipped (a push of 100 inspections shrinks about twelvefold; a
/// sign-in is not worth the bytes of a gzip header).
const GZIP_FROM_BYTES: usize = 1024;

/// A request body as JSON, gzipped when it is large enough to gain from it.
fn encode_body<B: Serialize>(body: &B, gzip: bool) -> Result<(Vec<u8>, bool), ClientError> {
    let json = serde_json::to_vec(body)?;
    if !gzip || json.len() < GZIP_FROM_BYTES {
        return Ok((json, false));
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::new(6),
    );
    std::io::Write::write_all(&mut gz, &json).map_err(|e| ClientError::Local(e.to_string()))?;
    let bytes = gz.finish().map_err(|e| ClientError::Local(e.to_string()))?;
    Ok((bytes, true))
}

fn now_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Client {
    /// Opens (or creates) the local store at `path`. An install gets its client id once, here.
    pub fn open(path: &Path, cfg: ClientConfig) -> Result<Client, ClientError> {
        let conn = local::open(path)?;
        let client_id = match local::get_meta(&conn, "client_id")? {
            Some(s) => Uuid::parse_str(&s).map_err(|e| ClientError::Local(e.to_string()))?,
            None => {
                let id = Uuid::now_v7();
                local::set_meta(&conn, "client_id", &id.to_string())?;
                id
            }
        };
        let mut builder = reqwest::Client::builder().timeout(cfg.request_timeout);
        if cfg.fresh_connections {
            builder = builder.pool_max_idle_per_host(0);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Local(e.to_string()))?;
        let mut key_name = path.file_name().unwrap_or_default().to_os_string();
        key_name.push(".key");
        Ok(Client {
            key_path: path.with_file_name(key_name),
            db: Mutex::new(conn),
            dir: path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join(format!(
                    "{}.files",
                    path.file_name()
                        .map_or("client".into(), |n| n.to_string_lossy())
                )),
            http,
            cfg,
            client_id,
            clock_offset_ms: AtomicI64::new(0),
            progress: Mutex::new(None),
        })
    }

    pub fn client_id(&self) -> Uuid {
        self.client_id
    }

    /// Reports what syncs do to `f` (a progress bar, a log line).
    pub fn on_progress(&self, f: impl Fn(&Progress) + Send + Sync + 'static) {
        if let Ok(mut p) = self.progress.lock() {
            *p = Some(std::sync::Arc::new(f));
        }
    }

    pub(crate) fn report(&self, p: Progress) {
        let f = self.progress.lock().ok().and_then(|g| g.clone());
        if let Some(f) = f {
            f(&p);
        }
    }

    /// This install's own folder (next to its database).
    pub(crate) fn local_dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Makes the simulated device clock run `ms` ahead (negative: behind).
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.clock_offset_ms.store(ms, Ordering::Relaxed);
    }

    /// The device clock.
    pub fn device_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut guard = self
            .db
            .lock()
            .map_err(|_| ClientError::Local("local store lock poisoned".into()))?;
        f(&mut guard)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        if let Some(s) = retry_after {
            return Duration::from_secs(s).min(self.cfg.backoff_cap);
        }
        let exp = self.cfg.backoff_base.saturating_mul(1 << attempt.min(10));
        exp.min(self.cfg.backoff_cap)
    }

    /// One JSON request with retries. `auth`: send the access token, refreshing it once if expired.
    async fn request<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        auth: bool,
    ) -> Result<R, ClientError> {
        match self.send(path, Some(body), auth).await {
            Err(ClientError::Server {
                status: 401, code, ..
            }) if auth && code == "token_expired" => {
                self.refresh().await?;
                self.send(path, Some(body), auth).await
            }
            other => other,
        }
    }

    /// An authenticated GET with retries (and one token refresh).
    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        match self.send::<(), R>(path, None, true).await {
            Err(ClientError::Server {
                status: 401, code, ..
            }) if code == "token_expired" => {
                self.refresh().await?;
                self.send::<(), R>(path, None, true).await
            }
            other => other,
        }
    }

    /// One JSON request (a POST of `body`, or a GET without), retried on network failures and
    /// transient answers with backoff.
    async fn send<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> Result<R, ClientError> {
        self.send_attempts(path, body, auth, self.cfg.max_attempts)
            .await
    }

    /// [`Client::send`] with at most `attempts` attempts.
    async fn send_attempts<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        auth: bool,
        attempts: u32,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.cfg.base_url);
        let mut last_err = String::new();
        for attempt in 0..attempts.max(1) {
            let mut req = match body {
                Some(b) => {
                    let (bytes, gzipped) = encode_body(b, self.cfg.gzip_requests)?;
                    let req = self
                        .http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json");
                    let req = if gzipped {
                        req.header(reqwest::header::CONTENT_ENCODING, "gzip")
                    } else {
                        req
                    };
                    req.body(bytes)
                }
                None => self.http.get(&url),
            };
            if auth {
                let token = self
                    .with_db(|c| Ok(local::get_meta(c, "access_token")?))?
                    .ok_or(ClientError::NotLoggedIn)?;
                req = req.bearer_auth(token);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last_err = e.to_string();
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    continue;
                }
            };
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    // The response was cut: the request may have been applied. Retrying is safe:
                    // pushes are idempotent by mutation id, pulls by cursor.
                    last_err = e.to_string();
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| ClientError::Invalid(format!("unreadable answer: {e}")));
            }
            let err: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (code, message) = err
                .map(|e| (e.error.code, e.error.message))
                .unwrap_or_else(|| ("unknown".into(), String::new()));
            if status.as_u16() == 503 || status.as_u16() == 429 || status.is_server_error() {
                last_err = format!("{status} {code}");
                tokio::time::sleep(self.backoff(attempt, retry_after)).await;
                continue;
            }
            return Err(ClientError::Server {
                status: status.as_u16(),
                code,
                message,
            });
        }
        Err(ClientError::Offline(last_err))
    }

    fn store_tokens(&self, t: &TokenResponse) -> Result<(), ClientError> {
        self.with_db(|c| {
            local::set_meta(c, "access_token", &t.access_token)?;
            local::set_meta(c, "refresh_token", &t.refresh_token)?;
            local::set_meta(c, "user", &serde_json::to_string(&t.user)?)?;
            Ok(())
        })
    }

    /// New tokens: the refresh token rotated, or, when the login has ended (the refresh token
    /// expired after a month offline, or was revoked), the install's key answering a challenge.
    async fn refresh(&self) -> Result<(), ClientError> {
        let token = self
            .with_db(|c| Ok(local::get_meta(c, "refresh_token")?))?
            .ok_or(ClientError::NotLoggedIn)?;
        let rotated: Result<TokenResponse, ClientError> = self
            .send(
                "/v1/auth/refresh",
                Some(&serde_json::json!({"refresh_token": token, "client_id": self.client_id})),
                false,
            )
            .await;
        match rotated {
            Ok(t) => self.store_tokens(&t),
            Err(ClientError::Server {
                status: 401, code, ..
            }) if code == "refresh_token_invalid" || code == "refresh_token_reused" => {
                self.key_sign_in().await
            }
            Err(e) => Err(e),
        }
    }

    /// Signs in with the install's key (no password): asks for a challenge, signs it, answers.
    /// Without a key, or when the server refuses it, the officer must sign in with the password.
    pub async fn key_sign_in(&self) -> Result<(), ClientError> {
        let Some(key) = self.read_key()? else {
            return Err(ClientError::NotLoggedIn);
        };
        let user: lantian_protocol::auth::UserView = self
            .with_db(|c| Ok(local::get_meta(c, "user")?))?
            .map(|u| serde_json::from_str(&u))
            .transpose()?
            .ok_or(ClientError::NotLoggedIn)?;
        // A challenge is answered once: an answer whose reply was lost is not sent again (the
        // server would take it for a replay); a fresh challenge is asked for instead.
        let mut last = ClientError::Offline("no attempt".into());
        for _ in 0..self.cfg.max_attempts.max(1) {
            let asked: lantian_protocol::auth::ChallengeResponse = self
                .send(
                    "/v1/auth/challenge",
                    Some(&serde_json::json!({"username": user.username, "client_id": self.client_id})),
                    false,
                )
                .await?;
            let message = lantian_protocol::auth::install_proof_message(
                &asked.challenge,
                &user.username,
                self.client_id,
            );
            let signature = ed25519_dalek::Signer::sign(&key, &message);
            let answer = lantian_protocol::auth::InstallSignInRequest {
                username: user.username.clone(),
                client_id: self.client_id,
                challenge: asked.challenge,
                signature: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(signature.to_bytes()),
            };
            match self
                .send_attempts::<_, TokenResponse>("/v1/auth/install", Some(&answer), false, 1)
                .await
            {
                Ok(t) => return self.store_tokens(&t),
                Err(ClientError::Server {
                    status: 401, code, ..
                }) if code == "install_auth_failed" => return Err(ClientError::NotLoggedIn),
                Err(e @ ClientError::Offline(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The install's signing key, if it has one.
    fn read_key(&self) -> Result<Option<ed25519_dalek::SigningKey>, ClientError> {
        match std::fs::read(&self.key_path) {
            Ok(bytes) => {
                let seed = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    ClientError::Local(format!("{} is not a key", self.key_path.display()))
                })?;
                Ok(Some(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Local(e.to_string())),
        }
    }

    /// The install's signing key, made at the first sign-in: 32 random bytes in a file only its
    /// owner can read, apart from the database (a phone keeps it in the platform keystore).
    fn install_key(&self) -> Result<ed25519_dalek::SigningKey, ClientError> {
        if let Some(k) = self.read_key()? {
            return Ok(k);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ClientError::Local(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.key_path)
            .map_err(|e| ClientError::Local(format!("{}: {e}", self.key_path.display())))?;
        std::io::Write::write_all(&mut file, &seed)
            .and_then(|()| file.sync_all())
            .map_err(|e| ClientError::Local(e.to_string()))?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Logs in, registers this install for the user with the install's public key (made now if
    /// the install has none), and binds the login to the install.
    ///
    /// A one-time password (an administrator's reset, a new account) answers
    /// `ClientError::Server { code: "password_change_required", .. }`: ask for a new password and
    /// call [`Client::change_password`], which signs in.
    pub async fn login(&self, username: &str, password: &str) -> Result<(), ClientError> {
        let t: TokenResponse = self
            .request(
                "/v1/auth/login",
                &serde_json::json!({"username": username, "password": password, "client_id": self.client_id}),
                false,
            )
            .await?;
        self.signed_in(&t).await
    }

    /// Changes the user's password with the current one (a one-time password too: the forced
    /// change at the first sign-in) and signs in with the new one, as [`Client::login`] does.
    pub async fn change_password(
        &self,
        username: &str,
        current: &str,
        new_password: &str,
    ) -> Result<(), ClientError> {
        let t: TokenResponse = self
            .request(
                "/v1/auth/password",
                &lantian_protocol::auth::ChangePasswordRequest {
                    username: username.to_owned(),
                    current_password: current.to_owned(),
                    new_password: new_password.to_owned(),
                    client_id: Some(self.client_id),
                },
                false,
            )
            .await?;
        self.signed_in(&t).await
    }

    /// Keeps a new login's tokens, registers this install with its key, and binds the login to it.
    async fn signed_in(&self, t: &TokenResponse) -> Result<(), ClientError> {
        self.store_tokens(t)?;
        let key = self.install_key()?;
        let reg = RegisterClientRequest {
            client_id: self.client_id,
            app_version: self.cfg.app_version.clone(),
            device_model: Some("lantian-client".into()),
            public_key: Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(key.verifying_key().to_bytes()),
            ),
        };
        let _: serde_json::Value = self.request("/v1/clients", &reg, true).await?;
        // The login was opened before the install was known: bind it now, by rotating once.
        self.refresh().await
    }

    /// Checks a mutation by the domain's rules that need no server (the same the server applies
    /// first: a plausible fix, text limits, a draft's size, a reason for an amendment) and queues
    /// it; returns its id. A mutation that breaks one is refused here, before it can be lost on
    /// the server as a rejection.
    pub fn queue(&self, name: &str, args: &serde_json::Value) -> Result<i64, ClientError> {
        lantian_domain::mutation::parse(name, args)
            .and_then(|cmd| cmd.check())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.enqueue(name, args)
    }

    /// Queues a mutation as it is, unchecked (tests and replays use it to send what a phone
    /// should not); returns its id. Nothing is sent until [`Client::push`].
    pub fn enqueue(&self, name: &str, args: &serde_json::Value) -> Result<i64, ClientError> {
        let device_time = now_text(self.device_now());
        self.with_db(|c| {
            let tx = c.transaction()?;
            let mid = local::get_i64(&tx, "next_mid")?.max(1);
            tx.execute(
                "INSERT INTO outbox (mid, name, args, device_time) VALUES (?1, ?2, ?3, ?4)",
                params![mid, name, args.to_string(), device_time],
            )?;
            local::set_meta(&tx, "next_mid", &(mid + 1).to_string())?;
            tx.commit()?;
            Ok(mid)
        })
    }

    /// Scores an inspection against the locally pulled template and subject, as the server will.
    pub fn score(&self, s: &InspectionSubmit) -> Result<InspectionScore, ClientError> {
        let template = self
            .entity::<lantian_domain::checklist::ChecklistTemplate>(
                "template",
                &format!("{}@{}", s.template.code, s.template.version),
            )?
            .ok_or_else(|| ClientError::Invalid("template not pulled".into()))?;
        let subject = self
            .entity::<Subject>("subject", &s.subject_id.to_string())?
            .ok_or_else(|| ClientError::Invalid("subject not pulled".into()))?;
        let at = s.location.gps_time.unwrap_or_else(|| self.device_now());
        let alert = self.alert_active(&subject.unit, at)?;
        lantian_domain::inspection::evaluate_with(&template, &subject.attributes, &s.results, alert)
            .map_err(|e| ClientError::Invalid(e.to_string()))
    }

    /// Whether a pulled pollution alert covers `unit` (its subtree) at `at`: the checklist's
    /// emergency items then apply, as the server will judge.
    pub fn alert_active(&self, unit: &str, at: DateTime<Utc>) -> Result<bool, ClientError> {
        let path: Vec<String> = self
            .entity::<lantian_domain::unit::Unit>("unit", unit)?
            .map(|u| u.path)
            .unwrap_or_else(|| vec![unit.to_owned()]);
        Ok(self
            .entities("alert")?
            .into_iter()
            .filter_map(|v| serde_json::from_value::<lantian_domain::assessment::Alert>(v).ok())
            .any(|a| a.applies(&path, at)))
    }

    /// Validates and scores an inspection locally, then queues it.
    pub fn submit_inspection(
        &self,
        s: &InspectionSubmit,
    ) -> Result<(i64, InspectionScore), ClientError> {
        s.check().map_err(|e| ClientError::Invalid(e.to_string()))?;
        let score = self.score(s)?;
        let mid = self.queue("inspection.submit", &serde_json::to_value(s)?)?;
        Ok((mid, score))
    }

    /// Sends queued mutations the server does not have yet, in batches.
    pub async fn push(&self) -> Result<PushSummary, ClientError> {
        let mut summary = PushSummary::default();
        let waiting = self.pending()?.max(0) as u64;
        let mut answered = 0u64;
        for _ in 0..10_000 {
            let (server_last, batch) = self.with_db(|c| {
                let last = local::get_i64(c, "server_last_mid")?;
                // Also what the server took but whose answer never arrived (a pull moved
                // `server_last_mid` past it): the server answers those from its record, and the
                // install learns their outcome (a photo waits for its inspection's `applied`).
                let mut stmt = c.prepare("SELECT mid, name, args, device_time FROM outbox WHERE mid > ?1 OR status IS NULL ORDER BY mid LIMIT ?2")?;
                let rows = stmt
                    .query_map(params![last, self.cfg.push_batch as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((last, rows))
            })?;
            if batch.is_empty() {
                break;
            }
            let mut mutations = Vec::with_capacity(batch.len());
            for (mid, name, args, device_time) in batch {
                mutations.push(lantian_protocol::sync::Mutation {
                    mid,
                    name,
                    args: serde_json::from_str(&args)?,
                    device_time: DateTime::parse_from_rfc3339(&device_time)
                        .map_err(|e| ClientError::Local(e.to_string()))?
                        .with_timezone(&Utc),
                });
            }
            let req = PushRequest {
                client_id: self.client_id,
                protocol_version: PROTOCOL_VERSION,
                schema_version: SCHEMA_VERSION,
                app_version: self.cfg.app_version.clone(),
                sent_at: self.device_now(),
                mutations,
            };
            let resp: PushResponse = self.request("/v1/sync/push", &req, true).await?;
            summary.requests += 1;
            answered += resp.results.len() as u64;
            self.report(Progress::Pushed {
                done: answered,
                total: waiting.max(answered),
            });
            for r in &resp.results {
                match (&r.status, r.duplicate) {
                    (MutationStatus::Mismatch, _) => summary.mismatched += 1,
                    (_, true) => summary.resent += 1,
                    (MutationStatus::Applied, false) => summary.applied += 1,
                    (MutationStatus::Rejected, false) => summary.rejected += 1,
                }
            }
            let next_last = match &resp.gap {
                Some(g) => g.expected - 1,
                None => resp.last_mutation_id,
            };
            self.with_db(|c| {
                let tx = c.transaction()?;
                for r in &resp.results {
                    let status = match r.status {
                        MutationStatus::Applied => "applied",
                        MutationStatus::Rejected => "rejected",
                        MutationStatus::Mismatch => "mismatch",
                    };
                    tx.execute(
                        "UPDATE outbox SET status = ?2, code = ?3 WHERE mid = ?1",
                        params![r.mid, status, r.code],
                    )?;
                }
                local::set_meta(&tx, "server_last_mid", &next_last.to_string())?;
                tx.commit()?;
                Ok(())
            })?;
            if resp.gap.is_some() {
                summary.gaps += 1;
                if next_last == server_last {
                    // The server wants what this install no longer has: nothing more to send.
                    return Err(ClientError::Invalid(format!(
                        "the server expects mutation {} which this install no longer holds",
                        next_last + 1
                    )));
                }
            }
        }
        Ok(summary)
    }

    /// Pulls until the server has nothing more, verifying the checkpoint and repairing scopes
    /// whose checksum differs.
    pub async fn pull(&self) -> Result<PullSummary, ClientError> {
        let mut summary = PullSummary::default();
        let mut resync: Vec<String> = Vec::new();
        for _round in 0..3 {
            let mut first = true;
            let checkpoint = loop {
                if summary.pages > 100_000 {
                    return Err(ClientError::Invalid("too many pages".into()));
                }
                let cursor = self.with_db(|c| Ok(local::get_meta(c, "cursor")?))?;
                let req = PullRequest {
                    client_id: self.client_id,
                    cursor,
                    limit: Some(self.cfg.pull_limit),
                    resync_scopes: if first { resync.clone() } else { Vec::new() },
                };
                first = false;
                let resp: PullResponse = self.request("/v1/sync/pull", &req, true).await?;
                summary.pages += 1;
                summary.changes += resp.changes.len() as u64;
                self.report(Progress::Pulled {
                    changes: summary.changes,
                });
                if let Some(r) = &resp.reset {
                    summary.resets.push(r.reason);
                }
                self.apply_page(&resp)?;
                if !resp.has_more {
                    break resp.checkpoint;
                }
            };
            let Some(cp) = checkpoint else {
                return Ok(summary);
            };
            let sums = self.scope_sums()?;
            let differing: Vec<String> = cp
                .scopes
                .iter()
                .filter(|s| {
                    let local = sums
                        .iter()
                        .find(|(scope, ..)| scope == &s.scope)
                        .map(|(_, n, sum)| (*n, *sum))
                        .unwrap_or((0, 0));
                    local.0 != s.count || lantian_domain::sync::checksum_text(local.1) != s.checksum
                })
                .map(|s| s.scope.clone())
                .collect();
            if differing.is_empty() {
                summary.diverged.clear();
                return Ok(summary);
            }
            summary.repaired.extend(differing.iter().cloned());
            summary.diverged = differing.clone();
            resync = differing;
        }
        Ok(summary)
    }

    /// Applies one page and its cursor in one local transaction.
    fn apply_page(&self, resp: &PullResponse) -> Result<(), ClientError> {
        self.with_db(|c| {
            let tx = c.transaction()?;
            if let Some(reset) = &resp.reset {
                match &reset.scopes {
                    None => {
                        tx.execute("DELETE FROM entities", [])?;
                    }
                    Some(scopes) => {
                        for s in scopes {
                            tx.execute("DELETE FROM entities WHERE scope = ?1", [s])?;
                        }
                    }
                }
            }
            for ch in &resp.changes {
                match ch.op {
                    Op::Put => {
                        let data = ch.data.as_ref().map(|d| d.get()).ok_or_else(|| ClientError::Invalid("put without data".into()))?;
                        tx.execute(
                            "INSERT INTO entities (entity, entity_id, scope, data) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT(entity, entity_id) DO UPDATE SET scope = excluded.scope, data = excluded.data",
                            params![ch.entity, ch.id, ch.scope, data],
                        )?;
                    }
                    Op::Remove => {
                        tx.execute("DELETE FROM entities WHERE entity = ?1 AND entity_id = ?2 AND scope = ?3", params![ch.entity, ch.id, ch.scope])?;
                    }
                }
            }
            local::set_meta(&tx, "cursor", &resp.cursor)?;
            local::set_meta(&tx, "server_last_mid", &resp.last_mutation_id.to_string())?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Push, upload photos, then pull. If the pull shows the server lost mutations it had acknowledged (it was
    /// restored from an older backup), they are pushed again from the outbox and pulled once more.
    pub async fn sync(&self) -> Result<(PushSummary, PullSummary), ClientError> {
        let r = self.sync_report().await?;
        Ok((r.push, r.pull))
    }

    /// [`Client::sync`], saying what happened to photos too and what is still waiting.
    pub async fn sync_report(&self) -> Result<SyncReport, ClientError> {
        let mut push = self.push().await?;
        // Photos travel after their inspection; a network failure leaves them queued.
        let mut uploads = match self.upload_photos().await {
            Ok(u) => u,
            Err(ClientError::Offline(_)) => UploadSummary::default(),
            Err(e) => return Err(e),
        };
        let mut pull = self.pull().await?;
        if self.pending()? > 0 {
            let again = self.push().await?;
            push.requests += again.requests;
            push.applied += again.applied;
            push.rejected += again.rejected;
            push.resent += again.resent;
            push.mismatched += again.mismatched;
            push.gaps += again.gaps;
            if let Ok(u) = self.upload_photos().await {
                uploads.uploaded += u.uploaded;
                uploads.refused += u.refused;
                uploads.waiting = u.waiting;
            }
            let more = self.pull().await?;
            pull.pages += more.pages;
            pull.changes += more.changes;
            pull.resets.extend(more.resets);
            pull.repaired.extend(more.repaired);
            pull.diverged = more.diverged;
        }
        self.release_verified()?;
        Ok(SyncReport {
            push,
            uploads,
            pull,
            pending: self.pending()?,
        })
    }

    /// The registered subjects within `radius_m` of a point in `datum`, nearest first, as the server's
    /// spatial index finds them (online: it sees subjects registered since the last pull).
    pub async fn nearby(
        &self,
        lat: f64,
        lon: f64,
        datum: lantian_domain::geo::Datum,
        radius_m: f64,
        limit: u32,
    ) -> Result<Vec<(f64, Subject)>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Item {
            distance_m: f64,
            subject: Subject,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            items: Vec<Item>,
        }
        let datum = serde_json::to_value(datum)?;
        let page: Page = self
            .get(&format!(
                "/v1/subjects/nearby?lat={lat}&lon={lon}&datum={}&radius={radius_m}&limit={limit}",
                datum.as_str().unwrap_or("wgs84")
            ))
            .await?;
        Ok(page
            .items
            .into_iter()
            .map(|i| (i.distance_m, i.subject))
            .collect())
    }

    /// Count and checksum of every scope held locally.
    pub fn scope_sums(&self) -> Result<Vec<(String, u64, u64)>, ClientError> {
        self.with_db(|c| {
            let mut stmt =
                c.prepare("SELECT scope, entity, entity_id, data FROM entities ORDER BY scope")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: Vec<(String, u64, u64)> = Vec::new();
            for (scope, entity, id, data) in rows {
                let h = lantian_domain::sync::entity_hash(&entity, &id, &data);
                match out.last_mut() {
                    Some((s, n, sum)) if *s == scope => {
                        *n += 1;
                        *sum = sum.wrapping_add(h);
                    }
                    _ => out.push((scope, 1, h)),
                }
            }
            Ok(out)
        })
    }

    /// One pulled entity.
    pub fn entity<T: DeserializeOwned>(
        &self,
        entity: &str,
        id: &str,
    ) -> Result<Option<T>, ClientError> {
        let text: Option<String> = self.with_db(|c| {
            Ok(rusqlite::OptionalExtension::optional(c.query_row(
                "SELECT data FROM entities WHERE entity = ?1 AND entity_id = ?2",
                params![entity, id],
                |r| r.get(0),
            ))?)
        })?;
        text.map(|t| serde_json::from_str(&t).map_err(ClientError::from))
            .transpose()
    }

    /// Every pulled entity of a kind, as JSON.
    pub fn entities(&self, entity: &str) -> Result<Vec<serde_json::Value>, ClientError> {
        let rows: Vec<String> = self.with_db(|c| {
            let mut stmt =
                c.prepare("SELECT data FROM entities WHERE entity = ?1 ORDER BY entity_id")?;
            let v = stmt
                .query_map([entity], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(ClientError::from))
            .collect()
    }

    /// Ids of every pulled entity of a kind.
    pub fn entity_ids(&self, entity: &str) -> Result<Vec<String>, ClientError> {
        self.with_db(|c| {
            let mut stmt =
                c.prepare("SELECT entity_id FROM entities WHERE entity = ?1 ORDER BY entity_id")?;
            let v = stmt
                .query_map([entity], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
    }

    /// Every pulled entity: (entity, id, scope, exact data text), sorted.
    pub fn dump(&self) -> Result<Vec<(String, String, String, String)>, ClientError> {
        self.with_db(|c| {
            let mut stmt = c.prepare(
                "SELECT entity, entity_id, scope, data FROM entities ORDER BY entity, entity_id",
            )?;
            let v = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
    }

    /// The outbox with the server's verdicts.
    pub fn outbox(&self) -> Result<Vec<Queued>, ClientError> {
        self.with_db(|c| {
            let mut stmt = c.prepare("SELECT mid, name, status, code FROM outbox ORDER BY mid")?;
            let v = stmt
                .query_map([], |r| {
                    Ok(Queued {
                        mid: r.get(0)?,
                        name: r.get(1)?,
                        status: r.get(2)?,
                        code: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
    }

    /// Mutations the server has not confirmed yet, or whose outcome this install has not heard.
    pub fn pending(&self) -> Result<i64, ClientError> {
        self.with_db(|c| {
            let last = local::get_i64(c, "server_last_mid")?;
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE mid > ?1 OR status IS NULL",
                [last],
                |r| r.get(0),
            )?)
        })
    }

    /// Runs raw SQL on the local store (tests use it to simulate corruption or a lost cursor).
    pub fn local_sql(&self, sql: &str) -> Result<(), ClientError> {
        self.with_db(|c| Ok(c.execute_batch(sql)?))
    }

    /// The stored cursor (tests roll it back to simulate a kill before it was saved).
    pub fn cursor(&self) -> Result<Option<String>, ClientError> {
        self.with_db(|c| Ok(local::get_meta(c, "cursor")?))
    }

    pub fn set_cursor(&self, cursor: Option<&str>) -> Result<(), ClientError> {
        self.with_db(|c| {
            match cursor {
                Some(v) => local::set_meta(c, "cursor", v)?,
                None => {
                    c.execute("DELETE FROM meta WHERE key = 'cursor'", [])?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number over its limit fails like a `fail`: the interactive inspection gives it a photo
    /// slot, which a template requiring photos of failures needs (without it the inspection could
    /// not be queued and its answers were lost).
    #[test]
    fn a_number_beyond_its_limit_is_a_failing_answer() {
        use lantian_domain::checklist::{AnswerKind, ChecklistItem, Comparison};
        use lantian_domain::inspection::Answer;
        let item = ChecklistItem {
            code: "RE3".into(),
            label_zh: "油烟排放浓度".into(),
            label_en: "Fume concentration".into(),
            weight: 10,
            critical: false,
            answer: AnswerKind::Number {
                limit: 2.0,
                unit: "mg/m³".into(),
                comparison: Comparison::AtMost,
                allow_na: false,
            },
            photo_required_on_fail: true,
            applies_if: None,
        };
        assert!(is_failing(&item, &Answer::Number { value: 2.4 }));
        assert!(!is_failing(&item, &Answer::Number { value: 1.9 }));
        assert!(!is_failing(&item, &Answer::Na));
        assert!(is_failing(&item, &Answer::Fail));
    }

    #[test]
    fn the_offline_client_refuses_what_the_server_would_reject_before_it_queues() {
        let dir = tempfile::tempdir().expect("dir");
        let client = Client::open(
            &dir.path().join("field.db"),
            ClientConfig::new("http://127.0.0.1:9"),
        )
        .expect("open");
        let incident = |description: &str| {
            serde_json::json!({
                "incident_id": uuid::Uuid::now_v7(), "category": "open_burning",
                "description": description,
                "location": {"lat": 36.45, "lon": 115.98, "accuracy_m": 8.0, "datum": "wgs84"},
            })
        };
        let refused = client
            .queue("incident.report", &incident("   "))
            .expect_err("a blank description is refused offline");
        assert!(
            refused.to_string().contains("incident_invalid"),
            "{refused}"
        );
        let amend = serde_json::json!({
            "inspection_id": uuid::Uuid::now_v7(), "base_version": 1, "results": [], "reason": "",
        });
        let refused = client
            .queue("inspection.amend", &amend)
            .expect_err("an amendment without a reason is refused offline");
        assert!(refused.to_string().contains("reason_required"), "{refused}");
        assert!(client.outbox().expect("outbox").is_empty());
        // A good one is queued.
        client
            .queue("incident.report", &incident("田间焚烧秸秆"))
            .expect("queued");
        assert_eq!(client.outbox().expect("outbox").len(), 1);
    }
}

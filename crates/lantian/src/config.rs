//! Configuration, layered: built-in defaults, then `lantian.toml` (or `--config FILE`), then
//! `LANTIAN_…` environment variables (`__` separates nested keys, e.g. `LANTIAN_LOGIN__PEER_ATTEMPTS`),
//! then command-line flags. Nothing is required: a fresh clone runs with the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, the signing key and photos (`media/`) live.
    pub data_dir: PathBuf,
    /// A PostgreSQL database instead of the SQLite file in the data folder:
    /// `postgres://user:password@host:5432/lantian` (`?sslmode=require` for TLS). Several
    /// `lantian serve` nodes may share one (docs/scale-out.md).
    pub database_url: Option<DatabaseUrl>,
    /// Photos in S3-compatible object storage instead of `data_dir/media/blobs`:
    /// `s3://bucket/prefix`, with `[s3]` (or the usual `AWS_…` variables) saying where and how.
    pub media_url: Option<String>,
    pub s3: lantian_media::blob::S3Settings,
    /// Address to listen on. Loopback by default: exposing lantian is a deliberate act.
    pub listen: SocketAddr,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Reader connections.
    pub readers: usize,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    /// Seconds within which a rotated refresh token presented again counts as the retry of an
    /// answer lost on the way (a fresh pair, the login kept); later, reuse revokes the login.
    /// 0 turns the grace off.
    pub refresh_grace_secs: u64,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// Seconds a client has to send a whole request head; a connection dripping it slower is
    /// closed (slow-loris). The clock also runs while a keep-alive connection waits for its next
    /// request, so idle connections close after as long. Bodies are bounded by
    /// `request_timeout_secs` and, for uploads, the photos idle timeout.
    pub header_read_timeout_secs: u64,
    /// Password hashes computed at once; 0 = half the cores (at least 1), which leaves the other
    /// half to every other request during a burst of logins.
    pub password_hash_concurrency: usize,
    /// Soft byte budget of one sync pull page.
    pub pull_page_bytes: usize,
    /// How long the change log keeps removals and old changes; older cursors get a reset.
    pub tombstone_retention_days: u64,
    pub login: LoginLimits,
    pub photos: PhotoSettings,
    pub geo: GeoSettings,
    pub rectification: RectifySettings,
    pub jobs: JobSettings,
    /// How the monthly bulletin is headed: issuer, document number, signature.
    pub bulletin: lantian_domain::assessment::BulletinStyle,
    /// The address people reach this server at, e.g. `https://lantian.example.gov.cn` (TLS may
    /// end at a proxy in front). When it is https, console cookies are `Secure`; its origin is
    /// the one console forms must come from. Unset: the request's own host.
    pub public_url: Option<String>,
    /// Reverse proxies and load balancers in front of this server, as addresses or networks
    /// (`["10.0.0.0/8", "192.168.1.5"]`). A request from one of them is counted, for the login
    /// limits and in the logs, under the client that `X-Forwarded-For` names; from anyone else
    /// the header is ignored. Empty by default: the header is never read.
    pub trusted_proxies: Vec<String>,
    pub console: ConsoleSettings,
    pub webhooks: WebhookSettings,
    /// With `serve --demo`: on the first start, lay down two past months of demo work (in the
    /// background, once per data folder).
    pub demo_history: bool,
}

/// A database URL; its password never reaches a log (`Debug` shows `user:***@`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&lantian_store::redact_url(&self.0))
    }
}

/// The web console at `/console/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after sign-in, whatever the activity.
    pub session_absolute_hours: u64,
    /// Map tiles, e.g. `https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8`.
    /// Unset: maps draw points on a plain background with a scale bar (no internet needed).
    pub map_tiles: Option<String>,
    /// The datum the tiles are drawn in: `gcj02` (AMap-style) or `wgs84` (Tianditu-style).
    pub map_datum: String,
    pub map_attribution: String,
    pub map_max_zoom: u8,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            map_tiles: None,
            map_datum: "gcj02".into(),
            map_attribution: String::new(),
            map_max_zoom: 18,
        }
    }
}

/// How webhook deliveries are sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// How often due deliveries are looked for (a busy outbox is drained without waiting).
    pub poll_ms: u64,
    /// A receiver that has not answered in this long has failed this attempt.
    pub timeout_secs: u64,
    /// The first wait of the retry schedule (it grows to 360 times this, then stays; 78 attempts).
    pub first_retry_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            poll_ms: 2000,
            timeout_secs: 10,
            first_retry_ms: 10_000,
        }
    }
}

/// Scheduled jobs, in Asia/Shanghai time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Run the scheduler (and its catch-up on start).
    pub enabled: bool,
    /// The official rollup of a month runs on this day of the next month (the grace period for
    /// offline phones)...
    pub official_day: u32,
    /// ...at this hour.
    pub official_hour: u32,
    /// The nightly provisional rollup of the current month.
    pub provisional_hour: u32,
    /// The nightly backup (into `DATA_DIR/backups`).
    pub backup_hour: u32,
    /// Backups kept.
    pub backups_keep: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            official_day: 3,
            official_hour: 2,
            provisional_hour: 1,
            backup_hour: 3,
            backups_keep: 7,
        }
    }
}

impl JobSettings {
    pub fn schedule(&self) -> crate::jobs::Schedule {
        crate::jobs::Schedule {
            official_day: self.official_day.clamp(1, 28),
            official_hour: self.official_hour.min(23),
            provisional_hour: self.provisional_hour.min(23),
            backup_hour: self.backup_hour.min(23),
            backups_keep: self.backups_keep.max(1),
        }
    }
}

/// Rectification orders: deadlines per severity, which items have which, the working calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RectifySettings {
    /// A failed critical item opens an order by itself.
    pub auto_open_critical: bool,
    /// Severity name -> time limit: `{ hours = 24 }` or `{ working_days = 3 }`.
    pub severities: std::collections::BTreeMap<String, lantian_domain::rectification::TimeLimit>,
    /// Item code -> severity name (others: by criticality).
    pub items: std::collections::BTreeMap<String, String>,
    pub default_severity: String,
    pub critical_severity: String,
    /// Public holidays (not working days), `YYYY-MM-DD`.
    pub holidays: Vec<chrono::NaiveDate>,
    /// Make-up working days on weekends (调休), `YYYY-MM-DD`.
    pub workdays: Vec<chrono::NaiveDate>,
    /// How often overdue orders are marked (and audit heads recorded).
    pub sweep_secs: u64,
}

impl Default for RectifySettings {
    fn default() -> Self {
        let p = lantian_domain::rectification::RectifyPolicy::default();
        Self {
            auto_open_critical: p.auto_open_critical,
            severities: p.limits,
            items: p.item_severity,
            default_severity: p.default_severity,
            critical_severity: p.critical_severity,
            holidays: p.holidays,
            workdays: p.workdays,
            sweep_secs: 300,
        }
    }
}

impl RectifySettings {
    pub fn policy(&self) -> lantian_domain::rectification::RectifyPolicy {
        lantian_domain::rectification::RectifyPolicy {
            auto_open_critical: self.auto_open_critical,
            limits: self.severities.clone(),
            item_severity: self.items.clone(),
            default_severity: self.default_severity.clone(),
            critical_severity: self.critical_severity.clone(),
            holidays: self.holidays.clone(),
            workdays: self.workdays.clone(),
        }
    }
}

/// Where location verdicts draw their lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoSettings {
    /// Further than this from the subject (after allowing for accuracy): doubtful (`off_site`).
    pub near_m: f64,
    /// Further than this: implausible (`far_from_subject`).
    pub far_m: f64,
    /// A fix less accurate than this: doubtful (`poor_accuracy`).
    pub poor_accuracy_m: f64,
    /// Faster than this since the officer's previous inspection: doubtful (`fast_travel`).
    pub fast_kmh: f64,
    /// Faster than this: implausible (`impossible_speed`).
    pub impossible_kmh: f64,
    /// A photo's EXIF position further than this from the fix: doubtful (`exif_position_far`).
    pub exif_far_m: f64,
}

impl Default for GeoSettings {
    fn default() -> Self {
        let t = lantian_domain::geo::VerdictThresholds::default();
        Self {
            near_m: t.near_m,
            far_m: t.far_m,
            poor_accuracy_m: t.poor_accuracy_m,
            fast_kmh: t.fast_kmh,
            impossible_kmh: t.impossible_kmh,
            exif_far_m: t.exif_far_m,
        }
    }
}

impl GeoSettings {
    pub fn thresholds(&self) -> lantian_domain::geo::VerdictThresholds {
        lantian_domain::geo::VerdictThresholds {
            near_m: self.near_m.max(0.0),
            far_m: self.far_m.max(self.near_m).max(0.0),
            poor_accuracy_m: self.poor_accuracy_m.max(0.0),
            fast_kmh: self.fast_kmh.max(0.0),
            impossible_kmh: self.impossible_kmh.max(self.fast_kmh).max(0.0),
            exif_far_m: self.exif_far_m.max(0.0),
        }
    }
}

/// Photo evidence: upload and decode limits, upload expiry, evidence-flag thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhotoSettings {
    /// Largest photo file, bytes (advertised as `Tus-Max-Size`).
    pub max_bytes: u64,
    /// Largest width or height, pixels.
    pub max_side: u32,
    /// Largest pixel area (width x height). A decode holds about 3 bytes per pixel.
    pub max_pixels: u64,
    /// An upload not written to for this long expires (its partial file is deleted).
    pub upload_expiry_secs: u64,
    /// How often expired uploads are cleaned.
    pub expiry_sweep_secs: u64,
    /// A chunk that sends nothing for this long is ended and its upload unlocked.
    pub idle_timeout_secs: u64,
    /// Images decoded at once; 0 = half the cores (at least 1).
    pub decode_threads: usize,
    /// EXIF time further than this from the inspection's time is flagged.
    pub exif_time_far_secs: i64,
    /// EXIF position further than this from the form's position is flagged.
    pub exif_position_far_m: f64,
    /// The nightly photo check hashes every original again within this many runs (a rolling
    /// slice of at least 1/N of the bytes each night, oldest check first); presence and length
    /// of every original are checked every night. 1 hashes them all each night.
    pub verify_cycle_days: u32,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        let limits = lantian_media::Limits::default();
        let th = lantian_domain::media::EvidenceThresholds::default();
        Self {
            max_bytes: limits.max_bytes,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
            upload_expiry_secs: 24 * 3600,
            expiry_sweep_secs: 600,
            idle_timeout_secs: 30,
            decode_threads: 0,
            exif_time_far_secs: th.time_far_s,
            exif_position_far_m: th.position_far_m,
            verify_cycle_days: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimits {
    /// Failed logins of one account from one address (or IPv6 /64) before that pair is paused.
    pub account_failures: u32,
    pub account_window_secs: u64,
    /// Failed logins of one account from anywhere before the account is paused: a slower limit,
    /// so that a stranger who knows a username cannot lock its owner out of the field.
    pub account_global_failures: u32,
    pub account_global_window_secs: u64,
    pub peer_attempts: u32,
    pub peer_window_secs: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            account_window_secs: 15 * 60,
            account_global_failures: 100,
            account_global_window_secs: 3600,
            peer_attempts: 30,
            peer_window_secs: 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("lantian-data"),
            database_url: None,
            media_url: None,
            s3: Default::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_format: "text".into(),
            readers: 4,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            refresh_grace_secs: 30,
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            password_hash_concurrency: 0,
            pull_page_bytes: 1024 * 1024,
            tombstone_retention_days: 90,
            login: LoginLimits::default(),
            photos: PhotoSettings::default(),
            geo: GeoSettings::default(),
            rectification: RectifySettings::default(),
            jobs: JobSettings::default(),
            bulletin: lantian_domain::assessment::BulletinStyle::default(),
            public_url: None,
            trusted_proxies: Vec::new(),
            console: ConsoleSettings::default(),
            webhooks: WebhookSettings::default(),
            demo_history: true,
        }
    }
}

impl Config {
    /// Loads the layers. `file` defaults to `lantian.toml` in the working directory, which may be
    /// absent; a named file must exist.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "config file {} does not exist", f.display());
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("lantian.toml")),
        }
        let known = top_level_keys()?;
        check_environment(std::env::vars(), &known)?;
        // Filtered before the split: the filter sees the key as it is chained, and after
        // `split("__")` a nested key is `login.peer_attempts`, whose first segment `top_level`
        // would not find (every nested variable was dropped that way).
        let env = Env::prefixed("LANTIAN_")
            .filter(move |k| known.contains(&top_level(k.as_str())))
            .split("__");
        Ok(fig.merge(env).extract()?)
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("lantian.db")
    }

    /// Where the records live, for messages: the SQLite file or the PostgreSQL URL (no password).
    pub fn database_name(&self) -> String {
        match &self.database_url {
            Some(url) => lantian_store::redact_url(&url.0),
            None => self.db_path().display().to_string(),
        }
    }

    /// The store's settings: the SQLite file in the data folder, or the PostgreSQL database.
    pub fn store(&self) -> lantian_store::StoreConfig {
        let mut sc = lantian_store::StoreConfig::new(self.db_path());
        sc.database_url = self.database_url.as_ref().map(|u| u.0.clone());
        sc.readers = self.readers.max(1);
        sc.verdicts = self.geo.thresholds();
        sc
    }

    /// The HTTP layer's settings; a trusted proxy that is not an address or a network is refused.
    pub fn http(&self) -> anyhow::Result<lantian_http::HttpConfig> {
        use lantian_http::limiter::Limit;
        let trusted_proxies = lantian_http::forwarded::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        Ok(lantian_http::HttpConfig {
            access_ttl: Duration::from_secs(self.access_token_ttl_secs.max(30)),
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_days.max(1) * 24 * 3600),
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            account_failures: Limit {
                max: self.login.account_failures,
                window: Duration::from_secs(self.login.account_window_secs),
            },
            account_global_failures: Limit {
                max: self.login.account_global_failures,
                window: Duration::from_secs(self.login.account_global_window_secs),
            },
            peer_attempts: Limit {
                max: self.login.peer_attempts,
                window: Duration::from_secs(self.login.peer_window_secs),
            },
            hash_concurrency: match self.password_hash_concurrency {
                0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
                n => n,
            },
            pull_page_bytes: self.pull_page_bytes.max(16 * 1024),
            media: self.media_config(),
            verdicts: self.geo.thresholds(),
            rectify: std::sync::Arc::new(self.rectification.policy()),
            bulletin: self.bulletin.clone(),
            refresh_grace: Duration::from_secs(self.refresh_grace_secs.min(600)),
            session: lantian_app::session::SessionPolicy {
                idle: chrono::Duration::minutes(
                    self.console.session_idle_minutes.clamp(1, 24 * 60) as i64,
                ),
                absolute: chrono::Duration::hours(
                    self.console.session_absolute_hours.clamp(1, 24 * 30) as i64,
                ),
            },
            trusted_proxies,
        })
    }

    /// The console's settings, checked: a tile datum that is not `gcj02` or `wgs84`, or a
    /// public address that is not http(s), is refused at start.
    pub fn console(&self) -> anyhow::Result<lantian_console::ConsoleConfig> {
        if let Some(u) = &self.public_url {
            anyhow::ensure!(
                u.starts_with("https://") || u.starts_with("http://"),
                "public_url must start with https:// or http://, not {u:?}"
            );
        }
        let tiles = match &self.console.map_tiles {
            None => None,
            Some(url) => {
                anyhow::ensure!(
                    url.starts_with("https://") || url.starts_with("http://"),
                    "console.map_tiles must be an http(s) URL template, not {url:?}"
                );
                let datum = match self.console.map_datum.as_str() {
                    "gcj02" => lantian_domain::geo::Datum::Gcj02,
                    "wgs84" => lantian_domain::geo::Datum::Wgs84,
                    other => anyhow::bail!(
                        "console.map_datum must be gcj02 (AMap-style tiles) or wgs84 (Tianditu-style), not {other:?}"
                    ),
                };
                Some(lantian_console::Tiles {
                    url: url.clone(),
                    datum,
                    attribution: self.console.map_attribution.clone(),
                    max_zoom: self.console.map_max_zoom.clamp(1, 22),
                })
            }
        };
        Ok(lantian_console::ConsoleConfig {
            public_url: self.public_url.clone(),
            tiles,
        })
    }

    /// Where photos live and how they are checked.
    pub fn media_config(&self) -> lantian_app::evidence::MediaConfig {
        let p = &self.photos;
        let mut m = lantian_app::evidence::MediaConfig::in_dir(&self.data_dir.join("media"));
        m.limits = lantian_media::Limits {
            max_bytes: p.max_bytes.max(1),
            max_side: p.max_side.max(1),
            max_pixels: p.max_pixels.max(1),
        };
        m.upload_ttl = Duration::from_secs(p.upload_expiry_secs.max(1));
        // Nodes on one PostgreSQL database share partial uploads through it.
        m.shared_uploads = self.database_url.is_some();
        m.media_url = self.media_url.clone();
        m.s3 = self.s3.clone();
        m.idle_timeout = Duration::from_secs(p.idle_timeout_secs.max(1));
        m.decode_threads = match p.decode_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        };
        m.thresholds = lantian_domain::media::EvidenceThresholds {
            time_far_s: p.exif_time_far_secs.max(0),
            position_far_m: p.exif_position_far_m.max(0.0),
        };
        m
    }
}

/// The configuration's top-level keys (`readers`, `login`, `photos`, ...).
fn top_level_keys() -> anyhow::Result<Vec<String>> {
    let value = serde_json::to_value(Config::default())?;
    Ok(value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default())
}

/// The top-level key an environment key (after `LANTIAN_`) names: `login__peer_attempts` ->
/// `login`.
fn top_level(key: &str) -> String {
    key.split("__").next().unwrap_or("").to_ascii_lowercase()
}

/// `LANTIAN_` variables are configuration when their first segment is a key of the configuration;
/// those are checked down to the last key (a mistyped nested key is refused when extracting).
/// A variable that only resembles a key (`LANTIAN_READER`, `LANTIAN_LOG_FROMAT`) is refused with
/// the key it probably meant; any other (`LANTIAN_URL` of a script, a test harness's variable) is
/// not configuration and is left alone.
fn check_environment(
    vars: impl Iterator<Item = (String, String)>,
    known: &[String],
) -> anyhow::Result<()> {
    for (name, _) in vars {
        let Some(rest) = name.strip_prefix("LANTIAN_") else {
            continue;
        };
        let first = top_level(rest);
        if known.contains(&first) {
            continue;
        }
        if let Some(near) = known.iter().find(|k| resembles(&first, k)) {
            anyhow::bail!(
                "environment variable {name} is not a configuration key: did you mean LANTIAN_{}?",
                near.to_ascii_uppercase()
            );
        }
    }
    Ok(())
}

/// Whether `typed` is probably a slip for `key`: at most two edits apart (one for short keys), or
/// the same without underscores.
fn resembles(typed: &str, key: &str) -> bool {
    let bare = |s: &str| s.replace('_', "");
    if bare(typed) == bare(key) {
        return true;
    }
    let allowed = if key.len() <= 5 { 1 } else { 2 };
    edit_distance(typed, key) <= allowed
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let swap = usize::from(ca != *cb);
            row[j + 1] = (prev[j] + swap).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(names: &[&str]) -> impl Iterator<Item = (String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "1".to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn unrelated_variables_pass_and_slips_are_refused_with_the_key_meant() {
        let known = top_level_keys().expect("keys");
        check_environment(
            env(&[
                "LANTIAN_URL",
                "LANTIAN_TOKEN",
                "LANTIAN_READERS",
                "LANTIAN_LOGIN__PEER_ATTEMPTS",
                "PATH",
            ]),
            &known,
        )
        .expect("not configuration, or configuration");
        let err = check_environment(env(&["LANTIAN_READER"]), &known).expect_err("a slip");
        assert!(
            err.to_string().contains("did you mean LANTIAN_READERS"),
            "{err}"
        );
        let err = check_environment(env(&["LANTIAN_LOG_FROMAT"]), &known).expect_err("a slip");
        assert!(err.to_string().contains("LANTIAN_LOG_FORMAT"), "{err}");
        let err = check_environment(env(&["LANTIAN_DATADIR"]), &known).expect_err("a slip");
        assert!(err.to_string().contains("LANTIAN_DATA_DIR"), "{err}");
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type (figment's own).
    #[allow(clippy::result_large_err)]
    fn environment_variables_reach_nested_and_top_level_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LANTIAN_LOGIN__PEER_ATTEMPTS", "1234");
            jail.set_env("LANTIAN_READERS", "3");
            jail.set_env("LANTIAN_URL", "http://not-configuration");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.login.peer_attempts, 1234);
            assert_eq!(c.readers, 3);
            Ok(())
        });
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type (figment's own).
    #[allow(clippy::result_large_err)]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        // In a jail too: the environment test's variables are process-wide while it runs.
        figment::Jail::expect_with(|jail| {
            let f = jail.directory().join("lantian.toml");
            std::fs::write(&f, "readers = 2\n[login]\npeer_attempts = 7\n").expect("write");
            let c = Config::load(Some(&f)).map_err(|e| e.to_string())?;
            assert_eq!(c.readers, 2);
            assert_eq!(c.login.peer_attempts, 7);
            assert_eq!(c.login.account_failures, 5);
            std::fs::write(&f, "reader = 2\n").expect("write");
            assert!(Config::load(Some(&f)).is_err());
            Ok(())
        });
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type (figment's own).
    #[allow(clippy::result_large_err)]
    fn trusted_proxies_come_from_the_environment_and_a_bad_one_stops_the_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "LANTIAN_TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "192.168.1.5"]"#,
            );
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.trusted_proxies, vec!["10.0.0.0/8", "192.168.1.5"]);
            assert!(c.http().is_ok());
            Ok(())
        });
        let c = Config {
            trusted_proxies: vec!["lb.example".into()],
            ..Config::default()
        };
        let err = c.http().expect_err("refused");
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        assert!(err.to_string().contains("lb.example"), "{err}");
    }
}

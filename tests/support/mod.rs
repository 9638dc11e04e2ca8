//! Test support: a real lantian server on 127.0.0.1:0 with its own data folder, started exactly as
//! `lantian serve` starts, and one helper per kind of request.

pub mod browser;
pub mod console;
pub mod photos;
pub mod proxy;
pub mod tokens;

use std::path::Path;

use lantian::config::Config;
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_domain::user::Role;
use lantian_protocol::auth::TokenResponse;
use lantian_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub config: Config,
    running: Option<lantian::app::Running>,
    // Dropped last: the data folder outlives the server.
    pub dir: tempfile::TempDir,
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The stable error code, if the body is an error.
    pub fn code(&self) -> Option<&str> {
        self.body.get("error")?.get("code")?.as_str()
    }
}

/// The current month (`YYYY-MM`) in China Standard Time, as the assessment counts months.
pub fn this_month() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("cst"))
        .format("%Y-%m")
        .to_string()
}

/// The PostgreSQL server the suite runs against instead of SQLite, when `TEST_POSTGRES_URL`
/// names one (an administrator's URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`;
/// `scripts/test` runs the suite once without it and once with it).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty PostgreSQL database for one test server, and its URL. `scripts/test` drops them
/// all when the suite ends.
pub fn fresh_database(admin_url: &str) -> String {
    lantian_store::testing::fresh_postgres_database(admin_url, "lantian_test")
}

/// A test configuration: loopback, port 0, the given data folder; everything else default. On
/// PostgreSQL (`TEST_POSTGRES_URL`), a fresh database of its own.
pub fn test_config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url: postgres_admin_url()
            .map(|admin| lantian::config::DatabaseUrl(fresh_database(&admin))),
        listen: "127.0.0.1:0".parse().expect("addr"),
        readers: 2,
        // Scheduled jobs run where a test asks for them (`lantian::jobs::catch_up`), not at every start.
        jobs: lantian::config::JobSettings {
            enabled: false,
            ..Default::default()
        },
        // The demo's subjects and users, not its history (a test that wants it asks for it).
        demo_history: false,
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, true).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config), demo: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    start_in(dir, config, demo).await
}

/// The servers' log in the test output when `TEST_LOG` is set (`TEST_LOG=error`, or any
/// `RUST_LOG`-style filter).
fn log_if_asked() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Starts a server on an existing data folder (for restart tests).
pub async fn start_in(dir: tempfile::TempDir, config: Config, demo: bool) -> TestApp {
    log_if_asked();
    let running = lantian::app::start(&config, demo, std::future::pending())
        .await
        .expect("server starts");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        base,
        client,
        store: running.store.clone(),
        config,
        running: Some(running),
        dir,
    }
}

impl TestApp {
    /// Whether this server keeps its records in PostgreSQL (`TEST_POSTGRES_URL`).
    pub fn on_postgres(&self) -> bool {
        self.config.database_url.is_some()
    }

    /// For a test of what only several nodes on PostgreSQL have: says so and returns true on
    /// SQLite, where the test ends there.
    pub fn postgres_only(&self, what: &str) -> bool {
        if !self.on_postgres() {
            eprintln!("on SQLite: {what} is PostgreSQL's alone (one file has one node); not run");
        }
        !self.on_postgres()
    }

    /// For a test of what only the SQLite deployment has (its file, its backups): says so and
    /// returns true on PostgreSQL, where the test ends there.
    pub fn sqlite_only(&self, what: &str) -> bool {
        if self.on_postgres() {
            eprintln!("on PostgreSQL: {what} is SQLite's alone; this part is not run");
        }
        self.on_postgres()
    }

    /// Stops the server and hands back its data folder.
    pub async fn stop(mut self) -> (tempfile::TempDir, Config) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops cleanly");
        }
        let TestApp {
            dir, config, store, ..
        } = self;
        drop(store);
        (dir, config)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body), &[])
            .await
    }

    pub async fn put(&self, path: &str, token: &str, if_match: Option<&str>, body: Value) -> Reply {
        let h: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        self.request(Method::PUT, path, Some(token), Some(body), &h)
            .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/v1/auth/login",
            None,
            serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and returns the token response; panics on failure.
    pub async fn tokens(&self, username: &str, password: &str) -> TokenResponse {
        let r = self.login(username, password).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "login of {username}: {:?}",
            r.body
        );
        serde_json::from_value(r.body).expect("token response")
    }

    /// Access token of a demo user.
    pub async fn demo_token(&self, role: Role) -> String {
        self.tokens(&format!("demo_{}", role.as_str()), DEMO_PASSWORD)
            .await
            .access_token
    }

    /// Ends every login as a month offline does: every refresh token has expired.
    pub async fn end_every_login(&self) {
        self.store
            .write(|c| {
                Ok(c.raw().execute(
                    "UPDATE refresh_tokens SET expires_at = '2000-01-01T00:00:00.000Z'",
                    [],
                )?)
            })
            .await
            .expect("every login ended");
    }

    /// Adds a user through the same code path as `lantian user add`.
    pub async fn add_user(&self, username: &str, role: Role, unit: &str, password: &str) {
        lantian::users::add_user(&self.store, username, username, role, unit, password)
            .await
            .expect("user added");
    }

    /// The signing key the server uses (to forge tokens in tests).
    pub async fn signing_key(&self) -> Vec<u8> {
        let hex_key = if self.config.database_url.is_some() {
            self.store
                .read(|c| {
                    Ok(c.raw().query_row(
                        "SELECT value FROM meta WHERE key = 'jwt-hs256'",
                        [],
                        |r| r.get::<_, String>(0),
                    )?)
                })
                .await
                .expect("stored key")
        } else {
            std::fs::read_to_string(self.dir.path().join("jwt-hs256.key")).expect("key file")
        };
        hex::decode(hex_key.trim()).expect("hex key")
    }

    pub async fn subject_count(&self) -> i64 {
        self.store
            .read(|c| {
                Ok(c.raw()
                    .query_row("SELECT count(*) FROM subjects", [], |r| r.get(0))?)
            })
            .await
            .expect("count")
    }
}

/// The deployment's database reached behind the server's back (running or stopped), for tests
/// that tamper with it as an intruder with the database's password would: SQLite's file or the
/// PostgreSQL database of `config`.
pub mod behind {
    use lantian::config::Config;

    /// Runs `sql` (statements without parameters).
    pub fn batch(config: &Config, sql: &str) {
        match &config.database_url {
            None => rusqlite::Connection::open(config.db_path())
                .and_then(|c| c.execute_batch(sql))
                .expect("tamper"),
            Some(url) => on_postgres(&url.0, sql, |c, sql| {
                c.batch_execute(sql).expect("tamper");
            }),
        }
    }

    /// The first column of the first row of `sql`, an integer.
    pub fn int(config: &Config, sql: &str) -> i64 {
        match &config.database_url {
            None => rusqlite::Connection::open(config.db_path())
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .expect("query"),
            Some(url) => {
                let (tx, rx) = std::sync::mpsc::channel();
                on_postgres(&url.0, sql, move |c, sql| {
                    let row = c.query_one(sql, &[]).expect("query");
                    let v: i64 = row
                        .try_get::<_, i64>(0)
                        .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                        .expect("an integer");
                    tx.send(v).expect("send");
                });
                rx.recv().expect("value")
            }
        }
    }

    /// The first column of the first row of `sql`, a text.
    pub fn text(config: &Config, sql: &str) -> String {
        match &config.database_url {
            None => rusqlite::Connection::open(config.db_path())
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .expect("query"),
            Some(url) => {
                let (tx, rx) = std::sync::mpsc::channel();
                on_postgres(&url.0, sql, move |c, sql| {
                    let row = c.query_one(sql, &[]).expect("query");
                    tx.send(row.get::<_, String>(0)).expect("send");
                });
                rx.recv().expect("value")
            }
        }
    }

    /// Drops the guard triggers named (what refuses UPDATE and DELETE on evidence), so that the
    /// statements after reach the rows as an intruder's would.
    pub fn drop_guards(config: &Config, triggers: &[&str]) {
        match &config.database_url {
            None => batch(
                config,
                &triggers
                    .iter()
                    .map(|t| format!("DROP TRIGGER {t};"))
                    .collect::<String>(),
            ),
            Some(_) => {
                let names = triggers
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                batch(
                    config,
                    &format!(
                        "DO $$ DECLARE r record; BEGIN
                           FOR r IN SELECT tgname, tgrelid::regclass AS t FROM pg_trigger WHERE tgname IN ({names}) LOOP
                             EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.t);
                           END LOOP; END $$;"
                    ),
                );
            }
        }
    }

    /// A copy of a stopped deployment's database, as another data folder `dir` and its config:
    /// the SQLite file with its write-ahead log, or a PostgreSQL database made from it.
    pub fn copy(config: &Config, dir: &std::path::Path) -> Config {
        std::fs::create_dir_all(dir).expect("dir");
        let mut c = config.clone();
        c.data_dir = dir.to_path_buf();
        match &config.database_url {
            None => {
                let db = config.db_path();
                // The database with its write-ahead log: the main file alone may miss the tail.
                for suffix in ["", "-wal", "-shm"] {
                    let from = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
                    if from.exists() {
                        std::fs::copy(&from, dir.join(format!("lantian.db{suffix}")))
                            .expect("copy");
                    }
                }
            }
            Some(url) => {
                let (base, source) = url.0.rsplit_once('/').expect("a database name");
                let name = format!("lantian_test_{}", uuid::Uuid::now_v7().simple());
                let admin = format!("{base}/postgres");
                // A stopped test server's background tasks may still hold connections (a
                // process that ends closes them all): they are ended, and the copy tried again
                // while one comes back.
                let sql = format!("CREATE DATABASE {name} TEMPLATE {source}");
                let end = format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = '{source}' AND pid <> pg_backend_pid()"
                );
                on_postgres(&admin, &sql, move |client, sql| {
                    for attempt in 0..50 {
                        client.batch_execute(&end).expect("end the connections");
                        match client.batch_execute(sql) {
                            Ok(()) => return,
                            Err(e)
                                if attempt < 49
                                    && e.as_db_error().is_some_and(|d| {
                                        d.message().contains("being accessed")
                                    }) =>
                            {
                                std::thread::sleep(std::time::Duration::from_millis(100));
                            }
                            Err(e) => panic!("copy the database: {e} {:?}", e.as_db_error()),
                        }
                    }
                });
                c.database_url = Some(lantian::config::DatabaseUrl(format!("{base}/{name}")));
            }
        }
        c
    }

    /// `f` with a client of `url`, on a thread of its own (the blocking client must not run on
    /// a test's async thread).
    fn on_postgres<F>(url: &str, sql: &str, f: F)
    where
        F: FnOnce(&mut postgres::Client, &str) + Send + 'static,
    {
        let (url, sql) = (url.to_owned(), sql.to_owned());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("postgres");
            f(&mut c, &sql);
        })
        .join()
        .expect("postgres thread");
    }
}

/// What the server holds in `username`'s scopes: (entity, id) -> (scope, data), as a phone of
/// theirs should after a full pull.
pub async fn server_view(
    app: &TestApp,
    username: &str,
) -> std::collections::BTreeMap<(String, String), (String, String)> {
    let name = username.to_owned();
    app.store
        .read(move |c| {
            let user = lantian_store::identity::user_by_username(c, &name)?.expect("user");
            let scopes = lantian_store::pull::scopes_for(c, &user)?;
            Ok(lantian_store::sync::current(c, &scopes)?
                .into_iter()
                .map(|(entity, id, scope, data)| ((entity, id), (scope, data)))
                .collect())
        })
        .await
        .expect("server view")
}

/// What a phone holds: (entity, id) -> (scope, data).
pub fn client_view(
    c: &lantian_client::Client,
) -> std::collections::BTreeMap<(String, String), (String, String)> {
    c.dump()
        .expect("dump")
        .into_iter()
        .map(|(e, id, scope, data)| ((e, id), (scope, data)))
        .collect()
}

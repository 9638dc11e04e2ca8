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

/// A test configuration: loopback, port 0, the given data folder; everything else default.
pub fn test_config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
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

/// Starts a server on an existing data folder (for restart tests).
pub async fn start_in(dir: tempfile::TempDir, config: Config, demo: bool) -> TestApp {
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
    pub fn signing_key(&self) -> Vec<u8> {
        let hex_key =
            std::fs::read_to_string(self.dir.path().join("jwt-hs256.key")).expect("key file");
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

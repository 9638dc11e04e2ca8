//! The real `lantian` binary as a child process, for the tests that kill it or starve its disk.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lantian_domain::reference::DEMO_PASSWORD;

const BIN: &str = env!("CARGO_BIN_EXE_lantian");

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn lantian(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(data)
        .env("LANTIAN_JOBS__ENABLED", "false")
        // The demo's users and subjects; its history would only add background load here.
        .env("LANTIAN_DEMO_HISTORY", "false")
        .stdin(Stdio::null());
    c
}

/// Starts `lantian serve --demo` and waits (at most 30 s) until it answers.
pub async fn start(data: &Path, port: u16, log: &Path) -> Child {
    start_with(data, port, log, &[]).await
}

/// [`start`] with more environment variables for the server process.
pub async fn start_with(data: &Path, port: u16, log: &Path, env: &[(&str, &str)]) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    let mut child = lantian(data)
        .envs(env.iter().copied())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("lantian starts");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            && r.status().is_success()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the server did not answer within 30 s:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

pub fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

pub async fn login(port: u16, user: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
        .json(&serde_json::json!({"username": user, "password": DEMO_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("token");
    r["access_token"].as_str().expect("token").to_owned()
}

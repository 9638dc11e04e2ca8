//! What both benchmarks need: the real `lantian` binary started on 127.0.0.1:0, and readings of a
//! process from /proc. Included by each bench with `mod common;`.

#![allow(dead_code)] // each bench uses a different part

pub mod load;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_lantian");
pub const PASSWORD: &str = "lantian-demo-2019";

/// A running `lantian serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `lantian serve --demo` on a free loopback port with `envs`, and returns once it printed
/// its address.
pub fn serve(dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
    serve_bin(BIN, dir, envs)
}

/// [`serve`] with another `lantian` binary (a baseline built from an earlier commit).
pub fn serve_bin(bin: &str, dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
    start(Command::new(bin), dir, envs)
}

/// [`serve`] pinned to CPU `core` with `taskset`, so that a node means one core's worth of server.
pub fn serve_pinned(core: usize, dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &core.to_string(), BIN]);
    start(cmd, dir, envs)
}

/// [`serve`] under a wrapper command (`valgrind --tool=callgrind …`), given as its words.
pub fn serve_wrapped(wrap: &[&str], dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(wrap[0]);
    cmd.args(&wrap[1..]).arg(BIN);
    start(cmd, dir, envs)
}

/// Runs `cmd` (the binary, or a wrapper with it as its last argument so far) as `serve --demo`.
fn start(mut cmd: Command, dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        // The demo's users and subjects, without its background history.
        .env("LANTIAN_DEMO_HISTORY", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn lantian");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("lantian printed its address")
            .expect("line");
        if let Some(rest) = line.strip_prefix("lantian listening on ") {
            break rest.trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

/// A field of /proc/PID/status in MiB (`VmRSS:`, `VmHWM:`).
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU seconds (user, system) the process has used so far.
pub fn cpu_split(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// Bytes the process has caused to be written to storage so far: `write_bytes` of /proc/PID/io,
/// counted when a page of the page cache is first dirtied (for the server, the log's frames and
/// the checkpoints' copies; a page written twice before it reached the disk counts once). `None`
/// where the kernel does not count it.
pub fn written_bytes(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Bytes written since `before` (a [`written_bytes`] reading), if both readings exist.
pub fn written_since(pid: u32, before: Option<u64>) -> Option<u64> {
    written_bytes(pid)
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before))
}

/// CPU seconds (user + system) the process has used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the command name).
    (ticks(11) + ticks(12)) / 100.0
}

/// The `p` quantile of sorted latencies, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// One line of latency figures.
pub fn report(name: &str, lat: &[Duration]) {
    println!(
        "  {name:<34} n={:<6} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        lat.len(),
        percentile_ms(lat, 0.5),
        percentile_ms(lat, 0.99),
        percentile_ms(lat, 1.0)
    );
}

/// An access token of `username` (the demo password).
pub async fn token(base: &str, username: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("token");
    r["access_token"].as_str().expect("token").to_owned()
}

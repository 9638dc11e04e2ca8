//! Foundation benchmark, against the real `lantian` binary on 127.0.0.1 (build: release).
//!
//! - start to ready: a fresh data folder with `--demo` (migrations, reference data, demo subjects
//!   and six argon2 hashes), and a restart on the same folder;
//! - idle RSS after start;
//! - login throughput (argon2id-bound on purpose), and the latency of ordinary authenticated reads
//!   alone and during a burst of logins, to show hashing stays off the async threads.
//!
//! Run: `cargo bench -p lantian --bench foundation`. Figures go to docs/performance.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{PASSWORD, Server, percentile_ms, report, status_mib};

/// Starts the binary and returns it with the time until `/readyz` answered 200.
fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> (Server, Duration) {
    let t0 = Instant::now();
    let server = common::serve(dir, envs);
    let base = server.base.clone();
    let agent = std::net::TcpStream::connect(base.trim_start_matches("http://")).map(drop);
    assert!(agent.is_ok(), "server accepts connections");
    let ready = {
        let url = format!("{base}/readyz");
        let mut ok = false;
        for _ in 0..500 {
            if http_get_status(&url) == Some(200) {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(ok, "ready within a second");
        t0.elapsed()
    };
    (server, ready)
}

/// A minimal blocking GET, so start-up timing does not include building an HTTP client.
fn http_get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

async fn login(client: &reqwest::Client, base: &str, user: &str) -> String {
    let r = client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login sent");
    assert_eq!(r.status(), 200, "login");
    let v: serde_json::Value = r.json().await.expect("json");
    v["access_token"].as_str().expect("token").to_owned()
}

/// Readers hammer GET /v1/units until `stop`, bounded by `max` requests each; returns latencies.
async fn readers(
    base: &str,
    token: &str,
    workers: usize,
    max: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (base, token, stop) = (base.to_owned(), token.to_owned(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) && lat.len() < max {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}/v1/units"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("get");
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("reader"));
    }
    all.sort();
    all
}

fn main() {
    println!(
        "lantian foundation benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Start to ready.
    let mut fresh = Vec::new();
    let mut restart = Vec::new();
    let mut idle = Vec::new();
    for _ in 0..7 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, t) = start(dir.path(), &[]);
        fresh.push(t);
        drop(server);
        let (server, t) = start(dir.path(), &[]);
        restart.push(t);
        std::thread::sleep(Duration::from_millis(500));
        let pid = server.child.id();
        idle.push((status_mib(pid, "VmRSS:"), status_mib(pid, "VmHWM:")));
        drop(server);
    }
    fresh.sort();
    restart.sort();
    println!("start to ready (7 runs each):");
    println!(
        "  fresh folder + demo data: median {:.0} ms, max {:.0} ms",
        percentile_ms(&fresh, 0.5),
        percentile_ms(&fresh, 1.0)
    );
    println!(
        "  restart on existing data: median {:.0} ms, max {:.0} ms",
        percentile_ms(&restart, 0.5),
        percentile_ms(&restart, 1.0)
    );
    let max_rss = idle.iter().map(|r| r.0).fold(0.0, f64::max);
    let max_hwm = idle.iter().map(|r| r.1).fold(0.0, f64::max);
    println!("idle RSS after restart: max {max_rss:.1} MiB (peak during start {max_hwm:.1} MiB)");

    // Logins and reads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = start(dir.path(), &[("LANTIAN_LOGIN__PEER_ATTEMPTS", "1000000")]);
    let base = server.base.clone();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let token = login(&client, &base, "demo_inspector").await;
        // Warm up.
        let stop = Arc::new(AtomicBool::new(false));
        readers(&base, &token, 2, 200, stop.clone()).await;

        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let quiet = tokio::spawn({
            let (b, t) = (base.clone(), token.clone());
            async move { readers(&b, &t, 4, 5_000, s2).await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let quiet = quiet.await.expect("quiet");

        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let busy = tokio::spawn({
            let (b, t) = (base.clone(), token.clone());
            async move { readers(&b, &t, 4, 50_000, s2).await }
        });
        let total_logins = 240usize;
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..32 {
            let b = base.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let users = [
                    "demo_inspector",
                    "demo_supervisor",
                    "demo_assessor",
                    "demo_unit_admin",
                    "demo_admin",
                    "demo_viewer",
                ];
                let mut lat = Vec::new();
                for i in 0..total_logins / 32 {
                    let t = Instant::now();
                    login(&client, &b, users[(w + i) % users.len()]).await;
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut login_lat = Vec::new();
        for t in tasks {
            login_lat.extend(t.await.expect("logins"));
        }
        let burst = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let busy = busy.await.expect("busy");
        login_lat.sort();
        println!(
            "logins: {} in {:.2} s = {:.1} logins/s (32 concurrent)",
            login_lat.len(),
            burst.as_secs_f64(),
            login_lat.len() as f64 / burst.as_secs_f64()
        );
        report("login latency", &login_lat);
        println!("GET /v1/units, 4 concurrent readers:");
        report("alone", &quiet);
        report("during the login burst", &busy);
    });
    drop(server);
}

//! Bytes on the wire of a backlog going up (issue 15): 1,000 field-like 20-item inspections pushed
//! in batches of 100 by the reference client, through a byte-counting TCP relay on 127.0.0.1, with
//! gzipped request bodies and, for comparison in the same run, without. Counted: every byte each
//! way, request and response headers included (the access token, 300-odd bytes a request, among
//! them).
//!
//! Field-like, not the simulator's repeated values: each inspection has its own position (a few
//! dozen metres around its subject, 6-7 decimals), accuracy, device time over a working day,
//! answers (mostly pass, some fail and N/A), and notes on failed items from an officer's phrases.
//!
//! Run: `cargo bench -p lantian --bench wire`. Figures go to docs/performance.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lantian_client::sim::Rng;
use lantian_client::{Client, ClientConfig};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

mod common;

use common::PASSWORD;

const ITEMS: usize = 20;
const INSPECTIONS: usize = 1_000;

/// A relay that counts the bytes of each direction.
struct Counter {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Counter {
    async fn start(upstream: String) -> Counter {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (u, d) = (up.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (u, d, upstream) = (u.clone(), d.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    let to_server = tokio::spawn(async move {
                        pump(&mut ri, &mut wo, &u).await;
                        let _ = wo.shutdown().await;
                    });
                    pump(&mut ro, &mut wi, &d).await;
                    let _ = wi.shutdown().await;
                    let _ = to_server.await;
                });
            }
        });
        Counter { url, up, down }
    }

    fn reset(&self) {
        self.up.store(0, Ordering::Relaxed);
        self.down.store(0, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }
}

/// Copies `from` to `to`, counting every byte as it passes (connections stay open between
/// requests, so a count at the end would come too late).
async fn pump(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    count: &AtomicU64,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

const NOTES: [&str; 8] = [
    "现场裸土未覆盖，已要求立即整改",
    "出入口车辆未冲洗",
    "围挡破损约十米",
    "喷淋设施未开启",
    "渣土堆放未苫盖",
    "油烟净化器未清洗，记录缺失",
    "道路积尘明显",
    "已口头告知负责人",
];

/// One field-like inspection of `subject` at about (`lat`, `lon`).
fn field_inspection(rng: &mut Rng, subject: &str, lat: f64, lon: f64, n: usize) -> Value {
    let jitter = |rng: &mut Rng| (rng.below(2_000) as f64 - 1_000.0) * 0.000_000_37;
    let results: Vec<Value> = (1..=ITEMS)
        .map(|i| {
            let roll = rng.below(100);
            let kind = if i == 1 || roll >= 20 {
                "pass"
            } else if roll >= 5 {
                "fail"
            } else {
                "na"
            };
            let mut r = json!({"item": format!("W{i}"), "answer": {"kind": kind}});
            if kind == "fail" {
                r["note"] = json!(NOTES[rng.below(NOTES.len())]);
                r["photos"] = json!([uuid::Uuid::now_v7()]);
            }
            r
        })
        .collect();
    let started = chrono::Utc::now() - chrono::Duration::seconds(30_000 - 25 * n as i64);
    json!({"inspection_id": uuid::Uuid::now_v7(), "subject_id": subject, "template": {"code": "wire20", "version": 1},
           "results": results, "signature_photo_id": uuid::Uuid::now_v7(),
           "started_at": started,
           "notes": if rng.chance(30) { json!(NOTES[rng.below(NOTES.len())]) } else { Value::Null },
           "location": {"lat": lat + jitter(rng), "lon": lon + jitter(rng),
                        "accuracy_m": 3.0 + rng.below(250) as f64 / 10.0, "datum": "gcj02", "mock": false,
                        "gps_time": started + chrono::Duration::seconds(rng.below(600) as i64)}})
}

fn template_draft() -> Value {
    let items: Vec<Value> = (1..=ITEMS)
        .map(|i| json!({"code": format!("W{i}"), "label_zh": format!("检查项{i}"), "label_en": format!("Item {i}"), "weight": 5,
                        "critical": i == 1, "answer": {"kind": "pass_fail", "allow_na": true}, "photo_required_on_fail": true}))
        .collect();
    json!({"subject_kind": "construction_site", "title_zh": "线路基准检查表", "title_en": "Wire benchmark checklist", "items": items})
}

async fn run(counter: &Counter, dir: &std::path::Path, name: &str, gzip: bool) -> (f64, f64) {
    let mut cfg = ClientConfig::new(counter.url.clone());
    cfg.push_batch = 100;
    cfg.gzip_requests = gzip;
    let c = Client::open(&dir.join(format!("{name}.db")), cfg).expect("open");
    c.login("demo_inspector", PASSWORD).await.expect("login");
    c.pull().await.expect("first pull");
    let subjects: Vec<Value> = c
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter(|s| {
            (s["kind"] == "construction_site" || s["attributes"]["kind"] == "construction_site")
                && s["location"].is_object()
        })
        .collect();
    assert!(!subjects.is_empty(), "no construction site pulled");
    let mut rng = Rng(2026);
    for n in 0..INSPECTIONS {
        let s = &subjects[rng.below(subjects.len())];
        let (lat, lon) = (
            s["location"]["lat"].as_f64().expect("lat"),
            s["location"]["lon"].as_f64().expect("lon"),
        );
        let i = field_inspection(&mut rng, s["id"].as_str().expect("id"), lat, lon, n);
        c.queue("inspection.submit", &i).expect("queued");
    }
    counter.reset();
    let pushed = c.push().await.expect("push");
    assert_eq!(pushed.applied as usize, INSPECTIONS, "{pushed:?}");
    let (up, down) = counter.read();
    (
        up as f64 / INSPECTIONS as f64,
        down as f64 / INSPECTIONS as f64,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::serve(&dir.path().join("data"), &[]);
    println!(
        "lantian wire benchmark: {INSPECTIONS} field-like {ITEMS}-item inspections, batches of 100"
    );
    rt.block_on(async {
        let http = reqwest::Client::new();
        let admin: Value = http
            .post(format!("{}/v1/auth/login", server.base))
            .json(&json!({"username": "demo_admin", "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("token");
        let token = admin["access_token"].as_str().expect("token");
        let published = http
            .post(format!("{}/v1/templates/wire20/versions", server.base))
            .bearer_auth(token)
            .json(&template_draft())
            .send()
            .await
            .expect("publish");
        assert!(published.status().is_success(), "{:?}", published.text().await);
        let counter = Counter::start(server.base.trim_start_matches("http://").to_owned()).await;
        for round in 0..2 {
            for gzip in [true, false] {
                let (up, down) = run(&counter, dir.path(), &format!("r{round}-{gzip}"), gzip).await;
                println!(
                    "  {}: {up:.0} bytes up per inspection, {down:.0} bytes down (answers), headers included",
                    if gzip { "gzip " } else { "plain" }
                );
            }
        }
    });
}

//! Photo evidence benchmark (run with `cargo bench -p lantian --bench photos`):
//!
//! 1. Renditions: thumbnail + review rendition of a 12-megapixel JPEG, on one core, median of 15.
//! 2. Uploads: 50 officers upload a ~4 MB JPEG each at once over loopback, in 256 KiB tus chunks
//!    with sha1 checksums, against the real `lantian` binary; aggregate MB/s while the server makes
//!    renditions, the time until every rendition is made, and the server's peak RSS.
//!
//! The load generator shares the machine's two cores with the server; chunk checksums are computed
//! before the clock starts so the figure is the server's.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{PASSWORD, status_mib};
use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::subject::Subject;
use lantian_media::testing::{ExifSpec, jpeg_quality};
use lantian_media::{Limits, render};
use sha1::Digest;

const UPLOADS: usize = 50;
const CHUNK: usize = 256 * 1024;

fn renditions() {
    let spec = ExifSpec {
        make: Some("Xiaomi".into()),
        orientation: Some(6),
        ..ExifSpec::default()
    };
    let t = Instant::now();
    let photo = jpeg_quality(4000, 3000, Some(&spec), 90);
    println!(
        "12 MP JPEG (4000 x 3000): {:.1} MB, made in {:.1} s",
        photo.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let r = render::render(
            &photo,
            lantian_domain::media::PhotoFormat::Jpeg,
            6,
            &Limits::default(),
        )
        .expect("renders");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!r.thumb.is_empty() && !r.review.is_empty());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "renditions (thumbnail + review) of a 12 MP JPEG, one thread: median {:.1} ms (min {:.1}, max {:.1}; target < 150 ms)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}

struct Job {
    inspection: uuid::Uuid,
    photo: uuid::Uuid,
    bytes: Vec<u8>,
    sha256: String,
    checksums: Vec<String>,
}

async fn upload(http: &reqwest::Client, base: &str, token: &str, job: &Job) {
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let meta = format!(
        "photo_id {},inspection_id {},sha256 {}",
        b64(job.photo.to_string()),
        b64(job.inspection.to_string()),
        b64(job.sha256.clone())
    );
    let r = http
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", job.bytes.len())
        .header("upload-metadata", meta)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status().as_u16(), 201);
    let url = format!(
        "{base}{}",
        r.headers()["location"].to_str().expect("location")
    );
    for (i, chunk) in job.bytes.chunks(CHUNK).enumerate() {
        let r = http
            .patch(&url)
            .bearer_auth(token)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", i * CHUNK)
            .header("upload-checksum", &job.checksums[i])
            .header("content-type", "application/offset+octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch");
        let status = r.status().as_u16();
        assert_eq!(status, 204, "{}", r.text().await.unwrap_or_default());
    }
}

fn main() {
    renditions();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = common::serve(&data, &[("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000")]);
    let base = server.base.clone();
    let pid = server.child.id();
    rt.block_on(async {
        // One officer, 50 inspections pushed; each upload is one inspection's signature photo.
        let cdir = tempfile::tempdir().expect("tempdir");
        let client = Client::open(&cdir.path().join("officer.db"), ClientConfig::new(&base))
            .expect("client");
        client
            .login("demo_inspector", PASSWORD)
            .await
            .expect("login");
        client.pull().await.expect("pull");
        let templates = sim::latest_templates(&client).expect("templates");
        let subjects: Vec<Subject> = client
            .entities("subject")
            .expect("subjects")
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        let mut rng = Rng(4);
        let base_photo = {
            let t = Instant::now();
            let p = jpeg_quality(3000, 2400, None, 95);
            println!(
                "upload photo: 3000 x 2400 JPEG, {:.2} MB (made in {:.1} s)",
                p.len() as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            p
        };
        let mut jobs = Vec::new();
        while jobs.len() < UPLOADS {
            let s = &subjects[rng.below(subjects.len())];
            let Some(t) = templates.iter().find(|t| t.subject_kind == s.attributes.kind()) else {
                continue;
            };
            let submit = sim::random_inspection(&mut rng, s, t, None);
            client.submit_inspection(&submit).expect("queued");
            // Distinct bytes per photo (the EXIF differs), so every rendition is made.
            let spec = ExifSpec {
                make: Some(format!("bench-{}", jobs.len())),
                gps: Some((submit.location.lat, submit.location.lon)),
                ..ExifSpec::default()
            };
            let bytes = lantian_media::testing::with_app1(
                &base_photo,
                &lantian_media::testing::exif_block(&spec),
            );
            let checksums = bytes
                .chunks(CHUNK)
                .map(|c| {
                    format!(
                        "sha1 {}",
                        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(c))
                    )
                })
                .collect();
            jobs.push(Job {
                inspection: submit.inspection_id,
                photo: submit.signature_photo_id,
                sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                bytes,
                checksums,
            });
        }
        let pushed = client.push().await.expect("push");
        assert_eq!(pushed.applied as usize, UPLOADS);
        let token = {
            let r: serde_json::Value = reqwest::Client::new()
                .post(format!("{base}/v1/auth/login"))
                .json(&serde_json::json!({"username": "demo_inspector", "password": PASSWORD}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("token");
            r["access_token"].as_str().expect("token").to_owned()
        };
        let total_bytes: usize = jobs.iter().map(|j| j.bytes.len()).sum();
        println!(
            "server RSS before the uploads: {:.1} MiB (peak so far {:.1})",
            status_mib(pid, "VmRSS:"),
            status_mib(pid, "VmHWM:")
        );
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(UPLOADS)
            .build()
            .expect("http");
        let jobs = std::sync::Arc::new(jobs);
        // Samples the server's RSS every 20 ms: the largest seen while uploading, then after.
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
        let sampler = {
            let phase = phase.clone();
            std::thread::spawn(move || {
                let mut max = [0f64; 2];
                loop {
                    let p = phase.load(std::sync::atomic::Ordering::Relaxed);
                    if p > 1 {
                        return max;
                    }
                    let rss = status_mib(pid, "VmRSS:");
                    max[p as usize] = max[p as usize].max(rss);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let t = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..UPLOADS {
            let (http, base, token, jobs) = (http.clone(), base.clone(), token.clone(), jobs.clone());
            tasks.push(tokio::spawn(async move { upload(&http, &base, &token, &jobs[i]).await }));
        }
        for task in tasks {
            task.await.expect("upload");
        }
        let upload_secs = t.elapsed().as_secs_f64();
        let rss_uploaded = status_mib(pid, "VmRSS:");
        phase.store(1, std::sync::atomic::Ordering::Relaxed);
        // Wait (bounded) for every rendition.
        let mut settled = false;
        for _ in 0..1200 {
            let mut pending = 0;
            for j in jobs.iter() {
                let v: serde_json::Value = http
                    .get(format!("{base}/v1/photos/{}", j.photo))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("photo")
                    .json()
                    .await
                    .expect("json");
                if v["renditions"] == "pending" {
                    pending += 1;
                }
            }
            if pending == 0 {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let all_secs = t.elapsed().as_secs_f64();
        phase.store(2, std::sync::atomic::Ordering::Relaxed);
        let sampled = sampler.join().expect("sampler");
        assert!(settled, "renditions still pending after 5 minutes");
        println!(
            "uploads: {UPLOADS} x {:.2} MB in {} KiB chunks, concurrently: {:.2} s = {:.0} MB/s aggregate (target >= 200 MB/s)",
            total_bytes as f64 / UPLOADS as f64 / 1e6,
            CHUNK / 1024,
            upload_secs,
            total_bytes as f64 / 1e6 / upload_secs
        );
        println!(
            "renditions of all {UPLOADS} photos done {:.2} s after the first byte ({:.0} ms per photo on the decode thread)",
            all_secs,
            all_secs * 1000.0 / UPLOADS as f64
        );
        println!(
            "server RSS: largest sampled {:.1} MiB while uploading, {:.1} MiB while finishing renditions; {rss_uploaded:.1} MiB right after the uploads, {:.1} MiB now; peak (VmHWM) {:.1} MiB = {:.0} MB (target < 256 MB)",
            sampled[0],
            sampled[1],
            status_mib(pid, "VmRSS:"),
            status_mib(pid, "VmHWM:"),
            status_mib(pid, "VmHWM:") * 1.048_576
        );
        println!(
            "  of which now: anonymous {:.1} MiB, file-backed {:.1} MiB; threads {}",
            status_mib(pid, "RssAnon:"),
            status_mib(pid, "RssFile:"),
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Threads:"))
                .map(|l| l.trim_start_matches("Threads:").trim().to_owned())
                .unwrap_or_default()
        );
    });
    drop(server);
}

//! Photo evidence benchmark (run with `cargo bench -p lantian --bench photos`):
//!
//! 1. Renditions in-process, one thread, median of 15: a 1.2 MP (~300 KB) and a 12 MP (~3 MB)
//!    JPEG, and the encoder settings side by side (size and PSNR against the unencoded pixels).
//! 2. CPU per verified photo: the real `lantian` binary receives 1.2 MP and 12 MP photos over tus
//!    (256 KiB chunks with sha1 checksums, as a phone sends them) until every rendition is made;
//!    the server's CPU time (user + system, from /proc) per photo. With `BENCH_BASELINE_BIN`
//!    naming another `lantian` binary (built from an earlier commit), the same run measures it
//!    too, and prints the ratio.
//!    (`BENCH_ONLY=render`: item 1 alone; `cpu` or `mem`: without it.)
//! 3. Uploads: 50 officers upload a ~4 MB JPEG each at once over loopback, against the real
//!    binary; aggregate MB/s while the server makes renditions, the time until every rendition is
//!    made, the server's peak RSS, and its RSS once it has been idle for 5 s
//!    (`BENCH_ONLY=uploads`: item 3 alone).
//! 4. `BENCH_ONLY=pace`, alone: 50 officers each sending a 12 MP JPEG every 10 s, then a backlog
//!    of 50 at once, beside an install that pushes and pulls every 250 ms ([`keep_up`]).
//!
//! The load generator shares the machine's two cores with the server; chunk checksums are computed
//! before the clock starts so the figure is the server's.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{PASSWORD, cpu_split, status_mib};
use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::subject::Subject;
use lantian_media::testing::{ExifSpec, jpeg_quality};
use lantian_media::{Limits, render};
use sha1::Digest;

const UPLOADS: usize = 50;
const CHUNK: usize = 256 * 1024;

/// A photo with the texture of a real one (sky, ground with grain, a structure), JPEG quality
/// 92: a 1.2 MP one is about 300 KB and a 12 MP one about 3 MB, as phones send them.
fn photo(w: u32, h: u32, seed: u32) -> Vec<u8> {
    photo_q(w, h, seed, 92)
}

/// [`photo`] at JPEG quality `q`.
fn photo_q(w: u32, h: u32, seed: u32, q: u8) -> Vec<u8> {
    let horizon = h * 2 / 5;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let n =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed.wrapping_mul(97)) >> 27;
        let g = n as u8;
        if y < horizon {
            let v = (y * 60 / horizon.max(1)) as u8;
            image::Rgb([
                150 + v / 2 + g / 4,
                180 + v / 3,
                215u8.saturating_sub(v / 4),
            ])
        } else if (x / 97 + y / 89 + seed).is_multiple_of(5) {
            image::Rgb([90 + g, 84 + g, 70 + g])
        } else {
            image::Rgb([120 + g, 108 + g, 88 + g / 2])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
        .encode_image(&img)
        .expect("encode");
    out
}

fn median_ms(mut f: impl FnMut(), n: usize) -> (f64, f64) {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

fn renditions() {
    // One thread, as a decode thread runs them: `jpeg-decoder`'s tasks stay on the rayon pool it
    // is called from (outside one, they would spread over rayon's global pool).
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    for (w, h) in [(1280u32, 960u32), (4000, 3000)] {
        let p = photo(w, h, 1);
        let (med, min) = one.install(|| {
            median_ms(
                || {
                    let r = render::render(
                        &p,
                        lantian_domain::media::PhotoFormat::Jpeg,
                        6,
                        &Limits::default(),
                    )
                    .expect("renders");
                    assert!(!r.thumb.is_empty());
                },
                15,
            )
        });
        println!(
            "renditions of a {:.1} MP JPEG ({w} x {h}, {} KB), one thread: median {med:.1} ms (min {min:.1})",
            f64::from(w * h) / 1e6,
            p.len() / 1024
        );
    }
    // The encoders side by side on a 1600 x 1200 review image (from the 12 MP photo).
    let review = image::load_from_memory(&photo(4000, 3000, 2))
        .expect("decode")
        .resize_exact(1600, 1200, image::imageops::FilterType::Triangle)
        .into_rgb8();
    println!("encoding a 1600 x 1200 review rendition (size, PSNR against the pixels, time):");
    for q in [70u8, 75, 80, 85, 90] {
        let mut a = Vec::new();
        let (ta, _) = median_ms(
            || {
                a.clear();
                jpeg_encoder::Encoder::new(&mut a, q)
                    .encode(review.as_raw(), 1600, 1200, jpeg_encoder::ColorType::Rgb)
                    .expect("encode");
            },
            9,
        );
        let mut b = Vec::new();
        let (tb, _) = median_ms(
            || {
                b.clear();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut b, q)
                    .encode_image(&review)
                    .expect("encode");
            },
            9,
        );
        let pa = psnr(
            review.as_raw(),
            image::load_from_memory(&a).expect("a").into_rgb8().as_raw(),
        );
        let pb = psnr(
            review.as_raw(),
            image::load_from_memory(&b).expect("b").into_rgb8().as_raw(),
        );
        println!(
            "  q{q}: jpeg-encoder {:>4} KB, {pa:.2} dB, {ta:>5.1} ms | image {:>4} KB, {pb:.2} dB, {tb:>5.1} ms",
            a.len() / 1024,
            b.len() / 1024
        );
    }
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

/// An install of demo_inspector's at `path`, logged in, its first pull done.
async fn officer(base: &str, path: &std::path::Path) -> Client {
    let client = Client::open(path, ClientConfig::new(base)).expect("client");
    client
        .login("demo_inspector", PASSWORD)
        .await
        .expect("login");
    client.pull().await.expect("pull");
    client
}

/// The published templates and the subjects `client` has pulled.
fn catalog(
    client: &Client,
) -> (
    Vec<lantian_domain::checklist::ChecklistTemplate>,
    Vec<Subject>,
) {
    let templates = sim::latest_templates(client).expect("templates");
    let subjects = client
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    (templates, subjects)
}

/// An inspection of a subject drawn at random, by its kind's template; `None` when the kind has
/// none.
fn draw(
    rng: &mut Rng,
    templates: &[lantian_domain::checklist::ChecklistTemplate],
    subjects: &[Subject],
) -> Option<lantian_domain::mutation::InspectionSubmit> {
    let s = &subjects[rng.below(subjects.len())];
    let t = templates
        .iter()
        .find(|t| t.subject_kind == s.attributes.kind())?;
    Some(sim::random_inspection(rng, s, t, None))
}

/// `n` inspections queued on `client` (not pushed), each with its signature photo: `base` with an
/// EXIF block of its own (`{label}-{i}` as the camera, the inspection's place), so that no two
/// photos share their bytes and every one gets its renditions; the chunks' checksums and the
/// SHA-256 made now, before any clock starts.
fn jobs(client: &Client, rng: &mut Rng, base: &[u8], n: usize, label: &str) -> Vec<Job> {
    let (templates, subjects) = catalog(client);
    let mut jobs = Vec::new();
    // Bounded: every demo subject kind has a template, so almost every draw queues one.
    for _ in 0..n * 100 {
        if jobs.len() == n {
            break;
        }
        let Some(submit) = draw(rng, &templates, &subjects) else {
            continue;
        };
        client.submit_inspection(&submit).expect("queued");
        let spec = ExifSpec {
            make: Some(format!("{label}-{}", jobs.len())),
            gps: Some((submit.location.lat, submit.location.lon)),
            orientation: Some(1),
            ..ExifSpec::default()
        };
        let bytes =
            lantian_media::testing::with_app1(base, &lantian_media::testing::exif_block(&spec));
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
    assert_eq!(jobs.len(), n, "a template for the subjects drawn");
    jobs
}

/// Server CPU per verified photo with the binary `bin`: `n` photos of `w` x `h`, uploaded over
/// tus by `clients` clients each sending its photos back to back, until every rendition is made.
/// Returns milliseconds of server CPU per photo and the server's peak RSS (MiB) over the run.
fn cpu_per_photo(
    rt: &tokio::runtime::Runtime,
    bin: &str,
    (w, h): (u32, u32),
    n: usize,
    clients: usize,
) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::serve_bin(
        bin,
        &dir.path().join("data"),
        &[("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000")],
    );
    let (base, pid) = (server.base.clone(), server.child.id());
    let per = rt.block_on(async {
        let cdir = tempfile::tempdir().expect("tempdir");
        let client = officer(&base, &cdir.path().join("officer.db")).await;
        let mut rng = Rng(9);
        let jobs = jobs(&client, &mut rng, &photo(w, h, 3), n, "cpu");
        client.push().await.expect("push");
        let token = common::token(&base, "demo_inspector").await;
        let http = reqwest::Client::new();
        // Settled: the logins' argon2 and the push are behind us.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = cpu_split(pid);
        let jobs = std::sync::Arc::new(jobs);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (http, base, token, jobs) =
                (http.clone(), base.clone(), token.clone(), jobs.clone());
            tasks.push(tokio::spawn(async move {
                for i in (c..n).step_by(clients) {
                    upload(&http, &base, &token, &jobs[i]).await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("uploads");
        }
        // Every rendition made (bounded), then the server's CPU since the first byte. Read from
        // the database file, so that asking costs the server nothing.
        let db = rusqlite::Connection::open_with_flags(
            dir.path().join("data").join("lantian.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the server's database");
        let mut settled = false;
        for _ in 0..2400 {
            let pending: i64 = db
                .query_row(
                    "SELECT count(*) FROM photos WHERE renditions = 'pending'",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(1);
            let done: i64 = db
                .query_row("SELECT count(*) FROM photos", [], |r| r.get(0))
                .unwrap_or(0);
            if pending == 0 && done as usize == n {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(settled, "renditions still pending after a minute");
        let after = cpu_split(pid);
        let (user, sys) = (
            (after.0 - before.0) * 1000.0 / n as f64,
            (after.1 - before.1) * 1000.0 / n as f64,
        );
        println!(
            "    ({w} x {h}, {clients} clients, {bin}: user {user:.1} ms + system {sys:.1} ms per photo; peak RSS {:.1} MiB)",
            status_mib(pid, "VmHWM:")
        );
        (user + sys, status_mib(pid, "VmHWM:"))
    });
    drop(server);
    per
}

/// Polls `pending` (photos waiting for their renditions) every 200 ms, at most `polls` times,
/// until it reads 0; keeps the largest count seen in `largest`. Whether it reached 0.
async fn caught_up(pending: &impl Fn() -> i64, largest: &mut i64, polls: usize) -> bool {
    for _ in 0..polls {
        let n = pending();
        *largest = (*largest).max(n);
        if n == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// `BENCH_ONLY=pace`: the load the issue sets renditions to keep up with, 50 officers each
/// sending a 12 MP JPEG (~3 MB) every 10 s, for `BENCH_PACE_SECS` seconds (default 60); then a
/// backlog, 50 more at once. All the while another install of an officer pushes one inspection
/// and pulls every 250 ms, from 5 s before the photos start: its latencies idle, under the paced
/// photos and while the backlog drains. From the server's database afterwards: each photo's wait
/// from its verification to its renditions (the photo's last change), whether they were made in
/// the order the photos were verified, and the largest backlog sampled.
fn keep_up(rt: &tokio::runtime::Runtime) {
    const OFFICERS: usize = 50;
    const EVERY: Duration = Duration::from_secs(10);
    let secs: u64 = std::env::var("BENCH_PACE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rounds = (secs / EVERY.as_secs()).max(1) as usize;
    let paced = rounds * OFFICERS;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = common::serve(&data, &[("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000")]);
    let (base, pid) = (server.base.clone(), server.child.id());
    rt.block_on(async {
        let cdir = tempfile::tempdir().expect("tempdir");
        let client = officer(&base, &cdir.path().join("officers.db")).await;
        let mut rng = Rng(11);
        // Quality 95: about 3 MB, what the officers send (92 gives 2.3 MB).
        let jobs = jobs(
            &client,
            &mut rng,
            &photo_q(4000, 3000, 5, 95),
            paced + OFFICERS,
            "pace",
        );
        let (templates, subjects) = catalog(&client);
        client.push().await.expect("push");
        println!(
            "keeping up: {OFFICERS} officers each sending a {:.2} MB 4000 x 3000 JPEG every {} s for {} s ({paced} photos), then {OFFICERS} at once",
            jobs[0].bytes.len() as f64 / 1e6,
            EVERY.as_secs(),
            rounds as u64 * EVERY.as_secs()
        );
        let token = common::token(&base, "demo_inspector").await;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(OFFICERS)
            .build()
            .expect("http");
        let db = rusqlite::Connection::open_with_flags(
            data.join("lantian.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the server's database");
        let pending = || -> i64 {
            db.query_row(
                "SELECT count(*) FROM photos WHERE renditions = 'pending'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
        };
        // 0 idle, 1 paced photos, 2 the backlog draining, 3 done.
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
        let probe = {
            let (phase, base) = (phase.clone(), base.clone());
            let (templates, subjects) = (templates.clone(), subjects.clone());
            tokio::spawn(async move {
                let c = officer(&base, &cdir.path().join("probe.db")).await;
                let mut rng = Rng(12);
                let mut seen: [Vec<(Duration, Duration)>; 3] = Default::default();
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                // Bounded: the phases end within minutes; 4,000 ticks is over 16.
                for _ in 0..4_000 {
                    tick.tick().await;
                    let p = phase.load(std::sync::atomic::Ordering::Relaxed) as usize;
                    if p > 2 {
                        break;
                    }
                    let Some(submit) = draw(&mut rng, &templates, &subjects) else {
                        continue;
                    };
                    c.submit_inspection(&submit).expect("queued");
                    let at = Instant::now();
                    let pushed = c.push().await.expect("probe push");
                    assert_eq!(pushed.applied, 1);
                    let push = at.elapsed();
                    let at = Instant::now();
                    c.pull().await.expect("probe pull");
                    seen[p].push((push, at.elapsed()));
                }
                seen
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        let jobs = std::sync::Arc::new(jobs);
        let cpu_before = common::cpu_secs(pid);
        let start = Instant::now();
        phase.store(1, std::sync::atomic::Ordering::Relaxed);
        let mut tasks = Vec::new();
        for o in 0..OFFICERS {
            let (http, base, token, jobs) =
                (http.clone(), base.clone(), token.clone(), jobs.clone());
            tasks.push(tokio::spawn(async move {
                let mut late = 0;
                for k in 0..rounds {
                    let due = start + EVERY * k as u32 + EVERY / OFFICERS as u32 * o as u32;
                    let due = tokio::time::Instant::from_std(due);
                    // Late: its officer's previous upload still ran when this one was due.
                    if tokio::time::Instant::now() > due + Duration::from_millis(100) {
                        late += 1;
                    }
                    tokio::time::sleep_until(due).await;
                    upload(&http, &base, &token, &jobs[k * OFFICERS + o]).await;
                }
                late
            }));
        }
        let mut backlog = [0i64; 2];
        let mut late = 0;
        // Bounded: the officers' last uploads are due at the end of the last round; two minutes
        // more for them to finish.
        let deadline = start + EVERY * rounds as u32 + Duration::from_secs(120);
        for task in tasks {
            while !task.is_finished() {
                assert!(Instant::now() < deadline, "uploads still running at the deadline");
                backlog[0] = backlog[0].max(pending());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            late += task.await.expect("officer");
        }
        let offered = start.elapsed();
        // Until the last paced photo's renditions are made (bounded).
        caught_up(&pending, &mut backlog[0], 600).await;
        let paced_secs = start.elapsed().as_secs_f64();
        let cores = (common::cpu_secs(pid) - cpu_before) / paced_secs;
        phase.store(2, std::sync::atomic::Ordering::Relaxed);
        let burst = Instant::now();
        let mut tasks = Vec::new();
        for o in 0..OFFICERS {
            let (http, base, token, jobs) =
                (http.clone(), base.clone(), token.clone(), jobs.clone());
            tasks.push(tokio::spawn(async move {
                upload(&http, &base, &token, &jobs[paced + o]).await;
            }));
        }
        for task in tasks {
            task.await.expect("upload");
        }
        let uploaded = burst.elapsed();
        let drained = caught_up(&pending, &mut backlog[1], 1_200).await;
        let drain = burst.elapsed();
        phase.store(3, std::sync::atomic::Ordering::Relaxed);
        assert!(drained, "the backlog was still there after 4 minutes");
        let seen = probe.await.expect("probe");
        // Each photo's verification and its renditions (its last change), in verification order,
        // as seconds.
        let when = |s: String| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.timestamp_micros() as f64 / 1e6)
                .expect("a time")
        };
        let times: Vec<(f64, f64)> = db
            .prepare(
                "SELECT p.verified_at, (SELECT max(c.at) FROM changes c
                                        WHERE c.entity = 'photo' AND c.entity_id = p.uuid)
                 FROM photos p ORDER BY p.id",
            )
            .expect("photos")
            .query_map([], |r| Ok((when(r.get(0)?), when(r.get(1)?))))
            .expect("photos")
            .collect::<Result<_, _>>()
            .expect("photos");
        assert_eq!(times.len(), paced + OFFICERS, "every photo verified");
        let out_of_order = times.windows(2).filter(|w| w[1].1 < w[0].1).count();
        let waits = |from: usize, to: usize| {
            let mut w: Vec<Duration> = times[from..to]
                .iter()
                .map(|(verified, done)| Duration::from_secs_f64((done - verified).max(0.0)))
                .collect();
            w.sort();
            format!(
                "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                common::percentile_ms(&w, 0.5),
                common::percentile_ms(&w, 0.99),
                w.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            )
        };
        println!(
            "  paced: {paced} photos offered in {:.1} s ({} uploads started late), all renditions made {:.1} s after the first; server CPU {cores:.2} cores; largest backlog {}; verification to renditions {}",
            offered.as_secs_f64(),
            late,
            paced_secs,
            backlog[0],
            waits(0, paced)
        );
        println!(
            "  backlog: {OFFICERS} photos uploaded at once in {:.1} s, drained {:.1} s after the first byte; largest backlog {}; verification to renditions {}",
            uploaded.as_secs_f64(),
            drain.as_secs_f64(),
            backlog[1],
            waits(paced, paced + OFFICERS)
        );
        println!(
            "  renditions made out of the order the photos were verified in: {out_of_order} of {}",
            times.len()
        );
        for (label, s) in ["idle", "under the paced photos", "while the backlog drained"]
            .iter()
            .zip(seen.iter())
        {
            let mut push: Vec<Duration> = s.iter().map(|(p, _)| *p).collect();
            let mut pull: Vec<Duration> = s.iter().map(|(_, p)| *p).collect();
            push.sort();
            pull.sort();
            println!(
                "  sync probe {label}: {} rounds; push of one inspection p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; pull p50 {:.1} ms, p99 {:.1} ms",
                s.len(),
                common::percentile_ms(&push, 0.5),
                common::percentile_ms(&push, 0.99),
                push.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
                common::percentile_ms(&pull, 0.5),
                common::percentile_ms(&pull, 0.99)
            );
        }
    });
    drop(server);
}

fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "pace" {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        keep_up(&rt);
        return;
    }
    let only_cpu = only == "cpu" || only == "mem";
    let only_uploads = only == "uploads";
    if !only_cpu && !only_uploads {
        renditions();
    }
    // `BENCH_ONLY=render`: the in-process renditions alone (what callgrind profiles).
    if only == "render" {
        return;
    }
    if !only_uploads {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let baseline = std::env::var("BENCH_BASELINE_BIN").ok();
        println!("server CPU per verified photo (upload + checks + renditions), 8 clients:");
        let sizes: &[((u32, u32), usize)] = if only == "mem" {
            &[]
        } else {
            &[((1280, 960), 64), ((4000, 3000), 24)]
        };
        for &(size, n) in sizes {
            let (now, _) = cpu_per_photo(&rt, common::BIN, size, n, 8);
            match &baseline {
                Some(b) => {
                    let (then, _) = cpu_per_photo(&rt, b, size, n, 8);
                    let (again, _) = cpu_per_photo(&rt, common::BIN, size, n, 8);
                    println!(
                        "  {} x {}: this build {now:.1} and {again:.1} ms, baseline {then:.1} ms: ratio {:.2} (target <= 0.25)",
                        size.0,
                        size.1,
                        now.min(again) / then
                    );
                }
                None => println!(
                    "  {} x {}: {now:.1} ms per photo ({n} photos)",
                    size.0, size.1
                ),
            }
        }
        // The memory target's load: 32 clients each sending 300 KB photos back to back.
        let (ms, peak) = cpu_per_photo(&rt, common::BIN, (1280, 960), 256, 32);
        println!(
            "32 clients sending 1.2 MP photos back to back: {ms:.1} ms of server CPU per photo, server peak RSS {peak:.1} MiB = {:.0} MB (target < 256 MB)",
            peak * 1.048_576
        );
        if let Some(b) = &baseline {
            let (ms, peak) = cpu_per_photo(&rt, b, (1280, 960), 256, 32);
            println!("  baseline: {ms:.1} ms per photo, peak RSS {peak:.1} MiB");
        }
    }
    if only_cpu {
        return;
    }
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
        let client = officer(&base, &cdir.path().join("officer.db")).await;
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
        let jobs = jobs(&client, &mut rng, &base_photo, UPLOADS, "bench");
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
        // What the server keeps once it has nothing to do: the decode threads end after two
        // seconds without a photo, and give back what their allocator held.
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!(
            "server RSS 5 s after the last rendition, idle: {:.1} MiB",
            status_mib(pid, "VmRSS:")
        );
    });
    drop(server);
}

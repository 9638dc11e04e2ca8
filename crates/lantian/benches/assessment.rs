//! Assessment benchmark (run with `cargo bench -p lantian --bench assessment`):
//!
//! 1. The official rollup of a month with 1,000,000 inspections, 50,000 subjects, 200 units and
//!    20,000 orders: wall time and peak RSS of the rollup (the process's peak is reset first).
//! 2. A revision after 1,000 late inspections.
//! 3. Sync pull latency (p50/p99) with and without a rollup running, against the real server.
//!
//! The month's data is inserted directly with SQL (pushing a million inspections through the API
//! is the sync benchmark's business); every row is shaped as the server writes it.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, status_mib};
use lantian_client::{Client, ClientConfig};
use rusqlite::params;

const MONTH: &str = "2026-10";
const LOCATION: &str =
    r#"{"lat":36.4,"lon":115.9,"accuracy_m":10.0,"datum":"wgs84","mock":false,"gps_time":null}"#;

fn reset_peak() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn me() -> u32 {
    std::process::id()
}

fn fill(db: &std::path::Path) -> (usize, usize) {
    let mut c = rusqlite::Connection::open(db).expect("open");
    c.busy_timeout(Duration::from_secs(30)).expect("timeout");
    let tx = c.transaction().expect("tx");
    let counties = [
        "yanggu", "shenxian", "dong_e", "chiping", "guanxian", "gaotang",
    ];
    // 200 units: the reference ones plus towns under six counties.
    let existing: i64 = tx
        .query_row("SELECT count(*) FROM units", [], |r| r.get(0))
        .expect("units");
    let towns = 200 - existing as usize;
    for i in 0..towns {
        let county = counties[i % counties.len()];
        tx.execute(
            "INSERT INTO units (code, name_zh, name_en, kind, parent_id, path, peer_group)
             SELECT ?1, ?2, ?3, 'town', id, path || ?1 || '/', NULL FROM units WHERE code = ?4",
            params![
                format!("bench_town_{i}"),
                format!("镇{i}"),
                format!("Town {i}"),
                county
            ],
        )
        .expect("unit");
    }
    let unit_ids: Vec<i64> = tx
        .prepare("SELECT id FROM units WHERE code LIKE 'bench_town_%' OR code IN ('yanggu','shenxian','dong_e','chiping','guanxian','gaotang')")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("ids");
    let user: i64 = tx
        .query_row(
            "SELECT id FROM users WHERE username = 'demo_inspector'",
            [],
            |r| r.get(0),
        )
        .expect("user");
    tx.execute(
        "INSERT INTO clients (client_id, user_id, app_version, registered_at) VALUES ('bench-client', ?1, 'bench', '2026-10-01T00:00:00.000Z')",
        [user],
    )
    .expect("client");
    let client = tx.last_insert_rowid();
    let now = "2026-10-01T00:00:00.000Z";
    let mut subjects = Vec::with_capacity(50_000);
    {
        let mut st = tx
            .prepare(
                "INSERT INTO subjects (uuid, kind, name, unit_id, lat, lon, attributes, search_text, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 36.4, 115.9, ?5, ?3, ?6, ?6)",
            )
            .expect("prep");
        for i in 0..50_000u32 {
            let (kind, attrs) = match i % 3 {
                0 => ("construction_site", "{}".to_owned()),
                1 => (
                    "restaurant",
                    format!(
                        "{{\"grade\":\"{}\"}}",
                        ["a", "b", "c"][(i % 9 / 3) as usize]
                    ),
                ),
                _ => ("stockpile", "{}".to_owned()),
            };
            let unit = unit_ids[i as usize % unit_ids.len()];
            st.execute(params![
                uuid::Uuid::now_v7().to_string(),
                kind,
                format!("S{i}"),
                unit,
                attrs,
                now
            ])
            .expect("subject");
            subjects.push((tx.last_insert_rowid(), unit));
        }
    }
    // A real verdict's JSON: the server reads it back when it loads an inspection.
    let verdict = serde_json::to_string(&lantian_domain::geo::verdict(
        &lantian_domain::geo::VerdictInput {
            original: (36.4, 115.9),
            datum: lantian_domain::geo::Datum::Wgs84,
            accuracy_m: 10.0,
            mock: false,
            at: chrono::Utc::now(),
            subject_point: Some((36.4, 115.9)),
            subject_shape: None,
            previous: None,
            exif_positions: &[],
        },
        &lantian_domain::geo::VerdictThresholds::default(),
    ))
    .expect("verdict");
    let mut inspections = Vec::with_capacity(1_000_000);
    {
        let mut st = tx
            .prepare(
                "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version,
                     results, location, signature_photo, expected_photos, device_time, received_at, clock_offset_ms, occurred_at,
                     score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state, verdict, verdict_level)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'bench', 1, '[]', ?14, ?7, '[]', ?8, ?8, 0, ?8, ?9, 100, '[]', ?10, ?11, '[]', ?12, ?15, ?13)",
            )
            .expect("prep");
        for i in 0..1_000_000u32 {
            let (s, unit) = subjects[(i as usize * 7919) % subjects.len()];
            let day = 1 + i % 30;
            let at = format!("2026-10-{day:02}T{:02}:00:00.000Z", i % 15);
            let critical = i % 53 == 0;
            st.execute(params![
                uuid::Uuid::now_v7().to_string(),
                user,
                client,
                i64::from(i) + 1,
                s,
                unit,
                uuid::Uuid::now_v7().to_string(),
                at,
                60 + i % 41,
                if critical { "[\"CS1\"]" } else { "[]" },
                !critical,
                if i % 10 == 0 {
                    "awaiting_media"
                } else {
                    "complete"
                },
                ["ok", "ok", "ok", "doubtful", "implausible"][(i % 5) as usize],
                LOCATION,
                verdict.as_str(),
            ])
            .expect("inspection");
            if i % 50 == 0 {
                inspections.push((tx.last_insert_rowid(), s, unit));
            }
        }
    }
    {
        let mut st = tx
            .prepare(
                "INSERT INTO rectifications (uuid, inspection_id, item, subject_id, unit_id, finder_id, severity, opened_by,
                     opened_at, deadline, state, overdue, rework_count, extension_count, closed_on_time)
                 VALUES (?1, ?2, 'CS1', ?3, ?4, ?5, 'normal', 'system', ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .expect("prep");
        for i in 0..20_000usize {
            let (insp, s, unit) = inspections[i % inspections.len()];
            let state = ["closed", "closed", "open", "deferred", "reported_handled"][i % 5];
            st.execute(params![
                uuid::Uuid::now_v7().to_string(),
                insp,
                s,
                unit,
                user,
                now,
                format!("2026-10-{:02}T08:00:00.000Z", 1 + i % 30),
                state,
                state == "open",
                (i % 7 == 0) as i64,
                (i % 11 == 0) as i64,
                if state == "closed" {
                    Some(i % 3 != 0)
                } else {
                    None
                },
            ])
            .expect("order");
        }
    }
    tx.commit().expect("commit");
    (subjects.len(), unit_ids.len())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = lantian::config::Config {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..lantian::config::Config::default()
    };
    config.jobs.enabled = false;
    config.login.peer_attempts = 100_000;
    rt.block_on(async {
        let store = lantian::app::open_store(&config).await.expect("store");
        lantian::app::load_demo(&store).await.expect("demo");
        let t = Instant::now();
        let (subjects, _) = tokio::task::spawn_blocking({
            let db = config.db_path();
            move || fill(&db)
        })
        .await
        .expect("fill");
        let units: i64 = store
            .read(|c| Ok(c.raw().query_row("SELECT count(*) FROM units", [], |r| r.get(0))?))
            .await
            .expect("units");
        println!(
            "data: 1,000,000 inspections, {subjects} subjects, {units} units, 20,000 orders for {MONTH} (inserted in {:.1} s)",
            t.elapsed().as_secs_f64()
        );

        // Where the time goes: the snapshot read, then the pure computation.
        let (from, to) = lantian_domain::assessment::month_bounds(MONTH).expect("month");
        let t = Instant::now();
        let snap = store
            .read(move |c| lantian_store::assessment::snapshot(c, from, to))
            .await
            .expect("snapshot");
        let read = t.elapsed().as_secs_f64();
        let campaign = lantian_domain::reference::liaocheng().expect("reference").campaign;
        let t = Instant::now();
        let units = lantian_domain::assessment::rollup(&snap, &campaign.weights, &campaign.assessment, None);
        println!(
            "  snapshot read {read:.2} s ({} inspection facts), computation {:.2} s ({} units)",
            snap.inspections.len(),
            t.elapsed().as_secs_f64(),
            units.len()
        );
        drop(snap);
        let rss_before = status_mib(me(), "VmRSS:");
        reset_peak();
        let t = Instant::now();
        let r = lantian::assessment::run(&store, MONTH, true).await.expect("rollup");
        let secs = t.elapsed().as_secs_f64();
        let peak = status_mib(me(), "VmHWM:");
        println!(
            "official rollup: {secs:.2} s (target < 5 s); revision {}; RSS {rss_before:.0} MiB before, peak {peak:.0} MiB during (target < 500 MB)",
            r.revision
        );
        let again = Instant::now();
        let r2 = lantian::assessment::run(&store, MONTH, true).await.expect("rollup");
        println!(
            "the same rollup again: {:.2} s, new revision: {} (idempotent)",
            again.elapsed().as_secs_f64(),
            r2.new_revision
        );

        // 1,000 late inspections of the month.
        let db = config.db_path();
        tokio::task::spawn_blocking(move || {
            let mut c = rusqlite::Connection::open(&db).expect("open");
            c.busy_timeout(Duration::from_secs(30)).expect("timeout");
            let tx = c.transaction().expect("tx");
            tx.execute(
                "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version,
                     results, location, signature_photo, expected_photos, device_time, received_at, clock_offset_ms, occurred_at,
                     score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state, verdict_level)
                 SELECT uuid || '-late', user_id, client_row, mid + 2000000, subject_id, unit_id, template_code, template_version,
                     results, location, signature_photo || '-late', expected_photos, device_time, received_at, clock_offset_ms,
                     occurred_at, 100, 100, failed_items, '[]', 1, flags, 'complete', 'ok'
                 FROM inspections ORDER BY id LIMIT 1000",
                [],
            )
            .expect("late");
            tx.commit().expect("commit");
        })
        .await
        .expect("late");
        let t = Instant::now();
        let r3 = lantian::assessment::run(&store, MONTH, true).await.expect("revision");
        println!(
            "revision after 1,000 late inspections: {:.2} s (target < 0.5 s); revision {}, {} figures changed",
            t.elapsed().as_secs_f64(),
            r3.revision,
            r3.changes
        );
        drop(store);

        // Sync pulls with and without a rollup running.
        let running = lantian::app::start(&config, false, std::future::pending())
            .await
            .expect("server");
        let base = format!("http://{}", running.addr);
        let cdir = tempfile::tempdir().expect("tempdir");
        let client = Client::open(&cdir.path().join("c.db"), ClientConfig::new(&base)).expect("client");
        client.login("demo_inspector", PASSWORD).await.expect("login");
        client.pull().await.expect("first pull");
        let pulls = |n: usize| {
            let client = &client;
            async move {
                let mut times = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    client.pull().await.expect("pull");
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                (times[times.len() / 2], times[times.len() * 99 / 100])
            }
        };
        let (p50, p99) = pulls(400).await;
        let store = running.store.clone();
        let rollup = tokio::spawn(async move {
            let t = Instant::now();
            lantian::assessment::run(&store, MONTH, true).await.expect("rollup");
            t.elapsed().as_secs_f64()
        });
        // Pull for as long as the rollup runs (bounded).
        let mut during = Vec::new();
        for _ in 0..20_000 {
            if rollup.is_finished() {
                break;
            }
            let t = Instant::now();
            client.pull().await.expect("pull");
            during.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        during.sort_by(f64::total_cmp);
        let q50 = during.get(during.len() / 2).copied().unwrap_or(0.0);
        let q99 = during.get(during.len() * 99 / 100).copied().unwrap_or(0.0);
        let took = rollup.await.expect("rollup");
        println!("  {} pulls made while the rollup ran", during.len());
        println!(
            "sync pull without a rollup: p50 {p50:.2} ms, p99 {p99:.2} ms; during an in-process rollup ({took:.2} s): p50 {q50:.2} ms, p99 {q99:.2} ms"
        );
        // As the scheduler runs it: a child `lantian rollup` process under `nice -n 19`.
        let mut child = std::process::Command::new("nice")
            .args(["-n", "19", common::BIN, "--data-dir"])
            .arg(&config.data_dir)
            .args(["rollup", "--month", MONTH, "--force"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("nice lantian rollup");
        let t = Instant::now();
        let mut niced = Vec::new();
        for _ in 0..20_000 {
            if child.try_wait().expect("child").is_some() {
                break;
            }
            let t = Instant::now();
            client.pull().await.expect("pull");
            niced.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let status = child.wait().expect("child");
        assert!(status.success());
        let took = t.elapsed().as_secs_f64();
        niced.sort_by(f64::total_cmp);
        let n50 = niced.get(niced.len() / 2).copied().unwrap_or(0.0);
        let n99 = niced.get(niced.len() * 99 / 100).copied().unwrap_or(0.0);
        println!(
            "during a scheduled (niced child process) rollup ({took:.2} s, {} pulls): p50 {n50:.2} ms, p99 {n99:.2} ms (target: within 2x of {p99:.2} ms)",
            niced.len()
        );
        running.stop().await.expect("stop");
    });
}

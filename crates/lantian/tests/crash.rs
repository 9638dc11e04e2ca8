//! The crash harness: the real `lantian` binary under load from simulated officers (pushes, pulls,
//! photo uploads) and an admin (subject writes), killed with SIGKILL at random moments, sometimes
//! while a `lantian rollup` or a `lantian backup` runs beside it (those are killed too), then
//! checked on disk and restarted. After every kill:
//! - every write that got a 2xx exists, exactly once;
//! - no push batch is half-applied: each install's mutation record is gapless up to its
//!   `last_mutation_id`, and every applied submit has its inspection and nothing else does;
//! - every photo row points at an original whose bytes hash to its record (`lantian audit photos`);
//! - `PRAGMA integrity_check` is ok, the audit chain and every evidence seal verify
//!   (`lantian audit verify`), and every finished backup is whole.
//!
//! At the end the network heals and every install's queue drains: the server then holds every
//! inspection and photo that was ever queued. `CRASH_CYCLES` (default 9) sets the number of kills;
//! `CRASH_SEED` the seed. Figures for long runs are in docs/reliability.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::reference::DEMO_PASSWORD;
use tokio::sync::Mutex;
use uuid::Uuid;

mod process;
use process::{env_u64, free_port, lantian, login, run_ok, start};

const OFFICERS: [&str; 4] = [
    "demo_inspector",
    "crash_yanggu",
    "crash_linqing",
    "crash_gulou",
];

/// What the load was told was stored (2xx), shared by the load tasks.
#[derive(Default)]
struct Acked {
    /// Subjects created by the admin (201).
    subjects: BTreeSet<String>,
    /// Photo id -> SHA-256 of the bytes attached.
    photos: BTreeMap<Uuid, String>,
    /// Every inspection queued on a phone (acknowledged or not yet).
    queued: BTreeSet<Uuid>,
}

fn client_config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new(format!("http://127.0.0.1:{port}"));
    c.max_attempts = 1;
    c.backoff_base = Duration::from_millis(5);
    c.backoff_cap = Duration::from_millis(20);
    c.request_timeout = Duration::from_secs(5);
    c.upload_chunk = 32 * 1024;
    c
}

fn queue_one(c: &Client, rng: &mut Rng, camera: &Path, acked: &mut Acked) {
    let queued = sim::queue_with_photos(c, rng, 1, camera, |rng| {
        lantian_media::testing::jpeg(64 + rng.below(300) as u32, 48 + rng.below(200) as u32, None)
    })
    .expect("queued");
    for (inspection, photos) in queued {
        acked.queued.insert(inspection);
        acked.photos.extend(photos);
    }
}

/// One officer's loop until `stop`: queue, sync, upload, pull. Failures are expected (the server
/// dies under it); nothing is retried by hand.
async fn officer_loop(
    c: Arc<Client>,
    seed: u64,
    camera: PathBuf,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed | 1);
    for _ in 0..10_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        {
            let mut a = acked.lock().await;
            queue_one(&c, &mut rng, &camera, &mut a);
        }
        let _ = c.sync().await;
        let _ = c.upload_photos().await;
        tokio::time::sleep(Duration::from_millis(rng.below(40) as u64)).await;
    }
}

async fn admin_loop(port: u16, token: String, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for i in 0..10_000u32 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let body = serde_json::json!({
            "name": format!("崩溃测试饭店 {} {i}", Uuid::now_v7()), "unit": "dongchangfu", "kind": "restaurant",
            "attributes": {"grade": "b"}, "location": {"lat": 36.44, "lon": 115.98}});
        if let Ok(r) = http
            .post(format!("http://127.0.0.1:{port}/v1/subjects"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            && r.status() == reqwest::StatusCode::CREATED
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(id) = v["id"].as_str()
        {
            acked.lock().await.subjects.insert(id.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Everything checked on disk after a kill, with the server down.
fn check_after_kill(data: &Path, clients: &[Arc<Client>], acked: &Acked) -> Checked {
    let db = rusqlite::Connection::open(data.join("lantian.db")).expect("open db");
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(integrity, "ok");
    let fk: i64 = db
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("fk");
    assert_eq!(fk, 0, "foreign keys hold");

    let mut checked = Checked::default();
    // Acknowledged pushes: every mutation an install marked applied/rejected (it got the 2xx)
    // is on record; every applied submit has its inspection, once.
    for c in clients {
        let client_id = c.client_id().to_string();
        let row: Option<(i64, i64)> = db
            .query_row(
                "SELECT id, last_mutation_id FROM clients WHERE client_id = ?1",
                [&client_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let Some((client_row, last)) = row else {
            // Never reached the server yet.
            assert!(
                c.outbox()
                    .expect("outbox")
                    .iter()
                    .all(|q| q.status.is_none())
            );
            continue;
        };
        let (n, min, max): (i64, Option<i64>, Option<i64>) = db
            .query_row(
                "SELECT count(*), min(mid), max(mid) FROM mutations WHERE client_row = ?1",
                [client_row],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("mutations");
        assert_eq!(
            (n, max.unwrap_or(0)),
            (last, last),
            "install {client_id}: the record is gapless up to last_mutation_id"
        );
        assert!(min.is_none_or(|m| m == 1));
        let applied_submits: i64 = db
            .query_row(
                "SELECT count(*) FROM mutations WHERE client_row = ?1 AND name = 'inspection.submit' AND status = 'applied'",
                [client_row],
                |r| r.get(0),
            )
            .expect("count");
        let inspections: i64 = db
            .query_row(
                "SELECT count(*) FROM inspections i JOIN mutations m ON m.client_row = i.client_row AND m.mid = i.mid
                 WHERE i.client_row = ?1 AND m.name = 'inspection.submit' AND m.status = 'applied'",
                [client_row],
                |r| r.get(0),
            )
            .expect("count");
        let all_inspections: i64 = db
            .query_row(
                "SELECT count(*) FROM inspections WHERE client_row = ?1",
                [client_row],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(
            (inspections, all_inspections),
            (applied_submits, applied_submits),
            "install {client_id}: one inspection per applied submit, no other"
        );
        for q in c.outbox().expect("outbox") {
            if q.status.is_some() {
                checked.acked_mutations += 1;
                assert!(
                    q.mid <= last,
                    "acknowledged mutation {} is on record",
                    q.mid
                );
            }
        }
        // Inspections the install knows were applied exist exactly once.
        for (id, _) in c
            .dump()
            .expect("dump")
            .into_iter()
            .filter(|(e, ..)| e == "inspection")
            .map(|(_, id, ..)| (id, ()))
        {
            let n: i64 = db
                .query_row(
                    "SELECT count(*) FROM inspections WHERE uuid = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(n, 1, "inspection {id}");
        }
        // Photos the install finished uploading (the last PATCH got its 204) exist with their bytes.
        for p in c.photos().expect("photos") {
            if p.state == "uploaded" || p.state == "verified" {
                checked.acked_photos += 1;
                let sha: String = db
                    .query_row(
                        "SELECT sha256 FROM photos WHERE uuid = ?1",
                        [p.photo_id.to_string()],
                        |r| r.get(0),
                    )
                    .unwrap_or_else(|e| {
                        panic!("acknowledged photo {} is missing: {e}", p.photo_id)
                    });
                assert_eq!(
                    Some(&sha),
                    acked.photos.get(&p.photo_id),
                    "photo {}",
                    p.photo_id
                );
            }
        }
    }
    for s in &acked.subjects {
        let n: i64 = db
            .query_row("SELECT count(*) FROM subjects WHERE uuid = ?1", [s], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(n, 1, "acknowledged subject {s}");
        checked.acked_subjects += 1;
    }
    let dup: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT uuid FROM inspections GROUP BY uuid HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .expect("dups");
    assert_eq!(dup, 0, "no inspection twice");
    drop(db);

    let mut verify = lantian(data);
    verify.args(["audit", "verify"]);
    run_ok(verify, "lantian audit verify");
    let mut photos = lantian(data);
    photos.args(["audit", "photos"]);
    run_ok(photos, "lantian audit photos");

    // Every finished backup (its manifest is there) is whole.
    if let Ok(entries) = std::fs::read_dir(data.join("backups")) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).expect("manifest"))
                        .expect("a whole manifest");
                let file = data
                    .join("backups")
                    .join(m["database"].as_str().expect("name"));
                let bytes = std::fs::read(&file).expect("backup database");
                assert_eq!(
                    Some(lantian_store::sha256_hex(&bytes).as_str()),
                    m["database_sha256"].as_str()
                );
                let b = rusqlite::Connection::open(&file).expect("open backup");
                let ok: String = b
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .expect("integrity");
                assert_eq!(ok, "ok", "backup {}", file.display());
                checked.backups_checked += 1;
            }
        }
    }
    checked
}

#[derive(Default, Debug)]
struct Checked {
    acked_mutations: u64,
    acked_photos: u64,
    acked_subjects: u64,
    backups_checked: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    let cycles = env_u64("CRASH_CYCLES", 9);
    let seed = env_u64("CRASH_SEED", 2019);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).expect("camera");
    let port = free_port();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);

    // First start: the demo data, and one officer in each of three more units.
    let mut server = start(&data, port, &log).await;
    server.kill().expect("kill");
    server.wait().expect("reaped");
    for (name, unit) in [
        ("crash_yanggu", "yanggu"),
        ("crash_linqing", "linqing"),
        ("crash_gulou", "dongchangfu_gulou"),
    ] {
        let mut add = lantian(&data);
        add.args([
            "user",
            "add",
            "--username",
            name,
            "--role",
            "inspector",
            "--unit",
            unit,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = add.spawn().expect("user add");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{DEMO_PASSWORD}\n").as_bytes())
            .expect("password");
        let out = child.wait_with_output().expect("user add ends");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut server = start(&data, port, &log).await;
    let mut clients = Vec::new();
    for name in OFFICERS {
        let c = Client::open(&dir.path().join(format!("{name}.db")), client_config(port))
            .expect("open");
        c.login(name, DEMO_PASSWORD).await.expect("login");
        c.pull().await.expect("first pull");
        clients.push(Arc::new(c));
    }
    let acked = Arc::new(Mutex::new(Acked::default()));
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("cst"))
        .format("%Y-%m")
        .to_string();

    let mut backups_checked = 0;
    let (mut during_rollup, mut during_backup) = (0u32, 0u32);
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            tasks.push(tokio::spawn(officer_loop(
                c.clone(),
                rng.next_u64() ^ i as u64,
                camera.clone(),
                acked.clone(),
                stop.clone(),
            )));
        }
        let admin = login(port, "demo_admin").await;
        tasks.push(tokio::spawn(admin_loop(
            port,
            admin,
            acked.clone(),
            stop.clone(),
        )));

        // Let the load run, then kill; every third cycle beside a rollup, every third beside a
        // backup, both also killed at a random moment of their run.
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1_200) as u64)).await;
        let mut side = match cycle % 3 {
            1 => {
                let mut c = lantian(&data);
                // The current month's official figures, published early on purpose.
                c.args(["rollup", "--month", &month, "--force"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                Some(("rollup", c.spawn().expect("rollup")))
            }
            2 => {
                let mut c = lantian(&data);
                c.arg("backup").stdout(Stdio::null()).stderr(Stdio::null());
                Some(("backup", c.spawn().expect("backup")))
            }
            _ => None,
        };
        // The side process is killed a random moment into its run (it opens the store, then
        // works), together with the server.
        let window = match side {
            Some(("rollup", _)) => 90,
            _ => 150,
        };
        tokio::time::sleep(Duration::from_millis(rng.below(window) as u64)).await;
        let mut killed_side = None;
        if let Some((what, mut child)) = side.take() {
            if child.try_wait().expect("status").is_none() {
                match what {
                    "rollup" => during_rollup += 1,
                    _ => during_backup += 1,
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            killed_side = Some(what);
        }
        server.kill().expect("SIGKILL");
        server.wait().expect("reaped");
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("the load stops")
                .expect("the load task did not panic");
        }
        let a = acked.lock().await;
        let c = check_after_kill(&data, &clients, &a);
        drop(a);
        backups_checked += c.backups_checked;
        // What was killed runs again to completion on the same data.
        match killed_side {
            Some("rollup") => {
                let mut c = lantian(&data);
                c.args(["rollup", "--month", &month, "--force"]);
                run_ok(c, "lantian rollup after a killed one");
            }
            Some(_) => {
                let mut c = lantian(&data);
                c.arg("backup");
                run_ok(c, "lantian backup after a killed one");
            }
            None => {}
        }
        server = start(&data, port, &log).await;
    }

    // The network heals: every queue drains, every photo is verified.
    for c in &clients {
        sim::drain(c, 8).await;
        assert_eq!(c.pending().expect("pending"), 0);
        let stuck: Vec<_> = c
            .photos()
            .expect("photos")
            .into_iter()
            .filter(|p| p.state != "verified")
            .map(|p| (p.photo_id, p.state))
            .collect();
        assert!(stuck.is_empty(), "photos not verified: {stuck:?}");
    }
    server.kill().expect("kill");
    server.wait().expect("reaped");
    let a = acked.lock().await;
    let last = check_after_kill(&data, &clients, &a);
    let db = rusqlite::Connection::open(data.join("lantian.db")).expect("db");
    let on_server: BTreeSet<Uuid> = db
        .prepare("SELECT uuid FROM inspections")
        .expect("prepare")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row").parse().expect("uuid"))
        .collect();
    assert_eq!(on_server, a.queued, "every inspection ever queued, once");
    let photo_rows: i64 = db
        .query_row("SELECT count(*) FROM photos", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        photo_rows as usize,
        a.photos.len(),
        "every photo ever attached"
    );
    println!(
        "crash harness, seed {seed}: {cycles} kills ({during_rollup} during a rollup, {during_backup} during a backup); \
         {} inspections ({} mutations), {} photos, {} subjects acknowledged; {} backups checked; 0 lost, 0 duplicated, 0 integrity failures",
        a.queued.len(),
        last.acked_mutations,
        last.acked_photos,
        last.acked_subjects,
        backups_checked
    );
}

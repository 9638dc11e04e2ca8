//! Resource faults on the real binary: its data folder on a small tmpfs that fills up, or is
//! remounted read-only, under an officer's pushes and photo uploads and an admin's writes. The
//! server must answer errors (503 with Retry-After), never a 2xx for something it did not store,
//! keep serving reads, and take the same writes once space or write access returns, without a
//! restart. After a SIGKILL, everything it acknowledged is still there and verifies.
//!
//! Mounting needs root: these tests are ignored in a plain `cargo test` and run by `scripts/test`
//! (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::reference::DEMO_PASSWORD;
use reqwest::StatusCode;

mod process;
use process::{free_port, lantian, login, run_ok, start};

/// A tmpfs of `mib` MiB mounted on `path`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(path.to_path_buf())
    }

    /// Lays a read-only bind mount over the folder, or lifts it.
    fn read_only(&self, on: bool) {
        let run = |args: &[&str]| {
            let out = Command::new(args[0])
                .args(&args[1..])
                .arg(&self.0)
                .output()
                .expect("mount runs");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        if on {
            // The folder bound onto itself, then that layer made read-only.
            let me = self.0.to_str().expect("utf-8 path");
            run(&["mount", "--bind", me]);
            run(&["mount", "-o", "remount,bind,ro"]);
        } else {
            run(&["umount"]);
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

/// Fills the file system holding `dir` with a ballast file until a write fails for want of space.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).expect("ballast");
    let block = vec![0u8; 64 * 1024];
    for _ in 0..100_000 {
        if f.write_all(&block).and_then(|()| f.sync_all()).is_err() {
            break;
        }
    }
    // Down to the last byte: smaller writes until nothing fits.
    for _ in 0..100_000 {
        if f.write_all(&[0u8; 512])
            .and_then(|()| f.sync_all())
            .is_err()
        {
            break;
        }
    }
    path
}

fn officer_config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new(format!("http://127.0.0.1:{port}"));
    c.max_attempts = 1;
    c.backoff_base = Duration::from_millis(5);
    c.backoff_cap = Duration::from_millis(20);
    c.upload_chunk = 256 * 1024;
    c
}

/// Queues one inspection with its photos (large enough that a full disk cannot take them).
fn queue_one(c: &Client, rng: &mut Rng, camera: &Path) -> uuid::Uuid {
    sim::queue_with_photos(c, rng, 1, camera, |_| {
        lantian_media::testing::jpeg_quality(900, 700, None, 100)
    })
    .expect("queued")
    .pop()
    .expect("a located subject with a template")
    .0
}

/// A server on a tmpfs data folder of `mib` MiB, an admin's token, and a logged-in officer's
/// install that has pulled.
struct Scene {
    fs: Tmpfs,
    data: PathBuf,
    camera: PathBuf,
    log: PathBuf,
    port: u16,
    server: std::process::Child,
    admin: String,
    c: Client,
    // Last: the folder outlives the mount.
    dir: tempfile::TempDir,
}

async fn scene(mib: u32) -> Scene {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let fs = Tmpfs::mount(&data, mib);
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).expect("camera");
    let log = dir.path().join("server.log");
    let port = free_port();
    let server = start(&data, port, &log).await;
    let admin = login(port, "demo_admin").await;
    let c = Client::open(&dir.path().join("officer.db"), officer_config(port)).expect("open");
    c.login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login");
    c.pull().await.expect("pull");
    Scene {
        fs,
        data,
        camera,
        log,
        port,
        server,
        admin,
        c,
        dir,
    }
}

async fn create_subject(port: u16, token: &str, n: u32) -> (StatusCode, Option<String>, bool) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/subjects"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "name": format!("磁盘测试饭店 {n}"), "unit": "dongchangfu", "kind": "restaurant",
            "attributes": {"grade": "b"}, "location": {"lat": 36.44, "lon": 115.98}}))
        .send()
        .await
        .expect("the server answers");
    let status = r.status();
    let retry_after = r.headers().contains_key("retry-after");
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, body["id"].as_str().map(str::to_owned), retry_after)
}

/// After a SIGKILL: every acknowledged inspection and subject is there, and the store verifies.
fn check_on_disk(data: &Path, inspections: &[uuid::Uuid], subjects: &[String]) {
    let db = rusqlite::Connection::open(data.join("lantian.db")).expect("db");
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(ok, "ok");
    for id in inspections {
        let n: i64 = db
            .query_row(
                "SELECT count(*) FROM inspections WHERE uuid = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, 1, "acknowledged inspection {id}");
    }
    for id in subjects {
        let n: i64 = db
            .query_row("SELECT count(*) FROM subjects WHERE uuid = ?1", [id], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(n, 1, "acknowledged subject {id}");
    }
    drop(db);
    let mut verify = lantian(data);
    verify.args(["audit", "verify"]);
    run_ok(verify, "lantian audit verify");
    let mut photos = lantian(data);
    photos.args(["audit", "photos"]);
    run_ok(photos, "lantian audit photos");
}

/// Inspections this install knows the server applied.
fn applied(c: &Client) -> Vec<uuid::Uuid> {
    c.dump()
        .expect("dump")
        .into_iter()
        .filter(|(e, ..)| e == "inspection")
        .map(|(_, id, ..)| id.parse().expect("uuid"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs (root); scripts/test runs it"]
async fn a_full_disk_answers_errors_never_a_false_2xx_and_recovers_when_space_returns() {
    let Scene {
        fs,
        data,
        camera,
        log: _,
        port,
        mut server,
        admin,
        c,
        dir: _dir,
    } = scene(40).await;
    let mut rng = Rng(77);

    // Some work lands normally.
    let mut queued = vec![queue_one(&c, &mut rng, &camera)];
    c.sync().await.expect("sync");
    c.upload_photos().await.expect("upload");

    // The disk fills up.
    let ballast = fill(&data);
    let mut subjects_acked = Vec::new();
    let (mut refused, mut accepted) = (0, 0);
    for n in 0..12 {
        queued.push(queue_one(&c, &mut rng, &camera));
        let _ = c.push().await;
        let up = c.upload_photos().await;
        if let Ok(up) = up {
            assert_eq!(up.uploaded, 0, "no photo fits on a full disk: {up:?}");
        }
        match create_subject(port, &admin, n).await {
            (StatusCode::CREATED, Some(id), _) => {
                accepted += 1;
                subjects_acked.push(id);
            }
            (StatusCode::SERVICE_UNAVAILABLE, _, retry_after) => {
                assert!(retry_after, "503 says when to retry");
                refused += 1;
            }
            other => panic!("a full disk answered {other:?}"),
        }
    }
    assert!(
        refused > 0,
        "the disk was full: writes were refused ({accepted} accepted)"
    );
    println!(
        "full disk: {refused} subject writes answered 503, {accepted} answered 201 (and are kept)"
    );
    // Reads go on.
    let me = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/subjects?limit=5"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("read");
    assert_eq!(me.status(), StatusCode::OK);

    // Space returns: the same server takes everything, without a restart.
    std::fs::remove_file(&ballast).expect("ballast removed");
    sim::drain(&c, 5).await;
    assert_eq!(c.pending().expect("pending"), 0);
    assert!(
        c.photos()
            .expect("photos")
            .iter()
            .all(|p| p.state == "verified")
    );
    let (status, id, _) = create_subject(port, &admin, 99).await;
    assert_eq!(status, StatusCode::CREATED);
    subjects_acked.extend(id);
    let mut on_server = applied(&c);
    on_server.sort();
    queued.sort();
    assert_eq!(on_server, queued, "every queued inspection, once");

    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    check_on_disk(&data, &queued, &subjects_acked);
    drop(fs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs (root); scripts/test runs it"]
async fn a_read_only_data_folder_refuses_writes_keeps_reads_and_recovers() {
    let Scene {
        fs,
        data,
        camera,
        log,
        port,
        mut server,
        admin,
        c,
        dir: _dir,
    } = scene(64).await;
    let mut rng = Rng(78);
    let mut queued = vec![queue_one(&c, &mut rng, &camera)];
    c.sync().await.expect("sync");

    // The folder turns read-only under the running server. (Linux keeps files that are already
    // open writable: the database goes on; every new file, such as an upload's, is refused.)
    fs.read_only(true);
    let mut subjects_acked = Vec::new();
    for n in 0..4 {
        queued.push(queue_one(&c, &mut rng, &camera));
        let _ = c.push().await;
        let up = c.upload_photos().await.expect("uploads answer");
        assert_eq!(up.uploaded, 0, "a read-only folder took a photo: {up:?}");
        assert!(up.waiting > 0);
        if let (StatusCode::CREATED, Some(id), _) = create_subject(port, &admin, n).await {
            subjects_acked.push(id);
        }
    }
    let read = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/subjects?limit=5"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), StatusCode::OK, "reads go on");

    // Write access returns: the same server takes the photos.
    fs.read_only(false);
    sim::drain(&c, 5).await;
    assert_eq!(c.pending().expect("pending"), 0);
    assert!(
        c.photos()
            .expect("photos")
            .iter()
            .all(|p| p.state == "verified")
    );
    let mut on_server = applied(&c);
    on_server.sort();
    queued.sort();
    assert_eq!(on_server, queued);
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    check_on_disk(&data, &queued, &subjects_acked);

    // Started on a read-only folder, the server refuses to run and says why; nothing changes.
    let before = std::fs::read(data.join("lantian.db")).expect("db");
    fs.read_only(true);
    let mut refused = lantian(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = refused.try_wait().expect("status") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if status.is_none() {
        let _ = refused.kill();
    }
    let out = refused.wait_with_output().expect("output");
    let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        status.is_some_and(|s| !s.success()),
        "it refused to start: {said}"
    );
    assert!(
        said.contains("read-only") || said.contains("readonly"),
        "{said}"
    );
    fs.read_only(false);
    assert_eq!(std::fs::read(data.join("lantian.db")).expect("db"), before);
    let mut server = start(&data, port, &log).await;
    let (status, _, _) = create_subject(port, &login(port, "demo_admin").await, 99).await;
    assert_eq!(status, StatusCode::CREATED);
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    check_on_disk(&data, &queued, &subjects_acked);
    drop(fs);
}

//! Sync benchmark, against the real `lantian` binary on 127.0.0.1 (build: release).
//!
//! 1. Push ingest: 64 concurrent installs push inspections of one shape (20 items, one location
//!    fix) in batches of 50 over HTTP, `synchronous=FULL`; compared in the same run with a raw
//!    rusqlite insert, 50 per transaction, of the rows the server wrote (read back from its
//!    database and inserted into a copy taken before the push), and of stand-ins for them.
//! 2. First sync of a unit with 10,000 subjects: server time per page and bytes on the wire (gzip).
//! 3. Incremental pull with nothing new, 200 concurrent installs: latency percentiles.
//! 4. The server's peak RSS over all of it.
//!
//! Run: `cargo bench -p lantian --bench sync`. Figures go to docs/performance.md.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lantian_client::{Client, ClientConfig};
use serde_json::{Value, json};

mod common;

use common::load::{
    idle_pulls, inspection, installs, post, raw_baseline, replay_baseline, snapshot, template_draft,
};
use common::{BIN, PASSWORD, cpu_secs, status_mib, written_bytes, written_since};

fn lantian(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().expect("lantian runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    assert!(
        child.wait().expect("wait").success(),
        "lantian {args:?} failed"
    );
}

/// Pushes every client's queue at once: the mutations applied, the time taken, the server's CPU
/// seconds and the bytes it wrote to storage meanwhile.
async fn push_all(clients: Vec<Client>, server_pid: u32) -> (u32, Duration, f64, Written) {
    let cpu_before = cpu_secs(server_pid);
    let written_before = written_bytes(server_pid);
    let t = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(async move { c.push().await.map(|s| s.applied) }))
        .collect();
    let mut applied = 0;
    for t in tasks {
        applied += t.await.expect("join").expect("push");
    }
    (
        applied,
        t.elapsed(),
        cpu_secs(server_pid) - cpu_before,
        Written(written_since(server_pid, written_before)),
    )
}

/// Bytes a phase made the server write to storage (`None` where the kernel does not count them).
struct Written(Option<u64>);

impl Written {
    /// ", N KB written to disk per inspection", or nothing.
    fn per(&self, inspections: f64) -> String {
        match self.0 {
            Some(b) => format!(
                ", {:.0} KB written to disk per inspection",
                b as f64 / 1e3 / inspections
            ),
            None => String::new(),
        }
    }
}

/// Bytes of a pull's response body as they cross the wire with `Accept-Encoding: gzip`, over a
/// plain socket (an HTTP client would decompress them before we could count).
fn gzip_wire_bytes(base: &str, token: &str, body: &Value) -> usize {
    use std::io::Read;
    let host = base.trim_start_matches("http://");
    let payload = body.to_string();
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "POST /v1/sync/pull HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    assert!(
        head.contains("content-encoding: gzip"),
        "the server compressed the page: {head}"
    );
    buf.len() - head_end
}

/// The push engine alone (the application layer's prepare, then the store's commit in the
/// writer), in-process: the same batches as over HTTP, straight into
/// `push::push` inside the writer. Separates the writer's cost from HTTP, JSON and the clients.
fn writer_only(batches: Vec<Vec<Value>>, quarters: bool) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            lantian_store::Store::open(&lantian_store::StoreConfig::new(dir.path().join("w.db")))
                .expect("store");
        let reference = lantian_domain::reference::liaocheng().expect("reference");
        store
            .write(move |c| lantian_store::seed::load_reference(c, &reference))
            .await
            .expect("reference");
        let demo = lantian_domain::reference::demo();
        let hashes = vec!["x".to_owned(); demo.users.len()];
        let site = demo
            .subjects
            .iter()
            .find(|(_, d)| {
                d.unit == "dongchangfu"
                    && d.kind() == lantian_domain::subject::SubjectKind::ConstructionSite
            })
            .map(|(id, _)| id.to_string())
            .expect("a site");
        store
            .write(move |c| lantian_store::seed::load_demo(c, &demo, &hashes))
            .await
            .expect("demo");
        let draft: lantian_domain::checklist::TemplateDraft =
            serde_json::from_value(template_draft()).expect("draft");
        store
            .write(move |c| {
                lantian_store::templates::publish(
                    c,
                    lantian_store::sync::Group::new(),
                    "bench20",
                    &draft,
                    None,
                )
                .map(|_| ())
            })
            .await
            .expect("template");
        let user = store
            .read(|c| {
                Ok(lantian_store::identity::user_by_username(c, "demo_inspector")?.expect("user"))
            })
            .await
            .expect("user");
        let client_id = uuid::Uuid::now_v7();
        let uid = user.id;
        store
            .write(move |c| {
                lantian_store::identity::register_client(c, client_id, uid, "bench", None, None)
                    .map(|_| ())
            })
            .await
            .expect("client");
        let client_row = store
            .read(move |c| {
                Ok(lantian_store::push::client(c, client_id, uid)?
                    .expect("row")
                    .row)
            })
            .await
            .expect("row");
        let total: usize = batches.iter().map(Vec::len).sum();
        let mut mid = 0;
        let batches: Vec<Vec<lantian_protocol::sync::Mutation>> = batches
            .into_iter()
            .map(|b| {
                b.into_iter()
                    .map(|mut args| {
                        mid += 1;
                        args["subject_id"] = json!(site);
                        lantian_protocol::sync::Mutation {
                            mid,
                            name: "inspection.submit".into(),
                            args,
                            device_time: chrono::Utc::now(),
                        }
                    })
                    .collect()
            })
            .collect();
        let t = Instant::now();
        let (mut mark, mut done, step) = (Instant::now(), 0usize, total.div_ceil(4).max(1));
        for batch in batches {
            done += batch.len();
            let batch_len = batch.len();
            let batch = lantian_app::sync::prepare(&store, batch, 0)
                .await
                .expect("prepare");
            let ctx = lantian_store::push::Context {
                user: user.clone(),
                client_row,
                client_id,
                received_at: chrono::Utc::now(),
                clock_offset_ms: 0,
                verdicts: lantian_domain::geo::VerdictThresholds::default(),
                rectify: std::sync::Arc::default(),
            };
            let out = store
                .write(move |c| lantian_store::push::push(c, &ctx, &batch))
                .await
                .expect("push");
            assert!(
                out.results
                    .iter()
                    .all(|r| r.status == lantian_store::push::Status::Applied)
            );
            if quarters && done % step < batch_len && done > 0 {
                println!(
                    "  up to {done}: {:.0} inspections/s since the last mark",
                    step as f64 / mark.elapsed().as_secs_f64()
                );
                mark = Instant::now();
            }
        }
        total as f64 / t.elapsed().as_secs_f64()
    })
}

/// `BENCH_ONLY=single`: one mutation a request over HTTP (or `BENCH_BATCH` a request), `BENCH_N`
/// inspections (default 8,000) from 16 installs, long enough to sample; the server's CPU per
/// inspection. With `BENCH_WRAP` (e.g.
/// `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p`) the server runs under it, and
/// under callgrind its counts are zeroed before the pushes and dumped after them, so that the
/// dump holds the pushes alone (`docs/performance.md`, "A single-mutation push").
fn single_only() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000);
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let wrap: Vec<&str> = wrap.split_whitespace().collect();
    let callgrind = wrap.iter().any(|w| w.contains("callgrind"));
    let dir = tempfile::tempdir().expect("tempdir");
    let envs = [("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000")];
    let server = if wrap.is_empty() {
        common::serve(dir.path(), &envs)
    } else {
        common::serve_wrapped(&wrap, dir.path(), &envs)
    };
    let (base, pid) = (server.base.clone(), server.child.id());
    let control = |what: &str| {
        if callgrind {
            let ok = Command::new("callgrind_control")
                .args([what, &pid.to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "callgrind_control {what}");
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let admin: Value = post(&http, format!("{base}/v1/auth/login"), "", &json!({"username": "demo_admin", "password": PASSWORD})).await;
        let admin = admin["access_token"].as_str().expect("token").to_owned();
        post(&http, format!("{base}/v1/templates/bench20/versions"), &admin, &template_draft()).await;
        let cdir = tempfile::tempdir().expect("tempdir");
        let installs_n = 16;
        let (clients, site) = installs(cdir.path(), std::slice::from_ref(&base), installs_n, batch).await;
        let per = n.div_ceil(installs_n);
        let mut k = 0u64;
        for c in &clients {
            for _ in 0..per {
                c.enqueue("inspection.submit", &inspection(&site, k)).expect("enqueue");
                k += 1;
            }
        }
        let before = writer_counts(&http, &base).await;
        control("-z");
        let (applied, elapsed, cpu, written) = push_all(clients, pid).await;
        control("-d");
        let after = writer_counts(&http, &base).await;
        assert_eq!(applied as u64, k);
        println!(
            "{batch} mutation(s) a request: {k} inspections from {installs_n} installs in {:.2} s = {:.0}/s, server CPU {:.0} µs per inspection; {:.1} requests a commit{}",
            elapsed.as_secs_f64(),
            k as f64 / elapsed.as_secs_f64(),
            cpu * 1e6 / k as f64,
            (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64,
            written.per(k as f64)
        );
    });
}

/// The writer's transactions committed and requests run so far, from `/metrics`.
async fn writer_counts(http: &reqwest::Client, base: &str) -> (u64, u64) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    (
        value("lantian_store_transactions_total "),
        value("lantian_store_write_requests_total "),
    )
}

/// `BENCH_ONLY=engine`: the push engine alone, `BENCH_N` inspections (default 2,000) in batches
/// of `BENCH_BATCH` (default 50), reported per quarter so that a cost growing with the table
/// shows; small enough to run under callgrind (`docs/performance.md`, "Where the CPU goes").
fn engine_only() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, batch) = (env("BENCH_N", 2_000), env("BENCH_BATCH", 50).max(1));
    let all: Vec<Value> = (0..n as u64).map(|i| inspection("", i)).collect();
    let batches = all.chunks(batch).map(<[Value]>::to_vec).collect();
    let rate = writer_only(batches, true);
    println!("push engine, {n} inspections in batches of {batch}: {rate:.0} inspections/s");
}

fn main() {
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "engine") {
        engine_only();
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "single") {
        single_only();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");

    // 10,000 subjects of one unit (gaotang), imported before start, and a user there.
    let mut csv = String::from("kind,name,unit,lat,lon,attr.grade\n");
    for i in 0..10_000 {
        csv.push_str(&format!(
            "restaurant,基准饭店{i},gaotang,{:.6},{:.6},{}\n",
            36.83 + (i % 100) as f64 * 0.0007,
            116.20 + (i / 100) as f64 * 0.0007,
            ["a", "b", "c"][i % 3]
        ));
    }
    let csv_path = dir.path().join("subjects.csv");
    std::fs::write(&csv_path, csv).expect("csv");
    let data = dir.path().join("data");
    lantian(
        &data,
        &["import", "subjects", csv_path.to_str().expect("path")],
        None,
    );
    lantian(
        &data,
        &[
            "user",
            "add",
            "--username",
            "gaotang_officer",
            "--role",
            "inspector",
            "--unit",
            "gaotang",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let server = common::serve(&data, &[("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000")]);
    let base = server.base.clone();
    let server_pid = server.child.id();
    println!("lantian sync benchmark (2 cores), server {base}");

    rt.block_on(async {
        let http = reqwest::Client::new();
        // Admin publishes the 20-item checklist.
        let admin: Value = post(&http, format!("{base}/v1/auth/login"), "", &json!({"username": "demo_admin", "password": PASSWORD})).await;
        let admin = admin["access_token"].as_str().expect("token").to_owned();
        post(&http, format!("{base}/v1/templates/bench20/versions"), &admin, &template_draft()).await;

        // 1. Push ingest.
        let clients_n = 64;
        let batches_per_client = 4;
        let batch = 50;
        let cdir = tempfile::tempdir().expect("tempdir");
        let (clients, site) =
            installs(cdir.path(), std::slice::from_ref(&base), clients_n, batch).await;
        let mut raw_rows = Vec::new();
        let mut writer_batches: Vec<Vec<Value>> = Vec::new();
        let mut n = 0u64;
        for c in &clients {
            for _ in 0..batches_per_client * batch {
                let args = inspection(&site, n);
                if (n as usize).is_multiple_of(batch) {
                    writer_batches.push(Vec::new());
                }
                if let Some(b) = writer_batches.last_mut() {
                    b.push(args.clone());
                }
                raw_rows.push((args["inspection_id"].as_str().expect("id").to_owned(), args["results"].to_string()));
                c.enqueue("inspection.submit", &args).expect("enqueue");
                n += 1;
            }
        }
        let total = n as f64;
        println!("  server RSS after start and 66 logins: {:.1} MiB (peak {:.1})", status_mib(server_pid, "VmRSS:"), status_mib(server_pid, "VmHWM:"));
        let db = data.join("lantian.db");
        let snaps = tempfile::tempdir().expect("tempdir");
        let before = snaps.path().join("b50.db");
        snapshot(&db, &before);
        let (applied, elapsed, server_cpu, written) = push_all(clients, server_pid).await;
        println!("  server RSS after the push: {:.1} MiB (peak {:.1})", status_mib(server_pid, "VmRSS:"), status_mib(server_pid, "VmHWM:"));
        assert_eq!(applied as f64, total);
        let http_rate = total / elapsed.as_secs_f64();
        let rows2 = raw_rows.clone();
        let writer_rate = tokio::task::spawn_blocking(move || writer_only(writer_batches, false)).await.expect("writer only");
        let raw_rate = tokio::task::spawn_blocking(move || raw_baseline(&raw_rows, batch, false)).await.expect("raw");
        let full_rate = tokio::task::spawn_blocking(move || raw_baseline(&rows2, batch, true)).await.expect("raw full");
        println!("push ingest: {total} inspections from {clients_n} installs in batches of {batch}: {:.2} s = {http_rate:.0} inspections/s", elapsed.as_secs_f64());
        println!(
            "  server CPU {server_cpu:.2} s for them = {:.0} µs per inspection (wall {:.0} µs per inspection on 2 cores shared with the 64 clients){}",
            server_cpu * 1e6 / total,
            elapsed.as_secs_f64() * 1e6 / total,
            written.per(total)
        );
        println!("the store's push engine alone (no HTTP, no clients), same batches: {writer_rate:.0} inspections/s");
        println!("raw rusqlite insert of the inspection rows alone, {batch} per transaction: {raw_rate:.0} rows/s; ratio {:.2}", http_rate / raw_rate);
        println!(
            "raw rusqlite insert of stand-ins for the rows the server writes per inspection (inspection, change, entity, scope state, audit, mutation, client), {batch} per transaction: {full_rate:.0} inspections/s; ratio {:.2}",
            http_rate / full_rate
        );
        let (db2, before2) = (db.clone(), before.clone());
        let (replay, replayed, replay_written) = tokio::task::spawn_blocking(move || replay_baseline(&db2, &before2, batch)).await.expect("replay");
        println!(
            "raw rusqlite insert of the rows the server wrote, replayed from its database ({}), {batch} per transaction: {replay:.0} inspections/s{}; ratio {:.2}",
            replayed.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", "),
            Written(replay_written).per(total),
            http_rate / replay
        );

        // 1b. Server CPU per inspection in batches of 100 and one mutation a request (the issue 18
        // targets), each with its own raw baseline at the same batch size. Long enough (about a
        // second each) that a moment of the machine's other load does not make the figure.
        for (batch, clients_n, per_client) in [(100usize, 16usize, 800usize), (1, 16, 200)] {
            let cdir = tempfile::tempdir().expect("tempdir");
            let mut clients = Vec::new();
            let mut rows = Vec::new();
            for i in 0..clients_n {
                let mut cfg = ClientConfig::new(&base);
                cfg.push_batch = batch;
                let c = Client::open(&cdir.path().join(format!("b{batch}-{i}.db")), cfg).expect("client");
                c.login("demo_inspector", PASSWORD).await.expect("login");
                for _ in 0..per_client {
                    let args = inspection(&site, n);
                    n += 1;
                    rows.push((args["inspection_id"].as_str().expect("id").to_owned(), args["results"].to_string()));
                    c.enqueue("inspection.submit", &args).expect("enqueue");
                }
                clients.push(c);
            }
            let count = (clients_n * per_client) as f64;
            let before = snaps.path().join(format!("b{batch}.db"));
            snapshot(&db, &before);
            let (applied, elapsed, server_cpu, written) = push_all(clients, server_pid).await;
            assert_eq!(applied as f64, count);
            let rate = count / elapsed.as_secs_f64();
            let full = tokio::task::spawn_blocking(move || raw_baseline(&rows, batch, true)).await.expect("raw full");
            let db2 = db.clone();
            let (replay, replayed, replay_written) = tokio::task::spawn_blocking(move || replay_baseline(&db2, &before, batch)).await.expect("replay");
            println!(
                "push, {} inspections from {clients_n} installs, {batch} a request: {rate:.0}/s, server CPU {:.0} µs per inspection{}; raw insert at {batch} per transaction of stand-ins {full:.0}/s, ratio {:.2}; of the rows it wrote ({}), replayed, {replay:.0}/s{}, ratio {:.2}",
                count,
                server_cpu * 1e6 / count,
                written.per(count),
                rate / full,
                replayed.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", "),
                Written(replay_written).per(count),
                rate / replay
            );
        }

        // 2. First sync of 10,000 subjects.
        let login: Value = post(&http, format!("{base}/v1/auth/login"), "", &json!({"username": "gaotang_officer", "password": PASSWORD})).await;
        let token = login["access_token"].as_str().expect("token").to_owned();
        let client_id = uuid::Uuid::now_v7();
        post(&http, format!("{base}/v1/clients"), &token, &json!({"client_id": client_id, "app_version": "bench"})).await;
        let mut cursor: Option<String> = None;
        let (mut server_ms, mut wire, mut raw_bytes, mut entities, mut pages) = (0.0, 0usize, 0usize, 0usize, 0);
        loop {
            let body = json!({"client_id": client_id, "cursor": cursor, "limit": 2000});
            wire += gzip_wire_bytes(&base, &token, &body);
            let t = Instant::now();
            let r = http.post(format!("{base}/v1/sync/pull")).bearer_auth(&token).json(&body).send().await.expect("pull");
            let bytes = r.bytes().await.expect("bytes");
            server_ms += t.elapsed().as_secs_f64() * 1000.0;
            raw_bytes += bytes.len();
            let v: Value = serde_json::from_slice(&bytes).expect("json");
            entities += v["changes"].as_array().expect("changes").len();
            pages += 1;
            cursor = v["cursor"].as_str().map(str::to_owned);
            if v["has_more"] == false {
                break;
            }
        }
        println!(
            "first sync of gaotang: {entities} entities in {pages} pages, {server_ms:.0} ms request time, {:.2} MB JSON, {:.2} MB gzip on the wire",
            raw_bytes as f64 / 1e6,
            wire as f64 / 1e6
        );

        println!("  server RSS after the first sync: {:.1} MiB (peak {:.1})", status_mib(server_pid, "VmRSS:"), status_mib(server_pid, "VmHWM:"));
        // 3. Incremental pulls with nothing new: 200 installs at the head.
        let installs = 200;
        let mut heads = Vec::new();
        for _ in 0..installs {
            let id = uuid::Uuid::now_v7();
            post(&http, format!("{base}/v1/clients"), &token, &json!({"client_id": id, "app_version": "bench"})).await;
            let mut cur: Option<String> = cursor.clone();
            loop {
                let v = post(&http, format!("{base}/v1/sync/pull"), &token, &json!({"client_id": id, "cursor": cur, "limit": 5000})).await;
                cur = v["cursor"].as_str().map(str::to_owned);
                if v["has_more"] == false {
                    break;
                }
            }
            heads.push((id, cur));
        }
        idle_pulls(&http, &base, &token, &heads, None, &format!("{installs} installs pulling back to back (saturation)")).await;
        // 1,000 pulls/s offered; each install starts n ms in, spreading them over the 200 ms period.
        idle_pulls(&http, &base, &token, &heads, Some(Duration::from_millis(200)), &format!("{installs} installs each pulling every 200 ms")).await;
    });
    println!(
        "server peak RSS: {:.1} MiB",
        status_mib(server.child.id(), "VmHWM:")
    );
}

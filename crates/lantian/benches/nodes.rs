//! Scale-out benchmark (issue 19), against the real `lantian` binary on 127.0.0.1 (build:
//! release), in one run:
//!
//! 1. Push ingest, 32 installs pushing inspections in batches of 50, on SQLite (one node), on
//!    PostgreSQL with one node, and on PostgreSQL with two nodes (the installs alternating between
//!    them). Each node is pinned to a core of its own (`taskset`), the one node of the first two to
//!    core 0, so that "a second node" means a second core's worth of server. Compared in the same
//!    run with a raw insert of every row the server writes per inspection, 50 per transaction, into
//!    each engine (`synchronous=FULL`; PostgreSQL with `synchronous_commit = on`).
//! 2. Idle pulls from the head by 200 installs, back to back and each every 200 ms: p50/p99.
//! 3. The servers' CPU per inspection and their peak RSS.
//!
//! Needs PostgreSQL (`BENCH_POSTGRES_URL`, default the machine's local service). Run:
//! `cargo bench -p lantian --bench nodes`. Figures go to docs/performance.md.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::load::{idle_pulls, inspection, installs, post, raw_baseline, template_draft};
use common::{PASSWORD, Server, cpu_secs, serve_pinned, status_mib};

const INSTALLS: usize = 32;
const BATCHES: usize = 4;
const BATCH: usize = 50;

/// `lantian serve --demo` on `core`, with `envs` and the benchmark's settings.
fn node(dir: &std::path::Path, core: usize, envs: &[(&str, &str)]) -> Server {
    let mut all = vec![
        ("LANTIAN_JOBS__ENABLED", "false"),
        ("LANTIAN_LOGIN__PEER_ATTEMPTS", "100000"),
    ];
    all.extend_from_slice(envs);
    serve_pinned(core, dir, &all)
}

fn admin_url() -> String {
    std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn fresh_database(admin: &str) -> String {
    lantian_store::testing::fresh_postgres_database(admin, "lantian_bench")
}

fn drop_database(admin: &str, url: &str) {
    let (a, name) = (
        admin.to_owned(),
        url.rsplit_once('/')
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default(),
    );
    std::thread::spawn(move || {
        if let Ok(mut c) = postgres::Client::connect(&a, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    })
    .join()
    .expect("drop");
}

/// The raw PostgreSQL insert of every row the server writes per inspection (the statements of the
/// SQLite baseline), `batch` per transaction; inspections per second.
fn raw_postgres(url: &str, rows: &[(String, String)], batch: usize) -> f64 {
    let mut config = lantian_store::StoreConfig::new("unused.db");
    config.database_url = Some(url.to_owned());
    lantian_store::migrate(&config).expect("schema");
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.batch_execute(
        "SET synchronous_commit = on;
         INSERT INTO units (code, name_zh, name_en, kind, path) VALUES ('u', 'u', 'u', 'district', '/u/');
         INSERT INTO users (uuid, username, display_name, role, unit_id, password_hash, created_at) VALUES ('x', 'x', 'x', 'inspector', 1, 'x', 'now');
         INSERT INTO clients (client_id, user_id, app_version, registered_at) VALUES ('c', 1, '1', 'now');
         INSERT INTO subjects (uuid, kind, name, unit_id, attributes, search_text, created_at, updated_at) VALUES ('s', 'construction_site', 's', 1, '{}', 's', 'now', 'now');",
    )
    .expect("fixtures");
    let inspection = c
        .prepare(
            "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
                 location, signature_photo, expected_photos, device_time, received_at, clock_offset_ms, occurred_at, score_earned,
                 score_possible, failed_items, critical_failed, compliant, flags, media_state)
             VALUES ($1, 1, 1, $2, 1, 1, 'bench20', 1, $3, 'x', $4, 'sig', '[]', 'now', 'now', 0, 'now', 90, 95, '[]', '[]', 0, '[]', 'awaiting_media')",
        )
        .expect("prepare");
    let change = c.prepare("INSERT INTO changes (grp, scope, entity, entity_id, op, data, at) VALUES ($1, 'user:x', 'inspection', $2, 'put', $3, 'now') RETURNING seq").expect("prepare");
    // The entity's text is its change's (stored once), as the server writes it.
    let entity = c.prepare("INSERT INTO entities (entity, entity_id, scope, hash, seq) VALUES ('inspection', $1, 'user:x', $2, $3)").expect("prepare");
    let scope = c.prepare("INSERT INTO scope_state (scope, count, checksum) VALUES ('user:x', $1, $2) ON CONFLICT(scope) DO UPDATE SET count = excluded.count, checksum = excluded.checksum").expect("prepare");
    let audit = c.prepare("INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, after_hash, prev_hash, row_hash) VALUES ($1, 'now', 'x', 'inspection.submit', 'inspection', $2, 'h', 'p', 'r')").expect("prepare");
    let mutation = c.prepare("INSERT INTO mutations (client_row, mid, name, args_hash, status, device_time, applied_at) VALUES (1, $1, 'inspection.submit', 'h', 'applied', 'now', 'now')").expect("prepare");
    let client = c
        .prepare("UPDATE clients SET last_mutation_id = $1 WHERE id = 1")
        .expect("prepare");
    let t = Instant::now();
    for (chunk_no, chunk) in rows.chunks(batch).enumerate() {
        let mut tx = c.transaction().expect("tx");
        for (i, (id, results)) in chunk.iter().enumerate() {
            let mid = (chunk_no * batch + i) as i64;
            tx.execute(
                &inspection,
                &[id, &mid, results, &"{\"lat\":36.4,\"lon\":115.9}"],
            )
            .expect("inspection");
            let view = format!("{{\"id\":\"{id}\",\"results\":{results}}}");
            let seq: i64 = tx
                .query_one(&change, &[&mid, id, &view])
                .expect("change")
                .get(0);
            tx.execute(&entity, &[id, &mid, &seq]).expect("entity");
            tx.execute(&scope, &[&mid, &mid]).expect("scope");
            tx.execute(&audit, &[&(mid + 1), id]).expect("audit");
            tx.execute(&mutation, &[&(mid + 1)]).expect("mutation");
            tx.execute(&client, &[&(mid + 1)]).expect("client");
        }
        tx.commit().expect("commit");
    }
    rows.len() as f64 / t.elapsed().as_secs_f64()
}

/// One deployment's figures.
async fn run(label: &str, bases: &[String], pids: &[u32]) -> (f64, Vec<(String, String)>) {
    let http = reqwest::Client::new();
    let base0 = &bases[0];
    let admin: Value = post(
        &http,
        format!("{base0}/v1/auth/login"),
        "",
        &json!({"username": "demo_admin", "password": PASSWORD}),
    )
    .await;
    let admin = admin["access_token"].as_str().expect("token").to_owned();
    post(
        &http,
        format!("{base0}/v1/templates/bench20/versions"),
        &admin,
        &template_draft(),
    )
    .await;
    let cdir = tempfile::tempdir().expect("tempdir");
    let (clients, site) = installs(cdir.path(), bases, INSTALLS, BATCH).await;
    let mut rows = Vec::new();
    let mut n = 0u64;
    for c in &clients {
        for _ in 0..BATCHES * BATCH {
            let args = inspection(&site, n);
            n += 1;
            rows.push((
                args["inspection_id"].as_str().expect("id").to_owned(),
                args["results"].to_string(),
            ));
            c.enqueue("inspection.submit", &args).expect("enqueue");
        }
    }
    let cpu_before: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
    let t = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            tokio::spawn(async move {
                let summary = c.push().await.expect("push");
                (c, summary.resent)
            })
        })
        .collect();
    let mut resent = 0;
    let mut clients = Vec::new();
    for t in tasks {
        let (c, r) = t.await.expect("join");
        resent += r;
        clients.push(c);
    }
    let wall = t.elapsed();
    let cpu = pids.iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu_before;
    // Every mutation applied once, by the install's own record of the answers (a request that
    // timed out is sent again and answered from the server's record: counted as resent).
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for c in &clients {
        for q in c.outbox().expect("outbox") {
            *outcomes
                .entry(format!(
                    "{} {}",
                    q.status.unwrap_or_default(),
                    q.code.unwrap_or_default()
                ))
                .or_default() += 1;
        }
    }
    assert_eq!(
        outcomes.get("applied ").copied(),
        Some(n),
        "{label}: {outcomes:?}"
    );
    let rate = n as f64 / wall.as_secs_f64();
    println!(
        "{label}: push ingest {n} inspections from {INSTALLS} installs in batches of {BATCH}: {:.2} s = {rate:.0}/s; server CPU {:.0} µs per inspection; {resent} answered again after a timeout",
        wall.as_secs_f64(),
        cpu * 1e6 / n as f64
    );

    // 200 installs at the head, spread over the nodes.
    let login: Value = post(
        &http,
        format!("{base0}/v1/auth/login"),
        "",
        &json!({"username": "demo_inspector", "password": PASSWORD}),
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let mut by_node: Vec<Vec<(uuid::Uuid, Option<String>)>> = vec![Vec::new(); bases.len()];
    for i in 0..200 {
        let base = &bases[i % bases.len()];
        let id = uuid::Uuid::now_v7();
        post(
            &http,
            format!("{base}/v1/clients"),
            &token,
            &json!({"client_id": id, "app_version": "bench"}),
        )
        .await;
        let mut cur: Option<String> = None;
        loop {
            let v = post(
                &http,
                format!("{base}/v1/sync/pull"),
                &token,
                &json!({"client_id": id, "cursor": cur, "limit": 5000}),
            )
            .await;
            cur = v["cursor"].as_str().map(str::to_owned);
            if v["has_more"] == false {
                break;
            }
        }
        by_node[i % bases.len()].push((id, cur));
    }
    for pace in [None, Some(Duration::from_millis(200))] {
        let what = match pace {
            None => "back to back",
            Some(_) => "each every 200 ms",
        };
        let runs: Vec<_> = by_node
            .iter()
            .zip(bases)
            .map(|(heads, base)| {
                let (http, base, token, heads) =
                    (http.clone(), base.clone(), token.clone(), heads.clone());
                let label = format!("{label}, 200 installs {what}, node {base}");
                tokio::spawn(
                    async move { idle_pulls(&http, &base, &token, &heads, pace, &label).await },
                )
            })
            .collect();
        for r in runs {
            r.await.expect("pulls");
        }
    }
    for p in pids {
        println!("  node {p}: peak RSS {:.1} MiB", status_mib(*p, "VmHWM:"));
    }
    (rate, rows)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let admin = admin_url();
    println!("lantian scale-out benchmark (2 cores; nodes pinned with taskset)");

    // `BENCH_ONLY=sqlite|pg1|pg2` runs one part (the ratios need the whole run).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |p: &str| only.is_empty() || only == p;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut sqlite_rate, mut pg1_rate) = (f64::NAN, f64::NAN);

    // SQLite, one node on core 0.
    if part("sqlite") {
        let sqlite = node(&dir.path().join("sqlite"), 0, &[]);
        let rows;
        (sqlite_rate, rows) = rt.block_on(run(
            "SQLite, 1 node",
            std::slice::from_ref(&sqlite.base),
            &[sqlite.child.id()],
        ));
        drop(sqlite);
        let raw_sqlite = raw_baseline(&rows, BATCH, true);
        println!(
            "  raw SQLite insert of every row per inspection, {BATCH} a transaction: {raw_sqlite:.0}/s; ratio {:.2}",
            sqlite_rate / raw_sqlite
        );
    }

    // PostgreSQL, one node on core 0.
    if part("pg1") {
        let url = fresh_database(&admin);
        let one = node(
            &dir.path().join("pg1"),
            0,
            &[("LANTIAN_DATABASE_URL", &url)],
        );
        let rows;
        (pg1_rate, rows) = rt.block_on(run(
            "PostgreSQL, 1 node",
            std::slice::from_ref(&one.base),
            &[one.child.id()],
        ));
        drop(one);
        drop_database(&admin, &url);
        let raw_url = fresh_database(&admin);
        let raw_pg = raw_postgres(&raw_url, &rows, BATCH);
        drop_database(&admin, &raw_url);
        println!(
            "  raw PostgreSQL insert of every row per inspection, {BATCH} a transaction: {raw_pg:.0}/s; ratio {:.2}",
            pg1_rate / raw_pg
        );
    }

    // PostgreSQL, two nodes on cores 0 and 1.
    if part("pg2") {
        let url = fresh_database(&admin);
        let a = node(
            &dir.path().join("pg2a"),
            0,
            &[("LANTIAN_DATABASE_URL", &url)],
        );
        let b = node(
            &dir.path().join("pg2b"),
            1,
            &[("LANTIAN_DATABASE_URL", &url)],
        );
        let (pg2_rate, _) = rt.block_on(run(
            "PostgreSQL, 2 nodes",
            &[a.base.clone(), b.base.clone()],
            &[a.child.id(), b.child.id()],
        ));
        drop((a, b));
        drop_database(&admin, &url);
        println!(
            "two nodes against one on PostgreSQL: {pg2_rate:.0}/s against {pg1_rate:.0}/s ({:.2}x); SQLite, one node: {sqlite_rate:.0}/s",
            pg2_rate / pg1_rate
        );
    }
}

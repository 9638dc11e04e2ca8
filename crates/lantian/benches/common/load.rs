//! The sync load both the sync and the nodes benchmarks drive: the 20-item checklist, the
//! inspection shape, a JSON POST, idle pulls from the head, and the raw SQLite baseline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::percentile_ms;

pub const ITEMS: usize = 20;

/// 25 pulls per install from its head cursor (nothing new each time), back to back or every
/// `pace`; prints the latency figures.
pub async fn idle_pulls(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    heads: &[(uuid::Uuid, Option<String>)],
    pace: Option<Duration>,
    label: &str,
) {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (n, (id, cur)) in heads.iter().cloned().enumerate() {
        let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut tick = pace.map(|p| {
                tokio::time::interval_at(
                    tokio::time::Instant::now() + Duration::from_millis(n as u64),
                    p,
                )
            });
            let mut lat = Vec::new();
            for _ in 0..25 {
                if let Some(tick) = tick.as_mut() {
                    tick.tick().await;
                }
                let t = Instant::now();
                let v = post(
                    &http,
                    format!("{base}/v1/sync/pull"),
                    &token,
                    &json!({"client_id": id, "cursor": cur}),
                )
                .await;
                lat.push(t.elapsed());
                assert_eq!(v["changes"].as_array().map(Vec::len), Some(0));
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("join"));
    }
    let wall = t.elapsed();
    lat.sort();
    println!(
        "incremental pull, nothing new, {label}: {} pulls in {:.2} s ({:.0}/s); p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        percentile_ms(&lat, 0.5),
        percentile_ms(&lat, 0.99),
        percentile_ms(&lat, 1.0)
    );
}

pub fn template_draft() -> Value {
    let items: Vec<Value> = (1..=ITEMS)
        .map(|i| json!({"code": format!("B{i}"), "label_zh": format!("检查项{i}"), "label_en": format!("Item {i}"), "weight": 5,
                        "critical": i == 1, "answer": {"kind": "pass_fail", "allow_na": true}}))
        .collect();
    json!({"subject_kind": "construction_site", "title_zh": "基准检查表", "title_en": "Benchmark checklist", "items": items})
}

/// The inspection shape: 20 items (a few fail or N/A), one location fix, a signature.
pub fn inspection(subject: &str, n: u64) -> Value {
    let results: Vec<Value> = (1..=ITEMS as u64)
        .map(|i| {
            let kind = match (n + i) % 10 {
                0 => "fail",
                1 => "na",
                _ => "pass",
            };
            let kind = if i == 1 { "pass" } else { kind };
            json!({"item": format!("B{i}"), "answer": {"kind": kind}})
        })
        .collect();
    json!({"inspection_id": uuid::Uuid::now_v7(), "subject_id": subject, "template": {"code": "bench20", "version": 1},
           "results": results, "notes": "例行检查", "signature_photo_id": uuid::Uuid::now_v7(),
           "location": {"lat": 36.434, "lon": 115.986, "accuracy_m": 6.5, "datum": "gcj02", "mock": false}})
}

pub async fn post(http: &reqwest::Client, url: String, token: &str, body: &Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

/// A raw rusqlite insert of the inspection rows (`all_rows`: and of every row the server writes
/// per inspection), `batch` per transaction, `synchronous=FULL`; returns inspections per second.
pub fn raw_baseline(rows: &[(String, String)], batch: usize, all_rows: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raw.db");
    lantian_store::migrate_file(&path).expect("schema");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         INSERT INTO units (code, name_zh, name_en, kind, path) VALUES ('u', 'u', 'u', 'district', '/u/');
         INSERT INTO users (uuid, username, display_name, role, unit_id, password_hash, created_at) VALUES ('x', 'x', 'x', 'inspector', 1, 'x', 'now');
         INSERT INTO clients (client_id, user_id, app_version, registered_at) VALUES ('c', 1, '1', 'now');
         INSERT INTO subjects (uuid, kind, name, unit_id, attributes, search_text, created_at, updated_at) VALUES ('s', 'construction_site', 's', 1, '{}', 's', 'now', 'now');",
    )
    .expect("fixtures");
    let t = Instant::now();
    for (chunk_no, chunk) in rows.chunks(batch).enumerate() {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
                         location, signature_photo, expected_photos, device_time, received_at, clock_offset_ms, occurred_at, score_earned,
                         score_possible, failed_items, critical_failed, compliant, flags, media_state)
                     VALUES (?1, 1, 1, ?2, 1, 1, 'bench20', 1, ?3, 'x', ?4, 'sig', '[]', 'now', 'now', 0, 'now', 90, 95, '[]', '[]', 0, '[]', 'awaiting_media')",
                )
                .expect("prepare");
            for (i, (id, results)) in chunk.iter().enumerate() {
                let mid = (chunk_no * batch + i) as i64;
                stmt.execute(rusqlite::params![
                    id,
                    mid,
                    results,
                    "{\"lat\":36.4,\"lon\":115.9}"
                ])
                .expect("insert");
                if all_rows {
                    let view = format!("{{\"id\":\"{id}\",\"results\":{results}}}");
                    tx.prepare_cached("INSERT INTO changes (grp, scope, entity, entity_id, op, data, at) VALUES (?1, 'user:x', 'inspection', ?2, 'put', ?3, 'now')")
                        .expect("prepare")
                        .execute(rusqlite::params![mid, id, view])
                        .expect("change");
                    let seq = tx.last_insert_rowid();
                    // The entity's text is its change's (stored once), as the server writes it.
                    tx.prepare_cached("INSERT INTO entities (entity, entity_id, scope, hash, seq) VALUES ('inspection', ?1, 'user:x', ?2, ?3)")
                        .expect("prepare")
                        .execute(rusqlite::params![id, mid, seq])
                        .expect("entity");
                    tx.prepare_cached("INSERT INTO scope_state (scope, count, checksum) VALUES ('user:x', ?1, ?2) ON CONFLICT(scope) DO UPDATE SET count = excluded.count, checksum = excluded.checksum")
                        .expect("prepare")
                        .execute(rusqlite::params![mid, mid])
                        .expect("scope");
                    tx.prepare_cached("INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, after_hash, prev_hash, row_hash) VALUES (?1, 'now', 'x', 'inspection.submit', 'inspection', ?2, 'h', 'p', 'r')")
                        .expect("prepare")
                        .execute(rusqlite::params![mid + 1, id])
                        .expect("audit");
                    tx.prepare_cached("INSERT INTO mutations (client_row, mid, name, args_hash, status, device_time, applied_at) VALUES (1, ?1, 'inspection.submit', 'h', 'applied', 'now', 'now')")
                        .expect("prepare")
                        .execute(rusqlite::params![mid + 1])
                        .expect("mutation");
                    tx.prepare_cached("UPDATE clients SET last_mutation_id = ?1 WHERE id = 1")
                        .expect("prepare")
                        .execute([mid + 1])
                        .expect("client");
                }
            }
        }
        tx.commit().expect("commit");
    }
    rows.len() as f64 / t.elapsed().as_secs_f64()
}

/// `n` installs of demo_inspector pushing `batch` a request, the `i`th to `bases[i % len]`,
/// logged in; and the id of a construction site the first one pulled.
pub async fn installs(
    dir: &std::path::Path,
    bases: &[String],
    n: usize,
    batch: usize,
) -> (Vec<lantian_client::Client>, String) {
    let mut clients = Vec::new();
    for i in 0..n {
        let mut cfg = lantian_client::ClientConfig::new(&bases[i % bases.len()]);
        cfg.push_batch = batch;
        let c = lantian_client::Client::open(&dir.join(format!("c{i}.db")), cfg).expect("client");
        c.login("demo_inspector", super::PASSWORD)
            .await
            .expect("login");
        clients.push(c);
    }
    clients[0].pull().await.expect("pull");
    let site = clients[0]
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .find(|s| s["kind"] == "construction_site")
        .expect("a construction site")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (clients, site)
}

/// A copy of the server's database at `db` (SQLite's online backup, taken while it runs), made
/// just before a phase of pushes, for [`replay_baseline`] to write that phase's rows into.
pub fn snapshot(db: &std::path::Path, to: &std::path::Path) {
    lantian_store::backup_database(db, to).expect("snapshot of the server's database");
}

/// The first column of every row `sql` returns (the replay's reads of the two databases).
fn first_column<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, sql: &str) -> Vec<T> {
    conn.prepare(sql)
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The raw insert of every row the server wrote, as it wrote them: each table's rows that are in
/// the server's database at `db` and not in `snapshot` (taken before the phase), read before the
/// clock starts and inserted into the snapshot by plain prepared `INSERT`s, `batch` inspections'
/// worth of each table a transaction, under the server's pragmas (`synchronous=FULL`). The rows
/// the server updates rather than adds are written as it writes them: each changed scope's
/// count and checksum, and one install's `last_mutation_id`, once a transaction. SQLite's own
/// defaults otherwise: its log is copied back into the database every 1,000 pages, in the
/// inserting thread. Returns inspections per second, the rows replayed by table, and the bytes
/// the inserts caused to be written to storage (as [`super::written_bytes`] counts them).
///
/// [`raw_baseline`] inserts stand-ins instead (one audit row with one-letter hashes where the
/// server writes two with SHA-256 hashes, a two-field view, one time for every row): a third of
/// the pages the server's rows take, and every time index appended at its end.
pub fn replay_baseline(
    db: &std::path::Path,
    snapshot: &std::path::Path,
    batch: usize,
) -> (f64, Vec<(String, usize)>, Option<u64>) {
    use rusqlite::types::Value as V;
    let conn = rusqlite::Connection::open(snapshot).expect("open the snapshot");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;",
    )
    .expect("pragmas");
    conn.execute(
        "ATTACH ?1 AS srv",
        [format!("file:{}?mode=ro", db.display())],
    )
    .expect("attach the server's database");
    let tables: Vec<(String, bool)> = conn
        .prepare(
            "SELECT name, sql LIKE '%WITHOUT ROWID%' FROM main.sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("tables")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    // Per table: its insert and its new rows, in the order the server wrote them.
    let mut inserts: Vec<(String, String, Vec<Vec<V>>)> = Vec::new();
    let mut inspections = 0;
    for (table, without_rowid) in &tables {
        // Upserted by the server, and so below.
        if table == "scope_state" {
            continue;
        }
        let cols: Vec<String> = first_column(
            &conn,
            &format!("SELECT name FROM pragma_table_info('{table}', 'main')"),
        );
        let list = cols
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let new_rows = if *without_rowid {
            format!("SELECT {list} FROM srv.\"{table}\" EXCEPT SELECT {list} FROM main.\"{table}\"")
        } else {
            format!(
                "SELECT {list} FROM srv.\"{table}\" WHERE rowid > (SELECT coalesce(max(rowid), 0) FROM main.\"{table}\") ORDER BY rowid"
            )
        };
        let rows: Vec<Vec<V>> = conn
            .prepare(&new_rows)
            .expect("new rows")
            .query_map([], |r| (0..cols.len()).map(|i| r.get::<_, V>(i)).collect())
            .expect("new rows")
            .collect::<Result<_, _>>()
            .expect("new rows");
        if rows.is_empty() {
            continue;
        }
        if table == "inspections" {
            inspections = rows.len();
        }
        let marks = vec!["?"; cols.len()].join(", ");
        inserts.push((
            table.clone(),
            format!("INSERT INTO main.\"{table}\" ({list}) VALUES ({marks})"),
            rows,
        ));
    }
    // The rows the server changed in place: scopes (count, checksum) and installs.
    let scopes: Vec<String> = first_column(
        &conn,
        "SELECT scope FROM (SELECT * FROM srv.scope_state EXCEPT SELECT * FROM main.scope_state)",
    );
    let installs: Vec<i64> = first_column(
        &conn,
        "SELECT s.id FROM srv.clients s JOIN main.clients m ON m.id = s.id
         WHERE s.last_mutation_id IS NOT m.last_mutation_id",
    );
    conn.execute_batch("DETACH srv").expect("detach");
    assert!(inspections > 0, "the phase wrote no inspection");
    let transactions = inspections.div_ceil(batch);
    let written_before = super::written_bytes(std::process::id());
    let t = Instant::now();
    for k in 0..transactions {
        let tx = conn.unchecked_transaction().expect("tx");
        for (_, sql, rows) in &inserts {
            let (from, to) = (
                k * rows.len() / transactions,
                (k + 1) * rows.len() / transactions,
            );
            let mut stmt = tx.prepare_cached(sql).expect("prepare");
            for row in &rows[from..to] {
                stmt.execute(rusqlite::params_from_iter(row))
                    .expect("insert");
            }
        }
        for scope in &scopes {
            tx.prepare_cached("INSERT INTO scope_state (scope, count, checksum) VALUES (?1, ?2, ?3) ON CONFLICT(scope) DO UPDATE SET count = excluded.count, checksum = excluded.checksum")
                .expect("prepare")
                .execute(rusqlite::params![scope, k as i64, k as i64])
                .expect("scope");
        }
        if let Some(install) = installs.get(k % installs.len().max(1)) {
            tx.prepare_cached(
                "UPDATE clients SET last_mutation_id = last_mutation_id + 1 WHERE id = ?1",
            )
            .expect("prepare")
            .execute([install])
            .expect("install");
        }
        tx.commit().expect("commit");
    }
    let rate = inspections as f64 / t.elapsed().as_secs_f64();
    (
        rate,
        inserts
            .into_iter()
            .map(|(t, _, rows)| (t, rows.len()))
            .collect(),
        super::written_since(std::process::id(), written_before),
    )
}

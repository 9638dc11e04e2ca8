//! Console benchmark (issue 16), release build: `cargo bench -p lantian --bench console`.
//!
//! With 100,000 inspections over two months, 10,000 subjects and 10,000 orders (inserted with SQL
//! in the shapes the server writes, as the assessment benchmark does), a real server on
//! 127.0.0.1 and a supervisor's console session:
//!
//! 1. each console page's time (sequential requests, warm cache, p50 and p99 as the client on
//!    loopback sees them, so an upper bound of the server's time): the review queue with the
//!    default filters and the three heaviest combinations, one inspection's sheet, the
//!    rectification board and an order's page;
//! 2. the SQL statements each page runs (the store's own count);
//! 3. the first load of the review pages over the wire (gzip, as a browser asks), photos aside.
//!
//! Figures go to docs/performance.md.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, percentile_ms};
use rusqlite::params;

const LOCATION: &str = r#"{"lat":36.4501,"lon":115.9901,"accuracy_m":10.0,"datum":"wgs84","mock":false,"gps_time":null}"#;

/// Fills the database; returns the officers' ids.
fn fill(db: &std::path::Path) -> Vec<String> {
    let mut c = rusqlite::Connection::open(db).expect("open");
    c.busy_timeout(Duration::from_secs(30)).expect("timeout");
    let tx = c.transaction().expect("tx");
    let units: Vec<(i64, String)> = tx
        .prepare("SELECT id, code FROM units WHERE code IN ('dongchangfu','dongchangfu_gulou','linqing','guanxian','yanggu','shenxian','chiping','gaotang','dong_e')")
        .expect("q")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("units");
    let hash: String = tx
        .query_row(
            "SELECT password_hash FROM users WHERE username = 'demo_inspector'",
            [],
            |r| r.get(0),
        )
        .expect("hash");
    // Twenty officers across the units, each with an install.
    let mut officers = Vec::new();
    for i in 0..20 {
        let (unit, _) = &units[i % units.len()];
        let uuid = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO users (uuid, username, display_name, role, unit_id, password_hash, created_at)
             VALUES (?1, ?2, ?3, 'inspector', ?4, ?5, '2026-09-01T00:00:00.000Z')",
            params![uuid, format!("bench_officer_{i}"), format!("执法人员{i}"), unit, hash],
        )
        .expect("user");
        let user = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO clients (client_id, user_id, app_version, registered_at) VALUES (?1, ?2, 'bench', '2026-09-01T00:00:00.000Z')",
            params![uuid::Uuid::now_v7().to_string(), user],
        )
        .expect("client");
        officers.push((user, tx.last_insert_rowid(), uuid, *unit));
    }
    let now = "2026-09-01T00:00:00.000Z";
    let mut subjects = Vec::with_capacity(10_000);
    {
        let mut st = tx
            .prepare(
                "INSERT INTO subjects (uuid, kind, name, unit_id, lat, lon, attributes, search_text, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 36.45, 115.99, ?5, ?3, ?6, ?6)",
            )
            .expect("prep");
        for i in 0..10_000u32 {
            let (kind, attrs) = match i % 3 {
                0 => (
                    "construction_site",
                    r#"{"project_name":"综合管廊工程","linear":false}"#.to_owned(),
                ),
                1 => (
                    "restaurant",
                    format!(r#"{{"grade":"{}"}}"#, ["a", "b", "c"][(i % 9 / 3) as usize]),
                ),
                _ => ("stockpile", r#"{"pile_kind":"spoil"}"#.to_owned()),
            };
            let (unit, _) = &units[i as usize % units.len()];
            st.execute(params![
                uuid::Uuid::now_v7().to_string(),
                kind,
                format!("检查对象{i}"),
                unit,
                attrs,
                now
            ])
            .expect("subject");
            subjects.push((tx.last_insert_rowid(), *unit, kind));
        }
    }
    // Real answers of the real templates, so that a sheet renders what a phone sends.
    let templates: Vec<(String, i64, String)> = tx
        .prepare("SELECT code, version, subject_kind FROM checklist_templates")
        .expect("q")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("q")
        .collect::<Result<_, _>>()
        .expect("templates");
    let results_of = |kind: &str| -> (String, i64, String) {
        let (code, version, _) = templates.iter().find(|t| t.2 == kind).expect("template");
        let items: String = tx
            .query_row(
                "SELECT items FROM checklist_templates WHERE code = ?1 AND version = ?2",
                params![code, version],
                |r| r.get(0),
            )
            .expect("items");
        let items: Vec<serde_json::Value> = serde_json::from_str(&items).expect("items json");
        let results: Vec<serde_json::Value> = items
            .iter()
            .filter(|i| i["applies_if"].is_null() && i["answer"]["kind"] == "pass_fail")
            .map(|i| serde_json::json!({"item": i["code"], "answer": {"kind": "pass"}, "note": null, "photos": []}))
            .collect();
        (
            code.clone(),
            *version,
            serde_json::to_string(&results).expect("json"),
        )
    };
    let shapes: Vec<(&str, (String, i64, String))> =
        ["construction_site", "restaurant", "stockpile"]
            .into_iter()
            .map(|k| (k, results_of(k)))
            .collect();
    let verdict = |level: &str| {
        format!(
            r#"{{"level":"{level}","reasons":[],"wgs84":[36.4501,115.9901],"distance_to_point_m":14.2,"distance_to_boundary_m":null,"inside_boundary":null,"accuracy_m":10.0,"mock":false,"speed_from_previous_kmh":null,"exif_max_distance_m":null}}"#
        )
    };
    let mut inspections = Vec::new();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version,
                     results, location, signature_photo, expected_photos, device_time, received_at, clock_offset_ms, occurred_at,
                     score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state, review_state,
                     verdict, verdict_level)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, 0, ?13, ?14, 100, ?15, ?16, ?17, ?18,
                         'complete', ?19, ?20, ?21)",
            )
            .expect("prep");
        for i in 0..100_000u32 {
            let (s, unit, kind) = subjects[(i as usize * 7919) % subjects.len()];
            let (user, client, _, _) = officers[i as usize % officers.len()];
            let (_, (code, version, results)) =
                shapes.iter().find(|(k, _)| *k == kind).expect("shape");
            let month = if i < 50_000 { 9 } else { 10 };
            let at = format!(
                "2026-{month:02}-{:02}T{:02}:{:02}:00.000Z",
                1 + i % 28,
                i % 10,
                i % 60
            );
            let critical = i % 53 == 0;
            let level = [
                "ok",
                "ok",
                "ok",
                "ok",
                "doubtful",
                "ok",
                "ok",
                "implausible",
            ][(i % 8) as usize];
            let flags = if i % 97 == 0 {
                r#"["clock_skew"]"#
            } else if i % 211 == 0 {
                r#"["mock_location"]"#
            } else {
                "[]"
            };
            // The older month is reviewed; the newer waits, as a real queue does.
            let state = if month == 9 || i % 10 < 7 {
                ["approved", "approved", "approved", "has_issues", "rejected"][(i % 5) as usize]
            } else {
                "received"
            };
            let signature = uuid::Uuid::now_v7().to_string();
            st.execute(params![
                uuid::Uuid::now_v7().to_string(),
                user,
                client,
                i64::from(i) + 1,
                s,
                unit,
                code,
                version,
                results,
                LOCATION,
                signature,
                format!(r#"["{signature}"]"#),
                at,
                if critical { 0 } else { 60 + i % 41 },
                if critical { r#"["CS1"]"# } else { "[]" },
                if critical { r#"["CS1"]"# } else { "[]" },
                !critical,
                flags,
                state,
                verdict(level),
                level,
            ])
            .expect("inspection");
            if critical {
                inspections.push((tx.last_insert_rowid(), s, unit, user));
            }
        }
    }
    {
        let mut st = tx
            .prepare(
                "INSERT INTO rectifications (uuid, inspection_id, item, subject_id, unit_id, finder_id, severity, opened_by,
                     opened_at, deadline, state, overdue, rework_count, extension_count, closed_on_time, found_at)
                 VALUES (?1, ?2, 'CS1', ?3, ?4, ?5, 'normal', 'system', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?6)",
            )
            .expect("prep");
        for i in 0..10_000usize {
            let (insp, s, unit, user) = inspections[i % inspections.len()];
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
            .map(|_| ())
            .or_else(|e| match e {
                // One order per inspection and item: the same finding drawn twice is one order.
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Ok(())
                }
                e => Err(e),
            })
            .expect("order");
        }
    }
    tx.commit().expect("commit");
    officers.into_iter().map(|o| o.2).collect()
}

async fn time_page(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    n: usize,
) -> (f64, f64, usize) {
    let get = || async {
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", format!("lantian_session={cookie}"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.expect("body").len()
    };
    for _ in 0..5 {
        get().await;
    }
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        size = get().await;
        times.push(t.elapsed());
    }
    times.sort();
    (
        percentile_ms(&times, 0.5),
        percentile_ms(&times, 0.99),
        size,
    )
}

/// Bytes on the wire (gzip) of `path` and of the assets it loads.
async fn first_load(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
) -> (usize, Vec<(String, usize)>) {
    // Counted as sent: this client does not inflate what it receives.
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let gz = |p: String| {
        let http = raw.clone();
        let url = format!("{base}{p}");
        let cookie = cookie.to_owned();
        async move {
            let r = http
                .get(url)
                .header("cookie", format!("lantian_session={cookie}"))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .expect("get");
            let text_len = r.bytes().await.expect("body");
            (p, text_len)
        }
    };
    let (_, page) = gz(path.to_owned()).await;
    // The page as the browser sees it (identity) to find its assets.
    let html = http
        .get(format!("{base}{path}"))
        .header("cookie", format!("lantian_session={cookie}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    let mut assets = Vec::new();
    for part in html.split(['"', '\'']) {
        if part.starts_with("/console/assets/")
            && !assets.iter().any(|(a, _): &(String, usize)| a == part)
        {
            let (p, body) = gz(part.to_owned()).await;
            assets.push((p, body.len()));
        }
    }
    let total = page.len() + assets.iter().map(|(_, n)| n).sum::<usize>();
    (total, assets)
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
        demo_history: false,
        ..lantian::config::Config::default()
    };
    config.jobs.enabled = false;
    rt.block_on(async {
        let store = lantian::app::open_store(&config).await.expect("store");
        lantian::app::load_demo(&store).await.expect("demo");
        drop(store);
        let t = Instant::now();
        let officers = tokio::task::spawn_blocking({
            let db = config.db_path();
            move || fill(&db)
        })
        .await
        .expect("fill");
        println!(
            "data: 100,000 inspections (30,000 waiting for review), 10,000 subjects, 10,000 orders, 20 officers (inserted in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        let running = lantian::app::start(&config, true, std::future::pending()).await.expect("server");
        let base = format!("http://{}", running.addr);
        let app = supervisor_session(&base).await;
        let http = reqwest::Client::new();
        let queue_ids: Vec<String> = {
            let html = http
                .get(format!("{base}/console/review"))
                .header("cookie", format!("lantian_session={app}"))
                .send()
                .await
                .expect("queue")
                .text()
                .await
                .expect("html");
            html.split("href=\"/console/review/")
                .skip(1)
                .filter_map(|s| s.split(['?', '"']).next().map(str::to_owned))
                .collect()
        };
        let order_id: String = running
            .store
            .read(|c| Ok(c.raw().query_row("SELECT uuid FROM rectifications WHERE state = 'open' LIMIT 1", [], |r| r.get(0))?))
            .await
            .expect("order");
        let officer = &officers[3];
        let pages = [
            ("review queue, default filters (waiting, all units)", "/console/review".to_owned()),
            ("review queue: kind + verdict (construction sites, doubtful)", "/console/review?kind=construction_site&verdict=doubtful".to_owned()),
            ("review queue: two evidence flags (critical failed + clock skew)", "/console/review?flags=critical_failed&flags=clock_skew".to_owned()),
            ("review queue: officer + county + month, approved", format!("/console/review?state=approved&unit=linqing&officer={officer}&from=2026-10-01&to=2026-10-31")),
            ("an inspection's sheet", format!("/console/review/{}", queue_ids[0])),
            ("rectification board, open", "/console/orders".to_owned()),
            ("rectification board, overdue", "/console/orders?tab=overdue".to_owned()),
            ("an order's page", format!("/console/orders/{order_id}")),
        ];
        println!("\n| page | p50 ms | p99 ms | statements | HTML bytes |\n|---|---|---|---|---|");
        for (name, path) in &pages {
            let before = running.store.statements_run();
            let (status, _) = (
                http.get(format!("{base}{path}"))
                    .header("cookie", format!("lantian_session={app}"))
                    .send()
                    .await
                    .expect("get")
                    .status(),
                (),
            );
            assert_eq!(status, 200, "{path}");
            let statements = running.store.statements_run() - before;
            let (p50, p99, size) = time_page(&http, &base, &app, path, 200).await;
            println!("| {name} | {p50:.2} | {p99:.2} | {statements} | {size} |");
        }
        for (name, path) in [
            ("review queue", "/console/review".to_owned()),
            ("inspection sheet", format!("/console/review/{}", queue_ids[0])),
        ] {
            let (total, assets) = first_load(&http, &base, &app, &path).await;
            println!(
                "\nfirst load of the {name} over the wire (gzip, photos aside): {:.1} KB (target < 300 KB); assets: {}",
                total as f64 / 1024.0,
                assets
                    .iter()
                    .map(|(p, n)| format!("{} {:.1} KB", p.trim_start_matches("/console/assets/"), *n as f64 / 1024.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = running.stop().await;
    });
}

/// Signs in as the demo supervisor (at the bureau: every unit) through the console's form.
async fn supervisor_session(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = http
        .get(format!("{base}/console/login"))
        .send()
        .await
        .expect("form");
    let token = cookie(&form, "lantian_login");
    let body = format!(
        "csrf={token}&username=demo_supervisor&password={PASSWORD}&next=%2Fconsole%2Freview"
    );
    let r = http
        .post(format!("{base}/console/login"))
        .header("cookie", format!("lantian_login={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    cookie(&r, "lantian_session")
}

fn cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
        .expect("cookie")
}

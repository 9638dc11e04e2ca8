//! Start-up: a fresh data folder needs no configuration; restarts load nothing twice; health,
//! readiness and metrics answer.

use lantian_domain::user::Role;
use lantian_tests::{spawn_app, spawn_app_with, start_in};
use reqwest::StatusCode;

#[tokio::test]
async fn a_fresh_data_folder_starts_with_the_reference_data_and_no_configuration() {
    let app = spawn_app_with(|_| {}, false).await;
    let r = app
        .request(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    if app.on_postgres() {
        // The records are in PostgreSQL and the signing key with them, for every node to share.
        assert!(!app.dir.path().join("lantian.db").exists());
        assert!(!app.dir.path().join("jwt-hs256.key").exists());
    } else {
        assert!(app.dir.path().join("lantian.db").exists());
        assert!(app.dir.path().join("jwt-hs256.key").exists());
    }
    // No demo: no users, no subjects; the organisation, campaign and templates are there.
    assert_eq!(app.subject_count().await, 0);
    let (units, tasks, templates): (i64, i64, i64) = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT (SELECT count(*) FROM units), (SELECT count(*) FROM campaign_tasks), (SELECT count(*) FROM checklist_templates)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .await
        .expect("counts");
    assert_eq!((units, tasks, templates), (19, 15, 8));
}

#[tokio::test]
async fn a_restart_applies_no_migration_and_loads_no_data_twice() {
    let app = spawn_app().await;
    assert_eq!(app.subject_count().await, 300);
    let (dir, config) = app.stop().await;
    assert!(
        lantian_store::migrate(&config.store())
            .expect("migrate")
            .is_empty()
    );
    let again = start_in(dir, config, true).await;
    assert_eq!(again.subject_count().await, 300);
    // The signing key survived: a login still works and the key file was not replaced.
    let t = again.demo_token(Role::Viewer).await;
    assert_eq!(again.get("/v1/me", &t).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Viewer).await;
    for _ in 0..3 {
        app.get("/v1/units", &t).await;
    }
    let r = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("text");
    assert!(
        text.contains(
            "lantian_http_requests_total{method=\"GET\",route=\"/v1/units\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("lantian_logins_total{outcome=\"success\"} 1"));
    assert!(text.contains("lantian_store_transactions_total"));
}

#[tokio::test]
async fn every_write_lands_in_a_verifiable_audit_chain() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Admin).await;
    let r = app
        .post("/v1/subjects", Some(&t), serde_json::json!({"name": "审计测试工地", "unit": "yanggu", "kind": "construction_site",
               "location": {"lat": 36.11, "lon": 115.79}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let (v, creates) = app
        .store
        .read(move |c| {
            let v = lantian_store::audit::verify(c)?;
            let n: i64 = c.raw().query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'subject.create' AND object_id = ?1 AND after_hash IS NOT NULL",
                [id],
                |r| r.get(0),
            )?;
            Ok((v, n))
        })
        .await
        .expect("verify");
    assert_eq!(v.first_broken, None);
    assert!(
        v.rows > 300,
        "demo load, login and the create are all audited: {}",
        v.rows
    );
    assert_eq!(creates, 1);
}

/// An application over `app`'s store, to lay the demo's history down directly (its server does
/// not: tests start with `demo_history = false`).
fn history_state(app: &lantian_tests::TestApp) -> lantian_http::AppState {
    lantian_http::AppState::new(
        app.store.clone(),
        lantian_http::auth::JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef")
            .expect("keys"),
        app.config.http().expect("the test configuration is valid"),
    )
    .expect("state")
}

/// The demo's history (issue 16): two past months laid down through the server's own write paths,
/// deterministic given the day, with orders in every state, verdicts of every level, reviews, an
/// alert, photos with EXIF, and the older month's official figures; the audit chain still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_history_tells_the_same_story_for_the_same_day_and_shows_every_state() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 18).expect("date");
    let mut stories = Vec::new();
    for _ in 0..2 {
        let app = lantian_tests::spawn_app_with(|_| {}, true).await;
        let state = history_state(&app);
        let report = state
            .app()
            .demo_history(today)
            .await
            .expect("history")
            .expect("laid down once");
        assert_eq!(report.refused, 0, "{report:?}");
        assert!(
            report.inspections > 200 && report.photos > report.inspections,
            "{report:?}"
        );
        assert!(
            state
                .app()
                .demo_history(today)
                .await
                .expect("again")
                .is_none(),
            "laid down only once"
        );
        let facts = app
            .store
            .read(|c| {
                let c = c.raw();
                let list = |sql: &str| -> lantian_store::db::Result<Vec<String>> {
                    let mut st = c.prepare(sql)?;
                    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                    rows.collect()
                };
                Ok((
                    list("SELECT uuid FROM inspections ORDER BY uuid")?,
                    list("SELECT DISTINCT coalesce(verdict_level, 'none') FROM inspections ORDER BY 1")?,
                    list("SELECT DISTINCT review_state FROM inspections ORDER BY 1")?,
                    list(
                        "SELECT DISTINCT CASE
                             WHEN state = 'closed' AND closed_on_time = 1 AND rework_count = 0 AND extension_count = 0 THEN 'closed_on_time'
                             WHEN state = 'closed' AND closed_on_time = 0 THEN 'closed_late'
                             WHEN state = 'closed' AND rework_count > 0 THEN 'reworked'
                             WHEN state = 'closed' AND extension_count > 0 THEN 'extended'
                             WHEN pending_request IS NOT NULL THEN 'request_waiting'
                             ELSE state END FROM rectifications ORDER BY 1",
                    )?,
                    list("SELECT DISTINCT kind || ' ' || month FROM rollups ORDER BY 1")?,
                    list("SELECT level FROM alerts")?,
                    list("SELECT exif FROM photos WHERE exif IS NOT NULL")?,
                ))
            })
            .await
            .expect("facts");
        let (ids, verdicts, reviews, orders, rollups, alerts, exif) = facts;
        let cameras: std::collections::BTreeSet<String> = exif
            .iter()
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .filter_map(|e| e["model"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(verdicts, ["doubtful", "implausible", "ok"]);
        assert_eq!(reviews, ["approved", "has_issues", "received", "rejected"]);
        for state in [
            "closed_on_time",
            "closed_late",
            "reworked",
            "extended",
            "deferred",
            "request_waiting",
            "reported_handled",
            "open",
        ] {
            assert!(
                orders.iter().any(|o| o == state),
                "no order {state}: {orders:?}"
            );
        }
        assert!(
            rollups.contains(&"official 2026-09".to_owned()),
            "{rollups:?}"
        );
        assert!(
            rollups.contains(&"official 2026-10".to_owned()),
            "{rollups:?}"
        );
        assert_eq!(alerts, ["orange"]);
        assert_eq!(cameras.into_iter().collect::<Vec<_>>(), ["P40"]);
        let (chain, seals) = lantian_app::operator::verify_audit(&app.store)
            .await
            .expect("audit");
        assert!(
            chain.first_broken.is_none() && chain.truncated.is_none(),
            "the audit chain holds: {chain:?}"
        );
        assert!(seals.ok(), "{:?}", seals.findings);
        stories.push(ids);
    }
    assert_eq!(stories[0], stories[1], "the same day tells the same story");
}

/// The story a fresh clone tells today (the date varies: whatever today's calendar brings, the
/// server accepts every submission of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_history_of_today_is_accepted_whole() {
    let app = lantian_tests::spawn_app_with(|_| {}, true).await;
    let state = history_state(&app);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let report = state
        .app()
        .demo_history(today)
        .await
        .expect("history")
        .expect("laid down");
    assert_eq!(report.refused, 0, "{today}: {report:?}");
    assert!(report.reviews > 0 && report.orders > 0, "{report:?}");
}

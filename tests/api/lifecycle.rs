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
    assert!(app.dir.path().join("lantian.db").exists());
    assert!(app.dir.path().join("jwt-hs256.key").exists());
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
        lantian_store::migrate_file(&config.db_path())
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

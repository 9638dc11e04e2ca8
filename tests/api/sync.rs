//! The offline sync protocol, end to end: a real server, the reference client, 127.0.0.1. Each test
//! asserts the final server state and the clients' state exactly.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::inspection::{Answer, ItemResult};
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_domain::subject::Subject;
use lantian_protocol::sync::ResetReason;
use lantian_tests::proxy::Proxy;
use lantian_tests::{TestApp, client_view, server_view, spawn_app, start_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn config(base: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(base);
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_cap = Duration::from_millis(100);
    cfg.max_attempts = 4;
    cfg
}

async fn officer(base: &str, dir: &Path, name: &str, username: &str) -> Client {
    let c = Client::open(&dir.join(format!("{name}.db")), config(base)).expect("client opens");
    c.login(username, DEMO_PASSWORD).await.expect("login");
    c.pull().await.expect("first pull");
    c
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.store
        .read(move |c| Ok(c.raw().query_row(sql, [], |r| r.get(0))?))
        .await
        .expect("count")
}

/// Ids of every inspection the server holds.
async fn inspection_ids(app: &TestApp) -> Vec<String> {
    app.store
        .read(|c| {
            let mut s = c.raw().prepare("SELECT uuid FROM inspections")?;
            Ok(s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
        .await
        .expect("inspection ids")
}

async fn raw_push(
    app: &TestApp,
    token: &str,
    client: &Client,
    mutations: Vec<Value>,
) -> lantian_tests::Reply {
    let body = json!({"client_id": client.client_id(), "protocol_version": 1, "schema_version": 1, "app_version": "test",
                      "sent_at": chrono::Utc::now(), "mutations": mutations});
    app.post("/v1/sync/push", Some(token), body).await
}

fn submit_mutation(mid: i64, s: &lantian_domain::mutation::InspectionSubmit) -> Value {
    json!({"mid": mid, "name": "inspection.submit", "args": s, "device_time": chrono::Utc::now()})
}

/// Queues the submissions and syncs: the push's figures and the outbox entries it rejected.
async fn push_submits(
    c: &Client,
    subs: &[lantian_domain::mutation::InspectionSubmit],
) -> (lantian_client::PushSummary, Vec<lantian_client::Queued>) {
    for s in subs {
        c.enqueue("inspection.submit", &serde_json::to_value(s).expect("json"))
            .expect("enqueue");
    }
    let (push, _) = c.sync().await.expect("sync");
    let rejected = c
        .outbox()
        .expect("outbox")
        .into_iter()
        .filter(|q| q.status.as_deref() == Some("rejected"))
        .collect();
    (push, rejected)
}

fn random_submits(
    c: &Client,
    rng: &mut Rng,
    n: usize,
) -> Vec<lantian_domain::mutation::InspectionSubmit> {
    let templates = sim::latest_templates(c).expect("templates");
    let subjects: Vec<Subject> = c
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    (0..n)
        .map(|_| {
            let s = &subjects[rng.below(subjects.len())];
            let t = templates
                .iter()
                .find(|t| t.subject_kind == s.attributes.kind())
                .expect("template for kind");
            sim::random_inspection(rng, s, t, None)
        })
        .collect()
}

#[tokio::test]
async fn a_batch_whose_response_was_dropped_and_sent_three_more_times_applies_once() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = Proxy::start(
        app.base
            .trim_start_matches("http://")
            .parse()
            .expect("addr"),
        1,
    )
    .await;
    let mut cfg = config(&proxy.url());
    cfg.fresh_connections = true;
    cfg.max_attempts = 1;
    let c = Client::open(&dir.path().join("a.db"), cfg).expect("open");
    c.login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login");
    c.pull().await.expect("pull");
    let ids = sim::queue_inspections(&c, &mut Rng(7), 5).expect("queue");

    proxy.drop_next_responses(1);
    assert!(
        c.push().await.is_err(),
        "the response was dropped: the client cannot know"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM inspections").await,
        5,
        "but the server applied the batch"
    );
    for round in 0..3 {
        // As if each answer were lost too: the client resends the whole batch.
        c.local_sql("UPDATE meta SET value = '0' WHERE key = 'server_last_mid'")
            .expect("forget");
        let again = c.push().await.expect("push");
        assert_eq!(
            (again.applied, again.resent, again.mismatched),
            (0, 5, 0),
            "round {round}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 5);
    assert_eq!(count(&app, "SELECT count(*) FROM mutations").await, 5);
    c.pull().await.expect("pull");
    let local: BTreeSet<String> = c
        .entity_ids("inspection")
        .expect("ids")
        .into_iter()
        .collect();
    assert_eq!(
        local,
        ids.iter().map(|i| i.to_string()).collect::<BTreeSet<_>>()
    );
    assert_eq!(c.pending().expect("pending"), 0);
}

#[tokio::test]
async fn a_used_mutation_id_with_another_payload_is_reported_not_applied() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let mut rng = Rng(11);
    let subs = random_submits(&c, &mut rng, 2);
    let token = app.demo_token(lantian_domain::user::Role::Inspector).await;
    let first = raw_push(&app, &token, &c, vec![submit_mutation(1, &subs[0])]).await;
    assert_eq!(first.body["results"][0]["status"], "applied");
    let other = raw_push(&app, &token, &c, vec![submit_mutation(1, &subs[1])]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["results"][0]["status"], "mismatch");
    assert_eq!(other.body["results"][0]["code"], "mutation_id_reused");
    assert_eq!(other.body["last_mutation_id"], 1);
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 1);
    let stored: String = app
        .store
        .read(|c| {
            Ok(c.raw()
                .query_row("SELECT uuid FROM inspections", [], |r| r.get(0))?)
        })
        .await
        .expect("uuid");
    assert_eq!(stored, subs[0].inspection_id.to_string());
}

#[tokio::test]
async fn a_gap_stops_the_batch_and_reports_the_last_id() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let subs = random_submits(&c, &mut Rng(3), 4);
    let token = app.demo_token(lantian_domain::user::Role::Inspector).await;
    let r = raw_push(
        &app,
        &token,
        &c,
        vec![
            submit_mutation(1, &subs[0]),
            submit_mutation(2, &subs[1]),
            submit_mutation(4, &subs[3]),
        ],
    )
    .await;
    assert_eq!(r.body["last_mutation_id"], 2);
    assert_eq!(r.body["gap"]["expected"], 3);
    assert_eq!(r.body["results"].as_array().expect("results").len(), 2);
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 2);
    let applied: BTreeSet<String> = inspection_ids(&app).await.into_iter().collect();
    assert!(!applied.contains(&subs[3].inspection_id.to_string()));
}

#[tokio::test]
async fn one_invalid_mutation_among_fifty_is_rejected_alone_and_the_rejection_is_pulled() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let mut subs = random_submits(&c, &mut Rng(5), 50);
    subs[24].results.push(ItemResult {
        item: "XX9".into(),
        answer: Answer::Pass,
        note: None,
        photos: vec![],
    });
    let (push, rejected) = push_submits(&c, &subs).await;
    assert_eq!((push.applied, push.rejected), (49, 1));
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 49);
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].mid, rejected[0].code.as_deref()),
        (25, Some("item_unknown"))
    );
    let suffix = format!(":{}:25", c.client_id());
    let id = c
        .entity_ids("mutation_result")
        .expect("ids")
        .into_iter()
        .find(|id| id.ends_with(&suffix))
        .expect("rejection pulled");
    let result: Value = c
        .entity("mutation_result", &id)
        .expect("read")
        .expect("rejection pulled");
    assert_eq!(result["code"], "item_unknown");
    assert_eq!(c.entity_ids("inspection").expect("ids").len(), 49);
}

#[tokio::test]
async fn a_mutation_refused_after_its_writes_began_leaves_no_trace_and_its_neighbours_stay() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let mut subs = random_submits(&c, &mut Rng(11), 10);
    // A re-inspection of an order that does not exist: refused only after the inspection was
    // inserted, sealed and judged (the order is verified with it), so all of that must go back.
    subs[4].rectification_id = Some(uuid::Uuid::now_v7());
    let refused = subs[4].inspection_id.to_string();
    let (push, rejected) = push_submits(&c, &subs).await;
    assert_eq!((push.applied, push.rejected), (9, 1));
    assert_eq!(
        (rejected[0].mid, rejected[0].code.as_deref()),
        (5, Some("rectification_not_found"))
    );
    let held = inspection_ids(&app).await;
    assert_eq!(held.len(), 9);
    assert!(!held.contains(&refused));
    let traces = app
        .store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT (SELECT count(*) FROM audit_log WHERE object_id = ?1)
                      + (SELECT count(*) FROM entities WHERE entity_id = ?1)
                      + (SELECT count(*) FROM changes WHERE entity_id = ?1)",
                [refused.as_str()],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .expect("traces");
    assert_eq!(traces, 0, "the refused inspection left rows behind");
    // One chain, every seal matching its row, and the officer's copy agreeing with the server's
    // checksums after a pull.
    let (chain, seals) = lantian_app::operator::verify_audit(&app.store)
        .await
        .expect("verify");
    assert!(chain.ok() && seals.ok(), "{chain:?} {seals:?}");
    c.sync().await.expect("sync again");
    assert_eq!(c.entity_ids("inspection").expect("ids").len(), 9);
}

#[tokio::test]
async fn two_concurrent_pushes_of_one_client_apply_nothing_twice() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let subs = random_submits(&c, &mut Rng(9), 10);
    let token = app.demo_token(lantian_domain::user::Role::Inspector).await;
    let batch: Vec<Value> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| submit_mutation(i as i64 + 1, s))
        .collect();
    let (a, b) = tokio::join!(
        raw_push(&app, &token, &c, batch.clone()),
        raw_push(&app, &token, &c, batch)
    );
    let applied = |r: &lantian_tests::Reply| {
        r.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|x| x["status"] == "applied" && x["duplicate"] == false)
            .count()
    };
    assert_eq!(applied(&a) + applied(&b), 10);
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 10);
    assert_eq!(count(&app, "SELECT count(*) FROM mutations").await, 10);
}

#[tokio::test]
async fn writes_landing_during_a_twenty_page_pull_are_neither_skipped_nor_repeated() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&app.base);
    cfg.pull_limit = 17;
    let c = Client::open(&dir.path().join("s.db"), cfg).expect("open");
    c.login("demo_supervisor", DEMO_PASSWORD)
        .await
        .expect("login");
    let admin = app.demo_token(lantian_domain::user::Role::Admin).await;
    let writer = {
        let (base, client, admin) = (app.base.clone(), app.client.clone(), admin.clone());
        tokio::spawn(async move {
            for i in 0..60 {
                let body = json!({"name": format!("并发工地 {i}"), "unit": if i % 2 == 0 { "yanggu" } else { "dongchangfu" },
                                  "kind": "construction_site", "location": {"lat": 36.2, "lon": 115.8}});
                let r = client
                    .post(format!("{base}/v1/subjects"))
                    .bearer_auth(&admin)
                    .json(&body)
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
    };
    let first = c.pull().await.expect("pull while writes land");
    writer.await.expect("writer");
    assert!(first.pages >= 20, "{} pages", first.pages);
    let last = c.pull().await.expect("pull the rest");
    assert!(
        first.repaired.is_empty() && last.repaired.is_empty(),
        "no scope needed repair: nothing skipped"
    );
    assert_eq!(client_view(&c), server_view(&app, "demo_supervisor").await);
    assert_eq!(c.entity_ids("subject").expect("ids").len(), 360);
}

#[tokio::test]
async fn a_client_killed_before_saving_its_cursor_converges_on_the_next_pull() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let before = c.cursor().expect("cursor");
    let admin = app.demo_token(lantian_domain::user::Role::Admin).await;
    for i in 0..5 {
        let r = app
            .post(
                "/v1/subjects",
                Some(&admin),
                json!({"name": format!("新增饭店 {i}"), "unit": "dongchangfu", "kind": "restaurant",
                   "attributes": {"grade": "a"}, "location": {"lat": 36.44, "lon": 115.98}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    c.pull().await.expect("pull applies the page");
    // The kill: the page was applied, the cursor write never happened.
    c.set_cursor(before.as_deref())
        .expect("roll the cursor back");
    let again = c.pull().await.expect("pull again");
    assert!(again.repaired.is_empty());
    assert_eq!(client_view(&c), server_view(&app, "demo_inspector").await);
}

#[tokio::test]
async fn device_clocks_days_ahead_or_a_year_behind_miss_nothing_and_are_flagged() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let mut rng = Rng(21);
    c.set_clock_offset_ms(3 * 24 * 3600 * 1000);
    let ahead = sim::queue_inspections(&c, &mut rng, 1).expect("queue")[0];
    c.sync().await.expect("sync");
    c.set_clock_offset_ms(-365 * 24 * 3600 * 1000);
    let behind = sim::queue_inspections(&c, &mut rng, 1).expect("queue")[0];
    c.sync().await.expect("sync");
    let now = chrono::Utc::now();
    for id in [ahead, behind] {
        let v: Value = c
            .entity("inspection", &id.to_string())
            .expect("read")
            .expect("pulled");
        assert!(
            v["flags"]
                .as_array()
                .expect("flags")
                .iter()
                .any(|f| f == "clock_skew"),
            "{v}"
        );
        let occurred: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(v["occurred_at"].clone()).expect("time");
        assert!(
            (occurred - now).num_minutes().abs() < 5,
            "occurred_at corrected to the server's clock: {occurred}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 2);
}

/// An officer moved to another county while offline: what they did before the move lands under
/// the unit it was done for, flagged `after_move` for review (it took place before the server
/// heard of the move); what they do after it is judged by the new unit; and their next pull
/// trades the old unit's data for the new one's.
#[tokio::test]
async fn an_officer_moved_while_offline_lands_the_work_of_before_and_gets_the_new_units_data() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let queued = sim::queue_inspections(&c, &mut Rng(4), 2).expect("queue");
    let old_subject: Subject = c
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Subject>(v).ok())
        .find(|s| s.unit.starts_with("dongchangfu") && s.location.is_some())
        .expect("a subject of the old unit");
    let template = sim::latest_templates(&c)
        .expect("templates")
        .into_iter()
        .find(|t| t.subject_kind == old_subject.attributes.kind())
        .expect("its template");

    let admin = app.demo_token(lantian_domain::user::Role::Admin).await;
    let me = app.get("/v1/users", &admin).await.body["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "demo_inspector")
        .and_then(|u| u["id"].as_str())
        .expect("the officer")
        .to_owned();
    let moved = app
        .put(
            &format!("/v1/users/{me}/unit"),
            &admin,
            None,
            json!({"unit": "yanggu"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);

    let (push, pull) = c.sync().await.expect("sync");
    assert_eq!(
        push.applied, 2,
        "the work of before the move lands: {push:?}"
    );
    for id in &queued {
        let i = app.get(&format!("/v1/inspections/{id}"), &admin).await;
        assert_eq!(i.status, StatusCode::OK, "{:?}", i.body);
        assert!(
            i.body["unit"]
                .as_str()
                .expect("unit")
                .starts_with("dongchangfu"),
            "under the unit it was done for: {}",
            i.body["unit"]
        );
        let flags: Vec<&str> = i.body["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(flags.contains(&"after_move"), "{flags:?}");
    }
    assert!(pull.resets.contains(&ResetReason::ScopeChanged));
    let view = client_view(&c);
    assert!(
        view.values()
            .all(|(scope, _)| !scope.contains("dongchangfu")),
        "the old unit's data is gone"
    );
    assert!(view.values().any(|(scope, _)| scope == "unit:yanggu"));
    assert_eq!(view, server_view(&app, "demo_inspector").await);

    // Done after the move, an inspection of the old unit's subject is out of reach (the phone
    // no longer holds the subject; sent as an older app would, unchecked).
    let late = sim::random_inspection(&mut Rng(9), &old_subject, &template, None);
    c.enqueue(
        "inspection.submit",
        &serde_json::to_value(&late).expect("json"),
    )
    .expect("queued");
    let push = c.push().await.expect("push");
    assert_eq!(push.rejected, 1, "{push:?}");
    assert!(
        c.outbox()
            .expect("outbox")
            .iter()
            .any(|q| q.code.as_deref() == Some("subject_not_found"))
    );
}

#[tokio::test]
async fn a_corrupted_local_row_is_caught_by_its_scope_checksum_and_only_that_scope_is_repulled() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    c.local_sql("UPDATE entities SET data = replace(data, '\"name\":\"', '\"name\":\"X') WHERE rowid = (SELECT min(rowid) FROM entities WHERE entity = 'subject' AND scope = 'unit:dongchangfu_gulou')")
        .expect("corrupt");
    let pull = c.pull().await.expect("pull");
    assert_eq!(pull.repaired, vec!["unit:dongchangfu_gulou".to_owned()]);
    assert!(pull.diverged.is_empty());
    assert!(pull.resets.contains(&ResetReason::Repair));
    assert_eq!(client_view(&c), server_view(&app, "demo_inspector").await);
}

fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let f = from.join(format!("lantian.db{suffix}"));
        let t = to.join(format!("lantian.db{suffix}"));
        let _ = std::fs::remove_file(&t);
        if f.exists() {
            std::fs::copy(&f, &t).expect("copy");
        }
    }
}

#[tokio::test]
async fn after_a_restore_from_an_older_backup_clients_reset_repush_and_every_acknowledged_write_exists_once()
 {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("a.db");
    {
        let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
        drop(c);
    }
    let (data, config) = app.stop().await;
    let backup = tempfile::tempdir().expect("backup dir");
    // The backup: the file with its log on SQLite, a copy of the database on PostgreSQL.
    let backup_config = lantian_tests::behind::copy(&config, backup.path());
    let app = start_in(data, config, true).await;
    let c = Client::open(&db_path, config_for(&app)).expect("reopen");
    let mut rng = Rng(33);
    let acknowledged = sim::queue_inspections(&c, &mut rng, 3).expect("queue");
    let (push, _) = c.sync().await.expect("sync");
    assert_eq!(push.applied, 3);
    // Restore the older backup, while the client holds more queued writes.
    let (data, mut config) = app.stop().await;
    match &config.database_url {
        None => copy_db(backup.path(), data.path()),
        Some(_) => {
            let restored = tempfile::tempdir().expect("restored");
            config.database_url =
                lantian_tests::behind::copy(&backup_config, restored.path()).database_url;
        }
    }
    let app = start_in(data, config, true).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM inspections").await,
        0,
        "the backup predates them"
    );
    let c = Client::open(&db_path, config_for(&app)).expect("reopen");
    let queued = sim::queue_inspections(&c, &mut rng, 2).expect("queue");
    let (_, pull) = c.sync().await.expect("sync after restore");
    assert!(
        pull.resets.contains(&ResetReason::HistoryDiverged),
        "{:?}",
        pull.resets
    );
    let expected: BTreeSet<String> = acknowledged
        .iter()
        .chain(&queued)
        .map(|i| i.to_string())
        .collect();
    let on_server = inspection_ids(&app).await;
    assert_eq!(on_server.len(), expected.len(), "each exactly once");
    assert_eq!(on_server.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(client_view(&c), server_view(&app, "demo_inspector").await);
}

fn config_for(app: &TestApp) -> ClientConfig {
    config(&app.base)
}

#[tokio::test]
async fn a_seeded_run_of_officers_through_dropped_responses_and_kills_ends_equal_to_what_was_acknowledged()
 {
    let app = spawn_app().await;
    let units = [
        "dongchangfu",
        "dongchangfu_gulou",
        "yanggu",
        "shenxian",
        "linqing",
        "econ_dev_zone",
    ];
    for (i, unit) in units.iter().enumerate() {
        app.add_user(
            &format!("sim_{i}"),
            lantian_domain::user::Role::Inspector,
            unit,
            DEMO_PASSWORD,
        )
        .await;
    }
    let proxy = Proxy::start(
        app.base
            .trim_start_matches("http://")
            .parse()
            .expect("addr"),
        2019,
    )
    .await;
    proxy.drop_percent(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(20191001);
    let mut queued: BTreeSet<String> = BTreeSet::new();
    let cfg = || {
        let mut c = config(&proxy.url());
        c.fresh_connections = true;
        c.max_attempts = 3;
        c
    };
    let mut clients: Vec<Option<Client>> = Vec::new();
    for i in 0..units.len() {
        let c = Client::open(&dir.path().join(format!("sim_{i}.db")), cfg()).expect("open");
        for _ in 0..20 {
            if c.login(&format!("sim_{i}"), DEMO_PASSWORD).await.is_ok() {
                break;
            }
        }
        for _ in 0..20 {
            if c.pull().await.is_ok() {
                break;
            }
        }
        clients.push(Some(c));
    }
    for _round in 0..6 {
        for (i, slot) in clients.iter_mut().enumerate() {
            if slot.is_none() {
                // Killed last round: reopen from what is on its disk.
                *slot = Some(
                    Client::open(&dir.path().join(format!("sim_{i}.db")), cfg()).expect("reopen"),
                );
            }
            let c = slot.as_ref().expect("client");
            if c.entity_ids("subject")
                .map(|v| v.is_empty())
                .unwrap_or(true)
            {
                let _ = c.pull().await;
                continue;
            }
            let n = 1 + rng.below(4);
            queued.extend(
                sim::queue_inspections(c, &mut rng, n)
                    .expect("queue")
                    .iter()
                    .map(|u| u.to_string()),
            );
            let _ = c.sync().await; // may fail: dropped responses are part of the run
            if rng.chance(25) {
                *slot = None;
            }
        }
    }
    // The network heals; every officer syncs until the queue is empty.
    proxy.drop_percent(0);
    for (i, slot) in clients.iter_mut().enumerate() {
        let c = match slot.take() {
            Some(c) => c,
            None => Client::open(&dir.path().join(format!("sim_{i}.db")), cfg()).expect("reopen"),
        };
        let (_, pull) = c.sync().await.expect("final sync");
        assert_eq!(c.pending().expect("pending"), 0);
        assert!(pull.diverged.is_empty());
        assert_eq!(
            client_view(&c),
            server_view(&app, &format!("sim_{i}")).await,
            "officer {i}"
        );
    }
    assert!(proxy.dropped() > 0, "the run did drop responses");
    let on_server = inspection_ids(&app).await;
    assert_eq!(on_server.len(), queued.len(), "nothing applied twice");
    assert_eq!(
        on_server.into_iter().collect::<BTreeSet<_>>(),
        queued,
        "nothing lost"
    );
}

#[tokio::test]
async fn amendments_keep_the_original_flag_stale_bases_and_stop_after_a_final_review() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let s = random_submits(&c, &mut Rng(8), 1).remove(0);
    c.submit_inspection(&s).expect("queue");
    let amend = |base: u32| json!({"inspection_id": s.inspection_id, "base_version": base, "results": s.results, "reason": "补充记录"});
    c.enqueue("inspection.amend", &amend(1)).expect("amend 1");
    c.enqueue("inspection.amend", &amend(1))
        .expect("amend from a stale base");
    c.sync().await.expect("sync");
    let v: Value = c
        .entity("inspection", &s.inspection_id.to_string())
        .expect("read")
        .expect("pulled");
    assert_eq!(v["version"], 3);
    assert_eq!(
        v["results"],
        serde_json::to_value(&s.results).expect("json"),
        "the original is kept as submitted"
    );
    let stale: Vec<bool> = v["amendments"]
        .as_array()
        .expect("amendments")
        .iter()
        .map(|a| a["stale"].as_bool().expect("stale"))
        .collect();
    assert_eq!(stale, vec![false, true]);
    // The database refuses to change the submitted evidence.
    let id = s.inspection_id.to_string();
    let edit = app
        .store
        .write(move |c| {
            Ok(c.raw().execute(
                "UPDATE inspections SET results = '[]' WHERE uuid = ?1",
                [id],
            )?)
        })
        .await;
    let refused = edit.expect_err("evidence changed").to_string();
    assert!(
        refused.contains("submitted inspections are evidence and never change"),
        "{refused}"
    );
    let id = s.inspection_id.to_string();
    app.store
        .write(move |c| {
            Ok(c.raw().execute(
                "UPDATE inspections SET review_state = 'approved' WHERE uuid = ?1",
                [id],
            )?)
        })
        .await
        .expect("a final decision");
    c.enqueue("inspection.amend", &amend(3))
        .expect("amend after the decision");
    let (push, _) = c.sync().await.expect("sync");
    assert_eq!(push.rejected, 1);
    assert_eq!(
        c.outbox()
            .expect("outbox")
            .last()
            .and_then(|q| q.code.clone())
            .as_deref(),
        Some("inspection_final")
    );
}

#[tokio::test]
async fn a_draft_belongs_to_the_install_that_saved_it_and_proposals_and_incidents_sync_back() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = officer(&app.base, dir.path(), "phone", "demo_inspector").await;
    let tablet = officer(&app.base, dir.path(), "tablet", "demo_inspector").await;
    let draft = uuid::Uuid::now_v7();
    phone
        .enqueue(
            "draft.save",
            &json!({"draft_id": draft, "data": {"step": 1}}),
        )
        .expect("save");
    phone.sync().await.expect("sync");
    tablet
        .enqueue(
            "draft.save",
            &json!({"draft_id": draft, "data": {"step": 9}}),
        )
        .expect("save elsewhere");
    tablet
        .enqueue("draft.discard", &json!({"draft_id": draft}))
        .expect("discard elsewhere");
    let (push, _) = tablet.sync().await.expect("sync");
    assert_eq!(push.rejected, 2);
    assert!(
        tablet
            .outbox()
            .expect("outbox")
            .iter()
            .all(|q| q.code.as_deref() == Some("draft_owned_by_other_client"))
    );
    let d: Value = tablet
        .entity("draft", &draft.to_string())
        .expect("read")
        .expect("the draft syncs to the user's devices");
    assert_eq!(d["data"]["step"], 1);
    phone
        .enqueue("draft.discard", &json!({"draft_id": draft}))
        .expect("discard");
    let proposal = uuid::Uuid::now_v7();
    phone
        .enqueue("subject.propose", &json!({"proposal_id": proposal, "subject": {"name": "路边渣土堆", "unit": "dongchangfu", "kind": "stockpile",
              "attributes": {"pile_kind": "spoil"}, "location": {"lat": 36.43, "lon": 115.99}}}))
        .expect("propose");
    let incident = uuid::Uuid::now_v7();
    phone
        .enqueue("incident.report", &json!({"incident_id": incident, "category": "open_burning", "description": "田间焚烧秸秆",
              "location": {"lat": 36.43, "lon": 115.99, "accuracy_m": 12.0, "datum": "gcj02"}, "photos": [uuid::Uuid::now_v7()]}))
        .expect("report");
    let (push, _) = phone.sync().await.expect("sync");
    assert_eq!((push.applied, push.rejected), (3, 0));
    assert!(
        phone
            .entity::<Value>("draft", &draft.to_string())
            .expect("read")
            .is_none(),
        "the discard removed it"
    );
    assert_eq!(
        phone
            .entity::<Value>("proposal", &proposal.to_string())
            .expect("read")
            .expect("pulled")["status"],
        "proposed"
    );
    assert_eq!(
        phone
            .entity::<Value>("incident", &incident.to_string())
            .expect("read")
            .expect("pulled")["category"],
        "open_burning"
    );
    tablet.pull().await.expect("pull");
    assert!(
        tablet
            .entity::<Value>("draft", &draft.to_string())
            .expect("read")
            .is_none(),
        "the removal reached the other device"
    );
}

#[tokio::test]
async fn a_cursor_older_than_the_tombstone_retention_gets_a_reset() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let admin = app.demo_token(lantian_domain::user::Role::Admin).await;
    for i in 0..3 {
        let r = app
            .post("/v1/subjects", Some(&admin), json!({"name": format!("工地 {i}"), "unit": "dongchangfu", "kind": "construction_site",
                   "location": {"lat": 36.44, "lon": 115.98}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // Everything but the newest change is past retention.
    let pruned = app
        .store
        .write(|c| lantian_store::sync::prune(c, "9999-01-01T00:00:00Z"))
        .await
        .expect("prune");
    assert!(pruned > 300);
    let pull = c.pull().await.expect("pull");
    assert_eq!(pull.resets, vec![ResetReason::CursorTooOld]);
    assert_eq!(client_view(&c), server_view(&app, "demo_inspector").await);
}

#[tokio::test]
async fn roles_that_do_not_inspect_have_their_field_mutations_rejected_not_applied() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let inspector = officer(&app.base, dir.path(), "i", "demo_inspector").await;
    let submit = random_submits(&inspector, &mut Rng(77), 1).remove(0);
    for (name, username) in [("viewer", "demo_viewer"), ("unit_admin", "demo_unit_admin")] {
        let c = officer(&app.base, dir.path(), name, username).await;
        c.enqueue(
            "inspection.submit",
            &serde_json::to_value(&submit).expect("json"),
        )
        .expect("queue");
        c.enqueue(
            "incident.report",
            &json!({"incident_id": uuid::Uuid::now_v7(), "category": "dust", "description": "扬尘",
                    "location": {"lat": 36.43, "lon": 115.99, "accuracy_m": 5.0, "datum": "wgs84"}}),
        )
        .expect("queue");
        let (push, _) = c.sync().await.expect("sync");
        assert_eq!((push.applied, push.rejected), (0, 2), "{username}");
        assert!(
            c.outbox()
                .expect("outbox")
                .iter()
                .all(|q| q.code.as_deref() == Some("forbidden")),
            "{username}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM incidents").await, 0);
}

/// Commits `prepared` as a push of `username`'s install `client_id` (one that has pushed nothing
/// yet), straight into the writer, as the push handler would after preparing it.
async fn push_prepared(
    app: &TestApp,
    username: &'static str,
    client_id: uuid::Uuid,
    prepared: Vec<lantian_store::push::Prepared>,
) -> lantian_store::push::Outcome {
    use lantian_store::push;
    let ctx = app
        .store
        .read(move |c| {
            let user = lantian_store::identity::user_by_username(c, username)?.expect("user");
            let install = push::client(c, client_id, user.id)?.expect("install");
            assert_eq!(install.last_mutation_id, 0);
            let client_row = install.row;
            Ok(push::Context {
                user,
                client_row,
                client_id,
                received_at: chrono::Utc::now(),
                clock_offset_ms: 0,
                verdicts: lantian_domain::geo::VerdictThresholds::default(),
                rectify: std::sync::Arc::default(),
            })
        })
        .await
        .expect("context");
    app.store
        .write(move |c| push::push(c, &ctx, &prepared))
        .await
        .expect("committed")
}

/// A push is prepared outside the writer (hashed, parsed, checked, scored against the subject and
/// alert state of that moment) and committed inside it. The writer uses a prepared score only
/// while its basis holds: here the first submission's basis is current and its prepared score (a
/// marker no template can give) is what lands; the second's subject moved on since, so the writer
/// scores it again.
#[tokio::test]
async fn a_prepared_score_is_used_only_while_its_basis_holds() {
    use lantian_store::push;
    let app = spawn_app().await;
    let o = lantian_tests::photos::officer(
        &app,
        "prepared",
        lantian_domain::user::Role::Inspector,
        "dongchangfu",
    )
    .await;
    let (a, b) = (
        lantian_tests::photos::draft(&o, 11),
        lantian_tests::photos::draft(&o, 12),
    );
    let mutations = [&a, &b]
        .iter()
        .enumerate()
        .map(|(i, s)| lantian_protocol::sync::Mutation {
            mid: i as i64 + 1,
            name: "inspection.submit".into(),
            args: serde_json::to_value(s).expect("args"),
            device_time: chrono::Utc::now(),
        })
        .collect();
    let mut prepared = lantian_app::sync::prepare(&app.store, mutations, 0)
        .await
        .expect("prepared");
    for (i, p) in prepared.iter_mut().enumerate() {
        let Ok(push::Work::Submit(s)) = &mut p.work else {
            panic!("a submission is prepared as one: {:?}", p.work)
        };
        let scored = s.scored.as_mut().expect("the subject was found and scored");
        scored.score = Ok(lantian_domain::inspection::InspectionScore {
            earned: 9_999,
            possible: 9_999,
            failed: Vec::new(),
            critical_failed: Vec::new(),
            compliant: true,
        });
        if i == 1 {
            scored.subject_version -= 1;
        }
    }
    let outcome = push_prepared(&app, "prepared", o.client.client_id(), prepared).await;
    assert!(
        outcome
            .results
            .iter()
            .all(|r| r.status == push::Status::Applied),
        "{outcome:?}"
    );
    let earned = |id: uuid::Uuid| {
        let store = app.store.clone();
        async move {
            store
                .read(move |c| {
                    Ok(c.raw().query_row(
                        "SELECT score_earned FROM inspections WHERE uuid = ?1",
                        [id.to_string()],
                        |r| r.get::<_, i64>(0),
                    )?)
                })
                .await
                .expect("score")
        }
    };
    assert_eq!(earned(a.inspection_id).await, 9_999, "the basis held");
    assert_ne!(earned(b.inspection_id).await, 9_999, "the basis moved");
}

/// The writer takes the subject as the push's preparation read it only while the subject is still
/// at that version. Moved to another county between the two, the subject is read again in the
/// writer, and the officer of the first county may no longer inspect it there.
#[tokio::test]
async fn a_subject_moved_away_after_a_push_was_prepared_is_judged_as_it_is_now() {
    use lantian_store::push;
    let app = spawn_app().await;
    let o = lantian_tests::photos::officer(
        &app,
        "moved_away",
        lantian_domain::user::Role::Inspector,
        "dongchangfu",
    )
    .await;
    let a = lantian_tests::photos::draft(&o, 21);
    let mutations = vec![lantian_protocol::sync::Mutation {
        mid: 1,
        name: "inspection.submit".into(),
        args: serde_json::to_value(&a).expect("args"),
        device_time: chrono::Utc::now(),
    }];
    let prepared = lantian_app::sync::prepare(&app.store, mutations, 0)
        .await
        .expect("prepared");
    let Ok(push::Work::Submit(s)) = &prepared[0].work else {
        panic!("a submission is prepared as one: {:?}", prepared[0].work)
    };
    assert!(s.subject.is_some(), "the subject was read with the basis");
    let subject = a.subject_id;
    app.store
        .write(move |c| {
            let now = lantian_store::subjects::get(c, subject)?.expect("subject");
            let draft = lantian_domain::subject::SubjectDraft {
                name: now.subject.name,
                unit: "yanggu".into(),
                attributes: now.subject.attributes,
                location: now.subject.location,
                geometry: now.subject.geometry,
                on_ledger_since: now.subject.on_ledger_since,
            };
            lantian_store::subjects::update(
                c,
                lantian_store::sync::Group::new(),
                subject,
                now.subject.version,
                draft,
            )
            .map(|_| ())
        })
        .await
        .expect("moved");
    let outcome = push_prepared(&app, "moved_away", o.client.client_id(), prepared).await;
    assert_eq!(outcome.results.len(), 1, "{outcome:?}");
    assert_eq!(
        outcome.results[0].status,
        push::Status::Rejected,
        "{outcome:?}"
    );
    assert_eq!(
        outcome.results[0].code.as_deref(),
        Some("subject_not_found"),
        "{outcome:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM inspections").await, 0);
}

/// A long sync shows its work: the client reports each answered batch of mutations and each pulled
/// page as it goes, and its report says what is still waiting.
#[tokio::test]
async fn a_sync_reports_its_progress_and_what_is_still_waiting() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&app.base);
    cfg.push_batch = 40;
    let c = Client::open(&dir.path().join("progress.db"), cfg).expect("open");
    c.login("demo_inspector", lantian_domain::reference::DEMO_PASSWORD)
        .await
        .expect("login");
    c.pull().await.expect("first pull");
    lantian_client::sim::queue_inspections(&c, &mut lantian_client::sim::Rng(77), 100)
        .expect("queue");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    c.on_progress(move |p| sink.lock().expect("lock").push(p.clone()));
    let report = c.sync_report().await.expect("sync");
    assert_eq!(report.push.applied, 100);
    assert_eq!(report.pending, 0);
    let seen = seen.lock().expect("lock").clone();
    let pushed: Vec<(u64, u64)> = seen
        .iter()
        .filter_map(|p| match p {
            lantian_client::Progress::Pushed { done, total } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, vec![(40, 100), (80, 100), (100, 100)], "{seen:?}");
    assert!(
        seen.iter()
            .any(|p| matches!(p, lantian_client::Progress::Pulled { .. })),
        "{seen:?}"
    );
}

/// `GET /v1/sync/status` gives a phone, read in one moment, its last applied mutation, the log's
/// head and each scope's count and checksum, equal to what its own copy holds after a sync;
/// another officer's install answers as an unknown one does, and a revoked install is refused.
#[tokio::test]
async fn sync_status_agrees_with_the_phone_and_answers_only_for_the_callers_live_install() {
    use lantian_domain::user::Role;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = officer(&app.base, dir.path(), "a", "demo_inspector").await;
    let (pushed, rejected) = push_submits(&c, &random_submits(&c, &mut Rng(21), 3)).await;
    assert_eq!((pushed.applied, rejected.len()), (3, 0));
    let token = app.demo_token(Role::Inspector).await;
    let path = format!("/v1/sync/status?client_id={}", c.client_id());
    let status = app.get(&path, &token).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["last_mutation_id"], 3);
    assert_eq!(
        status.body["head"],
        count(&app, "SELECT max(seq) FROM changes").await
    );
    let mut server: Vec<(String, u64, String)> = status.body["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter(|s| s["count"] != 0)
        .map(|s| {
            (
                s["scope"].as_str().expect("scope").to_owned(),
                s["count"].as_u64().expect("count"),
                s["checksum"].as_str().expect("checksum").to_owned(),
            )
        })
        .collect();
    let mut phone: Vec<(String, u64, String)> = c
        .scope_sums()
        .expect("sums")
        .into_iter()
        .map(|(scope, n, sum)| (scope, n, format!("{sum:016x}")))
        .collect();
    server.sort();
    phone.sort();
    assert!(!phone.is_empty());
    assert_eq!(server, phone);

    // Another officer asking for this install hears what an unknown install gets.
    let other = app.demo_token(Role::Supervisor).await;
    let foreign = app.get(&path, &other).await;
    let unknown = app
        .get(
            &format!("/v1/sync/status?client_id={}", uuid::Uuid::now_v7()),
            &other,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (foreign.status, &foreign.body),
        (unknown.status, &unknown.body)
    );

    // Revoked: refused by name.
    let user_id = app.get("/v1/me", &token).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let admin = app.demo_token(Role::UnitAdmin).await;
    let revoke = app
        .post(
            &format!("/v1/users/{user_id}/clients/{}/revoke", c.client_id()),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{:?}", revoke.body);
    let refused = app.get(&path, &token).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, Some("client_revoked"))
    );
}

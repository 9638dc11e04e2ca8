//! Review and rectification over HTTP: the loop from a failed critical item to a closed order,
//! its variants (rework, extension, deferral, overdue), who may verify, concurrent decisions,
//! county boundaries, and the audit chain under tampering.

use lantian_client::sim;
use lantian_domain::inspection::{Answer, ItemResult};
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::{Subject, SubjectAttributes};
use lantian_domain::user::Role;
use lantian_tests::photos::{self, Officer};
use lantian_tests::{TestApp, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// A construction site of the officer's unit subtree (dongchangfu).
fn site(o: &Officer) -> Subject {
    site_in(o, "dongchangfu")
}

/// A construction site the officer sees in `county` (or a unit below it).
fn site_in(o: &Officer, county: &str) -> Subject {
    o.client
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Subject>(v).ok())
        .find(|s| {
            matches!(s.attributes, SubjectAttributes::ConstructionSite(_))
                && s.unit.starts_with(county)
                && s.location.is_some()
        })
        .unwrap_or_else(|| panic!("a construction site in {county}"))
}

/// An inspection of `subject` where every item passes except CS1 (critical) when `cs1_fails`.
fn inspection_of(
    o: &Officer,
    subject: &Subject,
    cs1_fails: bool,
    order: Option<Uuid>,
) -> InspectionSubmit {
    let t = sim::latest_templates(&o.client)
        .expect("templates")
        .into_iter()
        .find(|t| t.subject_kind == subject.attributes.kind())
        .expect("template");
    let linear = matches!(&subject.attributes, SubjectAttributes::ConstructionSite(c) if c.linear);
    let results = t
        .items
        .iter()
        .filter(|i| {
            i.code != "CS_NOTE"
                && (i.code != "CS7" || linear)
                && i.applies_if.as_deref() != Some(lantian_domain::inspection::ALERT_CONDITION)
        })
        .map(|i| {
            let fail = cs1_fails && i.code == "CS1";
            ItemResult {
                item: i.code.clone(),
                answer: if fail { Answer::Fail } else { Answer::Pass },
                note: None,
                photos: if fail { vec![Uuid::now_v7()] } else { vec![] },
            }
        })
        .collect();
    let p = subject.location.expect("point");
    let mut rng = sim::Rng(u64::from(cs1_fails) + 7);
    let mut s = sim::random_inspection(&mut rng, subject, &t, None);
    s.inspection_id = Uuid::now_v7();
    s.signature_photo_id = Uuid::now_v7();
    s.results = results;
    s.location.lat = p.lat;
    s.location.lon = p.lon;
    s.rectification_id = order;
    s
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> lantian_tests::Reply {
    app.request(method, path, Some(token), body, &[]).await
}

/// Every order the caller lists (up to 200).
async fn orders(app: &TestApp, token: &str) -> Vec<Value> {
    let r = send(
        app,
        Method::GET,
        "/v1/rectifications?limit=200",
        token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().expect("items").clone()
}

async fn order_of(app: &TestApp, token: &str, inspection: Uuid) -> Value {
    orders(app, token)
        .await
        .into_iter()
        .find(|o| o["inspection_id"] == inspection.to_string())
        .expect("an order for the inspection")
}

fn stats_path() -> String {
    let from = chrono::Utc::now() - chrono::Duration::days(30);
    let to = chrono::Utc::now() + chrono::Duration::days(400);
    format!(
        "/v1/rectifications/stats?from={}&to={}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// A finding as most order tests start from it: two officers of dongchangfu, the supervisor's
/// token, a construction site, the finder's inspection failing CS1 (critical) pushed, and the
/// order it opened.
struct Finding {
    finder: Officer,
    checker: Officer,
    sup: String,
    subject: Subject,
    order: Value,
}

impl Finding {
    fn id(&self) -> Uuid {
        self.order["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }
}

/// [`Finding`], with the officers named `<prefix>_finder` and `<prefix>_checker`.
async fn finding(app: &TestApp, prefix: &str) -> Finding {
    let finder = photos::officer(
        app,
        &format!("{prefix}_finder"),
        Role::Inspector,
        "dongchangfu",
    )
    .await;
    let checker = photos::officer(
        app,
        &format!("{prefix}_checker"),
        Role::Inspector,
        "dongchangfu",
    )
    .await;
    let sup = app.demo_token(Role::Supervisor).await;
    let subject = site(&finder);
    let found = inspection_of(&finder, &subject, true, None);
    assert_eq!(push_one(&finder, &found).await, None);
    let order = order_of(app, &sup, found.inspection_id).await;
    Finding {
        finder,
        checker,
        sup,
        subject,
        order,
    }
}

/// Submits `s` from `o`; returns the server's verdict on the mutation (applied or a code).
async fn push_one(o: &Officer, s: &InspectionSubmit) -> Option<String> {
    o.client.submit_inspection(s).expect("queued");
    o.client.push().await.expect("push");
    o.client
        .outbox()
        .expect("outbox")
        .pop()
        .expect("queued")
        .code
}

#[tokio::test]
async fn a_failed_critical_item_becomes_an_order_that_a_second_officers_reinspection_closes_on_time()
 {
    let app = spawn_app_with(|_| {}, true).await;
    let finder = photos::officer(&app, "rv_finder", Role::Inspector, "dongchangfu").await;
    let checker = photos::officer(&app, "rv_checker", Role::Inspector, "dongchangfu").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let subject = site(&finder);
    let found = inspection_of(&finder, &subject, true, None);
    assert_eq!(push_one(&finder, &found).await, None);

    // CS1 is critical: the order opened by itself, addressed to the subject's unit, due in 24 h.
    let order = order_of(&app, &sup, found.inspection_id).await;
    assert_eq!(order["item"], "CS1");
    assert_eq!(order["unit"], subject.unit);
    assert_eq!(order["severity"], "urgent");
    assert_eq!(order["state"], "open");
    assert_eq!(order["opened_by"], "system");
    // Due 24 h after the finding (the inspection's time of occurrence), not after the sync.
    let found_at: chrono::DateTime<chrono::Utc> =
        order["found_at"].as_str().expect("t").parse().expect("t");
    let deadline: chrono::DateTime<chrono::Utc> =
        order["deadline"].as_str().expect("t").parse().expect("t");
    assert_eq!(deadline - found_at, chrono::Duration::hours(24));
    assert_eq!(order["synced_late"], false);
    let id = order["id"].as_str().expect("id").to_owned();
    // Opening it again is a conflict.
    let again = send(
        &app,
        Method::POST,
        "/v1/rectifications",
        &sup,
        Some(json!({"inspection_id": found.inspection_id, "item": "CS1"})),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // The unit reports it handled.
    let handled = send(
        &app,
        Method::POST,
        &format!("/v1/rectifications/{id}/handled"),
        &checker.token,
        Some(json!({"note": "已覆盖防尘网"})),
    )
    .await;
    assert_eq!(handled.status, StatusCode::OK, "{:?}", handled.body);
    assert_eq!(handled.body["state"], "reported_handled");

    // The finder may not verify their own finding; the mutation is rejected with its code.
    let own = inspection_of(&finder, &subject, false, Some(id.parse().expect("uuid")));
    assert_eq!(
        push_one(&finder, &own).await.as_deref(),
        Some("verifier_is_finder")
    );

    // Another officer's re-inspection passes CS1: closed, on time.
    let re = inspection_of(&checker, &subject, false, Some(id.parse().expect("uuid")));
    assert_eq!(push_one(&checker, &re).await, None);
    let closed = send(
        &app,
        Method::GET,
        &format!("/v1/rectifications/{id}"),
        &sup,
        None,
    )
    .await;
    assert_eq!(closed.body["state"], "closed", "{:?}", closed.body);
    assert_eq!(closed.body["closed_on_time"], true);
    assert_eq!(closed.body["verified_by"], re.inspection_id.to_string());
    let events: Vec<&str> = closed.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().expect("e"))
        .collect();
    assert_eq!(
        events,
        ["opened", "reported_handled", "verifying", "closed"]
    );
    // The order synced to the unit's officers.
    checker.client.pull().await.expect("pull");
    let synced: lantian_domain::rectification::OrderView = checker
        .client
        .entity("rectification", &id)
        .expect("local")
        .expect("synced");
    assert_eq!(
        synced.state,
        lantian_domain::rectification::OrderState::Closed
    );

    let stats = send(&app, Method::GET, &stats_path(), &sup, None).await;
    assert_eq!(stats.body["due"], 1, "{:?}", stats.body);
    assert_eq!(stats.body["closed_on_time"], 1);
    assert_eq!(stats.body["reworks"], 0);
}

#[tokio::test]
async fn rework_extension_deferral_and_overdue_each_leave_their_counts() {
    let app = spawn_app_with(
        |c| {
            c.rectification.auto_open_critical = false;
            c.rectification.severities.insert(
                "instant".into(),
                lantian_domain::rectification::TimeLimit::Hours(0),
            );
        },
        true,
    )
    .await;
    let finder = photos::officer(&app, "rw_finder", Role::Inspector, "dongchangfu").await;
    let checker = photos::officer(&app, "rw_checker", Role::Inspector, "dongchangfu").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let subject = site(&finder);
    let mut orders = Vec::new();
    for severity in ["normal", "normal", "normal", "instant"] {
        let s = inspection_of(&finder, &subject, true, None);
        assert_eq!(push_one(&finder, &s).await, None);
        let r = send(
            &app,
            Method::POST,
            "/v1/rectifications",
            &sup,
            Some(json!({"inspection_id": s.inspection_id, "item": "CS1", "severity": severity})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        orders.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let path = |id: &str, rest: &str| format!("/v1/rectifications/{id}{rest}");

    // Rework: the re-inspection still fails CS1; the order goes back to open with a count.
    let fail_again = inspection_of(
        &checker,
        &subject,
        true,
        Some(orders[0].parse().expect("uuid")),
    );
    assert_eq!(push_one(&checker, &fail_again).await, None);
    let o = send(&app, Method::GET, &path(&orders[0], ""), &sup, None).await;
    assert_eq!(
        (o.body["state"].as_str(), o.body["rework_count"].as_u64()),
        (Some("open"), Some(1))
    );
    let pass = inspection_of(
        &checker,
        &subject,
        false,
        Some(orders[0].parse().expect("uuid")),
    );
    assert_eq!(push_one(&checker, &pass).await, None);
    assert_eq!(
        send(&app, Method::GET, &path(&orders[0], ""), &sup, None)
            .await
            .body["state"],
        "closed"
    );

    // Extension: asked by the unit, approved by the supervisor: a later deadline, counted.
    let before = send(&app, Method::GET, &path(&orders[1], ""), &sup, None)
        .await
        .body["deadline"]
        .clone();
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let asked = send(
        &app,
        Method::POST,
        &path(&orders[1], "/requests"),
        &checker.token,
        Some(json!({"kind": "extension", "until": until, "reason": "雨季停工"})),
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    let twice = send(
        &app,
        Method::POST,
        &path(&orders[1], "/requests"),
        &checker.token,
        Some(json!({"kind": "extension", "until": until, "reason": "again"})),
    )
    .await;
    assert_eq!(twice.body["error"]["detail"], "request_pending");
    let approved = send(
        &app,
        Method::POST,
        &path(&orders[1], "/requests/decision"),
        &sup,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    assert_eq!(approved.body["extension_count"], 1);
    assert_ne!(approved.body["deadline"], before);

    // Deferral: approved, the order is deferred and leaves the on-time denominator.
    let asked = send(
        &app,
        Method::POST,
        &path(&orders[2], "/requests"),
        &checker.token,
        Some(json!({"kind": "deferral", "until": until, "reason": "待工程二期"})),
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK);
    let deferred = send(
        &app,
        Method::POST,
        &path(&orders[2], "/requests/decision"),
        &sup,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(deferred.body["state"], "deferred");

    // Overdue: the instant order was due at the finding, so it was past its deadline when the
    // supervisor opened it: overdue from its opening (the sweep finds nothing left to mark), on
    // the escalation list, and closing it now is late.
    let marked = app
        .store
        .write(|c| lantian_store::rectify::sweep(c, chrono::Utc::now()))
        .await
        .expect("sweep");
    assert_eq!(marked.len(), 0);
    let instant = send(&app, Method::GET, &path(&orders[3], ""), &sup, None).await;
    assert_eq!(
        (&instant.body["synced_late"], &instant.body["overdue"]),
        (&json!(true), &json!(true))
    );
    let list = send(
        &app,
        Method::GET,
        "/v1/rectifications?overdue=true",
        &sup,
        None,
    )
    .await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [orders[3].as_str()]);
    let late = inspection_of(
        &checker,
        &subject,
        false,
        Some(orders[3].parse().expect("uuid")),
    );
    assert_eq!(push_one(&checker, &late).await, None);
    let o = send(&app, Method::GET, &path(&orders[3], ""), &sup, None).await;
    assert_eq!(
        (o.body["state"].as_str(), o.body["closed_on_time"].as_bool()),
        (Some("closed"), Some(false))
    );

    let stats = send(&app, Method::GET, &stats_path(), &sup, None).await;
    assert_eq!(
        stats.body,
        json!({"due": 3, "closed_on_time": 1, "closed_late": 1, "overdue_open": 0, "deferred": 1, "reworks": 1, "extensions": 1})
    );
}

#[tokio::test]
async fn of_two_supervisors_deciding_at_once_exactly_one_wins_and_the_officer_hears_of_it() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "cc_officer", Role::Inspector, "dongchangfu").await;
    app.add_user(
        "cc_sup_a",
        Role::Supervisor,
        "dongchangfu",
        photos::PASSWORD,
    )
    .await;
    app.add_user("cc_sup_b", Role::Supervisor, "lcucb", photos::PASSWORD)
        .await;
    let a = app.tokens("cc_sup_a", photos::PASSWORD).await.access_token;
    let b = app.tokens("cc_sup_b", photos::PASSWORD).await.access_token;
    for round in 0..5 {
        let s = inspection_of(&o, &site(&o), false, None);
        assert_eq!(push_one(&o, &s).await, None);
        let path = format!("/v1/inspections/{}/review", s.inspection_id);
        let (ra, rb) = tokio::join!(
            send(
                &app,
                Method::POST,
                &path,
                &a,
                Some(json!({"expected_state": "received", "decision": "approved"}))
            ),
            send(
                &app,
                Method::POST,
                &path,
                &b,
                Some(
                    json!({"expected_state": "received", "decision": "rejected", "comment": "照片不清"})
                )
            )
        );
        let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let loser = if ra.status == StatusCode::CONFLICT {
            &ra
        } else {
            &rb
        };
        assert_eq!(loser.body["error"]["detail"], "review_conflict");
        let id = s.inspection_id;
        let n: i64 = app
            .store
            .read(move |c| {
                Ok(c.raw().query_row(
                    "SELECT count(*) FROM reviews r JOIN inspections i ON i.id = r.inspection_id WHERE i.uuid = ?1",
                    [id.to_string()],
                    |r| r.get(0),
                )?)
            })
            .await
            .expect("count");
        assert_eq!(n, 1);
    }
    // The decision and its comment reach the officer's device.
    let s = inspection_of(&o, &site(&o), false, None);
    assert_eq!(push_one(&o, &s).await, None);
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &a,
        Some(json!({"expected_state": "received", "decision": "has_issues"})),
    )
    .await;
    assert_eq!(r.body["error"]["detail"], "comment_required");
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &a,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    o.client.pull().await.expect("pull");
    let view: lantian_domain::inspection::InspectionView = o
        .client
        .entity("inspection", &s.inspection_id.to_string())
        .expect("local")
        .expect("synced");
    assert_eq!(view.review_state, "approved");
    assert_eq!(view.reviews.len(), 1);
    // After a final decision an amendment is refused with its code.
    o.client
        .enqueue(
            "inspection.amend",
            &json!({"inspection_id": s.inspection_id, "base_version": 1, "results": s.results, "reason": "补充"}),
        )
        .expect("queued");
    o.client.push().await.expect("push");
    assert_eq!(
        o.client
            .outbox()
            .expect("outbox")
            .pop()
            .expect("q")
            .code
            .as_deref(),
        Some("inspection_final")
    );
    // And a final decision is final.
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &b,
        Some(json!({"expected_state": "approved", "decision": "rejected", "comment": "x"})),
    )
    .await;
    assert_eq!(r.body["error"]["detail"], "review_final");
}

#[tokio::test]
async fn another_countys_supervisor_neither_sees_nor_decides() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "cty_officer", Role::Inspector, "dongchangfu").await;
    app.add_user("cty_sup", Role::Supervisor, "yanggu", photos::PASSWORD)
        .await;
    let other = app.tokens("cty_sup", photos::PASSWORD).await.access_token;
    let s = inspection_of(&o, &site(&o), true, None);
    assert_eq!(push_one(&o, &s).await, None);
    let get = send(
        &app,
        Method::GET,
        &format!("/v1/inspections/{}", s.inspection_id),
        &other,
        None,
    )
    .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let decide = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &other,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(decide.status, StatusCode::NOT_FOUND);
    let queue = send(
        &app,
        Method::GET,
        "/v1/review/queue?limit=200",
        &other,
        None,
    )
    .await;
    assert!(
        queue.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["inspection"]["id"] != s.inspection_id.to_string())
    );
    let mine = send(
        &app,
        Method::GET,
        "/v1/review/queue?flags=critical_failed&limit=200",
        &app.demo_token(Role::Supervisor).await,
        None,
    )
    .await;
    let entry = mine.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["inspection"]["id"] == s.inspection_id.to_string())
        .expect("in the own county's queue");
    assert_eq!(entry["subject"]["kind"], "construction_site");
    assert!(entry["inspection"]["verdict"]["level"].is_string());
    let order = order_of(
        &app,
        &app.demo_token(Role::Supervisor).await,
        s.inspection_id,
    )
    .await;
    let id = order["id"].as_str().expect("id");
    let foreign = send(
        &app,
        Method::GET,
        &format!("/v1/rectifications/{id}"),
        &other,
        None,
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audit_verify_finds_an_edited_a_deleted_and_a_reordered_row_and_a_cut_tail() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "au_officer", Role::Inspector, "dongchangfu").await;
    for _ in 0..3 {
        let s = inspection_of(&o, &site(&o), true, None);
        assert_eq!(push_one(&o, &s).await, None);
    }
    let (dir, config) = app.stop().await;
    let clean = lantian::audit::verify(&config).await.expect("verify");
    assert!(clean.ok(), "{clean:?}");
    assert!(clean.chain.rows > 20);
    let copy = |name: &str| lantian_tests::behind::copy(&config, &dir.path().join(name));
    let tamper = |c: &lantian::config::Config, sql: &str| {
        lantian_tests::behind::drop_guards(c, &["audit_log_no_update", "audit_log_no_delete"]);
        lantian_tests::behind::batch(c, sql);
    };
    let edited = copy("edited");
    tamper(
        &edited,
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 10;",
    );
    assert_eq!(
        lantian::audit::verify(&edited)
            .await
            .expect("v")
            .chain
            .first_broken,
        Some(10)
    );
    let deleted = copy("deleted");
    tamper(&deleted, "DELETE FROM audit_log WHERE seq = 12;");
    assert_eq!(
        lantian::audit::verify(&deleted)
            .await
            .expect("v")
            .chain
            .first_broken,
        Some(13)
    );
    let reordered = copy("reordered");
    tamper(
        &reordered,
        "UPDATE audit_log SET seq = -1 WHERE seq = 14; UPDATE audit_log SET seq = 14 WHERE seq = 15; UPDATE audit_log SET seq = 15 WHERE seq = -1;",
    );
    assert_eq!(
        lantian::audit::verify(&reordered)
            .await
            .expect("v")
            .chain
            .first_broken,
        Some(14)
    );
    // A cut tail leaves a valid chain: only the recorded head shows it.
    let cut = copy("cut");
    let head = lantian::audit::checkpoint(&cut, Some("before-cut".into()))
        .await
        .expect("checkpoint");
    assert!(head.contains("before-cut"));
    let rows = lantian::audit::verify(&cut).await.expect("v").chain.rows as i64;
    tamper(
        &cut,
        &format!("DELETE FROM audit_log WHERE seq > {};", rows - 5),
    );
    let v = lantian::audit::verify(&cut).await.expect("v");
    assert_eq!(v.chain.first_broken, None);
    assert_eq!(v.chain.truncated, Some(("before-cut".to_owned(), rows)));
    assert!(lantian::audit::describe(&v).contains("TRUNCATED"));
}

#[tokio::test]
async fn a_storage_failure_while_verifying_a_reinspection_is_transient_not_a_rejection() {
    let app = spawn_app_with(|_| {}, true).await;
    let f = finding(&app, "tf").await;
    let order = f.id();
    let Finding {
        checker,
        sup,
        subject,
        ..
    } = f;
    // A plain inspection by another officer, answering the order's item.
    let re = inspection_of(&checker, &subject, false, None);
    assert_eq!(push_one(&checker, &re).await, None);
    let checker_id = app
        .store
        .read(|c| lantian_store::identity::user_by_username(c, "tf_checker"))
        .await
        .expect("read")
        .expect("user");
    // Verified on a connection that cannot write (as a full or read-only disk answers): the
    // failure is the store's and transient, so a push would answer 503 and apply nothing, never
    // reject the officer's inspection for good.
    let inspection = re.inspection_id;
    let failed = app
        .store
        .read(move |c| {
            lantian_store::rectify::verify_with(
                c,
                lantian_store::sync::Group::new(),
                order,
                inspection,
                &checker_id,
            )
        })
        .await
        .expect_err("a read-only connection cannot verify");
    assert!(failed.is_transient(), "{failed:?}");
    // The order is as it was.
    let now = send(
        &app,
        Method::GET,
        &format!("/v1/rectifications/{order}"),
        &sup,
        None,
    )
    .await;
    assert_eq!(now.body["state"], "open", "{:?}", now.body);
}

#[tokio::test]
async fn nobody_reviews_their_own_inspection() {
    let app = spawn_app_with(|_| {}, true).await;
    // A supervisor who also inspects: their own inspection is not theirs to review.
    let both = photos::officer(&app, "rv_both", Role::Supervisor, "dongchangfu").await;
    let subject = site(&both);
    let s = inspection_of(&both, &subject, false, None);
    assert_eq!(push_one(&both, &s).await, None);
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &both.token,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "forbidden");
    // Another supervisor may.
    let sup = app.demo_token(Role::Supervisor).await;
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{}/review", s.inspection_id),
        &sup,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["review_state"], "approved");
}

/// Orders of the subject's `item`, as the supervisor lists them.
async fn orders_for(app: &TestApp, token: &str, subject: Uuid, item: &str) -> Vec<Value> {
    orders(app, token)
        .await
        .into_iter()
        .filter(|o| o["subject_id"] == subject.to_string() && o["item"] == item)
        .collect()
}

/// One finding, one order: a re-inspection that fails the order's critical item sends that order
/// back (返工) instead of opening a second one beside it, and an unlinked inspection that finds the
/// same item failing while the order runs adds nothing either. After the order closes, nothing of
/// the finding is left open to count as due or overdue later.
#[tokio::test]
async fn a_failed_reinspection_reworks_its_order_and_opens_no_second_one() {
    let app = spawn_app_with(|_| {}, true).await;
    let f = finding(&app, "one").await;
    let id = f.id();
    let Finding {
        finder,
        checker,
        sup,
        subject,
        ..
    } = f;

    let again = inspection_of(&checker, &subject, true, Some(id));
    assert_eq!(push_one(&checker, &again).await, None);
    let repeat = inspection_of(&finder, &subject, true, None);
    assert_eq!(push_one(&finder, &repeat).await, None);
    let orders = orders_for(&app, &sup, subject.id, "CS1").await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["state"], "open");
    assert_eq!(orders[0]["rework_count"], 1);

    let pass = inspection_of(&checker, &subject, false, Some(id));
    assert_eq!(push_one(&checker, &pass).await, None);
    let orders = orders_for(&app, &sup, subject.id, "CS1").await;
    assert_eq!(
        orders
            .iter()
            .map(|o| o["state"].as_str().expect("state"))
            .collect::<Vec<_>>(),
        ["closed"]
    );
}

/// One score everywhere: an inspection with a failed critical item earns 0 in the record as it
/// does in the assessment (`docs/scoring.md`), and after an amendment the record, the synced entity
/// and the rollup give the current version's figures. The sealed columns of version 1 stay as
/// they were submitted.
#[tokio::test]
async fn the_record_and_the_synced_entity_show_the_current_versions_effective_score() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "score_one", Role::Inspector, "dongchangfu").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let subject = site(&o);
    let found = inspection_of(&o, &subject, true, None);
    assert_eq!(push_one(&o, &found).await, None);
    let path = format!("/v1/inspections/{}", found.inspection_id);
    let v1 = send(&app, Method::GET, &path, &sup, None).await;
    assert_eq!(v1.status, StatusCode::OK, "{:?}", v1.body);
    let possible = v1.body["score"]["possible"].as_u64().expect("possible");
    assert!(
        v1.body["score"]["earned"].as_u64().expect("earned") > 0,
        "the sealed figures as submitted: {:?}",
        v1.body["score"]
    );
    assert_eq!(
        v1.body["effective"],
        json!({"version": 1, "earned": 0, "possible": possible, "percent": 0.0,
               "critical_failed": true, "compliant": false}),
    );

    // Amended to a pass (the officer misread the item): version 2's figures everywhere.
    let passed = inspection_of(&o, &subject, false, None);
    let amend = json!({"inspection_id": found.inspection_id, "base_version": 1,
                       "results": passed.results, "reason": "误判，已复核"});
    o.client
        .enqueue("inspection.amend", &amend)
        .expect("amend queued");
    o.client.sync().await.expect("sync");
    let v2 = send(&app, Method::GET, &path, &sup, None).await;
    let possible2 = v2.body["amendments"][0]["score"]["possible"]
        .as_u64()
        .expect("possible");
    let expected = json!({"version": 2, "earned": possible2, "possible": possible2,
                          "percent": 100.0, "critical_failed": false, "compliant": true});
    assert_eq!(v2.body["effective"], expected);
    assert_eq!(
        v2.body["score"], v1.body["score"],
        "version 1 stays as sealed"
    );
    let synced: Value = o
        .client
        .entity("inspection", &found.inspection_id.to_string())
        .expect("read")
        .expect("pulled");
    assert_eq!(synced["effective"], expected);
}

/// The rectification clock runs from the finding: an officer who issued the notice on site three
/// days ago and syncs only now gives the site no extra days. The order keeps both times, is marked
/// as synced late (its deadline had passed when it reached the server), shows so in the review
/// queue, and a re-inspection passing now closes it late, not on time.
#[tokio::test]
async fn an_order_runs_from_the_finding_and_a_late_sync_is_marked_and_closes_late() {
    let app = spawn_app_with(|_| {}, true).await;
    let finder = photos::officer(&app, "clock_finder", Role::Inspector, "dongchangfu").await;
    let checker = photos::officer(&app, "clock_checker", Role::Inspector, "dongchangfu").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let subject = site(&finder);
    let found_at = chrono::Utc::now() - chrono::Duration::days(3);
    let mut s = inspection_of(&finder, &subject, true, None);
    s.location.gps_time = Some(found_at);
    s.started_at = Some(found_at - chrono::Duration::minutes(20));
    let body = json!({"client_id": finder.client.client_id(), "protocol_version": 1,
                      "schema_version": 1, "app_version": "test", "sent_at": chrono::Utc::now(),
                      "mutations": [{"mid": 1, "name": "inspection.submit", "args": s,
                                     "device_time": found_at}]});
    let pushed = app.post("/v1/sync/push", Some(&finder.token), body).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    assert_eq!(
        pushed.body["results"][0]["status"], "applied",
        "{:?}",
        pushed.body
    );

    let order = order_of(&app, &sup, s.inspection_id).await;
    let time = |k: &str| -> chrono::DateTime<chrono::Utc> {
        order[k].as_str().expect(k).parse().expect(k)
    };
    assert!((time("found_at") - found_at).num_milliseconds().abs() < 1000);
    assert_eq!(
        time("deadline") - time("found_at"),
        chrono::Duration::hours(24)
    );
    assert!(time("opened_at") > time("deadline"));
    assert_eq!(order["synced_late"], true);

    // The queue names the late order beside the inspection, and can be narrowed to such.
    let q = send(
        &app,
        Method::GET,
        "/v1/review/queue?flags=order_synced_late&limit=100",
        &sup,
        None,
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{:?}", q.body);
    let entries = q.body["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["inspection"]["id"], s.inspection_id.to_string());
    assert_eq!(entries[0]["orders"][0]["id"], order["id"]);
    assert_eq!(entries[0]["orders"][0]["synced_late"], true);

    // Fixed and re-inspected today: closed, but not by its real deadline.
    let id: Uuid = order["id"].as_str().expect("id").parse().expect("uuid");
    let pass = inspection_of(&checker, &subject, false, Some(id));
    assert_eq!(push_one(&checker, &pass).await, None);
    let closed = send(
        &app,
        Method::GET,
        &format!("/v1/rectifications/{id}"),
        &sup,
        None,
    )
    .await;
    assert_eq!(closed.body["state"], "closed");
    assert_eq!(closed.body["closed_on_time"], false);
}

/// No existence oracle: a re-inspection that names another county's order is rejected exactly as
/// one that names an order that does not exist (code, field and message), so a push cannot learn
/// which order ids exist elsewhere.
#[tokio::test]
async fn another_countys_order_named_in_a_push_answers_as_a_missing_one() {
    let app = spawn_app_with(|_| {}, true).await;
    let finder = photos::officer(&app, "orc_finder", Role::Inspector, "dongchangfu").await;
    let stranger = photos::officer(&app, "orc_stranger", Role::Inspector, "yanggu").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let found = inspection_of(&finder, &site(&finder), true, None);
    assert_eq!(push_one(&finder, &found).await, None);
    let order: Uuid = order_of(&app, &sup, found.inspection_id).await["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let theirs = site_in(&stranger, "yanggu");
    let mutations: Vec<Value> = [order, Uuid::now_v7()]
        .into_iter()
        .enumerate()
        .map(|(i, named)| {
            json!({"mid": i + 1, "name": "inspection.submit", "device_time": chrono::Utc::now(),
                   "args": inspection_of(&stranger, &theirs, false, Some(named))})
        })
        .collect();
    let body = json!({"client_id": stranger.client.client_id(), "protocol_version": 1,
                      "schema_version": 1, "app_version": "test", "sent_at": chrono::Utc::now(),
                      "mutations": mutations});
    let pushed = app.post("/v1/sync/push", Some(&stranger.token), body).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    let answer = |i: usize| {
        let r = &pushed.body["results"][i];
        (
            r["status"].clone(),
            r["code"].clone(),
            r["field"].clone(),
            r["message"].clone(),
        )
    };
    assert_eq!(answer(0).1, "rectification_not_found", "{:?}", pushed.body);
    assert_eq!(answer(0), answer(1));
}

/// The bulletin reads like the document a bureau issues (考评通报): the issuer, the document number
/// and the date of issue as configured, the campaign's Chinese name, group headings in Chinese,
/// the city-wide row, the overdue and rework lists naming subject, unit and item by name with
/// times in China Standard Time (no ids, no codes), the alerts once, and a signature. A unit with
/// nothing to assess is shown as 无考核数据, never ranked.
#[tokio::test]
async fn the_bulletin_is_the_document_a_bureau_issues() {
    let app = spawn_app_with(
        |c| {
            c.rectification.severities.insert(
                "urgent".into(),
                lantian_domain::rectification::TimeLimit::Hours(0),
            );
            c.bulletin.issuer = "聊城市城市管理局".into();
            c.bulletin.number = "聊城管考字〔{year}〕第{month}期".into();
            c.bulletin.signature = "聊城市城市管理局考评办公室".into();
        },
        true,
    )
    .await;
    let f = finding(&app, "doc").await;
    let id = f.id();
    let Finding {
        checker,
        subject,
        order,
        ..
    } = f;
    let admin = app.demo_token(Role::Admin).await;
    // Due at the finding: overdue at once; a re-inspection that still fails sends it back.
    assert_eq!(order["overdue"], true, "{order:?}");
    let again = inspection_of(&checker, &subject, true, Some(id));
    assert_eq!(push_one(&checker, &again).await, None);
    let deadline: chrono::DateTime<chrono::Utc> =
        order["deadline"].as_str().expect("t").parse().expect("t");
    let month = (deadline + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let alert = send(
        &app,
        Method::POST,
        "/v1/alerts",
        &admin,
        Some(json!({"level": "orange", "units": ["yanggu"],
                    "starts_at": deadline - chrono::Duration::hours(1),
                    "ends_at": deadline + chrono::Duration::hours(1)})),
    )
    .await;
    assert_eq!(alert.status, StatusCode::CREATED, "{:?}", alert.body);
    lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");

    let json = send(
        &app,
        Method::GET,
        &format!("/v1/bulletins/{month}?format=json"),
        &admin,
        None,
    )
    .await;
    assert_eq!(json.status, StatusCode::OK, "{:?}", json.body);
    let b = &json.body;
    let (y, m) = month.split_once('-').expect("month");
    let number = format!("聊城管考字〔{y}〕第{}期", m.trim_start_matches('0'));
    assert_eq!(b["header"]["number"], number);
    assert_eq!(b["header"]["signature"], "聊城市城市管理局考评办公室");
    assert!(
        b["campaign_name"]
            .as_str()
            .expect("name")
            .contains("（演示）")
    );
    assert_eq!(b["summary"]["unit"], "lcucb");
    let counties = b["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == "counties")
        .expect("the counties");
    assert_eq!(counties["name_zh"], "县（市、区）");
    for r in counties["rows"].as_array().expect("rows") {
        assert_eq!(
            r["rank"].is_null(),
            r["no_data"] == true,
            "only units without data go unranked: {r:?}"
        );
    }
    let overdue = b["overdue_named"].as_array().expect("overdue");
    assert!(
        overdue
            .iter()
            .any(|o| o["subject"] == subject.name.as_str() && o["reworks"] == 1),
        "{overdue:?}"
    );
    assert_eq!(b["reworked"][0]["subject"], subject.name.as_str());

    let page = app
        .client
        .get(format!("{}/v1/bulletins/{month}?format=html", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("html");
    // A page with a strict policy: its own stylesheet, allowed by hash, and nothing else.
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP")
        .to_owned();
    assert_eq!(
        page.headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    let html = page.text().await.expect("text");
    let style =
        &html[html.find("<style>").expect("style") + 7..html.find("</style>").expect("end")];
    let hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()))
    };
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    assert!(
        !csp.contains("unsafe-inline")
            && !csp.contains("unsafe-eval")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !html.contains(" style="),
        "no inline style attributes, which the policy would block"
    );
    for text in [
        "聊城市城市管理局",
        number.as_str(),
        "县（市、区）",
        "全市",
        subject.name.as_str(),
        "聊城市城市管理局考评办公室",
        "橙色预警",
        "阳谷县城市管理局",
        b["header"]["issued_on"].as_str().expect("date"),
        "@page{size:A4",
    ] {
        assert!(html.contains(text), "the document lacks {text}");
    }
    assert_eq!(
        html.matches("重污染天气预警</h2>").count(),
        1,
        "alerts once"
    );
    let body = &html[html.find("<body>").expect("body")..];
    let before_note = &body[..body.find("class=\"note\"").expect("note")];
    assert!(
        !before_note.contains(&id.to_string()) && !before_note.contains(&subject.id.to_string()),
        "no ids in the document"
    );
    for code in ["dongchangfu", "yanggu", "lcucb", "CS1"] {
        let at = before_note.find(code);
        assert!(
            at.is_none(),
            "no code {code} in the document: …{}…",
            at.map(|i| before_note[..i].chars().rev().take(60).collect::<String>())
                .unwrap_or_default()
        );
    }
}

/// The verdict of inspection `id` on the officer's phone after a pull.
async fn synced_verdict(o: &Officer, id: Uuid) -> Value {
    o.client.pull().await.expect("pull");
    let synced: Value = o
        .client
        .entity("inspection", &id.to_string())
        .expect("read")
        .expect("pulled");
    synced["verdict"].clone()
}

/// Later evidence, later verdicts: an inspection pushed late that took place five minutes before
/// another of the same officer, 50 km away, makes the later one's speed check fail too. That one
/// had been approved already: the approval stands, and it is flagged for the supervisor.
#[tokio::test]
async fn a_late_earlier_inspection_recomputes_the_next_verdict_and_flags_a_reviewed_one() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "late_city", Role::Inspector, "lcucb").await;
    let sup = app.demo_token(Role::Supervisor).await;
    let near = site(&o);
    let far = site_in(&o, "yanggu");
    let at = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut later = inspection_of(&o, &far, false, None);
    later.location.gps_time = Some(at);
    assert_eq!(push_one(&o, &later).await, None);
    let path = format!("/v1/inspections/{}", later.inspection_id);
    let before = send(&app, Method::GET, &path, &sup, None).await;
    assert_eq!(
        before.body["verdict"]["level"], "ok",
        "{:?}",
        before.body["verdict"]
    );
    let approved = send(
        &app,
        Method::POST,
        &format!("{path}/review"),
        &sup,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);

    let mut earlier = inspection_of(&o, &near, false, None);
    earlier.location.gps_time = Some(at - chrono::Duration::minutes(5));
    assert_eq!(push_one(&o, &earlier).await, None);
    let after = send(&app, Method::GET, &path, &sup, None).await;
    assert_ne!(
        after.body["verdict"]["level"], "ok",
        "{:?}",
        after.body["verdict"]
    );
    assert_eq!(after.body["review_state"], "approved", "the review stands");
    assert!(
        after.body["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .any(|f| f == "verdict_changed_after_review"),
        "{:?}",
        after.body["flags"]
    );
    let queue = send(
        &app,
        Method::GET,
        "/v1/review/queue?state=approved&flags=verdict_changed_after_review",
        &sup,
        None,
    )
    .await;
    assert_eq!(queue.status, StatusCode::OK, "{:?}", queue.body);
    let ids: Vec<&str> = queue.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["inspection"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [later.inspection_id.to_string().as_str()]);
    // The officer's phone gets the changed verdict too.
    assert_eq!(
        synced_verdict(&o, later.inspection_id).await,
        after.body["verdict"]
    );
}

/// A phone's late batch: three inspections in one push, each later than the one before it and all
/// before an inspection of the same officer already in, 50 km away. That one is judged again
/// once, when the three are in: against the last of them (five minutes before it, so too fast to
/// be true), with one audited verdict change, not one for each of the batch.
#[tokio::test]
async fn a_late_batch_judges_the_inspection_after_it_once_against_the_last_of_the_batch() {
    let app = spawn_app_with(|_| {}, true).await;
    let o = photos::officer(&app, "late_batch", Role::Inspector, "lcucb").await;
    let near = site(&o);
    let far = site_in(&o, "yanggu");
    let at = chrono::Utc::now() - chrono::Duration::hours(2);
    let mut later = inspection_of(&o, &far, false, None);
    later.location.gps_time = Some(at);
    assert_eq!(push_one(&o, &later).await, None);
    // 50 km in 65 and in 35 minutes is plausible; in 5 it is not.
    for minutes in [65, 35, 5] {
        let mut earlier = inspection_of(&o, &near, false, None);
        earlier.location.gps_time = Some(at - chrono::Duration::minutes(minutes));
        o.client.submit_inspection(&earlier).expect("queued");
    }
    o.client.push().await.expect("push");
    let outbox = o.client.outbox().expect("outbox");
    assert!(
        outbox.iter().all(|m| m.code.is_none()),
        "all applied: {outbox:?}"
    );
    let sup = app.demo_token(Role::Supervisor).await;
    let path = format!("/v1/inspections/{}", later.inspection_id);
    let after = send(&app, Method::GET, &path, &sup, None).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    let speed = after.body["verdict"]["speed_from_previous_kmh"]
        .as_f64()
        .expect("a speed from the previous inspection");
    assert!(
        speed > 300.0,
        "judged against the last of the batch: {speed} km/h"
    );
    assert_eq!(after.body["verdict"]["level"], "implausible");
    let later_id = later.inspection_id.to_string();
    let changes: i64 = app
        .store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'inspection.verdict' AND object_id = ?1",
                [later_id],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("audit");
    assert_eq!(changes, 1, "judged again once for the whole batch");
    // The phone gets the verdict as it stands.
    assert_eq!(
        synced_verdict(&o, later.inspection_id).await,
        after.body["verdict"]
    );
}

/// What a webhook receiver got: the event id, type, timestamp and signature headers, and the body.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    kind: String,
    timestamp: i64,
    signature: String,
    body: String,
}

/// A webhook receiver on `listener`, answering 200 and keeping what it got.
fn receiver(listener: tokio::net::TcpListener) -> std::sync::Arc<std::sync::Mutex<Vec<Received>>> {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                keep.lock().expect("lock").push(Received {
                    id: h("lantian-webhook-id"),
                    kind: h("lantian-webhook-type"),
                    timestamp: h("lantian-webhook-timestamp").parse().unwrap_or_default(),
                    signature: h("lantian-webhook-signature"),
                    body,
                });
                "thanks"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    got
}

/// A receiver that is down for the first attempts gets every event once it is up: each once,
/// signed with the endpoint's secret, the events of one order in their order; the console's
/// record shows the answers.
#[tokio::test]
async fn a_webhook_receiver_down_at_first_gets_every_event_signed_and_in_order() {
    let app = spawn_app_with(
        |c| {
            c.webhooks.poll_ms = 50;
            c.webhooks.first_retry_ms = 100;
            c.webhooks.timeout_secs = 2;
        },
        true,
    )
    .await;
    // A port nobody listens on yet: the receiver is down.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let admin = app.demo_token(Role::Admin).await;
    let registered = send(
        &app,
        Method::POST,
        "/v1/webhooks",
        &admin,
        Some(json!({"url": format!("http://127.0.0.1:{port}/hook"),
                    "events": ["rectification.opened", "rectification.closed", "inspection.reviewed", "alert.declared"],
                    "description": "市数字城管平台"})),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let secret = registered.body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let hook = registered.body["webhook"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // The events: an order opened by a finding and closed by a re-inspection, a review, an alert.
    let f = finding(&app, "wh").await;
    let id = f.id();
    let handled = send(
        &app,
        Method::POST,
        &format!("/v1/rectifications/{id}/handled"),
        &f.checker.token,
        Some(json!({"note": "已整改"})),
    )
    .await;
    assert_eq!(handled.status, StatusCode::OK, "{:?}", handled.body);
    let re = inspection_of(&f.checker, &f.subject, false, Some(id));
    assert_eq!(push_one(&f.checker, &re).await, None);
    let finding_inspection = f.order["inspection_id"].as_str().expect("inspection");
    let reviewed = send(
        &app,
        Method::POST,
        &format!("/v1/inspections/{finding_inspection}/review"),
        &f.sup,
        Some(json!({"expected_state": "received", "decision": "approved"})),
    )
    .await;
    assert_eq!(reviewed.status, StatusCode::OK, "{:?}", reviewed.body);
    let start = chrono::Utc::now() + chrono::Duration::days(40);
    let alert = send(
        &app,
        Method::POST,
        "/v1/alerts",
        &admin,
        Some(json!({"level": "orange", "units": ["yanggu"],
                    "starts_at": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "ends_at": (start + chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%SZ").to_string()})),
    )
    .await;
    assert_eq!(alert.status, StatusCode::CREATED, "{:?}", alert.body);

    let path = format!("/v1/webhooks/{hook}/deliveries");
    let deliveries = || async {
        let r = send(&app, Method::GET, &path, &admin, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["items"].as_array().expect("items").clone()
    };
    // While it is down, what is due is tried and retried, never given up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let items = deliveries().await;
        if items.len() >= 4 && items.iter().any(|d| d["attempts"].as_u64() >= Some(2)) {
            assert!(items.iter().all(|d| d["state"] == "pending"), "{items:?}");
            assert!(
                items.iter().any(|d| d["last_error"].as_str().is_some()),
                "{items:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retries: {items:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // It comes up; everything arrives.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the receiver's port");
    let got = receiver(listener);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let items = loop {
        let items = deliveries().await;
        if items.iter().all(|d| d["state"] == "delivered") {
            break items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {items:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(items.iter().all(|d| d["last_status"] == 200), "{items:?}");
    assert!(
        items.iter().all(|d| d["last_answer"] == "thanks"),
        "{items:?}"
    );
    let got = got.lock().expect("lock").clone();
    let kinds: Vec<&str> = got.iter().map(|r| r.kind.as_str()).collect();
    for k in [
        "rectification.opened",
        "rectification.closed",
        "inspection.reviewed",
        "alert.declared",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "each event once: {kinds:?}");
    assert_eq!(got.len(), items.len());
    for r in &got {
        assert!(
            lantian_domain::webhook::verify(&secret, r.timestamp, r.body.as_bytes(), &r.signature),
            "a valid signature on {}",
            r.kind
        );
        let body: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(body["id"], r.id.as_str());
        assert_eq!(body["type"], r.kind.as_str());
    }
    // The order's events arrived in their order.
    let of_order: Vec<&str> = got
        .iter()
        .filter(|r| r.body.contains(&id.to_string()) && r.kind.starts_with("rectification."))
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(of_order, ["rectification.opened", "rectification.closed"]);
}

//! Authorization beyond the policy walk (tests/api/policy.rs walks every route x role x relation):
//! batches that mix own and foreign objects, method switching, mass assignment of server-owned
//! fields, and a user moved to another unit whose old token is still valid. Foreign objects answer
//! 404, and nothing foreign is written.

use lantian_client::sim::{self, Rng};
use lantian_domain::subject::Subject;
use lantian_domain::user::Role;
use lantian_tests::{TestApp, photos, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A subject of `unit` as the admin reads it.
async fn subject_of(app: &TestApp, unit: &str) -> Subject {
    let admin = app.demo_token(Role::Admin).await;
    let r = app
        .get(
            &format!("/v1/subjects?unit={unit}&kind=restaurant&limit=1"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body["items"][0].clone()).expect("a subject")
}

/// A token of a new user of `role` in `unit`.
async fn token_in(app: &TestApp, name: &str, role: Role, unit: &str) -> String {
    app.add_user(name, role, unit, photos::PASSWORD).await;
    app.tokens(name, photos::PASSWORD).await.access_token
}

async fn count(app: &TestApp, sql: &'static str, arg: String) -> i64 {
    app.store
        .read(move |c| Ok(c.raw().query_row(sql, [arg], |r| r.get(0))?))
        .await
        .expect("count")
}

#[tokio::test]
async fn a_batch_mixing_own_and_foreign_objects_applies_only_the_own() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "mix_officer", Role::Inspector, "dongchangfu").await;
    let foreign_subject = subject_of(&app, "yanggu").await;
    let templates = sim::latest_templates(&o.client).expect("templates");
    let t = templates
        .iter()
        .find(|t| t.subject_kind == foreign_subject.attributes.kind())
        .expect("template");
    let own1 = photos::draft(&o, 1);
    let foreign = sim::random_inspection(&mut Rng(2), &foreign_subject, t, None);
    let own2 = photos::draft(&o, 3);
    // Also an amendment of an inspection that is not the officer's, and a draft of a foreign subject.
    let stranger = photos::officer(&app, "mix_stranger", Role::Inspector, "dongchangfu").await;
    let (theirs, _) = photos::submitted(&stranger, 4).await;
    // The phone would not offer a subject it never pulled: the foreign one is queued by hand.
    o.client.submit_inspection(&own1).expect("queued");
    o.client
        .enqueue(
            "inspection.submit",
            &serde_json::to_value(&foreign).expect("json"),
        )
        .expect("queued");
    o.client.submit_inspection(&own2).expect("queued");
    o.client
        .enqueue(
            "inspection.amend",
            &json!({"inspection_id": theirs.inspection_id, "base_version": 1, "results": theirs.results, "reason": "改别人的记录"}),
        )
        .expect("queued");
    let summary = o.client.push().await.expect("pushed");
    assert_eq!((summary.applied, summary.rejected), (2, 2), "{summary:?}");
    let outbox: Vec<(Option<String>, Option<String>)> = o
        .client
        .outbox()
        .expect("outbox")
        .into_iter()
        .map(|q| (q.status, q.code))
        .collect();
    assert_eq!(outbox[0].0.as_deref(), Some("applied"));
    assert_eq!(
        (outbox[1].0.as_deref(), outbox[1].1.as_deref()),
        (Some("rejected"), Some("subject_not_found")),
        "a foreign subject reads as no subject"
    );
    assert_eq!(outbox[2].0.as_deref(), Some("applied"));
    assert_eq!(outbox[3].0.as_deref(), Some("rejected"));
    let sql = "SELECT count(*) FROM inspections WHERE uuid = ?1";
    assert_eq!(count(&app, sql, foreign.inspection_id.to_string()).await, 0);
    assert_eq!(count(&app, sql, own1.inspection_id.to_string()).await, 1);
    let amended = "SELECT count(*) FROM inspection_amendments a JOIN inspections i ON i.id = a.inspection_id WHERE i.uuid = ?1";
    assert_eq!(
        count(&app, amended, theirs.inspection_id.to_string()).await,
        0
    );

    // Listing filters naming a foreign unit answer 404, as a foreign object does.
    let sup = token_in(&app, "mix_supervisor", Role::Supervisor, "dongchangfu").await;
    for path in [
        "/v1/subjects?unit=yanggu",
        "/v1/review/queue?unit=yanggu",
        "/v1/rectifications?unit=yanggu",
        "/v1/rectifications/stats?unit=yanggu&from=2026-11-01&to=2026-12-01",
        "/v1/coverage?unit=yanggu&month=2026-11",
        "/v1/export/subjects?unit=yanggu",
        "/v1/export/inspections?unit=yanggu",
        "/v1/subjects?unit=lcucb",
    ] {
        let r = app.get(path, &sup).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
    }
}

#[tokio::test]
async fn method_switching_reaches_no_other_handler() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "method_officer", Role::Inspector, "dongchangfu").await;
    let (s, _) = photos::submitted(&o, 9).await;
    let admin = app.demo_token(Role::Admin).await;
    let viewer = app.demo_token(Role::Viewer).await;
    let own = subject_of(&app, "dongchangfu").await.id;
    let foreign = subject_of(&app, "yanggu").await.id;
    let overrides = [
        "x-http-method-override",
        "x-method-override",
        "x-http-method",
    ];
    // Override headers and `_method` are ignored: a viewer's GET stays a GET.
    for h in overrides {
        for m in ["DELETE", "PUT", "PATCH"] {
            let r = app
                .request(
                    Method::GET,
                    &format!("/v1/subjects/{own}?_method={m}"),
                    Some(&viewer),
                    None,
                    &[(h, m)],
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "_method is no method: {:?}",
                r.body
            );
            assert_eq!(r.body["id"], own.to_string());
            let r = app
                .request(
                    Method::GET,
                    &format!("/v1/subjects/{own}"),
                    Some(&viewer),
                    None,
                    &[(h, m)],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{h}: {m}");
        }
    }
    // A viewer's POST with an override to GET is still a POST, and refused as one.
    let r = app
        .request(
            Method::POST,
            "/v1/subjects",
            Some(&viewer),
            Some(json!({"name": "x", "unit": "dongchangfu", "kind": "restaurant", "attributes": {"grade": "b"}, "location": {"lat": 36.4, "lon": 115.9}})),
            &[("x-http-method-override", "GET")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Evidence has no method that changes or removes it.
    let inspection = s.inspection_id;
    for (m, path) in [
        (Method::DELETE, format!("/v1/inspections/{inspection}")),
        (Method::PUT, format!("/v1/inspections/{inspection}")),
        (Method::PATCH, format!("/v1/inspections/{inspection}")),
        (Method::PUT, format!("/v1/inspections/{inspection}/review")),
        (
            Method::DELETE,
            format!("/v1/inspections/{inspection}/review"),
        ),
        (
            Method::DELETE,
            format!("/v1/photos/{}", s.signature_photo_id),
        ),
        (Method::PUT, format!("/v1/photos/{}", s.signature_photo_id)),
        (Method::DELETE, format!("/v1/subjects/{own}")),
        (Method::PATCH, format!("/v1/subjects/{own}")),
        (Method::DELETE, "/v1/alerts".to_owned()),
        (Method::PUT, "/v1/bulletins/2026-11".to_owned()),
        (Method::TRACE, "/v1/me".to_owned()),
    ] {
        let r = app.request(m.clone(), &path, Some(&admin), None, &[]).await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{m} {path}: {:?}",
            r.body
        );
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM inspections WHERE uuid = ?1",
            inspection.to_string()
        )
        .await,
        1
    );
    // HEAD answers as GET does: 404 for the foreign, without a body.
    let sup = token_in(&app, "head_supervisor", Role::Supervisor, "dongchangfu").await;
    let head_foreign = app
        .request(
            Method::HEAD,
            &format!("/v1/subjects/{foreign}"),
            Some(&sup),
            None,
            &[],
        )
        .await;
    let head_own = app
        .request(
            Method::HEAD,
            &format!("/v1/subjects/{own}"),
            Some(&sup),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (head_foreign.status, head_own.status),
        (StatusCode::NOT_FOUND, StatusCode::OK)
    );
}

#[tokio::test]
async fn server_owned_fields_cannot_be_assigned() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "mass_officer", Role::Inspector, "dongchangfu").await;
    // In a pushed inspection: unit, score, review state, times, author.
    let extras: [(&str, Value); 10] = [
        ("unit", json!("lcucb")),
        ("unit_id", json!(1)),
        ("score", json!({"earned": 100, "possible": 100})),
        ("compliant", json!(true)),
        ("review_state", json!("approved")),
        ("received_at", json!("2019-11-01T00:00:00Z")),
        ("occurred_at", json!("2019-11-01T00:00:00Z")),
        ("user_id", json!(1)),
        ("author", json!("demo_admin")),
        ("flags", json!([])),
    ];
    let mut ids = Vec::new();
    for (i, (field, value)) in extras.iter().enumerate() {
        let s = photos::draft(&o, 100 + i as u64);
        let mut args = serde_json::to_value(&s).expect("json");
        args[*field] = value.clone();
        o.client
            .enqueue("inspection.submit", &args)
            .expect("queued");
        ids.push(s.inspection_id);
    }
    let summary = o.client.push().await.expect("pushed");
    assert_eq!(
        (summary.applied, summary.rejected),
        (0, extras.len() as u32),
        "{summary:?}"
    );
    for (q, (field, _)) in o.client.outbox().expect("outbox").iter().zip(&extras) {
        assert_eq!(q.status.as_deref(), Some("rejected"), "{field}");
        assert!(q.code.is_some(), "{field}");
    }
    for id in ids {
        assert_eq!(
            count(
                &app,
                "SELECT count(*) FROM inspections WHERE uuid = ?1",
                id.to_string()
            )
            .await,
            0
        );
    }

    // In a review decision and a rectification order.
    let (s, _) = photos::submitted(&o, 200).await;
    let sup = app.demo_token(Role::Supervisor).await;
    let review = format!("/v1/inspections/{}/review", s.inspection_id);
    for (field, value) in [
        ("reviewer", json!("demo_admin")),
        ("decided_at", json!("2019-11-01T00:00:00Z")),
        ("state", json!("approved")),
        ("score", json!(100)),
    ] {
        let mut body = json!({"expected_state": "received", "decision": "approved"});
        body[field] = value;
        let r = app.post(&review, Some(&sup), body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, Some("unknown_field")),
            "{field}"
        );
    }
    let item = s.results[0].item.clone();
    for (field, value) in [
        ("state", json!("closed")),
        ("deadline", json!("2019-11-02T00:00:00Z")),
        ("unit", json!("yanggu")),
        ("opened_by", json!("demo_admin")),
    ] {
        let mut body = json!({"inspection_id": s.inspection_id, "item": item});
        body[field] = value;
        let r = app.post("/v1/rectifications", Some(&sup), body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, Some("unknown_field")),
            "{field}"
        );
    }
    // The decision itself still goes through: the refusals were for the fields alone.
    let r = app
        .post(
            &review,
            Some(&sup),
            json!({"expected_state": "received", "decision": "approved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // A unit admin cannot create in, or move a subject into, a unit outside its subtree.
    let ua = app.demo_token(Role::UnitAdmin).await; // dongchangfu
    let r = app
        .post("/v1/subjects", Some(&ua), json!({"name": "越权饭店", "unit": "yanggu", "kind": "restaurant", "attributes": {"grade": "b"}, "location": {"lat": 36.4, "lon": 115.9}}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let own = subject_of(&app, "dongchangfu").await;
    let got = app.get(&format!("/v1/subjects/{}", own.id), &ua).await;
    let etag = got
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut moved = got.body.clone();
    let body = json!({"name": moved["name"].take(), "unit": "yanggu", "kind": "restaurant", "attributes": moved["attributes"].take(), "location": moved["location"].take()});
    let r = app
        .put(
            &format!("/v1/subjects/{}", own.id),
            &ua,
            etag.as_deref(),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let still = app.get(&format!("/v1/subjects/{}", own.id), &ua).await;
    assert_eq!(still.body["unit"], own.unit.as_str());
}

#[tokio::test]
async fn a_user_moved_to_another_unit_keeps_a_token_but_not_the_old_units_objects() {
    let app = spawn_app().await;
    // A supervisor of dongchangfu; the token is taken before the move.
    let sup = token_in(&app, "moving_supervisor", Role::Supervisor, "dongchangfu").await;
    let old_subject = subject_of(&app, "dongchangfu").await;
    let new_subject = subject_of(&app, "yanggu").await;
    assert_eq!(
        app.get(&format!("/v1/subjects/{}", old_subject.id), &sup)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/v1/subjects/{}", new_subject.id), &sup)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.store
        .write(|c| {
            Ok(c.raw().execute(
                "UPDATE users SET unit_id = (SELECT id FROM units WHERE code = 'yanggu') WHERE username = 'moving_supervisor'",
                [],
            )?)
        })
        .await
        .expect("moved");
    // The same token: the old unit's objects are gone, the new unit's are there.
    let checks = [
        (
            format!("/v1/subjects/{}", old_subject.id),
            StatusCode::NOT_FOUND,
        ),
        (format!("/v1/subjects/{}", new_subject.id), StatusCode::OK),
        ("/v1/units/dongchangfu".to_owned(), StatusCode::NOT_FOUND),
        ("/v1/units/yanggu".to_owned(), StatusCode::OK),
        (
            "/v1/review/queue?unit=dongchangfu".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        ("/v1/review/queue?unit=yanggu".to_owned(), StatusCode::OK),
        (
            "/v1/rectifications?unit=dongchangfu".to_owned(),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, expected) in checks {
        let r = app.get(&path, &sup).await;
        assert_eq!(r.status, expected, "{path}: {:?}", r.body);
    }
    let me = app.get("/v1/me", &sup).await;
    assert_eq!(me.body["unit"], "yanggu", "{:?}", me.body);
}

//! The monthly assessment over a real server: rollups are idempotent, late data makes a new
//! revision whose diff lists exactly the changed figures, and only oversight reads the figures.

use lantian_domain::user::Role;
use lantian_tests::photos;
use lantian_tests::{spawn_app, this_month};
use reqwest::StatusCode;

#[tokio::test]
async fn a_rollup_run_twice_is_identical_and_late_data_makes_a_revision_with_its_exact_diff() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "as_officer", Role::Inspector, "dongchangfu_gulou").await;
    for seed in 60..63 {
        photos::submitted_in(&o, seed, Some("dongchangfu_gulou")).await;
    }
    let month = this_month();
    let first = lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");
    assert_eq!((first.revision, first.new_revision), (1, true));
    let again = lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");
    assert_eq!(
        (again.revision, again.new_revision, again.changes),
        (1, false, 0)
    );
    assert_eq!(
        serde_json::to_value(&first.units).expect("json"),
        serde_json::to_value(&again.units).expect("json"),
        "the same data gives the same figures"
    );
    let gulou = first
        .units
        .iter()
        .find(|u| u.unit == "dongchangfu_gulou")
        .expect("unit");
    assert_eq!(gulou.counts.inspections, 3);

    // An officer's late inspection of the same month arrives after the official rollup.
    photos::submitted_in(&o, 63, Some("dongchangfu_gulou")).await;
    let late = lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");
    assert_eq!((late.revision, late.new_revision), (2, true));
    // The month's campaign is the one whose period covers it: here the demo's, around today
    // (never the 2019-2020 reference campaign, whose period ended long ago).
    let stored = app
        .store
        .read(move |c| lantian_store::assessment::latest(c, "demo", &this_month(), "official"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.diff.len(), late.changes);
    // Only the unit that received the inspection and the units above it changed; and what changed
    // is exactly what differs between the two revisions' figures.
    let changed_units: std::collections::BTreeSet<&str> =
        stored.diff.iter().map(|c| c.unit.as_str()).collect();
    assert_eq!(
        changed_units,
        ["dongchangfu", "dongchangfu_gulou", "lcucb"]
            .into_iter()
            .collect()
    );
    let expected = lantian_domain::assessment::diff(&first.units, &late.units);
    assert_eq!(stored.diff, expected);
    assert!(stored.diff.iter().any(|c| c.unit == "dongchangfu_gulou"
        && c.figure == "counts.inspections"
        && c.before == 3
        && c.after == 4));
    // Revision 1 is still there, unchanged.
    let n: i64 = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM rollups WHERE kind = 'official'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(n, 2);
    let edit = app
        .store
        .write(|c| {
            Ok(c.raw()
                .execute("UPDATE rollups SET data = '[]' WHERE kind = 'official'", [])?)
        })
        .await;
    assert!(
        edit.is_err(),
        "a published revision is never changed in place"
    );

    // Read through the API, by the circulation rule: official figures are circulated to every
    // unit (a county's supervisor sees every unit's row), provisional ones stay within the
    // reader's subtree; an officer reads neither.
    app.add_user("as_sup", Role::Supervisor, "dongchangfu", photos::PASSWORD)
        .await;
    let sup = app.tokens("as_sup", photos::PASSWORD).await.access_token;
    let units_of = |body: &serde_json::Value| -> Vec<String> {
        body["units"]
            .as_array()
            .expect("units")
            .iter()
            .map(|u| u["unit"].as_str().expect("u").to_owned())
            .collect()
    };
    let r = app.get(&format!("/v1/assessment/{month}"), &sup).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["revision"], 2);
    let units = units_of(&r.body);
    assert!(
        ["dongchangfu_gulou", "yanggu", "lcucb"]
            .iter()
            .all(|u| units.iter().any(|x| x == u)),
        "{units:?}"
    );
    lantian::assessment::run(&app.store, &month, false)
        .await
        .expect("provisional");
    let p = app
        .get(&format!("/v1/assessment/{month}?kind=provisional"), &sup)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    let units = units_of(&p.body);
    assert!(
        units.iter().any(|u| u == "dongchangfu_gulou")
            && units.iter().all(|u| u.starts_with("dongchangfu")),
        "{units:?}"
    );
    let officer = app.get(&format!("/v1/assessment/{month}"), &o.token).await;
    assert_eq!(officer.status, StatusCode::FORBIDDEN);
    let none = app.get("/v1/assessment/2001-01", &sup).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let runs: i64 = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM job_runs WHERE job = 'rollup.official' AND outcome = 'ok'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("runs");
    assert_eq!(runs, 3);
}

#[tokio::test]
async fn jobs_missed_while_down_run_once_on_start_and_a_backup_restores() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "job_officer", Role::Inspector, "dongchangfu").await;
    let (kept, _) = photos::submitted(&o, 70).await;
    let s = lantian::config::JobSettings::default().schedule();
    let now = lantian::jobs::shanghai(2026, 11, 29, 12).expect("time");
    let ran = lantian::jobs::catch_up(&app.config, &app.store, now, &s)
        .await
        .expect("catch up");
    // On PostgreSQL the database's own tools back the records up: no backup job.
    let mut expected = vec!["rollup.official 2026-10", "rollup.provisional 2026-11-29"];
    if !app.on_postgres() {
        expected.push("backup 2026-11-29");
    }
    expected.push("photos.verify 2026-11-29");
    assert_eq!(ran, expected);
    let again = lantian::jobs::catch_up(&app.config, &app.store, now, &s)
        .await
        .expect("catch up");
    assert!(again.is_empty(), "{again:?}");
    let runs: Vec<(String, String)> = app
        .store
        .read(|c| {
            let mut st = c
                .raw()
                .prepare("SELECT job, outcome FROM job_runs ORDER BY id")?;
            Ok(st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await
        .expect("runs");
    assert!(runs.iter().all(|(_, o)| o == "ok"), "{runs:?}");
    // The interval sweeps ran at start and are recorded too.
    for job in ["uploads.expiry", "rectification.overdue"] {
        assert!(
            runs.iter().any(|(j, _)| j == job),
            "{job} not recorded: {runs:?}"
        );
    }
    if app.sqlite_only("a backup and its restore") {
        let refused = lantian::backup::run(&app.config, &app.store, 3)
            .await
            .expect_err("no backup of PostgreSQL here");
        assert!(refused.to_string().contains("pg_basebackup"), "{refused}");
        return;
    }
    assert_eq!(runs.iter().filter(|(j, _)| j == "backup").count(), 1);

    // The backup holds the inspection made before it; one made after is gone once restored.
    let backups: Vec<_> = std::fs::read_dir(lantian::backup::backup_dir(&app.config))
        .expect("backups")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    assert_eq!(backups.len(), 1);
    let (after, _) = photos::submitted(&o, 71).await;
    let (dir, config) = app.stop().await;
    let r = lantian::backup::restore(&config, &backups[0]).expect("restore");
    assert!(r.previous.is_some());
    assert!(r.missing_photos.is_empty());
    assert_eq!(
        lantian_store::integrity_check(&config.db_path()).expect("check"),
        "ok"
    );
    let app = lantian_tests::start_in(dir, config, true).await;
    let ids: Vec<String> = app
        .store
        .read(|c| {
            let mut st = c.raw().prepare("SELECT uuid FROM inspections")?;
            Ok(st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
        .await
        .expect("ids");
    assert!(ids.contains(&kept.inspection_id.to_string()));
    assert!(!ids.contains(&after.inspection_id.to_string()));
    let v = app
        .store
        .read(lantian_store::audit::verify)
        .await
        .expect("verify");
    assert!(v.ok(), "{v:?}");
}

#[tokio::test]
async fn an_orange_alert_raises_coverage_for_sites_in_its_region_and_syncs_to_phones() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    let month = this_month();
    let (from, to) = lantian_domain::assessment::month_bounds(&month).expect("month");
    // A construction site in each of two counties, inspected four times this month: enough
    // without an alert (4 a month).
    for county in ["yanggu", "shenxian"] {
        let r = app
            .post(
                "/v1/subjects",
                Some(&admin),
                serde_json::json!({"name": format!("{county}工地"), "unit": county, "kind": "construction_site",
                       "attributes": {}, "location": {"lat": 36.1, "lon": 115.8}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let subject: lantian_domain::subject::Subject =
            serde_json::from_value(r.body).expect("subject");
        let o = photos::officer(&app, &format!("al_{county}"), Role::Inspector, county).await;
        let t = lantian_client::sim::latest_templates(&o.client)
            .expect("templates")
            .into_iter()
            .find(|t| t.subject_kind == subject.attributes.kind())
            .expect("template");
        let mut rng = lantian_client::sim::Rng(5);
        for _ in 0..4 {
            let s = lantian_client::sim::random_inspection(&mut rng, &subject, &t, None);
            photos::submit(&o, &s).await;
        }
    }
    let subjects_covered = |units: &[lantian_domain::assessment::UnitResult], code: &str| {
        units
            .iter()
            .find(|u| u.unit == code)
            .map(|u| u.counts.subjects_covered)
            .expect("unit")
    };
    let before = lantian::assessment::run(&app.store, &month, false)
        .await
        .expect("rollup");
    let base_y = subjects_covered(&before.units, "yanggu");
    let base_s = subjects_covered(&before.units, "shenxian");
    assert!(base_y >= 1 && base_s >= 1);

    // An orange alert over the whole month for yanggu only: sites there need 8.
    let r = app
        .post(
            "/v1/alerts",
            Some(&admin),
            serde_json::json!({"level": "orange", "units": ["yanggu"], "starts_at": from, "ends_at": to, "note": "重污染橙色预警"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let during = lantian::assessment::run(&app.store, &month, false)
        .await
        .expect("rollup");
    assert_eq!(
        subjects_covered(&during.units, "yanggu"),
        base_y - 1,
        "the yanggu site is no longer covered"
    );
    assert_eq!(
        subjects_covered(&during.units, "shenxian"),
        base_s,
        "outside the region: unchanged"
    );
    // Every point lost in yanggu this month was lost during the alert: it weighs 200%.
    let counts = |units: &[lantian_domain::assessment::UnitResult], code: &str| {
        units
            .iter()
            .find(|u| u.unit == code)
            .map(|u| u.counts.clone())
            .expect("unit")
    };
    let y = counts(&during.units, "yanggu");
    assert_eq!(y.alert_extra_centi, (y.possible - y.earned) * 100);
    assert_eq!(counts(&during.units, "shenxian").alert_extra_centi, 0);
    assert_eq!(counts(&before.units, "yanggu").alert_extra_centi, 0);
    // Outside its period: a month without alert days is unaffected.
    let prev = lantian_domain::assessment::previous_month(&month).expect("prev");
    let (pf, pt) = lantian_domain::assessment::month_bounds(&prev).expect("bounds");
    let windows = app
        .store
        .read(move |c| lantian_store::assessment::alerts_between(c, pf, pt))
        .await
        .expect("alerts");
    assert!(windows.is_empty());
    // During the alert, a yanggu site's checklist gains the emergency item: leaving it out is
    // refused, answering it is scored (on the phone as on the server); outside the region it does
    // not apply.
    let em = |o: &photos::Officer, unit: &str| -> lantian_domain::mutation::InspectionSubmit {
        let subject: lantian_domain::subject::Subject = o
            .client
            .entities("subject")
            .expect("subjects")
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .find(|s: &lantian_domain::subject::Subject| s.unit == unit && s.name.ends_with("工地"))
            .expect("the site");
        let t = lantian_client::sim::latest_templates(&o.client)
            .expect("templates")
            .into_iter()
            .find(|t| t.subject_kind == subject.attributes.kind())
            .expect("template");
        let mut s = lantian_client::sim::random_inspection(
            &mut lantian_client::sim::Rng(9),
            &subject,
            &t,
            None,
        );
        s.inspection_id = uuid::Uuid::now_v7();
        s.signature_photo_id = uuid::Uuid::now_v7();
        s
    };
    let oy = photos::officer(&app, "al_em_y", Role::Inspector, "yanggu").await;
    let without = em(&oy, "yanggu");
    assert!(
        oy.client.score(&without).is_err(),
        "the phone knows the emergency item applies"
    );
    oy.client
        .enqueue(
            "inspection.submit",
            &serde_json::to_value(&without).expect("json"),
        )
        .expect("queued");
    oy.client.push().await.expect("push");
    assert_eq!(
        oy.client
            .outbox()
            .expect("outbox")
            .pop()
            .expect("q")
            .code
            .as_deref(),
        Some("item_missing")
    );
    let mut with = em(&oy, "yanggu");
    with.results.push(lantian_domain::inspection::ItemResult {
        item: "CS_EM1".into(),
        answer: lantian_domain::inspection::Answer::Pass,
        note: None,
        photos: vec![],
    });
    let local = oy.client.score(&with).expect("scored on the phone");
    photos::submit(&oy, &with).await;
    let server = app
        .get(&format!("/v1/inspections/{}", with.inspection_id), &admin)
        .await;
    assert_eq!(server.body["score"]["possible"], local.possible);
    let os = photos::officer(&app, "al_em_s", Role::Inspector, "shenxian").await;
    let mut outside = em(&os, "shenxian");
    outside
        .results
        .push(lantian_domain::inspection::ItemResult {
            item: "CS_EM1".into(),
            answer: lantian_domain::inspection::Answer::Pass,
            note: None,
            photos: vec![],
        });
    os.client
        .enqueue(
            "inspection.submit",
            &serde_json::to_value(&outside).expect("json"),
        )
        .expect("queued");
    os.client.push().await.expect("push");
    assert_eq!(
        os.client
            .outbox()
            .expect("outbox")
            .pop()
            .expect("q")
            .code
            .as_deref(),
        Some("item_not_applicable")
    );
    // Phones receive it; officers may not declare one.
    let o = photos::officer(&app, "al_phone", Role::Inspector, "yanggu").await;
    assert_eq!(o.client.entity_ids("alert").expect("ids").len(), 1);
    let refused = app
        .post(
            "/v1/alerts",
            Some(&o.token),
            serde_json::json!({"level": "red", "units": ["yanggu"], "starts_at": from, "ends_at": to}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rollup_cut_short_at_any_point_leaves_nothing_partial_and_the_next_run_equals_a_clean_one()
 {
    let app = spawn_app().await;
    let o = photos::officer(&app, "cut_officer", Role::Inspector, "dongchangfu").await;
    for seed in 90..94 {
        photos::submitted(&o, seed).await;
    }
    let month = this_month();
    let store = app.store.clone();
    let official = || {
        store.read(|c| {
            let mut st = c.raw().prepare(
                "SELECT revision, data FROM rollups WHERE kind = 'official' ORDER BY revision",
            )?;
            Ok(st
                .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?)
        })
    };
    // Cut the run off after a growing delay: at every await point, from before the snapshot to after
    // the publication. Whatever is stored is a whole revision, never a part of one.
    for micros in [1u64, 50, 200, 500, 1_000, 2_000, 5_000, 10_000] {
        let _ = tokio::time::timeout(
            std::time::Duration::from_micros(micros),
            lantian::assessment::run(&app.store, &month, true),
        )
        .await;
        // Let a write already handed to the writer finish (it commits whole or not at all).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let rows = official().await.expect("rows");
        assert!(rows.len() <= 1, "{micros} us: {} revisions", rows.len());
        for (_, data) in &rows {
            let units: Vec<lantian_domain::assessment::UnitResult> =
                serde_json::from_str(data).expect("whole");
            assert!(units.len() > 20, "a whole revision has every unit");
        }
    }
    // The next full run, and a clean computation from the same data, agree.
    let done = lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");
    assert_eq!(
        done.revision, 1,
        "cut runs published at most the same figures once"
    );
    let (from, to) = lantian_domain::assessment::month_bounds(&month).expect("month");
    let snapshot = app
        .store
        .read(move |c| lantian_store::assessment::snapshot(c, from, to))
        .await
        .expect("snapshot");
    let campaign = lantian_domain::reference::liaocheng()
        .expect("reference")
        .campaign;
    let clean = lantian_domain::assessment::rollup(
        &snapshot,
        &campaign.weights,
        &campaign.assessment,
        None,
    );
    let rows = official().await.expect("rows");
    let stored: Vec<lantian_domain::assessment::UnitResult> =
        serde_json::from_str(&rows.last().expect("revision").1).expect("json");
    assert_eq!(stored, clean);
}

/// Campaigns are data a root admin keeps: created and edited through the API with the audit
/// trail, refused when their periods overlap, and a month no campaign covers is not rolled up under
/// another campaign: the refusal says what to do.
#[tokio::test]
async fn a_root_admin_creates_and_edits_a_campaign_and_an_uncovered_month_is_refused() {
    let app = lantian_tests::spawn_app_with(|_| {}, false).await;
    // Without the demo, only the 2019-2020 reference campaign exists: this month is uncovered.
    let refused = lantian::assessment::run(&app.store, &this_month(), true)
        .await
        .expect_err("no campaign covers this month");
    assert!(
        refused.to_string().contains("no campaign covers"),
        "{refused}"
    );
    app.add_user("city_admin", Role::Admin, "lcucb", "campaign-admin-pw")
        .await;
    app.add_user("county_admin", Role::Admin, "yanggu", "campaign-admin-pw")
        .await;
    let admin = app
        .tokens("city_admin", "campaign-admin-pw")
        .await
        .access_token;
    let county = app
        .tokens("county_admin", "campaign-admin-pw")
        .await
        .access_token;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let mut winter = lantian_domain::reference::liaocheng()
        .expect("reference")
        .campaign;
    winter.code = "winter".into();
    winter.name_zh = "今冬明春大气污染防治攻坚".into();
    winter.starts_on = today - chrono::Duration::days(40);
    winter.ends_on = today + chrono::Duration::days(120);
    let body = serde_json::to_value(&winter).expect("json");

    let from_county = app.post("/v1/campaigns", Some(&county), body.clone()).await;
    assert_eq!(from_county.status, reqwest::StatusCode::FORBIDDEN);
    let created = app.post("/v1/campaigns", Some(&admin), body.clone()).await;
    assert_eq!(
        created.status,
        reqwest::StatusCode::CREATED,
        "{:?}",
        created.body
    );
    assert_eq!(created.body["name_zh"], "今冬明春大气污染防治攻坚");
    let again = app.post("/v1/campaigns", Some(&admin), body.clone()).await;
    assert_eq!(again.status, reqwest::StatusCode::CONFLICT);

    let mut spring = winter.clone();
    spring.code = "spring".into();
    spring.starts_on = winter.ends_on;
    spring.ends_on = winter.ends_on + chrono::Duration::days(60);
    let overlap = app
        .post(
            "/v1/campaigns",
            Some(&admin),
            serde_json::to_value(&spring).expect("json"),
        )
        .await;
    assert_eq!(overlap.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        overlap.body["error"]["detail"], "campaign_overlaps",
        "{:?}",
        overlap.body
    );

    // Edited: the weights move; the audit trail holds the before and after.
    winter.weights.coverage -= 5;
    winter.weights.evidence_quality += 5;
    let edited = app
        .put(
            "/v1/campaigns/winter",
            &admin,
            None,
            serde_json::to_value(&winter).expect("json"),
        )
        .await;
    assert_eq!(edited.status, reqwest::StatusCode::OK, "{:?}", edited.body);
    assert_eq!(
        edited.body["weights"]["evidence_quality"],
        winter.weights.evidence_quality
    );
    let audited: i64 = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM audit_log WHERE object_type = 'campaign' AND object_id = 'winter'
                   AND action IN ('campaign.create', 'campaign.update')",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("audit");
    assert_eq!(audited, 2);

    // Now this month is the winter campaign's.
    let report = lantian::assessment::run(&app.store, &this_month(), true)
        .await
        .expect("rollup");
    assert_eq!(report.revision, 1);
    let stored = app
        .store
        .read(|c| lantian_store::assessment::latest(c, "winter", &this_month(), "official"))
        .await
        .expect("read");
    assert!(stored.is_some());
}

/// A revision published by hand before the grace period ended does not stand in for the scheduled
/// official run after it: the catch-up on start still makes that run, which takes in what offline
/// phones synced since.
#[tokio::test]
async fn a_missed_scheduled_official_run_is_caught_up_even_after_a_manual_revision() {
    let app = spawn_app().await;
    let s = lantian::config::JobSettings::default().schedule();
    let early = lantian::assessment::run(&app.store, "2026-10", true)
        .await
        .expect("a forced official run during the month");
    assert_eq!(early.revision, 1);
    let now = lantian::jobs::shanghai(2026, 11, 29, 12).expect("time");
    let ran = lantian::jobs::catch_up(&app.config, &app.store, now, &s)
        .await
        .expect("catch up");
    assert!(
        ran.contains(&"rollup.official 2026-10".to_owned()),
        "{ran:?}"
    );
    let again = lantian::jobs::catch_up(&app.config, &app.store, now, &s)
        .await
        .expect("catch up");
    assert!(
        !again.iter().any(|r| r.starts_with("rollup.official")),
        "{again:?}"
    );
}

/// Lifting an alert early is an event appended to it: the declared alert stays as declared, the
/// alert gains `ended_early_at`, stops applying from then, syncs so, and is lifted once. Another
/// county's admin cannot lift it.
#[tokio::test]
async fn an_alert_lifted_early_is_an_event_and_stops_applying() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    app.add_user("other_admin", Role::Admin, "dongchangfu", photos::PASSWORD)
        .await;
    let other = app
        .tokens("other_admin", photos::PASSWORD)
        .await
        .access_token;
    let now = chrono::Utc::now();
    let declared = app
        .post(
            "/v1/alerts",
            Some(&admin),
            serde_json::json!({"level": "red", "units": ["yanggu"],
                               "starts_at": now - chrono::Duration::hours(3),
                               "ends_at": now + chrono::Duration::days(3)}),
        )
        .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{:?}", declared.body);
    let id = declared.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/alerts/{id}/end");
    let foreign = app.post(&path, Some(&other), serde_json::json!({})).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let lifted = app.post(&path, Some(&admin), serde_json::json!({})).await;
    assert_eq!(lifted.status, StatusCode::OK, "{:?}", lifted.body);
    assert_eq!(
        lifted.body["ends_at"], declared.body["ends_at"],
        "as declared"
    );
    let ended: chrono::DateTime<chrono::Utc> = lifted.body["ended_early_at"]
        .as_str()
        .expect("ended")
        .parse()
        .expect("time");
    assert!(ended >= now - chrono::Duration::seconds(5));
    let again = app.post(&path, Some(&admin), serde_json::json!({})).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.body["error"]["detail"], "alert_over");
    let place = vec!["lcucb".to_owned(), "yanggu".to_owned()];
    let (before, after) = (
        now - chrono::Duration::hours(1),
        ended + chrono::Duration::minutes(1),
    );
    let (was, is) = app
        .store
        .read(move |c| {
            Ok((
                lantian_store::assessment::alert_active(c, &place, before)?,
                lantian_store::assessment::alert_active(c, &place, after)?,
            ))
        })
        .await
        .expect("read");
    assert!(was && !is, "applied before the lift, not after");
    // The declared row is untouched: the lift is an event.
    let rows: (i64, i64) = app
        .store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT (SELECT count(*) FROM alert_events), (SELECT count(*) FROM audit_log WHERE action = 'alert_event.seal')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .expect("read");
    assert_eq!(rows, (1, 1));
}

/// With no campaign covering the months, the scheduler assesses nothing, and the backup and the
/// photo check still run: one job's refusal does not hold up the others.
#[tokio::test]
async fn without_a_campaign_the_backup_still_runs_on_schedule() {
    let app = lantian_tests::spawn_app_with(|_| {}, false).await;
    let s = lantian::config::JobSettings::default().schedule();
    let now = lantian::jobs::shanghai(2026, 11, 29, 12).expect("time");
    let ran = lantian::jobs::catch_up(&app.config, &app.store, now, &s)
        .await
        .expect("catch up");
    if app.on_postgres() {
        assert_eq!(ran, ["photos.verify 2026-11-29"]);
    } else {
        assert_eq!(ran, ["backup 2026-11-29", "photos.verify 2026-11-29"]);
    }
}

/// What killed backups leave behind (a partial copy, the journal SQLite kept for it, a partial
/// manifest) is removed by the next backup once untouched for a while, and by the next start.
#[tokio::test]
async fn leftovers_of_killed_backups_are_removed_by_the_next_backup_and_on_start() {
    let app = spawn_app().await;
    if app.sqlite_only("`lantian backup`") {
        return;
    }
    let dir = lantian::backup::backup_dir(&app.config);
    std::fs::create_dir_all(&dir).expect("dir");
    let names = [
        "lantian-20261101-020000.000.db.partial",
        "lantian-20261101-020000.000.db.partial-journal",
        "lantian-20261101-020000.000.db.json.partial",
    ];
    let plant = |age_secs: u64| {
        for n in names {
            let f = std::fs::File::create(dir.join(n)).expect("plant");
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs))
                .expect("mtime");
        }
    };
    let left = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".partial"))
            .collect()
    };
    plant(3600);
    lantian::backup::run(&app.config, &app.store, 3)
        .await
        .expect("backup");
    assert!(left().is_empty(), "{:?}", left());
    plant(5);
    let (data, config) = app.stop().await;
    let app = lantian_tests::start_in(data, config, true).await;
    assert!(left().is_empty(), "{:?}", left());
    drop(app);
}

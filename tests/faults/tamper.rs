//! Evidence tampering behind the server's back: photo originals changed or removed on disk are
//! found by the nightly photo check (`photos.verify`, also `lantian audit photos`); evidence rows
//! changed or planted in the database (triggers dropped first) are found by `lantian audit verify`
//! through their seals. An untouched store reports nothing.

use lantian::audit::PhotoSlice;
use lantian_domain::user::Role;
use lantian_media::blob::Blobs;
use lantian_tests::{photos, spawn_app, spawn_app_with};
use reqwest::StatusCode;

#[tokio::test]
async fn changed_or_missing_photo_files_are_found_by_the_nightly_check() {
    // Every original hashed each night: the rolling slice is the next test's.
    let app = spawn_app_with(|c| c.photos.verify_cycle_days = 1, true).await;
    let o = photos::officer(&app, "tamper_files", Role::Inspector, "dongchangfu").await;
    let mut uploaded = Vec::new();
    for seed in [1, 2, 3] {
        let (s, expected) = photos::submitted(&o, 300 + seed).await;
        for (i, photo) in expected.into_iter().enumerate() {
            let bytes = lantian_media::testing::jpeg(120 + 7 * i as u32 + seed as u32, 90, None);
            let r = photos::upload(&app, &o.token, s.inspection_id, photo, &bytes, 64 * 1024).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
            uploaded.push((photo, photos::sha256_hex(&bytes)));
        }
    }
    assert!(uploaded.len() >= 6);
    let clean = lantian::audit::verify_photo_files(&app.config, &app.store, PhotoSlice::All)
        .await
        .expect("check");
    assert!(clean.findings.is_empty(), "{clean:?}");
    assert_eq!(clean.files as usize, uploaded.len());

    // Plant: one original with a byte flipped (same length), one rewritten shorter, one removed.
    let blob_dir = app.config.media_config().blob_dir;
    let path_of = |sha: &str| blob_dir.join(Blobs::original(sha).as_ref());
    let (flipped, shortened, removed) = (&uploaded[0], &uploaded[2], &uploaded[4]);
    let mut bytes = std::fs::read(path_of(&flipped.1)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    // Hard links share the inode: replace the file rather than writing through a link.
    let replace = |sha: &str, bytes: &[u8]| {
        let p = path_of(sha);
        std::fs::remove_file(&p).expect("unlink");
        std::fs::write(&p, bytes).expect("write");
    };
    replace(&flipped.1, &bytes);
    let short = std::fs::read(path_of(&shortened.1)).expect("read");
    replace(&shortened.1, &short[..short.len() - 100]);
    std::fs::remove_file(path_of(&removed.1)).expect("remove");

    let s = lantian::config::JobSettings::default().schedule();
    let now = chrono::Utc::now();
    let ran = lantian::jobs::catch_up(&app.config, &app.store, now, &s).await;
    let err = ran.expect_err("the check fails the run").to_string();
    for (photo, _) in [flipped, shortened, removed] {
        assert!(err.contains(&photo.to_string()), "{photo} named in: {err}");
    }
    assert_eq!(err.matches("ALTERED").count(), 2, "{err}");
    assert_eq!(err.matches("MISSING").count(), 1, "{err}");
    let (outcome, detail): (String, String) = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT outcome, detail FROM job_runs WHERE job = 'photos.verify' ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .expect("job run");
    assert_eq!(outcome, "failed");
    assert!(detail.contains(&removed.0.to_string()), "{detail}");
    // Untouched photos are not reported.
    for (photo, _) in [&uploaded[1], &uploaded[3], &uploaded[5]] {
        assert!(!err.contains(&photo.to_string()), "{photo} is intact");
    }
}

/// Tens of terabytes cannot be re-hashed every night: the nightly check hashes a rolling slice,
/// at least 1/N of the bytes stored, oldest check first, so that every original is hashed within
/// N nights; every original's presence and length are checked every night. Here N = 3.
#[tokio::test]
async fn the_nightly_check_hashes_a_rolling_slice_and_reaches_every_original_within_its_cycle() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "rolling_files", Role::Inspector, "dongchangfu").await;
    let mut uploaded = Vec::new();
    for seed in [1, 2, 3] {
        let (s, expected) = photos::submitted(&o, 500 + seed).await;
        for (i, photo) in expected.into_iter().enumerate() {
            let bytes = lantian_media::testing::jpeg(110 + 5 * i as u32 + seed as u32, 90, None);
            let r = photos::upload(&app, &o.token, s.inspection_id, photo, &bytes, 64 * 1024).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
            uploaded.push((photo, photos::sha256_hex(&bytes)));
        }
    }
    let n = uploaded.len();
    assert!(n >= 6);
    let blob_dir = app.config.media_config().blob_dir;
    let path_of = |sha: &str| blob_dir.join(Blobs::original(sha).as_ref());
    // One original gets a byte flipped (same length): only a hash finds it.
    let flipped = &uploaded[n - 1];
    let mut bytes = std::fs::read(path_of(&flipped.1)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::remove_file(path_of(&flipped.1)).expect("unlink");
    std::fs::write(path_of(&flipped.1), &bytes).expect("write");

    let checked = |app: &lantian_tests::TestApp| {
        let store = app.store.clone();
        async move {
            store
                .read(|c| {
                    let mut stmt = c.raw().prepare("SELECT sha256 FROM photo_checks")?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    Ok(rows.collect::<Result<std::collections::BTreeSet<_>, _>>()?)
                })
                .await
                .expect("checks")
        }
    };
    let rolling = PhotoSlice::Rolling { cycle: 3 };
    let mut found_on = None;
    let mut hashed_total = 0;
    for night in 1..=3 {
        let p = lantian::audit::verify_photo_files(&app.config, &app.store, rolling)
            .await
            .expect("check");
        assert_eq!(p.files as usize, n, "every original is present each night");
        assert!(
            p.hashed_bytes * 3 >= p.bytes,
            "night {night}: at least a third of the bytes hashed: {p:?}"
        );
        if night == 1 {
            assert!(
                (p.hashed_files as usize) < n,
                "a slice, not everything: {p:?}"
            );
            assert!(p.oldest_unhashed.is_some());
        }
        hashed_total += p.hashed_files;
        let named = p.findings.iter().any(|f| f.photo == flipped.0.to_string());
        if found_on.is_none() && named {
            found_on = Some(night);
        }
        if let Some(first) = found_on {
            // Once found, reported every night until someone acts (it is never recorded as checked).
            assert!(named, "night {night}: still reported since night {first}");
            assert!(p.findings.iter().all(|f| f.problem == "altered"));
        }
    }
    assert!(
        found_on.is_some(),
        "the flipped original is found within the cycle"
    );
    assert!(
        hashed_total as usize >= n,
        "three nights hashed {hashed_total} of {n}"
    );
    let done = checked(&app).await;
    for (photo, sha) in &uploaded[..n - 1] {
        assert!(
            done.contains(sha),
            "{photo} hashed intact within three nights"
        );
    }
    assert!(
        !done.contains(&flipped.1),
        "an altered original is never recorded as checked"
    );

    // A removed original is found the very next night, whatever the slice.
    let removed = &uploaded[0];
    std::fs::remove_file(path_of(&removed.1)).expect("remove");
    let p = lantian::audit::verify_photo_files(&app.config, &app.store, rolling)
        .await
        .expect("check");
    assert!(
        p.findings
            .iter()
            .any(|f| f.photo == removed.0.to_string() && f.problem == "missing"),
        "{p:?}"
    );
}

#[tokio::test]
async fn evidence_rows_changed_or_planted_in_the_database_are_found_by_the_audit_check() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "tamper_rows", Role::Inspector, "dongchangfu").await;
    let mut inspections = Vec::new();
    let mut photo_ids = Vec::new();
    let mut submits = Vec::new();
    for seed in [11, 12, 13] {
        let (s, expected) = photos::submitted(&o, 400 + seed).await;
        let bytes = lantian_media::testing::jpeg(100 + seed as u32, 80, None);
        let r = photos::upload(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            &bytes,
            64 * 1024,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        inspections.push(s.inspection_id);
        photo_ids.push(expected[0]);
        submits.push(s);
    }
    // More evidence: two review decisions, an amendment, and a rectification order's events.
    let sup = app.demo_token(Role::Supervisor).await;
    for id in [inspections[0], inspections[2]] {
        let r = app
            .post(
                &format!("/v1/inspections/{id}/review"),
                Some(&sup),
                serde_json::json!({"expected_state": "received", "decision": "has_issues", "comment": "照片不清"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    o.client
        .enqueue(
            "inspection.amend",
            &serde_json::json!({"inspection_id": inspections[1], "base_version": 1, "results": submits[1].results, "reason": "补充记录"}),
        )
        .expect("queued");
    assert_eq!(o.client.push().await.expect("pushed").applied, 1);
    let failed = submits
        .iter()
        .find_map(|s| {
            s.results
                .iter()
                .find(|r| r.answer == lantian_domain::inspection::Answer::Fail)
                .map(|r| (s.inspection_id, r.item.clone()))
        })
        .expect("a failed item among the three");
    let order = app
        .post(
            "/v1/rectifications",
            Some(&sup),
            serde_json::json!({"inspection_id": failed.0, "item": failed.1}),
        )
        .await;
    // Opened now, or already opened by the server for a critical item: either way it has events.
    assert!(
        order.status.is_success() || order.body["error"]["detail"] == "order_exists",
        "{:?}",
        order.body
    );
    let (dir, config) = app.stop().await;
    let clean = lantian::audit::verify(&config).await.expect("verify");
    assert!(clean.ok(), "{}", lantian::audit::describe(&clean));
    assert!(clean.seals.checked >= 10, "{:?}", clean.seals);

    // Behind the server's back: drop the guards, then change a result, move a photo's hash, plant
    // a copy of an inspection under a new id.
    use lantian_tests::behind;
    behind::drop_guards(
        &config,
        &[
            "inspections_evidence_immutable",
            "photos_evidence_immutable",
            "reviews_immutable",
            "reviews_no_delete",
            "inspection_amendments_immutable",
            "rectification_events_immutable",
        ],
    );
    behind::batch(
        &config,
        &format!(
        "UPDATE reviews SET decision = 'approved', comment = NULL
           WHERE id = (SELECT min(id) FROM reviews);
         DELETE FROM reviews WHERE id = (SELECT max(id) FROM reviews);
         UPDATE inspection_amendments SET reason = '原始记录';
         UPDATE rectification_events SET at = '2019-11-01T00:00:00.000Z'
           WHERE id = (SELECT min(id) FROM rectification_events);
         UPDATE inspections SET results = replace(results, '\"fail\"', '\"pass\"'), compliant = 1, notes = coalesce(notes, '') || ' ' WHERE uuid = '{a}';
         UPDATE inspections SET score_earned = score_possible WHERE uuid = '{b}';
         UPDATE photos SET sha256 = '{fake}' WHERE uuid = '{p}';",
        a = inspections[0],
        b = inspections[1],
        fake = "0".repeat(64),
        p = photo_ids[2],
        ),
    );
    let cols = "user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes, location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at, clock_offset_ms, occurred_at, score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state";
    let planted = uuid::Uuid::now_v7();
    behind::batch(
        &config,
        &format!(
            "INSERT INTO inspections (uuid, {cols}) SELECT '{planted}', {cols} FROM inspections WHERE uuid = '{}'",
            inspections[2]
        ),
    );

    let report = lantian::audit::verify(&config).await.expect("verify");
    assert!(!report.ok());
    assert!(report.chain.ok(), "the chain itself is untouched");
    let found: Vec<(String, &str)> = report
        .seals
        .findings
        .iter()
        .map(|f| (f.key.clone(), f.problem))
        .collect();
    let (review, amendment, event) = {
        let one = |sql: &str| behind::int(&config, sql);
        (
            one("SELECT min(id) FROM reviews"),
            one("SELECT id FROM inspection_amendments"),
            one("SELECT min(id) FROM rectification_events"),
        )
    };
    let mut expected = vec![
        (inspections[0].to_string(), "altered"),
        (inspections[1].to_string(), "altered"),
        (planted.to_string(), "unsealed"),
        (photo_ids[2].to_string(), "altered"),
        (review.to_string(), "altered"),
        ((review + 1).to_string(), "missing"),
        (amendment.to_string(), "altered"),
        (event.to_string(), "altered"),
    ];
    expected.sort();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    assert_eq!(found_sorted, expected);
    let text = lantian::audit::describe(&report);
    assert!(text.contains("ALTERED inspection"), "{text}");
    assert!(text.contains("UNSEALED inspection"), "{text}");
    assert!(text.contains("MISSING review"), "{text}");
    drop(dir);
}

#[tokio::test]
async fn a_missing_original_fails_its_renditions_instead_of_retrying_forever() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "tamper_gone", Role::Inspector, "dongchangfu").await;
    let (s, expected) = photos::submitted(&o, 500).await;
    assert!(expected.len() >= 2, "{expected:?}");
    let first = lantian_media::testing::jpeg(140, 100, None);
    let r = photos::upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        &first,
        64 * 1024,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        photos::renditions_settled(&app, &o.token, expected[0]).await,
        "ready"
    );
    // The original disappears and its renditions are asked for again.
    let blob_dir = app.config.media_config().blob_dir;
    std::fs::remove_file(blob_dir.join(Blobs::original(&photos::sha256_hex(&first)).as_ref()))
        .expect("removed");
    let id = expected[0].to_string();
    app.store
        .write(move |c| {
            Ok(c.raw().execute(
                "UPDATE photos SET renditions = 'pending' WHERE uuid = ?1",
                [id],
            )?)
        })
        .await
        .expect("requeued");
    // The next upload of a photo larger than the review size wakes the rendition job (a smaller
    // one is its own review image, its thumbnail made at completion, and wakes nothing).
    let second = lantian_media::testing::jpeg(1700, 100, None);
    let r = photos::upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[1],
        &second,
        64 * 1024,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        photos::renditions_settled(&app, &o.token, expected[0]).await,
        "failed"
    );
    assert_eq!(
        photos::renditions_settled(&app, &o.token, expected[1]).await,
        "ready"
    );
}

/// Orders, alerts and official revisions are sealed too: the order row as it stands after each
/// event (what the rollup reads), each declared alert, each published revision. Changed, planted
/// or deleted behind the server's back, `lantian audit verify` names them.
#[tokio::test]
async fn orders_alerts_and_official_revisions_changed_planted_or_deleted_are_found() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "tamper_orders", Role::Inspector, "dongchangfu").await;
    let mut failed = None;
    for seed in 0..20 {
        let (s, _) = photos::submitted(&o, 600 + seed).await;
        failed = s
            .results
            .iter()
            .find(|r| r.answer == lantian_domain::inspection::Answer::Fail)
            .map(|r| (s.inspection_id, r.item.clone()));
        if failed.is_some() {
            break;
        }
    }
    let (inspection, item) = failed.expect("a failed item within twenty inspections");
    let sup = app.demo_token(Role::Supervisor).await;
    let opened = app
        .post(
            "/v1/rectifications",
            Some(&sup),
            serde_json::json!({"inspection_id": inspection, "item": item}),
        )
        .await;
    assert!(
        opened.status.is_success() || opened.body["error"]["detail"] == "order_exists",
        "{:?}",
        opened.body
    );
    let admin = app.demo_token(Role::Admin).await;
    let now = chrono::Utc::now();
    let alert = app
        .post(
            "/v1/alerts",
            Some(&admin),
            serde_json::json!({"level": "orange", "units": ["yanggu"],
                               "starts_at": now - chrono::Duration::hours(2),
                               "ends_at": now + chrono::Duration::days(2)}),
        )
        .await;
    assert_eq!(alert.status, StatusCode::CREATED, "{:?}", alert.body);
    let alert_id = alert.body["id"].as_str().expect("id").to_owned();
    lantian::assessment::run(&app.store, &lantian_tests::this_month(), true)
        .await
        .expect("official rollup");
    let (dir, config) = app.stop().await;
    let clean = lantian::audit::verify(&config).await.expect("verify");
    assert!(clean.ok(), "{}", lantian::audit::describe(&clean));

    use lantian_tests::behind;
    let order = behind::text(
        &config,
        &format!(
            "SELECT r.uuid FROM rectifications r JOIN inspections i ON i.id = r.inspection_id
             WHERE i.uuid = '{inspection}'"
        ),
    );
    let revision: i64 = behind::int(
        &config,
        "SELECT max(id) FROM rollups WHERE kind = 'official'",
    );
    let planted = uuid::Uuid::now_v7().to_string();
    behind::drop_guards(&config, &["alerts_immutable", "rollups_official_no_delete"]);
    behind::batch(
        &config,
        &format!(
        "UPDATE rectifications SET deadline = '2099-01-01T00:00:00.000Z' WHERE uuid = '{order}';
         UPDATE alerts SET level = 'yellow' WHERE uuid = '{alert_id}';
         INSERT INTO alerts (uuid, level, units, starts_at, ends_at, note, declared_by, declared_at)
           SELECT '{planted}', 'red', units, starts_at, ends_at, note, declared_by, declared_at
           FROM alerts WHERE uuid = '{alert_id}';
         DELETE FROM rollups WHERE id = {revision};"
    ),
    );
    let report = lantian::audit::verify(&config).await.expect("verify");
    let mut found: Vec<(&str, String, &str)> = report
        .seals
        .findings
        .iter()
        .map(|f| (f.object_type, f.key.clone(), f.problem))
        .collect();
    found.sort();
    let mut expected = vec![
        ("alert", alert_id, "altered"),
        ("alert", planted, "unsealed"),
        ("rectification", order, "altered"),
        ("rollup", revision.to_string(), "missing"),
    ];
    expected.sort();
    assert_eq!(found, expected);
    drop(dir);
}

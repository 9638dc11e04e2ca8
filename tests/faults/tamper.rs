//! Evidence tampering behind the server's back: photo originals changed or removed on disk are
//! found by the nightly photo check (`photos.verify`, also `lantian audit photos`); evidence rows
//! changed or planted in the database (triggers dropped first) are found by `lantian audit verify`
//! through their seals. An untouched store reports nothing.

use lantian_domain::user::Role;
use lantian_media::blob::Blobs;
use lantian_tests::{photos, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn changed_or_missing_photo_files_are_found_by_the_nightly_check() {
    let app = spawn_app().await;
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
    let clean = lantian::audit::verify_photo_files(&app.config, &app.store)
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
            Ok(c.query_row(
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

#[tokio::test]
async fn evidence_rows_changed_or_planted_in_the_database_are_found_by_the_audit_check() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "tamper_rows", Role::Inspector, "dongchangfu").await;
    let mut inspections = Vec::new();
    let mut photo_ids = Vec::new();
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
    }
    let (dir, config) = app.stop().await;
    let clean = lantian::audit::verify(&config).await.expect("verify");
    assert!(clean.ok(), "{}", lantian::audit::describe(&clean));
    assert!(clean.seals.checked >= 6, "{:?}", clean.seals);

    // Behind the server's back: drop the guards, then change a result, move a photo's hash, plant
    // a copy of an inspection under a new id.
    let conn = rusqlite::Connection::open(config.db_path()).expect("open");
    conn.execute_batch(&format!(
        "DROP TRIGGER inspections_evidence_immutable; DROP TRIGGER photos_evidence_immutable;
         UPDATE inspections SET results = replace(results, '\"fail\"', '\"pass\"'), compliant = 1, notes = coalesce(notes, '') || ' ' WHERE uuid = '{a}';
         UPDATE inspections SET score_earned = score_possible WHERE uuid = '{b}';
         UPDATE photos SET sha256 = '{fake}' WHERE uuid = '{p}';",
        a = inspections[0],
        b = inspections[1],
        fake = "0".repeat(64),
        p = photo_ids[2],
    ))
    .expect("tamper");
    let cols = "user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes, location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at, clock_offset_ms, occurred_at, score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state";
    let planted = uuid::Uuid::now_v7();
    conn.execute(
        &format!(
            "INSERT INTO inspections (uuid, {cols}) SELECT ?1, {cols} FROM inspections WHERE uuid = ?2"
        ),
        rusqlite::params![planted.to_string(), inspections[2].to_string()],
    )
    .expect("plant");
    drop(conn);

    let report = lantian::audit::verify(&config).await.expect("verify");
    assert!(!report.ok());
    assert!(report.chain.ok(), "the chain itself is untouched");
    let found: Vec<(String, &str)> = report
        .seals
        .findings
        .iter()
        .map(|f| (f.uuid.clone(), f.problem))
        .collect();
    let mut expected = vec![
        (inspections[0].to_string(), "altered"),
        (inspections[1].to_string(), "altered"),
        (planted.to_string(), "unsealed"),
        (photo_ids[2].to_string(), "altered"),
    ];
    expected.sort();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    assert_eq!(found_sorted, expected);
    let text = lantian::audit::describe(&report);
    assert!(text.contains("ALTERED inspection"), "{text}");
    assert!(text.contains("UNSEALED inspection"), "{text}");
    drop(dir);
}

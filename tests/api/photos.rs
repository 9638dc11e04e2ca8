//! Photo evidence over HTTP: tus uploads (resumed, raced, corrupted), verification and refusals,
//! media completion of inspections, reads with access control, audit and Range.

use std::time::Duration;

use lantian_domain::user::Role;
use lantian_media::testing::{self, Breakage, ExifSpec};
use lantian_tests::photos::{
    self, create, head, location, media_state, offset_of, patch, renditions_settled, sha256_hex,
    submitted, upload,
};
use lantian_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

fn exif_at(lat: f64, lon: f64) -> ExifSpec {
    ExifSpec {
        make: Some("HUAWEI".into()),
        model: Some("P40".into()),
        orientation: Some(1),
        taken: Some(
            chrono::Utc::now()
                .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("tz"))
                .format("%Y:%m:%d %H:%M:%S")
                .to_string(),
        ),
        offset: Some("+08:00".into()),
        gps: Some((lat, lon)),
        map_datum: Some("WGS-84".into()),
        breakage: None,
    }
}

fn photo_for(s: &lantian_domain::mutation::InspectionSubmit) -> Vec<u8> {
    testing::jpeg(640, 480, Some(&exif_at(s.location.lat, s.location.lon)))
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.store
        .read(move |c| Ok(c.raw().query_row(sql, [], |r| r.get(0))?))
        .await
        .expect("count")
}

#[tokio::test]
async fn the_field_client_uploads_every_photo_the_inspection_completes_and_the_phone_copy_goes() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_field", Role::Inspector, "dongchangfu").await;
    let s = photos::draft(&o, 11);
    o.client.submit_inspection(&s).expect("queued");
    let expected = lantian_domain::inspection::expected_photos(&s.results, s.signature_photo_id)
        .expect("photos");
    let src = app.dir.path().join("camera");
    std::fs::create_dir_all(&src).expect("dir");
    for (i, (p, _)) in expected.iter().enumerate() {
        let f = src.join(format!("{i}.jpg"));
        std::fs::write(
            &f,
            testing::jpeg(
                800 + i as u32 * 8,
                600,
                Some(&exif_at(s.location.lat, s.location.lon)),
            ),
        )
        .expect("write");
        o.client
            .attach_photo(s.inspection_id, *p, &f)
            .expect("attach");
    }
    o.client.sync().await.expect("sync");
    let local = o.client.photos().expect("photos");
    assert_eq!(local.len(), expected.len());
    for p in &local {
        assert_eq!(p.state, "verified", "{p:?}");
        assert!(
            !p.path.exists(),
            "the phone's copy is deleted once verified"
        );
    }
    assert_eq!(media_state(&app, s.inspection_id).await, "complete");
    // The inspection and its photos synced down to the author.
    let view: lantian_domain::inspection::InspectionView = o
        .client
        .entity("inspection", &s.inspection_id.to_string())
        .expect("local")
        .expect("inspection synced");
    assert_eq!(
        view.media_state,
        lantian_domain::inspection::MediaState::Complete
    );
    assert_eq!(
        o.client.entity_ids("photo").expect("ids").len(),
        expected.len()
    );
    for (i, (p, _)) in expected.iter().enumerate() {
        let r = app.get(&format!("/v1/photos/{p}"), &o.token).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body["flags"].as_array().expect("flags").is_empty(),
            "{:?}",
            r.body
        );
        assert_eq!(r.body["exif"]["make"], "HUAWEI");
        assert_eq!(r.body["width"], 800 + i as u64 * 8);
    }
}

#[tokio::test]
async fn originals_are_byte_exact_with_etag_range_nosniff_and_every_read_is_audited() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_reader", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 3).await;
    let bytes = photo_for(&s);
    let r = upload(&app, &o.token, s.inspection_id, expected[0], &bytes, 10_000).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(offset_of(&r), bytes.len() as u64);
    let before = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE action LIKE 'photo.read.%'",
    )
    .await;

    let resp = app
        .client
        .get(format!("{}/v1/photos/{}/original", app.base, expected[0]))
        .bearer_auth(&o.token)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["etag"].to_str().expect("etag"),
        format!("\"{}\"", sha256_hex(&bytes))
    );
    assert_eq!(resp.bytes().await.expect("body").as_ref(), &bytes[..]);

    let part = app
        .client
        .get(format!("{}/v1/photos/{}/original", app.base, expected[0]))
        .bearer_auth(&o.token)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"].to_str().expect("cr"),
        format!("bytes 100-199/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.expect("body").as_ref(), &bytes[100..200]);

    let cached = app
        .client
        .get(format!("{}/v1/photos/{}/original", app.base, expected[0]))
        .bearer_auth(&o.token)
        .header("if-none-match", format!("\"{}\"", sha256_hex(&bytes)))
        .send()
        .await
        .expect("conditional");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    assert_eq!(
        renditions_settled(&app, &o.token, expected[0]).await,
        "ready"
    );
    for (kind, edge) in [("thumbnail", 320), ("review", 640)] {
        let r = app
            .client
            .get(format!("{}/v1/photos/{}/{kind}", app.base, expected[0]))
            .bearer_auth(&o.token)
            .send()
            .await
            .expect("rendition");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let body = r.bytes().await.expect("body");
        let img = image_dims(&body);
        assert_eq!(img.0, edge, "{kind}");
        if kind == "review" {
            // No larger than the review size: the original is its own review image, byte for byte.
            assert_eq!(body.as_ref(), &bytes[..]);
        }
    }
    let after = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE action LIKE 'photo.read.%'",
    )
    .await;
    // original x3 + metadata polls (at least one) + two renditions.
    assert!(after - before >= 6, "{before} -> {after}");
    let verify = app
        .store
        .read(lantian_store::audit::verify)
        .await
        .expect("verify");
    assert_eq!(verify.first_broken, None, "{verify:?}");
}

fn image_dims(bytes: &[u8]) -> (u32, u32) {
    let probe_file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(probe_file.path(), bytes).expect("write");
    let p = lantian_media::probe::probe(
        probe_file.path(),
        bytes.len() as u64,
        &lantian_media::Limits::default(),
    )
    .expect("a valid JPEG");
    (p.width, p.height)
}

#[tokio::test]
async fn a_wrong_offset_answers_409_and_changes_nothing() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_offset", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 5).await;
    let bytes = photo_for(&s);
    let c = create(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        bytes.len(),
        &sha256_hex(&bytes),
    )
    .await;
    let path = location(&c);
    let r = patch(&app, &o.token, &path, 0, &bytes[..1000], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for wrong in [0u64, 999, 1001, 5000] {
        let r = patch(
            &app,
            &o.token,
            &path,
            wrong,
            &bytes[wrong as usize..wrong as usize + 10],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "offset {wrong}");
        assert_eq!(r.code(), Some("upload_offset_mismatch"));
        assert_eq!(offset_of(&r), 1000);
    }
    assert_eq!(offset_of(&head(&app, &o.token, &path).await), 1000);
    // Creating again returns the same upload and its offset.
    let again = create(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        bytes.len(),
        &sha256_hex(&bytes),
    )
    .await;
    assert_eq!(location(&again), path);
    assert_eq!(offset_of(&again), 1000);
    // Another file under the same photo id is a conflict.
    let other = create(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        bytes.len() + 1,
        &sha256_hex(b"x"),
    )
    .await;
    assert_eq!(other.code(), Some("upload_conflict"));
    // Without the tus header: 412 with the version.
    let bare = app
        .client
        .head(format!("{}{path}", app.base))
        .bearer_auth(&o.token)
        .send()
        .await
        .expect("head");
    assert_eq!(bare.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(bare.headers()["tus-version"], "1.0.0");
}

#[tokio::test]
async fn a_flipped_bit_answers_460_and_the_offset_stays() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_bit", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 6).await;
    let bytes = photo_for(&s);
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    let mut chunk = bytes[..4096].to_vec();
    let sum = photos::sha1_header(&chunk);
    chunk[2000] ^= 0x10;
    let r = patch(&app, &o.token, &path, 0, &chunk, Some(sum)).await;
    assert_eq!(r.status.as_u16(), 460);
    assert_eq!(r.code(), Some("checksum_mismatch"));
    assert_eq!(offset_of(&head(&app, &o.token, &path).await), 0);
    // sha256 checksums work too; an unknown algorithm is refused.
    let good = &bytes[..4096];
    let sha256 = format!(
        "sha256 {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(good))
        )
    );
    let md5 = patch(&app, &o.token, &path, 0, good, Some("md5 AAAA".into())).await;
    assert_eq!(md5.code(), Some("checksum_unsupported"));
    let r = patch(&app, &o.token, &path, 0, good, Some(sha256)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&r), 4096);
}

#[tokio::test]
async fn a_whole_file_hash_mismatch_is_refused_even_when_every_chunk_checksum_matched() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_hash", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 7).await;
    let bytes = photo_for(&s);
    let declared = sha256_hex(b"a different photo");
    let c = create(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        bytes.len(),
        &declared,
    )
    .await;
    let path = location(&c);
    let mut offset = 0usize;
    let mut last = c;
    while offset < bytes.len() {
        let end = (offset + 8192).min(bytes.len());
        last = patch(
            &app,
            &o.token,
            &path,
            offset as u64,
            &bytes[offset..end],
            None,
        )
        .await;
        if end < bytes.len() {
            assert_eq!(last.status, StatusCode::NO_CONTENT);
        }
        offset = end;
    }
    assert_eq!(last.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(last.code(), Some("photo_hash_mismatch"));
    assert_eq!(
        head(&app, &o.token, &path).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(count(&app, "SELECT count(*) FROM photos").await, 0);
    assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");
    // The phone uploads again, correctly this time.
    let r = upload(&app, &o.token, s.inspection_id, expected[0], &bytes, 50_000).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

#[tokio::test]
async fn two_patches_racing_on_one_upload_store_one_chunk_once() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_race", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 8).await;
    let bytes = testing::jpeg(1600, 1200, Some(&exif_at(s.location.lat, s.location.lon)));
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    let chunk = &bytes[..bytes.len() / 2];
    for round in 0..5 {
        let (a, b) = tokio::join!(
            patch(&app, &o.token, &path, 0, chunk, None),
            patch(&app, &o.token, &path, 0, chunk, None)
        );
        let statuses = [a.status.as_u16(), b.status.as_u16()];
        if round == 0 {
            assert!(statuses.contains(&204), "{statuses:?}");
        }
        for st in statuses {
            assert!([204, 409, 423].contains(&st), "{statuses:?}");
        }
        let now = offset_of(&head(&app, &o.token, &path).await);
        assert_eq!(now, chunk.len() as u64, "round {round}: {statuses:?}");
    }
    let r = patch(
        &app,
        &o.token,
        &path,
        chunk.len() as u64,
        &bytes[chunk.len()..],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let got = app
        .client
        .get(format!("{}/v1/photos/{}/original", app.base, expected[0]))
        .bearer_auth(&o.token)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(sha256_hex(&got), sha256_hex(&bytes));
}

/// Sends a PATCH with a full Content-Length but only `send` bytes of body, then drops the socket.
/// Opens a PATCH with a full Content-Length for `rest` but sends only its first `send` bytes;
/// returns the open socket (drop it to cut the connection, keep it to leave it silent).
async fn partial_patch(
    app: &TestApp,
    token: &str,
    path: &str,
    offset: u64,
    rest: &[u8],
    send: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        rest.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(&rest[..send]).await.expect("part");
    s.flush().await.expect("flush");
    s
}

#[tokio::test]
async fn cut_at_twenty_random_bytes_and_resumed_it_is_one_upload_with_the_right_hash() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_cut", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 9).await;
    let bytes = testing::jpeg(1200, 900, Some(&exif_at(s.location.lat, s.location.lon)));
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    let mut rng = lantian_client::sim::Rng(20261129);
    let mut progress = Vec::new();
    for _ in 0..20 {
        // Wait (bounded) until the server has let go of the previous cut connection.
        let mut offset = 0;
        for _ in 0..100 {
            offset = offset_of(&head(&app, &o.token, &path).await);
            let probe = patch(&app, &o.token, &path, offset, &[], None).await;
            if probe.status == StatusCode::NO_CONTENT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rest = &bytes[offset as usize..];
        let send = rng.below(rest.len().max(2) / 2).max(1);
        drop(partial_patch(&app, &o.token, &path, offset, rest, send).await);
        progress.push(offset);
    }
    let mut done = false;
    for _ in 0..100 {
        let offset = offset_of(&head(&app, &o.token, &path).await);
        let r = patch(
            &app,
            &o.token,
            &path,
            offset,
            &bytes[offset as usize..],
            None,
        )
        .await;
        if r.status == StatusCode::NO_CONTENT {
            done = true;
            break;
        }
        assert!([409, 423].contains(&r.status.as_u16()), "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done, "the upload finished");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "offsets only grow: {progress:?}"
    );
    assert!(
        progress.last().copied().unwrap_or(0) > 0,
        "cut connections kept their bytes: {progress:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 1);
    let p = app
        .get(&format!("/v1/photos/{}", expected[0]), &o.token)
        .await;
    assert_eq!(p.body["sha256"], sha256_hex(&bytes));
}

#[tokio::test]
async fn a_newer_request_takes_the_upload_from_a_silent_connection() {
    // The idle timeout is far beyond this test's bounded tries: only the newer request asking the
    // silent one to let go can get it through.
    let app = spawn_app_with(|c| c.photos.idle_timeout_secs = 600, true).await;
    let o = photos::officer(&app, "ph_idle", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 10).await;
    let bytes = photo_for(&s);
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    // A phone lost its signal mid-chunk: the socket stays open and silent after 100 bytes.
    let stuck = partial_patch(&app, &o.token, &path, 0, &bytes, 100).await;
    // Let the server start reading it (and take the upload's lock) before the phone comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut statuses = Vec::new();
    let mut through = false;
    for _ in 0..3 {
        let offset = offset_of(&head(&app, &o.token, &path).await);
        let r = patch(
            &app,
            &o.token,
            &path,
            offset,
            &bytes[offset as usize..],
            None,
        )
        .await;
        statuses.push((r.status.as_u16(), offset));
        if r.status == StatusCode::NO_CONTENT {
            through = true;
            break;
        }
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    }
    assert!(through, "statuses and offsets: {statuses:?}");
    assert_eq!(
        statuses.last().map(|s| s.1),
        Some(100),
        "the silent request kept the 100 bytes it received: {statuses:?}"
    );
    let p = app
        .get(&format!("/v1/photos/{}", expected[0]), &o.token)
        .await;
    assert_eq!(p.body["sha256"], sha256_hex(&bytes));
    drop(stuck);
}

#[tokio::test]
async fn hostile_files_are_each_refused_with_their_code_and_nothing_is_recorded() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_hostile", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 12).await;
    let good = photo_for(&s);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "png declaring 100000 x 100000",
            testing::png_declaring(100_000, 100_000),
            "photo_dimensions_too_large",
        ),
        (
            "jpeg declaring 65535 x 65535",
            testing::jpeg_declaring(65_535, 65_535),
            "photo_dimensions_too_large",
        ),
        (
            "truncated jpeg",
            good[..good.len() * 2 / 3].to_vec(),
            "photo_truncated",
        ),
        (
            "text named .jpg",
            b"this is not a photo, it is a note about one".repeat(20),
            "photo_format_unsupported",
        ),
    ];
    for (what, bytes, _) in &cases[..2] {
        assert!(bytes.len() < 2048, "{what} is about 1 KB: {}", bytes.len());
    }
    for (what, bytes, code) in &cases {
        let r = upload(&app, &o.token, s.inspection_id, expected[0], bytes, 4096).await;
        assert_eq!(r.code(), Some(*code), "{what}: {:?}", r.body);
    }
    assert_eq!(count(&app, "SELECT count(*) FROM photos").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);
    // Too large to even start.
    let big = create(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        64 * 1024 * 1024,
        &sha256_hex(b"x"),
    )
    .await;
    assert_eq!(big.code(), Some("photo_too_large"));
    // A declared type that is not a photo's: refused before a byte is sent.
    let meta = format!(
        "photo_id {},inspection_id {},sha256 {},content_type {}",
        photos::b64(&expected[0].to_string()),
        photos::b64(&s.inspection_id.to_string()),
        photos::b64(&sha256_hex(b"x")),
        photos::b64("application/pdf"),
    );
    let typed = photos::tus(
        &app,
        Method::POST,
        "/v1/uploads",
        &o.token,
        &[
            ("upload-length", "1000".to_string()),
            ("upload-metadata", meta),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(
        (typed.status, typed.code()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("photo_format_unsupported")
        )
    );
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);
    // A photo the inspection does not list, an inspection of someone else.
    let stray = create(
        &app,
        &o.token,
        s.inspection_id,
        Uuid::now_v7(),
        10,
        &sha256_hex(b"x"),
    )
    .await;
    assert_eq!(stray.code(), Some("photo_not_expected"));
    let other = photos::officer(&app, "ph_hostile2", Role::Inspector, "dongchangfu").await;
    let theirs = create(
        &app,
        &other.token,
        s.inspection_id,
        expected[0],
        10,
        &sha256_hex(b"x"),
    )
    .await;
    assert_eq!(theirs.code(), Some("inspection_not_found"));
    // The server is fine: the real photo goes through.
    let r = upload(&app, &o.token, s.inspection_id, expected[0], &good, 16_384).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

/// Evidence is not lost over metadata: a photo whose EXIF cannot all be read (a block cut short as
/// piexif leaves it, an IFD loop, an absurd count, a zero denominator) is kept, with what could be
/// read, and flagged `exif_unreadable` for the supervisor.
#[tokio::test]
async fn a_photo_with_broken_exif_is_kept_and_flagged() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_lenient", Role::Inspector, "dongchangfu").await;
    for (seed, breakage) in [
        (31, Breakage::NoNextIfdPointer),
        (32, Breakage::LoopedIfd),
        (33, Breakage::AbsurdCount),
        (34, Breakage::ZeroDenominator),
    ] {
        let (s, expected) = submitted(&o, seed).await;
        let bytes = testing::jpeg(
            64 + seed as u32,
            64,
            Some(&ExifSpec {
                breakage: Some(breakage),
                ..exif_at(s.location.lat, s.location.lon)
            }),
        );
        let r = upload(&app, &o.token, s.inspection_id, expected[0], &bytes, 4096).await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "{breakage:?}: {:?}",
            r.body
        );
        let photo = app
            .get(&format!("/v1/photos/{}", expected[0]), &o.token)
            .await;
        assert_eq!(photo.status, StatusCode::OK);
        let flags: Vec<&str> = photo.body["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        if breakage == Breakage::NoNextIfdPointer {
            // Nothing was lost: the block is read whole.
            assert!(!flags.contains(&"exif_missing"), "{breakage:?}: {flags:?}");
            assert!(
                photo.body["exif"]["taken_at"].is_string(),
                "{:?}",
                photo.body
            );
        } else {
            assert!(
                flags.contains(&"exif_unreadable"),
                "{breakage:?}: {flags:?}"
            );
        }
        if breakage == Breakage::ZeroDenominator {
            // The position is left out, not misread; the rest is kept.
            assert!(photo.body["exif"]["gps"].is_null(), "{:?}", photo.body);
            assert!(
                photo.body["exif"]["taken_at"].is_string(),
                "{:?}",
                photo.body
            );
        }
    }
    assert_eq!(count(&app, "SELECT count(*) FROM photos").await, 4);
}

#[tokio::test]
async fn an_inspection_waits_for_every_photo_through_an_expiry_and_a_reupload() {
    let app = spawn_app_with(
        |c| {
            c.photos.upload_expiry_secs = 1;
            c.photos.expiry_sweep_secs = 1;
        },
        true,
    )
    .await;
    let o = photos::officer(&app, "ph_expiry", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 13).await;
    assert!(expected.len() >= 2);
    assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");
    let bytes: Vec<Vec<u8>> = (0..expected.len())
        .map(|i| {
            testing::jpeg(
                300 + i as u32,
                200,
                Some(&exif_at(s.location.lat, s.location.lon)),
            )
        })
        .collect();
    // Every photo but the last arrives.
    for (p, b) in expected.iter().zip(&bytes).take(expected.len() - 1) {
        let r = upload(&app, &o.token, s.inspection_id, *p, b, 8192).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");
    }
    // The last one starts, then the phone goes quiet past the expiry.
    let last = *expected.last().expect("photo");
    let lb = bytes.last().expect("bytes");
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            last,
            lb.len(),
            &sha256_hex(lb),
        )
        .await,
    );
    assert_eq!(
        patch(&app, &o.token, &path, 0, &lb[..1000], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let part = app
        .dir
        .path()
        .join("media/uploads")
        .join(format!("{}.part", path.rsplit('/').next().expect("id")));
    assert!(part.exists());
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !part.exists() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the expiry job removed the partial file");
    let r = patch(&app, &o.token, &path, 1000, &lb[1000..2000], None).await;
    assert!([404, 410].contains(&r.status.as_u16()), "{:?}", r.status);
    assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");
    // Uploaded again from the start: complete, and only now.
    let again = create(
        &app,
        &o.token,
        s.inspection_id,
        last,
        lb.len(),
        &sha256_hex(lb),
    )
    .await;
    assert_eq!(offset_of(&again), 0);
    let r = upload(&app, &o.token, s.inspection_id, last, lb, 8192).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(media_state(&app, s.inspection_id).await, "complete");
    let n = count(&app, "SELECT count(*) FROM photos").await;
    assert_eq!(n as usize, expected.len());
}

#[tokio::test]
async fn evidence_flags_mark_far_exif_missing_exif_and_reused_bytes() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_flags", Role::Inspector, "dongchangfu").await;
    let (s1, e1) = submitted(&o, 14).await;
    let (_s2, e2) = submitted(&o, 15).await;
    let far = testing::jpeg(
        320,
        240,
        Some(&exif_at(s1.location.lat + 0.02, s1.location.lon)),
    );
    let none = testing::jpeg(320, 240, None);
    assert_eq!(
        upload(&app, &o.token, s1.inspection_id, e1[0], &far, 9000)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        upload(&app, &o.token, s1.inspection_id, e1[1], &none, 9000)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // The same bytes on another inspection: recorded, and flagged as reused.
    assert_eq!(
        upload(&app, &o.token, _s2.inspection_id, e2[0], &far, 9000)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let flags = |b: &serde_json::Value| -> Vec<String> {
        b["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("str").to_owned())
            .collect()
    };
    let p1 = app.get(&format!("/v1/photos/{}", e1[0]), &o.token).await;
    assert_eq!(flags(&p1.body), ["exif_position_far"]);
    assert!(p1.body["exif_distance_m"].as_f64().expect("distance") > 2000.0);
    let p2 = app.get(&format!("/v1/photos/{}", e1[1]), &o.token).await;
    assert_eq!(flags(&p2.body), ["exif_missing"]);
    let p3 = app.get(&format!("/v1/photos/{}", e2[0]), &o.token).await;
    assert!(
        flags(&p3.body).contains(&"reused_evidence".to_owned()),
        "{:?}",
        p3.body
    );
    let by_hash = app
        .get(
            &format!("/v1/photos/by-hash/{}", sha256_hex(&far)),
            &o.token,
        )
        .await;
    assert_eq!(by_hash.body["photos"].as_array().expect("photos").len(), 2);
}

#[tokio::test]
async fn only_the_author_and_oversight_of_the_unit_see_a_photo_by_id_or_by_hash() {
    let app = spawn_app().await;
    let author = photos::officer(&app, "ph_author", Role::Inspector, "dongchangfu_gulou").await;
    let (s, expected) = submitted(&author, 16).await;
    let bytes = photo_for(&s);
    assert_eq!(
        upload(
            &app,
            &author.token,
            s.inspection_id,
            expected[0],
            &bytes,
            9000
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let hash = sha256_hex(&bytes);
    let cases: [(&str, Role, &str, u16); 6] = [
        ("ph_peer", Role::Inspector, "dongchangfu_gulou", 404),
        ("ph_elsewhere", Role::Inspector, "yanggu", 404),
        ("ph_sup_elsewhere", Role::Supervisor, "yanggu", 404),
        ("ph_sup_parent", Role::Supervisor, "dongchangfu", 200),
        ("ph_viewer", Role::Viewer, "dongchangfu_gulou", 200),
        ("ph_unitadmin", Role::UnitAdmin, "dongchangfu_gulou", 404),
    ];
    for (name, role, unit, want) in cases {
        app.add_user(name, role, unit, photos::PASSWORD).await;
        let t = app.tokens(name, photos::PASSWORD).await.access_token;
        for path in [
            format!("/v1/photos/{}", expected[0]),
            format!("/v1/photos/{}/original", expected[0]),
            format!("/v1/photos/by-hash/{hash}"),
        ] {
            let r = app.request(Method::GET, &path, Some(&t), None, &[]).await;
            assert_eq!(r.status.as_u16(), want, "{name} {path}");
        }
    }
    // Not the author's upload either: HEAD, PATCH, DELETE of it are 404 to another officer.
    let peer = app.tokens("ph_peer", photos::PASSWORD).await.access_token;
    let path = location(
        &create(
            &app,
            &author.token,
            s.inspection_id,
            expected[1],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    assert_eq!(head(&app, &peer, &path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        patch(&app, &peer, &path, 0, &bytes[..10], None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let del = photos::tus(&app, Method::DELETE, &path, &peer, &[], Vec::new()).await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn termination_ends_an_upload_but_a_verified_photo_is_never_deleted() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_term", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 17).await;
    let bytes = photo_for(&s);
    let path = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    assert_eq!(
        patch(&app, &o.token, &path, 0, &bytes[..500], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let del = photos::tus(&app, Method::DELETE, &path, &o.token, &[], Vec::new()).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        head(&app, &o.token, &path).await.status,
        StatusCode::NOT_FOUND
    );
    let r = upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        &bytes,
        100_000,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let done = location(
        &create(
            &app,
            &o.token,
            s.inspection_id,
            expected[0],
            bytes.len(),
            &sha256_hex(&bytes),
        )
        .await,
    );
    let h = head(&app, &o.token, &done).await;
    assert_eq!(
        offset_of(&h),
        bytes.len() as u64,
        "a completed upload reports its full length"
    );
    let del = photos::tus(&app, Method::DELETE, &done, &o.token, &[], Vec::new()).await;
    assert_eq!(del.code(), Some("upload_complete"));
    // Not through SQL either.
    let attempt = app
        .store
        .write(|c| Ok(c.raw().execute("DELETE FROM photos", [])?))
        .await;
    let refused = attempt.expect_err("a photo deleted").to_string();
    assert!(
        refused.contains("verified photos are evidence and are never deleted"),
        "{refused}"
    );
    // Identical bytes under another photo id of the same inspection: both recorded.
    let r = upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[1],
        &bytes,
        100_000,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        count(&app, "SELECT count(DISTINCT uuid) FROM photos").await,
        2
    );
}

#[tokio::test]
async fn options_advertise_tus_and_its_extensions() {
    let app = spawn_app().await;
    let r = app
        .client
        .request(Method::OPTIONS, format!("{}/v1/uploads", app.base))
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["tus-resumable"], "1.0.0");
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(
        h["tus-extension"],
        "creation,checksum,expiration,termination"
    );
    assert_eq!(h["tus-checksum-algorithm"], "sha1,sha256");
    assert_eq!(h["tus-max-size"], "33554432");
}

/// An amendment may add evidence: the photos its answers name upload like the first version's
/// (same checks and seals), the inspection waits for them again, and completes when they are in.
#[tokio::test]
async fn an_amendments_photos_upload_and_complete_the_inspection_again() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_amend", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 41).await;
    for (i, p) in expected.iter().enumerate() {
        let bytes = testing::jpeg(
            200 + i as u32,
            120,
            Some(&exif_at(s.location.lat, s.location.lon)),
        );
        let r = upload(&app, &o.token, s.inspection_id, *p, &bytes, 8192).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }
    assert_eq!(media_state(&app, s.inspection_id).await, "complete");

    // The amendment adds a photo to an answer.
    let added = Uuid::now_v7();
    let mut results = s.results.clone();
    results[0].photos.push(added);
    let amend = serde_json::json!({"inspection_id": s.inspection_id, "base_version": 1,
                                   "results": results, "reason": "补充照片"});
    o.client
        .enqueue("inspection.amend", &amend)
        .expect("amend queued");
    o.client.sync().await.expect("sync");
    assert_eq!(
        o.client
            .outbox()
            .expect("outbox")
            .last()
            .and_then(|q| q.status.clone()),
        Some("applied".into())
    );
    assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");

    let bytes = testing::jpeg(333, 111, Some(&exif_at(s.location.lat, s.location.lon)));
    let r = upload(&app, &o.token, s.inspection_id, added, &bytes, 8192).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(media_state(&app, s.inspection_id).await, "complete");
    // A photo nobody declared is still refused.
    let stray = photos::create(
        &app,
        &o.token,
        s.inspection_id,
        Uuid::now_v7(),
        10,
        &sha256_hex(b"x"),
    )
    .await;
    assert_eq!(stray.code(), Some("photo_not_expected"));
}

/// A photo an amendment adds waits on the phone until the amendment is applied: sent earlier, the
/// server would not expect it yet and the phone would give it up.
#[tokio::test]
async fn an_amendments_photo_waits_for_the_amendment() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_amend_wait", Role::Inspector, "dongchangfu").await;
    let (s, _) = submitted(&o, 42).await;
    let added = Uuid::now_v7();
    let mut results = s.results.clone();
    results[0].photos.push(added);
    let amend = serde_json::json!({"inspection_id": s.inspection_id, "base_version": 1,
                                   "results": results, "reason": "补充照片"});
    o.client
        .enqueue("inspection.amend", &amend)
        .expect("amend queued");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("added.jpg");
    std::fs::write(
        &file,
        testing::jpeg(210, 140, Some(&exif_at(s.location.lat, s.location.lon))),
    )
    .expect("write");
    o.client
        .attach_photo(s.inspection_id, added, &file)
        .expect("attach");
    // The amendment is not on the server yet: the photo is not sent, and not given up.
    o.client.upload_photos().await.expect("uploads");
    let state = |c: &lantian_client::Client| {
        c.photos()
            .expect("photos")
            .into_iter()
            .find(|p| p.photo_id == added)
            .map(|p| p.state)
    };
    assert_eq!(state(&o.client).as_deref(), Some("queued"));
    o.client.sync().await.expect("sync");
    o.client.sync().await.expect("sync again");
    let after = state(&o.client);
    assert!(
        after.is_none() || after.as_deref() == Some("verified"),
        "verified, the phone's copy released: {after:?}"
    );
    let photo = app.get(&format!("/v1/photos/{added}"), &o.token).await;
    assert_eq!(photo.status, StatusCode::OK, "{:?}", photo.body);
}

/// An incident report's photos arrive (issue 15): declared by the report, uploaded with its id,
/// checked, sealed and flagged like an inspection's, and the report waits for them. Access follows
/// the report as it follows an inspection; a photo it did not declare, and another officer's report,
/// are refused.
#[tokio::test]
async fn an_incidents_photos_upload_like_an_inspections() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_incident", Role::Inspector, "dongchangfu").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let incident = Uuid::now_v7();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let report = serde_json::json!({
        "incident_id": incident, "category": "open_burning", "description": "河滩露天焚烧垃圾",
        "location": {"lat": 36.4512, "lon": 115.9843, "accuracy_m": 7.0, "datum": "wgs84"},
        "photos": [first, second],
    });
    o.client.queue("incident.report", &report).expect("queued");
    let files: Vec<std::path::PathBuf> = [first, second]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let f = dir.path().join(format!("{p}.jpg"));
            std::fs::write(
                &f,
                testing::jpeg(180 + i as u32, 90, Some(&exif_at(36.4512, 115.9843))),
            )
            .expect("write");
            f
        })
        .collect();
    o.client
        .attach_photo(incident, first, &files[0])
        .expect("attach");
    o.client.sync().await.expect("sync");
    assert_eq!(incident_media(&app, incident).await, "awaiting_media");
    let photo = app.get(&format!("/v1/photos/{first}"), &o.token).await;
    assert_eq!(photo.status, StatusCode::OK, "{:?}", photo.body);
    assert_eq!(photo.body["incident_id"], incident.to_string());
    assert!(photo.body["inspection_id"].is_null());
    let flags = photo.body["flags"].as_array().expect("flags").clone();
    assert!(
        !flags.contains(&serde_json::json!("exif_position_far")),
        "{flags:?}"
    );

    // The second photo, through the field client too: the report completes and syncs so.
    o.client
        .attach_photo(incident, second, &files[1])
        .expect("attach");
    o.client.sync().await.expect("sync");
    assert_eq!(incident_media(&app, incident).await, "complete");
    let synced: serde_json::Value = o
        .client
        .entity("incident", &incident.to_string())
        .expect("read")
        .expect("the report synced back");
    assert_eq!(synced["media_state"], "complete");
    assert!(
        o.client
            .photos()
            .expect("photos")
            .iter()
            .all(|p| p.state == "verified"),
        "the phone's copies went once the server held them"
    );

    // A photo the report did not declare; another officer's report; another county's supervisor.
    let meta = |owner_key: &str, owner: Uuid, photo: Uuid| {
        format!(
            "photo_id {},{owner_key} {},sha256 {}",
            photos::b64(&photo.to_string()),
            photos::b64(&owner.to_string()),
            photos::b64(&sha256_hex(b"x")),
        )
    };
    let create_with = |token: String, m: String| {
        let app = &app;
        async move {
            photos::tus(
                app,
                Method::POST,
                "/v1/uploads",
                &token,
                &[("upload-length", "10".to_string()), ("upload-metadata", m)],
                Vec::new(),
            )
            .await
        }
    };
    let stray = create_with(
        o.token.clone(),
        meta("incident_id", incident, Uuid::now_v7()),
    )
    .await;
    assert_eq!(stray.code(), Some("photo_not_expected"));
    let other = photos::officer(&app, "ph_incident2", Role::Inspector, "dongchangfu").await;
    let theirs = create_with(other.token.clone(), meta("incident_id", incident, first)).await;
    assert_eq!(theirs.code(), Some("incident_not_found"));
    let both = create_with(
        o.token.clone(),
        format!(
            "{},inspection_id {}",
            meta("incident_id", incident, Uuid::now_v7()),
            photos::b64(&Uuid::now_v7().to_string())
        ),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    let sibling = photos::officer(&app, "ph_yanggu_sup", Role::Supervisor, "yanggu").await;
    assert_eq!(
        app.get(&format!("/v1/photos/{first}"), &sibling.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let own_unit = photos::officer(&app, "ph_dcf_sup", Role::Supervisor, "dongchangfu").await;
    assert_eq!(
        app.get(&format!("/v1/photos/{first}"), &own_unit.token)
            .await
            .status,
        StatusCode::OK
    );
    // Every seal checks, the incident's photos' (which seal their incident) among them.
    let (_, seals) = lantian_app::operator::verify_audit(&app.store)
        .await
        .expect("verify");
    assert!(seals.ok(), "{:?}", seals.findings);
    assert!(seals.checked >= 2);
}

async fn incident_media(app: &TestApp, incident: Uuid) -> String {
    app.store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT media_state FROM incidents WHERE uuid = ?1",
                [incident.to_string()],
                |r| r.get::<_, String>(0),
            )?)
        })
        .await
        .expect("media state")
}

/// A photo larger than the review size gets a 1600 px review rendition and a thumbnail, made from
/// a decode at reduced scale, turned upright by its EXIF orientation.
#[tokio::test]
async fn a_large_photo_gets_a_review_rendition_of_the_review_size() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "ph_large", Role::Inspector, "dongchangfu").await;
    let (s, expected) = submitted(&o, 5).await;
    let mut spec = exif_at(s.location.lat, s.location.lon);
    spec.orientation = Some(6);
    let bytes = testing::scene(2400, 1800, 9, Some(&spec));
    let r = upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[0],
        &bytes,
        256 * 1024,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        renditions_settled(&app, &o.token, expected[0]).await,
        "ready"
    );
    // Orientation 6: held upright, so the renditions are portrait.
    for (kind, dims) in [("thumbnail", (240, 320)), ("review", (1200, 1600))] {
        let r = app
            .client
            .get(format!("{}/v1/photos/{}/{kind}", app.base, expected[0]))
            .bearer_auth(&o.token)
            .send()
            .await
            .expect("rendition");
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.bytes().await.expect("body");
        assert_eq!(image_dims(&body), dims, "{kind}");
        assert_ne!(body.as_ref(), &bytes[..]);
    }
}

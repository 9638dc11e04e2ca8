//! Interop with stock clients: tests that run a third-party tool against a real server. They are
//! `#[ignore]`d for a bare `cargo test` (the tools are not Rust); `scripts/test` installs the tools
//! into `target/tools-venv` and runs them with `--ignored`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lantian_domain::user::Role;
use lantian_media::testing::{self, ExifSpec};
use lantian_tests::photos::{self, media_state, sha256_hex};
use lantian_tests::proxy::Proxy;
use lantian_tests::spawn_app;
use object_store::ObjectStoreExt;
use reqwest::StatusCode;

fn tools_python() -> PathBuf {
    if let Ok(p) = std::env::var("INTEROP_PYTHON") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../target/tools-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which installs tuspy there",
        python.display()
    );
    python
}

#[tokio::test]
#[ignore = "needs tuspy from PyPI: scripts/test installs it and runs the interop tests"]
async fn tuspy_uploads_through_a_cut_connection_and_resumes_to_a_verified_photo() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "interop_tuspy", Role::Inspector, "dongchangfu").await;
    let (s, expected) = photos::submitted(&o, 21).await;
    let spec = ExifSpec {
        make: Some("OPPO".into()),
        taken: Some("2026:11:29 09:30:00".into()),
        offset: Some("+08:00".into()),
        gps: Some((s.location.lat, s.location.lon)),
        ..ExifSpec::default()
    };
    let bytes = testing::jpeg(900, 700, Some(&spec));
    assert!(
        bytes.len() > 4 * 32 * 1024,
        "the photo spans several chunks"
    );
    let file = app.dir.path().join("tuspy.jpg");
    std::fs::write(&file, &bytes).expect("photo written");
    let addr: std::net::SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let proxy = Proxy::start(addr, 7).await;
    // tuspy opens a connection per request: creation, then one PATCH per 32 KiB chunk. The third
    // PATCH dies after its headers and ~10 KB of its body.
    proxy.cut_after(3, 10_500);
    let child = tokio::process::Command::new(tools_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/interop/tus_upload.py"
        ))
        .args(["--endpoint", &format!("{}/v1/uploads", proxy.url())])
        .args(["--token", &o.token])
        .arg("--file")
        .arg(&file)
        .args(["--photo-id", &expected[0].to_string()])
        .args(["--inspection-id", &s.inspection_id.to_string()])
        .args(["--sha256", &sha256_hex(&bytes)])
        .args(["--chunk", "32768"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("tuspy finishes within two minutes")
        .expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tuspy failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(proxy.cuts(), 1, "{report}");
    assert!(
        report["cut"].is_string(),
        "the cut reached tuspy as an error: {report}"
    );
    let from = report["resumed_from"].as_u64().expect("resumed_from");
    assert_eq!(
        from,
        2 * 32768,
        "resumed after the two whole chunks: {report}"
    );
    assert_eq!(report["final"].as_u64(), Some(bytes.len() as u64));
    let p = app
        .get(&format!("/v1/photos/{}", expected[0]), &o.token)
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.body["sha256"], sha256_hex(&bytes));
    assert_eq!(p.body["exif"]["make"], "OPPO");
    assert_eq!(p.body["declared_content_type"], "image/jpeg");
    let original = app
        .client
        .get(format!("{}/v1/photos/{}/original", app.base, expected[0]))
        .bearer_auth(&o.token)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(original.as_ref(), &bytes[..]);
    assert_eq!(media_state(&app, s.inspection_id).await, "awaiting_media");
}

#[tokio::test]
#[ignore = "needs pyogrio (GDAL) from PyPI: scripts/test installs it and runs the interop tests"]
async fn gdal_reads_the_geojson_exports_of_subjects_and_inspections() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    let site = app
        .post(
            "/v1/subjects",
            Some(&admin),
            serde_json::json!({"name": "GDAL 工地", "unit": "dongchangfu", "kind": "construction_site",
                   "attributes": {"project_name": "测试"}, "location": {"lat": 36.45, "lon": 115.98},
                   "geometry": {"type": "Polygon", "coordinates": [[[115.979, 36.449], [115.981, 36.449], [115.981, 36.451], [115.979, 36.449]]]}}),
        )
        .await;
    assert_eq!(site.status, StatusCode::CREATED, "{:?}", site.body);
    let o = photos::officer(&app, "interop_gdal", Role::Inspector, "dongchangfu").await;
    for seed in 50..53 {
        photos::submitted(&o, seed).await;
    }
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for (name, path) in [
        ("subjects", "/v1/export/subjects"),
        ("inspections", "/v1/export/inspections"),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("export");
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = r.bytes().await.expect("body");
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        expected.push(doc["features"].as_array().expect("features").len());
        let file = app.dir.path().join(format!("{name}.geojson"));
        std::fs::write(&file, &bytes).expect("write");
        files.push(file);
    }
    assert!(expected[0] > 300 && expected[1] == 3, "{expected:?}");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(tools_python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/gdal_read.py"))
            .args(&files)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("GDAL finishes within two minutes")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "GDAL failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON line per file"))
        .collect();
    assert_eq!(reports.len(), 2);
    for (r, n) in reports.iter().zip(&expected) {
        assert_eq!(r["driver"], "GeoJSON", "{r}");
        assert_eq!(r["features"].as_u64(), Some(*n as u64), "{r}");
        assert_eq!(r["read"].as_u64(), Some(*n as u64), "{r}");
        assert!(
            r["crs"].as_str().is_some_and(|c| c.contains("4326")),
            "RFC 7946 is WGS-84: {r}"
        );
    }
    let fields = |r: &serde_json::Value| -> Vec<String> {
        r["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f.as_str().expect("name").to_owned())
            .collect()
    };
    for f in ["id", "name", "kind", "unit", "attributes"] {
        assert!(
            fields(&reports[0]).contains(&f.to_owned()),
            "subjects lack {f}: {}",
            reports[0]
        );
    }
    for f in [
        "subject_id",
        "verdict",
        "verdict_reasons",
        "occurred_at",
        "sent_datum",
    ] {
        assert!(
            fields(&reports[1]).contains(&f.to_owned()),
            "inspections lack {f}: {}",
            reports[1]
        );
    }
    assert_eq!(reports[1]["geometry_type"], "Point", "{}", reports[1]);
}

#[tokio::test]
#[ignore = "needs openpyxl from PyPI: scripts/test installs it and runs the interop tests"]
async fn openpyxl_reads_the_bulletin_workbook_with_the_same_numbers_as_the_json() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "interop_xlsx", Role::Inspector, "dongchangfu").await;
    for seed in 80..84 {
        photos::submitted(&o, seed).await;
    }
    let month = lantian_tests::this_month();
    lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup");
    let admin = app.demo_token(Role::Admin).await;
    let fetch = |format: &'static str| {
        let (app, admin, month) = (&app, admin.clone(), month.clone());
        async move {
            let r = app
                .client
                .get(format!("{}/v1/bulletins/{month}?format={format}", app.base))
                .bearer_auth(admin)
                .send()
                .await
                .expect("bulletin");
            assert_eq!(r.status(), StatusCode::OK, "{format}");
            r.bytes().await.expect("body")
        }
    };
    let json: serde_json::Value = serde_json::from_slice(&fetch("json").await).expect("json");
    let xlsx = fetch("xlsx").await;
    let file = app.dir.path().join("bulletin.xlsx");
    std::fs::write(&file, &xlsx).expect("write");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(tools_python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/xlsx_read.py"))
            .arg(&file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("openpyxl finishes")
    .expect("python runs");
    assert!(
        out.status.success(),
        "openpyxl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(
        read["sheets"],
        serde_json::json!(["排名", "超期", "返工", "返工明细", "说明"])
    );
    let rows = read["rows"].as_array().expect("rows");
    let expected: Vec<&serde_json::Value> = json["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rows"].as_array().expect("rows").iter())
        .collect();
    assert_eq!(rows.len(), expected.len());
    assert!(
        rows.len() >= 6,
        "the county peer group is ranked: {}",
        rows.len()
    );
    for (x, j) in rows.iter().zip(expected) {
        assert_eq!(x["unit"], j["unit"]);
        assert_eq!(x["name"], j["name"], "Chinese text survives");
        // A unit without work in the month has no score, and says so.
        let no_data = j["no_data"] == true;
        assert_eq!(x["note"] == "无考核数据", no_data, "{}", j["unit"]);
        if no_data {
            assert!(
                x["score"].is_null() || x["score"] == "",
                "{}: {:?}",
                j["unit"],
                x["score"]
            );
        } else {
            assert_eq!(x["score"].as_f64(), j["score"].as_f64(), "{}", j["unit"]);
        }
        for f in [
            "rectification",
            "compliance",
            "coverage",
            "closed",
            "on_time",
            "rework",
            "extension",
            "evidence_quality",
        ] {
            let (a, b) = (
                x[f].as_f64().expect("number"),
                j[f].as_f64().expect("number"),
            );
            assert!(
                (a - b).abs() < 1e-12,
                "{} {f}: xlsx {a} json {b}",
                j["unit"]
            );
        }
        assert_eq!(x["rank"].as_f64(), j["rank"].as_f64());
        assert_eq!(x["inspections"].as_f64(), j["inspections"].as_f64());
    }
    // The CSV starts with a BOM and parses to the same rows.
    let csv = fetch("csv").await;
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&csv[3..]).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected_len(&json) + 1);
    assert!(lines[0].starts_with("组别 group,名次 rank"));
    let html = String::from_utf8(fetch("html").await.to_vec()).expect("html");
    assert!(html.contains("<svg") && html.contains("考评情况的通报"));
}

fn expected_len(json: &serde_json::Value) -> usize {
    json["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["rows"].as_array().expect("rows").len())
        .sum()
}

/// moto's standalone S3 server (from PyPI, in the tools venv) on a free port of 127.0.0.1, with
/// one bucket; killed when dropped.
struct Moto {
    child: tokio::process::Child,
    endpoint: String,
}

impl Moto {
    async fn start(bucket: &str) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = tools_python()
            .parent()
            .expect("venv bin")
            .join("moto_server");
        let child = tokio::process::Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server runs (scripts/test installs moto[server])");
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // Bounded: 100 x 100 ms.
        for _ in 0..100 {
            if let Ok(r) = http.put(format!("{endpoint}/{bucket}")).send().await
                && r.status().is_success()
            {
                return Moto { child, endpoint };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer within 10 s");
    }

    fn settings(&self) -> lantian_media::blob::S3Settings {
        lantian_media::blob::S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("lantian-test".into()),
            secret_access_key: Some("lantian-test-secret".into()),
            allow_http: true,
            virtual_hosted_style: false,
        }
    }
}

/// Photos in S3-compatible object storage (moto's server): chunked tus uploads become originals in
/// the bucket under the deployment's prefix, renditions are made from them, ranges of an original
/// are read back byte-exact, and the photo check finds every original, then one deleted behind the
/// server's back. Against PostgreSQL too when the suite runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's S3 server from PyPI: scripts/test installs it and runs the interop tests"]
async fn photos_in_an_s3_bucket_upload_render_read_by_range_and_are_checked() {
    let moto = Moto::start("lantian-photos").await;
    let settings = moto.settings();
    let app = lantian_tests::spawn_app_with(
        move |c| {
            c.media_url = Some("s3://lantian-photos/liaocheng".into());
            c.s3 = settings;
        },
        true,
    )
    .await;
    let o = photos::officer(&app, "s3_officer", Role::Inspector, "dongchangfu").await;
    let (s, expected) = photos::submitted(&o, 41).await;
    let spec = ExifSpec {
        gps: Some((s.location.lat, s.location.lon)),
        ..ExifSpec::default()
    };
    // The first larger than the review size, so that both renditions are made from the stored
    // original; the others small (their own review image).
    let mut sent = Vec::new();
    for (i, photo) in expected.iter().enumerate() {
        let bytes = if i == 0 {
            testing::jpeg(2400, 1800, Some(&spec))
        } else {
            testing::jpeg(800 + 8 * i as u32, 600, Some(&spec))
        };
        let r = photos::upload(&app, &o.token, s.inspection_id, *photo, &bytes, 64 * 1024).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        sent.push((*photo, bytes));
    }
    let small = sent.last().expect("photos").1.clone();
    assert_eq!(media_state(&app, s.inspection_id).await, "complete");
    let http = reqwest::Client::new();
    // The bucket as an intruder with its keys sees it, past the deployment's prefix.
    let bucket =
        lantian_media::blob::s3_store("s3://lantian-photos", &moto.settings()).expect("bucket");
    for (photo, bytes) in &sent {
        assert_eq!(
            photos::renditions_settled(&app, &o.token, *photo).await,
            "ready"
        );
        // In the bucket, under the prefix, by hash.
        let sha = sha256_hex(bytes);
        let key =
            object_store::path::Path::from(format!("liaocheng/originals/{}/{sha}", &sha[..2]));
        let stored = bucket.get(&key).await.expect("in the bucket");
        assert_eq!(stored.bytes().await.expect("bytes").as_ref(), &bytes[..]);
        // A range of the original through the API.
        let part = http
            .get(format!("{}/v1/photos/{photo}/original", app.base))
            .bearer_auth(&o.token)
            .header("range", "bytes=100-1123")
            .send()
            .await
            .expect("range");
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            part.bytes().await.expect("bytes").as_ref(),
            &bytes[100..1124]
        );
        for rendition in ["thumbnail", "review"] {
            let r = http
                .get(format!("{}/v1/photos/{photo}/{rendition}", app.base))
                .bearer_auth(&o.token)
                .send()
                .await
                .expect("rendition");
            assert_eq!(r.status(), StatusCode::OK, "{rendition} of {photo}");
            assert!(r.bytes().await.expect("bytes").starts_with(&[0xFF, 0xD8]));
        }
    }

    // The photo check lists the bucket and hashes what its slice names.
    let all = lantian::audit::PhotoSlice::All;
    let clean = lantian::audit::verify_photo_files(&app.config, &app.store, all)
        .await
        .expect("check");
    assert!(clean.findings.is_empty(), "{clean:?}");
    assert_eq!(
        (clean.files, clean.hashed_files),
        (sent.len() as u64, sent.len() as u64)
    );
    let gone = sha256_hex(&small);
    bucket
        .delete(&object_store::path::Path::from(format!(
            "liaocheng/originals/{}/{gone}",
            &gone[..2]
        )))
        .await
        .expect("deleted behind the server's back");
    let after = lantian::audit::verify_photo_files(&app.config, &app.store, all)
        .await
        .expect("check");
    assert_eq!(after.findings.len(), 1, "{after:?}");
    assert_eq!(
        (after.findings[0].sha256.as_str(), after.findings[0].problem),
        (gone.as_str(), "missing")
    );
    drop(moto.child);
}

//! Photo test support: an officer with a submitted inspection, and tus requests made by hand so a
//! test controls every header and byte.

use std::time::Duration;

use base64::Engine;
use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::inspection;
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::Subject;
use lantian_domain::user::Role;
use reqwest::{Method, StatusCode};
use sha1::Digest;
use uuid::Uuid;

use crate::{Reply, TestApp};

pub const PASSWORD: &str = "photo-test-password";

/// An officer's install, logged in and pulled.
pub struct Officer {
    pub client: Client,
    pub token: String,
    pub username: String,
}

/// Adds a user of `role` in `unit` and opens an install for them under the app's data folder.
pub async fn officer(app: &TestApp, username: &str, role: Role, unit: &str) -> Officer {
    app.add_user(username, role, unit, PASSWORD).await;
    let mut cfg = ClientConfig::new(app.base.clone());
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_cap = Duration::from_millis(50);
    cfg.upload_chunk = 64 * 1024;
    let client = Client::open(&app.dir.path().join(format!("{username}.client.db")), cfg)
        .expect("client opens");
    client.login(username, PASSWORD).await.expect("login");
    client.pull().await.expect("first pull");
    let token = app.tokens(username, PASSWORD).await.access_token;
    Officer {
        client,
        token,
        username: username.to_owned(),
    }
}

/// An inspection by `o` of a subject in its unit, with at least one item photo besides the
/// signature, pushed to the server. Returns it and the photos it expects.
pub async fn submitted(o: &Officer, seed: u64) -> (InspectionSubmit, Vec<Uuid>) {
    submitted_in(o, seed, None).await
}

/// [`submitted`], of a subject in exactly `unit` when given.
pub async fn submitted_in(
    o: &Officer,
    seed: u64,
    unit: Option<&str>,
) -> (InspectionSubmit, Vec<Uuid>) {
    let s = draft_in(o, seed, unit);
    submit(o, &s).await;
    let expected = inspection::expected_photos(&s.results, s.signature_photo_id)
        .expect("photos")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    (s, expected)
}

/// A valid inspection by `o` (not queued), with at least one item photo.
pub fn draft(o: &Officer, seed: u64) -> InspectionSubmit {
    draft_in(o, seed, None)
}

/// [`draft`], of a subject in exactly `unit` when given.
pub fn draft_in(o: &Officer, seed: u64, unit: Option<&str>) -> InspectionSubmit {
    let templates = sim::latest_templates(&o.client).expect("templates");
    let subjects: Vec<Subject> = o
        .client
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .filter(|s: &Subject| s.location.is_some() && unit.is_none_or(|u| s.unit == u))
        .collect();
    assert!(!subjects.is_empty(), "the officer sees subjects");
    let mut rng = Rng(seed.max(1));
    for _ in 0..500 {
        let subject = &subjects[rng.below(subjects.len())];
        let Some(t) = templates
            .iter()
            .find(|t| t.subject_kind == subject.attributes.kind())
        else {
            continue;
        };
        let s = sim::random_inspection(&mut rng, subject, t, None);
        if s.results.iter().any(|r| !r.photos.is_empty()) {
            return s;
        }
    }
    panic!("no inspection with an item photo in 500 draws");
}

/// Queues and pushes `s`; it must be applied.
pub async fn submit(o: &Officer, s: &InspectionSubmit) {
    o.client.submit_inspection(s).expect("queued");
    let summary = o.client.push().await.expect("pushed");
    assert_eq!(summary.applied, 1, "{summary:?}");
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn sha1_header(chunk: &[u8]) -> String {
    format!(
        "sha1 {}",
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(chunk))
    )
}

/// Sends a tus request with raw bytes.
pub async fn tus(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

/// Creates the upload of `photo` (declaring `declared_sha` for `len` bytes); returns the reply.
pub async fn create(
    app: &TestApp,
    token: &str,
    inspection: Uuid,
    photo: Uuid,
    len: usize,
    declared_sha: &str,
) -> Reply {
    let meta = format!(
        "photo_id {},inspection_id {},sha256 {},content_type {},filename {}",
        b64(&photo.to_string()),
        b64(&inspection.to_string()),
        b64(declared_sha),
        b64("image/jpeg"),
        b64("现场.jpg")
    );
    tus(
        app,
        Method::POST,
        "/v1/uploads",
        token,
        &[
            ("upload-length", len.to_string()),
            ("upload-metadata", meta),
        ],
        Vec::new(),
    )
    .await
}

/// The path of a created upload (`Location`).
pub fn location(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned()
}

pub fn offset_of(r: &Reply) -> u64 {
    r.headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Upload-Offset")
}

/// One PATCH at `offset` with a sha1 checksum of `chunk` (or `checksum` when given).
pub async fn patch(
    app: &TestApp,
    token: &str,
    path: &str,
    offset: u64,
    chunk: &[u8],
    checksum: Option<String>,
) -> Reply {
    let mut headers = vec![
        ("upload-offset", offset.to_string()),
        ("content-type", "application/offset+octet-stream".to_owned()),
    ];
    headers.push((
        "upload-checksum",
        checksum.unwrap_or_else(|| sha1_header(chunk)),
    ));
    tus(app, Method::PATCH, path, token, &headers, chunk.to_vec()).await
}

pub async fn head(app: &TestApp, token: &str, path: &str) -> Reply {
    tus(app, Method::HEAD, path, token, &[], Vec::new()).await
}

/// Uploads `bytes` as `photo` in `chunk`-byte PATCHes; returns the last reply.
pub async fn upload(
    app: &TestApp,
    token: &str,
    inspection: Uuid,
    photo: Uuid,
    bytes: &[u8],
    chunk: usize,
) -> Reply {
    let created = create(
        app,
        token,
        inspection,
        photo,
        bytes.len(),
        &sha256_hex(bytes),
    )
    .await;
    let path = location(&created);
    let mut offset = offset_of(&created);
    let mut last = created;
    while (offset as usize) < bytes.len() {
        let end = (offset as usize + chunk).min(bytes.len());
        last = patch(
            app,
            token,
            &path,
            offset,
            &bytes[offset as usize..end],
            None,
        )
        .await;
        if last.status != StatusCode::NO_CONTENT {
            return last;
        }
        offset = offset_of(&last);
    }
    last
}

/// Waits (bounded: 200 x 50 ms) until the photo's renditions are no longer pending.
pub async fn renditions_settled(app: &TestApp, token: &str, photo: Uuid) -> String {
    for _ in 0..200 {
        let r = app.get(&format!("/v1/photos/{photo}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let state = r.body["renditions"]
            .as_str()
            .expect("renditions")
            .to_owned();
        if state != "pending" {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("renditions of {photo} still pending after 10 s");
}

/// The media state of an inspection, as the server holds it.
pub async fn media_state(app: &TestApp, inspection: Uuid) -> String {
    app.store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT media_state FROM inspections WHERE uuid = ?1",
                [inspection.to_string()],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("media state")
}

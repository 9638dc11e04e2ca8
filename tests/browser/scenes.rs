//! What the browser tests start from: a demo server with an officer and a supervisor in one
//! county and a supervisor in another, inspections with real photos (JPEGs with EXIF, uploaded by
//! the reference client over tus), hostile text typed where officers type, a forged page on
//! another origin, and a session signed in without a browser.

use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_domain::inspection::{self, Answer};
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::Subject;
use lantian_domain::user::Role;
use lantian_media::testing::{ExifSpec, jpeg};
use lantian_tests::browser::Browser;
use lantian_tests::photos::{self, Officer, PASSWORD};
use lantian_tests::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// The county of the other supervisor.
pub const OTHER_COUNTY: &str = "linqing";
pub const HOSTILE_NAME: &str =
    "光岳路工地<script>window.__pwned=1</script>\"><img src=x onerror=\"window.__pwned=2\">";
pub const HOSTILE_NOTES: &str =
    "\"><img src=x onerror=window.__pwned=3><script>window.__pwned=4</script> 现场无人";
pub const HOSTILE_LINK: &str = "javascript:window.__pwned=5";

pub struct Scene {
    pub app: TestApp,
    /// An officer of dongchangfu with an install.
    pub officer: Officer,
}

impl Scene {
    pub async fn new() -> Scene {
        let app = spawn_app_with(|_| {}, true).await;
        let officer = photos::officer(&app, "field_a", Role::Inspector, "dongchangfu").await;
        app.add_user("sup_a", Role::Supervisor, "dongchangfu", PASSWORD)
            .await;
        app.add_user("sup_b", Role::Supervisor, OTHER_COUNTY, PASSWORD)
            .await;
        Scene { app, officer }
    }
}

/// Signs `username` in through the console's form, as a person would.
pub async fn sign_in(b: &Browser, base: &str, username: &str) {
    b.goto(&format!("{base}/console/login")).await;
    let u = b.find("#username").await;
    b.type_into(&u, username).await;
    let p = b.find("#password").await;
    b.type_into(&p, PASSWORD).await;
    let submit = b.find(".login button[type='submit']").await;
    b.click(&submit).await;
    b.wait_url("a console page after signing in", |u| {
        u.contains("/console/") && !u.contains("/console/login")
    })
    .await;
}

/// Attaches a JPEG with EXIF (taken when and where the form says) for every photo `s` expects,
/// and uploads them; waits until their renditions are made. Returns the photo ids.
pub async fn attach_and_upload(app: &TestApp, o: &Officer, s: &InspectionSubmit) -> Vec<Uuid> {
    let expected: Vec<Uuid> = inspection::expected_photos(&s.results, s.signature_photo_id)
        .expect("photos")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let taken = s
        .started_at
        .unwrap_or_else(chrono::Utc::now)
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("cst"))
        .format("%Y:%m:%d %H:%M:%S")
        .to_string();
    let dir = tempfile::tempdir().expect("photo folder");
    for (i, id) in expected.iter().enumerate() {
        let bytes = jpeg(
            800 + i as u32,
            600,
            Some(&ExifSpec {
                make: Some("HUAWEI".into()),
                model: Some("P40".into()),
                orientation: Some(1),
                taken: Some(taken.clone()),
                offset: Some("+08:00".into()),
                gps: Some((s.location.lat, s.location.lon)),
                ..ExifSpec::default()
            }),
        );
        let path = dir.path().join(format!("{id}.jpg"));
        std::fs::write(&path, bytes).expect("photo written");
        o.client
            .attach_photo(s.inspection_id, *id, &path)
            .expect("attached");
    }
    o.client.upload_photos().await.expect("uploaded");
    for id in &expected {
        assert_eq!(
            photos::renditions_settled(app, &o.token, *id).await,
            "ready"
        );
    }
    expected
}

/// Makes the first pass/fail item that carries a photo fail; returns its code.
fn fail_an_item(s: &mut InspectionSubmit) -> Option<String> {
    let r = s
        .results
        .iter_mut()
        .find(|r| !r.photos.is_empty() && matches!(r.answer, Answer::Pass | Answer::Fail))?;
    r.answer = Answer::Fail;
    Some(r.item.clone())
}

/// An inspection by `o` with a failed item and photos (with EXIF), pushed and uploaded by the
/// reference client. Returns its id, the failed item and the photo ids.
pub async fn inspection_with_photos(
    app: &TestApp,
    o: &Officer,
    seed: u64,
) -> (Uuid, String, Vec<Uuid>) {
    for k in 0..50 {
        let mut s = photos::draft(o, seed * 100 + k);
        let Some(item) = fail_an_item(&mut s) else {
            continue;
        };
        photos::submit(o, &s).await;
        let ids = attach_and_upload(app, o, &s).await;
        return (s.inspection_id, item, ids);
    }
    panic!("no draft with a pass/fail item photo in 50 tries");
}

/// A subject named with markup, an inspection of it with notes and an item note that are
/// markup and a `javascript:` link, and an order opened from it. Returns (inspection, order).
pub async fn hostile_inspection(scene: &Scene) -> (Uuid, Uuid) {
    let app = &scene.app;
    let admin = app.demo_token(Role::Admin).await;
    let created = app
        .post(
            "/v1/subjects",
            Some(&admin),
            json!({"name": HOSTILE_NAME, "unit": "dongchangfu", "kind": "construction_site",
                   "attributes": {"project_name": HOSTILE_NOTES, "linear": false},
                   "location": {"lat": 36.45, "lon": 115.99}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let subject_id = created.body["id"].as_str().expect("id").to_owned();
    let o = &scene.officer;
    o.client.pull().await.expect("pull");
    let subject: Subject = o
        .client
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .find(|v| v["id"] == json!(subject_id))
        .map(|v| serde_json::from_value(v).expect("subject"))
        .expect("the officer sees the new subject");
    let t = sim::latest_templates(&o.client)
        .expect("templates")
        .into_iter()
        .find(|t| t.subject_kind == subject.attributes.kind())
        .expect("template");
    let mut s = sim::random_inspection(&mut Rng(77), &subject, &t, None);
    s.notes = Some(HOSTILE_NOTES.to_owned());
    let r = s
        .results
        .iter_mut()
        .find(|r| matches!(r.answer, Answer::Pass | Answer::Fail))
        .expect("a pass/fail item");
    r.answer = Answer::Fail;
    r.note = Some(HOSTILE_LINK.to_owned());
    if r.photos.is_empty() {
        r.photos.push(Uuid::now_v7());
    }
    let item = r.item.clone();
    photos::submit(o, &s).await;
    attach_and_upload(app, o, &s).await;
    let order = open_order_item(app, "sup_a", s.inspection_id, &item).await;
    (s.inspection_id, order)
}

/// `username` (a supervisor) opens an order for `item` of `inspection` through the API.
pub async fn open_order_item(app: &TestApp, username: &str, inspection: Uuid, item: &str) -> Uuid {
    let token = app.tokens(username, PASSWORD).await.access_token;
    let r = app
        .post(
            "/v1/rectifications",
            Some(&token),
            json!({"inspection_id": inspection, "item": item}),
        )
        .await;
    if r.status == StatusCode::CONFLICT {
        // Opened already (a failed critical item opens its order on arrival).
        let list = app.get("/v1/rectifications?limit=200", &token).await;
        return list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|o| o["inspection_id"] == json!(inspection) && o["item"] == json!(item))
            .and_then(|o| o["id"].as_str())
            .map(|s| Uuid::parse_str(s).expect("uuid"))
            .expect("the existing order");
    }
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    Uuid::parse_str(r.body["id"].as_str().expect("id")).expect("uuid")
}

/// An order on the first failed item of `inspection`, opened by `username`.
pub async fn open_order_as(app: &TestApp, username: &str, inspection: Uuid) -> Uuid {
    let token = app.tokens(username, PASSWORD).await.access_token;
    let v = app
        .get(&format!("/v1/inspections/{inspection}"), &token)
        .await;
    let item = v.body["score"]["failed"][0]
        .as_str()
        .expect("a failed item")
        .to_owned();
    open_order_item(app, username, inspection, &item).await
}

/// A console session of `username` (password [`PASSWORD`]), signed in without a browser.
pub async fn session_cookie(app: &TestApp, username: &str) -> String {
    lantian_tests::console::session_cookie(app, username, PASSWORD).await
}

/// GET `path` with the session cookie: status and body.
pub async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    lantian_tests::console::get(app, path, cookie).await
}

pub async fn review_state(app: &TestApp, id: Uuid) -> String {
    app.store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT review_state FROM inspections WHERE uuid = ?1",
                [id.to_string()],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("state")
}

/// A page on another origin (another port of 127.0.0.1) that posts a decision to `target` as
/// soon as it loads.
pub struct EvilPage {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl EvilPage {
    pub fn stop(self) {
        self.task.abort();
    }
}

pub async fn evil_page(target: &str) -> EvilPage {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let html = format!(
        "<!DOCTYPE html><html><body><form id=\"f\" method=\"post\" action=\"{target}\">\
         <input name=\"csrf\" value=\"guessed\"><input name=\"expected_state\" value=\"received\">\
         <input name=\"decision\" value=\"approved\"></form>\
         <script>document.getElementById('f').submit();</script></body></html>"
    );
    let task = tokio::spawn(async move {
        for _ in 0..20 {
            let Ok(Ok((mut s, _))) =
                tokio::time::timeout(Duration::from_secs(60), listener.accept()).await
            else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    EvilPage { url, task }
}

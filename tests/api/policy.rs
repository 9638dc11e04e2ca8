//! The authorization policy walked in full over HTTP: every role, against objects in its own unit,
//! a child unit, a sibling unit and the parent, for every route. The expected matrix is written out
//! here by hand, not computed from the policy code it checks.

use std::collections::BTreeSet;

use lantian_domain::subject::{
    GeoPoint, Restaurant, RestaurantGrade, SubjectAttributes, SubjectDraft,
};
use lantian_domain::user::Role;
use lantian_tests::{TestApp, photos, spawn_app, this_month};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const ROLES: [Role; 6] = [
    Role::Inspector,
    Role::Supervisor,
    Role::Assessor,
    Role::UnitAdmin,
    Role::Admin,
    Role::Viewer,
];
const PASSWORD: &str = "policy-walk-password";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rel {
    Own,
    Child,
    Sibling,
    Parent,
}

impl Rel {
    fn unit(self) -> &'static str {
        match self {
            Rel::Own => "dongchangfu",
            Rel::Child => "dongchangfu_gulou",
            Rel::Sibling => "yanggu",
            Rel::Parent => "lcucb",
        }
    }
}

const RELS: [Rel; 4] = [Rel::Own, Rel::Child, Rel::Sibling, Rel::Parent];

/// Expected status per role, in the order of `ROLES`, for objects inside the caller's subtree.
/// Outside it (sibling, parent) every role gets 404.
const OBJECT_ROUTES: &[(&str, &str, [u16; 6])] = &[
    ("GET", "/v1/units/{code}", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subjects?unit", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subjects/{id}", [200, 200, 200, 200, 200, 200]),
    ("PUT", "/v1/subjects/{id}", [403, 403, 403, 200, 200, 403]),
    ("POST", "/v1/subjects", [403, 403, 403, 201, 201, 403]),
    // Photos follow their inspection (by an officer of that unit): officers see only their own,
    // unit admins manage reference data, not evidence.
    ("GET", "/v1/photos/{id}", [404, 200, 200, 404, 200, 200]),
    (
        "GET",
        "/v1/photos/{id}/original",
        [404, 200, 200, 404, 200, 200],
    ),
    (
        "GET",
        "/v1/photos/{id}/thumbnail",
        [404, 200, 200, 404, 200, 200],
    ),
    (
        "GET",
        "/v1/photos/{id}/review",
        [404, 200, 200, 404, 200, 200],
    ),
    (
        "GET",
        "/v1/photos/by-hash/{sha256}",
        [404, 200, 200, 404, 200, 200],
    ),
    // Inspections: visible like their photos; decisions and orders for those who supervise. Bodies
    // that fail validation (a decision without its comment, an item that did not fail, an empty
    // note or reason) show that authorization passed without changing anything.
    (
        "GET",
        "/v1/inspections/{id}",
        [404, 200, 200, 404, 200, 200],
    ),
    (
        "POST",
        "/v1/inspections/{id}/review",
        [404, 422, 422, 404, 422, 403],
    ),
    ("POST", "/v1/rectifications", [404, 422, 422, 404, 422, 403]),
    (
        "GET",
        "/v1/rectifications/{id}",
        [200, 200, 200, 200, 200, 200],
    ),
    // Answering for an order is the responsible unit's own: see CHILD_ROUTES.
    (
        "POST",
        "/v1/rectifications/{id}/handled",
        [422, 422, 422, 422, 422, 403],
    ),
    (
        "POST",
        "/v1/rectifications/{id}/requests",
        [422, 422, 422, 422, 422, 403],
    ),
    (
        "POST",
        "/v1/rectifications/{id}/requests/decision",
        [403, 409, 409, 403, 409, 403],
    ),
    // Uploads belong to the officer who created them: nobody else, whatever the role.
    ("POST", "/v1/uploads", [404, 404, 404, 404, 404, 404]),
    ("HEAD", "/v1/uploads/{id}", [404, 404, 404, 404, 404, 404]),
    ("PATCH", "/v1/uploads/{id}", [404, 404, 404, 404, 404, 404]),
    ("DELETE", "/v1/uploads/{id}", [404, 404, 404, 404, 404, 404]),
    // A user's app installs, managed by unit admins and admins of the user's subtree (and by the
    // user, not walked here). Revoking last: the fixture's author needs its install before.
    // A fixture's officer disabled, then enabled again, given the role they have and moved to
    // the unit they are in: every step allowed to those who manage users, and no fixture broken.
    (
        "POST",
        "/v1/users/{user_id}/disable",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "POST",
        "/v1/users/{user_id}/enable",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "PUT",
        "/v1/users/{user_id}/role",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "PUT",
        "/v1/users/{user_id}/unit",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "GET",
        "/v1/users/{user_id}/clients",
        [403, 403, 403, 200, 200, 403],
    ),
    // A fresh login of the fixture's author per call: listed, then ended.
    (
        "GET",
        "/v1/users/{user_id}/sessions",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "POST",
        "/v1/users/{user_id}/sessions/{session_id}/revoke",
        [403, 403, 403, 204, 204, 403],
    ),
    // After the walk's own logins of the author: a reset ends them and makes the password a
    // one-time one.
    (
        "POST",
        "/v1/users/{user_id}/password-reset",
        [403, 403, 403, 200, 200, 403],
    ),
    (
        "POST",
        "/v1/users/{user_id}/clients/{client_id}/revoke",
        [403, 403, 403, 200, 200, 403],
    ),
];

/// Routes whose answer on an object of a child unit differs from the answer on one of the
/// caller's own unit: actions that reach the own unit only (the policy's `Reach::OwnUnit`). A
/// bureau-level user sees a county's order but does not report it handled or ask for time.
const CHILD_ROUTES: &[(&str, &str, [u16; 6])] = &[
    (
        "POST",
        "/v1/rectifications/{id}/handled",
        [403, 403, 403, 403, 403, 403],
    ),
    (
        "POST",
        "/v1/rectifications/{id}/requests",
        [403, 403, 403, 403, 403, 403],
    ),
];

/// Routes that change global objects, walked again by users of the root unit (the policy's
/// `Reach::Root`): only from there does an admin publish what every county receives.
const ROOT_ROUTES: &[(&str, &str, [u16; 6])] = &[
    (
        "POST",
        "/v1/templates/{code}/versions",
        [403, 403, 403, 403, 201, 403],
    ),
    ("POST", "/v1/campaigns", [403, 403, 403, 403, 201, 403]),
    (
        "PUT",
        "/v1/campaigns/{code}",
        [403, 403, 403, 403, 200, 403],
    ),
    // Webhooks hear the whole deployment: managed from the root only.
    ("GET", "/v1/webhooks", [403, 403, 403, 403, 200, 403]),
    ("POST", "/v1/webhooks", [403, 403, 403, 403, 201, 403]),
    (
        "GET",
        "/v1/webhooks/{webhook_id}/deliveries",
        [403, 403, 403, 403, 200, 403],
    ),
    (
        "POST",
        "/v1/webhooks/{webhook_id}/end",
        [403, 403, 403, 403, 200, 403],
    ),
    // The walk's endpoint has no given-up delivery: the admin may, and finds none.
    (
        "POST",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        [403, 403, 403, 403, 404, 403],
    ),
];

/// A campaign over the calendar year `year`, with the reference campaign's rules.
fn campaign_body(code: &str, year: i32) -> Value {
    let mut c = lantian_domain::reference::liaocheng()
        .expect("reference")
        .campaign;
    c.code = code.into();
    c.starts_on = chrono::NaiveDate::from_ymd_opt(year, 1, 1).expect("day");
    c.ends_on = chrono::NaiveDate::from_ymd_opt(year, 12, 31).expect("day");
    serde_json::to_value(c).expect("json")
}

/// Routes on global objects (or the caller's own subtree as a whole), walked by users of a county.
const GLOBAL_ROUTES: &[(&str, &str, [u16; 6])] = &[
    ("GET", "/v1/me", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/users", [403, 403, 403, 200, 200, 403]),
    ("POST", "/v1/users", [403, 403, 403, 201, 201, 403]),
    ("GET", "/v1/units", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subjects", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subjects/nearby", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/departments", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/campaigns", [200, 200, 200, 200, 200, 200]),
    // Campaigns are changed only from the root: see ROOT_ROUTES.
    ("POST", "/v1/campaigns", [403, 403, 403, 403, 403, 403]),
    (
        "PUT",
        "/v1/campaigns/{code}",
        [403, 403, 403, 403, 403, 403],
    ),
    (
        "GET",
        "/v1/campaigns/{code}",
        [200, 200, 200, 200, 200, 200],
    ),
    ("GET", "/v1/templates", [200, 200, 200, 200, 200, 200]),
    (
        "GET",
        "/v1/templates/{code}/versions",
        [200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/v1/templates/{code}/versions/{version}",
        [200, 200, 200, 200, 200, 200],
    ),
    // A county's admin sees the city's templates but publishes none: see ROOT_ROUTES.
    (
        "POST",
        "/v1/templates/{code}/versions",
        [403, 403, 403, 403, 403, 403],
    ),
    ("POST", "/v1/clients", [201, 201, 201, 201, 201, 201]),
    ("GET", "/v1/export/subjects", [200, 200, 200, 200, 200, 200]),
    // Officers export their own inspections; unit admins do not see evidence.
    (
        "GET",
        "/v1/export/inspections",
        [200, 200, 200, 403, 200, 200],
    ),
    ("GET", "/v1/coverage", [403, 200, 200, 403, 200, 200]),
    ("GET", "/v1/review/queue", [403, 200, 200, 403, 200, 403]),
    (
        "GET",
        "/v1/assessment/{month}",
        [403, 200, 200, 403, 200, 200],
    ),
    (
        "GET",
        "/v1/bulletins/{month}",
        [403, 200, 200, 403, 200, 200],
    ),
    // From a county, nobody manages the deployment's webhooks: see ROOT_ROUTES.
    ("GET", "/v1/webhooks", [403, 403, 403, 403, 403, 403]),
    ("POST", "/v1/webhooks", [403, 403, 403, 403, 403, 403]),
    (
        "GET",
        "/v1/webhooks/{webhook_id}/deliveries",
        [403, 403, 403, 403, 403, 403],
    ),
    (
        "POST",
        "/v1/webhooks/{webhook_id}/end",
        [403, 403, 403, 403, 403, 403],
    ),
    (
        "POST",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        [403, 403, 403, 403, 403, 403],
    ),
    // Assessors (and admins) compute the month's provisional figures on demand.
    (
        "POST",
        "/v1/assessment/{month}/provisional",
        [403, 403, 200, 403, 200, 403],
    ),
    ("GET", "/v1/rectifications", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/alerts", [200, 200, 200, 200, 200, 200]),
    ("POST", "/v1/alerts", [403, 403, 403, 403, 201, 403]),
    // Lifting the walk's running alert over the caller's county: the admin lifts it.
    (
        "POST",
        "/v1/alerts/{id}/end",
        [403, 403, 403, 403, 200, 403],
    ),
    (
        "GET",
        "/v1/rectifications/stats",
        [403, 200, 200, 403, 200, 200],
    ),
    ("POST", "/v1/sync/push", [200, 200, 200, 200, 200, 200]),
    ("POST", "/v1/sync/pull", [200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/sync/status", [200, 200, 200, 200, 200, 200]),
];

/// Routes that need no token.
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/password"),
    ("POST", "/v1/auth/challenge"),
    ("POST", "/v1/auth/install"),
    ("HEAD", "/v1/sync"),
    ("OPTIONS", "/v1/uploads"),
];

fn restaurant_fields(unit: &str) -> Value {
    json!({"name": "策略测试饭店", "unit": unit, "kind": "restaurant", "attributes": {"grade": "b"},
           "location": {"lat": 36.44, "lon": 115.98}})
}

async fn subject_in(app: &TestApp, unit: &str) -> Uuid {
    let id = Uuid::now_v7();
    let draft = SubjectDraft {
        name: format!("{unit} 的饭店"),
        unit: unit.to_owned(),
        attributes: SubjectAttributes::Restaurant(Restaurant {
            grade: RestaurantGrade::A,
            licence_number: None,
            seats: None,
        }),
        location: Some(GeoPoint {
            lat: 36.44,
            lon: 115.98,
        }),
        geometry: None,
        on_ledger_since: None,
    };
    app.store
        .write(move |c| {
            lantian_store::subjects::insert(c, lantian_store::sync::Group::new(), id, draft)
                .map(|_| ())
        })
        .await
        .expect("subject inserted");
    id
}

async fn version_of(app: &TestApp, id: Uuid) -> i64 {
    app.store
        .read(move |c| {
            Ok(lantian_store::subjects::get(c, id)?
                .expect("exists")
                .subject
                .version)
        })
        .await
        .expect("version")
}

fn template_draft() -> Value {
    json!({"subject_kind": "bare_land", "title_zh": "裸土检查", "title_en": "Bare land",
           "items": [{"code": "BL1", "label_zh": "已苫盖", "label_en": "Covered", "weight": 100, "critical": true,
                      "answer": {"kind": "pass_fail", "allow_na": false}}]})
}

/// Per relation: a subject, and an inspection by an officer of that unit with one verified photo
/// and one upload in progress.
struct Fixture {
    rel: Rel,
    subject: Uuid,
    inspection: Uuid,
    photo: Uuid,
    photo_sha: String,
    pending_photo: Uuid,
    upload_path: String,
    order: Uuid,
    /// A running alert over the fixture's unit, declared by the demo admin once every fixture's
    /// inspections are in (an alert makes the emergency items required).
    alert: Uuid,
    /// The author (a user of the fixture's unit) and their app install.
    author: Uuid,
    install: Uuid,
}

async fn fixture(app: &TestApp, rel: Rel) -> Fixture {
    let subject = subject_in(app, rel.unit()).await;
    let author = photos::officer(
        app,
        &format!("author_{}", rel.unit()),
        Role::Inspector,
        rel.unit(),
    )
    .await;
    let (s, expected) = photos::submitted_in(&author, 40 + rel as u64, Some(rel.unit())).await;
    let bytes = lantian_media::testing::jpeg(400 + rel as u32 * 8, 300, None);
    let r = photos::upload(
        app,
        &author.token,
        s.inspection_id,
        expected[0],
        &bytes,
        64 * 1024,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        photos::renditions_settled(app, &author.token, expected[0]).await,
        "ready"
    );
    let created = photos::create(
        app,
        &author.token,
        s.inspection_id,
        expected[1],
        bytes.len(),
        &photos::sha256_hex(&bytes),
    )
    .await;
    let failed = s
        .results
        .iter()
        .find(|r| !r.photos.is_empty())
        .expect("a failed item with a photo")
        .item
        .clone();
    let inspection = s.inspection_id;
    let order = app
        .store
        .write(move |c| {
            let policy = lantian_domain::rectification::RectifyPolicy::default();
            match lantian_store::rectify::open(
                c,
                lantian_store::sync::Group::new(),
                inspection,
                &failed,
                None,
                "system",
                &policy,
            ) {
                Ok(v) => Ok(v.id),
                Err(lantian_store::StoreError::Conflict("order_exists")) => {
                    Ok(c.raw().query_row(
                        "SELECT r.uuid FROM rectifications r JOIN inspections i ON i.id = r.inspection_id
                         WHERE i.uuid = ?1 AND r.item = ?2",
                        [inspection.to_string(), failed.clone()],
                        |r| r.get::<_, String>(0),
                    )?
                    .parse()
                    .map_err(|_| lantian_store::StoreError::Corrupt("uuid".into()))?)
                }
                Err(e) => Err(e),
            }
        })
        .await
        .expect("an order for the fixture");
    let username = format!("author_{}", rel.unit());
    let author_id = app
        .store
        .read(move |c| lantian_store::identity::user_by_username(c, &username))
        .await
        .expect("read")
        .expect("author")
        .uuid;
    Fixture {
        rel,
        order,
        alert: Uuid::nil(),
        author: author_id,
        install: author.client.client_id(),
        subject,
        inspection: s.inspection_id,
        photo: expected[0],
        photo_sha: photos::sha256_hex(&bytes),
        pending_photo: expected[1],
        upload_path: photos::location(&created),
    }
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    route: &str,
    rel: Option<Rel>,
    fixtures: &[Fixture],
) -> StatusCode {
    let fx = |r: Rel| {
        fixtures
            .iter()
            .find(|f| f.rel == r)
            .expect("fixture per relation")
    };
    let id_of = |r: Rel| fx(r).subject;
    let tus = [("tus-resumable", "1.0.0")];
    if route.starts_with("/v1/uploads") {
        let f = fx(rel.expect("rel"));
        let (m, path, headers): (Method, String, Vec<(&str, String)>) = match (method, route) {
            ("POST", _) => (
                Method::POST,
                route.to_owned(),
                vec![
                    ("upload-length", "1000".to_owned()),
                    (
                        "upload-metadata",
                        format!(
                            "photo_id {},inspection_id {},sha256 {}",
                            photos::b64(&f.pending_photo.to_string()),
                            photos::b64(&f.inspection.to_string()),
                            photos::b64(&f.photo_sha)
                        ),
                    ),
                ],
            ),
            ("PATCH", _) => (
                Method::PATCH,
                f.upload_path.clone(),
                vec![
                    ("upload-offset", "0".to_owned()),
                    ("content-type", "application/offset+octet-stream".to_owned()),
                ],
            ),
            ("HEAD", _) => (Method::HEAD, f.upload_path.clone(), vec![]),
            ("DELETE", _) => (Method::DELETE, f.upload_path.clone(), vec![]),
            other => panic!("no request for {other:?}"),
        };
        let mut hs: Vec<(&str, &str)> = tus.to_vec();
        hs.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        return app.request(m, &path, token, None, &hs).await.status;
    }
    let (m, path, body, if_match): (Method, String, Option<Value>, Option<String>) = match (
        method, route,
    ) {
        ("POST", "/v1/users/{user_id}/disable") | ("POST", "/v1/users/{user_id}/enable") => (
            Method::POST,
            route.replace("{user_id}", &fx(rel.expect("rel")).author.to_string()),
            Some(json!({})),
            None,
        ),
        ("PUT", "/v1/users/{user_id}/role") => (
            Method::PUT,
            route.replace("{user_id}", &fx(rel.expect("rel")).author.to_string()),
            Some(json!({"role": "inspector"})),
            None,
        ),
        ("PUT", "/v1/users/{user_id}/unit") => {
            let r = rel.expect("rel");
            (
                Method::PUT,
                route.replace("{user_id}", &fx(r).author.to_string()),
                Some(json!({"unit": r.unit()})),
                None,
            )
        }
        ("POST", "/v1/webhooks") => (
            Method::POST,
            route.to_owned(),
            Some(json!({"url": "http://127.0.0.1:9/walk", "events": ["alert.declared"]})),
            None,
        ),
        ("GET", "/v1/webhooks") => (Method::GET, route.to_owned(), None, None),
        (_, r) if r.starts_with("/v1/webhooks/{webhook_id}") => {
            // A fresh endpoint per call, made in the store.
            let id = Uuid::now_v7();
            app.store
                .write(move |c| {
                    lantian_store::webhooks::create(
                        c,
                        &lantian_store::webhooks::NewWebhook {
                            id,
                            url: "http://127.0.0.1:9/walk".into(),
                            secret: "walk-secret".into(),
                            events: vec!["alert.declared".into()],
                            description: None,
                            created_by: "walk".into(),
                        },
                    )
                    .map(|_| ())
                })
                .await
                .expect("an endpoint");
            let path = r
                .replace("{webhook_id}", &id.to_string())
                .replace("{delivery_id}", "1");
            let m = if method == "GET" {
                Method::GET
            } else {
                Method::POST
            };
            let body = (method == "POST").then(|| json!({}));
            (m, path, body, None)
        }
        ("POST", "/v1/assessment/{month}/provisional") => (
            Method::POST,
            format!("/v1/assessment/{}/provisional", this_month()),
            Some(json!({})),
            None,
        ),
        ("GET", "/v1/users/{user_id}/sessions") => (
            Method::GET,
            format!("/v1/users/{}/sessions", fx(rel.expect("rel")).author),
            None,
            None,
        ),
        ("POST", "/v1/users/{user_id}/sessions/{session_id}/revoke") => {
            let f = fx(rel.expect("rel"));
            // A login of the author, made in the store (password logins here would meet the
            // walk's per-address login limit).
            let author = f.author;
            let family = app
                .store
                .write(move |c| {
                    let u = lantian_store::identity::user_by_uuid(c, author)?.expect("author");
                    let family = Uuid::now_v7().to_string();
                    lantian_store::identity::insert_refresh(
                        c,
                        &family,
                        u.id,
                        &format!("walk-token-{family}"),
                        "2999-01-01T00:00:00.000Z",
                        None,
                    )?;
                    Ok(format!("app-{family}"))
                })
                .await
                .expect("a login");
            (
                Method::POST,
                format!("/v1/users/{}/sessions/{family}/revoke", f.author),
                Some(json!({})),
                None,
            )
        }
        ("POST", "/v1/users/{user_id}/password-reset") => (
            Method::POST,
            route.replace("{user_id}", &fx(rel.expect("rel")).author.to_string()),
            Some(json!({})),
            None,
        ),
        ("POST", "/v1/users") => (
            Method::POST,
            "/v1/users".into(),
            Some(
                json!({"username": format!("walk_{}", Uuid::now_v7().simple()),
                        "display_name": "走查新用户", "role": "inspector", "unit": "dongchangfu"}),
            ),
            None,
        ),
        ("GET", "/v1/users/{user_id}/clients") => (
            Method::GET,
            format!("/v1/users/{}/clients", fx(rel.expect("rel")).author),
            None,
            None,
        ),
        ("POST", "/v1/users/{user_id}/clients/{client_id}/revoke") => {
            let f = fx(rel.expect("rel"));
            (
                Method::POST,
                format!("/v1/users/{}/clients/{}/revoke", f.author, f.install),
                Some(json!({})),
                None,
            )
        }
        ("GET", "/v1/units/{code}") => (
            Method::GET,
            format!("/v1/units/{}", rel.expect("rel").unit()),
            None,
            None,
        ),
        ("GET", "/v1/subjects?unit") => (
            Method::GET,
            format!("/v1/subjects?unit={}", rel.expect("rel").unit()),
            None,
            None,
        ),
        ("GET", "/v1/subjects/{id}") => (
            Method::GET,
            format!("/v1/subjects/{}", id_of(rel.expect("rel"))),
            None,
            None,
        ),
        ("PUT", "/v1/subjects/{id}") => {
            let r = rel.expect("rel");
            let v = version_of(app, id_of(r)).await;
            (
                Method::PUT,
                format!("/v1/subjects/{}", id_of(r)),
                Some(restaurant_fields(r.unit())),
                Some(format!("\"{v}\"")),
            )
        }
        ("POST", "/v1/subjects") => (
            Method::POST,
            "/v1/subjects".into(),
            Some(restaurant_fields(rel.expect("rel").unit())),
            None,
        ),
        ("GET", "/v1/campaigns/{code}") => (
            Method::GET,
            "/v1/campaigns/autumn-winter-2019".into(),
            None,
            None,
        ),
        ("GET", "/v1/templates/{code}/versions") => (
            Method::GET,
            "/v1/templates/restaurant/versions".into(),
            None,
            None,
        ),
        ("GET", "/v1/templates/{code}/versions/{version}") => (
            Method::GET,
            "/v1/templates/restaurant/versions/1".into(),
            None,
            None,
        ),
        ("POST", "/v1/templates/{code}/versions") => (
            Method::POST,
            "/v1/templates/bare_land/versions".into(),
            Some(template_draft()),
            None,
        ),
        ("POST", "/v1/campaigns") => (
            Method::POST,
            "/v1/campaigns".into(),
            Some(campaign_body("walk-2030", 2030)),
            None,
        ),
        ("PUT", "/v1/campaigns/{code}") => (
            Method::PUT,
            "/v1/campaigns/walk-2031".into(),
            Some(campaign_body("walk-2031", 2031)),
            None,
        ),
        ("POST", "/v1/clients") => (
            Method::POST,
            "/v1/clients".into(),
            Some(json!({"client_id": Uuid::now_v7(), "app_version": "1.0.0"})),
            None,
        ),
        ("POST", "/v1/sync/push") | ("POST", "/v1/sync/pull") | ("GET", "/v1/sync/status") => {
            // Sync needs an install registered by the caller.
            let client_id = Uuid::now_v7();
            if token.is_some() {
                let reg = app
                    .request(
                        Method::POST,
                        "/v1/clients",
                        token,
                        Some(json!({"client_id": client_id, "app_version": "1"})),
                        &[],
                    )
                    .await;
                assert_eq!(reg.status, StatusCode::CREATED);
            }
            match route {
                "/v1/sync/push" => (
                    Method::POST,
                    route.to_owned(),
                    Some(
                        json!({"client_id": client_id, "protocol_version": 1, "schema_version": 1, "app_version": "1",
                                "sent_at": "2019-11-01T00:00:00Z", "mutations": []}),
                    ),
                    None,
                ),
                "/v1/sync/pull" => (
                    Method::POST,
                    route.to_owned(),
                    Some(json!({"client_id": client_id, "limit": 1})),
                    None,
                ),
                _ => (
                    Method::GET,
                    format!("{route}?client_id={client_id}"),
                    None,
                    None,
                ),
            }
        }
        ("GET", "/v1/photos/by-hash/{sha256}") => (
            Method::GET,
            format!("/v1/photos/by-hash/{}", fx(rel.expect("rel")).photo_sha),
            None,
            None,
        ),
        ("GET", p) if p.starts_with("/v1/photos/{id}") => (
            Method::GET,
            p.replace("{id}", &fx(rel.expect("rel")).photo.to_string()),
            None,
            None,
        ),
        ("GET", "/v1/coverage") => (Method::GET, "/v1/coverage?month=2026-11".into(), None, None),
        ("POST", "/v1/alerts") => (
            Method::POST,
            "/v1/alerts".into(),
            Some(
                json!({"level": "yellow", "units": ["dongchangfu"], "starts_at": "2019-12-01T00:00:00Z",
                        "ends_at": "2019-12-02T00:00:00Z"}),
            ),
            None,
        ),
        ("POST", "/v1/alerts/{id}/end") => (
            Method::POST,
            format!("/v1/alerts/{}/end", fx(Rel::Own).alert),
            Some(json!({})),
            None,
        ),
        ("GET", "/v1/bulletins/{month}") => (
            Method::GET,
            format!("/v1/bulletins/{}", this_month()),
            None,
            None,
        ),
        ("GET", "/v1/assessment/{month}") => (
            Method::GET,
            format!("/v1/assessment/{}", this_month()),
            None,
            None,
        ),
        ("GET", "/v1/rectifications/stats") => (
            Method::GET,
            "/v1/rectifications/stats?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z".into(),
            None,
            None,
        ),
        ("GET", "/v1/inspections/{id}") => (
            Method::GET,
            format!("/v1/inspections/{}", fx(rel.expect("rel")).inspection),
            None,
            None,
        ),
        ("POST", "/v1/inspections/{id}/review") => (
            Method::POST,
            format!(
                "/v1/inspections/{}/review",
                fx(rel.expect("rel")).inspection
            ),
            Some(json!({"expected_state": "received", "decision": "has_issues"})),
            None,
        ),
        ("POST", "/v1/rectifications") => (
            Method::POST,
            "/v1/rectifications".into(),
            Some(json!({"inspection_id": fx(rel.expect("rel")).inspection, "item": "NOT_AN_ITEM"})),
            None,
        ),
        ("GET", "/v1/rectifications/{id}") => (
            Method::GET,
            format!("/v1/rectifications/{}", fx(rel.expect("rel")).order),
            None,
            None,
        ),
        ("POST", "/v1/rectifications/{id}/handled") => (
            Method::POST,
            format!("/v1/rectifications/{}/handled", fx(rel.expect("rel")).order),
            Some(json!({"note": " "})),
            None,
        ),
        ("POST", "/v1/rectifications/{id}/requests") => (
            Method::POST,
            format!(
                "/v1/rectifications/{}/requests",
                fx(rel.expect("rel")).order
            ),
            Some(json!({"kind": "extension", "until": "2030-01-01T00:00:00Z", "reason": ""})),
            None,
        ),
        ("POST", "/v1/rectifications/{id}/requests/decision") => (
            Method::POST,
            format!(
                "/v1/rectifications/{}/requests/decision",
                fx(rel.expect("rel")).order
            ),
            Some(json!({"approve": true})),
            None,
        ),
        ("GET", "/v1/subjects/nearby") => (
            Method::GET,
            "/v1/subjects/nearby?lat=36.44&lon=115.98&radius=500".into(),
            None,
            None,
        ),
        ("GET", p) => (Method::GET, p.to_owned(), None, None),
        other => panic!("no request for {other:?}"),
    };
    let headers: Vec<(&str, &str)> = if_match
        .as_deref()
        .map(|v| ("if-match", v))
        .into_iter()
        .collect();
    app.request(m, &path, token, body, &headers).await.status
}

#[tokio::test]
async fn every_role_route_and_relation_answers_as_the_policy_says() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for role in ROLES {
        let name = format!("p_{}", role.as_str());
        app.add_user(&name, role, "dongchangfu", PASSWORD).await;
        tokens.push(app.tokens(&name, PASSWORD).await.access_token);
    }
    let mut ids = Vec::new();
    for rel in RELS {
        ids.push(fixture(&app, rel).await);
    }
    let admin = app.demo_token(Role::Admin).await;
    let now = chrono::Utc::now();
    for f in &mut ids {
        let alert = app
            .post(
                "/v1/alerts",
                Some(&admin),
                json!({"level": "yellow", "units": [f.rel.unit()],
                       "starts_at": now - chrono::Duration::hours(1),
                       "ends_at": now + chrono::Duration::days(1)}),
            )
            .await;
        assert_eq!(alert.status, StatusCode::CREATED, "{:?}", alert.body);
        f.alert = alert.body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
    }
    lantian::assessment::run(&app.store, &this_month(), true)
        .await
        .expect("this month's rollup");
    // The campaign the root walk replaces (the demo's own covers this month).
    let admin = app.demo_token(Role::Admin).await;
    let created = app
        .post(
            "/v1/campaigns",
            Some(&admin),
            campaign_body("walk-2031", 2031),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (method, route, inside) in OBJECT_ROUTES {
        for rel in RELS {
            for (i, role) in ROLES.iter().enumerate() {
                let expected = match rel {
                    Rel::Own => inside[i],
                    Rel::Child => CHILD_ROUTES
                        .iter()
                        .find(|(m, r, _)| m == method && r == route)
                        .map_or(inside[i], |(_, _, child)| child[i]),
                    Rel::Sibling | Rel::Parent => 404,
                };
                let got = call(&app, Some(&tokens[i]), method, route, Some(rel), &ids).await;
                cells += 1;
                if got.as_u16() != expected {
                    mismatches.push(format!(
                        "{method} {route} {rel:?} as {role:?}: expected {expected}, got {got}"
                    ));
                }
            }
        }
    }
    for (method, route, expected) in GLOBAL_ROUTES {
        for (i, role) in ROLES.iter().enumerate() {
            let got = call(&app, Some(&tokens[i]), method, route, None, &ids).await;
            cells += 1;
            if got.as_u16() != expected[i] {
                mismatches.push(format!(
                    "{method} {route} as {role:?}: expected {}, got {got}",
                    expected[i]
                ));
            }
        }
    }
    let mut root_tokens = Vec::new();
    for role in ROLES {
        let name = format!("root_{}", role.as_str());
        app.add_user(&name, role, Rel::Parent.unit(), PASSWORD)
            .await;
        root_tokens.push(app.tokens(&name, PASSWORD).await.access_token);
    }
    for (method, route, expected) in ROOT_ROUTES {
        for (i, role) in ROLES.iter().enumerate() {
            let got = call(&app, Some(&root_tokens[i]), method, route, None, &ids).await;
            cells += 1;
            if got.as_u16() != expected[i] {
                mismatches.push(format!(
                    "{method} {route} from the root as {role:?}: expected {}, got {got}",
                    expected[i]
                ));
            }
        }
    }
    // Without a token, every route but the public ones answers 401.
    for (method, route, _) in OBJECT_ROUTES.iter().chain(GLOBAL_ROUTES) {
        let got = call(&app, None, method, route, Some(Rel::Own), &ids).await;
        cells += 1;
        if got != StatusCode::UNAUTHORIZED {
            mismatches.push(format!(
                "{method} {route} without a token: expected 401, got {got}"
            ));
        }
    }
    println!(
        "policy walk: {cells} cells, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(cells >= 200, "{cells} cells");
}

#[tokio::test]
async fn the_walk_covers_every_route_the_server_has() {
    let walked: BTreeSet<(String, String)> = OBJECT_ROUTES
        .iter()
        .chain(GLOBAL_ROUTES)
        .map(|(m, r, _)| (m.to_string(), r.split('?').next().unwrap_or(r).to_owned()))
        .chain(
            PUBLIC_ROUTES
                .iter()
                .map(|(m, r)| (m.to_string(), r.to_string())),
        )
        .collect();
    let routed: BTreeSet<(String, String)> = lantian_http::route_table().into_iter().collect();
    let missing: Vec<_> = routed.difference(&walked).collect();
    assert!(
        missing.is_empty(),
        "routes the policy walk does not cover: {missing:?}"
    );
}

#[tokio::test]
async fn listings_show_only_the_callers_subtree() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Inspector).await; // at dongchangfu
    let units = app.get("/v1/units", &t).await;
    let codes: BTreeSet<&str> = units.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            "dongchangfu",
            "dongchangfu_gulou",
            "dongchangfu_liuyuan",
            "dongchangfu_xinqu"
        ])
    );
    let subjects = app.get("/v1/subjects?limit=500", &t).await;
    let items = subjects.body["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|s| s["unit"].as_str().expect("unit").starts_with("dongchangfu"))
    );
}

//! The console's pages over HTTP, without a browser: how many SQL statements a page runs (the
//! same for a short and a long list: no query per row), and what every page answers with.

use lantian_domain::user::Role;
use lantian_tests::photos::{self, PASSWORD};
use lantian_tests::{TestApp, console, spawn_app_with};
use reqwest::StatusCode;

/// Statements the store runs for GET `path` (the smaller of two reads, so that a background
/// sweep landing in one of them does not count).
async fn statements(app: &TestApp, path: &str, cookie: &str) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..2 {
        let before = app.store.statements_run();
        let (status, body) = console::get(app, path, cookie).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        least = least.min(app.store.statements_run() - before);
    }
    least
}

#[tokio::test]
async fn a_pages_statements_do_not_grow_with_its_rows() {
    let app = spawn_app_with(|_| {}, true).await;
    let officer = photos::officer(&app, "rows_officer", Role::Inspector, "dongchangfu").await;
    app.add_user("rows_sup", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let cookie = console::session_cookie(&app, "rows_sup", PASSWORD).await;
    let mut first = None;
    for seed in 0..3u64 {
        let (s, _) = photos::submitted(&officer, 500 + seed).await;
        first.get_or_insert(s.inspection_id);
    }
    let queue_3 = statements(&app, "/console/review", &cookie).await;
    let board_3 = statements(&app, "/console/orders?tab=open", &cookie).await;
    for seed in 3..25u64 {
        photos::submitted(&officer, 500 + seed).await;
    }
    let queue_25 = statements(&app, "/console/review", &cookie).await;
    let board_25 = statements(&app, "/console/orders?tab=open", &cookie).await;
    assert_eq!(queue_3, queue_25, "the queue runs a query per row");
    assert_eq!(board_3, board_25, "the board runs a query per row");
    assert!(queue_25 <= 20, "the queue page runs {queue_25} statements");
    let first = first.expect("an inspection");
    let sheet = statements(&app, &format!("/console/review/{first}"), &cookie).await;
    assert!(sheet <= 30, "an inspection's sheet runs {sheet} statements");
}

/// The CSRF token a console page's forms carry.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a form with its token")
        .to_owned()
}

async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}{path}", app.base))
        .header("cookie", format!("lantian_session={cookie}"))
        .header("origin", app.base.clone())
        .form(form)
        .send()
        .await
        .expect("post");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// An inspection by `o` of a subject of exactly `unit` with a failed pass/fail item (with its
/// photo), pushed; returns its id and the item.
async fn with_a_failure(o: &photos::Officer, seed: u64, unit: &str) -> (uuid::Uuid, String) {
    for k in 0..50 {
        let mut s = photos::draft_in(o, seed * 100 + k, Some(unit));
        let Some(r) = s.results.iter_mut().find(|r| {
            !r.photos.is_empty()
                && matches!(
                    r.answer,
                    lantian_domain::inspection::Answer::Pass
                        | lantian_domain::inspection::Answer::Fail
                )
        }) else {
            continue;
        };
        r.answer = lantian_domain::inspection::Answer::Fail;
        let item = r.item.clone();
        photos::submit(o, &s).await;
        return (s.inspection_id, item);
    }
    panic!("no draft with a pass/fail item photo");
}

#[tokio::test]
async fn a_conflicting_decision_shows_who_decided_and_keeps_the_comment() {
    let app = spawn_app_with(|_| {}, true).await;
    let officer = photos::officer(&app, "cas_officer", Role::Inspector, "dongchangfu").await;
    app.add_user("cas_first", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    app.add_user("cas_second", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let (s, _) = photos::submitted(&officer, 61).await;
    let path = format!("/console/review/{}", s.inspection_id);
    let first = console::session_cookie(&app, "cas_first", PASSWORD).await;
    let second = console::session_cookie(&app, "cas_second", PASSWORD).await;
    // Both open the sheet while it waits.
    let (_, first_page) = console::get(&app, &path, &first).await;
    let (_, second_page) = console::get(&app, &path, &second).await;
    let (status, _) = post_form(
        &app,
        &path,
        &first,
        &[
            ("csrf", &csrf_of(&first_page)),
            ("expected_state", "received"),
            ("decision", "approved"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let comment = "请补充近景照片 <b>原样</b>";
    let (status, page) = post_form(
        &app,
        &path,
        &second,
        &[
            ("csrf", &csrf_of(&second_page)),
            ("expected_state", "received"),
            ("decision", "has_issues"),
            ("comment", comment),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("id=\"decision-error\""),
        "the conflict is said"
    );
    assert!(page.contains("cas_first"), "who decided first is shown");
    assert!(
        page.contains("请补充近景照片 &#60;b&#62;原样&#60;/b&#62;") && !page.contains("<b>原样"),
        "the comment is kept, escaped"
    );
    // Approved stands, and it was final: nothing else changed.
    let token = app.tokens("cas_first", PASSWORD).await.access_token;
    let v = app
        .get(&format!("/v1/inspections/{}", s.inspection_id), &token)
        .await;
    assert_eq!(v.body["review_state"], "approved");
    assert_eq!(v.body["reviews"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_supervisor_approves_an_extension_on_the_orders_page() {
    let app = spawn_app_with(|_| {}, true).await;
    let officer = photos::officer(&app, "ext_officer", Role::Inspector, "dongchangfu").await;
    app.add_user("ext_sup", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let (inspection, item) = with_a_failure(&officer, 71, "dongchangfu").await;
    let sup = app.tokens("ext_sup", PASSWORD).await.access_token;
    let opened = app
        .post(
            "/v1/rectifications",
            Some(&sup),
            serde_json::json!({"inspection_id": inspection, "item": item}),
        )
        .await;
    let order = match opened.status {
        StatusCode::CREATED => opened.body["id"].as_str().expect("id").to_owned(),
        _ => {
            // A failed critical item opened its order on arrival.
            let list = app.get("/v1/rectifications?limit=200", &sup).await;
            list.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|o| o["inspection_id"] == serde_json::json!(inspection))
                .and_then(|o| o["id"].as_str())
                .expect("the order")
                .to_owned()
        }
    };
    let until = (chrono::Utc::now() + chrono::Duration::days(20))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let asked = app
        .post(
            &format!("/v1/rectifications/{order}/requests"),
            Some(&officer.token),
            serde_json::json!({"kind": "extension", "until": until, "reason": "雨季停工"}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    let cookie = console::session_cookie(&app, "ext_sup", PASSWORD).await;
    let board = console::get(&app, "/console/orders?tab=requests", &cookie).await;
    assert!(
        board.1.contains(&format!("/console/orders/{order}")),
        "listed as waiting"
    );
    let (_, page) = console::get(&app, &format!("/console/orders/{order}"), &cookie).await;
    assert!(page.contains("雨季停工"), "the reason is shown");
    let (status, _) = post_form(
        &app,
        &format!("/console/orders/{order}/request"),
        &cookie,
        &[
            ("csrf", &csrf_of(&page)),
            ("approve", "true"),
            ("comment", "同意"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let o = app.get(&format!("/v1/rectifications/{order}"), &sup).await;
    assert_eq!(o.body["extension_count"], 1);
    assert!(o.body["pending_request"].is_null());
    let (_, page) = console::get(&app, &format!("/console/orders/{order}"), &cookie).await;
    assert!(page.contains("批准延期"), "the timeline shows the approval");
}

/// The console's own sign-in meets a one-time password as the API does: it opens no session,
/// the page asks for a new password, and the change signs in.
#[tokio::test]
async fn a_one_time_password_signs_in_to_the_console_only_to_choose_its_own() {
    let app = spawn_app_with(|_| {}, true).await;
    let admin = app.demo_token(Role::Admin).await;
    let created = app
        .post(
            "/v1/users",
            Some(&admin),
            serde_json::json!({"username": "otp_sup", "display_name": "新督导", "role": "supervisor", "unit": "yanggu"}),
        )
        .await;
    let otp = created.body["one_time_password"]
        .as_str()
        .expect("otp")
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = http
        .get(format!("{}/console/login", app.base))
        .send()
        .await
        .expect("form");
    let token = console::cookie_from(&form, "lantian_login").expect("the form's cookie");
    let r = http
        .post(format!("{}/console/login", app.base))
        .header("cookie", format!("lantian_login={token}"))
        .form(&[
            ("csrf", token.as_str()),
            ("username", "otp_sup"),
            ("password", otp.as_str()),
            ("next", "/console/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::OK, "a page, not a session");
    assert!(console::cookie_from(&r, "lantian_session").is_none());
    let fresh = console::cookie_from(&r, "lantian_login").expect("a fresh form cookie");
    let page = r.text().await.expect("page");
    assert!(page.contains("action=\"/console/password\""), "{page}");
    let change = |new: &str, again: &str| {
        let (http, base, fresh) = (&http, app.base.clone(), fresh.clone());
        let (otp, new, again) = (otp.clone(), new.to_owned(), again.to_owned());
        async move {
            http.post(format!("{base}/console/password"))
                .header("cookie", format!("lantian_login={fresh}"))
                .form(&[
                    ("csrf", fresh.as_str()),
                    ("username", "otp_sup"),
                    ("current_password", otp.as_str()),
                    ("new_password", new.as_str()),
                    ("new_password_again", again.as_str()),
                    ("next", "/console/"),
                ])
                .send()
                .await
                .expect("change")
        }
    };
    let differ = change("one-new-password", "another-password").await;
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let short = change("short", "short").await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = change("console-chosen-pw", "console-chosen-pw").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let session = console::cookie_from(&done, "lantian_session").expect("signed in");
    assert_eq!(
        console::get(&app, "/console/", &session).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.login("otp_sup", "console-chosen-pw").await.status,
        StatusCode::OK
    );
}

/// In the console as in the API, a unit admin changes nobody outside its subtree (answered as a
/// missing user) and not its own role; nothing changes.
#[tokio::test]
async fn a_unit_admin_changes_nobody_outside_its_subtree_nor_itself_in_the_console() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("cua_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    app.add_user("cua_far", Role::Inspector, "yanggu", PASSWORD)
        .await;
    let me = app.tokens("cua_admin", PASSWORD).await.user.id;
    let far = app.tokens("cua_far", PASSWORD).await.user.id;
    let cookie = console::session_cookie(&app, "cua_admin", PASSWORD).await;
    let (_, people) = console::get(&app, "/console/people", &cookie).await;
    let csrf = csrf_of(&people);
    assert!(
        !people.contains("cua_far"),
        "outside the subtree: not listed"
    );
    let (status, _) = post_form(
        &app,
        &format!("/console/people/{far}"),
        &cookie,
        &[("csrf", &csrf), ("action", "role"), ("value", "supervisor")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_form(
        &app,
        &format!("/console/people/{far}/reset"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        console::get(&app, &format!("/console/people/{far}"), &cookie)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = post_form(
        &app,
        &format!("/console/people/{me}"),
        &cookie,
        &[("csrf", &csrf), ("action", "role"), ("value", "admin")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("不能停用、调动或更改自己的账号"), "{body}");
    let roles: Vec<String> = app
        .store
        .read(|c| {
            let mut st = c.raw().prepare(
                "SELECT role FROM users WHERE username IN ('cua_admin', 'cua_far') ORDER BY username",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .expect("roles");
    assert_eq!(roles, ["unit_admin", "inspector"], "nothing changed");
}

/// The second part's pages run a bounded number of statements.
#[tokio::test]
async fn the_second_parts_pages_run_few_statements() {
    let app = spawn_app_with(|_| {}, true).await;
    let officer = photos::officer(&app, "few_officer", Role::Inspector, "dongchangfu").await;
    app.add_user("few_admin", Role::Admin, "lcucb", PASSWORD)
        .await;
    let cookie = console::session_cookie(&app, "few_admin", PASSWORD).await;
    let mut subject = None;
    for seed in 0..6u64 {
        let (s, _) = photos::submitted(&officer, 700 + seed).await;
        subject.get_or_insert(s.subject_id);
    }
    let subject = subject.expect("a subject");
    for (path, most) in [
        // Up to three months looked back for the latest official figures.
        ("/console/".to_owned(), 60),
        ("/console/assessment".to_owned(), 30),
        ("/console/subjects".to_owned(), 12),
        (format!("/console/subjects/{subject}"), 20),
        ("/console/alerts".to_owned(), 15),
        ("/console/people".to_owned(), 12),
        ("/console/webhooks".to_owned(), 8),
    ] {
        let n = statements(&app, &path, &cookie).await;
        assert!(n <= most, "{path} runs {n} statements");
    }
}

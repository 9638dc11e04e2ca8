//! The console in a real browser: Debian's chromium, driven over WebDriver, against a real server
//! on 127.0.0.1:0. What a supervisor does (review with photos seen, a comment written, an order
//! opened, twenty inspections by keyboard), what must never happen (another county's evidence
//! seen, officer-typed text run as script, a forged form obeyed), axe-core on every page, and
//! screenshots of every page at 1366x768 and 768x1024 under `target/console-screenshots/`.
//!
//! One browser at a time (a lock): each chromium takes a core of the two CI has.

mod scenes;

use std::time::Duration;

use lantian_domain::user::Role;
use lantian_tests::browser::{Browser, axe_source};
use lantian_tests::photos::{self, PASSWORD};
use reqwest::StatusCode;
use scenes::{Scene, hostile_inspection, inspection_with_photos, sign_in};
use serde_json::json;

static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officers_inspection_is_reviewed_in_the_console_and_the_officer_pulls_the_decision() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let (inspection, failed_item, photo_ids) =
        inspection_with_photos(&scene.app, &scene.officer, 11).await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "sup_a").await;
    b.goto(&format!("{}/console/review", scene.app.base)).await;
    let row = b
        .find(&format!("a[href^='/console/review/{inspection}']"))
        .await;
    b.click(&row).await;
    b.wait_url("the inspection's sheet", |u| {
        u.contains(&inspection.to_string())
    })
    .await;
    b.settle().await;
    // Every photo of the inspection is shown: thumbnails that loaded, not broken images.
    let loaded = b
        .exec(
            "return Array.from(document.querySelectorAll('ul.photos img'))
                 .filter(i => i.complete && i.naturalWidth > 0).length;",
            json!([]),
        )
        .await;
    assert_eq!(loaded, json!(photo_ids.len()), "every thumbnail loaded");
    // The 1600 px rendition opens on click, in the page.
    let thumb = b.find("ul.photos a[data-photo]").await;
    b.click(&thumb).await;
    let mut opened = false;
    for _ in 0..50 {
        let v = b
            .exec(
                "const d = document.getElementById('photo-dialog');
                 const i = document.getElementById('photo-dialog-img');
                 return d.open && i.complete && i.naturalWidth > 0;",
                json!([]),
            )
            .await;
        if v == json!(true) {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened, "the review rendition opened in the photo viewer");
    b.press("\u{E00C}").await; // Escape closes it
    // The map is drawn without any tile server: the fix, its accuracy circle and the subject.
    let drawn = b
        .exec(
            "return document.querySelectorAll('#map path.leaflet-interactive').length;",
            json!([]),
        )
        .await;
    assert!(drawn.as_u64().unwrap_or(0) >= 2, "map drew {drawn}");
    b.screenshot("review-sheet-1366x768").await;
    // Open an order from the failed item, with a comment, and send the inspection back.
    let open = b
        .find(&format!("input[name='open'][value='{failed_item}']"))
        .await;
    b.click(&open).await;
    let comment = b.find("#comment").await;
    b.type_into(&comment, "CS 苫盖不到位，请整改").await;
    let has_issues = b.find("button[value='has_issues']").await;
    b.click(&has_issues).await;
    b.wait_url("away from the decided sheet", |u| {
        !u.contains(&inspection.to_string()) || u.contains("/console/review?")
    })
    .await;
    // The officer's next pull carries the decision and the order.
    scene.officer.client.pull().await.expect("pull");
    let mine = scene
        .officer
        .client
        .entities("inspection")
        .expect("inspections")
        .into_iter()
        .find(|v| v["id"] == json!(inspection.to_string()))
        .expect("the inspection synced back");
    assert_eq!(mine["review_state"], json!("has_issues"));
    assert_eq!(
        mine["reviews"][0]["comment"],
        json!("CS 苫盖不到位，请整改")
    );
    let orders = scene
        .officer
        .client
        .entities("rectification")
        .expect("orders");
    assert!(
        orders
            .iter()
            .any(|o| o["inspection_id"] == json!(inspection.to_string())
                && o["item"] == json!(failed_item)),
        "the order reached the officer: {orders:?}"
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_inspections_are_reviewed_by_keyboard_alone() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let mut ids = Vec::new();
    for seed in 0..20u64 {
        let (s, _) = photos::submitted_in(&scene.officer, 100 + seed, None).await;
        ids.push(s.inspection_id);
    }
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "sup_a").await;
    b.goto(&format!("{}/console/review", scene.app.base)).await;
    b.settle().await;
    assert_eq!(b.count("tr[data-row]").await, 20, "twenty waiting");
    // j selects the first row, Enter opens it; then `a` approves and moves on, twenty times.
    b.press("j\u{E007}").await;
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..20 {
        let u = b
            .wait_url("an inspection sheet", |u| {
                u.contains("/console/review/") && !seen.iter().any(|s: &String| u.contains(s))
            })
            .await;
        let id = u
            .split("/console/review/")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .expect("an id")
            .to_owned();
        seen.insert(id);
        b.settle().await;
        b.find("#decision").await;
        b.press("a").await;
        if n == 19 {
            b.wait_url("the queue", |u| {
                u.contains("/console/review?") || u.ends_with("/console/review")
            })
            .await;
        }
    }
    b.settle().await;
    assert!(
        b.text().await.contains("没有待审核的检查"),
        "the queue is empty"
    );
    let approved: i64 = scene
        .app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM inspections WHERE review_state = 'approved'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(approved, 20);
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_supervisor_never_sees_another_countys_evidence() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let other = photos::officer(&scene.app, "field_b", Role::Inspector, scenes::OTHER_COUNTY).await;
    let (theirs, _, their_photos) = inspection_with_photos(&scene.app, &other, 21).await;
    let order = scenes::open_order_as(&scene.app, "sup_b", theirs).await;
    let (mine, _, _) = inspection_with_photos(&scene.app, &scene.officer, 22).await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "sup_a").await;
    let base = &scene.app.base;
    for page in [
        "/console/review",
        "/console/orders",
        "/console/orders?tab=open",
    ] {
        b.goto(&format!("{base}{page}")).await;
        b.settle().await;
        let html = b
            .exec("return document.documentElement.outerHTML;", json!([]))
            .await;
        let html = html.as_str().unwrap_or_default();
        assert!(
            !html.contains(&theirs.to_string()),
            "{page} lists the other county's inspection"
        );
        assert!(
            !html.contains(&order.to_string()),
            "{page} lists the other county's order"
        );
    }
    b.goto(&format!("{base}/console/review")).await;
    b.find(&format!("a[href^='/console/review/{mine}']")).await;
    // Direct addresses answer exactly like missing ones.
    let cookie = scenes::session_cookie(&scene.app, "sup_a").await;
    let missing = uuid::Uuid::now_v7();
    for (foreign, absent) in [
        (
            format!("/console/review/{theirs}"),
            format!("/console/review/{missing}"),
        ),
        (
            format!("/console/orders/{order}"),
            format!("/console/orders/{missing}"),
        ),
        (
            format!("/console/photos/{}/original", their_photos[0]),
            format!("/console/photos/{missing}/original"),
        ),
        (
            format!("/console/photos/{}/thumbnail", their_photos[0]),
            format!("/console/photos/{missing}/thumbnail"),
        ),
    ] {
        let a = scenes::get_with_cookie(&scene.app, &foreign, &cookie).await;
        let m = scenes::get_with_cookie(&scene.app, &absent, &cookie).await;
        assert_eq!(a.0, StatusCode::NOT_FOUND, "{foreign}");
        assert_eq!(a, m, "{foreign} answers unlike a missing object");
    }
    // And in the browser: the page says not found.
    b.goto(&format!("{base}/console/review/{theirs}")).await;
    b.settle().await;
    assert!(b.text().await.contains("404"));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officer_typed_text_is_shown_as_text_and_never_runs() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let (inspection, order) = hostile_inspection(&scene).await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "sup_a").await;
    let base = &scene.app.base;
    for page in [
        "/console/review".to_owned(),
        format!("/console/review/{inspection}"),
        "/console/orders".to_owned(),
        format!("/console/orders/{order}"),
    ] {
        b.goto(&format!("{base}{page}")).await;
        b.settle().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ran = b
            .exec("return [window.__pwned === undefined, document.querySelectorAll('img[src=\"x\"]').length, document.querySelectorAll('a[href^=\"javascript:\"]').length, document.querySelectorAll('script:not([src])').length];", json!([]))
            .await;
        assert_eq!(
            ran,
            json!([true, 0, 0, 0]),
            "{page}: hostile text became markup"
        );
        let text = b.text().await;
        assert!(
            text.contains(scenes::HOSTILE_NAME),
            "{page} shows the name as typed: {text}"
        );
    }
    // The sheet shows the notes and the item note as typed, too.
    b.goto(&format!("{base}/console/review/{inspection}")).await;
    let text = b.text().await;
    assert!(text.contains(scenes::HOSTILE_NOTES), "{text}");
    assert!(text.contains(scenes::HOSTILE_LINK), "{text}");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_token_or_from_another_origin_is_refused_and_changes_nothing() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let (inspection, _, _) = inspection_with_photos(&scene.app, &scene.officer, 31).await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "sup_a").await;
    let base = &scene.app.base;
    b.goto(&format!("{base}/console/review/{inspection}")).await;
    b.settle().await;
    // From the console's own page, but without the token: 403.
    let status = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'},
                                   body: 'expected_state=received&decision=approved' })
               .then(r => done(r.status)).catch(e => done(String(e)));",
            json!([format!("/console/review/{inspection}")]),
        )
        .await;
    assert_eq!(status, json!(403));
    // From another origin (a page on another port of this host: same site, so the cookie goes
    // along; the origin does not match): 403.
    let evil = scenes::evil_page(&format!("{base}/console/review/{inspection}")).await;
    b.goto(&evil.url).await;
    let landed = b
        .wait_url("the forged post's answer", |u| u.starts_with(base.as_str()))
        .await;
    b.settle().await;
    assert!(landed.contains(&inspection.to_string()), "{landed}");
    assert!(
        b.text().await.contains("403"),
        "the forged post was refused"
    );
    assert_eq!(
        scenes::review_state(&scene.app, inspection).await,
        "received",
        "nothing changed"
    );
    // Sign-out without the token is refused too (the session stays).
    let cookie = scenes::session_cookie(&scene.app, "sup_a").await;
    let r = reqwest::Client::new()
        .post(format!("{base}/console/logout"))
        .header("cookie", format!("lantian_session={cookie}"))
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = scenes::get_with_cookie(&scene.app, "/console/review", &cookie).await;
    assert_eq!(r.0, StatusCode::OK, "still signed in");
    evil.stop();
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_is_photographed_at_two_sizes() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let (inspection, item, _) = inspection_with_photos(&scene.app, &scene.officer, 41).await;
    let order = scenes::open_order_item(&scene.app, "sup_a", inspection, &item).await;
    let axe = axe_source();
    let b = Browser::start(1366, 768).await;
    let base = &scene.app.base;
    let pages = [
        ("review-queue", "/console/review".to_owned()),
        ("review-sheet", format!("/console/review/{inspection}")),
        ("orders", "/console/orders".to_owned()),
        ("order", format!("/console/orders/{order}")),
        ("not-found", "/console/nothing-here".to_owned()),
    ];
    let mut failures = Vec::new();
    for (w, h) in [(1366u32, 768u32), (768, 1024)] {
        b.resize(w, h).await;
        b.goto(&format!("{base}/console/login")).await;
        b.settle().await;
        b.screenshot(&format!("login-{w}x{h}")).await;
        if w == 1366 {
            for v in b.axe_violations(&axe).await {
                failures.push(format!("login: {v}"));
            }
            sign_in(&b, base, "sup_a").await;
        }
        for (name, path) in &pages {
            b.goto(&format!("{base}{path}")).await;
            b.settle().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.screenshot(&format!("{name}-{w}x{h}")).await;
            if w == 1366 {
                for v in b.axe_violations(&axe).await {
                    failures.push(format!("{name}: {v}"));
                }
            }
        }
    }
    // Nothing a page loaded came from another origin.
    let foreign = b
        .exec(
            "return performance.getEntriesByType('resource').map(e => e.name)
                 .filter(n => !n.startsWith(location.origin));",
            json!([]),
        )
        .await;
    assert_eq!(foreign, json!([]), "resources from elsewhere");
    b.quit().await;
    assert!(failures.is_empty(), "axe: {failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_console_session_ends_at_once() {
    let scene = Scene::new().await;
    let cookie = scenes::session_cookie(&scene.app, "sup_a").await;
    assert_eq!(
        scenes::get_with_cookie(&scene.app, "/console/review", &cookie)
            .await
            .0,
        StatusCode::OK
    );
    scene
        .app
        .store
        .write(|c| {
            c.raw()
                .execute("UPDATE users SET disabled = 1 WHERE username = 'sup_a'", [])?;
            Ok(())
        })
        .await
        .expect("disable");
    let r = scenes::get_with_cookie(&scene.app, "/console/review", &cookie).await;
    assert_eq!(r.0, StatusCode::SEE_OTHER, "sent to sign in");
    // Enabled again, the old session stays ended: it was revoked, not paused.
    scene
        .app
        .store
        .write(|c| {
            c.raw()
                .execute("UPDATE users SET disabled = 0 WHERE username = 'sup_a'", [])?;
            Ok(())
        })
        .await
        .expect("enable");
    let r = scenes::get_with_cookie(&scene.app, "/console/review", &cookie).await;
    assert_eq!(r.0, StatusCode::SEE_OTHER);
    // A moved user's session ends the same way.
    let cookie = scenes::session_cookie(&scene.app, "sup_a").await;
    scene
        .app
        .store
        .write(|c| {
            c.raw().execute(
                "UPDATE users SET unit_id = (SELECT id FROM units WHERE code = 'linqing') WHERE username = 'sup_a'",
                [],
            )?;
            Ok(())
        })
        .await
        .expect("move");
    let r = scenes::get_with_cookie(&scene.app, "/console/review", &cookie).await;
    assert_eq!(r.0, StatusCode::SEE_OTHER);
    let _ = PASSWORD;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walkthrough_is_photographed_for_the_readme() {
    // The server lays down the demo's history itself, as `serve --demo` does on a fresh clone.
    let app = lantian_tests::spawn_app_with(|c| c.demo_history = true, true).await;
    let mut done = false;
    for _ in 0..600 {
        let (history, pending): (bool, i64) = app
            .store
            .read(|c| {
                let c = c.raw();
                Ok((
                    c.query_row(
                        "SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = 'demo.history' AND outcome = 'ok')",
                        [],
                        |r| r.get(0),
                    )?,
                    c.query_row(
                        "SELECT count(*) FROM photos WHERE renditions = 'pending'",
                        [],
                        |r| r.get(0),
                    )?,
                ))
            })
            .await
            .expect("progress");
        if history && pending == 0 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(done, "the demo history and its renditions within 300 s");
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start(1366, 768).await;
    let base = &app.base;
    b.goto(&format!("{base}/console/login")).await;
    let u = b.find("#username").await;
    b.type_into(&u, "demo_supervisor").await;
    let p = b.find("#password").await;
    b.type_into(&p, lantian_domain::reference::DEMO_PASSWORD)
        .await;
    let submit = b.find(".login button[type='submit']").await;
    b.click(&submit).await;
    // Signed in, the supervisor lands on the home page: what waits for them first.
    b.wait_url("the home page", |u| u.ends_with("/console/"))
        .await;
    b.settle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.screenshot("readme-home").await;
    let workbench = b.find("a[href='/console/review']").await;
    b.click(&workbench).await;
    b.wait_url("the review queue", |u| u.contains("/console/review"))
        .await;
    b.settle().await;
    assert!(
        b.count("tr[data-row]").await > 0,
        "the demo's queue has work"
    );
    b.screenshot("readme-review-queue").await;
    // The first waiting inspection with a failed item: a sheet with photos, a map, an order to open.
    let rows = b
        .exec(
            "return Array.from(document.querySelectorAll('tr[data-row] a[data-open]')).map(a => a.getAttribute('href'));",
            json!([]),
        )
        .await;
    let mut shown = false;
    for href in rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|h| h.as_str())
    {
        b.goto(&format!("{base}{href}")).await;
        b.settle().await;
        if b.count("input[name='open']").await > 0 && b.count("ul.photos img").await > 1 {
            shown = true;
            break;
        }
    }
    assert!(shown, "a waiting inspection with a failed item and photos");
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.screenshot("readme-review-sheet").await;
    b.goto(&format!("{base}/console/orders?tab=overdue")).await;
    b.settle().await;
    b.screenshot("readme-orders").await;

    // An assessor at the root reads the same figures on the assessment page as the bulletin's
    // JSON has, for every demo month with official figures.
    b.delete_cookies().await;
    b.goto(&format!("{base}/console/login")).await;
    let u = b.find("#username").await;
    b.type_into(&u, "demo_assessor").await;
    let p = b.find("#password").await;
    b.type_into(&p, lantian_domain::reference::DEMO_PASSWORD)
        .await;
    let submit = b.find(".login button[type='submit']").await;
    b.click(&submit).await;
    b.wait_url("the home page", |u| u.ends_with("/console/"))
        .await;
    let token = app
        .tokens("demo_assessor", lantian_domain::reference::DEMO_PASSWORD)
        .await
        .access_token;
    let mut month = lantian_tests::this_month();
    let mut compared = 0;
    for _ in 0..3 {
        month = lantian_domain::assessment::previous_month(&month).expect("month");
        let bulletin = app
            .get(&format!("/v1/bulletins/{month}?format=json"), &token)
            .await;
        if bulletin.status != StatusCode::OK {
            continue;
        }
        b.goto(&format!("{base}/console/assessment?month={month}"))
            .await;
        b.settle().await;
        // Every ranked row of the page, as numbers.
        let rows = b
            .exec(
                "return Array.from(document.querySelectorAll('table.ranking tbody tr[data-unit]')).map(tr =>
                     [tr.getAttribute('data-unit')].concat(Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim())));",
                json!([]),
            )
            .await;
        let rows = rows.as_array().expect("rows").clone();
        let mut expected = Vec::new();
        for g in bulletin.body["groups"].as_array().expect("groups") {
            for r in g["rows"].as_array().expect("rows") {
                expected.push(r.clone());
            }
        }
        if let Some(s) = bulletin.body.get("summary").filter(|s| !s.is_null()) {
            expected.push(s.clone());
        }
        assert_eq!(
            rows.len(),
            expected.len(),
            "{month}: every row of the bulletin"
        );
        let num = |t: &str| -> f64 {
            t.trim_end_matches('%')
                .replace('—', "")
                .trim()
                .parse()
                .unwrap_or(f64::NAN)
        };
        for r in &expected {
            let unit = r["unit"].as_str().expect("unit");
            let cells = rows
                .iter()
                .find(|x| x[0] == unit)
                .unwrap_or_else(|| panic!("{month}: {unit} on the page"))
                .as_array()
                .expect("cells")
                .clone();
            let cells: Vec<String> = cells[1..]
                .iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect();
            if r["no_data"] == true {
                continue;
            }
            // A ranked row begins with its rank; the whole city's row does not.
            let offset = usize::from(!r["rank"].is_null() || cells.len() == 13);
            let at = |i: usize| num(&cells[offset + i]);
            let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
            let f = |k: &str| r[k].as_f64().expect("figure");
            assert!(
                close(at(0), f("score"), 0.005),
                "{month} {unit} score {cells:?}"
            );
            for (i, k) in [
                (2, "compliance"),
                (3, "coverage"),
                (4, "rectification"),
                (5, "on_time"),
                (6, "closed"),
                (7, "rework"),
                (8, "extension"),
                (9, "evidence_quality"),
            ] {
                assert!(
                    close(at(i) / 100.0, f(k), 0.00005),
                    "{month} {unit} {k}: {} against {}",
                    cells[offset + i],
                    f(k)
                );
            }
            assert_eq!(at(10), f("inspections"), "{month} {unit} inspections");
            assert_eq!(at(11), f("orders_due"), "{month} {unit} orders due");
            compared += 1;
        }
    }
    assert!(compared > 0, "at least one demo month has official figures");
    b.screenshot("readme-assessment").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_disables_an_officer_in_the_console_and_the_officer_is_out_at_once() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    scene
        .app
        .add_user("ua_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    let officer_session = scenes::session_cookie(&scene.app, "field_a").await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &scene.app.base, "ua_admin").await;
    let base = &scene.app.base;
    b.goto(&format!("{base}/console/people")).await;
    b.settle().await;
    let text = b.text().await;
    assert!(
        text.contains("field_a"),
        "the officer of the county is listed"
    );
    assert!(!text.contains("sup_b"), "another county's people are not");
    // The admin's own row offers nothing to change.
    assert_eq!(b.count("#user-ua_admin button").await, 0);
    let violations = b.axe_violations(&axe_source()).await;
    assert!(
        violations.is_empty(),
        "axe on the people page: {violations:#?}"
    );
    b.screenshot("people-1366x768").await;
    let disable = b.find("#user-field_a button[value='disable']").await;
    b.click(&disable).await;
    b.wait_url("the people page after the change", |u| {
        u.contains("done=field_a")
    })
    .await;
    b.settle().await;
    assert_eq!(
        b.count("#user-field_a .badge.bad").await,
        1,
        "shown disabled"
    );
    // The officer's next API call and console page: out.
    assert_eq!(
        scene.app.get("/v1/me", &scene.officer.token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scenes::get_with_cookie(&scene.app, "/console/orders", &officer_session)
            .await
            .0,
        StatusCode::SEE_OTHER
    );

    // An officer with work queued on the phone is moved to a street office of the county: the
    // next sync lands the queued inspection under the unit it was done for (flagged), and the pull
    // trades the county's data for the street's.
    let mover = photos::officer(&scene.app, "mover", Role::Inspector, "dongchangfu").await;
    let queued = photos::draft_in(&mover, 91, Some("dongchangfu"));
    mover
        .client
        .submit_inspection(&queued)
        .expect("queued offline");
    b.goto(&format!("{base}/console/people")).await;
    b.settle().await;
    let street = b
        .find("#unit-mover option[value='dongchangfu_gulou']")
        .await;
    b.click(&street).await;
    let move_button = b.find("form:has(#unit-mover) button").await;
    b.click(&move_button).await;
    b.wait_url("the people page after the move", |u| {
        u.contains("done=mover")
    })
    .await;
    let (push, pull) = mover.client.sync().await.expect("the phone syncs");
    assert_eq!(push.applied, 1, "the queued inspection landed: {push:?}");
    assert!(
        pull.resets
            .contains(&lantian_protocol::sync::ResetReason::ScopeChanged),
        "{pull:?}"
    );
    let admin = scene.app.demo_token(Role::Admin).await;
    let landed = scene
        .app
        .get(&format!("/v1/inspections/{}", queued.inspection_id), &admin)
        .await;
    assert_eq!(landed.body["unit"], "dongchangfu", "{:?}", landed.body);
    assert!(
        landed.body["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .any(|f| f == "after_move"),
        "{:?}",
        landed.body["flags"]
    );
    b.quit().await;
}

/// The pages of the console's second part (home, ledger, assessment, alerts, people, webhooks,
/// the password page) pass axe-core, show what people typed as text and never run it, and are
/// photographed at both sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_parts_pages_pass_axe_show_typed_text_as_text_and_are_photographed() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let app = &scene.app;
    let (_, _) = hostile_inspection(&scene).await;
    app.add_user("root_admin", Role::Admin, "lcucb", PASSWORD)
        .await;
    let admin = app.tokens("root_admin", PASSWORD).await.access_token;
    let subject: String = app
        .store
        .read(|c| {
            Ok(c.raw().query_row(
                "SELECT uuid FROM subjects WHERE name = ?1",
                [scenes::HOSTILE_NAME],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("the hostile subject");
    // What people type elsewhere: an alert's note, a webhook's description, a person's name.
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let alert = app
        .post(
            "/v1/alerts",
            Some(&admin),
            json!({"level": "red", "units": ["dongchangfu"], "note": scenes::HOSTILE_NOTES,
                   "starts_at": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                   "ends_at": (start + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
        )
        .await;
    assert_eq!(alert.status, StatusCode::CREATED, "{:?}", alert.body);
    let hook = app
        .post(
            "/v1/webhooks",
            Some(&admin),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["alert.declared"],
                   "description": scenes::HOSTILE_LINK}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let hook = hook.body["webhook"]["id"].as_str().expect("id").to_owned();
    let person = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "typed_name", "display_name": scenes::HOSTILE_NAME,
                   "role": "inspector", "unit": "dongchangfu"}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{:?}", person.body);
    let person = person.body["user"]["id"].as_str().expect("id").to_owned();
    let month = lantian_tests::this_month();
    lantian_app::assessment::rollup(&app.store, &month, true)
        .await
        .expect("this month's official figures");

    let pages: Vec<(&str, String, Option<&str>)> = vec![
        ("home", "/console/".into(), Some(scenes::HOSTILE_NAME)),
        (
            "ledger",
            format!("/console/subjects?q={}", "光岳路工地"),
            Some(scenes::HOSTILE_NAME),
        ),
        (
            "subject",
            format!("/console/subjects/{subject}"),
            Some(scenes::HOSTILE_NOTES),
        ),
        ("subject-new", "/console/subjects/new".into(), None),
        (
            "subject-edit",
            format!("/console/subjects/{subject}/edit"),
            None,
        ),
        ("import", "/console/subjects/import".into(), None),
        (
            "assessment",
            format!("/console/assessment?month={month}"),
            None,
        ),
        (
            "assessment-provisional",
            format!("/console/assessment?month={month}&kind=provisional"),
            None,
        ),
        (
            "alerts",
            "/console/alerts".into(),
            Some(scenes::HOSTILE_NOTES),
        ),
        (
            "people",
            "/console/people".into(),
            Some(scenes::HOSTILE_NAME),
        ),
        (
            "person",
            format!("/console/people/{person}"),
            Some(scenes::HOSTILE_NAME),
        ),
        (
            "webhooks",
            "/console/webhooks".into(),
            Some(scenes::HOSTILE_LINK),
        ),
        (
            "webhook",
            format!("/console/webhooks/{hook}"),
            Some(scenes::HOSTILE_LINK),
        ),
        ("password", "/console/password".into(), None),
    ];
    let axe = axe_source();
    let b = Browser::start(1366, 768).await;
    let base = &app.base;
    sign_in(&b, base, "root_admin").await;
    let mut failures = Vec::new();
    for (w, h) in [(1366u32, 768u32), (768, 1024)] {
        b.resize(w, h).await;
        for (name, path, typed) in &pages {
            b.goto(&format!("{base}{path}")).await;
            b.settle().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            b.screenshot(&format!("{name}-{w}x{h}")).await;
            if w != 1366 {
                continue;
            }
            let ran = b
                .exec("return [window.__pwned === undefined, document.querySelectorAll('img[src=\"x\"]').length, document.querySelectorAll('a[href^=\"javascript:\"]').length, document.querySelectorAll('script:not([src])').length];", json!([]))
                .await;
            if ran != json!([true, 0, 0, 0]) {
                failures.push(format!("{name}: typed text became markup: {ran}"));
            }
            if let Some(t) = typed
                && !b.text().await.contains(t)
            {
                failures.push(format!("{name}: does not show {t:?} as typed"));
            }
            for v in b.axe_violations(&axe).await {
                failures.push(format!("{name}: {v}"));
            }
        }
    }
    let foreign = b
        .exec(
            "return performance.getEntriesByType('resource').map(e => e.name)
                 .filter(n => !n.startsWith(location.origin));",
            json!([]),
        )
        .await;
    assert_eq!(foreign, json!([]), "resources from elsewhere");
    b.quit().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A subject file uploaded in the console with one bad line imports nothing and names the line;
/// corrected, it imports every line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_file_with_one_bad_line_imports_nothing_and_names_the_line() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let app = &scene.app;
    app.add_user("imp_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let before = app.subject_count().await;
    let b = Browser::start(1366, 768).await;
    sign_in(&b, &app.base, "imp_admin").await;
    b.goto(&format!("{}/console/subjects/import", app.base))
        .await;
    b.settle().await;
    let upload = |name: &'static str, text: &'static str| {
        let (b, path) = (&b, dir.path().join(name));
        async move {
            std::fs::write(&path, text).expect("file");
            let input = b.find("input[type='file']").await;
            b.type_into(&input, path.to_str().expect("path")).await;
            // The answer is a new page: wait until the old one is gone.
            b.exec("window.__old_page = true;", json!([])).await;
            let submit = b.find("form[enctype] button[type='submit']").await;
            b.click(&submit).await;
            for _ in 0..100 {
                let state = b
                    .exec(
                        "if (window.__old_page || document.readyState !== 'complete') { return null; }
                         const e = document.getElementById('import-errors');
                         if (e) { return e.innerText; }
                         return document.body.innerText.includes('已导入检查对象') ? '' : null;",
                        json!([]),
                    )
                    .await;
                if let Some(text) = state.as_str() {
                    return text.to_owned();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no answer to the upload: {}", b.text().await);
        }
    };
    let errors = upload(
        "ledger.csv",
        "kind,name,unit,lat,lon,attr.grade\n\
         restaurant,导入测试饭店一,dongchangfu,36.45,115.98,a\n\
         restaurant,导入测试饭店二,dongchangfu,36.46,115.97,z\n",
    )
    .await;
    assert!(errors.contains("line 3"), "the bad grade's line: {errors}");
    assert!(
        !errors.contains("line 2"),
        "the good line is not an error: {errors}"
    );
    assert_eq!(app.subject_count().await, before, "nothing imported");
    b.screenshot("import-refused-1366x768").await;
    // A county outside the admin's subtree reads as a unit that does not exist.
    let errors = upload(
        "ledger-2.csv",
        "kind,name,unit,lat,lon,attr.grade\n\
         restaurant,导入测试饭店一,dongchangfu,36.45,115.98,a\n\
         restaurant,导入测试饭店三,yanggu,36.11,115.78,b\n",
    )
    .await;
    assert!(
        errors.contains("line 3") && errors.contains("no unit with code \"yanggu\""),
        "{errors}"
    );
    assert_eq!(app.subject_count().await, before, "nothing imported");
    let errors = upload(
        "ledger-fixed.csv",
        "kind,name,unit,lat,lon,attr.grade\n\
         restaurant,导入测试饭店一,dongchangfu,36.45,115.98,a\n\
         restaurant,导入测试饭店二,dongchangfu_gulou,36.46,115.97,c\n",
    )
    .await;
    assert!(errors.is_empty(), "{errors}");
    assert!(b.text().await.contains("已导入检查对象：2"));
    assert_eq!(app.subject_count().await, before + 2);
    b.quit().await;
}

/// An alert declared in the console reaches an officer's phone at its next pull, and the
/// checklist of a subject in its region gains its emergency items: the phone now refuses an
/// inspection that leaves them out, as the server would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_declared_in_the_console_reaches_the_phone_with_its_emergency_items() {
    let _one = ONE_BROWSER.lock().await;
    let scene = Scene::new().await;
    let app = &scene.app;
    app.add_user("alert_admin", Role::Admin, "lcucb", PASSWORD)
        .await;
    let o = &scene.officer;
    let subject: lantian_domain::subject::Subject = o
        .client
        .entities("subject")
        .expect("subjects")
        .into_iter()
        .filter_map(|v| serde_json::from_value::<lantian_domain::subject::Subject>(v).ok())
        .find(|s| {
            matches!(
                s.attributes,
                lantian_domain::subject::SubjectAttributes::ConstructionSite(_)
            ) && s.unit.starts_with("dongchangfu")
        })
        .expect("a construction site of the county");
    let template = lantian_client::sim::latest_templates(&o.client)
        .expect("templates")
        .into_iter()
        .find(|t| t.subject_kind == subject.attributes.kind())
        .expect("its checklist");
    let emergency: Vec<String> = template
        .items
        .iter()
        .filter(|i| i.applies_if.as_deref() == Some(lantian_domain::inspection::ALERT_CONDITION))
        .map(|i| i.code.clone())
        .collect();
    assert!(!emergency.is_empty(), "the checklist has emergency items");
    let s = lantian_client::sim::random_inspection(
        &mut lantian_client::sim::Rng(5),
        &subject,
        &template,
        None,
    );
    assert!(o.client.score(&s).is_ok(), "without an alert, as drafted");

    let b = Browser::start(1366, 768).await;
    sign_in(&b, &app.base, "alert_admin").await;
    b.goto(&format!("{}/console/alerts", app.base)).await;
    b.settle().await;
    let county = b.find("input[name='units'][value='dongchangfu']").await;
    b.click(&county).await;
    let declare = b
        .find("form[action='/console/alerts'] button[type='submit']")
        .await;
    b.click(&declare).await;
    b.wait_url("the alerts page after declaring", |u| {
        u.contains("done=declared")
    })
    .await;
    b.settle().await;
    assert!(b.text().await.contains("生效中"), "listed in force");
    b.screenshot("alert-declared-1366x768").await;
    b.quit().await;

    o.client.pull().await.expect("the phone's next pull");
    assert!(
        !o.client.entities("alert").expect("alerts").is_empty(),
        "the alert reached the phone"
    );
    assert!(
        o.client
            .alert_active(&subject.unit, chrono::Utc::now())
            .expect("asked"),
        "in force over the subject"
    );
    let refused = o
        .client
        .score(&s)
        .expect_err("the emergency items must be answered now");
    let text = refused.to_string();
    assert!(
        emergency.iter().any(|code| text.contains(code.as_str())),
        "names an emergency item: {text}"
    );
}

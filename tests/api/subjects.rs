//! Subjects through the API: create, read with ETag, edit with If-Match, list with filters and a
//! cursor.

use std::collections::BTreeSet;

use lantian_domain::user::Role;
use lantian_tests::spawn_app;
use reqwest::StatusCode;
use serde_json::json;

fn site(unit: &str) -> serde_json::Value {
    json!({"name": "光岳路综合管廊工程", "unit": unit, "kind": "construction_site",
           "attributes": {"project_name": "光岳路综合管廊工程", "linear": true},
           "location": {"lat": 36.45, "lon": 115.99},
           "geometry": {"type": "Polygon", "coordinates": [[[115.989, 36.449], [115.991, 36.449], [115.991, 36.451], [115.989, 36.449]]]}})
}

#[tokio::test]
async fn an_edit_needs_the_current_version_and_a_stale_one_conflicts() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::UnitAdmin).await;
    let created = app
        .post("/v1/subjects", Some(&t), site("dongchangfu_gulou"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.headers["etag"], "\"1\"");
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/subjects/{id}");

    let mut edit = site("dongchangfu_gulou");
    edit["name"] = json!("光岳路综合管廊工程（二期）");
    let missing = app.put(&path, &t, None, edit.clone()).await;
    assert_eq!(
        (missing.status, missing.code()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("precondition_required")
        )
    );
    let ok = app.put(&path, &t, Some("\"1\""), edit.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["version"], 2);
    let stale = app.put(&path, &t, Some("\"1\""), edit).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::CONFLICT, Some("version_conflict"))
    );

    let read = app.get(&path, &t).await;
    assert_eq!(read.body["name"], "光岳路综合管廊工程（二期）");
    assert_eq!(read.headers["etag"], "\"2\"");
}

#[tokio::test]
async fn paging_with_the_cursor_visits_every_visible_subject_once() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Supervisor).await; // at the bureau: sees all 300
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(c) => format!("/v1/subjects?limit=37&cursor={c}"),
            None => "/v1/subjects?limit=37".to_owned(),
        };
        let r = app.get(&path, &t).await;
        assert_eq!(r.status, StatusCode::OK);
        for s in r.body["items"].as_array().expect("items") {
            assert!(
                seen.insert(s["id"].as_str().expect("id").to_owned()),
                "repeated {s}"
            );
        }
        cursor = r.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    let bad = app.get("/v1/subjects?cursor=!!", &t).await;
    assert_eq!(bad.code(), Some("bad_request"));
}

#[tokio::test]
async fn filters_narrow_by_kind_unit_and_text_including_typed_plates() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Supervisor).await;
    let trucks = app.get("/v1/subjects?kind=muck_truck&limit=500", &t).await;
    let items = trucks.body["items"].as_array().expect("items").clone();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|s| s["kind"] == "muck_truck" && s["location"].is_null())
    );

    // An officer types the plate loosely: lower case, with a dot after the prefix.
    let plate = items[0]["attributes"]["plate_number"]
        .as_str()
        .expect("plate")
        .to_owned();
    let split = plate
        .char_indices()
        .nth(2)
        .expect("a plate has more than two characters")
        .0;
    let typed = format!("{}·{}", &plate[..split], &plate[split..]).to_lowercase();
    let hit = app
        .get(&format!("/v1/subjects?q={}", urlencode(&typed)), &t)
        .await;
    let found = hit.body["items"].as_array().expect("items");
    assert!(
        found
            .iter()
            .any(|s| s["attributes"]["plate_number"] == plate.as_str()),
        "{typed} found {found:?}"
    );

    let in_yanggu = app.get("/v1/subjects?unit=yanggu&limit=500", &t).await;
    let list = in_yanggu.body["items"].as_array().expect("items");
    assert!(!list.is_empty() && list.iter().all(|s| s["unit"] == "yanggu"));
    let subtree = app.get("/v1/subjects?unit=dongchangfu&limit=500", &t).await;
    let units: BTreeSet<&str> = subtree.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["unit"].as_str().expect("unit"))
        .collect();
    assert!(
        units.contains("dongchangfu") && units.iter().any(|u| u.starts_with("dongchangfu_")),
        "{units:?}"
    );

    let wildcard = app.get("/v1/subjects?q=%25", &t).await;
    assert_eq!(
        wildcard.body["items"].as_array().expect("items").len(),
        0,
        "% is literal, not a wildcard"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn templates_publish_new_immutable_versions() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    let v1 = app.get("/v1/templates/stockpile/versions/1", &admin).await;
    assert_eq!(v1.status, StatusCode::OK);
    let draft = json!({"subject_kind": "stockpile", "title_zh": "堆场扬尘检查（应急）", "title_en": "Stockpile (emergency)",
        "items": [{"code": "SP1", "label_zh": "苫盖", "label_en": "Covered", "weight": 100, "critical": true,
                   "answer": {"kind": "pass_fail", "allow_na": false}, "photo_required_on_fail": true}]});
    let r = app
        .post(
            "/v1/templates/stockpile/versions",
            Some(&admin),
            draft.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["version"], 2);
    let again = app.get("/v1/templates/stockpile/versions/1", &admin).await;
    assert_eq!(again.body, v1.body, "version 1 is unchanged");
    let latest = app.get("/v1/templates", &admin).await;
    let stockpile = latest.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["code"] == "stockpile")
        .cloned()
        .expect("stockpile");
    assert_eq!(stockpile["version"], 2);
    let mut wrong_kind = draft;
    wrong_kind["subject_kind"] = json!("restaurant");
    let r = app
        .post("/v1/templates/stockpile/versions", Some(&admin), wrong_kind)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // The database itself refuses to change a published version.
    let edit = app
        .store
        .write(|c| Ok(c.raw().execute("UPDATE checklist_templates SET title_zh = 'x' WHERE code = 'stockpile' AND version = 1", [])?))
        .await;
    let refused = edit.expect_err("a published version changed").to_string();
    assert!(
        refused.contains("published template versions are immutable"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_campaign_lists_fifteen_tasks_with_their_units_and_departments() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Viewer).await;
    let r = app.get("/v1/campaigns/autumn-winter-2019", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    let tasks = r.body["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 15);
    assert_eq!(
        tasks[14]["supervising_departments"][0],
        "assessment_supervision"
    );
    assert!(
        tasks[9]["responsible_units"]
            .as_array()
            .expect("units")
            .iter()
            .any(|u| u == "enforcement_detachment")
    );
    assert_eq!(r.body["starts_on"], "2019-10-01");
}

/// The ledger date through the API: created without one, a subject is on the ledger from today;
/// an edit that names a date sets it, and an edit that names none keeps it.
#[tokio::test]
async fn an_edit_sets_the_ledger_date_and_one_without_keeps_it() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::UnitAdmin).await;
    let created = app
        .post("/v1/subjects", Some(&t), site("dongchangfu_gulou"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    assert_eq!(created.body["on_ledger_since"], today.to_string());
    let path = format!("/v1/subjects/{}", created.body["id"].as_str().expect("id"));
    let mut edit = site("dongchangfu_gulou");
    edit["on_ledger_since"] = json!("2024-03-01");
    let dated = app.put(&path, &t, Some("\"1\""), edit).await;
    assert_eq!(dated.status, StatusCode::OK, "{:?}", dated.body);
    assert_eq!(dated.body["on_ledger_since"], "2024-03-01");
    let mut renamed = site("dongchangfu_gulou");
    renamed["name"] = json!("光岳路综合管廊工程（三期）");
    let kept = app.put(&path, &t, Some("\"2\""), renamed).await;
    assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    assert_eq!(kept.body["on_ledger_since"], "2024-03-01");
    let mut bad = site("dongchangfu_gulou");
    bad["on_ledger_since"] = json!("last spring");
    let refused = app.put(&path, &t, Some("\"3\""), bad).await;
    assert!(refused.status.is_client_error(), "{:?}", refused.body);
}

/// The ledger is searched by an attribute's value as well as by text, kind and unit.
#[tokio::test]
async fn subjects_are_found_by_an_attribute() {
    let app = lantian_tests::spawn_app().await;
    let t = app.demo_token(lantian_domain::user::Role::Supervisor).await;
    let all = app.get("/v1/subjects?kind=restaurant&limit=500", &t).await;
    let graded = app
        .get("/v1/subjects?kind=restaurant&attr=grade:b&limit=500", &t)
        .await;
    assert_eq!(graded.status, reqwest::StatusCode::OK, "{:?}", graded.body);
    let items = graded.body["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the demo has grade b restaurants");
    assert!(items.iter().all(|s| s["attributes"]["grade"] == "b"));
    assert!(items.len() < all.body["items"].as_array().expect("all").len());
    for bad in ["grade", "Grade:b", ":b", "grade:"] {
        let r = app.get(&format!("/v1/subjects?attr={bad}"), &t).await;
        assert_eq!(r.status, reqwest::StatusCode::BAD_REQUEST, "{bad}");
    }
    let none = app.get("/v1/subjects?attr=grade:zzz", &t).await;
    assert_eq!(none.body["items"].as_array().map(Vec::len), Some(0));
}

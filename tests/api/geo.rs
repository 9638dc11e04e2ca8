//! Geography over HTTP: nearby search, coordinates refused with their codes, location verdicts on
//! inspections (and their update when a photo brings an EXIF position), GeoJSON out and back in,
//! coverage.

use lantian_domain::geo::{self, Datum};
use lantian_domain::user::Role;
use lantian_media::testing::{self, ExifSpec};
use lantian_tests::photos::{self, sha256_hex};
use lantian_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A point in dongchangfu, away from the demo subjects' streets.
const P: (f64, f64) = (36.4711, 115.9433);

async fn create_restaurant(
    app: &TestApp,
    token: &str,
    unit: &str,
    at: (f64, f64),
    name: &str,
) -> String {
    let r = app
        .post(
            "/v1/subjects",
            Some(token),
            json!({"name": name, "unit": unit, "kind": "restaurant", "attributes": {"grade": "b"},
                   "location": {"lat": at.0, "lon": at.1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["subject"]["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn nearby_finds_the_subject_in_front_of_the_officer_in_any_datum_and_only_their_own() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    let officer = app.demo_token(Role::Inspector).await; // dongchangfu
    let here = create_restaurant(&app, &admin, "dongchangfu_gulou", P, "眼前的饭店").await;
    let north = (P.0 + 150.0 / 111_195.0, P.1);
    let near = create_restaurant(&app, &admin, "dongchangfu", north, "北边的饭店").await;
    let foreign = create_restaurant(&app, &admin, "yanggu", P, "外县同址饭店").await;

    let r = app
        .get(
            &format!("/v1/subjects/nearby?lat={}&lon={}&radius=300", P.0, P.1),
            &officer,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let found = ids(&r.body);
    assert_eq!(found.first(), Some(&here), "{found:?}");
    assert!(found.contains(&near));
    assert!(
        !found.contains(&foreign),
        "another county's subject is not the officer's"
    );
    let distances: Vec<f64> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["distance_m"].as_f64().expect("distance"))
        .collect();
    assert!(
        distances.windows(2).all(|w| w[0] <= w[1]),
        "nearest first: {distances:?}"
    );
    assert!(distances.iter().all(|d| *d <= 300.0));

    // The phone's map SDK reports GCJ-02: converted, the same subject is right here.
    for datum in [Datum::Gcj02, Datum::Bd09] {
        let (lat, lon) = geo::from_wgs84(P.0, P.1, datum);
        let name = match datum {
            Datum::Gcj02 => "gcj02",
            Datum::Bd09 => "bd09",
            Datum::Wgs84 => "wgs84",
        };
        let r = app
            .get(
                &format!("/v1/subjects/nearby?lat={lat}&lon={lon}&datum={name}&radius=50"),
                &officer,
            )
            .await;
        assert_eq!(ids(&r.body).first(), Some(&here), "{name}");
        assert!(r.body["items"][0]["distance_m"].as_f64().expect("d") < 1.0);
    }
    // The reference client asks the same question.
    let o = photos::officer(&app, "geo_nearby_cli", Role::Inspector, "dongchangfu").await;
    let (glat, glon) = geo::wgs84_to_gcj02(P.0, P.1);
    let found = o
        .client
        .nearby(glat, glon, Datum::Gcj02, 300.0, 5)
        .await
        .expect("nearby");
    assert_eq!(
        found.first().map(|(_, s)| s.id.to_string()),
        Some(here.clone())
    );
    // A radius too small for the northern one; a kind filter.
    let r = app
        .get(
            &format!("/v1/subjects/nearby?lat={}&lon={}&radius=100", P.0, P.1),
            &officer,
        )
        .await;
    assert!(!ids(&r.body).contains(&near));
    let r = app
        .get(
            &format!(
                "/v1/subjects/nearby?lat={}&lon={}&radius=300&kind=construction_site",
                P.0, P.1
            ),
            &officer,
        )
        .await;
    assert!(!ids(&r.body).contains(&here));

    // The index follows changes: the subject moved away is no longer nearby.
    let moved = app
        .put(
            &format!("/v1/subjects/{here}"),
            &admin,
            Some("\"1\""),
            json!({"name": "搬走的饭店", "unit": "dongchangfu_gulou", "kind": "restaurant", "attributes": {"grade": "b"},
                   "location": {"lat": P.0 + 0.05, "lon": P.1}}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let r = app
        .get(
            &format!("/v1/subjects/nearby?lat={}&lon={}&radius=300", P.0, P.1),
            &officer,
        )
        .await;
    assert!(!ids(&r.body).contains(&here));
}

#[tokio::test]
async fn impossible_coordinates_are_refused_each_with_its_code() {
    let app = spawn_app().await;
    let officer = app.demo_token(Role::Inspector).await;
    for (lat, lon, code) in [
        ("NaN", "115.98", "coordinate_not_finite"),
        ("36.4", "inf", "coordinate_not_finite"),
        ("95.0", "115.98", "coordinate_out_of_range"),
        ("36.4", "181", "coordinate_out_of_range"),
        ("115.98", "36.45", "coordinate_swapped"),
        ("0", "0", "coordinate_null_island"),
    ] {
        let r = app
            .get(
                &format!("/v1/subjects/nearby?lat={lat}&lon={lon}"),
                &officer,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{lat},{lon}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["detail"], code, "{lat},{lon}");
    }
    // In a submitted inspection: rejected with the same codes, nothing recorded.
    let o = photos::officer(&app, "geo_coords", Role::Inspector, "dongchangfu").await;
    for ((lat, lon), code) in [
        ((115.98, 36.45), "coordinate_swapped"),
        ((0.0, 0.0), "coordinate_null_island"),
        ((-91.0, 10.0), "coordinate_out_of_range"),
    ] {
        let mut s = photos::draft(&o, 31);
        s.location.lat = lat;
        s.location.lon = lon;
        // The field client refuses it before queueing, with the server's code...
        let offline = o.client.submit_inspection(&s).expect_err("refused offline");
        assert!(offline.to_string().contains(code), "{offline}");
        // ...and a client that queues it anyway is refused by the server.
        o.client
            .enqueue(
                "inspection.submit",
                &serde_json::to_value(&s).expect("json"),
            )
            .expect("queued");
        let summary = o.client.push().await.expect("push");
        assert_eq!(summary.rejected, 1, "{code}");
        let last = o.client.outbox().expect("outbox").pop().expect("queued");
        assert_eq!(last.code.as_deref(), Some(code));
    }
}

#[tokio::test]
async fn every_inspection_carries_a_verdict_that_photos_can_change() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "geo_verdict", Role::Inspector, "dongchangfu").await;
    // On site, in GCJ-02 as a map SDK would report it.
    let mut s = photos::draft(&o, 32);
    let subject: lantian_domain::subject::Subject = o
        .client
        .entity("subject", &s.subject_id.to_string())
        .expect("local")
        .expect("subject");
    let site = subject.location.expect("point");
    let (glat, glon) = geo::wgs84_to_gcj02(site.lat + 0.0002, site.lon);
    s.location.lat = glat;
    s.location.lon = glon;
    s.location.datum = Datum::Gcj02;
    photos::submit(&o, &s).await;
    o.client.pull().await.expect("pull");
    let view: lantian_domain::inspection::InspectionView = o
        .client
        .entity("inspection", &s.inspection_id.to_string())
        .expect("local")
        .expect("synced");
    let v = view.verdict.expect("verdict");
    assert_eq!(v.level, geo::VerdictLevel::Ok, "{v:?}");
    assert!(
        v.distance_to_point_m
            .is_some_and(|d| (15.0..30.0).contains(&d)),
        "{v:?}"
    );
    assert_eq!(view.location.datum, Datum::Gcj02, "the original is kept");
    assert!((view.location.lat - glat).abs() < 1e-12);

    // A photo whose EXIF says it was taken 3 km away makes the verdict doubtful.
    let expected = lantian_domain::inspection::expected_photos(&s.results, s.signature_photo_id)
        .expect("photos");
    let far = testing::jpeg(
        320,
        240,
        Some(&ExifSpec {
            gps: Some((site.lat + 0.027, site.lon)),
            ..ExifSpec::default()
        }),
    );
    let r = photos::upload(
        &app,
        &o.token,
        s.inspection_id,
        expected[0].0,
        &far,
        100_000,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    o.client.pull().await.expect("pull");
    let view: lantian_domain::inspection::InspectionView = o
        .client
        .entity("inspection", &s.inspection_id.to_string())
        .expect("local")
        .expect("synced");
    let v = view.verdict.expect("verdict");
    assert_eq!(v.level, geo::VerdictLevel::Doubtful);
    assert_eq!(v.reasons, ["exif_position_far"]);
    let _ = sha256_hex(&far);

    // 2 km off the subject, the next inspection is implausible.
    let mut s2 = photos::draft(&o, 33);
    let subject2: lantian_domain::subject::Subject = o
        .client
        .entity("subject", &s2.subject_id.to_string())
        .expect("local")
        .expect("subject");
    let p2 = subject2.location.expect("point");
    s2.location.lat = p2.lat + 0.018;
    s2.location.lon = p2.lon;
    s2.location.datum = Datum::Wgs84;
    photos::submit(&o, &s2).await;
    let level: String = app
        .store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT verdict_level FROM inspections WHERE uuid = ?1",
                [s2.inspection_id.to_string()],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("level");
    assert_eq!(level, "implausible");
}

/// The fields a GeoJSON round trip must keep, by id.
fn comparable(list: &Value) -> std::collections::BTreeMap<String, Value> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                json!([
                    s["name"],
                    s["unit"],
                    s["kind"],
                    s["attributes"],
                    s["location"],
                    s["geometry"]
                ]),
            )
        })
        .collect()
}

#[tokio::test]
async fn subjects_exported_as_geojson_and_imported_elsewhere_are_the_same_subjects() {
    let app = spawn_app().await;
    let admin = app.demo_token(Role::Admin).await;
    let site = app
        .post(
            "/v1/subjects",
            Some(&admin),
            json!({"name": "东昌湖工地", "unit": "yanggu", "kind": "construction_site",
                   "attributes": {"project_name": "湖滨路改造", "linear": false},
                   "location": {"lat": 36.1151, "lon": 115.7902},
                   "geometry": {"type": "Polygon", "coordinates": [[[115.789, 36.114], [115.7915, 36.114], [115.7915, 36.1162], [115.789, 36.1162], [115.789, 36.114]]]}}),
        )
        .await;
    assert_eq!(site.status, StatusCode::CREATED, "{:?}", site.body);
    let road = app
        .post(
            "/v1/subjects",
            Some(&admin),
            json!({"name": "振兴路段", "unit": "yanggu", "kind": "road_section",
                   "attributes": {"road_name": "振兴路", "road_class": "main"},
                   "location": {"lat": 36.112, "lon": 115.79},
                   "geometry": {"type": "LineString", "coordinates": [[115.78, 36.11], [115.79, 36.112], [115.80, 36.113]]}}),
        )
        .await;
    assert_eq!(road.status, StatusCode::CREATED, "{:?}", road.body);
    let truck = app
        .post(
            "/v1/subjects",
            Some(&admin),
            json!({"name": "渣土车", "unit": "yanggu", "kind": "muck_truck",
                   "attributes": {"plate_number": "鲁P·B7788", "approval_status": "approved"}}),
        )
        .await;
    assert_eq!(truck.status, StatusCode::CREATED, "{:?}", truck.body);

    let resp = app
        .client
        .get(format!("{}/v1/export/subjects?unit=yanggu", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let bytes = resp.bytes().await.expect("body");
    let doc: Value = serde_json::from_slice(&bytes).expect("valid JSON");
    let features = doc["features"].as_array().expect("features");
    let before = comparable(
        &app.get("/v1/subjects?unit=yanggu&limit=500", &admin)
            .await
            .body,
    );
    assert_eq!(features.len(), before.len());
    assert!(before.len() > 3);
    for f in features {
        if let Some(c) = f["geometry"]["coordinates"].as_array()
            && f["geometry"]["type"] == "Point"
        {
            assert!(
                c[0].as_f64().expect("lon") > 100.0,
                "RFC 7946 order is [lon, lat]"
            );
        }
    }

    // Into a server that has never seen these subjects.
    let other = lantian_tests::spawn_app_with(|_| {}, false).await;
    let rows = lantian_app::import::parse_geojson(&bytes).expect("the export parses as an import");
    let n = lantian_app::import::import(&other.store, rows, "test", &[])
        .await
        .expect("imported");
    assert_eq!(n, before.len());
    other
        .add_user("rt_admin", Role::Admin, "lcucb", photos::PASSWORD)
        .await;
    let t = other
        .tokens("rt_admin", photos::PASSWORD)
        .await
        .access_token;
    let after = comparable(
        &other
            .get("/v1/subjects?unit=yanggu&limit=500", &t)
            .await
            .body,
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn inspections_export_filters_by_verdict_and_month_and_coverage_counts_subjects() {
    let app = spawn_app().await;
    let o = photos::officer(&app, "geo_export", Role::Inspector, "dongchangfu").await;
    let (on_site, _) = photos::submitted(&o, 34).await;
    let mut far = photos::draft(&o, 35);
    far.location.lat += 0.05;
    photos::submit(&o, &far).await;

    let export = |q: &'static str, token: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(format!("{}/v1/export/inspections{q}", app.base))
                .bearer_auth(token)
                .send()
                .await
                .expect("export");
            assert_eq!(r.status(), StatusCode::OK);
            let doc: Value = r.json().await.expect("geojson");
            doc["features"]
                .as_array()
                .expect("features")
                .iter()
                .map(|f| f["properties"]["id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    let month = lantian_tests::this_month();
    let all = export("", o.token.clone()).await;
    assert_eq!(all.len(), 2);
    let implausible = export("?verdict=implausible", o.token.clone()).await;
    assert_eq!(implausible, [far.inspection_id.to_string()]);
    let ok = export("?verdict=ok", o.token.clone()).await;
    assert_eq!(ok, [on_site.inspection_id.to_string()]);
    assert!(export("?month=2019-12", o.token.clone()).await.is_empty());
    // Another officer of the unit exports nothing of theirs; their supervisor sees both.
    let peer = photos::officer(&app, "geo_export_peer", Role::Inspector, "dongchangfu").await;
    assert!(export("", peer.token.clone()).await.is_empty());
    let sup = app.demo_token(Role::Supervisor).await;
    assert_eq!(export("", sup.clone()).await.len(), 2);

    let r = app
        .get(&format!("/v1/coverage?month={month}&detail=true"), &sup)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let units = r.body["units"].as_array().expect("units");
    let inspected: i64 = units
        .iter()
        .map(|u| u["inspected"].as_i64().expect("n"))
        .sum();
    let inspections: i64 = units
        .iter()
        .map(|u| u["inspections"].as_i64().expect("n"))
        .sum();
    let distinct = if on_site.subject_id == far.subject_id {
        1
    } else {
        2
    };
    assert_eq!(inspected, distinct);
    assert_eq!(inspections, 2);
    let counted: i64 = units
        .iter()
        .flat_map(|u| u["by_subject"].as_array().expect("detail").iter())
        .filter(|s| s["id"] == on_site.subject_id.to_string())
        .map(|s| s["inspections"].as_i64().expect("n"))
        .sum();
    assert!(counted >= 1);
    let none = app.get("/v1/coverage?month=2019-12", &sup).await;
    assert!(
        none.body["units"]
            .as_array()
            .expect("units")
            .iter()
            .all(|u| u["inspections"] == 0)
    );
    let officer = app
        .get(&format!("/v1/coverage?month={month}"), &o.token)
        .await;
    assert_eq!(officer.status, StatusCode::FORBIDDEN);
}

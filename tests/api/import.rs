//! Import of subjects: malformed rows reported by line, nothing half-imported.

use chrono::Datelike;
use lantian_app::import::{ImportError, import, parse_csv, parse_file, parse_geojson};
use lantian_tests::spawn_app;

const GOOD_CSV: &str = "\u{feff}id,kind,name,unit,lat,lon,attr.grade,attr.plate_number,attr.approval_status,attr.pile_kind,geometry
,restaurant,水城羊肉馆,yanggu,36.115,115.79,b,,,,
,muck_truck,渣土车 鲁PB7788,yanggu,,,,鲁p·b7788,approved,,
,stockpile,运河路煤堆,shenxian,36.23,115.67,,,,coal,\"{\"\"type\"\":\"\"Polygon\"\",\"\"coordinates\"\":[[[115.669,36.229],[115.671,36.229],[115.671,36.231],[115.669,36.229]]]}\"
";

#[tokio::test]
async fn a_good_csv_imports_every_row() {
    let app = spawn_app().await;
    let before = app.subject_count().await;
    let rows = parse_csv(GOOD_CSV.as_bytes()).expect("parses");
    assert_eq!(
        import(&app.store, rows, "test", &[])
            .await
            .expect("imports"),
        3
    );
    assert_eq!(app.subject_count().await, before + 3);
    let attributes: String = app
        .store
        .read(|c| Ok(c.raw().query_row("SELECT attributes FROM subjects WHERE kind = 'muck_truck' AND name = '渣土车 鲁PB7788'", [], |r| r.get(0))?))
        .await
        .expect("plate");
    let attributes: serde_json::Value = serde_json::from_str(&attributes).expect("json");
    assert_eq!(
        attributes["plate_number"], "鲁PB7788",
        "plates are stored normalised"
    );
}

#[tokio::test]
async fn a_csv_with_bad_rows_reports_each_by_line_and_imports_nothing() {
    let app = spawn_app().await;
    let before = app.subject_count().await;
    let csv = "kind,name,unit,lat,lon,attr.grade
restaurant,好的一行,yanggu,36.1,115.8,a
restaurant,坐标不是数,yanggu,abc,115.8,a
restaurant,空岛,yanggu,0,0,a
restaurant,等级错,yanggu,36.1,115.8,z
muck_truck,无车牌,yanggu,,,
";
    let Err(ImportError::Rows(errors)) = parse_csv(csv.as_bytes()) else {
        panic!("must fail")
    };
    let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places, vec!["line 3", "line 4", "line 5", "line 6"]);
    assert!(
        errors[1].message.contains("coordinate_null_island"),
        "{}",
        errors[1].message
    );
    assert_eq!(app.subject_count().await, before);
}

#[tokio::test]
async fn rows_naming_unknown_units_or_taken_ids_import_nothing() {
    let app = spawn_app().await;
    let before = app.subject_count().await;
    let taken: String = app
        .store
        .read(|c| {
            Ok(c.raw()
                .query_row("SELECT uuid FROM subjects LIMIT 1", [], |r| r.get(0))?)
        })
        .await
        .expect("an id");
    let csv = format!(
        "id,kind,name,unit,lat,lon,attr.grade\n,restaurant,好,yanggu,36.1,115.8,a\n,restaurant,无此单位,atlantis,36.1,115.8,a\n{taken},restaurant,重复,yanggu,36.1,115.8,a\n"
    );
    let rows = parse_csv(csv.as_bytes()).expect("parses");
    let Err(ImportError::Rows(errors)) = import(&app.store, rows, "test", &[]).await else {
        panic!("must fail")
    };
    let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places, vec!["line 3", "line 4"]);
    assert_eq!(app.subject_count().await, before);
}

#[tokio::test]
async fn geojson_imports_points_and_boundaries_and_reports_bad_features() {
    let app = spawn_app().await;
    let before = app.subject_count().await;
    let good = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "id": "01890a5d-ac96-774b-bcce-b302099a8057", "geometry": {"type": "Point", "coordinates": [115.99, 36.45]},
       "properties": {"kind": "restaurant", "name": "湖畔火锅", "unit": "dongchangfu", "attributes": {"grade": "a"}}},
      {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[115.98, 36.44], [115.99, 36.445]]},
       "properties": {"kind": "road_section", "name": "东昌路（柳园路—花园路段）", "unit": "dongchangfu", "lat": 36.442, "lon": 115.985,
                      "attributes": {"road_name": "东昌路", "road_class": "main"}}},
      {"type": "Feature", "geometry": null, "properties": {"kind": "muck_truck", "name": "渣土车", "unit": "linqing",
       "attributes": {"plate_number": "鲁PC1234", "approval_status": "approved"}}}
    ]}"#;
    let rows = parse_file(good.as_bytes()).expect("parses as GeoJSON");
    assert_eq!(
        import(&app.store, rows, "test", &[])
            .await
            .expect("imports"),
        3
    );
    assert_eq!(app.subject_count().await, before + 3);

    let bad = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": [115.99, 36.45]}, "properties": {"kind": "restaurant", "name": "好", "unit": "dongchangfu", "attributes": {"grade": "a"}}},
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["x", 36.45]}, "properties": {"kind": "restaurant", "name": "坏", "unit": "dongchangfu", "attributes": {"grade": "a"}}},
      {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[115.9, 36.4], [115.91, 36.4], [115.91, 36.41], [115.9, 36.4]]]}, "properties": {"kind": "road_section", "name": "路", "unit": "dongchangfu", "attributes": {"road_name": "x", "road_class": "main"}}}
    ]}"#;
    let Err(ImportError::Rows(errors)) = parse_geojson(bad.as_bytes()) else {
        panic!("must fail")
    };
    let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places, vec!["feature 2", "feature 3"]);
}

/// Ledger dates: a bureau that imports its ledger today says since when each subject has been on
/// it, and a past month is assessed with the subjects on the ledger then. Without a date a subject
/// is on the ledger from the day it is created; an edit that names no date keeps it.
#[tokio::test]
async fn imported_ledger_dates_make_past_months_assessable() {
    let app = spawn_app().await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let back = today - chrono::Duration::days(95);
    let month = back.format("%Y-%m").to_string();
    let since = back.with_day(1).expect("first day");
    let csv = format!(
        "kind,name,unit,lat,lon,on_ledger_since\n\
         construction_site,台账工地一,gaotang,36.86,116.23,{since}\n\
         construction_site,台账工地二,gaotang,36.87,116.24,{since}\n\
         construction_site,新登记工地,gaotang,36.88,116.25,\n"
    );
    let rows = parse_csv(csv.as_bytes()).expect("parses");
    let ids: Vec<uuid::Uuid> = rows.iter().map(|(_, id, _)| *id).collect();
    assert_eq!(
        import(&app.store, rows, "test", &[])
            .await
            .expect("imports"),
        3
    );
    let bad = parse_csv(
        "kind,name,unit,lat,lon,on_ledger_since\nconstruction_site,x,gaotang,36.8,116.2,去年\n"
            .as_bytes(),
    );
    let Err(ImportError::Rows(errors)) = bad else {
        panic!("a bad date is a row error")
    };
    assert!(errors[0].message.contains("on_ledger_since"), "{errors:?}");

    let report = lantian::assessment::run(&app.store, &month, true)
        .await
        .expect("rollup of a past month");
    assert_eq!(report.revision, 1);
    let due = app
        .store
        .read({
            let month = month.clone();
            move |c| {
                Ok(
                    lantian_store::assessment::latest(c, "demo", &month, "official")?
                        .expect("stored")
                        .units
                        .into_iter()
                        .find(|u| u.unit == "gaotang")
                        .expect("gaotang")
                        .counts
                        .subjects_due,
                )
            }
        })
        .await
        .expect("read");
    assert_eq!(
        due, 2,
        "the two on the ledger then, not the one registered today"
    );

    let admin = app.demo_token(lantian_domain::user::Role::Admin).await;
    let read = app.get(&format!("/v1/subjects/{}", ids[2]), &admin).await;
    assert_eq!(
        read.body["on_ledger_since"],
        today.to_string(),
        "{:?}",
        read.body
    );
    let first = app.get(&format!("/v1/subjects/{}", ids[0]), &admin).await;
    assert_eq!(first.body["on_ledger_since"], since.to_string());
}

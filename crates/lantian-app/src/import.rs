//! Importing subjects from CSV or GeoJSON: every row is checked first, and if any row is wrong,
//! all errors are reported (by line or feature number) and nothing is imported. Otherwise all rows
//! go in one transaction.
//!
//! CSV (UTF-8, with or without BOM), one subject per row, header required:
//!
//! | column | meaning |
//! |---|---|
//! | `id` | optional UUID; blank for a new one |
//! | `kind` | `construction_site`, `restaurant`, `muck_truck`, `stockpile`, `non_road_machinery`, `road_section`, `bare_land`, `industry_cluster` |
//! | `name` | the subject's name |
//! | `unit` | code of the responsible unit |
//! | `lat`, `lon` | WGS-84 decimal degrees (blank for muck trucks) |
//! | `geometry` | optional GeoJSON geometry (boundary polygon or route line) |
//! | `attr.<field>` | attributes of the kind (e.g. `attr.plate_number`); blank cells are ignored |
//! | `on_ledger_since` | optional `YYYY-MM-DD`: the day from which it is on the ledger (default: today) |
//!
//! GeoJSON: a FeatureCollection; each feature has `properties.kind`, `name`, `unit`, optional
//! `attributes` (object), `id` and `on_ledger_since`; a Point geometry is the subject's location, any other geometry
//! its boundary or route, with the location then taken from `properties.lat`/`lon`.

use std::collections::BTreeSet;

use lantian_domain::subject::{FieldType, GeoPoint, SubjectDraft, SubjectKind};
use lantian_protocol::reference::SubjectFields;
use lantian_store::{Store, audit, org, subjects, sync};
use uuid::Uuid;

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// `line N` (CSV, counting the header as line 1) or `feature N` (GeoJSON, from 1).
    pub place: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

#[derive(Debug)]
pub enum ImportError {
    /// The file could not be read as a whole.
    Unreadable(String),
    /// Some rows are wrong; nothing was imported.
    Rows(Vec<RowError>),
    /// Storing failed; nothing was imported.
    Store(crate::AppError),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Unreadable(m) => write!(f, "the file cannot be read: {m}"),
            ImportError::Rows(rows) => {
                writeln!(f, "{} row(s) are wrong; nothing was imported:", rows.len())?;
                for r in rows {
                    writeln!(f, "  {r}")?;
                }
                Ok(())
            }
            ImportError::Store(e) => write!(f, "storing failed, nothing was imported: {e}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// A parsed row: where it came from, its id, its subject.
pub type Parsed = (String, Uuid, SubjectDraft);

/// Rows as they are parsed: every good one, and every error with its place.
#[derive(Default)]
struct Rows {
    out: Vec<Parsed>,
    errors: Vec<RowError>,
}

impl Rows {
    fn add(&mut self, place: String, row: Result<(Uuid, SubjectDraft), String>) {
        match row {
            Ok((id, draft)) => self.out.push((place, id, draft)),
            Err(message) => self.errors.push(RowError { place, message }),
        }
    }

    /// All rows, or all the errors: nothing half-parsed.
    fn finish(self) -> Result<Vec<Parsed>, ImportError> {
        if self.errors.is_empty() {
            Ok(self.out)
        } else {
            Err(ImportError::Rows(self.errors))
        }
    }
}

/// An attribute's value read from a text cell by its field's type (a CSV cell, a console form's
/// field): yes/no in Chinese or English, whole numbers, one of a choice. The message names the
/// field when the text does not fit.
pub fn attribute_from_cell(
    kind: SubjectKind,
    field: &str,
    raw: &str,
) -> Result<serde_json::Value, String> {
    let Some((_, ty)) = kind.attribute_fields().iter().find(|(n, _)| *n == field) else {
        return Err(format!(
            "attribute {field} does not belong to a {}",
            kind.as_str()
        ));
    };
    Ok(match ty {
        FieldType::Text | FieldType::Date => serde_json::Value::String(raw.to_owned()),
        FieldType::Bool => match raw.to_lowercase().as_str() {
            "true" | "yes" | "1" | "是" | "y" => serde_json::Value::Bool(true),
            "false" | "no" | "0" | "否" | "n" => serde_json::Value::Bool(false),
            _ => return Err(format!("attr.{field}: {raw:?} is not yes/no")),
        },
        FieldType::Integer => serde_json::Value::from(
            raw.parse::<u32>()
                .map_err(|_| format!("attr.{field}: {raw:?} is not a whole number"))?,
        ),
        FieldType::Choice(options) => {
            let v = raw.to_lowercase();
            if !options.contains(&v.as_str()) {
                return Err(format!(
                    "attr.{field}: {raw:?} is not one of {}",
                    options.join(", ")
                ));
            }
            serde_json::Value::String(v)
        }
    })
}

/// A ledger date as written in a file: `YYYY-MM-DD`.
fn ledger_date(raw: &str) -> Result<chrono::NaiveDate, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("on_ledger_since {raw:?} is not a date (YYYY-MM-DD)"))
}

fn parse_coordinate(raw: &str, name: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .map_err(|_| format!("{name}: {raw:?} is not a number"))
}

/// Parses CSV bytes into subjects, or every row error.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Parsed>, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Unreadable(e.to_string()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(kind_col), Some(name_col), Some(unit_col)) = (col("kind"), col("name"), col("unit"))
    else {
        return Err(ImportError::Unreadable(
            "the header must name at least kind, name and unit".into(),
        ));
    };
    let known: BTreeSet<&str> = [
        "id",
        "kind",
        "name",
        "unit",
        "lat",
        "lon",
        "geometry",
        "on_ledger_since",
    ]
    .into();
    for h in headers.iter() {
        let h = h.trim();
        if !known.contains(h) && !h.starts_with("attr.") {
            return Err(ImportError::Unreadable(format!("unknown column {h:?}")));
        }
    }
    let (id_col, lat_col, lon_col, geo_col) = (col("id"), col("lat"), col("lon"), col("geometry"));
    let ledger_col = col("on_ledger_since");
    let mut rows = Rows::default();
    for (i, record) in reader.records().enumerate() {
        let place = format!("line {}", i + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.add(place, Err(e.to_string()));
                continue;
            }
        };
        let get = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let row = (|| -> Result<(Uuid, SubjectDraft), String> {
            let kind_text = get(Some(kind_col)).ok_or("kind is empty")?;
            let kind = SubjectKind::parse(kind_text)
                .ok_or_else(|| format!("unknown kind {kind_text:?}"))?;
            let id = match get(id_col) {
                Some(s) => Uuid::parse_str(s).map_err(|_| format!("id {s:?} is not a UUID"))?,
                None => Uuid::now_v7(),
            };
            let mut attributes = serde_json::Map::new();
            for (c, h) in headers.iter().enumerate() {
                if let (Some(field), Some(v)) = (h.trim().strip_prefix("attr."), get(Some(c))) {
                    attributes.insert(field.to_owned(), attribute_from_cell(kind, field, v)?);
                }
            }
            let location = match (get(lat_col), get(lon_col)) {
                (Some(lat), Some(lon)) => Some(GeoPoint {
                    lat: parse_coordinate(lat, "lat")?,
                    lon: parse_coordinate(lon, "lon")?,
                }),
                (None, None) => None,
                _ => return Err("lat and lon go together".into()),
            };
            let geometry = get(geo_col)
                .map(|g| serde_json::from_str(g).map_err(|e| format!("geometry is not JSON: {e}")))
                .transpose()?;
            let fields = SubjectFields {
                name: get(Some(name_col)).ok_or("name is empty")?.to_owned(),
                unit: get(Some(unit_col)).ok_or("unit is empty")?.to_owned(),
                kind,
                attributes: serde_json::Value::Object(attributes),
                location,
                geometry,
                on_ledger_since: get(ledger_col).map(ledger_date).transpose()?,
            };
            Ok((id, fields.into_draft().map_err(|e| e.to_string())?))
        })();
        rows.add(place, row);
    }
    rows.finish()
}

/// A representative point of a boundary or route, for features that carry no `lat`/`lon`: the
/// mean of the first ring's (or line's) distinct positions.
fn representative_point(g: &serde_json::Value) -> Option<GeoPoint> {
    let coords = g.get("coordinates")?;
    let ring = match g.get("type")?.as_str()? {
        "Polygon" => coords.get(0)?,
        "MultiPolygon" => coords.get(0)?.get(0)?,
        "LineString" => coords,
        "MultiLineString" => coords.get(0)?,
        _ => return None,
    };
    let pts: Vec<(f64, f64)> = ring
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .collect();
    let distinct = if pts.len() > 1 && pts.first() == pts.last() {
        &pts[..pts.len() - 1]
    } else {
        &pts[..]
    };
    if distinct.is_empty() {
        return None;
    }
    let n = distinct.len() as f64;
    Some(GeoPoint {
        lon: distinct.iter().map(|p| p.0).sum::<f64>() / n,
        lat: distinct.iter().map(|p| p.1).sum::<f64>() / n,
    })
}

/// Parses a GeoJSON FeatureCollection into subjects, or every feature error.
pub fn parse_geojson(bytes: &[u8]) -> Result<Vec<Parsed>, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ImportError::Unreadable(e.to_string()))?;
    if doc.get("type").and_then(|t| t.as_str()) != Some("FeatureCollection") {
        return Err(ImportError::Unreadable(
            "not a GeoJSON FeatureCollection".into(),
        ));
    }
    let features = doc
        .get("features")
        .and_then(|f| f.as_array())
        .ok_or_else(|| {
            ImportError::Unreadable("the FeatureCollection has no features array".into())
        })?;
    let mut rows = Rows::default();
    for (i, f) in features.iter().enumerate() {
        let place = format!("feature {}", i + 1);
        let row = (|| -> Result<(Uuid, SubjectDraft), String> {
            let props = f
                .get("properties")
                .and_then(|p| p.as_object())
                .ok_or("no properties")?;
            let text = |k: &str| props.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let kind_text = text("kind").ok_or("properties.kind is missing")?;
            let kind = SubjectKind::parse(&kind_text)
                .ok_or_else(|| format!("unknown kind {kind_text:?}"))?;
            let id = match f
                .get("id")
                .or_else(|| props.get("id"))
                .and_then(|v| v.as_str())
            {
                Some(s) => Uuid::parse_str(s).map_err(|_| format!("id {s:?} is not a UUID"))?,
                None => Uuid::now_v7(),
            };
            let geometry = f.get("geometry").filter(|g| !g.is_null()).cloned();
            let prop_point = match (
                props.get("lat").and_then(|v| v.as_f64()),
                props.get("lon").and_then(|v| v.as_f64()),
            ) {
                (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
                _ => None,
            };
            let (location, boundary) = match geometry {
                Some(g) if g.get("type").and_then(|t| t.as_str()) == Some("Point") => {
                    let c = g
                        .get("coordinates")
                        .and_then(|c| c.as_array())
                        .ok_or("Point without coordinates")?;
                    let lon = c
                        .first()
                        .and_then(|v| v.as_f64())
                        .ok_or("Point longitude is not a number")?;
                    let lat = c
                        .get(1)
                        .and_then(|v| v.as_f64())
                        .ok_or("Point latitude is not a number")?;
                    (Some(GeoPoint { lat, lon }), None)
                }
                Some(g) => (prop_point.or_else(|| representative_point(&g)), Some(g)),
                None => (prop_point, None),
            };
            let fields = SubjectFields {
                name: text("name").ok_or("properties.name is missing")?,
                unit: text("unit").ok_or("properties.unit is missing")?,
                kind,
                attributes: props
                    .get("attributes")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({})),
                location,
                geometry: boundary,
                on_ledger_since: text("on_ledger_since")
                    .as_deref()
                    .map(ledger_date)
                    .transpose()?,
            };
            Ok((id, fields.into_draft().map_err(|e| e.to_string())?))
        })();
        rows.add(place, row);
    }
    rows.finish()
}

/// Parses a file by its content: GeoJSON if it starts with `{`, CSV otherwise.
pub fn parse_file(bytes: &[u8]) -> Result<Vec<Parsed>, ImportError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        parse_geojson(bytes)
    } else {
        parse_csv(bytes)
    }
}

/// The operation: checks units and ids against the store and reports every problem by its line,
/// then imports all rows in one transaction, audited under `actor`. A unit outside `within` (a
/// subtree's root path; empty for the operator, who reaches everything) is reported exactly as a
/// unit that does not exist. The CLI (`lantian import`) and the console's upload
/// ([`App::import_subjects`](crate::App::import_subjects)) call this; the parsers above turn their bytes into rows.
pub async fn import(
    store: &Store,
    rows: Vec<Parsed>,
    actor: &str,
    within: &[String],
) -> Result<usize, ImportError> {
    let codes: BTreeSet<String> = rows.iter().map(|(_, _, d)| d.unit.clone()).collect();
    let within = within.to_vec();
    let ids: Vec<Uuid> = rows.iter().map(|(_, id, _)| *id).collect();
    let (missing_units, existing_ids) = store
        .read(move |c| {
            let mut missing = BTreeSet::new();
            for code in codes {
                let reached =
                    org::unit_by_code(c, &code)?.is_some_and(|u| u.unit.path.starts_with(&within));
                if !reached {
                    missing.insert(code);
                }
            }
            let mut existing = BTreeSet::new();
            for id in ids {
                if subjects::get(c, id)?.is_some() {
                    existing.insert(id);
                }
            }
            Ok((missing, existing))
        })
        .await
        .map_err(|e| ImportError::Store(e.into()))?;
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (place, id, d) in &rows {
        if missing_units.contains(&d.unit) {
            errors.push(RowError {
                place: place.clone(),
                message: format!("no unit with code {:?}", d.unit),
            });
        }
        if existing_ids.contains(id) {
            errors.push(RowError {
                place: place.clone(),
                message: format!("a subject with id {id} already exists"),
            });
        }
        if !seen.insert(*id) {
            errors.push(RowError {
                place: place.clone(),
                message: format!("id {id} appears twice in the file"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    let n = rows.len();
    let actor = actor.to_owned();
    store
        .write(move |c| {
            for (_, id, draft) in rows {
                let rec = subjects::insert(c, sync::Group::new(), id, draft)?;
                audit::record(
                    c,
                    &actor,
                    "subject.import",
                    "subject",
                    &id.to_string(),
                    None,
                    Some(audit::object_hash(&rec.subject)?),
                )?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ImportError::Store(e.into()))?;
    Ok(n)
}

impl crate::App {
    /// Imports subjects from an uploaded CSV or GeoJSON file into units of the caller's subtree,
    /// all or nothing, by the same rules as `lantian import` ([`import`]); a unit outside the
    /// subtree reads as one that does not exist. For those who may create subjects.
    pub async fn import_subjects(
        &self,
        actor: &crate::Actor,
        bytes: &[u8],
    ) -> Result<usize, ImportError> {
        actor
            .may(
                lantian_domain::policy::Action::CreateSubject,
                Some(&actor.unit_path),
            )
            .map_err(ImportError::Store)?;
        let rows = parse_file(bytes)?;
        if rows.is_empty() {
            return Err(ImportError::Unreadable("the file has no subjects".into()));
        }
        import(
            self.store(),
            rows,
            &actor.uuid.to_string(),
            &actor.unit_path,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_with_bom_and_attributes_parses() {
        let csv = "\u{feff}kind,name,unit,lat,lon,attr.grade,attr.plate_number,attr.approval_status\nrestaurant,老街烧烤,dongchangfu,36.45,115.98,B,,\nmuck_truck,渣土车,yanggu,,,,鲁P·A1234,approved\n";
        let rows = parse_csv(csv.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].2.kind(), SubjectKind::Restaurant);
    }

    #[test]
    fn every_bad_row_is_reported_by_line() {
        let csv = "kind,name,unit,lat,lon,attr.grade\nrestaurant,ok,dongchangfu,36.45,115.98,a\nrestaurant,bad grade,dongchangfu,36.45,115.98,z\nspaceship,x,dongchangfu,36.4,115.9,\nrestaurant,no place,dongchangfu,,,a\n";
        let Err(ImportError::Rows(errors)) = parse_csv(csv.as_bytes()) else {
            panic!("must fail")
        };
        let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
        assert_eq!(places, vec!["line 3", "line 4", "line 5"]);
    }

    #[test]
    fn a_polygon_feature_takes_its_location_from_its_ring() {
        let gj = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"stockpile","name":"煤堆","unit":"yanggu","attributes":{"pile_kind":"coal"}},
            "geometry":{"type":"Polygon","coordinates":[[[115.0,36.0],[115.002,36.0],[115.002,36.002],[115.0,36.002],[115.0,36.0]]]}}]}"#;
        let rows = parse_geojson(gj.as_bytes()).expect("parses");
        let p = rows[0].2.location.expect("location");
        assert!((p.lat - 36.001).abs() < 1e-9 && (p.lon - 115.001).abs() < 1e-9);
    }
}

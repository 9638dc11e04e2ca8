//! Subjects (检查对象): what officers inspect. Each has a kind, a responsible unit, a place (a point,
//! and where known a boundary polygon or a route) and attributes that depend on its kind.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// 施工工地 (tasks 4, 5).
    ConstructionSite,
    /// 餐饮单位 (task 11).
    Restaurant,
    /// 渣土运输车 (task 10): inspected wherever it is stopped.
    MuckTruck,
    /// 堆场 (task 8).
    Stockpile,
    /// 非道路移动机械 (task 4).
    NonRoadMachinery,
    /// 城市道路 (task 6).
    RoadSection,
    /// 裸土、闲置土地 (task 7).
    BareLand,
    /// 传统产业集群周边 (task 1).
    IndustryCluster,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 8] = [
        SubjectKind::ConstructionSite,
        SubjectKind::Restaurant,
        SubjectKind::MuckTruck,
        SubjectKind::Stockpile,
        SubjectKind::NonRoadMachinery,
        SubjectKind::RoadSection,
        SubjectKind::BareLand,
        SubjectKind::IndustryCluster,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::ConstructionSite => "construction_site",
            SubjectKind::Restaurant => "restaurant",
            SubjectKind::MuckTruck => "muck_truck",
            SubjectKind::Stockpile => "stockpile",
            SubjectKind::NonRoadMachinery => "non_road_machinery",
            SubjectKind::RoadSection => "road_section",
            SubjectKind::BareLand => "bare_land",
            SubjectKind::IndustryCluster => "industry_cluster",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectKind> {
        SubjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Muck trucks move: their inspection location is the officer's, and they carry no fixed point.
    pub fn has_fixed_place(self) -> bool {
        self != SubjectKind::MuckTruck
    }

    /// The attribute fields of this kind and their types, for importers that read text cells.
    pub fn attribute_fields(self) -> &'static [(&'static str, FieldType)] {
        use FieldType::*;
        match self {
            SubjectKind::ConstructionSite => &[
                ("project_name", Text),
                ("builder", Text),
                ("linear", Bool),
                ("sunshine_construction", Bool),
            ],
            SubjectKind::Restaurant => &[
                ("grade", Choice(&["a", "b", "c"])),
                ("licence_number", Text),
                ("seats", Integer),
            ],
            SubjectKind::MuckTruck => &[
                ("plate_number", Text),
                ("carrier_company", Text),
                (
                    "approval_status",
                    Choice(&["approved", "pending", "suspended", "revoked"]),
                ),
                ("approved_until", Date),
            ],
            SubjectKind::Stockpile => &[
                ("pile_kind", Choice(&["coal", "ash", "material", "spoil"])),
                ("owner", Text),
            ],
            SubjectKind::NonRoadMachinery => &[
                ("ledger_number", Text),
                ("machine_type", Text),
                ("emission_stage", Text),
                ("owner", Text),
            ],
            SubjectKind::RoadSection => &[
                ("road_name", Text),
                (
                    "road_class",
                    Choice(&["main", "secondary", "branch", "back_street"]),
                ),
                ("sweeping_per_day", Integer),
            ],
            SubjectKind::BareLand => &[
                ("area_m2", Integer),
                (
                    "treatment",
                    Choice(&["none", "greened", "hardened", "covered"]),
                ),
                ("owner", Text),
            ],
            SubjectKind::IndustryCluster => &[("cluster_name", Text), ("industry", Text)],
        }
    }
}

/// Type of an attribute field as read from a text cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Bool,
    Integer,
    /// `YYYY-MM-DD`.
    Date,
    Choice(&'static [&'static str]),
}

/// Attributes by kind. On the wire: `{"kind": "restaurant", "attributes": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "attributes", rename_all = "snake_case")]
pub enum SubjectAttributes {
    ConstructionSite(ConstructionSite),
    Restaurant(Restaurant),
    MuckTruck(MuckTruck),
    Stockpile(Stockpile),
    NonRoadMachinery(NonRoadMachinery),
    RoadSection(RoadSection),
    BareLand(BareLand),
    IndustryCluster(IndustryCluster),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstructionSite {
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub builder: Option<String>,
    /// Linear works (roads, pipes) must be done section by section (CS7).
    #[serde(default)]
    pub linear: bool,
    /// 阳光施工: daytime work only.
    #[serde(default)]
    pub sunshine_construction: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restaurant {
    /// Grade in the graded (分级) management scheme; it sets how often the restaurant is inspected.
    pub grade: RestaurantGrade,
    #[serde(default)]
    pub licence_number: Option<String>,
    #[serde(default)]
    pub seats: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestaurantGrade {
    A,
    B,
    C,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuckTruck {
    /// The natural key an officer types at a roadside check, e.g. `鲁P·A1234`.
    pub plate_number: String,
    #[serde(default)]
    pub carrier_company: Option<String>,
    pub approval_status: ApprovalStatus,
    #[serde(default)]
    pub approved_until: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Approved,
    Pending,
    Suspended,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stockpile {
    pub pile_kind: PileKind,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PileKind {
    Coal,
    Ash,
    Material,
    Spoil,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonRoadMachinery {
    /// Number on the non-road machinery ledger (台账).
    #[serde(default)]
    pub ledger_number: Option<String>,
    #[serde(default)]
    pub machine_type: Option<String>,
    /// Emission standard stage, e.g. `国三`.
    #[serde(default)]
    pub emission_stage: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadSection {
    pub road_name: String,
    pub road_class: RoadClass,
    /// Required mechanised sweeping passes per day.
    #[serde(default)]
    pub sweeping_per_day: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoadClass {
    Main,
    Secondary,
    Branch,
    BackStreet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BareLand {
    #[serde(default)]
    pub area_m2: Option<u32>,
    pub treatment: BareLandTreatment,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BareLandTreatment {
    None,
    Greened,
    Hardened,
    Covered,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndustryCluster {
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
}

impl SubjectAttributes {
    pub fn kind(&self) -> SubjectKind {
        match self {
            SubjectAttributes::ConstructionSite(_) => SubjectKind::ConstructionSite,
            SubjectAttributes::Restaurant(_) => SubjectKind::Restaurant,
            SubjectAttributes::MuckTruck(_) => SubjectKind::MuckTruck,
            SubjectAttributes::Stockpile(_) => SubjectKind::Stockpile,
            SubjectAttributes::NonRoadMachinery(_) => SubjectKind::NonRoadMachinery,
            SubjectAttributes::RoadSection(_) => SubjectKind::RoadSection,
            SubjectAttributes::BareLand(_) => SubjectKind::BareLand,
            SubjectAttributes::IndustryCluster(_) => SubjectKind::IndustryCluster,
        }
    }

    /// Text that search should also match besides the name (a truck's plate, a project's name).
    pub fn search_terms(&self) -> Vec<&str> {
        match self {
            SubjectAttributes::ConstructionSite(a) => a
                .project_name
                .iter()
                .chain(a.builder.iter())
                .map(String::as_str)
                .collect(),
            SubjectAttributes::MuckTruck(a) => {
                let mut v = vec![a.plate_number.as_str()];
                v.extend(a.carrier_company.as_deref());
                v
            }
            SubjectAttributes::RoadSection(a) => vec![a.road_name.as_str()],
            SubjectAttributes::Restaurant(a) => {
                a.licence_number.iter().map(String::as_str).collect()
            }
            SubjectAttributes::NonRoadMachinery(a) => {
                a.ledger_number.iter().map(String::as_str).collect()
            }
            SubjectAttributes::Stockpile(_)
            | SubjectAttributes::BareLand(_)
            | SubjectAttributes::IndustryCluster(_) => Vec::new(),
        }
    }
}

/// A WGS-84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// Refuses what phones and spreadsheets get wrong: non-numbers, out-of-range values, and (0,0),
    /// which is what a failed fix reports rather than a place anyone inspects.
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if !self.lat.is_finite() || !self.lon.is_finite() {
            return Err(ValidationError::new(
                "coordinate_not_finite",
                field,
                "coordinate is not a finite number",
            ));
        }
        // Latitude and longitude swapped: the latitude is out of range and the swapped pair is a
        // place in China (every Chinese longitude exceeds 73).
        if self.lat.abs() > 90.0
            && (-90.0..=90.0).contains(&self.lon)
            && !crate::geo::out_of_china(self.lon, self.lat)
        {
            return Err(ValidationError::new(
                "coordinate_swapped",
                field,
                "latitude and longitude look swapped (latitude first)",
            ));
        }
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lon) {
            return Err(ValidationError::new(
                "coordinate_out_of_range",
                field,
                "latitude must be within ±90 and longitude within ±180",
            ));
        }
        if self.lat == 0.0 && self.lon == 0.0 {
            return Err(ValidationError::new(
                "coordinate_null_island",
                field,
                "(0, 0) is a failed fix, not a place",
            ));
        }
        Ok(())
    }
}

/// The fields of a subject that a client may set. Server-owned fields (id, version, times) are not
/// here, so a payload cannot assign them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectDraft {
    pub name: String,
    /// Code of the responsible unit.
    pub unit: String,
    #[serde(flatten)]
    pub attributes: SubjectAttributes,
    /// Fixed point (WGS-84). Absent for muck trucks.
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Site boundary (Polygon, MultiPolygon) or route (LineString), as a GeoJSON geometry object.
    #[serde(default)]
    pub geometry: Option<serde_json::Value>,
    /// The day (China Standard Time) from which the subject is on the ledger (台账): it is due
    /// for inspection in the months from then on. Absent: the day it is created (or, on an edit,
    /// unchanged).
    #[serde(default)]
    pub on_ledger_since: Option<chrono::NaiveDate>,
}

/// A stored subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub id: Uuid,
    pub name: String,
    pub unit: String,
    #[serde(flatten)]
    pub attributes: SubjectAttributes,
    pub location: Option<GeoPoint>,
    pub geometry: Option<serde_json::Value>,
    /// The day (China Standard Time) from which it is on the ledger; absent only in copies synced
    /// before ledger dates existed.
    #[serde(default)]
    pub on_ledger_since: Option<chrono::NaiveDate>,
    /// Incremented by every edit; edits name the version they start from.
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl SubjectDraft {
    pub fn kind(&self) -> SubjectKind {
        self.attributes.kind()
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ValidationError::new(
                "name_invalid",
                "name",
                "name must be 1 to 200 characters",
            ));
        }
        if let Some(p) = &self.location {
            p.validate("location")?;
        }
        let kind = self.kind();
        if kind.has_fixed_place() && self.location.is_none() {
            return Err(ValidationError::new(
                "location_required",
                "location",
                "this kind of subject needs a location",
            ));
        }
        if !kind.has_fixed_place() && (self.location.is_some() || self.geometry.is_some()) {
            return Err(ValidationError::new(
                "location_not_allowed",
                "location",
                "muck trucks have no fixed place",
            ));
        }
        if let Some(g) = &self.geometry {
            validate_geometry(kind, g)?;
        }
        if let SubjectAttributes::MuckTruck(t) = &self.attributes
            && normalize_plate(&t.plate_number).is_none()
        {
            return Err(ValidationError::new(
                "plate_number_invalid",
                "attributes.plate_number",
                "not a plate number",
            ));
        }
        Ok(())
    }
}

/// Normalises a Chinese plate number as officers type it (`鲁p a1234`, `鲁P·A1234`) to one form
/// (`鲁PA1234`), or `None` if it cannot be one: a province character, a letter, then 5 or 6 letters
/// and digits.
pub fn normalize_plate(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '.' | '-' | '•'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let mut chars = cleaned.chars();
    let province = chars.next()?;
    if province.is_ascii() {
        return None;
    }
    let letter = chars.next()?;
    if !letter.is_ascii_uppercase() {
        return None;
    }
    let rest: Vec<char> = chars.collect();
    if !(5..=6).contains(&rest.len()) || !rest.iter().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(cleaned)
}

fn validate_geometry(kind: SubjectKind, g: &serde_json::Value) -> Result<(), ValidationError> {
    let ty = g.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let allowed: &[&str] = match kind {
        SubjectKind::RoadSection => &["LineString", "MultiLineString"],
        SubjectKind::MuckTruck => &[],
        _ => &["Polygon", "MultiPolygon"],
    };
    if !allowed.contains(&ty) {
        return Err(ValidationError::new(
            "geometry_type_invalid",
            "geometry",
            format!(
                "a {} takes a geometry of type {}",
                kind.as_str(),
                allowed.join(" or ")
            ),
        ));
    }
    let coords = g.get("coordinates").ok_or_else(|| {
        ValidationError::new(
            "geometry_invalid",
            "geometry",
            "geometry has no coordinates",
        )
    })?;
    let mut count = 0usize;
    check_positions(coords, 0, &mut count)?;
    if count < 2 {
        return Err(ValidationError::new(
            "geometry_invalid",
            "geometry",
            "geometry has too few positions",
        ));
    }
    let invalid =
        |code: &'static str, message: String| Err(ValidationError::new(code, "geometry", message));
    // GeoJSON rings repeat their first position last (RFC 7946 3.1.6); `geo` would close them
    // silently, so an unclosed ring is refused before it gets there.
    let polygons: Vec<&serde_json::Value> = match ty {
        "Polygon" => vec![coords],
        "MultiPolygon" => coords
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    for (p, rings) in polygons.iter().enumerate() {
        for (r, ring) in rings.as_array().into_iter().flatten().enumerate() {
            let positions = ring.as_array().map(Vec::as_slice).unwrap_or_default();
            if positions.len() < 4 || positions.first() != positions.last() {
                return invalid(
                    "geometry_ring_not_closed",
                    format!(
                        "ring {} of polygon {} is not closed: it needs at least 4 positions, the last repeating the first",
                        r + 1,
                        p + 1
                    ),
                );
            }
        }
    }
    let Some(shape) = crate::geo::shape::geometry(g) else {
        return invalid("geometry_invalid", "not a GeoJSON geometry".into());
    };
    {
        use geo::Validation;
        if let Err(e) = shape.check_validation() {
            return invalid(
                "geometry_invalid",
                format!("the geometry is not valid: {e}"),
            );
        }
    }
    {
        use geo::CoordsIter;
        if let Some((i, c)) = shape
            .coords_iter()
            .enumerate()
            .find(|(_, c)| crate::geo::out_of_china(c.y, c.x))
        {
            return invalid(
                "geometry_outside_china",
                format!("position {} ({}, {}) lies outside China", i + 1, c.x, c.y),
            );
        }
    }
    Ok(())
}

/// Walks nested GeoJSON coordinate arrays (bounded depth) and checks every [lon, lat] position.
fn check_positions(
    v: &serde_json::Value,
    depth: usize,
    count: &mut usize,
) -> Result<(), ValidationError> {
    let invalid = || {
        ValidationError::new(
            "geometry_invalid",
            "geometry",
            "coordinates are not valid GeoJSON positions",
        )
    };
    let arr = v.as_array().ok_or_else(invalid)?;
    if arr.first().is_some_and(|x| x.is_number()) {
        if arr.len() < 2 {
            return Err(invalid());
        }
        let lon = arr[0].as_f64().ok_or_else(invalid)?;
        let lat = arr[1].as_f64().ok_or_else(invalid)?;
        GeoPoint { lat, lon }.validate("geometry")?;
        *count += 1;
        if *count > 10_000 {
            return Err(ValidationError::new(
                "geometry_too_large",
                "geometry",
                "geometry has more than 10,000 positions",
            ));
        }
        return Ok(());
    }
    if depth >= 4 {
        return Err(invalid());
    }
    for x in arr {
        check_positions(x, depth + 1, count)?;
    }
    Ok(())
}

/// The editable fields of a subject as clients send them (API create/edit, `subject.propose`).
/// Server-owned fields (id, version, times) are not accepted: a payload naming them is refused as an
/// unknown field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFields {
    pub name: String,
    /// Code of the responsible unit.
    pub unit: String,
    pub kind: SubjectKind,
    /// Type-specific attributes; their shape depends on `kind`.
    #[serde(default = "empty_object")]
    pub attributes: serde_json::Value,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    #[serde(default)]
    pub geometry: Option<serde_json::Value>,
    /// The day from which the subject is on the ledger (`YYYY-MM-DD`); see [`SubjectDraft`].
    #[serde(default)]
    pub on_ledger_since: Option<chrono::NaiveDate>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl SubjectFields {
    /// Reads the attributes as the shape `kind` requires and validates the whole subject.
    pub fn into_draft(self) -> Result<SubjectDraft, ValidationError> {
        let attributes: SubjectAttributes = serde_json::from_value(serde_json::json!({
            "kind": self.kind,
            "attributes": self.attributes,
        }))
        .map_err(|e| ValidationError::new("attributes_invalid", "attributes", e.to_string()))?;
        let draft = SubjectDraft {
            name: self.name,
            unit: self.unit,
            attributes,
            location: self.location,
            geometry: self.geometry,
            on_ledger_since: self.on_ledger_since,
        };
        draft.validate()?;
        Ok(draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stockpile_with(geometry: serde_json::Value) -> Result<SubjectDraft, ValidationError> {
        SubjectFields {
            name: "煤堆".into(),
            unit: "yanggu".into(),
            kind: SubjectKind::Stockpile,
            attributes: serde_json::json!({"pile_kind": "coal"}),
            location: Some(GeoPoint {
                lat: 36.1,
                lon: 115.8,
            }),
            geometry: Some(geometry),
            on_ledger_since: None,
        }
        .into_draft()
    }

    #[test]
    fn boundaries_are_refused_unclosed_self_intersecting_or_outside_china() {
        let ok = serde_json::json!({"type": "Polygon", "coordinates":
            [[[115.80, 36.10], [115.81, 36.10], [115.81, 36.11], [115.80, 36.11], [115.80, 36.10]]]});
        assert!(stockpile_with(ok).is_ok());
        let open = serde_json::json!({"type": "Polygon", "coordinates":
            [[[115.80, 36.10], [115.81, 36.10], [115.81, 36.11], [115.80, 36.11]]]});
        let e = stockpile_with(open).expect_err("unclosed");
        assert_eq!(
            (e.code, e.field.as_str()),
            ("geometry_ring_not_closed", "geometry")
        );
        assert!(e.message.contains("ring 1 of polygon 1"), "{}", e.message);
        // A bow tie: the boundary crosses itself.
        let bow = serde_json::json!({"type": "Polygon", "coordinates":
            [[[115.80, 36.10], [115.81, 36.11], [115.81, 36.10], [115.80, 36.11], [115.80, 36.10]]]});
        let e = stockpile_with(bow).expect_err("self-intersecting");
        assert_eq!(e.code, "geometry_invalid");
        assert!(e.message.contains("self-intersection"), "{}", e.message);
        let road = |lon: f64| {
            SubjectFields {
                name: "运河路".into(),
                unit: "yanggu".into(),
                kind: SubjectKind::RoadSection,
                attributes: serde_json::json!({"road_name": "运河路", "road_class": "main"}),
                location: Some(GeoPoint {
                    lat: 36.1,
                    lon: 115.8,
                }),
                geometry: Some(serde_json::json!({"type": "LineString", "coordinates":
                [[115.80, 36.10], [lon, 36.10]]})),
                on_ledger_since: None,
            }
            .into_draft()
        };
        assert!(road(115.82).is_ok());
        let e = road(140.5).expect_err("a point in the Pacific");
        assert_eq!(
            (e.code, e.field.as_str()),
            ("geometry_outside_china", "geometry")
        );
        assert!(e.message.contains("position 2"), "{}", e.message);
    }

    fn restaurant() -> SubjectDraft {
        serde_json::from_value(serde_json::json!({
            "name": "老街烧烤", "unit": "dongchangfu", "kind": "restaurant",
            "attributes": {"grade": "b"}, "location": {"lat": 36.45, "lon": 115.98}
        }))
        .expect("valid draft")
    }

    #[test]
    fn a_restaurant_draft_reads_from_its_wire_form() {
        let d = restaurant();
        assert_eq!(d.kind(), SubjectKind::Restaurant);
        assert!(d.validate().is_ok());
    }

    #[test]
    fn attributes_of_the_wrong_kind_are_refused() {
        let r: Result<SubjectDraft, _> = serde_json::from_value(serde_json::json!({
            "name": "x", "unit": "u1", "kind": "restaurant", "attributes": {"plate_number": "鲁PA1234"}
        }));
        assert!(r.is_err());
    }

    #[test]
    fn bad_coordinates_are_refused_with_codes() {
        let mut d = restaurant();
        for (lat, lon, code) in [
            (f64::NAN, 115.0, "coordinate_not_finite"),
            (f64::INFINITY, 115.0, "coordinate_not_finite"),
            (95.0, 115.0, "coordinate_out_of_range"),
            (36.0, 190.0, "coordinate_out_of_range"),
            (0.0, 0.0, "coordinate_null_island"),
        ] {
            d.location = Some(GeoPoint { lat, lon });
            assert_eq!(d.validate().map_err(|e| e.code), Err(code));
        }
    }

    #[test]
    fn plates_are_normalised_the_way_officers_type_them() {
        assert_eq!(normalize_plate("鲁p·a1234").as_deref(), Some("鲁PA1234"));
        assert_eq!(
            normalize_plate(" 鲁P A12345 ").as_deref(),
            Some("鲁PA12345")
        );
        assert_eq!(normalize_plate("LPA1234"), None);
        assert_eq!(normalize_plate("鲁P12"), None);
    }

    #[test]
    fn a_road_takes_a_line_and_a_site_a_polygon() {
        let mut d = restaurant();
        d.geometry = Some(
            serde_json::json!({"type": "LineString", "coordinates": [[115.9, 36.4], [115.91, 36.41]]}),
        );
        assert_eq!(
            d.validate().map_err(|e| e.code),
            Err("geometry_type_invalid")
        );
        d.geometry = Some(
            serde_json::json!({"type": "Polygon", "coordinates": [[[115.9, 36.4], [115.91, 36.4], [115.91, 36.41], [115.9, 36.4]]]}),
        );
        assert!(d.validate().is_ok());
    }
}

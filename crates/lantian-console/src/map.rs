//! What a map shows, in the datum of the tiles it is drawn on. Conversions are the domain's (the
//! same as the location verdict's); the browser only draws.

use lantian_domain::geo::{Datum, from_wgs84};
use serde::Serialize;

use crate::Tiles;

/// A point on a map: the fix (with its accuracy circle) or the subject's position.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
    /// Radius of the accuracy circle, metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// `fix` or `subject`.
    pub role: &'static str,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
struct TileLayer<'a> {
    url: &'a str,
    attribution: &'a str,
    max_zoom: u8,
}

#[derive(Debug, Clone, Serialize)]
struct MapData<'a> {
    points: Vec<Point>,
    /// A line from the fix to the subject, labelled with the distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    line_label: Option<String>,
    tiles: Option<TileLayer<'a>>,
}

/// The datum points must be drawn in: the tiles', or WGS-84 on a plain background.
pub fn datum(tiles: Option<&Tiles>) -> Datum {
    tiles.map_or(Datum::Wgs84, |t| t.datum)
}

/// A WGS-84 point converted to the tiles' datum.
pub fn point(
    tiles: Option<&Tiles>,
    wgs84: (f64, f64),
    accuracy_m: Option<f64>,
    role: &'static str,
    label: String,
) -> Point {
    let (lat, lon) = from_wgs84(wgs84.0, wgs84.1, datum(tiles));
    Point {
        lat,
        lon,
        accuracy_m,
        role,
        label,
    }
}

/// The JSON the page's map element carries (`data-map`); the template escapes it.
pub fn json(tiles: Option<&Tiles>, points: Vec<Point>, line_label: Option<String>) -> String {
    let data = MapData {
        points,
        line_label,
        tiles: tiles.map(|t| TileLayer {
            url: &t.url,
            attribution: &t.attribution,
            max_zoom: t.max_zoom,
        }),
    };
    serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_converted_to_the_tiles_datum() {
        let wgs = (34.75, 113.62);
        let plain = point(None, wgs, None, "fix", String::new());
        assert_eq!((plain.lat, plain.lon), wgs);
        let amap = Tiles {
            url: "https://wprd0{s}.is.autonavi.com/{z}/{x}/{y}".into(),
            datum: Datum::Gcj02,
            attribution: String::new(),
            max_zoom: 18,
        };
        let shifted = point(Some(&amap), wgs, None, "fix", String::new());
        let moved = lantian_domain::geo::distance_m(wgs, (shifted.lat, shifted.lon));
        // GCJ-02 moves points in Zhengzhou by a few hundred metres.
        assert!(moved > 100.0 && moved < 1000.0, "{moved}");
    }
}

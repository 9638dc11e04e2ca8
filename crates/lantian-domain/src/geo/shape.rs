//! Subject shapes: a site boundary (Polygon, MultiPolygon) or a route (LineString,
//! MultiLineString), read from their GeoJSON geometry with the `geojson` crate into `geo` types,
//! and the distance of a point to them with `geo`'s algorithms. The datum conversions stay in
//! [`super`]: no kept crate does them as well.

use geo::{Contains, Distance, Euclidean, MapCoords};
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Point};
use serde_json::Value;

/// A subject's extent, WGS-84, x = longitude, y = latitude.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A site boundary: polygons, each with its holes.
    Area(MultiPolygon<f64>),
    /// Lines (road sections).
    Route(MultiLineString<f64>),
}

/// Where a point stands against a shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeDistance {
    /// Metres to the nearest edge (of the boundary, or of the route).
    pub to_edge_m: f64,
    /// Inside the area (always false for a route).
    pub inside: bool,
}

/// Metres per degree of latitude on the mean sphere.
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// The `geo` geometry of a GeoJSON geometry object; `None` if it is not GeoJSON.
pub fn geometry(g: &Value) -> Option<Geometry<f64>> {
    // Read in place (a `&Value` is a deserializer): no copy of a boundary's coordinates.
    let g = <geojson::Geometry as serde::Deserialize>::deserialize(g).ok()?;
    Geometry::<f64>::try_from(&g.value).ok()
}

impl Shape {
    /// The shape of a GeoJSON geometry object; `None` for other types (points) or malformed ones.
    pub fn from_geojson(g: &Value) -> Option<Shape> {
        match geometry(g)? {
            Geometry::Polygon(p) => Some(Shape::Area(MultiPolygon(vec![p]))),
            Geometry::MultiPolygon(m) => Some(Shape::Area(m)),
            Geometry::LineString(l) => Some(Shape::Route(MultiLineString(vec![l]))),
            Geometry::MultiLineString(m) => Some(Shape::Route(m)),
            _ => None,
        }
    }

    /// Distance from `p` (lat, lon) to the shape's edges, and whether it is inside. The edges are
    /// measured in a local equirectangular projection centred on `p` (metres east and north):
    /// exact to well under a metre within a few kilometres, which is the range where the answer
    /// matters. Containment is the same in either plane (the projection is affine).
    pub fn distance(&self, p: (f64, f64)) -> ShapeDistance {
        let k = p.0.to_radians().cos();
        let local = |c: Coord<f64>| Coord {
            x: (c.x - p.1) * k * M_PER_DEG,
            y: (c.y - p.0) * M_PER_DEG,
        };
        let here = Point::new(p.1, p.0);
        let (edges, inside): (MultiLineString<f64>, bool) = match self {
            Shape::Area(polys) => (
                MultiLineString(
                    polys
                        .iter()
                        .flat_map(|poly| {
                            std::iter::once(poly.exterior().clone())
                                .chain(poly.interiors().iter().cloned())
                        })
                        .collect::<Vec<LineString<f64>>>(),
                ),
                polys.contains(&here),
            ),
            Shape::Route(lines) => (lines.clone(), false),
        };
        let to_edge_m = Euclidean.distance(&Point::new(0.0, 0.0), &edges.map_coords(local));
        ShapeDistance { to_edge_m, inside }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A square of about 200 m around (36.45, 115.98), with a 40 m hole in the middle.
    fn site() -> Shape {
        Shape::from_geojson(&json!({"type": "Polygon", "coordinates": [
            [[115.979, 36.449], [115.981, 36.449], [115.981, 36.451], [115.979, 36.451], [115.979, 36.449]],
            [[115.9998, 36.4498], [116.0002, 36.4498], [116.0002, 36.4502], [115.9998, 36.4502], [115.9998, 36.4498]]
        ]}))
        .expect("polygon")
    }

    #[test]
    fn inside_outside_and_distance_to_the_edge() {
        let s = site();
        let d = s.distance((36.45, 115.98));
        assert!(d.inside);
        assert!((d.to_edge_m - 89.6).abs() < 1.0, "{d:?}");
        // 0.001 deg of latitude north of the north edge: about 111 m outside.
        let d = s.distance((36.452, 115.98));
        assert!(!d.inside);
        assert!((d.to_edge_m - 111.2).abs() < 1.0, "{d:?}");
    }

    #[test]
    fn a_route_has_no_inside_and_measures_to_the_nearest_segment() {
        let r = Shape::from_geojson(
            &json!({"type": "LineString", "coordinates": [[115.98, 36.45], [115.99, 36.45]]}),
        )
        .expect("line");
        let d = r.distance((36.4505, 115.985));
        assert!(!d.inside);
        assert!((d.to_edge_m - 55.6).abs() < 0.5, "{d:?}");
        assert_eq!(
            Shape::from_geojson(&json!({"type": "Point", "coordinates": [1, 2]})),
            None
        );
    }
}

//! Subject shapes: a site boundary (Polygon, MultiPolygon) or a route (LineString,
//! MultiLineString), from their GeoJSON geometry, and the distance of a point to them.

use serde_json::Value;

/// A subject's extent. Positions are (lat, lon), WGS-84.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Polygons, each an outer ring followed by its holes.
    Area(Vec<Vec<Vec<(f64, f64)>>>),
    /// Lines (road sections).
    Route(Vec<Vec<(f64, f64)>>),
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

fn ring(v: &Value) -> Option<Vec<(f64, f64)>> {
    v.as_array()?
        .iter()
        .map(|p| {
            let p = p.as_array()?;
            Some((p.get(1)?.as_f64()?, p.first()?.as_f64()?))
        })
        .collect()
}

fn rings(v: &Value) -> Option<Vec<Vec<(f64, f64)>>> {
    v.as_array()?.iter().map(ring).collect()
}

impl Shape {
    /// The shape of a GeoJSON geometry object; `None` for other types (points) or malformed ones.
    pub fn from_geojson(g: &Value) -> Option<Shape> {
        let coords = g.get("coordinates")?;
        match g.get("type")?.as_str()? {
            "Polygon" => Some(Shape::Area(vec![rings(coords)?])),
            "MultiPolygon" => Some(Shape::Area(
                coords
                    .as_array()?
                    .iter()
                    .map(rings)
                    .collect::<Option<_>>()?,
            )),
            "LineString" => Some(Shape::Route(vec![ring(coords)?])),
            "MultiLineString" => Some(Shape::Route(rings(coords)?)),
            _ => None,
        }
    }

    /// Distance from `p` (lat, lon) to the shape's edges, and whether it is inside. Computed in a
    /// local equirectangular projection centred on `p`: exact to well under a metre within a few
    /// kilometres, which is the range where the answer matters.
    pub fn distance(&self, p: (f64, f64)) -> ShapeDistance {
        let k = p.0.to_radians().cos();
        let proj = |q: &(f64, f64)| ((q.1 - p.1) * k * M_PER_DEG, (q.0 - p.0) * M_PER_DEG);
        let mut best = f64::INFINITY;
        let mut edges = |line: &[(f64, f64)]| {
            for w in line.windows(2) {
                best = best.min(segment_to_origin(proj(&w[0]), proj(&w[1])));
            }
            if line.len() == 1 {
                let (x, y) = proj(&line[0]);
                best = best.min(x.hypot(y));
            }
        };
        let inside = match self {
            Shape::Area(polys) => {
                let mut inside = false;
                for poly in polys {
                    for r in poly {
                        edges(r);
                    }
                    let in_outer = poly.first().is_some_and(|outer| contains(outer, &proj));
                    let in_hole = poly.iter().skip(1).any(|h| contains(h, &proj));
                    inside |= in_outer && !in_hole;
                }
                inside
            }
            Shape::Route(lines) => {
                for l in lines {
                    edges(l);
                }
                false
            }
        };
        ShapeDistance {
            to_edge_m: best,
            inside,
        }
    }
}

/// Distance from the origin to the segment a-b.
fn segment_to_origin(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (-(a.0 * dx + a.1 * dy) / len2).clamp(0.0, 1.0)
    };
    (a.0 + t * dx).hypot(a.1 + t * dy)
}

/// Whether the origin is inside the ring (even-odd rule).
fn contains(ring: &[(f64, f64)], proj: &impl Fn(&(f64, f64)) -> (f64, f64)) -> bool {
    let pts: Vec<(f64, f64)> = ring.iter().map(proj).collect();
    let mut inside = false;
    let n = pts.len();
    for i in 0..n {
        let (xi, yi) = pts[i];
        let (xj, yj) = pts[(i + n - 1) % n];
        if (yi > 0.0) != (yj > 0.0) && 0.0 < (xj - xi) * (0.0 - yi) / (yj - yi) + xi {
            inside = !inside;
        }
    }
    inside
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

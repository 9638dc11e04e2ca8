//! Coordinates: the three datums Chinese phones report in, distances, subject shapes, location
//! verdicts, and the spatial index of subjects.
//!
//! Most map SDKs sold in China return GCJ-02 (WGS-84 with a deliberate, position-dependent offset of
//! a few hundred metres); Baidu's return BD-09 (GCJ-02 shifted again). The server converts every fix
//! once to WGS-84 and keeps the original. The forward GCJ-02 transform is the published one; its
//! inverse has no closed form, so [`gcj02_to_wgs84`] inverts it by fixed-point iteration to well
//! under a millimetre. Outside China's bounding box every datum is taken as WGS-84 unchanged, as the
//! SDKs themselves do.

mod index;
pub mod shape;
mod verdict;

pub use index::{Nearby, SpatialIndex};
pub use shape::{Shape, ShapeDistance};
pub use verdict::{PreviousFix, Verdict, VerdictInput, VerdictLevel, VerdictThresholds, verdict};

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// The datum a coordinate is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    Wgs84,
    Gcj02,
    Bd09,
}

/// Krasovsky 1940 semi-major axis and eccentricity squared, as the GCJ-02 transform uses them.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// Whether a point lies outside the box in which the GCJ-02 offset is applied.
pub fn out_of_china(lat: f64, lon: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn offset_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 to GCJ-02, (lat, lon) in degrees.
pub fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let dlat = offset_lat(lon - 105.0, lat - 35.0);
    let dlon = offset_lon(lon - 105.0, lat - 35.0);
    let rad = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad.cos() * PI);
    (lat + dlat, lon + dlon)
}

/// GCJ-02 to WGS-84 by fixed-point iteration on the forward transform (converges to < 1e-10° in
/// a handful of steps; bounded at 30).
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let (mut wlat, mut wlon) = (lat, lon);
    for _ in 0..30 {
        let (glat, glon) = wgs84_to_gcj02(wlat, wlon);
        let (elat, elon) = (glat - lat, glon - lon);
        wlat -= elat;
        wlon -= elon;
        if elat.abs() < 1e-11 && elon.abs() < 1e-11 {
            break;
        }
    }
    (wlat, wlon)
}

/// GCJ-02 to BD-09.
pub fn gcj02_to_bd09(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * BD_X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// BD-09 to GCJ-02: the published approximate inverse (good to ~10 cm), refined by fixed-point
/// iteration on [`gcj02_to_bd09`] so a round trip closes to well under a millimetre.
pub fn bd09_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_X_PI).cos();
    let (mut glat, mut glon) = (z * theta.sin(), z * theta.cos());
    for _ in 0..10 {
        let (blat, blon) = gcj02_to_bd09(glat, glon);
        let (elat, elon) = (blat - lat, blon - lon);
        glat -= elat;
        glon -= elon;
        if elat.abs() < 1e-11 && elon.abs() < 1e-11 {
            break;
        }
    }
    (glat, glon)
}

/// A point in `datum`, as WGS-84 (lat, lon).
pub fn to_wgs84(lat: f64, lon: f64, datum: Datum) -> (f64, f64) {
    match datum {
        Datum::Wgs84 => (lat, lon),
        Datum::Gcj02 => gcj02_to_wgs84(lat, lon),
        Datum::Bd09 => {
            let (glat, glon) = bd09_to_gcj02(lat, lon);
            gcj02_to_wgs84(glat, glon)
        }
    }
}

/// A WGS-84 point, expressed in `datum`.
pub fn from_wgs84(lat: f64, lon: f64, datum: Datum) -> (f64, f64) {
    match datum {
        Datum::Wgs84 => (lat, lon),
        Datum::Gcj02 => wgs84_to_gcj02(lat, lon),
        Datum::Bd09 => {
            let (glat, glon) = wgs84_to_gcj02(lat, lon);
            gcj02_to_bd09(glat, glon)
        }
    }
}

/// Great-circle distance in metres between two WGS-84 points (`geo`'s haversine on the GRS80 mean
/// sphere: within 0.5% of the ellipsoidal distance, ample for "was the officer on site").
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    use geo::{Distance, Haversine};
    Haversine.distance(
        geo_types::Point::new(a.1, a.0),
        geo_types::Point::new(b.1, b.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Liaocheng, the campaign's city, and a spread of points across China.
    const POINTS: [(f64, f64); 6] = [
        (36.4567, 115.9854),
        (39.9087, 116.3975),
        (31.2304, 121.4737),
        (22.5431, 114.0579),
        (43.8171, 125.3235),
        (29.6520, 91.1721),
    ];

    #[test]
    fn round_trips_stay_within_a_millimetre() {
        for (lat, lon) in POINTS {
            for datum in [Datum::Gcj02, Datum::Bd09] {
                let (dlat, dlon) = from_wgs84(lat, lon, datum);
                let back = to_wgs84(dlat, dlon, datum);
                let err = distance_m((lat, lon), back);
                assert!(err < 0.001, "{datum:?} at {lat},{lon}: {err} m");
            }
        }
    }

    #[test]
    fn the_offset_is_hundreds_of_metres_inside_china() {
        for (lat, lon) in POINTS {
            let gcj = wgs84_to_gcj02(lat, lon);
            let d = distance_m((lat, lon), gcj);
            assert!(
                (100.0..1000.0).contains(&d),
                "GCJ-02 offset {d} m at {lat},{lon}"
            );
            let bd = from_wgs84(lat, lon, Datum::Bd09);
            let d = distance_m((lat, lon), bd);
            assert!(
                (500.0..2000.0).contains(&d),
                "BD-09 offset {d} m at {lat},{lon}"
            );
        }
    }

    #[test]
    fn points_outside_china_are_untouched() {
        for (lat, lon) in [
            (51.5074, -0.1278),
            (35.6762, 139.6503),
            (-33.86, 151.21),
            (0.0, 0.0),
        ] {
            for datum in [Datum::Wgs84, Datum::Gcj02, Datum::Bd09] {
                assert_eq!(to_wgs84(lat, lon, datum), (lat, lon));
                assert_eq!(from_wgs84(lat, lon, datum), (lat, lon));
            }
        }
    }

    /// An independent implementation (the `coordtransform` crate, which takes lon, lat) agrees on a
    /// grid over China to a millimetre in both directions.
    #[test]
    fn conversions_agree_with_an_independent_implementation() {
        let mut compared = 0;
        for i in 0..40 {
            for j in 0..40 {
                let lat = 18.5 + f64::from(i) * 0.9;
                let lon = 75.0 + f64::from(j) * 1.5;
                // Their region is China's outline; ours its bounding box (as the SDKs do). Compare
                // where both convert.
                if !coordtransform::is_in_mainland_china(lon, lat) {
                    continue;
                }
                compared += 1;
                let (olon, olat) = coordtransform::wgs84_to_gcj02(lon, lat);
                let ours = wgs84_to_gcj02(lat, lon);
                assert!(
                    distance_m(ours, (olat, olon)) < 0.001,
                    "wgs84->gcj02 at {lat},{lon}"
                );
                let (blon, blat) = coordtransform::gcj02_to_bd09(lon, lat);
                assert!(
                    distance_m(gcj02_to_bd09(lat, lon), (blat, blon)) < 0.001,
                    "gcj02->bd09 at {lat},{lon}"
                );
                // Their inverse is the common one-step approximation: ours is exact, so the two
                // differ by that approximation's error (a few metres at most).
                let (ilon, ilat) = coordtransform::gcj02_to_wgs84(lon, lat);
                assert!(
                    distance_m(gcj02_to_wgs84(lat, lon), (ilat, ilon)) < 10.0,
                    "gcj02->wgs84 at {lat},{lon}"
                );
            }
        }
        assert!(compared > 300, "{compared} points compared");
    }

    #[test]
    fn distances_match_known_values() {
        // One degree of latitude is about 111.2 km on the mean sphere.
        let d = distance_m((36.0, 116.0), (37.0, 116.0));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        assert_eq!(distance_m((36.0, 116.0), (36.0, 116.0)), 0.0);
    }
}

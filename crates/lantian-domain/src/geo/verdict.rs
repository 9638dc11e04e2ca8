//! Location verdicts: was the inspection done where it claims? A verdict flags, it never rejects:
//! supervisors read the level and the reasons.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Datum, Shape, distance_m, to_wgs84};

/// How much a supervisor should trust an inspection's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictLevel {
    Ok,
    Doubtful,
    Implausible,
}

impl VerdictLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLevel::Ok => "ok",
            VerdictLevel::Doubtful => "doubtful",
            VerdictLevel::Implausible => "implausible",
        }
    }
    pub fn parse(s: &str) -> Option<VerdictLevel> {
        [
            VerdictLevel::Ok,
            VerdictLevel::Doubtful,
            VerdictLevel::Implausible,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// Where the lines are drawn (configurable).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictThresholds {
    /// Beyond this (after allowing for the fix's accuracy) the officer was off site: doubtful.
    pub near_m: f64,
    /// Beyond this: implausible.
    pub far_m: f64,
    /// A fix less accurate than this cannot place anyone on a site: doubtful.
    pub poor_accuracy_m: f64,
    /// Travel faster than this since the officer's previous inspection: doubtful...
    pub fast_kmh: f64,
    /// ...and faster than this: implausible.
    pub impossible_kmh: f64,
    /// A photo's EXIF position further than this from the fix: doubtful.
    pub exif_far_m: f64,
}

impl Default for VerdictThresholds {
    fn default() -> Self {
        Self {
            near_m: 100.0,
            far_m: 1000.0,
            poor_accuracy_m: 100.0,
            fast_kmh: 150.0,
            impossible_kmh: 300.0,
            exif_far_m: 500.0,
        }
    }
}

/// The officer's previous fix (their previous inspection), WGS-84.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreviousFix {
    pub at: DateTime<Utc>,
    pub wgs84: (f64, f64),
}

/// Everything a verdict looks at.
#[derive(Debug, Clone, Copy)]
pub struct VerdictInput<'a> {
    /// The fix as sent, in `datum`.
    pub original: (f64, f64),
    pub datum: Datum,
    pub accuracy_m: f64,
    pub mock: bool,
    pub at: DateTime<Utc>,
    /// The subject's point, WGS-84 (none for muck trucks).
    pub subject_point: Option<(f64, f64)>,
    pub subject_shape: Option<&'a Shape>,
    pub previous: Option<PreviousFix>,
    /// EXIF positions of the inspection's verified photos, WGS-84.
    pub exif_positions: &'a [(f64, f64)],
}

/// A location verdict, stored with the inspection and synced to supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub level: VerdictLevel,
    /// `off_site`, `far_from_subject`, `datum_suspect`, `poor_accuracy`, `mock_location`,
    /// `fast_travel`, `impossible_speed`, `exif_position_far`.
    pub reasons: Vec<String>,
    /// The fix converted to WGS-84 (the original is kept with the inspection).
    pub wgs84: (f64, f64),
    pub distance_to_point_m: Option<f64>,
    pub distance_to_boundary_m: Option<f64>,
    pub inside_boundary: Option<bool>,
    pub accuracy_m: f64,
    pub mock: bool,
    pub speed_from_previous_kmh: Option<f64>,
    pub exif_max_distance_m: Option<f64>,
}

/// Distance from a WGS-84 point to the subject: 0 inside its area, else the nearer of its point and
/// its edges. `None` for a subject with no place.
fn subject_distance(
    p: (f64, f64),
    point: Option<(f64, f64)>,
    shape: Option<&Shape>,
) -> (Option<f64>, Option<f64>, Option<bool>, Option<f64>) {
    let to_point = point.map(|s| distance_m(p, s));
    let edge = shape.map(|s| s.distance(p));
    let nearest = match (to_point, edge) {
        (_, Some(e)) if e.inside => Some(0.0),
        (Some(a), Some(e)) => Some(a.min(e.to_edge_m)),
        (Some(a), None) => Some(a),
        (None, Some(e)) => Some(e.to_edge_m),
        (None, None) => None,
    };
    (
        to_point,
        edge.map(|e| e.to_edge_m),
        edge.map(|e| e.inside),
        nearest,
    )
}

/// The verdict on one inspection's location. Pure and cheap: recomputed when photos add EXIF.
pub fn verdict(i: &VerdictInput<'_>, t: &VerdictThresholds) -> Verdict {
    let wgs84 = to_wgs84(i.original.0, i.original.1, i.datum);
    let mut level = VerdictLevel::Ok;
    let mut reasons = Vec::new();
    let mut flag = |l: VerdictLevel, why: &str| {
        level = level.max(l);
        reasons.push(why.to_owned());
    };
    let (to_point, to_edge, inside, nearest) =
        subject_distance(wgs84, i.subject_point, i.subject_shape);
    if let Some(d) = nearest {
        let beyond = (d - i.accuracy_m.max(0.0)).max(0.0);
        if beyond > t.far_m {
            flag(VerdictLevel::Implausible, "far_from_subject");
        } else if beyond > t.near_m {
            flag(VerdictLevel::Doubtful, "off_site");
        }
        // A GCJ-02 fix sent as WGS-84 lands a few hundred metres off; say so when reading it as
        // GCJ-02 would put the officer on site.
        if d > t.near_m && i.datum == Datum::Wgs84 {
            let as_gcj = to_wgs84(i.original.0, i.original.1, Datum::Gcj02);
            let (.., again) = subject_distance(as_gcj, i.subject_point, i.subject_shape);
            if again.is_some_and(|d2| d2 <= t.near_m) {
                flag(VerdictLevel::Doubtful, "datum_suspect");
            }
        }
    }
    if i.accuracy_m > t.poor_accuracy_m {
        flag(VerdictLevel::Doubtful, "poor_accuracy");
    }
    if i.mock {
        flag(VerdictLevel::Implausible, "mock_location");
    }
    let mut speed = None;
    if let Some(prev) = i.previous {
        let d = distance_m(prev.wgs84, wgs84);
        let secs = (i.at - prev.at).num_milliseconds() as f64 / 1000.0;
        // Below twice the slack of two fixes, movement is noise, whatever the time.
        if d > 2.0 * t.near_m && secs >= 0.0 {
            let kmh = if secs > 0.0 {
                d / secs * 3.6
            } else {
                f64::INFINITY
            };
            speed = Some(kmh);
            if kmh > t.impossible_kmh {
                flag(VerdictLevel::Implausible, "impossible_speed");
            } else if kmh > t.fast_kmh {
                flag(VerdictLevel::Doubtful, "fast_travel");
            }
        }
    }
    let exif_max = i
        .exif_positions
        .iter()
        .map(|e| distance_m(*e, wgs84))
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
    if exif_max.is_some_and(|d| d > t.exif_far_m) {
        flag(VerdictLevel::Doubtful, "exif_position_far");
    }
    Verdict {
        level,
        reasons,
        wgs84,
        distance_to_point_m: to_point,
        distance_to_boundary_m: to_edge,
        inside_boundary: inside,
        accuracy_m: i.accuracy_m,
        mock: i.mock,
        speed_from_previous_kmh: speed.filter(|s| s.is_finite()),
        exif_max_distance_m: exif_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::wgs84_to_gcj02;
    use serde_json::json;

    const SITE: (f64, f64) = (36.4500, 115.9800);

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn on_site() -> VerdictInput<'static> {
        VerdictInput {
            original: (36.45005, 115.98005),
            datum: Datum::Wgs84,
            accuracy_m: 8.0,
            mock: false,
            at: at("2026-11-02T02:00:00Z"),
            subject_point: Some(SITE),
            subject_shape: None,
            previous: None,
            exif_positions: &[],
        }
    }

    /// `d` metres due north of the site.
    fn north(d: f64) -> (f64, f64) {
        (SITE.0 + d / 111_195.0, SITE.1)
    }

    fn judge(i: VerdictInput<'_>) -> (VerdictLevel, Vec<String>) {
        let v = verdict(&i, &VerdictThresholds::default());
        (v.level, v.reasons)
    }

    #[test]
    fn the_fixture_traces_get_their_expected_verdicts() {
        use VerdictLevel::*;
        assert_eq!(judge(on_site()), (Ok, vec![]));
        let off80 = VerdictInput {
            original: north(80.0),
            ..on_site()
        };
        assert_eq!(judge(off80), (Ok, vec![]));
        let off2k = VerdictInput {
            original: north(2000.0),
            ..on_site()
        };
        assert_eq!(
            judge(off2k),
            (Implausible, vec!["far_from_subject".to_owned()])
        );
        // The phone's map SDK gave GCJ-02 and the app labelled it WGS-84.
        let gcj = wgs84_to_gcj02(SITE.0, SITE.1);
        let (level, reasons) = judge(VerdictInput {
            original: gcj,
            ..on_site()
        });
        assert_eq!(level, Doubtful);
        assert!(reasons.contains(&"datum_suspect".to_owned()), "{reasons:?}");
        // The same point labelled correctly is on site.
        assert_eq!(
            judge(VerdictInput {
                original: gcj,
                datum: Datum::Gcj02,
                ..on_site()
            }),
            (Ok, vec![])
        );
        assert_eq!(
            judge(VerdictInput {
                mock: true,
                ..on_site()
            }),
            (Implausible, vec!["mock_location".to_owned()])
        );
        // 100 km from the previous inspection 15 minutes earlier: 400 km/h.
        let jump = VerdictInput {
            previous: Some(PreviousFix {
                at: at("2026-11-02T01:45:00Z"),
                wgs84: north(-100_000.0),
            }),
            ..on_site()
        };
        let v = verdict(&jump, &VerdictThresholds::default());
        assert_eq!(
            (v.level, v.reasons.clone()),
            (Implausible, vec!["impossible_speed".to_owned()])
        );
        assert!(
            v.speed_from_previous_kmh
                .is_some_and(|s| (399.0..401.0).contains(&s)),
            "{v:?}"
        );
        assert_eq!(
            judge(VerdictInput {
                accuracy_m: 500.0,
                ..on_site()
            }),
            (Doubtful, vec!["poor_accuracy".to_owned()])
        );
        let elsewhere = [north(3000.0)];
        assert_eq!(
            judge(VerdictInput {
                exif_positions: &elsewhere,
                ..on_site()
            }),
            (Doubtful, vec!["exif_position_far".to_owned()])
        );
    }

    #[test]
    fn inside_a_boundary_is_on_site_however_far_the_registered_point() {
        let area = Shape::from_geojson(&json!({"type": "Polygon", "coordinates": [[
            [115.975, 36.445], [115.995, 36.445], [115.995, 36.455], [115.975, 36.455], [115.975, 36.445]
        ]]}))
        .expect("polygon");
        let i = VerdictInput {
            original: (36.4540, 115.9930),
            subject_shape: Some(&area),
            ..on_site()
        };
        let v = verdict(&i, &VerdictThresholds::default());
        assert_eq!(v.level, VerdictLevel::Ok);
        assert_eq!(v.inside_boundary, Some(true));
        assert!(v.distance_to_point_m.is_some_and(|d| d > 1000.0));
    }

    #[test]
    fn a_subject_without_a_place_is_judged_on_the_other_signals_only() {
        let truck = VerdictInput {
            subject_point: None,
            original: north(50_000.0),
            ..on_site()
        };
        let v = verdict(&truck, &VerdictThresholds::default());
        assert_eq!(v.level, VerdictLevel::Ok);
        assert_eq!(v.distance_to_point_m, None);
    }
}

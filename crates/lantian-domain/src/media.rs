//! Photo evidence as the server records it and as it syncs to the officer's phone, and the
//! evidence flags computed once, at verification.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::geo::{self, Datum};

/// Image formats accepted as evidence, as sniffed from the bytes (never from a name or header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    Jpeg,
    Png,
    Webp,
}

impl PhotoFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
            PhotoFormat::Webp => "image/webp",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "jpeg",
            PhotoFormat::Png => "png",
            PhotoFormat::Webp => "webp",
        }
    }
    pub fn parse(s: &str) -> Option<PhotoFormat> {
        match s {
            "jpeg" => Some(PhotoFormat::Jpeg),
            "png" => Some(PhotoFormat::Png),
            "webp" => Some(PhotoFormat::Webp),
            _ => None,
        }
    }
}

/// A GPS position from EXIF, in the datum the camera named (WGS-84 unless it said otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExifGps {
    pub lat: f64,
    pub lon: f64,
    pub datum: Datum,
}

/// What the camera wrote about a photo.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExifInfo {
    /// `DateTimeOriginal`, with `OffsetTimeOriginal` when present.
    pub taken_at: Option<DateTime<Utc>>,
    /// The camera gave no UTC offset; China Standard Time (+08:00) was assumed.
    #[serde(default)]
    pub taken_at_offset_assumed: bool,
    pub gps: Option<ExifGps>,
    pub make: Option<String>,
    pub model: Option<String>,
    /// EXIF orientation 1-8 (1 = upright); renditions are made with it applied.
    pub orientation: u16,
}

/// Where the renditions (thumbnail, review size) of a photo stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenditionState {
    Pending,
    Ready,
    /// The original could not be decoded; it is kept as uploaded, and a supervisor must look.
    Failed,
}

impl RenditionState {
    pub fn as_str(self) -> &'static str {
        match self {
            RenditionState::Pending => "pending",
            RenditionState::Ready => "ready",
            RenditionState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RenditionState> {
        [
            RenditionState::Pending,
            RenditionState::Ready,
            RenditionState::Failed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A verified photo, as recorded and synced to its author: once the phone sees it, it may delete
/// its own copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoView {
    pub id: Uuid,
    /// The inspection the photo is evidence of (of its first version or an amendment)...
    pub inspection_id: Option<Uuid>,
    /// ...or the incident report (exactly one of the two is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
    /// Always `verified`: a photo exists on the server only once its bytes matched the declared hash.
    pub state: String,
    pub sha256: String,
    pub size: u64,
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    pub exif: Option<ExifInfo>,
    /// What the photo's own metadata says against the form: see [`evidence_flags`].
    pub flags: Vec<String>,
    /// Seconds between EXIF time and the inspection's time, when both are known.
    pub exif_time_diff_s: Option<i64>,
    /// Metres between the EXIF position and the form's position (both as WGS-84), when both known.
    pub exif_distance_m: Option<f64>,
    pub declared_content_type: Option<String>,
    pub declared_taken_at: Option<DateTime<Utc>>,
    pub verified_at: DateTime<Utc>,
    pub renditions: RenditionState,
}

/// When a photo's metadata is far enough from the form's to flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceThresholds {
    pub time_far_s: i64,
    pub position_far_m: f64,
}

impl Default for EvidenceThresholds {
    fn default() -> Self {
        Self {
            time_far_s: 2 * 3600,
            position_far_m: 500.0,
        }
    }
}

/// The evidence checks of one photo against its inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceCheck {
    pub flags: Vec<String>,
    pub time_diff_s: Option<i64>,
    pub distance_m: Option<f64>,
}

/// Flags a photo at verification: `exif_missing` (no EXIF at all), `exif_unreadable` (EXIF that
/// could not all be read: what could is kept), `exif_time_far`, `exif_position_far` (against the
/// form's time and WGS-84 position), `reused_evidence` (the same bytes are attached to another
/// inspection). Flags inform a supervisor; they never refuse.
pub fn evidence_flags(
    exif: Option<&ExifInfo>,
    exif_unreadable: bool,
    form_wgs84: (f64, f64),
    occurred_at: DateTime<Utc>,
    reused: bool,
    t: EvidenceThresholds,
) -> EvidenceCheck {
    let mut flags = Vec::new();
    let mut time_diff_s = None;
    let mut distance_m = None;
    if exif_unreadable {
        flags.push("exif_unreadable".to_owned());
    }
    match exif {
        None if exif_unreadable => {}
        None => flags.push("exif_missing".to_owned()),
        Some(e) => {
            if let Some(taken) = e.taken_at {
                let d = (taken - occurred_at).num_seconds();
                time_diff_s = Some(d);
                if d.abs() > t.time_far_s {
                    flags.push("exif_time_far".to_owned());
                }
            }
            if let Some(g) = &e.gps {
                let d = geo::distance_m(geo::to_wgs84(g.lat, g.lon, g.datum), form_wgs84);
                distance_m = Some(d);
                if d > t.position_far_m {
                    flags.push("exif_position_far".to_owned());
                }
            }
        }
    }
    if reused {
        flags.push("reused_evidence".to_owned());
    }
    EvidenceCheck {
        flags,
        time_diff_s,
        distance_m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exif(lat: f64, lon: f64, taken: DateTime<Utc>) -> ExifInfo {
        ExifInfo {
            taken_at: Some(taken),
            gps: Some(ExifGps {
                lat,
                lon,
                datum: Datum::Wgs84,
            }),
            orientation: 1,
            ..ExifInfo::default()
        }
    }

    #[test]
    fn flags_follow_the_thresholds() {
        let t0: DateTime<Utc> = "2026-11-02T02:00:00Z".parse().expect("time");
        let site = (36.4567, 115.9854);
        let th = EvidenceThresholds::default();
        let near = evidence_flags(
            Some(&exif(36.4568, 115.9855, t0)),
            false,
            site,
            t0,
            false,
            th,
        );
        assert!(near.flags.is_empty(), "{near:?}");
        let far = exif(36.4767, 115.9854, t0 + chrono::Duration::hours(3));
        let c = evidence_flags(Some(&far), false, site, t0, true, th);
        assert_eq!(
            c.flags,
            ["exif_time_far", "exif_position_far", "reused_evidence"]
        );
        assert_eq!(c.time_diff_s, Some(3 * 3600));
        assert!(c.distance_m.is_some_and(|d| (2000.0..2500.0).contains(&d)));
        assert_eq!(
            evidence_flags(None, false, site, t0, false, th).flags,
            ["exif_missing"]
        );
    }

    #[test]
    fn a_gcj02_exif_position_is_converted_before_comparing() {
        let t0: DateTime<Utc> = "2026-11-02T02:00:00Z".parse().expect("time");
        let site = (36.4567, 115.9854);
        let (glat, glon) = geo::wgs84_to_gcj02(site.0, site.1);
        let mut e = exif(glat, glon, t0);
        let as_wgs = evidence_flags(
            Some(&e),
            false,
            site,
            t0,
            false,
            EvidenceThresholds::default(),
        );
        assert!(as_wgs.distance_m.is_some_and(|d| d > 100.0));
        if let Some(g) = e.gps.as_mut() {
            g.datum = Datum::Gcj02;
        }
        let c = evidence_flags(
            Some(&e),
            false,
            site,
            t0,
            false,
            EvidenceThresholds::default(),
        );
        assert!(c.distance_m.is_some_and(|d| d < 0.01), "{c:?}");
    }
}

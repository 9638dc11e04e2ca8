//! The checks behind each fuzz target, as plain functions: the cargo-fuzz targets in
//! `fuzz_targets/` call them under libFuzzer, and `tests/faults/corpus.rs` replays the committed
//! corpus through them in every `cargo test`, so an input that once found a crash stays a
//! regression test. Each function must not panic on any input; the asserts are the invariants.

// Each includer (a fuzz target, the corpus test) calls only some of them.
#![allow(dead_code)]

use lantian_domain::geo::{self, Datum};
use lantian_domain::inspection::LocationFix;
use lantian_domain::mutation::{self, Command};
use lantian_domain::subject::GeoPoint;
use lantian_media::Limits;
use lantian_media::tus;
use lantian_protocol::sync::PushRequest;
use std::io::Cursor;

/// The sync push body as the server reads it: the request envelope, then every mutation's
/// arguments by its name, then what the server derives from a submitted inspection before storing
/// it (location checks and datum conversion, the photos it expects). Nothing may panic; what parses
/// must serialise back to JSON that parses again to the same command.
pub fn sync_push(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<PushRequest>(data) else {
        return;
    };
    for m in &req.mutations {
        let Ok(cmd) = mutation::parse(&m.name, &m.args) else {
            continue;
        };
        if let Command::SubmitInspection(s) = &cmd {
            if s.location.validate().is_ok() {
                let (lat, lon) = s.location.wgs84();
                assert!(lat.is_finite() && lon.is_finite(), "{lat} {lon}");
            }
            let _ = lantian_domain::inspection::expected_photos(&s.results, s.signature_photo_id);
            let again = serde_json::to_value(s.as_ref()).expect("serialises");
            let back = mutation::parse(&m.name, &again).expect("its own JSON parses");
            assert!(matches!(back, Command::SubmitInspection(_)));
        }
    }
}

/// Image validation and EXIF, as an upload's last chunk meets them: the probe (size, sniffed
/// format, header dimensions, the container walked to its end, EXIF) and the EXIF reader alone.
/// Nothing may panic, loop or allocate without bound; what passes must be within the limits.
pub fn photo_probe(data: &[u8]) {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_side: 8_000,
        max_pixels: 40_000_000,
    };
    let len = data.len() as u64;
    if let Ok(p) = lantian_media::probe::probe_reader(&mut Cursor::new(data), len, len, &limits) {
        assert!(p.width > 0 && p.height > 0);
        assert!(p.width <= limits.max_side && p.height <= limits.max_side);
        assert_eq!(p.size, len);
    }
    if let Ok(read) = lantian_media::exif::read(&mut Cursor::new(data))
        && let Some(gps) = read.info.and_then(|e| e.gps)
    {
        assert!(
            gps.lat.is_finite() && (-90.0..=90.0).contains(&gps.lat),
            "{gps:?}"
        );
        assert!(
            gps.lon.is_finite() && (-180.0..=180.0).contains(&gps.lon),
            "{gps:?}"
        );
    }
}

/// Renditions of what passes the probe, as the rendition job makes them: the scaling JPEG
/// decoder (and the whole decoder it falls back to) on hostile bytes. Nothing may panic or
/// allocate without bound; what renders fits its edges.
pub fn photo_render(data: &[u8]) {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_side: 4_000,
        max_pixels: 4_000_000,
    };
    let len = data.len() as u64;
    let Ok(p) = lantian_media::probe::probe_reader(&mut Cursor::new(data), len, len, &limits)
    else {
        return;
    };
    let orientation = p.exif.as_ref().map_or(1, |e| e.orientation);
    if let Ok(r) = lantian_media::render::render(data, p.format, orientation, &limits) {
        assert!(!r.thumb.is_empty());
        assert_eq!(
            r.review.is_none(),
            lantian_media::render::review_is_original(p.format, p.width, p.height)
        );
    }
}

/// The tus request headers the server parses itself: `Upload-Metadata` (comma-separated keys with
/// base64 values) and `Upload-Checksum` (algorithm and base64 digest). Nothing may panic; a parsed
/// checksum's digest has its algorithm's length; metadata keys are non-empty and unique.
pub fn tus_headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(meta) = tus::parse_metadata(text) {
        assert!(
            meta.keys()
                .all(|k| !k.is_empty() && !k.contains([' ', ','])),
            "{meta:?}"
        );
    }
    if let Ok(c) = tus::parse_checksum(text) {
        let mut h = tus::Hasher::new(c.algorithm);
        h.update(b"");
        assert_eq!(h.finish().len(), c.digest.len(), "{text:?}");
    }
}

fn datum_round_trip(lat: f64, lon: f64, datum: Datum) {
    let (wlat, wlon) = geo::to_wgs84(lat, lon, datum);
    assert!(
        wlat.is_finite() && wlon.is_finite(),
        "{lat} {lon} {datum:?}"
    );
    assert!(
        (-90.5..=90.5).contains(&wlat) && (-180.5..=180.5).contains(&wlon),
        "{wlat} {wlon}"
    );
    let (blat, blon) = geo::from_wgs84(wlat, wlon, datum);
    let drift = geo::distance_m((lat, lon), (blat, blon));
    assert!(
        drift < 1.0,
        "{lat} {lon} {datum:?}: round trip drifts {drift} m"
    );
}

/// Coordinates as phones and imports send them: a location fix or a bare point as JSON, then the
/// checks every write path runs and the datum conversions (GCJ-02 / BD-09 and back by iteration).
/// Nothing may panic; a point that passes the checks converts to finite WGS-84 in range, and the
/// round trip through its datum stays within a metre.
pub fn coordinates(data: &[u8]) {
    if let Ok(fix) = serde_json::from_slice::<LocationFix>(data)
        && fix.validate().is_ok()
    {
        datum_round_trip(fix.lat, fix.lon, fix.datum);
    }
    if let Ok(p) = serde_json::from_slice::<GeoPoint>(data)
        && p.validate("location").is_ok()
    {
        for d in [Datum::Wgs84, Datum::Gcj02, Datum::Bd09] {
            datum_round_trip(p.lat, p.lon, d);
        }
    }
    // Raw bit patterns too: every f64 the JSON grammar cannot spell (NaN, infinities).
    if data.len() >= 16 {
        let lat = f64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let lon = f64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
        if (GeoPoint { lat, lon }).validate("location").is_ok() {
            datum_round_trip(lat, lon, Datum::Gcj02);
        }
    }
}

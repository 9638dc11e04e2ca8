//! Coordinates as phones and imports send them: a location fix or a bare point as JSON, then the
//! checks every write path runs and the datum conversions (GCJ-02 / BD-09 and back by iteration).
//! Nothing may panic; a point that passes the checks converts to finite WGS-84 in range, and the
//! round trip through its datum stays within a metre.
#![no_main]

use lantian_domain::geo::{self, Datum};
use lantian_domain::inspection::LocationFix;
use lantian_domain::subject::GeoPoint;
use libfuzzer_sys::fuzz_target;

fn check(lat: f64, lon: f64, datum: Datum) {
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

fuzz_target!(|data: &[u8]| {
    if let Ok(fix) = serde_json::from_slice::<LocationFix>(data)
        && fix.validate().is_ok()
    {
        check(fix.lat, fix.lon, fix.datum);
    }
    if let Ok(p) = serde_json::from_slice::<GeoPoint>(data)
        && p.validate("location").is_ok()
    {
        for d in [Datum::Wgs84, Datum::Gcj02, Datum::Bd09] {
            check(p.lat, p.lon, d);
        }
    }
    // Raw bit patterns too: every f64 the JSON grammar cannot spell (NaN, infinities).
    if data.len() >= 16 {
        let lat = f64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let lon = f64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
        if (GeoPoint { lat, lon }).validate("location").is_ok() {
            check(lat, lon, Datum::Gcj02);
        }
    }
});

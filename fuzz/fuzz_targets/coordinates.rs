//! Coordinates as phones and imports send them: a location fix or a bare point as JSON, then the
//! checks every write path runs and the datum conversions (GCJ-02 / BD-09 and back by iteration).
//! Nothing may panic; a point that passes the checks converts to finite WGS-84 in range, and the
//! round trip through its datum stays within a metre.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::coordinates(data));

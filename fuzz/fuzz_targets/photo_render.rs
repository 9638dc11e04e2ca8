//! Renditions of what passes the probe: the scaling JPEG decoder and the whole decoder on hostile
//! bytes, with small limits. Nothing may panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::photo_render(data));

//! Image validation and EXIF, as an upload's last chunk meets them: the probe (size, sniffed
//! format, header dimensions, the container walked to its end, EXIF) and the EXIF reader alone.
//! Nothing may panic, loop or allocate without bound; what passes must be within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::photo_probe(data));

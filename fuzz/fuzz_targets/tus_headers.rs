//! The tus request headers the server parses itself: `Upload-Metadata` (comma-separated keys with
//! base64 values) and `Upload-Checksum` (algorithm and base64 digest). Nothing may panic; a parsed
//! checksum's digest has its algorithm's length; metadata keys are non-empty and unique.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::tus_headers(data));

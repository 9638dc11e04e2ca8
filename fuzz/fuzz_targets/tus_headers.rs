//! The tus request headers the server parses itself: `Upload-Metadata` (comma-separated keys with
//! base64 values) and `Upload-Checksum` (algorithm and base64 digest). Nothing may panic; a parsed
//! checksum's digest has its algorithm's length; metadata keys are non-empty and unique.
#![no_main]

use lantian_media::tus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});

//! The sync push body as the server reads it: the request envelope, then every mutation's
//! arguments by its name, then what the server derives from a submitted inspection before storing
//! it (location checks and datum conversion, the photos it expects). Nothing may panic; what parses
//! must serialise back to JSON that parses again to the same command.
#![no_main]

use lantian_domain::mutation::{self, Command};
use lantian_protocol::sync::PushRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});

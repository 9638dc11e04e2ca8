//! The sync push body as the server reads it: the request envelope, then every mutation's
//! arguments by its name, then what the server derives from a submitted inspection before storing
//! it (location checks and datum conversion, the photos it expects). Nothing may panic; what parses
//! must serialise back to JSON that parses again to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::sync_push(data));

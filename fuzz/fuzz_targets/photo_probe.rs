//! Image validation and EXIF, as an upload's last chunk meets them: the probe (size, sniffed
//! format, header dimensions, the container walked to its end, EXIF) and the EXIF reader alone.
//! Nothing may panic, loop or allocate without bound; what passes must be within the limits.
#![no_main]

use std::io::Cursor;

use lantian_media::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
    if let Ok(Some(exif)) = lantian_media::exif::read(&mut Cursor::new(data))
        && let Some(gps) = exif.gps
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
});

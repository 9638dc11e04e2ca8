//! Writes the seed corpus of the `photo_probe` fuzz target: small JPEGs and PNGs from the test
//! fixtures, with full EXIF, GPS, and each kind of EXIF broken on purpose, plus truncated copies.
//! Usage: cargo run -p lantian-media --features testing --example fuzz_seeds -- fuzz/corpus/photo_probe

use lantian_media::testing::{Breakage, ExifSpec, jpeg, jpeg_declaring, png_declaring};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus/photo_probe".to_owned());
    std::fs::create_dir_all(&dir)?;
    let full = ExifSpec {
        make: Some("Huawei".into()),
        model: Some("P30".into()),
        orientation: Some(6),
        taken: Some("2019:11:15 10:30:00".into()),
        offset: Some("+08:00".into()),
        gps: Some((36.45, 115.98)),
        map_datum: Some("WGS-84".into()),
        breakage: None,
    };
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("plain.jpg".into(), jpeg(16, 12, None)),
        ("exif.jpg".into(), jpeg(16, 12, Some(&full))),
        ("huge-declared.png".into(), png_declaring(100_000, 100_000)),
        ("huge-declared.jpg".into(), jpeg_declaring(60_000, 60_000)),
    ];
    for (name, b) in [
        ("looped-ifd", Breakage::LoopedIfd),
        ("absurd-count", Breakage::AbsurdCount),
        ("zero-denominator", Breakage::ZeroDenominator),
    ] {
        let spec = ExifSpec {
            breakage: Some(b),
            ..full.clone()
        };
        seeds.push((format!("{name}.jpg"), jpeg(16, 12, Some(&spec))));
    }
    let exif = seeds[1].1.clone();
    seeds.push(("truncated.jpg".into(), exif[..exif.len() / 2].to_vec()));
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), bytes)?;
    }
    Ok(())
}

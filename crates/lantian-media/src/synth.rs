//! Synthetic photos: JPEGs with the EXIF a test needs, and EXIF broken on purpose (IFD loops,
//! absurd counts, zero denominators), built byte by byte so a test states exactly what the file
//! says; and the demo history's site photos ([`scene`]).

use image::RgbImage;

/// What to write into a fixture's EXIF.
#[derive(Debug, Clone, Default)]
pub struct ExifSpec {
    pub make: Option<String>,
    pub model: Option<String>,
    pub orientation: Option<u16>,
    /// `YYYY:MM:DD HH:MM:SS`
    pub taken: Option<String>,
    /// `+08:00`
    pub offset: Option<String>,
    /// (lat, lon) in degrees.
    pub gps: Option<(f64, f64)>,
    pub map_datum: Option<String>,
    pub breakage: Option<Breakage>,
}

/// Ways to break EXIF on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakage {
    /// IFD0's next-IFD pointer points back at IFD0.
    LoopedIfd,
    /// The Make field claims a billion characters.
    AbsurdCount,
    /// GPS latitude with a zero denominator.
    ZeroDenominator,
    /// IFD0 ends the block without its next-IFD pointer, as some EXIF writers (piexif) leave it;
    /// only IFD0's fields are written (make, model, orientation, and the time as `DateTime`).
    NoNextIfdPointer,
}

struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    data: Vec<u8>,
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut data = s.as_bytes().to_vec();
    data.push(0);
    Entry {
        tag,
        typ: 2,
        count: data.len() as u32,
        data,
    }
}

fn short(tag: u16, v: u16) -> Entry {
    Entry {
        tag,
        typ: 3,
        count: 1,
        data: v.to_le_bytes().to_vec(),
    }
}

fn long(tag: u16, v: u32) -> Entry {
    Entry {
        tag,
        typ: 4,
        count: 1,
        data: v.to_le_bytes().to_vec(),
    }
}

fn rationals(tag: u16, v: &[(u32, u32)]) -> Entry {
    let mut data = Vec::new();
    for (n, d) in v {
        data.extend_from_slice(&n.to_le_bytes());
        data.extend_from_slice(&d.to_le_bytes());
    }
    Entry {
        tag,
        typ: 5,
        count: v.len() as u32,
        data,
    }
}

fn dms(deg: f64, zero_denominator: bool) -> Vec<(u32, u32)> {
    let d = deg.abs();
    let whole = d.floor();
    let minutes = ((d - whole) * 60.0).floor();
    let seconds = ((d - whole) * 60.0 - minutes) * 60.0;
    vec![
        (whole as u32, if zero_denominator { 0 } else { 1 }),
        (minutes as u32, 1),
        ((seconds * 10_000.0).round() as u32, 10_000),
    ]
}

fn ifd_len(n: usize) -> usize {
    2 + 12 * n + 4
}

/// A little-endian TIFF block with IFD0 and, when non-empty, the Exif and GPS IFDs.
fn tiff(
    mut ifd0: Vec<Entry>,
    exif: Vec<Entry>,
    gps: Vec<Entry>,
    breakage: Option<Breakage>,
) -> Vec<u8> {
    let n0 = ifd0.len() + usize::from(!exif.is_empty()) + usize::from(!gps.is_empty());
    let ifd0_at = 8;
    let exif_at = ifd0_at + ifd_len(n0);
    let gps_at = exif_at
        + if exif.is_empty() {
            0
        } else {
            ifd_len(exif.len())
        };
    let mut data_at = gps_at
        + if gps.is_empty() {
            0
        } else {
            ifd_len(gps.len())
        };
    if !exif.is_empty() {
        ifd0.push(long(0x8769, exif_at as u32));
    }
    if !gps.is_empty() {
        ifd0.push(long(0x8825, gps_at as u32));
    }
    ifd0.sort_by_key(|e| e.tag);
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&(ifd0_at as u32).to_le_bytes());
    let mut data_area = Vec::new();
    for (i, ifd) in [ifd0, exif, gps].into_iter().enumerate() {
        if ifd.is_empty() {
            continue;
        }
        out.extend_from_slice(&(ifd.len() as u16).to_le_bytes());
        for e in &ifd {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.typ.to_le_bytes());
            let count = if breakage == Some(Breakage::AbsurdCount) && e.tag == 0x010F {
                1_000_000_000
            } else {
                e.count
            };
            out.extend_from_slice(&count.to_le_bytes());
            if e.data.len() <= 4 {
                let mut v = e.data.clone();
                v.resize(4, 0);
                out.extend_from_slice(&v);
            } else {
                out.extend_from_slice(&(data_at as u32).to_le_bytes());
                data_area.extend_from_slice(&e.data);
                data_at += e.data.len();
                if e.data.len() % 2 == 1 {
                    data_area.push(0);
                    data_at += 1;
                }
            }
        }
        let next: u32 = if i == 0 && breakage == Some(Breakage::LoopedIfd) {
            ifd0_at as u32
        } else {
            0
        };
        out.extend_from_slice(&next.to_le_bytes());
    }
    out.extend_from_slice(&data_area);
    out
}

/// A little-endian TIFF block with the values first and IFD0 last, ending without its next-IFD
/// pointer.
fn tiff_without_next_pointer(mut ifd0: Vec<Entry>) -> Vec<u8> {
    ifd0.sort_by_key(|e| e.tag);
    let mut data_area = Vec::new();
    let mut offsets = Vec::new();
    for e in &ifd0 {
        if e.data.len() > 4 {
            offsets.push(Some(8 + data_area.len() as u32));
            data_area.extend_from_slice(&e.data);
            if data_area.len() % 2 == 1 {
                data_area.push(0);
            }
        } else {
            offsets.push(None);
        }
    }
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&(8 + data_area.len() as u32).to_le_bytes());
    out.extend_from_slice(&data_area);
    out.extend_from_slice(&(ifd0.len() as u16).to_le_bytes());
    for (e, at) in ifd0.iter().zip(offsets) {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.typ.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        match at {
            Some(at) => out.extend_from_slice(&at.to_le_bytes()),
            None => {
                let mut v = e.data.clone();
                v.resize(4, 0);
                out.extend_from_slice(&v);
            }
        }
    }
    out
}

/// The EXIF (TIFF) block for `spec`.
pub fn exif_block(spec: &ExifSpec) -> Vec<u8> {
    let mut ifd0 = Vec::new();
    if let Some(m) = &spec.make {
        ifd0.push(ascii(0x010F, m));
    }
    if let Some(m) = &spec.model {
        ifd0.push(ascii(0x0110, m));
    }
    if let Some(o) = spec.orientation {
        ifd0.push(short(0x0112, o));
    }
    if spec.breakage == Some(Breakage::NoNextIfdPointer) {
        if let Some(t) = &spec.taken {
            ifd0.push(ascii(0x0132, t));
        }
        return tiff_without_next_pointer(ifd0);
    }
    let mut exif = Vec::new();
    if let Some(t) = &spec.taken {
        exif.push(ascii(0x9003, t));
    }
    if let Some(o) = &spec.offset {
        exif.push(ascii(0x9011, o));
    }
    let mut gps = Vec::new();
    if let Some((lat, lon)) = spec.gps {
        let zero = spec.breakage == Some(Breakage::ZeroDenominator);
        gps.push(ascii(0x0001, if lat < 0.0 { "S" } else { "N" }));
        gps.push(rationals(0x0002, &dms(lat, zero)));
        gps.push(ascii(0x0003, if lon < 0.0 { "W" } else { "E" }));
        gps.push(rationals(0x0004, &dms(lon, false)));
        if let Some(d) = &spec.map_datum {
            gps.push(ascii(0x0012, d));
        }
    }
    tiff(ifd0, exif, gps, spec.breakage)
}

/// A JPEG of `w` x `h` (a gradient with some texture), with `exif` in an APP1 segment.
pub fn jpeg(w: u32, h: u32, exif: Option<&ExifSpec>) -> Vec<u8> {
    jpeg_quality(w, h, exif, 85)
}

/// [`jpeg`] at a chosen quality (benchmarks use high quality for realistic sizes).
pub fn jpeg_quality(w: u32, h: u32, exif: Option<&ExifSpec>, quality: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        let n = x
            .wrapping_mul(2_654_435_761)
            .wrapping_add(y.wrapping_mul(40_503))
            >> 27;
        image::Rgb([
            ((x * 255 / w.max(1)) as u8).wrapping_add(n as u8),
            ((y * 255 / h.max(1)) as u8).wrapping_add((n >> 1) as u8),
            (((x + y) % 256) as u8) ^ (n as u8),
        ])
    });
    let mut plain = Vec::new();
    // Encoding a fixture cannot fail on a well-formed buffer; an empty Vec would fail the test that uses it.
    let _ =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, quality).encode_image(&img);
    match exif {
        None => plain,
        Some(spec) => with_app1(&plain, &exif_block(spec)),
    }
}

/// Inserts an `Exif` APP1 segment holding `tiff` right after the JPEG's SOI marker.
pub fn with_app1(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(tiff);
    let len = (seg.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A tiny PNG whose header declares `w` x `h` (the pixel data is a few bytes: never decodable).
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    out.resize(out.len() + 900, 0);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A tiny JPEG whose frame header declares `w` x `h` (both at most 65535).
pub fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16, None);
    // Patch the first SOF0 segment's height and width.
    if let Some(i) = j.windows(2).position(|p| p == [0xFF, 0xC0]) {
        j[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
        j[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
    }
    j
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A plain picture of a site for the demo's history: sky, ground, and a block of the site's
/// colour placed by `seed`, so photos of one history differ from each other; with `exif`.
pub fn scene(w: u32, h: u32, seed: u64, exif: Option<&ExifSpec>) -> Vec<u8> {
    let horizon = h * (35 + (seed % 20) as u32) / 100;
    let (bx, bw) = (
        (seed >> 8) as u32 % (w / 2).max(1),
        w / 4 + (seed >> 16) as u32 % (w / 4).max(1),
    );
    let (by, bh) = (horizon.saturating_sub(h / 8), h / 3);
    let tint = [(seed >> 24) as u8, (seed >> 32) as u8, (seed >> 40) as u8];
    let img = RgbImage::from_fn(w, h, |x, y| {
        let grain = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 29;
        if x >= bx && x < bx + bw && y >= by && y < by + bh {
            image::Rgb([
                96u8.wrapping_add(tint[0] / 3),
                80u8.wrapping_add(tint[1] / 3),
                64u8.wrapping_add(tint[2] / 3),
            ])
        } else if y < horizon {
            let v = (y * 60 / horizon.max(1)) as u8;
            image::Rgb([150 + v / 2, 180 + v / 3, 215u8.saturating_sub(v / 4)])
        } else {
            let g = grain as u8 * 6;
            image::Rgb([120 + g, 110 + g, 90 + g])
        }
    });
    let mut plain = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 80).encode_image(&img);
    match exif {
        None => plain,
        Some(spec) => with_app1(&plain, &exif_block(spec)),
    }
}

//! Validation before any decode. Everything here reads the file in bounded buffers: a 30 MB photo
//! costs a few kilobytes of memory to probe.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use lantian_domain::media::{ExifInfo, PhotoFormat};
use sha2::Digest;

use crate::{Limits, MediaError};

/// What the probe learned about a file it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    pub exif: Option<ExifInfo>,
    /// What of the EXIF could not be read (the photo is kept; it is flagged `exif_unreadable`).
    pub exif_unreadable: Option<String>,
}

/// Whether a content type a client declares before sending a photo could be one lantian accepts:
/// JPEG, PNG or WebP, or a type that says nothing (`application/octet-stream`). Anything else is
/// refused before the bytes are sent; what was declared is never trusted after, the bytes are
/// sniffed ([`sniff`]).
pub fn declared_type_acceptable(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "image/jpeg"
            | "image/jpg"
            | "image/pjpeg"
            | "image/png"
            | "image/webp"
            | "application/octet-stream"
            | ""
    )
}

/// The format the first bytes announce, if it is one lantian accepts.
pub fn sniff(head: &[u8]) -> Option<PhotoFormat> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(PhotoFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(PhotoFormat::Png)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(PhotoFormat::Webp)
    } else {
        None
    }
}

/// SHA-256 of a file, lowercase hex, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> Result<String, MediaError> {
    let mut f = File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Checks a complete upload: its size against the declaration and the limit, its format from its
/// bytes, its dimensions and pixel area from its header, its structure to the end (a truncated file
/// is refused here, not by a decoder), and reads its EXIF.
pub fn probe(path: &Path, declared_len: u64, limits: &Limits) -> Result<Probe, MediaError> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    probe_reader(&mut f, size, declared_len, limits)
}

/// [`probe`] over any seekable bytes of length `size` (the fuzz target feeds it memory).
pub fn probe_reader<R: Read + Seek>(
    f: &mut R,
    size: u64,
    declared_len: u64,
    limits: &Limits,
) -> Result<Probe, MediaError> {
    if size > limits.max_bytes {
        return Err(MediaError::TooLarge {
            actual: size,
            limit: limits.max_bytes,
        });
    }
    if size != declared_len {
        return Err(MediaError::SizeMismatch {
            actual: size,
            declared: declared_len,
        });
    }
    let mut head = [0u8; 16];
    let n = read_up_to(f, &mut head)?;
    let format = sniff(&head[..n]).ok_or(MediaError::FormatUnsupported)?;
    f.seek(SeekFrom::Start(0))?;
    // Dimensions from the header and the structure walked to its end; nothing is decoded. JPEG
    // headers are read by the walk itself (the decoder's header reader would load the whole file).
    let (width, height) = match format {
        PhotoFormat::Jpeg => walk_jpeg(&mut BufReader::with_capacity(64 * 1024, &mut *f))?,
        PhotoFormat::Png | PhotoFormat::Webp => {
            let dims =
                image::ImageReader::with_format(BufReader::new(&mut *f), image_format(format))
                    .into_dimensions()
                    .map_err(|e| MediaError::Corrupt(e.to_string()))?;
            f.seek(SeekFrom::Start(0))?;
            if format == PhotoFormat::Png {
                walk_png(f, size)?;
            } else {
                walk_webp(f, size)?;
            }
            dims
        }
    };
    if width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(MediaError::DimensionsTooLarge { width, height });
    }
    f.seek(SeekFrom::Start(0))?;
    let exif = crate::exif::read(&mut BufReader::new(&mut *f))?;
    Ok(Probe {
        format,
        width,
        height,
        size,
        exif: exif.info,
        exif_unreadable: exif.unreadable,
    })
}

pub(crate) fn image_format(f: PhotoFormat) -> image::ImageFormat {
    match f {
        PhotoFormat::Jpeg => image::ImageFormat::Jpeg,
        PhotoFormat::Png => image::ImageFormat::Png,
        PhotoFormat::Webp => image::ImageFormat::WebP,
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn byte(r: &mut impl BufRead) -> Result<u8, MediaError> {
    let mut b = [0u8; 1];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(b[0]),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(MediaError::Truncated),
        Err(e) => Err(e.into()),
    }
}

fn skip(r: &mut impl BufRead, mut n: u64) -> Result<(), MediaError> {
    while n > 0 {
        let avail = r.fill_buf()?.len();
        if avail == 0 {
            return Err(MediaError::Truncated);
        }
        let k = avail.min(usize::try_from(n).unwrap_or(usize::MAX));
        r.consume(k);
        n -= k as u64;
    }
    Ok(())
}

/// Walks JPEG segments and entropy-coded data to the EOI marker; returns the (width, height) of the
/// first frame header. Bytes after EOI are allowed (phones append motion-photo and vendor trailers
/// there).
fn walk_jpeg(r: &mut impl BufRead) -> Result<(u32, u32), MediaError> {
    if byte(r)? != 0xFF || byte(r)? != 0xD8 {
        return Err(MediaError::Corrupt("no JPEG start marker".into()));
    }
    let mut pending: Option<u8> = None;
    let mut frame: Option<(u32, u32)> = None;
    loop {
        let marker = match pending.take() {
            Some(m) => m,
            None => {
                if byte(r)? != 0xFF {
                    return Err(MediaError::Corrupt("expected a JPEG marker".into()));
                }
                let mut m = byte(r)?;
                while m == 0xFF {
                    m = byte(r)?;
                }
                m
            }
        };
        match marker {
            0xD9 => {
                return frame.ok_or_else(|| MediaError::Corrupt("no JPEG frame header".into()));
            }
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = u16::from_be_bytes([byte(r)?, byte(r)?]);
                if len < 2 {
                    return Err(MediaError::Corrupt("JPEG segment length below 2".into()));
                }
                let mut rest = u64::from(len) - 2;
                // Start-of-frame markers (all but DHT C4, JPG C8, DAC CC): precision, height, width.
                let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if sof && frame.is_none() {
                    if rest < 5 {
                        return Err(MediaError::Corrupt("JPEG frame header too short".into()));
                    }
                    let _precision = byte(r)?;
                    let h = u16::from_be_bytes([byte(r)?, byte(r)?]);
                    let w = u16::from_be_bytes([byte(r)?, byte(r)?]);
                    frame = Some((u32::from(w), u32::from(h)));
                    rest -= 5;
                }
                skip(r, rest)?;
                if marker == 0xDA {
                    if frame.is_none() {
                        return Err(MediaError::Corrupt(
                            "JPEG scan before its frame header".into(),
                        ));
                    }
                    pending = Some(scan_entropy(r)?);
                }
            }
        }
    }
}

/// Skips entropy-coded data after a start-of-scan; returns the marker that ends it.
fn scan_entropy(r: &mut impl BufRead) -> Result<u8, MediaError> {
    let mut after_ff = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(MediaError::Truncated);
        }
        let mut consumed = 0;
        let mut found = None;
        for &b in buf {
            consumed += 1;
            if after_ff {
                match b {
                    0x00 | 0xD0..=0xD7 => after_ff = false,
                    0xFF => {}
                    m => {
                        found = Some(m);
                        break;
                    }
                }
            } else if b == 0xFF {
                after_ff = true;
            }
        }
        r.consume(consumed);
        if let Some(m) = found {
            return Ok(m);
        }
    }
}

/// Walks PNG chunks to IEND, checking every length against the file.
fn walk_png(f: &mut (impl Read + Seek), size: u64) -> Result<(), MediaError> {
    let mut pos = 8u64;
    f.seek(SeekFrom::Start(pos))?;
    loop {
        if pos + 12 > size {
            return Err(MediaError::Truncated);
        }
        let mut h = [0u8; 8];
        f.read_exact(&mut h)?;
        let len = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        if len > 0x7FFF_FFFF {
            return Err(MediaError::Corrupt("PNG chunk length out of range".into()));
        }
        let end = pos + 8 + len + 4;
        if end > size {
            return Err(MediaError::Truncated);
        }
        if &h[4..8] == b"IEND" {
            return Ok(());
        }
        pos = end;
        f.seek(SeekFrom::Start(pos))?;
    }
}

/// A WebP file is one RIFF chunk; its declared size must fit in the file.
fn walk_webp(f: &mut (impl Read + Seek), size: u64) -> Result<(), MediaError> {
    f.seek(SeekFrom::Start(4))?;
    let mut b = [0u8; 4];
    f.read_exact(&mut b)?;
    let riff = u64::from(u32::from_le_bytes(b));
    if riff + 8 > size {
        return Err(MediaError::Truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(bytes).expect("write");
        f
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&img)
            .expect("encode");
        out
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([x as u8, 10, 20]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    #[test]
    fn accepts_well_formed_jpeg_and_png() {
        let l = Limits::default();
        let j = jpeg(64, 48);
        let p = probe(write(&j).path(), j.len() as u64, &l).expect("jpeg");
        assert_eq!((p.format, p.width, p.height), (PhotoFormat::Jpeg, 64, 48));
        assert_eq!(p.exif, None);
        let g = png(30, 20);
        let p = probe(write(&g).path(), g.len() as u64, &l).expect("png");
        assert_eq!((p.format, p.width, p.height), (PhotoFormat::Png, 30, 20));
    }

    #[test]
    fn truncations_at_every_cut_are_refused_never_panic() {
        let l = Limits::default();
        for full in [jpeg(64, 48), png(30, 20)] {
            for cut in (1..full.len()).step_by(7) {
                let part = &full[..cut];
                let r = probe(write(part).path(), cut as u64, &l);
                assert!(r.is_err(), "cut at {cut} of {} accepted", full.len());
            }
        }
    }

    #[test]
    fn trailing_bytes_after_jpeg_end_are_allowed() {
        let mut j = jpeg(32, 32);
        j.extend_from_slice(b"motion photo trailer");
        assert!(probe(write(&j).path(), j.len() as u64, &Limits::default()).is_ok());
    }

    #[test]
    fn declared_size_and_limits_are_enforced() {
        let j = jpeg(64, 48);
        let f = write(&j);
        assert!(matches!(
            probe(f.path(), j.len() as u64 + 1, &Limits::default()),
            Err(MediaError::SizeMismatch { .. })
        ));
        let tight = Limits {
            max_side: 60,
            ..Limits::default()
        };
        assert!(matches!(
            probe(f.path(), j.len() as u64, &tight),
            Err(MediaError::DimensionsTooLarge { .. })
        ));
        assert!(matches!(
            probe(write(b"GIF89a not ours").path(), 15, &Limits::default()),
            Err(MediaError::FormatUnsupported)
        ));
    }
}

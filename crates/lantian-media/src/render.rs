//! Renditions: a thumbnail for lists and a review-size image for supervisors, made from the
//! original with its EXIF orientation applied. The original is never touched.

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};
use lantian_domain::media::PhotoFormat;

use crate::probe::image_format;
use crate::{Limits, MediaError};

/// Longest edge of a thumbnail, pixels.
pub const THUMB_EDGE: u32 = 320;
/// Longest edge of a review rendition, pixels.
pub const REVIEW_EDGE: u32 = 1600;
/// JPEG quality of renditions.
const QUALITY: u8 = 82;

/// The two renditions of one photo, as JPEG bytes.
#[derive(Debug, Clone)]
pub struct Renditions {
    pub thumb: Vec<u8>,
    pub review: Vec<u8>,
}

/// Decodes `bytes` (already probed) with strict limits, and makes both renditions.
pub fn render(
    bytes: impl AsRef<[u8]>,
    format: PhotoFormat,
    orientation: u16,
    limits: &Limits,
) -> Result<Renditions, MediaError> {
    let mut reader =
        image::ImageReader::with_format(Cursor::new(bytes.as_ref()), image_format(format));
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // Room for the decoded pixels (up to 4 bytes each) and the decoder's own buffers.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(4) + 64 * 1024 * 1024);
    reader.limits(l);
    let decoded = reader
        .decode()
        .map_err(|e| MediaError::Undecodable(e.to_string()))?;
    drop(bytes);
    let src = decoded.into_rgb8();
    let review = shrink(&src, REVIEW_EDGE)?;
    // The full-size pixels are the largest buffer: gone before anything else is made.
    drop(src);
    let thumb = shrink(&review, THUMB_EDGE)?;
    let orientation =
        Orientation::from_exif(orientation as u8).unwrap_or(Orientation::NoTransforms);
    Ok(Renditions {
        thumb: encode(thumb, orientation)?,
        review: encode(review, orientation)?,
    })
}

/// Scales `src` so its longest edge is at most `edge` (never enlarges).
fn shrink(src: &RgbImage, edge: u32) -> Result<RgbImage, MediaError> {
    let (w, h) = src.dimensions();
    let longest = w.max(h);
    if longest <= edge {
        return Ok(src.clone());
    }
    let scale = f64::from(edge) / f64::from(longest);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let mut dst = Image::new(tw, th, PixelType::U8x3);
    Resizer::new()
        .resize(
            src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| MediaError::Undecodable(e.to_string()))?;
    RgbImage::from_raw(tw, th, dst.into_vec())
        .ok_or_else(|| MediaError::Undecodable("resized buffer has the wrong size".into()))
}

fn encode(img: RgbImage, orientation: Orientation) -> Result<Vec<u8>, MediaError> {
    let mut img = DynamicImage::ImageRgb8(img);
    img.apply_orientation(orientation);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(&img)
        .map_err(|e| MediaError::Undecodable(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&img)
            .expect("encode");
        out
    }

    fn dims(bytes: &[u8]) -> (u32, u32) {
        image::load_from_memory(bytes)
            .expect("decode")
            .into_rgb8()
            .dimensions()
    }

    #[test]
    fn renditions_fit_their_edges_and_follow_orientation() {
        let src = jpeg(2000, 1000);
        let r = render(&src, PhotoFormat::Jpeg, 1, &Limits::default()).expect("render");
        assert_eq!(dims(&r.review), (1600, 800));
        assert_eq!(dims(&r.thumb), (320, 160));
        // Orientation 6: the camera was held upright; the rendition is portrait.
        let r = render(&src, PhotoFormat::Jpeg, 6, &Limits::default()).expect("render");
        assert_eq!(dims(&r.review), (800, 1600));
        assert_eq!(dims(&r.thumb), (160, 320));
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let r = render(jpeg(200, 100), PhotoFormat::Jpeg, 1, &Limits::default()).expect("render");
        assert_eq!(dims(&r.review), (200, 100));
        assert_eq!(dims(&r.thumb), (200, 100));
    }

    #[test]
    fn garbage_after_a_valid_header_is_an_error_not_a_panic() {
        // Everything after the start-of-image marker replaced: no frame header is left to decode.
        let mut b = jpeg(300, 300);
        let n = b.len();
        for x in &mut b[2..n] {
            *x = 0x5A;
        }
        let r = render(&b, PhotoFormat::Jpeg, 1, &Limits::default());
        assert!(matches!(r, Err(MediaError::Undecodable(_))), "{r:?}");
        // Garbage in the entropy-coded data: a decoder may conceal it (JPEG is lenient), but then
        // the renditions keep the frame's size; otherwise the answer is Undecodable.
        let mut b = jpeg(300, 300);
        let n = b.len();
        for x in &mut b[600..n - 2] {
            *x = 0x5A;
        }
        match render(&b, PhotoFormat::Jpeg, 1, &Limits::default()) {
            Ok(r) => assert_eq!(dims(&r.review), (300, 300)),
            Err(e) => assert!(matches!(e, MediaError::Undecodable(_)), "{e:?}"),
        }
    }
}

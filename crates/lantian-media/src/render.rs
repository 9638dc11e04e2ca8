//! Renditions: a thumbnail for lists and a review-size image for supervisors, made from the
//! original with its EXIF orientation applied. The original is never touched.
//!
//! What each costs was measured (decision 0025, `docs/performance.md`):
//!
//! - A JPEG no larger than the review size is its own review image ([`review_is_original`]):
//!   nothing is decoded or encoded for it (browsers apply its EXIF orientation themselves).
//! - A large JPEG is decoded at reduced scale in the DCT (1/2, 1/4, 1/8 of each side) by
//!   `jpeg-decoder`, the smallest scale that still covers what is made from it: a 12 MP photo is
//!   decoded at 2000 x 1500 for its 1600 px rendition. Smaller ones are decoded whole by the
//!   `image` crate (`zune-jpeg`), whose entropy decoding is faster (`scaled_decode_pays`), as are
//!   PNG, WebP and any JPEG the scaling decoder cannot read (arithmetic coding, say).
//! - Renditions are encoded by `jpeg-encoder` (4:2:0, quality [`QUALITY`]): a quarter of the
//!   time of `image`'s encoder, and smaller files at the same quality setting.

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
/// JPEG quality of renditions (chosen by measurement: decision 0025).
pub const QUALITY: u8 = 80;

/// The renditions of one photo, as JPEG bytes.
#[derive(Debug, Clone)]
pub struct Renditions {
    pub thumb: Vec<u8>,
    /// `None`: the original is its own review image ([`review_is_original`]).
    pub review: Option<Vec<u8>>,
}

/// Whether a photo's original serves as its review image: a JPEG no larger than
/// [`REVIEW_EDGE`] on either side. Nothing is made for it, and its review is read from the
/// original.
pub fn review_is_original(format: PhotoFormat, width: u32, height: u32) -> bool {
    format == PhotoFormat::Jpeg && width.max(height) <= REVIEW_EDGE
}

/// Decodes `bytes` (already probed) with strict limits, and makes the renditions.
pub fn render(
    bytes: impl AsRef<[u8]>,
    format: PhotoFormat,
    orientation: u16,
    limits: &Limits,
) -> Result<Renditions, MediaError> {
    let orientation =
        Orientation::from_exif(orientation as u8).unwrap_or(Orientation::NoTransforms);
    let bytes = bytes.as_ref();
    if format == PhotoFormat::Jpeg && scaled_decode_pays(bytes) {
        match render_jpeg(bytes, orientation, limits) {
            Ok(r) => return Ok(r),
            Err(e) => {
                tracing::debug!(error = %e, "the scaling decoder cannot read a JPEG; decoding it whole");
            }
        }
    }
    render_whole(bytes, format, orientation, limits)
}

/// Whether decoding at reduced scale is cheaper than decoding whole, by measurement: the scaling
/// decoder's entropy decoding is about twice as slow as the whole decoder's (`zune-jpeg`, in the
/// `image` crate), so scaling pays only where it saves a lot of inverse DCT, upsampling and colour
/// conversion: a photo of at least [`SCALED_DECODE_MIN_PIXELS`] whose renditions need at most
/// half of each side (a 12 MP photo: 50 ms instead of 63; a 1.2 MP one decoded whole: 4.7 ms
/// instead of 7.9 at 1/4 scale).
fn scaled_decode_pays(bytes: &[u8]) -> bool {
    let mut d = jpeg_decoder::Decoder::new(bytes);
    if d.read_info().is_err() {
        return false;
    }
    let Some(info) = d.info() else {
        return false;
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let target = if review_is_original(PhotoFormat::Jpeg, w, h) {
        THUMB_EDGE
    } else {
        REVIEW_EDGE
    };
    u64::from(w) * u64::from(h) >= SCALED_DECODE_MIN_PIXELS && w.max(h) >= 2 * target
}

/// Below this many pixels a JPEG is decoded whole (see `scaled_decode_pays`).
pub const SCALED_DECODE_MIN_PIXELS: u64 = 4_000_000;

/// A JPEG decoded at the smallest DCT scale that covers the largest rendition made from it.
fn render_jpeg(
    bytes: &[u8],
    orientation: Orientation,
    limits: &Limits,
) -> Result<Renditions, MediaError> {
    let undecodable = |e: jpeg_decoder::Error| MediaError::Undecodable(e.to_string());
    let mut d = jpeg_decoder::Decoder::new(bytes);
    d.set_max_decoding_buffer_size(limits.max_pixels.saturating_mul(4) as usize);
    d.read_info().map_err(undecodable)?;
    let info = d
        .info()
        .ok_or_else(|| MediaError::Undecodable("no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if w == 0 || h == 0 || w > limits.max_side || h > limits.max_side {
        return Err(MediaError::DimensionsTooLarge {
            width: w,
            height: h,
        });
    }
    let own_review = review_is_original(PhotoFormat::Jpeg, w, h);
    let target = if own_review { THUMB_EDGE } else { REVIEW_EDGE };
    let longest = w.max(h);
    let (sw, sh) = if longest > target {
        let want = |side: u32| -> u16 {
            (u64::from(side) * u64::from(target)).div_ceil(u64::from(longest)) as u16
        };
        d.scale(want(w), want(h)).map_err(undecodable)?
    } else {
        (info.width, info.height)
    };
    let pixels = d.decode().map_err(undecodable)?;
    let format = d
        .info()
        .map(|i| i.pixel_format)
        .unwrap_or(jpeg_decoder::PixelFormat::RGB24);
    let img = to_rgb(pixels, format, u32::from(sw), u32::from(sh))?;
    let (thumb, review) = if own_review {
        (shrink(&img, THUMB_EDGE)?, None)
    } else {
        let review = shrink(&img, REVIEW_EDGE)?;
        // The decoded pixels are the largest buffer: gone before anything else is made.
        drop(img);
        (shrink(&review, THUMB_EDGE)?, Some(review))
    };
    Ok(Renditions {
        thumb: encode(thumb, orientation)?,
        review: review.map(|r| encode(r, orientation)).transpose()?,
    })
}

/// Pixels as `jpeg-decoder` gives them, as RGB.
fn to_rgb(
    pixels: Vec<u8>,
    format: jpeg_decoder::PixelFormat,
    w: u32,
    h: u32,
) -> Result<RgbImage, MediaError> {
    use jpeg_decoder::PixelFormat::*;
    let rgb = match format {
        RGB24 => pixels,
        L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        // Big-endian 16-bit grey: its high byte.
        L16 => pixels
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        // Adobe's inverted CMYK, as cameras and scanners write it.
        CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = u16::from(p[3]);
                [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k) / 255) as u8)
            })
            .collect(),
    };
    RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| MediaError::Undecodable("decoded buffer has the wrong size".into()))
}

/// Any photo decoded whole by the `image` crate (PNG, WebP, and JPEGs the scaling decoder cannot
/// read), with its limits set.
fn render_whole(
    bytes: &[u8],
    format: PhotoFormat,
    orientation: Orientation,
    limits: &Limits,
) -> Result<Renditions, MediaError> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format(format));
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // Room for the decoded pixels (up to 4 bytes each) and the decoder's own buffers.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(4) + 64 * 1024 * 1024);
    reader.limits(l);
    let decoded = reader
        .decode()
        .map_err(|e| MediaError::Undecodable(e.to_string()))?;
    let src = decoded.into_rgb8();
    let (w, h) = src.dimensions();
    if review_is_original(format, w, h) {
        return Ok(Renditions {
            thumb: encode(shrink(&src, THUMB_EDGE)?, orientation)?,
            review: None,
        });
    }
    let review = shrink(&src, REVIEW_EDGE)?;
    drop(src);
    let thumb = shrink(&review, THUMB_EDGE)?;
    Ok(Renditions {
        thumb: encode(thumb, orientation)?,
        review: Some(encode(review, orientation)?),
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

/// A rendition as JPEG, turned upright first.
fn encode(img: RgbImage, orientation: Orientation) -> Result<Vec<u8>, MediaError> {
    let img = if orientation == Orientation::NoTransforms {
        img
    } else {
        let mut d = DynamicImage::ImageRgb8(img);
        d.apply_orientation(orientation);
        d.into_rgb8()
    };
    let (w, h) = img.dimensions();
    let (w, h) = (
        u16::try_from(w).map_err(|_| MediaError::Undecodable("too wide a rendition".into()))?,
        u16::try_from(h).map_err(|_| MediaError::Undecodable("too tall a rendition".into()))?,
    );
    let mut out = Vec::with_capacity(usize::from(w) * usize::from(h) / 8);
    jpeg_encoder::Encoder::new(&mut out, QUALITY)
        .encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
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
        let src = jpeg(4000, 2000);
        let r = render(&src, PhotoFormat::Jpeg, 1, &Limits::default()).expect("render");
        assert_eq!(dims(r.review.as_deref().expect("a review")), (1600, 800));
        assert_eq!(dims(&r.thumb), (320, 160));
        // Orientation 6: the camera was held upright; the rendition is portrait.
        let r = render(&src, PhotoFormat::Jpeg, 6, &Limits::default()).expect("render");
        assert_eq!(dims(r.review.as_deref().expect("a review")), (800, 1600));
        assert_eq!(dims(&r.thumb), (160, 320));
    }

    #[test]
    fn a_jpeg_no_larger_than_the_review_size_is_its_own_review() {
        let src = jpeg(1280, 960);
        let r = render(&src, PhotoFormat::Jpeg, 1, &Limits::default()).expect("render");
        assert!(r.review.is_none());
        assert_eq!(dims(&r.thumb), (320, 240));
        assert!(review_is_original(PhotoFormat::Jpeg, 1600, 1200));
        assert!(!review_is_original(PhotoFormat::Jpeg, 1601, 1200));
        // A PNG of that size still gets a JPEG review rendition.
        assert!(!review_is_original(PhotoFormat::Png, 1280, 960));
    }

    #[test]
    fn the_scaled_decode_looks_like_the_whole_one() {
        // The review rendition from a DCT-scaled decode and the one from a whole decode differ
        // little; a 1.2 MP photo is not worth scaling.
        let src = crate::synth::scene(4000, 3000, 3, None);
        assert!(scaled_decode_pays(&src));
        let fast =
            render_jpeg(&src, Orientation::NoTransforms, &Limits::default()).expect("scaled");
        let whole = render_whole(
            &src,
            PhotoFormat::Jpeg,
            Orientation::NoTransforms,
            &Limits::default(),
        )
        .expect("whole");
        let a = image::load_from_memory(&fast.thumb).expect("a").into_rgb8();
        let b = image::load_from_memory(&whole.thumb)
            .expect("b")
            .into_rgb8();
        assert_eq!(a.dimensions(), b.dimensions());
        let mse: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>()
            / a.as_raw().len() as f64;
        let psnr = 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB");
        assert!(!scaled_decode_pays(&crate::synth::scene(
            1280, 960, 3, None
        )));
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let r = render(jpeg(200, 100), PhotoFormat::Jpeg, 1, &Limits::default()).expect("render");
        assert!(r.review.is_none(), "its own review");
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
            Ok(r) => assert_eq!(dims(&r.thumb), (300, 300)),
            Err(e) => assert!(matches!(e, MediaError::Undecodable(_)), "{e:?}"),
        }
    }
}

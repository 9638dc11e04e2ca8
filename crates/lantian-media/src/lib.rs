//! lantian-media: photo evidence, from bytes on disk to a verified photo and its renditions.
//!
//! # Layout
//! - [`probe`] — validation before any decode: size, format sniffed from the bytes, dimensions and
//!   pixel area from the header, the container structure walked to its end (truncation), EXIF.
//! - [`exif`] — the EXIF fields lantian keeps (GPS and its datum, time taken, camera, orientation).
//! - [`render`] — thumbnail and review renditions with the orientation applied, decode limits set.
//! - [`pool`] — the bounded pool of threads that decodes, off the async threads.
//! - [`blob`] — content-addressed storage (SHA-256) behind `object_store`, fsynced on the local disk.
//! - [`synth`] — synthetic JPEGs with chosen (or malformed) EXIF: test fixtures, benchmarks, and
//!   the demo's history (`testing` is its old name, behind the feature of that name).
//! - [`tus`] — parsing of tus 1.0 headers (`Upload-Metadata`, `Upload-Checksum`).
//!
//! No SQL and no HTTP: the store records what this crate finds, the HTTP crate speaks tus.

pub mod blob;
mod error;
pub mod exif;
pub mod pool;
pub mod probe;
pub mod render;
pub mod synth;
/// The fixtures' old name, for tests and benchmarks.
#[cfg(any(test, feature = "testing"))]
pub use synth as testing;
pub mod tus;

pub use error::MediaError;

/// Limits checked before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, bytes.
    pub max_bytes: u64,
    /// Largest width or height, pixels.
    pub max_side: u32,
    /// Largest width x height.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_side: 12_000,
            max_pixels: 50_000_000,
        }
    }
}

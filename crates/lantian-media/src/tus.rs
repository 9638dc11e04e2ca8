//! tus 1.0 header values: `Upload-Metadata` and `Upload-Checksum`.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::Digest;

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent). Keys are
/// unique, non-empty, without spaces or commas.
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if key.is_empty() || parts.next().is_some() {
            return Err(format!("malformed pair {pair:?}"));
        }
        let bytes = match value {
            Some(v) => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| format!("the value of {key} is not base64"))?,
            None => Vec::new(),
        };
        if out.insert(key.to_owned(), bytes).is_some() {
            return Err(format!("{key} appears twice"));
        }
    }
    Ok(out)
}

/// A checksum algorithm the server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

/// The algorithms, as `Tus-Checksum-Algorithm` lists them.
pub const ALGORITHMS: &str = "sha1,sha256";

/// A declared chunk checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub digest: Vec<u8>,
}

/// Why an `Upload-Checksum` header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumError {
    /// The algorithm is not one of [`ALGORITHMS`] (tus: 400).
    Unsupported,
    Malformed,
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
pub fn parse_checksum(header: &str) -> Result<Checksum, ChecksumError> {
    let (name, value) = header
        .trim()
        .split_once(' ')
        .ok_or(ChecksumError::Malformed)?;
    let algorithm = match name {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        _ => return Err(ChecksumError::Unsupported),
    };
    let digest = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| ChecksumError::Malformed)?;
    let expected = match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
    };
    if digest.len() != expected {
        return Err(ChecksumError::Malformed);
    }
    Ok(Checksum { algorithm, digest })
}

/// A running digest of a chunk in one of the supported algorithms.
pub enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(a: Algorithm) -> Hasher {
        match a {
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_parse_and_malformed_ones_are_refused() {
        let m = parse_metadata("photo_id MTIz,empty,filetype aW1hZ2UvanBlZw==").expect("parse");
        assert_eq!(m["photo_id"], b"123");
        assert_eq!(m["empty"], b"");
        assert_eq!(m["filetype"], b"image/jpeg");
        assert!(parse_metadata("a b c").is_err());
        assert!(parse_metadata("a !!!").is_err());
        assert!(parse_metadata("a MQ==,a Mg==").is_err());
    }

    #[test]
    fn checksums_parse_by_algorithm() {
        let c = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").expect("sha1");
        assert_eq!(c.algorithm, Algorithm::Sha1);
        assert_eq!(parse_checksum("md5 AAAA"), Err(ChecksumError::Unsupported));
        assert_eq!(parse_checksum("sha256 AAAA"), Err(ChecksumError::Malformed));
        let mut h = Hasher::new(Algorithm::Sha1);
        h.update(b"hello world");
        assert_eq!(h.finish(), c.digest);
    }
}

//! Why a photo was refused. Each variant maps to one stable API code.

/// A photo that cannot be accepted as evidence, or a storage failure.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is {actual} bytes, more than the limit of {limit}")]
    TooLarge { actual: u64, limit: u64 },
    #[error("the file is {actual} bytes but {declared} were declared")]
    SizeMismatch { actual: u64, declared: u64 },
    #[error("not a JPEG, PNG or WebP image")]
    FormatUnsupported,
    #[error("{width} x {height} pixels is beyond the limits")]
    DimensionsTooLarge { width: u32, height: u32 },
    #[error("the file ends before the image does")]
    Truncated,
    #[error("the image header cannot be read: {0}")]
    Corrupt(String),
    #[error("the EXIF block is malformed: {0}")]
    ExifMalformed(String),
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
    #[error("storage: {0}")]
    Storage(String),
    /// The object is not in storage (a recorded original that is gone: `lantian audit photos`).
    #[error("not in storage: {0}")]
    Missing(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// The API error code of a refusal (`None` for failures of the server itself).
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            MediaError::TooLarge { .. } => "photo_too_large",
            MediaError::SizeMismatch { .. } => "photo_size_mismatch",
            MediaError::FormatUnsupported => "photo_format_unsupported",
            MediaError::DimensionsTooLarge { .. } => "photo_dimensions_too_large",
            MediaError::Truncated => "photo_truncated",
            MediaError::Corrupt(_) | MediaError::Undecodable(_) => "photo_corrupt",
            MediaError::ExifMalformed(_) => "photo_exif_malformed",
            MediaError::Storage(_) | MediaError::Missing(_) | MediaError::Io(_) => return None,
        })
    }
}

impl From<object_store::Error> for MediaError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => MediaError::Missing(path),
            e => MediaError::Storage(e.to_string()),
        }
    }
}

//! Content-addressed storage of originals and renditions behind `object_store`. On the local disk
//! (the embedded default) every write goes to a temporary name, is fsynced, and renamed into place,
//! with the directory fsynced too: `object_store`'s `with_fsync`.

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::MediaError;

/// Which rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Thumb,
    Review,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Thumb => "thumb",
            Kind::Review => "review",
        }
    }
}

/// Where photos are kept. Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The root on the local disk, when the store is `LocalFileSystem`: an original already on the
    /// same disk is linked into place instead of copied.
    local_root: Option<std::path::PathBuf>,
}

/// Bytes per part when streaming an original into the store; at most two parts are in memory.
const PART: usize = 512 * 1024;

impl Blobs {
    /// A store on the local disk under `root` (created if missing), fsyncing every write.
    pub fn local(root: &std::path::Path) -> Result<Blobs, MediaError> {
        std::fs::create_dir_all(root)?;
        let fs = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        Ok(Blobs {
            store: Arc::new(fs),
            local_root: Some(std::fs::canonicalize(root)?),
        })
    }

    pub fn new(store: Arc<dyn ObjectStore>) -> Blobs {
        Blobs {
            store,
            local_root: None,
        }
    }

    /// Where the original with this SHA-256 (lowercase hex) lives.
    pub fn original(sha256: &str) -> Path {
        Path::from(format!(
            "originals/{}/{sha256}",
            &sha256[..2.min(sha256.len())]
        ))
    }

    /// Where a rendition of the original with this SHA-256 lives.
    pub fn rendition(kind: Kind, sha256: &str) -> Path {
        Path::from(format!(
            "renditions/{}/{}/{sha256}.jpg",
            kind.dir(),
            &sha256[..2.min(sha256.len())]
        ))
    }

    /// Whether an object exists.
    pub async fn exists(&self, path: &Path) -> Result<bool, MediaError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the file at `local` as the original with hash `sha256`. On the local disk it is
    /// fsynced and hard-linked into place (no copy; `local` stays until the caller removes it);
    /// elsewhere it streams in 512 KiB parts. Identical bytes are stored once: returns `false` if
    /// they were already there.
    pub async fn put_original(
        &self,
        sha256: &str,
        local: &std::path::Path,
    ) -> Result<bool, MediaError> {
        let path = Blobs::original(sha256);
        if self.exists(&path).await? {
            return Ok(false);
        }
        if let Some(root) = &self.local_root {
            let target = root.join(path.as_ref());
            let source = local.to_path_buf();
            let linked = tokio::task::spawn_blocking(move || link_durably(&source, &target))
                .await
                .map_err(|e| MediaError::Storage(e.to_string()))?;
            match linked {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                // Another file system (EXDEV), or links unsupported: copy instead.
                Err(e) => tracing::debug!(error = %e, "cannot link an original; copying"),
            }
        }
        let upload = self.store.put_multipart(&path).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut file = std::fs::File::open(local)?;
        let mut buf = vec![0u8; PART];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(1).await?;
            w.write(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        w.finish().await?;
        Ok(true)
    }

    /// Stores a rendition.
    pub async fn put_rendition(
        &self,
        kind: Kind,
        sha256: &str,
        bytes: Vec<u8>,
    ) -> Result<(), MediaError> {
        self.store
            .put(&Blobs::rendition(kind, sha256), Bytes::from(bytes).into())
            .await?;
        Ok(())
    }

    /// Reads an object, or a byte range of it. `None` if it does not exist.
    pub async fn get(
        &self,
        path: &Path,
        range: Option<Range<u64>>,
    ) -> Result<Option<GetResult>, MediaError> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(path, opts).await {
            Ok(r) => Ok(Some(r)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The size of an object, or `None` if it does not exist.
    pub async fn size(&self, path: &Path) -> Result<Option<u64>, MediaError> {
        match self.store.head(path).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A whole object in memory (the decoder needs it whole anyway).
    pub async fn read_all(&self, path: &Path) -> Result<Bytes, MediaError> {
        Ok(self.store.get(path).await?.bytes().await?)
    }
}

/// fsync `source`, hard-link it as `target` (creating its folder), fsync the folder.
fn link_durably(source: &std::path::Path, target: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(source)?.sync_all()?;
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("an object path has a folder"))?;
    std::fs::create_dir_all(dir)?;
    std::fs::hard_link(source, target)?;
    std::fs::File::open(dir)?.sync_all()
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn originals_are_content_addressed_and_ranges_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::local(&dir.path().join("blobs")).expect("blobs");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let src = dir.path().join("src");
        std::fs::write(&src, &data).expect("write");
        let sha = crate::probe::sha256_file(&src).expect("hash");
        assert!(blobs.put_original(&sha, &src).await.expect("put"));
        assert!(!blobs.put_original(&sha, &src).await.expect("again"));
        let path = Blobs::original(&sha);
        assert_eq!(blobs.size(&path).await.expect("size"), Some(3_000_000));
        let all = blobs.read_all(&path).await.expect("read");
        assert_eq!(all.as_ref(), &data[..]);
        let part = blobs
            .get(&path, Some(1_000_000..1_000_010))
            .await
            .expect("get")
            .expect("exists")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(part.as_ref(), &data[1_000_000..1_000_010]);
        assert!(
            blobs
                .get(&Blobs::original("00ff"), None)
                .await
                .expect("get")
                .is_none()
        );
    }
}

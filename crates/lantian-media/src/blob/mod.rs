//! Content-addressed storage of originals and renditions behind `object_store`. On the local disk
//! (the embedded default) every write goes to a temporary name, is fsynced, and renamed into place,
//! with the directory fsynced too: `object_store`'s `with_fsync`. Or in S3-compatible object
//! storage (`media_url = "s3://bucket/prefix"`: MinIO, Ceph, a cloud's), which several nodes share;
//! an object there is whole once its PUT (or its multipart upload's completion) is answered.

#[cfg(feature = "s3")]
mod transport;

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
/// S3 refuses parts below 5 MiB (but the last): 8 MiB, and an original up to one part is sent in
/// one PUT.
const PART: usize = 8 * 1024 * 1024;

/// Where an S3-compatible photo store is, and how to sign in to it. Unset fields come from the
/// usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT`, ...).
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    /// `https://s3.example.com` or `http://127.0.0.1:9000` (MinIO, Ceph, moto); unset: AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Plain HTTP to the endpoint (a store on the same private network).
    pub allow_http: bool,
    /// `bucket.endpoint/key` addressing instead of `endpoint/bucket/key` (path style, which MinIO
    /// and Ceph take by default).
    pub virtual_hosted_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}

/// `s3://bucket/prefix` as (bucket, prefix); `None` if it is not such a URL.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl Blobs {
    /// The photo store at `url` (`s3://bucket/prefix`).
    pub fn s3(url: &str, s: &S3Settings) -> Result<Blobs, MediaError> {
        Ok(Blobs::new(s3_store(url, s)?))
    }

    /// The store itself, for tools that copy into it (`lantian copy`) and tests that reach it
    /// behind the server's back.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }
}

/// The S3-compatible bucket at `url` (`s3://bucket/prefix`), its keys under the prefix.
#[cfg(not(feature = "s3"))]
pub fn s3_store(url: &str, _: &S3Settings) -> Result<Arc<dyn ObjectStore>, MediaError> {
    Err(MediaError::Storage(format!(
        "media_url {url}: this build has no S3 support (lantian-media's `s3` feature)"
    )))
}

/// The S3-compatible bucket at `url` (`s3://bucket/prefix`), its keys under the prefix.
#[cfg(feature = "s3")]
pub fn s3_store(url: &str, s: &S3Settings) -> Result<Arc<dyn ObjectStore>, MediaError> {
    {
        let (bucket, prefix) = parse_s3_url(url).ok_or_else(|| {
            MediaError::Storage(format!("media_url {url:?} is not s3://bucket/prefix"))
        })?;
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_http_connector(transport::RingHttp)
            .with_bucket_name(&bucket)
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(s.virtual_hosted_style);
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e);
        }
        b = b.with_region(s.region.clone().unwrap_or_else(|| {
            std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "us-east-1".to_owned())
        }));
        if let Some(k) = &s.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let s3: Arc<dyn ObjectStore> = Arc::new(b.build()?);
        Ok(if prefix.is_empty() {
            s3
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
        })
    }
}

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
        let mut file = std::fs::File::open(local)?;
        if file.metadata()?.len() <= PART as u64 {
            // One request: most photos are a few megabytes.
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            self.store.put(&path, Bytes::from(bytes).into()).await?;
            return Ok(true);
        }
        let upload = self.store.put_multipart(&path).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
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

    /// The originals stored, by SHA-256, with their sizes: one listing (pages of a thousand on
    /// S3), not a request per photo.
    pub async fn original_sizes(
        &self,
    ) -> Result<std::collections::HashMap<String, u64>, MediaError> {
        use futures_util::TryStreamExt;
        let prefix = Path::from("originals");
        let mut out = std::collections::HashMap::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.try_next().await? {
            if let Some(name) = meta.location.filename() {
                out.insert(name.to_owned(), meta.size);
            }
        }
        Ok(out)
    }

    /// The SHA-256 (lowercase hex) of an object, streamed; `None` if it does not exist.
    pub async fn sha256(&self, path: &Path) -> Result<Option<String>, MediaError> {
        use futures_util::TryStreamExt;
        use sha2::Digest;
        let Some(got) = self.get(path, None).await? else {
            return Ok(None);
        };
        let mut h = sha2::Sha256::new();
        let mut stream = got.into_stream();
        while let Some(bytes) = stream.try_next().await? {
            h.update(&bytes);
        }
        Ok(Some(hex::encode(h.finalize())))
    }

    /// Copies every object (originals and renditions) that `target` does not hold at the same
    /// size into it, keys unchanged (content-addressed: the same bytes have the same key there);
    /// a copy stopped half-way is taken up where it stopped. Returns (objects, bytes) copied.
    pub async fn copy_to(
        &self,
        target: &Blobs,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(u64, u64), MediaError> {
        use futures_util::TryStreamExt;
        let there: std::collections::HashMap<Path, u64> = target
            .store
            .list(None)
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await?;
        let (mut objects, mut bytes) = (0u64, 0u64);
        let mut listing = self.store.list(None);
        while let Some(meta) = listing.try_next().await? {
            if there.get(&meta.location) == Some(&meta.size) {
                continue;
            }
            let data = self.store.get(&meta.location).await?.bytes().await?;
            if data.len() <= PART {
                target.store.put(&meta.location, data.into()).await?;
            } else {
                let upload = target.store.put_multipart(&meta.location).await?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
                for part in data.chunks(PART) {
                    w.wait_for_capacity(1).await?;
                    w.write(part);
                }
                w.finish().await?;
            }
            objects += 1;
            bytes += meta.size;
            progress(objects, bytes);
        }
        Ok((objects, bytes))
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

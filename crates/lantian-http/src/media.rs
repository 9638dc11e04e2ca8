//! The photo service the upload and photo handlers share: where partial uploads live, the blob
//! store, the decode pool, the per-upload locks, and the two background jobs (renditions, expiry).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lantian_domain::media::{EvidenceThresholds, RenditionState};
use lantian_media::blob::{Blobs, Kind};
use lantian_media::pool::Pool;
use lantian_media::{Limits, MediaError, render};
use lantian_store::{Store, media};
use sha2::Digest;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

/// Settings of photo evidence.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Partial uploads (`<id>.part`).
    pub upload_dir: PathBuf,
    /// The local object store root (originals and renditions).
    pub blob_dir: PathBuf,
    pub limits: Limits,
    /// An open upload not written to for this long expires.
    pub upload_ttl: Duration,
    /// A PATCH that receives no bytes for this long is ended and its lock released.
    pub idle_timeout: Duration,
    /// Images decoded at once.
    pub decode_threads: usize,
    pub thresholds: EvidenceThresholds,
}

impl MediaConfig {
    /// Defaults, with everything under `dir`.
    pub fn in_dir(dir: &Path) -> MediaConfig {
        MediaConfig {
            upload_dir: dir.join("uploads"),
            blob_dir: dir.join("blobs"),
            limits: Limits::default(),
            upload_ttl: Duration::from_secs(24 * 3600),
            idle_timeout: Duration::from_secs(30),
            decode_threads: 2,
            thresholds: EvidenceThresholds::default(),
        }
    }
}

pub(crate) struct Media {
    pub(crate) config: MediaConfig,
    pub(crate) blobs: Blobs,
    pool: Pool,
    locks: Arc<Mutex<HashSet<String>>>,
    /// Per upload in progress: the SHA-256 of its first `offset` bytes, carried from chunk to chunk
    /// so completion need not read the file again. Lost on restart; then the file is hashed.
    running: Mutex<HashMap<String, (u64, sha2::Sha256)>>,
    /// Completions (hash, probe, store, record) at once: bounds their memory whatever the number
    /// of uploads finishing together.
    completions: Semaphore,
    /// Chunk bodies read at once. A body not being read stays in the kernel's socket buffers (and
    /// hyper reads ahead only for bodies being read), so the server's memory for uploads is bounded
    /// by this, not by the number of phones uploading.
    streams: Semaphore,
    wake: Notify,
}

/// Holds an upload's lock; dropping it (the handler ended, however: done, failed, or the
/// connection died and the future was dropped) releases it.
pub(crate) struct UploadLock {
    id: String,
    locks: Arc<Mutex<HashSet<String>>>,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        if let Ok(mut l) = self.locks.lock() {
            l.remove(&self.id);
        }
    }
}

impl Media {
    pub(crate) fn start(config: MediaConfig) -> Result<Media, MediaError> {
        std::fs::create_dir_all(&config.upload_dir)?;
        let blobs = Blobs::local(&config.blob_dir)?;
        let pool = Pool::start(config.decode_threads)?;
        Ok(Media {
            config,
            blobs,
            pool,
            locks: Arc::default(),
            running: Mutex::default(),
            completions: Semaphore::new(2),
            streams: Semaphore::new(16),
            wake: Notify::new(),
        })
    }

    /// The partial file of upload `id` (an id the server made: 32 hex digits).
    pub(crate) fn part_path(&self, id: &str) -> PathBuf {
        self.config.upload_dir.join(format!("{id}.part"))
    }

    /// Takes the lock of upload `id`, or `None` if a request holds it.
    pub(crate) fn try_lock(&self, id: &str) -> Option<UploadLock> {
        let mut l = self.locks.lock().ok()?;
        l.insert(id.to_owned()).then(|| UploadLock {
            id: id.to_owned(),
            locks: Arc::clone(&self.locks),
        })
    }

    /// The running SHA-256 of upload `id` if it covers exactly its first `offset` bytes (taken out:
    /// the request that holds the upload's lock owns it until [`Media::keep_hash`]).
    pub(crate) fn take_hash(&self, id: &str, offset: u64) -> Option<sha2::Sha256> {
        let mut m = self.running.lock().ok()?;
        match m.remove(id) {
            Some((o, h)) if o == offset => Some(h),
            _ if offset == 0 => Some(sha2::Sha256::new()),
            _ => None,
        }
    }

    /// Keeps the running SHA-256 of upload `id`'s first `offset` bytes.
    pub(crate) fn keep_hash(&self, id: &str, offset: u64, h: sha2::Sha256) {
        if let Ok(mut m) = self.running.lock() {
            m.insert(id.to_owned(), (offset, h));
        }
    }

    pub(crate) fn forget_hash(&self, id: &str) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(id);
        }
    }

    /// Waits for a slot to read a chunk body.
    pub(crate) async fn stream_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.streams.acquire().await.ok()
    }

    /// Waits for a completion slot.
    pub(crate) async fn completion_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.completions.acquire().await.ok()
    }

    /// Tells the rendition job there is work.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Makes the renditions of photos waiting for them, `decode_threads` at a time, until the
    /// process ends. Survives restarts: the queue is the `photos.renditions` column.
    pub(crate) async fn rendition_job(self: Arc<Self>, store: Store) {
        let batch = self.config.decode_threads.max(1) * 2;
        loop {
            let pending = match store
                .read(move |c| media::pending_renditions(c, batch))
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list pending renditions");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if pending.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(60), self.wake.notified()).await;
                continue;
            }
            let mut set = tokio::task::JoinSet::new();
            let mut stalled = false;
            for p in pending {
                if set.len() >= self.config.decode_threads.max(1)
                    && let Some(r) = set.join_next().await
                {
                    stalled |= !matches!(r, Ok(true));
                }
                let me = Arc::clone(&self);
                let store = store.clone();
                set.spawn(async move { me.make_renditions(&store, p).await });
            }
            while let Some(r) = set.join_next().await {
                stalled |= !matches!(r, Ok(true));
            }
            if stalled {
                // Storage trouble: try again later rather than spin.
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }

    /// `false` when the attempt should be retried later (storage failure).
    async fn make_renditions(&self, store: &Store, p: media::PendingRendition) -> bool {
        let bytes = match self.blobs.read_all(&Blobs::original(&p.sha256)).await {
            Ok(b) => b,
            // Gone for good (removed behind the server's back): retrying cannot help. The photo
            // is marked failed and the nightly photo check names it.
            Err(MediaError::Missing(path)) => {
                tracing::error!(photo = %p.id, %path, "a recorded original is missing; no renditions");
                let id = p.id;
                return store
                    .write(move |c| media::set_renditions(c, id, RenditionState::Failed))
                    .await
                    .is_ok();
            }
            Err(e) => {
                tracing::error!(photo = %p.id, error = %e, "cannot read an original");
                return false;
            }
        };
        let limits = self.config.limits;
        let (format, orientation) = (p.format, p.orientation);
        let made = self
            .pool
            .run(move || render::render(&bytes, format, orientation, &limits))
            .await;
        let state = match made {
            Some(Ok(r)) => {
                for (kind, data) in [(Kind::Thumb, r.thumb), (Kind::Review, r.review)] {
                    if let Err(e) = self.blobs.put_rendition(kind, &p.sha256, data).await {
                        tracing::error!(photo = %p.id, error = %e, "cannot store a rendition");
                        return false;
                    }
                }
                RenditionState::Ready
            }
            Some(Err(e)) => {
                tracing::warn!(photo = %p.id, error = %e, "no renditions for a photo");
                RenditionState::Failed
            }
            None => {
                tracing::error!(photo = %p.id, "the decoder panicked");
                RenditionState::Failed
            }
        };
        let id = p.id;
        match store
            .write(move |c| media::set_renditions(c, id, state))
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(photo = %p.id, error = %e, "cannot record renditions");
                false
            }
        }
    }

    /// Deletes expired open uploads and their partial files, and partial files no upload owns
    /// (left by a crash between the two), every `every`.
    pub(crate) async fn expiry_job(self: Arc<Self>, store: Store, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep(&store).await {
                tracing::warn!(error = %e, "upload expiry sweep failed");
            }
        }
    }

    /// One expiry pass; returns how many uploads expired.
    pub(crate) async fn sweep(&self, store: &Store) -> Result<usize, lantian_store::StoreError> {
        let now = chrono::Utc::now();
        let expired = store
            .write(move |c| {
                let ids = media::take_expired(c, now)?;
                lantian_store::assessment::job_ran(
                    c,
                    "uploads.expiry",
                    &lantian_store::now_text(),
                    &format!("{} expired", ids.len()),
                )?;
                Ok(ids)
            })
            .await?;
        for id in &expired {
            self.forget_hash(id);
            remove_quietly(&self.part_path(id));
        }
        // List the files before reading the live ids: an upload's row is committed before its
        // file is created, so a file seen here whose id is not live has no owner.
        let files: Vec<(String, PathBuf)> = std::fs::read_dir(&self.config.upload_dir)
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_suffix(".part")
                            .map(|id| (id.to_owned(), e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let live: HashSet<String> = store
            .read(media::open_upload_ids)
            .await?
            .into_iter()
            .collect();
        for (id, path) in files {
            if !live.contains(&id)
                && let Some(_held) = self.try_lock(&id)
            {
                remove_quietly(&path);
            }
        }
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "expired uploads removed");
        }
        Ok(expired.len())
    }
}

pub(crate) fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a partial upload");
    }
}

//! Photo evidence as a service: where partial uploads live, the blob store, the decode pool, the
//! per-upload locks and running hashes, upload creation and completion (hash, probe, store,
//! record), and the work of the two photo jobs (renditions, expiry), which the binary starts.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use lantian_domain::media::{EvidenceThresholds, RenditionState};
use lantian_media::blob::{Blobs, Kind};
use lantian_media::pool::{Lost, Pool};
use lantian_media::{Limits, MediaError, probe, render};
use lantian_store::media::{CreateError, NewUpload, UploadRow, Verified};
use lantian_store::{Store, media};

use crate::{Actor, App, AppError};
use sha2::Digest;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

/// Settings of photo evidence.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Partial uploads (`<id>.part`).
    pub upload_dir: PathBuf,
    /// The local object store root (originals and renditions), unless `media_url` is set.
    pub blob_dir: PathBuf,
    /// S3-compatible object storage instead of `blob_dir` (`s3://bucket/prefix`).
    pub media_url: Option<String>,
    pub s3: lantian_media::blob::S3Settings,
    pub limits: Limits,
    /// An open upload not written to for this long expires.
    pub upload_ttl: Duration,
    /// A PATCH that receives no bytes for this long is ended and its lock released.
    pub idle_timeout: Duration,
    /// Images decoded at once.
    pub decode_threads: usize,
    pub thresholds: EvidenceThresholds,
    /// Partial uploads live in the database, not in `upload_dir` (several nodes share one
    /// database, and a phone's PATCHes may reach any of them); `upload_dir` then holds only the
    /// chunk being received and the file being completed.
    pub shared_uploads: bool,
}

impl MediaConfig {
    /// Defaults, with everything under `dir`.
    pub fn in_dir(dir: &Path) -> MediaConfig {
        MediaConfig {
            upload_dir: dir.join("uploads"),
            blob_dir: dir.join("blobs"),
            media_url: None,
            s3: Default::default(),
            limits: Limits::default(),
            upload_ttl: Duration::from_secs(24 * 3600),
            idle_timeout: Duration::from_secs(30),
            decode_threads: 2,
            thresholds: EvidenceThresholds::default(),
            shared_uploads: false,
        }
    }
}

impl MediaConfig {
    /// The photo store these settings name: S3-compatible storage at `media_url`, or the local
    /// folder.
    pub fn blobs(&self) -> Result<Blobs, MediaError> {
        match &self.media_url {
            Some(url) => Blobs::s3(url, &self.s3),
            None => Blobs::local(&self.blob_dir),
        }
    }
}

/// How long a request waits for another request of the same upload to let go of it.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct Media {
    pub config: MediaConfig,
    pub blobs: Blobs,
    pool: Pool,
    locks: Locks,
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

/// The uploads a request of this process is writing, each with its holder's signals.
type Locks = Arc<Mutex<HashMap<String, Arc<Held>>>>;

/// One held upload lock: a request that wants the upload asks the holder to let go (`release`);
/// the holder's end wakes those waiting (`released`).
#[derive(Default)]
struct Held {
    release: Notify,
    released: Notify,
}

/// Holds an upload's lock; dropping it (the handler ended, however: done, failed, or the
/// connection died and the future was dropped) releases it.
pub struct UploadLock {
    id: String,
    locks: Locks,
    held: Arc<Held>,
}

impl UploadLock {
    /// Resolves when a newer request for the same upload asks this one to let go: a phone sends
    /// one chunk at a time, so a second request means the first one's connection is dead to it
    /// (cut, or half-open until the idle timeout), as tusd treats it.
    pub async fn release_requested(&self) {
        self.held.release.notified().await;
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        if let Ok(mut l) = self.locks.lock() {
            l.remove(&self.id);
        }
        self.held.released.notify_waiters();
    }
}

impl Media {
    pub fn start(config: MediaConfig) -> Result<Media, MediaError> {
        std::fs::create_dir_all(&config.upload_dir)?;
        let blobs = config.blobs()?;
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
    pub fn part_path(&self, id: &str) -> PathBuf {
        self.config.upload_dir.join(format!("{id}.part"))
    }

    /// A file of its own for a chunk being received, when partial uploads live in the database.
    pub fn chunk_path(&self, id: &str) -> PathBuf {
        self.config
            .upload_dir
            .join(format!("{id}.{}.chunk", uuid::Uuid::new_v4().simple()))
    }

    /// Takes the lock of upload `id`, or `None` if a request holds it.
    pub fn try_lock(&self, id: &str) -> Option<UploadLock> {
        let mut l = self.locks.lock().ok()?;
        if l.contains_key(id) {
            return None;
        }
        let held = Arc::new(Held::default());
        l.insert(id.to_owned(), Arc::clone(&held));
        Some(UploadLock {
            id: id.to_owned(),
            locks: Arc::clone(&self.locks),
            held,
        })
    }

    /// Takes the lock of upload `id` for a client's request: a request holding it is asked to let
    /// go (it keeps what it verifiably received) and this one waits up to `wait` for it; `None`
    /// when it did not let go in time (it is completing the upload, or stuck on the disk).
    pub async fn lock(&self, id: &str, wait: Duration) -> Option<UploadLock> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(lock) = self.try_lock(id) {
                return Some(lock);
            }
            let Some(held) = self.locks.lock().ok()?.get(id).map(Arc::clone) else {
                continue;
            };
            // Registered before looking again, so the holder's end cannot slip between the look
            // and the wait.
            let mut released = std::pin::pin!(held.released.notified());
            released.as_mut().enable();
            held.release.notify_one();
            let still_held = self
                .locks
                .lock()
                .ok()?
                .get(id)
                .is_some_and(|h| Arc::ptr_eq(h, &held));
            if still_held && tokio::time::timeout_at(deadline, released).await.is_err() {
                return None;
            }
        }
    }

    /// The running SHA-256 of upload `id` if it covers exactly its first `offset` bytes (taken out:
    /// the request that holds the upload's lock owns it until [`Media::keep_hash`]).
    pub fn take_hash(&self, id: &str, offset: u64) -> Option<sha2::Sha256> {
        let mut m = self.running.lock().ok()?;
        match m.remove(id) {
            Some((o, h)) if o == offset => Some(h),
            _ if offset == 0 => Some(sha2::Sha256::new()),
            _ => None,
        }
    }

    /// Keeps the running SHA-256 of upload `id`'s first `offset` bytes.
    pub fn keep_hash(&self, id: &str, offset: u64, h: sha2::Sha256) {
        if let Ok(mut m) = self.running.lock() {
            m.insert(id.to_owned(), (offset, h));
        }
    }

    pub fn forget_hash(&self, id: &str) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(id);
        }
    }

    /// Waits for a slot to read a chunk body.
    pub async fn stream_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.streams.acquire().await.ok()
    }

    /// Waits for a completion slot.
    pub async fn completion_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.completions.acquire().await.ok()
    }

    /// Tells the rendition job there is work.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Makes the renditions of photos waiting for them, `decode_threads` at a time, until the
    /// process ends. Survives restarts: the queue is the `photos.renditions` column. Each batch is
    /// claimed first, so that several nodes share the queue without making one photo twice.
    pub async fn rendition_job(self: Arc<Self>, store: Store) {
        let batch = self.config.decode_threads.max(1) * 2;
        loop {
            let pending = match store
                .write(move |c| {
                    media::claim_renditions(c, batch, Utc::now(), chrono::Duration::minutes(10))
                })
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
            Ok(Ok(r)) => {
                // A photo that is its own review image gets a thumbnail only.
                let made = std::iter::once((Kind::Thumb, r.thumb))
                    .chain(r.review.map(|review| (Kind::Review, review)));
                for (kind, data) in made {
                    if let Err(e) = self.blobs.put_rendition(kind, &p.sha256, data).await {
                        tracing::error!(photo = %p.id, error = %e, "cannot store a rendition");
                        return false;
                    }
                }
                RenditionState::Ready
            }
            Ok(Err(e)) => {
                tracing::warn!(photo = %p.id, error = %e, "no renditions for a photo");
                RenditionState::Failed
            }
            Err(Lost::Panicked) => {
                tracing::error!(photo = %p.id, "the decoder panicked");
                RenditionState::Failed
            }
            Err(e @ Lost::NoThreads(_)) => {
                tracing::error!(photo = %p.id, error = %e, "renditions postponed");
                return false;
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
    pub async fn expiry_job(self: Arc<Self>, store: Store, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep(&store).await {
                tracing::warn!(error = %e, "upload expiry sweep failed");
            }
        }
    }

    /// One expiry pass; returns how many uploads expired. The records expire on one node at a
    /// time (the others skip this pass); every node clears its own folder of files no upload owns.
    pub async fn sweep(&self, store: &Store) -> Result<usize, lantian_store::StoreError> {
        let now = chrono::Utc::now();
        let expired = match store.try_job_lock("sweep.uploads").await? {
            Some(_one_node) => {
                store
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
                    .await?
            }
            None => Vec::new(),
        };
        for id in &expired {
            self.forget_hash(id);
            remove_quietly(&self.part_path(id));
        }
        // List the files before reading the live ids: an upload's row is committed before its
        // file is created, so a file seen here whose id is not live has no owner.
        // A chunk being received (`<id>.<n>.chunk`, nodes sharing a database) belongs to the
        // request that holds its upload's lock; one without is left by a crash.
        let mut chunks = Vec::new();
        let files: Vec<(String, PathBuf)> = std::fs::read_dir(&self.config.upload_dir)
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if let Some(rest) = name.strip_suffix(".chunk") {
                            let id = rest.split('.').next().unwrap_or_default().to_owned();
                            chunks.push((id, e.path()));
                            return None;
                        }
                        name.strip_suffix(".part")
                            .map(|id| (id.to_owned(), e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (id, path) in chunks {
            if let Some(_held) = self.try_lock(&id) {
                remove_quietly(&path);
            }
        }
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

pub fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a partial upload");
    }
}

fn io_error(e: &std::io::Error) -> AppError {
    tracing::error!(error = %e, "upload file failure");
    AppError::new("unavailable").retry_after(5)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| io_error(&e))
}

impl App {
    /// The photo service.
    pub fn media(&self) -> &Arc<Media> {
        &self.inner.media
    }

    /// Creates the upload of a photo the caller's inspection (or incident, or amendment) expects,
    /// or returns the one already created for that photo: creating again is idempotent. An expired
    /// upload of the photo gives way to a new one.
    pub async fn create_upload(
        &self,
        actor: &Actor,
        new: NewUpload,
    ) -> Result<UploadRow, AppError> {
        // What can be refused before the bytes are sent is refused now: the size (by the HTTP
        // layer, against Tus-Max-Size) and a declared type that is not a photo's.
        if let Some(ct) = &new.content_type
            && !lantian_media::probe::declared_type_acceptable(ct)
        {
            return Err(AppError::new("photo_format_unsupported")
                .field("Upload-Metadata.content_type")
                .note("JPEG, PNG or WebP"));
        }
        let user = actor.0.clone();
        let created = self
            .store()
            .write(move |c| {
                if let Some(old) = media::upload_by_photo(c, new.photo_id)?
                    && !old.completed
                    && old.expires_at < Utc::now()
                {
                    media::delete_upload(c, &old.id)?;
                }
                Ok(media::create_upload(c, &user, &new))
            })
            .await?;
        let row = match created {
            Ok(row) => row,
            Err(CreateError::Refused(code)) => return Err(AppError::new(code)),
            Err(CreateError::Store(e)) => return Err(e.into()),
        };
        if !row.completed {
            let path = self.media().part_path(&row.id);
            blocking(move || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map(drop)
            })
            .await?;
        }
        Ok(row)
    }

    /// The caller's upload `id`; `not_found` when unknown, another user's, or not even an id the
    /// server makes; `upload_expired` when it ran out before completing.
    pub async fn upload(&self, actor: &Actor, id: &str) -> Result<UploadRow, AppError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::not_found());
        }
        let key = id.to_owned();
        let row = self
            .store()
            .read(move |c| media::upload(c, &key))
            .await?
            .filter(|u| u.user_id == actor.id)
            .ok_or_else(AppError::not_found)?;
        if !row.completed && row.expires_at < Utc::now() {
            return Err(AppError::new("upload_expired"));
        }
        Ok(row)
    }

    /// Gives up the caller's upload in progress; a verified photo is evidence (`upload_complete`).
    pub async fn terminate_upload(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        let row = self.upload(actor, id).await?;
        if row.completed {
            return Err(AppError::new("upload_complete"));
        }
        let media = self.media();
        let _lock = media
            .lock(&row.id, LOCK_WAIT)
            .await
            .ok_or_else(|| AppError::new("upload_locked"))?;
        self.forget_upload(&row.id).await
    }

    /// Deletes upload `id`'s record, running hash and partial file (the caller holds its lock).
    pub async fn forget_upload(&self, id: &str) -> Result<(), AppError> {
        let key = id.to_owned();
        self.store()
            .write(move |c| media::delete_upload(c, &key))
            .await?;
        let media = Arc::clone(self.media());
        media.forget_hash(id);
        let path = media.part_path(id);
        blocking(move || {
            remove_quietly(&path);
            Ok(())
        })
        .await
    }

    /// Records the chunk received into `chunk` at upload `row`'s offset, and the offset after it,
    /// in the database (partial uploads shared by nodes). `None` when another node recorded a
    /// chunk at that offset first: the client is told the offset and goes on from it.
    pub async fn store_chunk(
        &self,
        row: &UploadRow,
        chunk: &std::path::Path,
    ) -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        let ttl = chrono::Duration::from_std(self.media().config.upload_ttl)
            .unwrap_or_else(|_| chrono::Duration::hours(24));
        let expires_at = Utc::now() + ttl;
        let path = chunk.to_path_buf();
        let data = blocking(move || std::fs::read(path)).await?;
        let (key, from) = (row.id.clone(), row.offset);
        let stored = self
            .store()
            .write(move |c| media::add_chunk(c, &key, from, &data, expires_at))
            .await?;
        Ok(stored.then_some(expires_at))
    }

    /// The whole file of upload `row`, when its partial upload lives in the database: its recorded
    /// chunks, then the last one (in `last`), written to the upload's file for completion.
    pub async fn assemble_upload(
        &self,
        row: &UploadRow,
        last: &std::path::Path,
    ) -> Result<(), AppError> {
        use std::io::Write;
        let path = self.media().part_path(&row.id);
        let (key, before, target) = (row.id.clone(), row.offset, path.clone());
        let written = self
            .store()
            .read(move |c| {
                let mut out = std::fs::File::create(&target)
                    .map_err(|e| lantian_store::StoreError::Io(e.to_string()))?;
                let mut at = 0u64;
                media::read_chunks(c, &key, before, |offset, data| {
                    if offset != at {
                        return Err(std::io::Error::other(format!(
                            "a chunk at {offset} where {at} was expected"
                        )));
                    }
                    out.write_all(data)?;
                    at += data.len() as u64;
                    Ok(())
                })?;
                Ok(at)
            })
            .await;
        match written {
            Ok(n) if n == row.offset => {}
            Ok(n) => {
                tracing::error!(upload = %row.id, recorded = n, offset = row.offset, "the recorded chunks do not reach the offset");
                return Err(AppError::new("unavailable").retry_after(5));
            }
            Err(e) => return Err(e.into()),
        }
        let last = last.to_path_buf();
        blocking(move || {
            let mut out = std::fs::OpenOptions::new().append(true).open(&path)?;
            std::io::copy(&mut std::fs::File::open(&last)?, &mut out)?;
            Ok(())
        })
        .await
    }

    /// Records that upload `row` holds `new_offset` durable bytes (the caller holds its lock and
    /// has synced them), and when it now expires.
    pub async fn advance_upload(
        &self,
        row: &UploadRow,
        new_offset: u64,
    ) -> Result<chrono::DateTime<Utc>, AppError> {
        let ttl = chrono::Duration::from_std(self.media().config.upload_ttl)
            .unwrap_or_else(|_| chrono::Duration::hours(24));
        let expires_at = Utc::now() + ttl;
        let (key, from) = (row.id.clone(), row.offset);
        let moved = self
            .store()
            .write(move |c| media::advance(c, &key, from, new_offset, expires_at))
            .await?;
        if !moved {
            tracing::error!(upload = %row.id, "offset moved under a held lock");
            return Err(AppError::internal());
        }
        Ok(expires_at)
    }

    /// The whole file of upload `row` is here: check its hash (`whole`, when it was carried through
    /// the chunks, else read from disk), probe it, store the original, record the photo. A refused
    /// file ends the upload (the phone creates it again).
    pub async fn complete_upload(
        &self,
        row: &UploadRow,
        whole: Option<String>,
    ) -> Result<(), AppError> {
        let media = Arc::clone(self.media());
        let _slot = media
            .completion_permit()
            .await
            .ok_or_else(AppError::internal)?;
        media.forget_hash(&row.id);
        let path = media.part_path(&row.id);
        let limits = media.config.limits;
        let (declared, length) = (row.sha256.clone(), row.length);
        let checked = {
            let path = path.clone();
            tokio::task::spawn_blocking(
                move || -> Result<Verified, (Option<&'static str>, String)> {
                    let sha = match whole {
                        Some(h) => h,
                        None => probe::sha256_file(&path).map_err(|e| (e.code(), e.to_string()))?,
                    };
                    if sha != declared {
                        return Err((
                            Some("photo_hash_mismatch"),
                            format!("the file's SHA-256 is {sha}"),
                        ));
                    }
                    let p = probe::probe(&path, length, &limits)
                        .map_err(|e| (e.code(), e.to_string()))?;
                    Ok(Verified {
                        sha256: sha,
                        size: p.size,
                        format: p.format,
                        width: p.width,
                        height: p.height,
                        exif: p.exif,
                        exif_unreadable: p.exif_unreadable,
                        renditions_ready: false,
                    })
                },
            )
            .await
            .map_err(|_| AppError::internal())?
        };
        let mut verified = match checked {
            Ok(v) => v,
            Err((Some(code), why)) => {
                self.forget_upload(&row.id).await?;
                return Err(AppError::new(code).note(why));
            }
            Err((None, why)) => {
                tracing::error!(upload = %row.id, error = %why, "cannot verify an upload");
                return Err(AppError::new("unavailable").retry_after(5));
            }
        };
        media
            .blobs
            .put_original(&verified.sha256, &path)
            .await
            .map_err(|e: MediaError| {
                tracing::error!(upload = %row.id, error = %e, "cannot store an original");
                AppError::new("unavailable").retry_after(5)
            })?;
        // A photo that is its own review image needs only a thumbnail, from a small decode: made
        // now, from the file at hand, it spares the rendition job a read of the original and the
        // record a second write. Any trouble leaves it to the job.
        if render::review_is_original(verified.format, verified.width, verified.height) {
            verified.renditions_ready = self.thumbnail_now(&path, &verified).await;
        }
        let ready = verified.renditions_ready;
        let thresholds = media.config.thresholds;
        let verdicts = self.config().verdicts;
        let up = row.clone();
        self.store()
            .write(move |c| media::record_photo(c, &up, &verified, thresholds, &verdicts))
            .await?;
        blocking(move || {
            remove_quietly(&path);
            Ok(())
        })
        .await?;
        if !ready {
            media.wake();
        }
        Ok(())
    }

    /// The thumbnail of a photo that is its own review image, made and stored now; `false` if it
    /// could not be (the rendition job makes it then).
    async fn thumbnail_now(&self, path: &std::path::Path, v: &media::Verified) -> bool {
        let media = self.media();
        let orientation = v.exif.as_ref().map_or(1, |e| e.orientation);
        let (format, limits, path) = (v.format, media.config.limits, path.to_path_buf());
        let made = media
            .pool
            .run(move || {
                let bytes = std::fs::read(&path).map_err(MediaError::from)?;
                render::render(&bytes, format, orientation, &limits)
            })
            .await;
        match made {
            Ok(Ok(r)) => match media
                .blobs
                .put_rendition(Kind::Thumb, &v.sha256, r.thumb)
                .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot store a thumbnail; the rendition job retries");
                    false
                }
            },
            _ => false,
        }
    }

    /// One expiry pass of abandoned uploads now; returns how many expired.
    pub async fn sweep_uploads(&self) -> Result<usize, lantian_store::StoreError> {
        self.media().sweep(self.store()).await
    }
}

/// Which part of a photo is read (each read of evidence is audited with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoPart {
    /// The record: hash, EXIF, flags, renditions.
    Metadata,
    /// The bytes as uploaded.
    Original,
    Thumbnail,
    /// The review-size rendition.
    Review,
}

impl PhotoPart {
    fn audit_name(self) -> &'static str {
        match self {
            PhotoPart::Metadata => "metadata",
            PhotoPart::Original => "original",
            PhotoPart::Thumbnail => "thumbnail",
            PhotoPart::Review => "review",
        }
    }
}

/// Whether `actor` may see photo `p`: access to a photo follows access to its inspection.
pub(crate) fn may_see(actor: &Actor, p: &media::PhotoRecord) -> bool {
    lantian_domain::policy::may_read_inspection(
        actor.role,
        p.author_id == actor.id,
        lantian_domain::unit::relation(&actor.unit_path, &p.unit_path),
    )
}

impl App {
    /// Photo `id` if the caller may see it (`not_found` otherwise, unknown and foreign alike), with
    /// the read of `part` audited. A rendition not made yet is `rendition_pending`, one that could
    /// not be made `rendition_failed`.
    pub async fn photo(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
        part: PhotoPart,
    ) -> Result<media::PhotoRecord, AppError> {
        let p = self
            .store()
            .read(move |c| media::photo(c, id))
            .await?
            .filter(|p| may_see(actor, p))
            .ok_or_else(AppError::not_found)?;
        if matches!(part, PhotoPart::Thumbnail | PhotoPart::Review) {
            match p.view.renditions {
                RenditionState::Pending => {
                    return Err(AppError::new("rendition_pending").retry_after(2));
                }
                RenditionState::Failed => return Err(AppError::new("rendition_failed")),
                RenditionState::Ready => {}
            }
        }
        self.audit_photo_read(actor, id, part).await?;
        Ok(p)
    }

    async fn audit_photo_read(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
        part: PhotoPart,
    ) -> Result<(), AppError> {
        let who = actor.uuid;
        let what = part.audit_name();
        Ok(self
            .store()
            .write(move |c| media::record_read(c, who, id, what))
            .await?)
    }

    /// The photos with these bytes that the caller may see (where else was this picture used?);
    /// `not_found` when there are none.
    pub async fn photos_by_hash(
        &self,
        actor: &Actor,
        sha256: &str,
    ) -> Result<Vec<lantian_domain::media::PhotoView>, AppError> {
        let sha = sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::not_found());
        }
        let photos: Vec<_> = self
            .store()
            .read(move |c| media::photos_by_hash(c, &sha))
            .await?
            .into_iter()
            .filter(|p| may_see(actor, p))
            .map(|p| p.view)
            .collect();
        if photos.is_empty() {
            return Err(AppError::not_found());
        }
        for p in &photos {
            self.audit_photo_read(actor, p.id, PhotoPart::Metadata)
                .await?;
        }
        Ok(photos)
    }
}

//! Resumable photo uploads: tus 1.0.0 with the creation, checksum, expiration and termination
//! extensions, so stock tus clients work.
//!
//! An upload is created for one expected photo of one of the caller's inspections; creating it again
//! with the same `photo_id` returns the same upload and its offset. Chunks stream to a partial file
//! (memory does not grow with the file). A chunk is durable (fsynced) before its offset is recorded;
//! a chunk with a checksum that does not match is cut off again and answered 460. The last chunk is
//! only counted once the whole file matched its declared SHA-256 and passed the probe: then the photo
//! is recorded, in the same transaction that moves the offset to the end.

use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use lantian_media::tus::{self, ChecksumError};
use lantian_store::media::{NewUpload, Owner, UploadRow};
use sha2::Digest;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppPath, Caller};

const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,checksum,expiration,termination";
const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// Every upload response says `Tus-Resumable`; every request but OPTIONS must say it too (412).
pub(crate) async fn tus_headers(req: Request, next: Next) -> Response {
    let ok = req.method() == Method::OPTIONS
        || req
            .headers()
            .get("tus-resumable")
            .is_some_and(|v| v.as_bytes() == TUS_VERSION.as_bytes());
    let mut resp = if ok {
        next.run(req).await
    } else {
        let mut r = ApiError::new("tus_version_unsupported").into_response();
        r.headers_mut()
            .insert(h("tus-version"), HeaderValue::from_static(TUS_VERSION));
        r
    };
    resp.headers_mut()
        .insert(h("tus-resumable"), HeaderValue::from_static(TUS_VERSION));
    resp
}

fn num(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

fn expires(t: DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `OPTIONS /v1/uploads`: what this server supports.
pub(crate) async fn options(State(state): State<AppState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let hs = r.headers_mut();
    hs.insert(h("tus-version"), HeaderValue::from_static(TUS_VERSION));
    hs.insert(h("tus-extension"), HeaderValue::from_static(EXTENSIONS));
    hs.insert(
        h("tus-max-size"),
        num(state.media().config.limits.max_bytes),
    );
    hs.insert(
        h("tus-checksum-algorithm"),
        HeaderValue::from_static(tus::ALGORITHMS),
    );
    r
}

fn header_u64(headers: &HeaderMap, name: &'static str) -> Result<u64, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::new("bad_request").field(name))
}

fn meta_text(m: &std::collections::BTreeMap<String, Vec<u8>>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(|v| String::from_utf8(v.clone()).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn meta_uuid(
    m: &std::collections::BTreeMap<String, Vec<u8>>,
    key: &'static str,
) -> Result<Uuid, ApiError> {
    meta_text(m, key)
        .and_then(|s| Uuid::parse_str(&s).ok())
        .ok_or_else(|| {
            ApiError::new("bad_request")
                .field(format!("Upload-Metadata.{key}"))
                .note("a UUID is required")
        })
}

/// `POST /v1/uploads`: creates the upload of one expected photo, or returns the existing one.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::new("bad_request")
            .field("Upload-Defer-Length")
            .note("the length must be known at creation"));
    }
    if headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
    {
        return Err(
            ApiError::new("bad_request").note("creation takes no body; send chunks with PATCH")
        );
    }
    let media = state.media();
    let length = header_u64(&headers, "upload-length")?;
    if length == 0 {
        return Err(ApiError::new("bad_request").field("Upload-Length"));
    }
    if length > media.config.limits.max_bytes {
        return Err(ApiError::new("photo_too_large").field("Upload-Length"));
    }
    let raw_meta = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let meta = tus::parse_metadata(&raw_meta).map_err(|e| {
        ApiError::new("bad_request")
            .field("Upload-Metadata")
            .note(e)
    })?;
    let photo_id = meta_uuid(&meta, "photo_id")?;
    // A photo is evidence of an inspection (`inspection_id`) or of an incident report
    // (`incident_id`): exactly one.
    let owner = match (
        meta.contains_key("inspection_id"),
        meta.contains_key("incident_id"),
    ) {
        (true, false) => Owner::Inspection(meta_uuid(&meta, "inspection_id")?),
        (false, true) => Owner::Incident(meta_uuid(&meta, "incident_id")?),
        _ => {
            return Err(ApiError::new("bad_request")
                .field("Upload-Metadata.inspection_id")
                .note("one of inspection_id or incident_id is required"));
        }
    };
    let sha256 = meta_text(&meta, "sha256")
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ApiError::new("bad_request")
                .field("Upload-Metadata.sha256")
                .note("the SHA-256 of the whole file, 64 hex digits, is required")
        })?;
    let content_type = meta_text(&meta, "content_type").or_else(|| meta_text(&meta, "filetype"));
    let taken_at = match meta_text(&meta, "taken_at") {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::new("bad_request")
                        .field("Upload-Metadata.taken_at")
                        .note("an RFC 3339 time")
                })?,
        ),
    };
    let ttl = chrono::Duration::from_std(media.config.upload_ttl)
        .unwrap_or_else(|_| chrono::Duration::hours(24));
    let new = NewUpload {
        id: Uuid::new_v4().simple().to_string(),
        photo_id,
        owner,
        length,
        sha256,
        content_type,
        taken_at,
        metadata: raw_meta,
        expires_at: Utc::now() + ttl,
    };
    let row = state.app().create_upload(&caller.0, new).await?;
    let mut r = StatusCode::CREATED.into_response();
    let hs = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/uploads/{}", row.id)) {
        hs.insert(header::LOCATION, v);
    }
    hs.insert(h("upload-offset"), num(row.offset));
    if !row.completed {
        hs.insert(h("upload-expires"), expires(row.expires_at));
    }
    Ok(r)
}

fn io_error(e: &std::io::Error) -> ApiError {
    tracing::error!(error = %e, "upload file failure");
    ApiError::new("unavailable").retry_after(5)
}

/// The caller's upload `id`, or 404 (unknown, foreign, or not even an id the server makes).
async fn owned_upload(state: &AppState, caller: &Caller, id: &str) -> Result<UploadRow, ApiError> {
    Ok(state.app().upload(&caller.0, id).await?)
}

/// `HEAD /v1/uploads/{id}`: the offset to resume from.
pub(crate) async fn head(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let row = owned_upload(&state, &caller, &id).await?;
    let mut r = StatusCode::OK.into_response();
    let hs = r.headers_mut();
    hs.insert(h("upload-offset"), num(row.offset));
    hs.insert(h("upload-length"), num(row.length));
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&row.metadata)
        && !row.metadata.is_empty()
    {
        hs.insert(h("upload-metadata"), v);
    }
    if !row.completed {
        hs.insert(h("upload-expires"), expires(row.expires_at));
    }
    Ok(r)
}

/// `DELETE /v1/uploads/{id}`: gives up an upload in progress. A verified photo is evidence: 409.
pub(crate) async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    state.app().terminate_upload(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn offset_response(status: StatusCode, offset: u64, expires_at: Option<DateTime<Utc>>) -> Response {
    let mut r = status.into_response();
    r.headers_mut().insert(h("upload-offset"), num(offset));
    if let Some(t) = expires_at {
        r.headers_mut().insert(h("upload-expires"), expires(t));
    }
    r
}

fn mismatch(current: u64) -> Response {
    let mut r = ApiError::new("upload_offset_mismatch").into_response();
    r.headers_mut().insert(h("upload-offset"), num(current));
    r
}

/// How a chunk's body ended.
enum Received {
    /// All of it arrived.
    Whole(u64),
    /// The connection failed or went silent after this many bytes.
    Cut(u64, ApiError),
}

/// `PATCH /v1/uploads/{id}`: appends a chunk at `Upload-Offset`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().map(str::trim) == Some(OFFSET_CONTENT_TYPE));
    if !content_type_ok {
        return Err(ApiError::new("unsupported_media_type").field("Content-Type"));
    }
    let offset = header_u64(&headers, "upload-offset")?;
    let checksum = match headers.get("upload-checksum").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(tus::parse_checksum(v).map_err(|e| match e {
            ChecksumError::Unsupported => ApiError::new("checksum_unsupported"),
            ChecksumError::Malformed => ApiError::new("bad_request").field("Upload-Checksum"),
        })?),
        Some(Err(_)) => return Err(ApiError::new("bad_request").field("Upload-Checksum")),
    };
    let row = owned_upload(&state, &caller, &id).await?;
    if row.completed {
        return Ok(if offset == row.length {
            offset_response(StatusCode::NO_CONTENT, row.length, None)
        } else {
            mismatch(row.length)
        });
    }
    if offset != row.offset {
        return Ok(mismatch(row.offset));
    }
    let media = Arc::clone(state.app().media());
    let lock = media
        .lock(&row.id, lantian_app::evidence::LOCK_WAIT)
        .await
        .ok_or_else(|| ApiError::new("upload_locked"))?;
    // The offset may have moved while this request waited for the lock.
    let row = owned_upload(&state, &caller, &id).await?;
    if row.completed || offset != row.offset {
        return Ok(mismatch(if row.completed {
            row.length
        } else {
            row.offset
        }));
    }
    let remaining = row.length - row.offset;
    if let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && declared > remaining
    {
        return Err(ApiError::new("payload_too_large")
            .note(format!("{remaining} bytes remain of this upload")));
    }

    // The partial upload is a file here, or (nodes sharing a database) rows of the database, the
    // chunk being received then going to a file of its own first.
    let shared = media.config.shared_uploads;
    let (path, at) = if shared {
        (media.chunk_path(&row.id), 0)
    } else {
        (media.part_path(&row.id), row.offset)
    };
    // Opening may copy the whole partial file (up to the largest photo): off the async threads.
    let part = path.clone();
    let opened = tokio::task::spawn_blocking(move || open_part(&part, at))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| io_error(&e))?;
    let Some(file) = opened else {
        // The partial file is gone (a disk was swapped, a crash lost it): start over.
        state.app().forget_upload(&row.id).await?;
        return Err(ApiError::new("upload_expired"));
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = checksum.as_ref().map(|c| tus::Hasher::new(c.algorithm));
    let mut running = media.take_hash(&row.id, row.offset);
    let stream_slot = media.stream_permit().await.ok_or_else(ApiError::internal)?;
    let received = receive(
        body,
        &mut file,
        remaining,
        media.config.idle_timeout,
        &lock,
        &mut hasher,
        &mut running,
    )
    .await;
    drop(stream_slot);
    let (written, cut) = match received {
        Ok(Received::Whole(n)) => (n, None),
        Ok(Received::Cut(n, why)) => (n, Some(why)),
        Err(e) => {
            truncate(&mut file, at).await.map_err(|e| io_error(&e))?;
            drop(file);
            forget_chunk(shared, &path).await;
            return Err(e);
        }
    };
    if let (Some(c), Some(h)) = (&checksum, hasher) {
        // A checksummed chunk is all or nothing.
        if cut.is_some() || h.finish() != c.digest {
            truncate(&mut file, at).await.map_err(|e| io_error(&e))?;
            drop(file);
            forget_chunk(shared, &path).await;
            return Err(cut.unwrap_or_else(|| ApiError::new("checksum_mismatch")));
        }
    }
    let new_offset = row.offset + written;
    // The chunk is durable before its offset is recorded (tokio runs the fsync on its blocking
    // threads).
    file.flush().await.map_err(|e| io_error(&e))?;
    file.sync_data().await.map_err(|e| io_error(&e))?;
    drop(file);
    // Every byte is here (even if the connection failed after the last one): the offset moves to
    // the end only with the recorded photo, never on its own.
    if new_offset == row.length {
        let whole = running.map(|h| hex::encode(h.finalize()));
        let done = match shared {
            true => match state.app().assemble_upload(&row, &path).await {
                Ok(()) => state.app().complete_upload(&row, whole).await,
                Err(e) => Err(e),
            },
            false => state.app().complete_upload(&row, whole).await,
        };
        forget_chunk(shared, &path).await;
        drop(lock);
        return done
            .map(|()| offset_response(StatusCode::NO_CONTENT, row.length, None))
            .map_err(ApiError::from);
    }
    let expires_at = match (written > 0, shared) {
        (false, _) => row.expires_at,
        (true, false) => state.app().advance_upload(&row, new_offset).await?,
        (true, true) => {
            let stored = state.app().store_chunk(&row, &path).await;
            forget_chunk(shared, &path).await;
            match stored? {
                Some(expires_at) => expires_at,
                // Another node took a chunk at this offset first: where the upload stands now.
                None => {
                    media.forget_hash(&row.id);
                    let now = owned_upload(&state, &caller, &id).await?;
                    return Ok(mismatch(now.offset));
                }
            }
        }
    };
    if shared && written == 0 {
        forget_chunk(shared, &path).await;
    }
    if let Some(h) = running {
        media.keep_hash(&row.id, new_offset, h);
    }
    drop(lock);
    match cut {
        Some(why) => Err(why),
        None => Ok(offset_response(
            StatusCode::NO_CONTENT,
            new_offset,
            Some(expires_at),
        )),
    }
}

/// Removes the file a chunk was received into, when partial uploads live in the database.
async fn forget_chunk(shared: bool, path: &std::path::Path) {
    if shared {
        let path = path.to_path_buf();
        let _ =
            tokio::task::spawn_blocking(move || lantian_app::evidence::remove_quietly(&path)).await;
    }
}

/// Opens the partial file positioned at `offset`, cutting anything beyond it (bytes written by a
/// request that failed before its offset was recorded). `None` if the file is shorter than `offset`.
/// A file that shares its bytes with a stored original is copied first (see below).
fn open_part(path: &std::path::Path, offset: u64) -> std::io::Result<Option<std::fs::File>> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    let meta = f.metadata()?;
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        // A completion linked this file into the photo store and then failed to record it: the
        // stored original shares these bytes, so never write through this name again.
        drop(f);
        let copy = path.with_extension("part.copy");
        std::fs::copy(path, &copy)?;
        std::fs::rename(&copy, path)?;
        return open_part(path, offset);
    }
    let len = meta.len();
    if len < offset {
        return Ok(None);
    }
    if len > offset {
        f.set_len(offset)?;
    }
    f.seek(SeekFrom::Start(offset))?;
    Ok(Some(f))
}

async fn truncate(f: &mut tokio::fs::File, offset: u64) -> std::io::Result<()> {
    f.flush().await?;
    f.set_len(offset).await?;
    f.sync_data().await
}

/// Streams the body into `file`, at most `remaining` bytes, giving up after `idle` without a byte.
async fn receive(
    mut body: Body,
    file: &mut tokio::fs::File,
    remaining: u64,
    idle: std::time::Duration,
    lock: &lantian_app::evidence::UploadLock,
    hasher: &mut Option<tus::Hasher>,
    running: &mut Option<sha2::Sha256>,
) -> Result<Received, ApiError> {
    let mut written = 0u64;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, body.frame()) => next,
            () = lock.release_requested() => {
                // The client came back on another connection: this one is dead to it.
                return Ok(Received::Cut(written, ApiError::new("upload_locked")));
            }
        };
        let frame = match next {
            Err(_) => return Ok(Received::Cut(written, ApiError::new("request_timeout"))),
            Ok(None) => return Ok(Received::Whole(written)),
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "upload body ended early");
                return Ok(Received::Cut(
                    written,
                    ApiError::new("bad_request").note("the connection ended mid-chunk"),
                ));
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if written + data.len() as u64 > remaining {
            return Err(ApiError::new("payload_too_large")
                .note(format!("{remaining} bytes remain of this upload")));
        }
        // Written through tokio's file (its blocking threads), the fsync once after the loop.
        file.write_all(&data).await.map_err(|e| io_error(&e))?;
        if let Some(h) = hasher.as_mut() {
            h.update(&data);
        }
        if let Some(h) = running.as_mut() {
            h.update(&data);
        }
        written += data.len() as u64;
    }
}

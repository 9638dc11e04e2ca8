//! Photo evidence on the phone: photos are queued with the inspection that lists them, uploaded
//! over tus once the server has the inspection, resumed from the server's offset after any failure,
//! and deleted locally only when the server's verified `photo` entity has been pulled.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use base64::Engine;
use reqwest::StatusCode;
use rusqlite::params;
use sha1::Digest;
use uuid::Uuid;

use crate::{Client, ClientError, local};

/// A photo as the phone tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPhoto {
    pub photo_id: Uuid,
    pub inspection_id: Uuid,
    pub path: PathBuf,
    /// `queued` (not all bytes sent), `uploaded` (the server answered the last chunk),
    /// `verified` (the server's record was pulled: the local copy is gone), `refused` (see `code`).
    pub state: String,
    pub code: Option<String>,
}

/// What one upload round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    pub uploaded: u32,
    pub refused: u32,
    /// Waiting: the inspection is not on the server yet, or the network failed.
    pub waiting: u32,
}

const TUS: &str = "1.0.0";

/// A photo waiting to upload: photo id, its owner's id (an inspection's, or an incident's), local
/// path, SHA-256, length, the upload's URL if one was created, whether the owner is an incident.
type QueuedPhoto = (String, String, String, String, i64, Option<String>, bool);

enum Outcome {
    Done,
    Refused(String),
    Waiting,
}

impl Client {
    /// Queues the photo at `path` for `inspection_id`. The file is copied into the install's own
    /// folder: that copy is the phone's evidence until the server has verified it.
    pub fn attach_photo(
        &self,
        inspection_id: Uuid,
        photo_id: Uuid,
        path: &Path,
    ) -> Result<(), ClientError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let dir = self.media_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ClientError::Local(e.to_string()))?;
        let copy = dir.join(photo_id.to_string());
        let tmp = dir.join(format!("{photo_id}.tmp"));
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &copy))
            .map_err(|e| ClientError::Local(e.to_string()))?;
        self.with_db(|c| {
            c.execute(
                "INSERT INTO photos (photo_id, inspection_id, path, sha256, length) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(photo_id) DO NOTHING",
                params![photo_id.to_string(), inspection_id.to_string(), copy.to_string_lossy(), sha, bytes.len() as i64],
            )?;
            Ok(())
        })
    }

    /// Every photo this install tracks.
    pub fn photos(&self) -> Result<Vec<LocalPhoto>, ClientError> {
        self.with_db(|c| {
            let mut stmt = c.prepare(
                "SELECT photo_id, inspection_id, path, state, code FROM photos ORDER BY rowid",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(p, i, path, state, code)| {
                    Ok(LocalPhoto {
                        photo_id: Uuid::parse_str(&p)
                            .map_err(|e| ClientError::Local(e.to_string()))?,
                        inspection_id: Uuid::parse_str(&i)
                            .map_err(|e| ClientError::Local(e.to_string()))?,
                        path: PathBuf::from(path),
                        state,
                        code,
                    })
                })
                .collect()
        })
    }

    fn media_dir(&self) -> PathBuf {
        self.local_dir().join("photos")
    }

    /// Uploads every queued photo whose inspection (or incident) the server has applied, and, for a
    /// photo an amendment adds, the amendment as well: before that the server does not expect it.
    pub async fn upload_photos(&self) -> Result<UploadSummary, ClientError> {
        let queued: Vec<QueuedPhoto> = self.with_db(|c| {
            let mut stmt = c.prepare(
                "SELECT p.photo_id, p.inspection_id, p.path, p.sha256, p.length, p.upload_url, r.incident FROM photos p
                 JOIN (SELECT json_extract(o.args, '$.inspection_id') AS owner, 0 AS incident FROM outbox o
                         WHERE o.name = 'inspection.submit' AND o.status = 'applied'
                       UNION ALL
                       SELECT json_extract(o.args, '$.incident_id'), 1 FROM outbox o
                         WHERE o.name = 'incident.report' AND o.status = 'applied') r ON r.owner = p.inspection_id
                 WHERE p.state = 'queued'
                   -- A photo an amendment adds waits until the amendment is applied too.
                   AND NOT EXISTS (SELECT 1 FROM outbox a WHERE a.name = 'inspection.amend'
                         AND (a.status IS NULL OR a.status != 'applied')
                         AND instr(a.args, p.photo_id) > 0)
                 ORDER BY p.rowid",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut summary = UploadSummary::default();
        let total_queued: i64 = self.with_db(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM photos WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )?)
        })?;
        summary.waiting = (total_queued as usize).saturating_sub(queued.len()) as u32;
        let total_bytes: u64 = queued.iter().map(|q| q.4.max(0) as u64).sum();
        let total_photos = queued.len() as u64;
        let mut sent_before = 0u64;
        for (done, q) in queued.into_iter().enumerate() {
            let (photo, length) = (q.0.clone(), q.4);
            let outcome = self.upload_one(q, (sent_before, total_bytes)).await?;
            sent_before += length.max(0) as u64;
            self.report(crate::Progress::PhotosDone {
                done: done as u64 + 1,
                total: total_photos,
            });
            match outcome {
                Outcome::Done => {
                    summary.uploaded += 1;
                    self.set_photo_state(&photo, "uploaded", None)?;
                }
                Outcome::Refused(code) => {
                    summary.refused += 1;
                    self.set_photo_state(&photo, "refused", Some(&code))?;
                }
                Outcome::Waiting => summary.waiting += 1,
            }
        }
        Ok(summary)
    }

    fn set_photo_state(
        &self,
        photo: &str,
        state: &str,
        code: Option<&str>,
    ) -> Result<(), ClientError> {
        self.with_db(|c| {
            c.execute(
                "UPDATE photos SET state = ?2, code = ?3 WHERE photo_id = ?1",
                params![photo, state, code],
            )?;
            Ok(())
        })
    }

    fn set_upload_url(&self, photo: &str, url: Option<&str>) -> Result<(), ClientError> {
        self.with_db(|c| {
            c.execute(
                "UPDATE photos SET upload_url = ?2 WHERE photo_id = ?1",
                params![photo, url],
            )?;
            Ok(())
        })
    }

    fn token(&self) -> Result<String, ClientError> {
        self.with_db(|c| Ok(local::get_meta(c, "access_token")?))?
            .ok_or(ClientError::NotLoggedIn)
    }

    /// One photo through tus: create (or find) the upload, ask its offset, send the rest in
    /// checksummed chunks. Any network failure: back off, ask the offset again, go on. Progress
    /// is reported in bytes of the whole run (`sent_before` of `total_bytes` before this photo).
    async fn upload_one(
        &self,
        (photo, inspection, path, sha, length, mut url, incident): QueuedPhoto,
        (sent_before, total_bytes): (u64, u64),
    ) -> Result<Outcome, ClientError> {
        let (photo, inspection, sha) = (photo.as_str(), inspection.as_str(), sha.as_str());
        let path = Path::new(&path);
        let length = length.max(0) as u64;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let metadata = format!(
            "photo_id {},{} {},sha256 {}",
            b64(photo),
            if incident {
                "incident_id"
            } else {
                "inspection_id"
            },
            b64(inspection),
            b64(sha)
        );
        let mut file = std::fs::File::open(path).map_err(|e| ClientError::Local(e.to_string()))?;
        let mut buf = vec![0u8; self.cfg.upload_chunk.max(1)];
        let mut refreshed = false;
        for attempt in 0..self.cfg.max_attempts.max(1) * 8 {
            let token = self.token()?;
            let failed = |attempt| tokio::time::sleep(self.backoff(attempt / 2, None));
            let upload_url = match &url {
                Some(u) => u.clone(),
                None => {
                    let resp = self
                        .http
                        .post(format!("{}/v1/uploads", self.cfg.base_url))
                        .bearer_auth(&token)
                        .header("tus-resumable", TUS)
                        .header("upload-length", length)
                        .header("upload-metadata", &metadata)
                        .send()
                        .await;
                    let resp = match resp {
                        Ok(r) => r,
                        Err(_) => {
                            failed(attempt).await;
                            continue;
                        }
                    };
                    match resp.status() {
                        StatusCode::CREATED => {}
                        StatusCode::UNAUTHORIZED if !refreshed => {
                            refreshed = true;
                            self.refresh().await?;
                            continue;
                        }
                        StatusCode::NOT_FOUND => return Ok(Outcome::Waiting),
                        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                            failed(attempt).await;
                            continue;
                        }
                        _ => return Ok(Outcome::Refused(error_code(resp).await)),
                    }
                    let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok())
                    else {
                        return Err(ClientError::Invalid(
                            "upload created without a Location".into(),
                        ));
                    };
                    let u = format!("{}{loc}", self.cfg.base_url);
                    self.set_upload_url(photo, Some(&u))?;
                    url = Some(u.clone());
                    u
                }
            };
            // Where does the server stand?
            let head = self
                .http
                .head(&upload_url)
                .bearer_auth(&token)
                .header("tus-resumable", TUS)
                .send()
                .await;
            let head = match head {
                Ok(r) => r,
                Err(_) => {
                    failed(attempt).await;
                    continue;
                }
            };
            match head.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND | StatusCode::GONE => {
                    // Expired or refused: start a new upload.
                    self.set_upload_url(photo, None)?;
                    url = None;
                    continue;
                }
                StatusCode::UNAUTHORIZED if !refreshed => {
                    refreshed = true;
                    self.refresh().await?;
                    continue;
                }
                _ => {
                    failed(attempt).await;
                    continue;
                }
            }
            let mut offset: u64 = header_u64(&head, "upload-offset").unwrap_or(0);
            while offset < length {
                let n = read_at(&mut file, offset, &mut buf)?;
                let chunk = &buf[..n];
                let digest =
                    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(chunk));
                let resp = self
                    .http
                    .patch(&upload_url)
                    .bearer_auth(&token)
                    .header("tus-resumable", TUS)
                    .header("upload-offset", offset)
                    .header("upload-checksum", format!("sha1 {digest}"))
                    .header("content-type", "application/offset+octet-stream")
                    .body(chunk.to_vec())
                    .send()
                    .await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(_) => break,
                };
                match resp.status().as_u16() {
                    204 => {
                        offset = header_u64(&resp, "upload-offset").unwrap_or(offset + n as u64);
                        self.report(crate::Progress::PhotoBytes {
                            sent: sent_before + offset,
                            total: total_bytes,
                        });
                    }
                    // Offset moved or a chunk was damaged on the way: ask again, resend.
                    409 | 460 | 423 => break,
                    401 | 404 | 410 => break,
                    s if s >= 500 || s == 408 || s == 429 => break,
                    _ => return Ok(Outcome::Refused(error_code(resp).await)),
                }
            }
            if offset >= length {
                return Ok(Outcome::Done);
            }
            failed(attempt).await;
        }
        Ok(Outcome::Waiting)
    }

    /// Deletes the local copy of every photo whose verified record the server has synced down.
    pub(crate) fn release_verified(&self) -> Result<u32, ClientError> {
        let done: Vec<(String, String)> = self.with_db(|c| {
            let mut stmt = c.prepare(
                "SELECT p.photo_id, p.path FROM photos p JOIN entities e ON e.entity = 'photo' AND e.entity_id = p.photo_id
                 WHERE p.state != 'verified' AND json_extract(e.data, '$.state') = 'verified'",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        for (photo, path) in &done {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ClientError::Local(e.to_string())),
            }
            self.set_photo_state(photo, "verified", None)?;
        }
        Ok(done.len() as u32)
    }
}

fn header_u64(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn error_code(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    r.json::<lantian_protocol::error::ErrorBody>()
        .await
        .map(|e| e.error.code)
        .unwrap_or_else(|_| format!("http_{status}"))
}

fn read_at(f: &mut std::fs::File, offset: u64, buf: &mut [u8]) -> Result<usize, ClientError> {
    let io = |e: std::io::Error| ClientError::Local(e.to_string());
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

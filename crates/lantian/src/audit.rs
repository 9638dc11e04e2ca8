//! `lantian audit`: verify the hash chain of the audit log against itself and against the recorded
//! heads, recompute the evidence seals, hash every photo original against its record, and record a
//! checkpoint head.

use std::collections::BTreeMap;

use lantian_store::audit::{self, Verification};
use lantian_store::seal;

use crate::config::Config;

/// What `lantian audit verify` reports: the chain, and the evidence rows against their seals.
#[derive(Debug, Clone)]
pub struct Report {
    pub chain: Verification,
    pub seals: seal::Check,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.chain.ok() && self.seals.ok()
    }
}

/// Walks the chain and recomputes every seal (one read transaction).
pub async fn verify(config: &Config) -> anyhow::Result<Report> {
    let store = crate::app::open_store(config).await?;
    Ok(store
        .read(|c| {
            let (chain, seals) = seal::verify_all(c)?;
            Ok(Report { chain, seals })
        })
        .await?)
}

/// The report's text, one line per finding.
pub fn describe(r: &Report) -> String {
    let v = &r.chain;
    let mut out = format!("audit log: {} rows verified, head {}", v.rows, v.head);
    if let Some(seq) = v.first_broken {
        out.push_str(&format!(
            "\nBROKEN at row {seq}: its content, link or position does not match the chain"
        ));
    }
    if let Some((label, seq)) = &v.truncated {
        out.push_str(&format!(
            "\nTRUNCATED: the head recorded as {label} is row {seq}, beyond the log's last row {}",
            v.rows
        ));
    }
    let s = &r.seals;
    out.push_str(&format!(
        "\nevidence: {} sealed rows recomputed, {} from before seals",
        s.checked, s.legacy
    ));
    for f in &s.findings {
        let what = match f.problem {
            "altered" => "changed since it was sealed",
            "missing" => "was sealed and is no longer there",
            _ => "has no seal and no record of the server writing it",
        };
        out.push_str(&format!(
            "\n{} {} {}: {what}",
            f.problem.to_uppercase(),
            f.object_type,
            f.key
        ));
    }
    if r.ok() {
        out.push_str("\nok");
    }
    out
}

/// Records the current head under `label` (default: `checkpoint-<time>`).
pub async fn checkpoint(config: &Config, label: Option<String>) -> anyhow::Result<String> {
    let store = crate::app::open_store(config).await?;
    let label = label.unwrap_or_else(|| format!("checkpoint-{}", lantian_store::now_text()));
    let l = label.clone();
    match store.write(move |c| audit::record_head(c, &l)).await? {
        Some((seq, hash)) => Ok(format!("recorded {label}: row {seq}, hash {hash}")),
        None => anyhow::bail!("nothing recorded: the log is empty or {label} exists"),
    }
}

/// One photo whose original on disk does not match its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoFinding {
    pub photo: String,
    pub sha256: String,
    /// `missing`, or `altered` (other bytes or another length than recorded).
    pub problem: &'static str,
}

/// The result of [`verify_photo_files`].
#[derive(Debug, Clone, Default)]
pub struct PhotoFiles {
    /// Distinct originals hashed.
    pub files: u64,
    pub bytes: u64,
    pub findings: Vec<PhotoFinding>,
}

/// Hashes every original in the photo store and compares it with the SHA-256 and length its photo
/// rows recorded at verification. Runs on a blocking thread, one file at a time.
pub async fn verify_photo_files(
    config: &Config,
    store: &lantian_store::Store,
) -> anyhow::Result<PhotoFiles> {
    let rows: Vec<(String, String, i64)> = store.read(lantian_store::media::originals).await?;
    let blob_dir = config.media_config().blob_dir;
    tokio::task::spawn_blocking(move || {
        let mut by_hash: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
        for (photo, sha, size) in rows {
            by_hash
                .entry(sha)
                .or_insert((size, Vec::new()))
                .1
                .push(photo);
        }
        let mut out = PhotoFiles::default();
        for (sha, (size, photos)) in by_hash {
            let path = blob_dir.join(lantian_media::blob::Blobs::original(&sha).as_ref());
            let problem = match std::fs::metadata(&path) {
                Err(_) => Some("missing"),
                Ok(m) => {
                    out.files += 1;
                    out.bytes += m.len();
                    let same = m.len() == size as u64
                        && lantian_media::probe::sha256_file(&path).is_ok_and(|h| h == sha);
                    (!same).then_some("altered")
                }
            };
            if let Some(problem) = problem {
                out.findings
                    .extend(photos.into_iter().map(|photo| PhotoFinding {
                        photo,
                        sha256: sha.clone(),
                        problem,
                    }));
            }
        }
        out
    })
    .await
    .map_err(|e| anyhow::anyhow!("the photo check stopped: {e}"))
}

/// The photo check's text, one line per finding.
pub fn describe_photo_files(p: &PhotoFiles) -> String {
    let mut out = format!(
        "photo originals: {} files, {} bytes hashed",
        p.files, p.bytes
    );
    for f in &p.findings {
        out.push_str(&format!(
            "\n{} photo {}: original {} is {}",
            f.problem.to_uppercase(),
            f.photo,
            f.sha256,
            if f.problem == "missing" {
                "not in the photo store"
            } else {
                "not the bytes that were verified"
            }
        ));
    }
    if p.findings.is_empty() {
        out.push_str("\nok");
    }
    out
}

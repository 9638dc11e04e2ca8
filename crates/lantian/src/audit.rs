//! `lantian audit`: verify the hash chain of the audit log against itself and against the recorded
//! heads, recompute the evidence seals, hash every photo original against its record, and record a
//! checkpoint head.

use lantian_store::audit::Verification;
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
    let (chain, seals) = lantian_app::operator::verify_audit(&store).await?;
    Ok(Report { chain, seals })
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
    match lantian_app::operator::checkpoint(&store, label.clone()).await? {
        Some((seq, hash)) => Ok(format!("recorded {label}: row {seq}, hash {hash}")),
        None => anyhow::bail!("nothing recorded: the log is empty or {label} exists"),
    }
}

pub use lantian_app::operator::{PhotoFiles, PhotoFinding, PhotoSlice};

/// Checks the originals in the photo store against their records: all of them hashed
/// (`lantian audit photos`), or the nightly rolling slice ([`PhotoSlice::Rolling`]).
pub async fn verify_photo_files(
    config: &Config,
    store: &lantian_store::Store,
    slice: PhotoSlice,
) -> anyhow::Result<PhotoFiles> {
    let blobs = config.media_config().blobs()?;
    Ok(lantian_app::operator::verify_photo_files(store, &blobs, slice).await?)
}

/// The photo check's text, one line per finding.
pub fn describe_photo_files(p: &PhotoFiles) -> String {
    let mut out = format!(
        "photo originals: {} files, {} bytes present; {} files, {} bytes hashed",
        p.files, p.bytes, p.hashed_files, p.hashed_bytes
    );
    if let Some(oldest) = &p.oldest_unhashed {
        out.push_str(&format!(
            "; the others were last hashed (or verified) at {oldest} at the earliest"
        ));
    }
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

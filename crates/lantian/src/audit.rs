//! `lantian audit`: verify the hash chain of the audit log against itself and against the recorded
//! heads, and record a checkpoint head.

use lantian_store::audit::{self, Verification};

use crate::config::Config;

/// What `lantian audit verify` reports, and whether the log holds.
pub async fn verify(config: &Config) -> anyhow::Result<Verification> {
    let store = crate::app::open_store(config).await?;
    Ok(store.read(audit::verify).await?)
}

/// The report's text, one line per finding.
pub fn describe(v: &Verification) -> String {
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
    if v.ok() {
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

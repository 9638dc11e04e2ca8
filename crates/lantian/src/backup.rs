//! Backups: a consistent copy of the database (SQLite's online backup API, taken while the server
//! runs) with a manifest naming every photo by its hash. Photos are kept by reference: the blob
//! store is content-addressed and never rewritten, so the backup needs only the hashes to check a
//! restore against. Older backups beyond the retention are removed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// What a backup holds, written next to it as `<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: String,
    pub database: String,
    pub database_sha256: String,
    /// SHA-256 of every verified photo's original (in `media/blobs/originals/`).
    pub photos: Vec<String>,
}

/// On PostgreSQL the records are backed up by the database's own tools, which a deployment of
/// several nodes already runs (continuous archiving, a standby): a copy made here would be a
/// second, weaker scheme beside them.
fn refuse_on_postgres(config: &Config, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "{what} is for the SQLite database in the data folder; this deployment keeps its records \
         in PostgreSQL: back it up with PostgreSQL's own tools (pg_basebackup with WAL archiving, \
         or pg_dump) and the photos with the object store's versioning or replication \
         (docs/scale-out.md)"
    );
    Ok(())
}

pub fn backup_dir(config: &Config) -> PathBuf {
    config.data_dir.join("backups")
}

/// Takes a backup now; keeps the newest `keep`. Returns the backup's path.
pub async fn run(
    config: &Config,
    store: &lantian_store::Store,
    keep: usize,
) -> anyhow::Result<PathBuf> {
    refuse_on_postgres(config, "`lantian backup`")?;
    let dir = backup_dir(config);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    remove_leftovers(&dir, STALE)?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f").to_string();
    let name = format!("lantian-{stamp}.db");
    let dest = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let db = config.db_path();
    let photos = store.read(lantian_store::photo_hashes).await?;
    let (p, d) = (partial.clone(), db.clone());
    tokio::task::spawn_blocking(move || lantian_store::backup_database(&d, &p)).await??;
    let check = lantian_store::integrity_check(&partial)?;
    anyhow::ensure!(
        check == "ok",
        "the backup copy failed its integrity check: {check}"
    );
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &dest)?;
    let manifest = Manifest {
        created_at: lantian_store::now_text(),
        database: name.clone(),
        database_sha256: lantian_media::probe::sha256_file(&dest)?,
        photos,
    };
    // The manifest appears whole or not at all: a backup killed mid-way leaves at most a
    // `.partial` file, which the next backup removes.
    let m = dir.join(format!("{name}.json"));
    let m_partial = dir.join(format!("{name}.json.partial"));
    std::fs::write(&m_partial, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::File::open(&m_partial)?.sync_all()?;
    std::fs::rename(&m_partial, &m)?;
    std::fs::File::open(&dir)?.sync_all()?;
    prune(&dir, keep.max(1), &name)?;
    Ok(dest)
}

/// How long a partial file must have been left untouched before it is taken for a killed backup's
/// (a running backup writes its copy continuously).
const STALE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes what backups killed mid-way left in `dir`: their partial copies, the journals SQLite
/// kept for them (`.partial-journal`) and partial manifests, once untouched for `stale`. Runs
/// before every backup and when the server starts, so leftovers neither pile up nor grow.
pub fn remove_leftovers(dir: &Path, stale: std::time::Duration) -> anyhow::Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let partial = name.ends_with(".partial") || name.ends_with(".partial-journal");
        let untouched = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= stale);
        if partial && untouched && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes all but the newest `keep` backups (names sort by time), and what backups killed
/// mid-way left behind (`.partial` files other than this run's own).
fn prune(dir: &Path, keep: usize, current: &str) -> anyhow::Result<()> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    for p in &entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if (name.ends_with(".partial") || name.ends_with(".partial-journal"))
            && !name.starts_with(current)
        {
            let _ = std::fs::remove_file(p);
        }
    }
    let mut dbs: Vec<PathBuf> = entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    dbs.sort();
    let excess = dbs.len().saturating_sub(keep);
    for old in dbs.into_iter().take(excess) {
        std::fs::remove_file(&old)?;
        let _ = std::fs::remove_file(old.with_extension("db.json"));
    }
    Ok(())
}

/// What a restore found.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub database: PathBuf,
    /// The database it replaced, kept aside.
    pub previous: Option<PathBuf>,
    /// Photos the manifest names that the blob store does not have.
    pub missing_photos: Vec<String>,
}

/// Restores a backup into the data folder (the server must be stopped): checks the manifest's hash
/// and the copy's integrity, keeps the current database aside, and reports photos the blob store
/// lacks. Phones notice the restore at their next pull (decision 0010) and push again.
pub fn restore(config: &Config, backup: &Path) -> anyhow::Result<Restored> {
    refuse_on_postgres(config, "`lantian restore`")?;
    let manifest_path = PathBuf::from(format!("{}.json", backup.display()));
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("no manifest {}", manifest_path.display()))?,
    )?;
    anyhow::ensure!(
        lantian_media::probe::sha256_file(backup)? == manifest.database_sha256,
        "{} does not match its manifest",
        backup.display()
    );
    let check = lantian_store::integrity_check(backup)?;
    anyhow::ensure!(
        check == "ok",
        "the backup failed its integrity check: {check}"
    );
    let db = config.db_path();
    let previous = if db.exists() {
        let aside = config.data_dir.join(format!(
            "lantian.db.before-restore-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ));
        std::fs::rename(&db, &aside)?;
        Some(aside)
    } else {
        None
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(PathBuf::from(format!("{}{suffix}", db.display())));
    }
    let tmp = config.data_dir.join("lantian.db.restoring");
    std::fs::copy(backup, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &db)?;
    let blobs = config
        .data_dir
        .join("media")
        .join("blobs")
        .join("originals");
    let missing_photos = manifest
        .photos
        .into_iter()
        .filter(|h| !blobs.join(&h[..2.min(h.len())]).join(h).exists())
        .collect();
    Ok(Restored {
        database: db,
        previous,
        missing_photos,
    })
}

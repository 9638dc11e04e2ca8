//! `lantian copy --to postgres://… [--media s3://…]`: moves a deployment from its SQLite file
//! (and photo folder) into PostgreSQL (and S3-compatible object storage), with the server stopped
//! (decision 0028). The rows are copied as stored, in one transaction: the audit chain, the
//! evidence seals and the sync log's numbers hold, so phones keep their cursors and their logins
//! (the signing key goes along). Checked at the end with the audit chain and every seal
//! recomputed on the copy. Run again after a failure, it goes on where the last run stopped:
//! rows committed by it are kept when the deployment has not changed since, and photos already
//! in the bucket are not sent again.

use anyhow::Context;

use crate::config::{Config, DatabaseUrl};

/// What was copied.
#[derive(Debug, Clone)]
pub struct Copied {
    pub rows: lantian_store::copy::Copied,
    /// Photo objects (originals and renditions) and their bytes, with `--media`.
    pub objects: u64,
    pub bytes: u64,
    pub audit: crate::audit::Report,
}

/// The configuration of the copy: `config`'s, on the target database and photo store.
pub fn target_config(config: &Config, to: &str, media: Option<&str>) -> Config {
    let mut t = config.clone();
    t.database_url = Some(DatabaseUrl(to.to_owned()));
    if let Some(m) = media {
        t.media_url = Some(m.to_owned());
    }
    t
}

pub async fn run(
    config: &Config,
    to: &str,
    media: Option<&str>,
    mut say: impl FnMut(String) + Send,
) -> anyhow::Result<Copied> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "`lantian copy` moves the SQLite deployment in the data folder; this configuration names \
         a PostgreSQL database already"
    );
    anyhow::ensure!(
        to.starts_with("postgres://") || to.starts_with("postgresql://"),
        "--to takes a PostgreSQL URL (postgres://user:password@host:5432/db)"
    );
    let db = config.db_path();
    anyhow::ensure!(db.exists(), "there is no database at {}", db.display());
    let target = target_config(config, to, media);
    let media_config = config.media_config();
    let (sqlite, url) = (db.clone(), to.to_owned());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let copying = tokio::task::spawn_blocking(move || {
        lantian_store::copy::sqlite_to_postgres(
            &sqlite,
            &url,
            |id| media_config.upload_dir.join(format!("{id}.part")),
            |table, rows| {
                let _ = tx.send(format!("  {table}: {rows} rows"));
            },
        )
    });
    while let Some(line) = rx.recv().await {
        say(line);
    }
    let rows = copying.await?.map_err(|e| match e {
        lantian_store::StoreError::Conflict("sqlite_in_use") => anyhow::anyhow!(
            "{} is in use: stop the server (and any lantian command) first",
            db.display()
        ),
        lantian_store::StoreError::Conflict("target_not_empty") => anyhow::anyhow!(
            "{} holds a deployment already: copy into an empty database",
            lantian_store::redact_url(to)
        ),
        lantian_store::StoreError::Conflict("target_outdated") => anyhow::anyhow!(
            "{} holds a copy of an earlier state of this deployment (the server ran after that \
             copy): drop and recreate the database, then copy again (the bucket keeps the photos \
             it has)",
            lantian_store::redact_url(to)
        ),
        e => anyhow::anyhow!(e),
    })?;
    if rows.resumed {
        say(format!(
            "the rows: in {} already, from an earlier run of this copy (the deployment has not \
             changed since); going on from there",
            lantian_store::redact_url(to)
        ));
    } else {
        say(format!(
            "copied {} rows of {} tables into {}",
            rows.rows(),
            rows.tables.len(),
            lantian_store::redact_url(to)
        ));
    }

    // The signing key goes along, so that every login (app and console) goes on working.
    let store = crate::app::open_store(&target)
        .await
        .context("cannot open the copy")?;
    let key = config.data_dir.join("jwt-hs256.key");
    if let Ok(hex_key) = std::fs::read_to_string(&key) {
        let hex_key = hex_key.trim().to_owned();
        let kept = store
            .write(move |c| lantian_store::identity::shared_signing_key(c, &hex_key))
            .await?;
        anyhow::ensure!(
            kept == std::fs::read_to_string(&key)?.trim(),
            "the copy holds another signing key"
        );
        say("the signing key: copied (logins go on)".into());
    }
    drop(store);

    let (mut objects, mut bytes) = (0, 0);
    if let Some(m) = media {
        let from = config.media_config().blobs()?;
        let to_blobs = target.media_config().blobs()?;
        let mut last = std::time::Instant::now();
        let (o, b) = from
            .copy_to(&to_blobs, |o, b| {
                if last.elapsed() > std::time::Duration::from_secs(5) {
                    last = std::time::Instant::now();
                    say(format!("  photos: {o} objects, {b} bytes so far"));
                }
            })
            .await?;
        (objects, bytes) = (o, b);
        say(format!(
            "copied {objects} photo objects ({bytes} bytes) into {m}"
        ));
    }

    let audit = crate::audit::verify(&target).await?;
    say(crate::audit::describe(&audit));
    anyhow::ensure!(audit.ok(), "the copy does not verify: it is not to be used");
    Ok(Copied {
        rows,
        objects,
        bytes,
        audit,
    })
}

//! Start-up wiring shared by `lantian serve` and the tests: open the data folder and the store
//! (migrations run there), load the reference data, optionally the demo data, load or create the
//! signing key, bind, serve until told to stop.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use lantian_domain::reference;
use lantian_http::auth::JwtKeys;
use lantian_store::{Store, seed};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub store: Store,
    /// The scheduled jobs (kept alive with the server).
    _scheduler: Option<tokio_cron_scheduler::JobScheduler>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }

    /// Waits until the server ends (after `shutdown` resolved).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await??;
        Ok(())
    }
}

/// Opens the store in `config.data_dir` and loads the reference data (once).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    ensure_writable(&config.data_dir)?;
    let store = Store::open(&config.store())
        .with_context(|| format!("cannot open {}", config.database_name()))?;
    let data = reference::liaocheng()
        .map_err(|e| anyhow::anyhow!("built-in reference data is invalid: {e}"))?;
    store.write(move |c| seed::load_reference(c, &data)).await?;
    Ok(store)
}

/// Fails early, and says so, when the data folder cannot take writes (mounted read-only, full, or
/// not ours): SQLite would otherwise report only that it cannot open the database.
///
/// The probe is named for this process: several processes open one data folder at once (the
/// server, a `lantian backup` or `rollup` beside it, the scheduler's rollup children), and with one
/// shared name one process's removal made another's fail with "no such file".
fn ensure_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(
        ".write-probe-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = std::fs::write(&probe, b"lantian").and_then(|()| std::fs::remove_file(&probe));
    result.with_context(|| {
        format!(
            "the data folder {} does not take writes (read-only, full, or not ours)",
            dir.display()
        )
    })
}

/// Loads the demo users and subjects unless already there. The demo passwords are hashed in
/// parallel on the blocking pool before the single write.
pub async fn load_demo(store: &Store) -> anyhow::Result<bool> {
    if store.read(seed::demo_loaded).await? {
        return Ok(false);
    }
    let demo = reference::demo();
    let hashes = vec![reference::DEMO_PASSWORD_HASH.to_owned(); demo.users.len()];
    Ok(store
        .write(move |c| seed::load_demo(c, &demo, &hashes))
        .await?)
}

/// The token signing key: on SQLite the file `data_dir/jwt-hs256.key`; on PostgreSQL, where
/// several nodes must sign and check the same tokens, a row of the database (made by the first
/// node to start, readable only to those who can read the database).
pub async fn signing_key(config: &Config, store: &Store) -> anyhow::Result<JwtKeys> {
    if config.database_url.is_none() {
        return load_or_create_key(&config.data_dir);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let candidate = hex::encode(bytes);
    let hex_key = store
        .write(move |c| lantian_store::identity::shared_signing_key(c, &candidate))
        .await?;
    let secret = hex::decode(&hex_key).context("the stored signing key is not hex")?;
    JwtKeys::from_secret(&secret).map_err(|e| anyhow::anyhow!("the stored signing key: {e}"))
}

/// The HS256 signing key in `data_dir/jwt-hs256.key`, created (32 random bytes, mode 0600) on first
/// start. Deleting the file signs everyone out.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<JwtKeys> {
    let path = data_dir.join("jwt-hs256.key");
    let hex_key = match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let hex_key = hex::encode(bytes);
            let tmp = data_dir.join("jwt-hs256.key.tmp");
            {
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts
                    .open(&tmp)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                f.write_all(hex_key.as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            hex_key
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let secret = hex::decode(&hex_key).with_context(|| format!("{} is not hex", path.display()))?;
    JwtKeys::from_secret(&secret).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Starts a server: everything `lantian serve` does, then serves on `config.listen` (port 0 picks a
/// free port; the chosen address is in [`Running::addr`]) until [`Running::stop`] or `shutdown`.
pub async fn start(
    config: &Config,
    demo: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let store = open_store(config).await?;
    if demo {
        load_demo(&store).await?;
    }
    // What a backup killed with the last process left behind.
    let leftovers = crate::backup::remove_leftovers(
        &crate::backup::backup_dir(config),
        std::time::Duration::ZERO,
    )?;
    if leftovers > 0 {
        tracing::info!(leftovers, "removed what killed backups left behind");
    }
    let console = config.console()?;
    let keys = signing_key(config, &store).await?;
    let state = lantian_http::AppState::new(store.clone(), keys, config.http()?)
        .map_err(|e| anyhow::anyhow!("cannot start the HTTP layer: {e}"))?;
    crate::jobs::start_background(
        state.app(),
        std::time::Duration::from_secs(config.photos.expiry_sweep_secs.max(1)),
        std::time::Duration::from_secs(config.rectification.sweep_secs.max(1)),
        config.webhooks.clone(),
    );
    // The demo's history goes first when it is to be laid down: the jobs' catch-up waits for it.
    let history = demo
        && config.demo_history
        && !store
            .read(|c| {
                lantian_store::assessment::job_done(
                    c,
                    lantian_app::demo::JOB,
                    lantian_app::demo::KEY,
                )
            })
            .await?;
    let (history_tx, history_done) = if history {
        let (tx, rx) = oneshot::channel::<()>();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let scheduler = if config.jobs.enabled {
        Some(crate::jobs::start(config, &store, config.jobs.schedule(), history_done).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        tokio::select! {
            _ = rx => {}
            _ = shutdown => {}
        }
    };
    if let Some(done) = history_tx {
        // Serving starts now; the history is laid down behind it (its photos' renditions after).
        let app = state.app().clone();
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match app.demo_history(today).await {
                Ok(Some(r)) => tracing::info!(
                    inspections = r.inspections,
                    photos = r.photos,
                    reviews = r.reviews,
                    orders = r.orders,
                    reinspections = r.reinspections,
                    refused = r.refused,
                    secs = started.elapsed().as_secs_f64(),
                    "demo history laid down"
                ),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "the demo history failed"),
            }
            let _ = done.send(());
        });
    }
    let task = tokio::spawn(lantian_http::serve(
        listener,
        lantian_http::router_with(state, lantian_console::routes(console)),
        std::time::Duration::from_secs(config.header_read_timeout_secs.max(1)),
        stop,
    ));
    Ok(Running {
        addr,
        store,
        _scheduler: scheduler,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    /// Processes that open one data folder at the same moment (threads stand in for them here)
    /// each find it writable: no probe of one is removed under another.
    #[test]
    fn the_write_probe_holds_when_many_check_one_folder_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        std::thread::scope(|s| {
            let checks: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..200).all(|_| super::ensure_writable(dir.path()).is_ok())))
                .collect();
            for c in checks {
                assert!(c.join().expect("thread"), "a check failed");
            }
        });
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}

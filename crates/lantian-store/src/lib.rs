//! lantian-store: lantian's storage, on SQLite (the default, a file in the data folder) or on
//! PostgreSQL (`database_url`, for several nodes; decision 0028).
//!
//! One writer thread owns the only write connection and commits concurrent requests together
//! (group commit: one transaction per batch, a savepoint per request, every request acknowledged
//! only after the batch's single commit). A few reader connections serve queries in parallel.
//! Every SQLite connection gets the pragmas of DESIGN §2 at open. On PostgreSQL each node has its
//! own writer, and every write transaction of every node first takes one advisory lock: commits
//! happen one at a time across the deployment, so commit order is the order of the change log's
//! sequence, the audit chain has one head, and a scope's checksum is read and written by one
//! transaction at a time, exactly as with one SQLite writer.
//!
//! # Layout
//! - [`Store`] — open, migrate, `read`/`write`, and the typed operations the server uses.
//! - `db`: the two engines behind one statement interface (`db::sqlite`, `db::pg`).
//! - `writer`: the group-committing writer thread; `readers`: the reader pool.
//! - `migrate`: the embedded `migrations/NNNN_name.sql` files and their bookkeeping.
//! - [`assessment`] — month snapshots, rollups and their revisions, job runs.
//! - [`audit`] — the append-only, hash-chained audit log.
//! - [`org`], [`subjects`], [`templates`], [`identity`] — typed queries by area.
//! - [`geo`] — location verdicts of inspections, the subject revision, positions for the index.
//! - [`media`] — uploads in progress, verified photos, media completion of inspections.
//! - [`review`] — the review queue and decisions; [`rectify`] — rectification orders.
//! - [`seed`] — loading reference and demo data.
//! - [`webhooks`] — endpoints other systems registered, and the outbox of their deliveries.
//!
//! Returns domain types and [`StoreError`]; no HTTP types. Must not depend on axum or tokio beyond
//! its channels and blocking pool.

pub mod assessment;
pub mod audit;
pub mod clock;
mod cols;
mod conn;
pub mod copy;
pub mod db;
mod error;
pub mod geo;
pub mod identity;
pub mod media;
mod migrate;
pub mod org;
pub mod pull;
pub mod push;
mod readers;
pub mod rectify;
pub mod review;
pub mod seal;
pub mod seed;
pub mod sessions;
pub mod subjects;
pub mod sync;
pub mod templates;
mod tx;
pub mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::StoreError;
pub use migrate::{MIGRATIONS, PG_MIGRATIONS, migrate, migrate_file};
#[cfg(feature = "test-door")]
pub use tx::Raw;
pub use tx::{Engine, Tx};
pub use writer::WriterStats;

/// Settings of a store.
#[derive(Clone)]
pub struct StoreConfig {
    /// The SQLite database file (when `database_url` is not set).
    pub path: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host:port/db`) instead of the file.
    pub database_url: Option<String>,
    /// Reader connections (parallel queries).
    pub readers: usize,
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// Thresholds of location verdicts, for inspections recorded before verdicts existed.
    pub verdicts: lantian_domain::geo::VerdictThresholds,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("path", &self.path)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("readers", &self.readers)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// A database URL without its password, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// For tests and benchmarks (`test-door` feature): fresh PostgreSQL databases.
#[cfg(feature = "test-door")]
pub mod testing {
    /// A fresh, empty database on the PostgreSQL server `admin_url` names (an administrator's
    /// URL), collated byte by byte as lantian requires, named `{prefix}_{uuid}`; its URL. Made on
    /// a thread of its own (the blocking client must not run on an async thread).
    pub fn fresh_postgres_database(admin_url: &str, prefix: &str) -> String {
        let admin = admin_url.to_owned();
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let create = name.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", crate::redact_url(&admin)));
            if let Err(e) = c.batch_execute(&format!(
                "CREATE DATABASE {create} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            )) {
                panic!("create database {create}: {e}");
            }
        })
        .join()
        .unwrap_or_else(|_| panic!("creating a database failed"));
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        format!("{base}/{name}")
    }
}

/// A job's lock across the nodes (see [`Store::try_job_lock`]); released when dropped.
pub struct JobLock {
    held: JobLockHeld,
}

enum JobLockHeld {
    Local(
        String,
        Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    ),
    /// The connection holding the advisory lock: closing it releases the lock.
    Postgres(#[allow(dead_code)] Box<Tx>),
}

impl Drop for JobLock {
    fn drop(&mut self) {
        if let JobLockHeld::Local(name, held) = &self.held
            && let Ok(mut held) = held.lock()
        {
            held.remove(name);
        }
    }
}

/// The advisory lock key of a job: the first 8 bytes of the SHA-256 of its name.
fn lock_key(name: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("lantian job {name}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// The advisory lock every write transaction on PostgreSQL takes first (transaction-level: it is
/// released by the commit or the rollback, or by the server when the connection dies).
pub(crate) const PG_WRITE_LOCK: i64 = 0x6c74_7772_6974_6572; // "ltwriter"

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            database_url: None,
            readers: 4,
            max_batch: 256,
            verdicts: lantian_domain::geo::VerdictThresholds::default(),
        }
    }
}

/// The store: cheap to clone, shared by all request handlers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Writer,
    readers: readers::Readers,
    /// Opens a connection of PostgreSQL (job locks hold one each); `None` on SQLite.
    connect: Option<readers::Connect>,
    /// The job locks this process holds, on SQLite (one process has the database).
    local_locks: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    path: PathBuf,
    engine: Engine,
    /// Statements run by this store's connections.
    statements: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the database, applies pending migrations, starts the writer.
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        match &config.database_url {
            None => Store::open_sqlite(config),
            Some(url) => Store::open_postgres(config, url),
        }
    }

    fn open_sqlite(config: &StoreConfig) -> Result<Store, StoreError> {
        conn::ensure_parent_dir(&config.path)?;
        let mut write_conn = conn::open(&config.path, false)?;
        migrate::apply(&mut write_conn)?;
        let write_conn = Tx::new(write_conn);
        backfill(&write_conn, config)?;
        let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let readers = (0..config.readers.max(1))
            .map(|_| {
                let c = conn::open(&config.path, true)?;
                Ok(Tx::new(c).counting_into(Arc::clone(&statements)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let readers = readers::Readers::new(readers, None);
        let mut write_conn = write_conn
            .into_sqlite()
            .ok_or_else(|| StoreError::Database("not a SQLite connection".into()))?;
        let checkpoints = conn::checkpoint_aside(&mut write_conn, &config.path)?;
        let writer = writer::Writer::start(
            Tx::new(write_conn).counting_into(Arc::clone(&statements)),
            config.max_batch.max(1),
            None,
            Some(checkpoints),
        )?;
        Ok(Store {
            inner: Arc::new(Inner {
                writer,
                readers,
                connect: None,
                local_locks: Arc::default(),
                path: config.path.clone(),
                engine: Engine::Sqlite,
                statements,
            }),
        })
    }

    fn open_postgres(config: &StoreConfig, url: &str) -> Result<Store, StoreError> {
        // The blocking client runs a runtime of its own, which must not start on an async thread:
        // open on a plain thread, wherever this is called from.
        std::thread::scope(|s| {
            s.spawn(|| Store::open_postgres_here(config, url))
                .join()
                .map_err(|_| StoreError::Database("opening the database panicked".into()))?
        })
    }

    fn open_postgres_here(config: &StoreConfig, url: &str) -> Result<Store, StoreError> {
        let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let connect: readers::Connect = {
            let (url, statements) = (url.to_owned(), Arc::clone(&statements));
            Arc::new(move |read_only: bool| {
                let c = Tx::postgres(db::pg::connect(&url)?).counting_into(Arc::clone(&statements));
                if read_only {
                    c.execute_batch("SET default_transaction_read_only = on")?;
                }
                Ok(c)
            })
        };
        let write_conn = connect(false).map_err(|e| {
            StoreError::Database(format!("cannot connect to {}: {e}", redact_url(url)))
        })?;
        check_collation(&write_conn)?;
        migrate::apply_pg(&write_conn)?;
        backfill(&write_conn, config)?;
        let readers = (0..config.readers.max(1))
            .map(|_| connect(true))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let readers = readers::Readers::new(readers, Some(Arc::clone(&connect)));
        let writer = writer::Writer::start(
            write_conn,
            config.max_batch.max(1),
            Some(connect.clone()),
            None,
        )?;
        Ok(Store {
            inner: Arc::new(Inner {
                writer,
                readers,
                connect: Some(connect),
                local_locks: Arc::default(),
                path: config.path.clone(),
                engine: Engine::Postgres,
                statements,
            }),
        })
    }

    /// The lock of job `name` across every node of the deployment, if no one holds it: on
    /// PostgreSQL a session advisory lock on a connection of its own, which the guard keeps (a node
    /// killed while it holds one loses the connection, and the lock goes with it); on SQLite, this
    /// process's.
    pub async fn try_job_lock(&self, name: &str) -> Result<Option<JobLock>, StoreError> {
        let Some(connect) = self.inner.connect.clone() else {
            let mut held = self
                .inner
                .local_locks
                .lock()
                .map_err(|_| StoreError::Closed)?;
            return Ok(held.insert(name.to_owned()).then(|| JobLock {
                held: JobLockHeld::Local(name.to_owned(), Arc::clone(&self.inner.local_locks)),
            }));
        };
        let key = lock_key(name);
        tokio::task::spawn_blocking(move || {
            let conn = connect(false)?;
            let got: bool =
                conn.query_row("SELECT pg_try_advisory_lock(?1)", [key], |r| r.get(0))?;
            Ok(got.then_some(JobLock {
                held: JobLockHeld::Postgres(Box::new(conn)),
            }))
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
    }

    /// [`Store::try_job_lock`], waiting (polling every `every`) until the lock is free: a node that
    /// waits takes the job over when its holder ends or dies.
    pub async fn job_lock(
        &self,
        name: &str,
        every: std::time::Duration,
    ) -> Result<JobLock, StoreError> {
        loop {
            if let Some(lock) = self.try_job_lock(name).await? {
                return Ok(lock);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many SQL statements this store's connections have run since it opened (reads and
    /// writes): each run of a statement, and each batch of transaction control, counts one; the
    /// trigger programs inside them do not. Counted by the transaction handle, the same on both
    /// engines.
    pub fn statements_run(&self) -> u64 {
        self.inner
            .statements
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` inside the writer's current batch transaction, in a savepoint of its own. Resolves
    /// only after the batch is committed: an `Ok` here is durable. If `f` fails, only its own
    /// savepoint is rolled back.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.writer.submit(f).await
    }

    /// [`Store::write`] recorded as of `at`: every time the store records inside `f` is `at`
    /// ([`clock`]). For laying down a history (the demo's past months), never for requests.
    pub async fn write_at<T, F>(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner
            .writer
            .submit(move |c| clock::at(at, || f(c)))
            .await
    }

    /// Runs a query on a reader connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.run(f).await
    }

    /// Counters of the writer: transactions committed, requests applied.
    pub fn writer_stats(&self) -> &WriterStats {
        self.inner.writer.stats()
    }

    /// Whether the writer is running and the database answers a query.
    pub async fn ready(&self) -> bool {
        self.inner.writer.is_running()
            && self
                .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                .await
                .is_ok()
    }
}

/// The write transaction of either engine: SQLite's `BEGIN IMMEDIATE` (the one writer's lock), or
/// on PostgreSQL a transaction that first takes the deployment's write lock.
pub(crate) fn begin_write(conn: &Tx) -> Result<(), StoreError> {
    match conn.engine() {
        Engine::Sqlite => conn.execute_batch("BEGIN IMMEDIATE")?,
        Engine::Postgres => conn.execute_batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"
        ))?,
    }
    Ok(())
}

/// What the store fills in once after migrations (synced entities that predate sync, location
/// verdicts that predate verdicts), in one write transaction.
fn backfill(conn: &Tx, config: &StoreConfig) -> Result<(), StoreError> {
    begin_write(conn)?;
    let filled =
        sync::backfill(conn).and_then(|()| geo::backfill(conn, &config.verdicts).map(|_| ()));
    match filled {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

/// Times and codes are compared and sorted as text, byte by byte on SQLite: a PostgreSQL database
/// must collate the same way ("C"), or ranges of times and the order of pages would differ.
fn check_collation(conn: &Tx) -> Result<(), StoreError> {
    let (collate, name): (String, String) = conn.query_row(
        "SELECT datcollate, datname FROM pg_database WHERE datname = current_database()",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let bytewise = matches!(
        collate.as_str(),
        "C" | "POSIX" | "C.UTF-8" | "C.utf8" | "ucs_basic"
    );
    if !bytewise {
        return Err(StoreError::Database(format!(
            "the database {name} collates text as {collate}; lantian needs byte order. Create it with \
             CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )));
    }
    Ok(())
}

/// Current time as stored: RFC 3339, UTC, milliseconds.
pub fn now_text() -> String {
    time_text(clock::now())
}

/// A time as stored: RFC 3339, UTC, milliseconds.
pub(crate) fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

/// A column that holds something the code cannot read back: reported as corrupt data.
pub(crate) fn corrupt(column: usize, message: String) -> db::Error {
    db::corrupt(column, message)
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Copies the database at `db` to `dest` with SQLite's online backup API, from a connection of its
/// own: a consistent copy while the server keeps writing. `dest` must not exist.
pub fn backup_database(db: &Path, dest: &Path) -> Result<(), StoreError> {
    if dest.exists() {
        return Err(StoreError::Conflict("backup_exists"));
    }
    let src = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(std::time::Duration::from_secs(5))?;
    src.backup(
        rusqlite::MAIN_DB,
        dest,
        None::<fn(rusqlite::backup::Progress)>,
    )?;
    // A backup is one self-contained file: no write-ahead log beside it.
    let copy = rusqlite::Connection::open(dest)?;
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    Ok(())
}

/// `PRAGMA integrity_check` of the database file at `path` ("ok" when sound).
pub fn integrity_check(path: &Path) -> Result<String, StoreError> {
    let c =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

/// The SHA-256 of every verified photo's original, for a backup's manifest (photos are kept by
/// reference: the blob store is content-addressed and never rewritten).
pub fn photo_hashes(conn: &Tx) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare("SELECT DISTINCT sha256 FROM photos ORDER BY sha256")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

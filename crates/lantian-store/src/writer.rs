//! The single writer with group commit.
//!
//! Requests queue on a channel. The writer thread takes the first, then whatever else is already
//! waiting (up to `max_batch`), and runs them all in one `BEGIN IMMEDIATE` transaction, each in a
//! savepoint of its own: a request that fails rolls back to its savepoint and the others go on.
//! After the single `COMMIT`, every request of the batch is answered. With `synchronous=FULL` the
//! fsync is the cost of a write, so sharing it among many requests is how durable writes stay fast.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::{StoreError, Tx};

/// Called once the batch's fate is known: `Ok` after a successful commit.
type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// Runs one request against the connection (or learns it cannot run); says whether it succeeded.
type Job = Box<dyn FnOnce(Result<&Tx, StoreError>) -> (bool, Finisher) + Send>;

#[derive(Debug, Default)]
pub struct WriterStats {
    transactions: AtomicU64,
    requests: AtomicU64,
    failed_commits: AtomicU64,
}

impl WriterStats {
    /// Transactions committed.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
    /// Requests run (committed or rolled back to their savepoint).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn failed_commits(&self) -> u64 {
        self.failed_commits.load(Ordering::Relaxed)
    }
}

pub(crate) struct Writer {
    /// `None` once the writer is closing.
    tx: Option<mpsc::Sender<Job>>,
    stats: Arc<WriterStats>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer's thread on `conn`. `companion` is a thread that ends once `conn` has
    /// closed (the checkpoints of SQLite's log): the writer's thread waits for it before it ends.
    pub(crate) fn start(
        conn: Tx,
        max_batch: usize,
        reconnect: Option<crate::readers::Connect>,
        companion: Option<std::thread::JoinHandle<()>>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let stats = Arc::new(WriterStats::default());
        let running = Arc::new(AtomicBool::new(true));
        let (s, r) = (stats.clone(), running.clone());
        let thread = std::thread::Builder::new()
            .name("lantian-writer".into())
            .spawn(move || {
                run(conn, rx, max_batch, &s, reconnect.as_ref());
                if let Some(companion) = companion {
                    let _ = companion.join();
                }
                r.store(false, Ordering::SeqCst);
            })
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Writer {
            tx: Some(tx),
            stats,
            running,
            thread: Some(thread),
        })
    }

    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub(crate) async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| match conn {
            Err(e) => {
                let finish: Finisher = Box::new(move |_| {
                    let _ = done_tx.send(Err(e));
                });
                (false, finish)
            }
            Ok(conn) => {
                let result =
                    std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
                        Err(StoreError::Database(
                            "a write panicked; it was rolled back".into(),
                        ))
                    });
                let ok = result.is_ok();
                let finish: Finisher = Box::new(move |commit| {
                    let _ = done_tx.send(commit.and(result));
                });
                (ok, finish)
            }
        });
        let queue = self.tx.as_ref().ok_or(StoreError::Closed)?;
        queue.send(job).await.map_err(|_| StoreError::Closed)?;
        done_rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread: it commits what it holds, closes its connection
    /// and ends. A store that is gone has stopped writing its files, so that a stopped
    /// deployment's database may be copied at once.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            // Dropped by one of its own jobs (one that held the last handle on the store): the
            // thread ends by itself once the job returns.
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn run(
    mut conn: Tx,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stats: &WriterStats,
    reconnect: Option<&crate::readers::Connect>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        // PostgreSQL dropped the connection (a restart, a failover): a new one for this batch, or
        // the batch fails as transient and its requests are retried by their clients.
        if conn.is_broken()
            && let Some(connect) = reconnect
        {
            match connect(false) {
                Ok(fresh) => conn = fresh,
                Err(e) => tracing::warn!(error = %e, "the database is unreachable"),
            }
        }
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, stats);
    }
    tracing::debug!("writer stopped: all senders dropped");
}

fn run_batch(conn: &Tx, batch: &mut Vec<Job>, stats: &WriterStats) {
    if let Err(err) = crate::begin_write(conn) {
        for job in batch.drain(..) {
            let (_, finish) = job(Err(err.clone()));
            finish(Err(err.clone()));
        }
        return;
    }
    let mut finishers = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch.drain(..) {
        if let Some(err) = &broken {
            let (_, finish) = job(Err(err.clone()));
            finishers.push(finish);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT request") {
            let err = StoreError::from(e);
            let (_, finish) = job(Err(err.clone()));
            finishers.push(finish);
            broken = Some(err);
            continue;
        }
        let (ok, finish) = job(Ok(conn));
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let end = if ok {
            conn.execute_batch("RELEASE request")
        } else {
            conn.execute_batch("ROLLBACK TO request; RELEASE request")
        };
        finishers.push(finish);
        if let Err(e) = end {
            broken = Some(StoreError::from(e));
        }
    }
    let outcome = match broken {
        Some(err) => Err(err),
        None => conn.execute_batch("COMMIT").map_err(StoreError::from),
    };
    match &outcome {
        Ok(()) => {
            stats.transactions.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "batch transaction failed; rolling back");
            if conn.in_transaction() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    for finish in finishers {
        finish(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Store, StoreConfig, StoreError};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&StoreConfig::new(dir.path().join("db.sqlite"))).expect("open");
        store
            .write(|c| {
                c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?;
                Ok(())
            })
            .await
            .expect("create");
        (dir, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_share_transactions_and_a_failure_rolls_back_only_itself() {
        let (_dir, store) = store().await;
        let before = store.writer_stats().transactions();
        let n = 200i64;
        // Start all writes before any can finish, so the writer finds a queue to batch.
        let barrier = Arc::new(tokio::sync::Barrier::new(n as usize));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (store, barrier) = (store.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .write(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [i])?;
                        if i == 77 {
                            // Fails after its insert: its savepoint must take the insert back.
                            return Err(StoreError::Conflict("test_failure"));
                        }
                        Ok(i)
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.expect("join") {
                Ok(v) => {
                    assert_eq!(v, i as i64);
                    ok += 1;
                }
                Err(StoreError::Conflict("test_failure")) => assert_eq!(i, 77),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(ok, n - 1);
        let transactions = store.writer_stats().transactions() - before;
        assert!(
            transactions < n as u64,
            "{transactions} transactions for {n} writes"
        );
        let (count, has_77): (i64, i64) = store
            .read(|c| {
                Ok(c.query_row("SELECT count(*), sum(n = 77) FROM t", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?)
            })
            .await
            .expect("read");
        assert_eq!(count, n - 1);
        assert_eq!(has_77, 0);
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_keeps_going() {
        let (_dir, store) = store().await;
        let r = store
            .write(|c| -> Result<(), StoreError> {
                c.execute("INSERT INTO t (n) VALUES (1)", [])?;
                panic!("boom");
            })
            .await;
        assert!(r.is_err());
        store
            .write(|c| Ok(c.execute("INSERT INTO t (n) VALUES (2)", [])?))
            .await
            .expect("writer still works");
        let rows: Vec<i64> = store
            .read(|c| {
                let mut s = c.prepare("SELECT n FROM t ORDER BY n")?;
                let v = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(v)
            })
            .await
            .expect("read");
        assert_eq!(rows, vec![2]);
    }

    /// The write-ahead log is copied into the database by the checkpoint thread once it passes
    /// its mark, well before the writer would copy it itself; and a store that is gone has closed
    /// every connection, the last of which removed the log: its files may be copied at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_beside_the_writer_and_a_closed_store_has_let_go_of_its_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let wal = dir.path().join("db.sqlite-wal");
        let store = Store::open(&StoreConfig::new(path.clone())).expect("open");
        store
            .write(|c| Ok(c.execute_batch("CREATE TABLE blobs (b BLOB NOT NULL)")?))
            .await
            .expect("create");
        let size = || std::fs::metadata(&path).expect("database file").len();
        let before = size();
        // About 2,000 pages of 4 KiB in 20 commits: past the thread's mark (1,000), short of
        // the writer's own (4,000). In WAL mode only a checkpoint makes the database file grow.
        for _ in 0..20 {
            store
                .write(|c| {
                    for _ in 0..100 {
                        c.execute("INSERT INTO blobs (b) VALUES (zeroblob(4000))", [])?;
                    }
                    Ok(())
                })
                .await
                .expect("insert");
        }
        let mut grown = false;
        for _ in 0..200 {
            if size() > before + 2_000_000 {
                grown = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(grown, "the database file stayed at {} bytes", size());
        assert!(wal.exists());
        drop(store);
        assert!(!wal.exists(), "the log outlived the store");
    }

    #[tokio::test]
    async fn an_acknowledged_write_is_visible_to_readers_at_once() {
        let (_dir, store) = store().await;
        store
            .write(|c| Ok(c.execute("INSERT INTO t (n) VALUES (5)", [])?))
            .await
            .expect("write");
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t WHERE n = 5", [], |r| r.get(0))?))
            .await
            .expect("read");
        assert_eq!(n, 1);
    }
}

//! A bounded set of threads for decoding: at most `threads` images are decoded at once, whatever
//! the number of uploads, so memory stays bounded and the async threads never decode.
//!
//! The threads are a rayon pool of their own: `jpeg-decoder` runs a large image's inverse
//! transforms and colour conversion as rayon tasks on the pool it is called from, so they stay on
//! these threads. Without it, the decoder started a thread per colour component for every large
//! image: more threads decoding than `threads` grants, beside the server's async threads, and a
//! hand-off per row of blocks.
//!
//! The threads end once they have had nothing to do for [`IDLE`], and the next job starts them
//! again. A thread's allocator keeps the memory its last images were decoded in until that thread
//! allocates again; a thread that ends gives it back. Kept alive, the idle threads held it for as
//! long as no photo came (docs/performance.md, "What the idle threads held").

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

/// How long the threads wait for another job before they end.
pub const IDLE: Duration = Duration::from_secs(2);

/// Why a job did not give its result.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    /// The job panicked (caught on its thread).
    #[error("the job panicked")]
    Panicked,
    /// The threads could not be started again: retry later.
    #[error("cannot start the decode threads: {0}")]
    NoThreads(String),
}

/// The decode pool. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    threads: usize,
    /// [`IDLE`], but for tests.
    idle: Duration,
    permits: Semaphore,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None` while the threads are ended.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Jobs handed to the threads and not yet returned.
    busy: usize,
    /// How many times the threads were started.
    starts: u64,
    /// How many times `busy` fell to zero: a timer ends the threads only if no job came since.
    idled: u64,
}

impl Pool {
    /// Starts `threads` decoding threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Pool> {
        Pool::with_idle(threads, IDLE)
    }

    fn with_idle(threads: usize, idle: Duration) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let pool = build(threads)?;
        Ok(Pool {
            inner: Arc::new(Inner {
                threads,
                idle,
                permits: Semaphore::new(threads),
                state: Mutex::new(State {
                    pool: Some(Arc::new(pool)),
                    starts: 1,
                    ..State::default()
                }),
            }),
        })
    }

    /// Runs `f` on a pool thread, waiting (asynchronously) for a free one.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Lost> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| Lost::Panicked)?;
        let (pool, busy) = self.enter()?;
        let (tx, rx) = oneshot::channel();
        pool.spawn(move || {
            // Caught here: a panic that reached rayon would end the process.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // Counted out before the result is sent: whoever waits for it finds the idle timer
            // already set. Counted out by the job, not by its caller, so the threads are not
            // ended under a job whose caller stopped waiting.
            drop(busy);
            if let Ok(v) = out {
                let _ = tx.send(v);
            }
        });
        drop(pool);
        rx.await.map_err(|_| Lost::Panicked)
    }

    /// The threads, started if they had ended, and the job counted as busy until the guard drops.
    fn enter(&self) -> Result<(Arc<rayon::ThreadPool>, Busy), Lost> {
        let mut s = self.inner.lock();
        let pool = match &s.pool {
            Some(p) => Arc::clone(p),
            None => {
                let p = Arc::new(
                    build(self.inner.threads).map_err(|e| Lost::NoThreads(e.to_string()))?,
                );
                s.pool = Some(Arc::clone(&p));
                s.starts += 1;
                p
            }
        };
        s.busy += 1;
        let busy = Busy {
            inner: Arc::downgrade(&self.inner),
            // Outside a runtime (never, in the server) the threads are simply kept.
            rt: tokio::runtime::Handle::try_current().ok(),
        };
        Ok((pool, busy))
    }

    /// Whether the threads are running (they end after [`IDLE`] without a job).
    pub fn started(&self) -> bool {
        self.inner.lock().pool.is_some()
    }

    /// How many times the threads were started, the first time included.
    pub fn starts(&self) -> u64 {
        self.inner.lock().starts
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a counter and an `Option`: a panic elsewhere cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A job on the threads. When the last one is done, a timer on the caller's runtime ends the
/// threads after [`IDLE`] unless another job came.
struct Busy {
    inner: Weak<Inner>,
    rt: Option<tokio::runtime::Handle>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mark = {
            let mut s = inner.lock();
            s.busy -= 1;
            if s.busy > 0 {
                return;
            }
            s.idled += 1;
            s.idled
        };
        let Some(rt) = &self.rt else {
            return;
        };
        let (weak, idle) = (Weak::clone(&self.inner), inner.idle);
        rt.spawn(async move {
            tokio::time::sleep(idle).await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let ended = {
                let mut s = inner.lock();
                if s.busy == 0 && s.idled == mark {
                    s.pool.take()
                } else {
                    None
                }
            };
            // Dropped outside the lock: rayon tells its threads to end, and they do once idle.
            drop(ended);
        });
    }
}

fn build(threads: usize) -> std::io::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lantian-decode-{i}"))
        .build()
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = Pool::start(2).expect("pool");
        assert_eq!(pool.run(|| 2 + 2).await.ok(), Some(4));
        assert!(matches!(
            pool.run(|| -> i32 { panic!("boom") }).await,
            Err(Lost::Panicked)
        ));
        assert_eq!(pool.run(|| 7).await.ok(), Some(7));
    }

    /// Real time: a paused clock would jump ahead whenever the runtime waits for a pool thread.
    /// Each check that depends on this machine not stalling for the idle time says so.
    #[tokio::test]
    async fn the_threads_end_when_idle_and_start_again_for_the_next_job() {
        use std::time::Instant;
        let idle = Duration::from_millis(300);
        let pool = Pool::with_idle(1, idle).expect("pool");
        // A job that outlasts the idle time: the timer set when the first job ended finds the
        // threads busy and leaves them.
        assert_eq!(pool.run(|| 1).await.ok(), Some(1));
        let ended = pool
            .run(move || {
                std::thread::sleep(idle * 2);
                Instant::now()
            })
            .await
            .expect("ran");
        let up = pool.started();
        if ended.elapsed() < idle {
            assert!(up, "ended under a job, or right after it");
            assert_eq!(pool.starts(), 1);
        }
        // Idle: they end (the wait is bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.started() {
            assert!(
                Instant::now() < deadline,
                "still running 10 s after the last job"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The next job starts them again.
        let before = pool.starts();
        assert_eq!(pool.run(|| 3).await.ok(), Some(3));
        assert_eq!(pool.starts(), before + 1);
    }
}

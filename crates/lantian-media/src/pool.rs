//! A fixed set of threads for decoding: at most `threads` images are decoded at once, whatever the
//! number of uploads, so memory stays bounded and the async threads never decode.

use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::{Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// The decode pool. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    tx: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// Starts `threads` decoding threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("lantian-decode-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Pool {
            tx,
            permits: Arc::new(Semaphore::new(threads)),
        })
    }

    /// Runs `f` on a pool thread, waiting (asynchronously) for a free one. `None` if the pool has
    /// stopped or `f` panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            if let Ok(v) = out {
                let _ = tx.send(v);
            }
        });
        self.tx.send(job).ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = Pool::start(2).expect("pool");
        assert_eq!(pool.run(|| 2 + 2).await, Some(4));
        assert_eq!(pool.run(|| -> i32 { panic!("boom") }).await, None);
        assert_eq!(pool.run(|| 7).await, Some(7));
    }
}

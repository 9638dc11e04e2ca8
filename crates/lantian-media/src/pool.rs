//! A fixed set of threads for decoding: at most `threads` images are decoded at once, whatever the
//! number of uploads, so memory stays bounded and the async threads never decode.
//!
//! The threads are a rayon pool of their own: `jpeg-decoder` runs a large image's inverse
//! transforms and colour conversion as rayon tasks on the pool it is called from, so they stay on
//! these threads. Without it, the decoder started a thread per colour component for every large
//! image: more threads decoding than `threads` grants, beside the server's async threads, and a
//! hand-off per row of blocks.

use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot};

/// The decode pool. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    threads: Arc<rayon::ThreadPool>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// Starts `threads` decoding threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("lantian-decode-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Pool {
            threads: Arc::new(pool),
            permits: Arc::new(Semaphore::new(threads)),
        })
    }

    /// Runs `f` on a pool thread, waiting (asynchronously) for a free one. `None` if `f`
    /// panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        let (tx, rx) = oneshot::channel();
        self.threads.spawn(move || {
            // Caught here: a panic that reached rayon would end the process.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            if let Ok(v) = out {
                let _ = tx.send(v);
            }
        });
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

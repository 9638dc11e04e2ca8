//! A fixed pool of threads for password hashing.
//!
//! argon2id needs 19 MiB of working memory per hash. Run on tokio's blocking pool, successive hashes
//! land on different threads, each with its own malloc arena that keeps its 19 MiB: 40 concurrent
//! logins were measured at 750 MB of RSS. A few dedicated threads reuse their own memory, so the
//! cost stays at about 19 MiB per thread, and the thread count is also the concurrency limit that
//! keeps a login burst from taking every core.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Hasher {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl Hasher {
    pub(crate) fn start(threads: usize) -> std::io::Result<Hasher> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("lantian-hash-{i}"))
                .spawn(move || {
                    loop {
                        // Ends when the pool (the sender) is dropped.
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hasher { tx: Mutex::new(tx) })
    }

    /// Runs `f` on a hashing thread and waits for its result without blocking the async runtime.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.tx.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

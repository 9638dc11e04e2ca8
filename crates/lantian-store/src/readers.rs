//! A small pool of reader connections. Queries run on the blocking pool, never on async threads.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::{StoreError, Tx};

#[derive(Clone)]
pub(crate) struct Readers {
    conns: Arc<Mutex<Vec<Tx>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(
        path: &Path,
        n: usize,
        statements: &Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Readers, StoreError> {
        let conns = (0..n)
            .map(|_| {
                let mut c = crate::conn::open(path, true)?;
                crate::conn::count_statements(&mut c, Arc::clone(statements))?;
                Ok(Tx::new(c))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Readers {
            conns: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        // The permit and the connection travel with the query and come back when it ends, even if
        // the caller stops waiting (a client that disconnects drops the request's future): the
        // blocking task, not the caller, returns them.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conns = Arc::clone(&self.conns);
        let conn = conns
            .lock()
            .map_err(|_| StoreError::Closed)?
            .pop()
            .ok_or(StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::Database("a query panicked".into())));
            if let Ok(mut pool) = conns.lock() {
                pool.push(conn);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_that_stops_waiting_does_not_take_a_connection_with_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("db.sqlite");
        crate::migrate_file(&path).expect("migrate");
        let readers = Readers::open(&path, 2, &Arc::default()).expect("readers");
        for _ in 0..10 {
            let slow = readers.run(|c| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
            });
            // Give up on it while it runs.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(2), slow).await;
        }
        for _ in 0..4 {
            let v = readers
                .run(|c| Ok(c.query_row("SELECT 2", [], |r| r.get::<_, i64>(0))?))
                .await
                .expect("the pool still has its connections");
            assert_eq!(v, 2);
        }
    }
}

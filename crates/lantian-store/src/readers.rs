//! A small pool of reader connections. Queries run on the blocking pool, never on async threads.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::StoreError;

#[derive(Clone)]
pub(crate) struct Readers {
    conns: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(path: &Path, n: usize) -> Result<Readers, StoreError> {
        let conns = (0..n)
            .map(|_| crate::conn::open(path, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Readers {
            conns: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self
            .conns
            .lock()
            .map_err(|_| StoreError::Closed)?
            .pop()
            .ok_or(StoreError::Closed)?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            // The connection always comes back to the pool, even if the query panics.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::Database("a query panicked".into())));
            (conn, result)
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?;
        self.conns
            .lock()
            .map_err(|_| StoreError::Closed)?
            .push(conn);
        result
    }
}

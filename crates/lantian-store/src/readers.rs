//! A small pool of reader connections. Queries run on the blocking pool, never on async threads.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::{StoreError, Tx};

/// Opens a connection of the store's database (`true`: a reader's); PostgreSQL's readers and
/// writer reconnect with it when their connection was lost.
pub(crate) type Connect = Arc<dyn Fn(bool) -> Result<Tx, StoreError> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Readers {
    conns: Arc<Mutex<Vec<Tx>>>,
    permits: Arc<Semaphore>,
    reconnect: Option<Connect>,
}

impl Readers {
    pub(crate) fn new(conns: Vec<Tx>, reconnect: Option<Connect>) -> Readers {
        Readers {
            permits: Arc::new(Semaphore::new(conns.len())),
            conns: Arc::new(Mutex::new(conns)),
            reconnect,
        }
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
        let reconnect = self.reconnect.clone();
        tokio::task::spawn_blocking(move || {
            // A connection PostgreSQL dropped (a restart, a failover) is replaced before use; if
            // that fails the query fails as transient and the next one tries again.
            let mut conn = conn;
            if conn.is_broken()
                && let Some(connect) = &reconnect
            {
                match connect(true) {
                    Ok(fresh) => conn = fresh,
                    Err(e) => {
                        if let Ok(mut pool) = conns.lock() {
                            pool.push(conn);
                        }
                        drop(permit);
                        return Err(StoreError::Busy(format!("database unreachable: {e}")));
                    }
                }
            }
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
        let open = || Tx::new(crate::conn::open(&path, true).expect("reader"));
        let readers = Readers::new(vec![open(), open()], None);
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

//! Opening a connection with the pragmas every connection gets.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// Creates the folder a database file lives in, if it has one.
pub(crate) fn ensure_parent_dir(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))?;
    }
    Ok(())
}

/// WAL so readers never block the writer; `synchronous=FULL` because evidence must survive a power
/// cut once acknowledged; foreign keys on; a busy timeout so a checkpoint never fails a request.
pub(crate) fn open(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    // Readers open read-write but set `query_only`: a read-only open of a WAL database fails when
    // it cannot create the shared-memory file, which read-write avoids.
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The push and pull paths reuse a few dozen statements; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    // Plans that do not depend on bound values: without this, a statement whose planning looked
    // at a parameter (does `x = ?` imply a partial index's condition?) is parsed and planned
    // again every time that parameter is bound to a new value, which was a fifth of a push's
    // instructions (docs/performance.md, "Where the CPU goes"). Every query here is a fixed
    // OLTP shape; none relies on a plan chosen per value.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    if !read_only {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "journal_mode is {mode}, not wal"
            )));
        }
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    Ok(conn)
}

/// Pages in the write-ahead log at which the checkpoint thread is woken: SQLite's own
/// `wal_autocheckpoint`.
const CHECKPOINT_FROM_PAGES: i32 = 1000;
/// Pages at which the writer's commit checkpoints itself, as SQLite would. A checkpoint that runs
/// beside the writer copies the log up to where it stood when it began, and the log starts over
/// only when a write finds it copied to the end: under a writer that never pauses that may not
/// happen, and the log would only grow. Past this, the commit finishes the copy itself.
const CHECKPOINT_IN_WRITER_PAGES: i32 = 4 * CHECKPOINT_FROM_PAGES;

/// Where a commit's checkpoint runs, if it needs one.
#[derive(Debug, PartialEq, Eq)]
enum Checkpoint {
    /// On the checkpoint thread, beside the writer.
    Aside,
    /// In the writer's commit.
    Here,
}

/// The log's length when the checkpoint thread was last woken. It is woken again only once
/// another [`CHECKPOINT_FROM_PAGES`] have been written: a checkpoint copies every page written
/// since the last one, so woken by every commit past the mark (as it first was) it copied each
/// commit's pages, the same hot pages again and again, with two `fsync`s each time (a single
/// mutation a request: 4,600 pages a second copied, against 1,200 now).
#[derive(Debug, Default)]
struct Marks {
    woken_at: std::ffi::c_int,
}

impl Marks {
    /// A commit left the log `pages` long.
    fn commit(&mut self, pages: std::ffi::c_int) -> Option<Checkpoint> {
        if pages < self.woken_at {
            // The log started over.
            self.woken_at = 0;
        }
        if pages >= CHECKPOINT_IN_WRITER_PAGES {
            Some(Checkpoint::Here)
        } else if pages >= self.woken_at + CHECKPOINT_FROM_PAGES {
            self.woken_at = pages;
            Some(Checkpoint::Aside)
        } else {
            None
        }
    }
}

/// Moves the write-ahead log's checkpoints off the writer's thread. SQLite runs one in the commit
/// that takes the log past 1,000 pages: 15% of the writer's time on the push path
/// (docs/performance.md, "Statement journals"). Here a thread of its own, on a connection of its
/// own, copies the log into the database when the writer's commit says it passed
/// [`CHECKPOINT_FROM_PAGES`] (and each further [`CHECKPOINT_FROM_PAGES`], [`Marks`]); the writer
/// checkpoints only past [`CHECKPOINT_IN_WRITER_PAGES`].
/// A checkpoint is the same work on either thread, with the same `fsync`s, and a crash during one
/// loses nothing (the log stays until it is copied). The thread ends once the writer's connection
/// has closed; the writer's thread waits for it (the handle returned).
pub(crate) fn checkpoint_aside(
    writer: &mut Connection,
    path: &Path,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let conn = open(path, false)?;
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("lantian-checkpoint".into())
        .spawn(move || {
            // One checkpoint a wake; a wake while one runs waits in the channel (one at most).
            while woken.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "checkpoint failed; the writer will checkpoint");
                }
            }
        })
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let mut marks = Marks::default();
    writer.wal_hook(Some(
        move |wal: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            match marks.commit(pages) {
                // Busy while the thread's checkpoint runs: the next commit asks again. An error
                // returned from here would fail a commit that has happened.
                Some(Checkpoint::Here) => {
                    if let Err(e) = wal.checkpoint() {
                        tracing::debug!(error = %e, pages, "checkpoint in the writer put off");
                    }
                }
                // Full: a wake waits already, and its checkpoint will copy these pages too.
                Some(Checkpoint::Aside) => {
                    let _ = wake.try_send(());
                }
                None => {}
            }
            Ok(())
        },
    ))?;
    Ok(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_thread_is_woken_once_a_thousand_pages_not_by_every_commit_past_them() {
        let mut marks = Marks::default();
        // Commits of 90 pages each, up to where the writer copies the log itself.
        let steps: Vec<(i32, Option<Checkpoint>)> = (1..=45)
            .map(|i| (i * 90, marks.commit(i * 90)))
            .filter(|(_, s)| s.is_some())
            .collect();
        assert_eq!(
            steps,
            vec![
                (1080, Some(Checkpoint::Aside)),
                (2160, Some(Checkpoint::Aside)),
                (3240, Some(Checkpoint::Aside)),
                (4050, Some(Checkpoint::Here)),
            ]
        );
        // The log started over: the first mark counts from its start again.
        assert_eq!(marks.commit(90), None);
        assert_eq!(marks.commit(1000), Some(Checkpoint::Aside));
    }
}

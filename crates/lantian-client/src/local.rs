//! The client's local SQLite store: what a phone keeps on its own disk.
//!
//! - `meta`: client id, server URL, tokens, cursor, the server's last mutation id for this install.
//! - `outbox`: every queued mutation, kept after the server confirmed it (so a server restored from
//!   an older backup can be given them again), with the server's verdict.
//! - `entities`: the pulled data, with the exact JSON text the server sent (checksums cover it).
//! - `photos`: photos waiting to upload, with the tus upload's URL; the local copy is deleted only
//!   once the server's `photo` entity, verified, has been pulled.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // A phone's queue is evidence not yet delivered: durable like the server's.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS outbox (
             mid         INTEGER PRIMARY KEY,
             name        TEXT NOT NULL,
             args        TEXT NOT NULL,
             device_time TEXT NOT NULL,
             status      TEXT,
             code        TEXT
         );
         CREATE TABLE IF NOT EXISTS entities (
             entity    TEXT NOT NULL,
             entity_id TEXT NOT NULL,
             scope     TEXT NOT NULL,
             data      TEXT NOT NULL,
             PRIMARY KEY (entity, entity_id)
         );
         CREATE INDEX IF NOT EXISTS entities_scope ON entities(scope);
         CREATE TABLE IF NOT EXISTS photos (
             photo_id      TEXT PRIMARY KEY,
             inspection_id TEXT NOT NULL,
             path          TEXT NOT NULL,
             sha256        TEXT NOT NULL,
             length        INTEGER NOT NULL,
             upload_url    TEXT,
             state         TEXT NOT NULL DEFAULT 'queued',
             code          TEXT
         );",
    )?;
    Ok(conn)
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn get_i64(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    Ok(get_meta(conn, key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

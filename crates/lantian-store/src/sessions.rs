//! Console sessions: server-side rows named by a cookie (its SHA-256 stored, never the value).
//!
//! Whether a session still holds (idle and absolute expiry, a user disabled, a role or unit
//! changed) is decided by the application layer from what [`find`] reads.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use crate::identity::UserRecord;
use crate::{StoreError, Tx, cols, parse_time, time_text};

/// A new session, as the application layer decided it.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub csrf: &'a str,
    pub lang: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub peer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A stored session with its user as the database has them now.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: i64,
    pub user: UserRecord,
    /// The user's role and unit when the session was opened.
    pub role_at_start: String,
    pub unit_at_start: i64,
    /// The user's unit now (its row id).
    pub unit_now: i64,
    pub csrf: String,
    pub lang: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Opens a session for user `user_id`, remembering the role and unit the user has now.
pub fn open(conn: &Tx, s: &NewSession<'_>) -> Result<(), StoreError> {
    let now = time_text(s.now);
    let inserted = conn.execute(
        "INSERT INTO console_sessions
            (token_hash, user_id, role, unit_id, csrf, lang, created_at, last_seen_at, expires_at, peer, user_agent)
         SELECT ?1, us.id, us.role, us.unit_id, ?3, ?4, ?5, ?5, ?6, ?7, ?8 FROM users us WHERE us.id = ?2",
        params![
            s.token_hash,
            s.user_id,
            s.csrf,
            s.lang,
            now,
            time_text(s.expires_at),
            s.peer,
            s.user_agent
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The session whose cookie hashes to `token_hash`, with its user.
pub fn find(conn: &Tx, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT s.id, s.role, s.unit_id, s.csrf, s.lang, s.created_at, s.last_seen_at,
                    s.expires_at, s.revoked_at IS NOT NULL, us.uuid, us.unit_id
             FROM console_sessions s JOIN users us ON us.id = s.user_id
             WHERE s.token_hash = ?1",
        )?
        .query_row([token_hash], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, bool>(8)?,
                cols::uuid(r, 9)?,
                r.get::<_, i64>(10)?,
            ))
        })
        .optional()?;
    let Some((id, role, unit, csrf, lang, created, seen, expires, revoked, uuid, unit_now)) = row
    else {
        return Ok(None);
    };
    let user = crate::identity::user_by_uuid(conn, uuid)?.ok_or(StoreError::NotFound)?;
    Ok(Some(SessionRecord {
        id,
        user,
        role_at_start: role,
        unit_at_start: unit,
        unit_now,
        csrf,
        lang,
        created_at: parse_time(&created)?,
        last_seen_at: parse_time(&seen)?,
        expires_at: parse_time(&expires)?,
        revoked,
    }))
}

/// Records activity on session `id` (its idle expiry counts from here).
pub fn touch(conn: &Tx, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE console_sessions SET last_seen_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, time_text(now)],
    )?;
    Ok(())
}

/// The language session `id` shows pages in.
pub fn set_lang(conn: &Tx, id: i64, lang: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE console_sessions SET lang = ?2 WHERE id = ?1",
        params![id, lang],
    )?;
    Ok(())
}

/// Ends session `id` (sign-out, expiry, or a user changed under it).
pub fn revoke(conn: &Tx, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE console_sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, crate::now_text()],
    )?;
    Ok(())
}

/// Ends every open session of user `user_id`; how many were open.
pub fn revoke_user(conn: &Tx, user_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE console_sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, crate::now_text()],
    )?)
}

/// Forgets sessions that ended (revoked or expired) before `before`: they name no evidence.
pub fn forget_ended(conn: &Tx, before: DateTime<Utc>) -> Result<usize, StoreError> {
    let t = time_text(before);
    Ok(conn.execute(
        "DELETE FROM console_sessions WHERE expires_at < ?1 OR revoked_at < ?1",
        [t],
    )?)
}

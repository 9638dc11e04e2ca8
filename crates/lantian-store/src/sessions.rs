//! Console sessions: server-side rows named by a cookie (its SHA-256 stored, never the value).
//!
//! Whether a session still holds (idle and absolute expiry, a user disabled, a role or unit
//! changed) is decided by the application layer from what [`find`] reads.

use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use crate::identity::UserRecord;
use crate::{StoreError, Tx, cols, parse_time, time_text};

/// A new session, as the application layer decided it.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    /// The session's name in lists (random; tells nothing of the cookie).
    pub public_id: &'a str,
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
            (token_hash, user_id, role, unit_id, csrf, lang, created_at, last_seen_at, expires_at, peer, user_agent, public_id)
         SELECT ?1, us.id, us.role, us.unit_id, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9 FROM users us WHERE us.id = ?2",
        params![
            s.token_hash,
            s.user_id,
            s.csrf,
            s.lang,
            now,
            time_text(s.expires_at),
            s.peer,
            s.user_agent,
            s.public_id
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

/// A console session as the people who manage users see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub public_id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub peer: Option<String>,
    pub user_agent: Option<String>,
}

/// The console sessions of user `user_id` neither revoked nor past their absolute expiry, oldest
/// first (one idle for too long is ended on its next use, and listed until then).
pub fn live_of_user(
    conn: &Tx,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<SessionSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT public_id, created_at, last_seen_at, expires_at, peer, user_agent
         FROM console_sessions
         WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 AND public_id IS NOT NULL
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![user_id, time_text(now)], |r| {
        Ok(SessionSummary {
            public_id: r.get(0)?,
            created_at: r.get(1)?,
            last_seen_at: r.get(2)?,
            expires_at: r.get(3)?,
            peer: r.get(4)?,
            user_agent: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ends the session `public_id` if it is user `user_id`'s and open; `false` otherwise.
pub fn revoke_public(conn: &Tx, user_id: i64, public_id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE console_sessions SET revoked_at = ?3
         WHERE user_id = ?1 AND public_id = ?2 AND revoked_at IS NULL",
        params![user_id, public_id, crate::now_text()],
    )? > 0)
}

/// Forgets sessions that ended (revoked or expired) before `before`: they name no evidence.
pub fn forget_ended(conn: &Tx, before: DateTime<Utc>) -> Result<usize, StoreError> {
    let t = time_text(before);
    Ok(conn.execute(
        "DELETE FROM console_sessions WHERE expires_at < ?1 OR revoked_at < ?1",
        [t],
    )?)
}

//! Users, rotating refresh tokens and registered clients (app installs).
//!
//! Password hashing and token crypto live in the HTTP crate; this module stores what they produce.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::user::Role;
use uuid::Uuid;

use crate::org::unit_by_code;
use crate::{StoreError, cols, now_text};

/// A user as the server needs it to authenticate and authorize.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: i64,
    pub uuid: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit: String,
    pub unit_path: Vec<String>,
    pub password_hash: String,
    pub disabled: bool,
    /// The password is a one-time password an administrator set: it signs in nowhere until the
    /// user chose their own.
    pub must_change_password: bool,
    /// When a one-time password lapses (RFC 3339); `None` for a password the user chose.
    pub password_expires_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit: String,
    pub password_hash: String,
    /// Set for a one-time password (an account an administrator opens): when it lapses.
    pub one_time_until: Option<String>,
}

/// The deployment's token signing key (hex) as several nodes share it: `candidate` is stored if
/// none is yet, and the stored one is returned either way (the first node to start makes it).
pub fn shared_signing_key(conn: &Tx, candidate: &str) -> Result<String, StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('jwt-hs256', ?1) ON CONFLICT (key) DO NOTHING",
        [candidate],
    )?;
    Ok(
        conn.query_row("SELECT value FROM meta WHERE key = 'jwt-hs256'", [], |r| {
            r.get(0)
        })?,
    )
}

pub fn create_user(conn: &Tx, u: &NewUser) -> Result<UserRecord, StoreError> {
    if !lantian_domain::user::valid_username(&u.username) {
        return Err(StoreError::Invalid(lantian_domain::ValidationError::new(
            "username_invalid",
            "username",
            "usernames are 3 to 64 ASCII letters, digits, _, - or .",
        )));
    }
    let unit = unit_by_code(conn, &u.unit)?.ok_or(StoreError::Conflict("unit_unknown"))?;
    if user_by_username(conn, &u.username)?.is_some() {
        return Err(StoreError::Conflict("username_taken"));
    }
    let uuid = Uuid::now_v7();
    conn.execute(
        "INSERT INTO users (uuid, username, display_name, role, unit_id, password_hash, created_at, must_change_password, password_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![uuid.to_string(), u.username, u.display_name, u.role.as_str(), unit.id, u.password_hash, now_text(),
            u.one_time_until.is_some(), u.one_time_until],
    )?;
    user_by_uuid(conn, uuid)?.ok_or(StoreError::NotFound)
}

const COLUMNS: &str = "us.id, us.uuid, us.username, us.display_name, us.role, u.code, u.path, us.password_hash, us.disabled, us.must_change_password, us.password_expires_at";

fn user_row(r: &crate::db::Row<'_>) -> crate::db::Result<UserRecord> {
    let role: String = r.get(4)?;
    Ok(UserRecord {
        id: r.get(0)?,
        uuid: cols::uuid(r, 1)?,
        username: r.get(2)?,
        display_name: r.get(3)?,
        role: Role::parse(&role).ok_or_else(|| crate::corrupt(4, format!("role {role}")))?,
        unit: r.get(5)?,
        unit_path: cols::path(r, 6)?,
        password_hash: r.get(7)?,
        disabled: r.get(8)?,
        must_change_password: r.get(9)?,
        password_expires_at: r.get(10)?,
    })
}

pub fn user_by_username(conn: &Tx, username: &str) -> Result<Option<UserRecord>, StoreError> {
    // Usernames are unique whatever their case: SQLite's column collates NOCASE, PostgreSQL's
    // unique index is on lower(username).
    let sql = format!(
        "SELECT {COLUMNS} FROM users us JOIN units u ON u.id = us.unit_id WHERE {}",
        conn.dialect("us.username = ?1", "lower(us.username) = lower(?1)")
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([username], user_row)
        .optional()?)
}

pub fn user_by_uuid(conn: &Tx, uuid: Uuid) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users us JOIN units u ON u.id = us.unit_id WHERE us.uuid = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([uuid.to_string()], user_row)
        .optional()?)
}

pub fn user_count(conn: &Tx) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

/// Stores a new refresh token (its hash) in `family`.
pub fn insert_refresh(
    conn: &Tx,
    family: &str,
    user_id: i64,
    token_hash: &str,
    expires_at: &str,
    client_row: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO refresh_tokens (family, user_id, token_hash, issued_at, expires_at, client_row) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![family, user_id, token_hash, now_text(), expires_at, client_row],
    )?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The token was current: it is now used, and `new_hash` is the family's current token.
    Rotated {
        user: UserRecord,
        family: String,
    },
    /// The token had already been rotated: someone replayed it. The whole family is now revoked.
    Reused,
    /// The token's family was revoked (logout or an earlier reuse).
    Revoked,
    Expired,
    Unknown,
}

/// Rotates the refresh token with hash `presented` to `new_hash`, atomically (inside the writer).
///
/// A token presented again after it was rotated is a retry, not a theft, when it comes within
/// `grace_secs` of its rotation and the token it was rotated to was never used (the answer that
/// carried it was lost): the lost successor is retired and `new_hash` becomes the family's current
/// token. Any other reuse revokes the whole family.
pub fn rotate_refresh(
    conn: &Tx,
    presented: &str,
    new_hash: &str,
    new_expires_at: &str,
    grace_secs: i64,
) -> Result<Rotation, StoreError> {
    type TokenRow = (
        i64,
        String,
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let row: Option<TokenRow> = conn
        .query_row(
            "SELECT id, family, user_id, expires_at, used_at, revoked_at, client_row FROM refresh_tokens WHERE token_hash = ?1",
            [presented],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?;
    let Some((id, family, user_id, expires_at, used_at, revoked_at, client_row)) = row else {
        return Ok(Rotation::Unknown);
    };
    let now = now_text();
    if revoked_at.is_some() {
        // A token retired because its answer was taken for lost, presented after all: two parties
        // hold the login. Revoke it.
        let live: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family = ?1 AND revoked_at IS NULL)",
            [&family],
            |r| r.get(0),
        )?;
        if live {
            revoke_family(conn, &family)?;
            return Ok(Rotation::Reused);
        }
        return Ok(Rotation::Revoked);
    }
    if let Some(used) = used_at {
        if !retried_in_grace(conn, id, &family, &used, grace_secs)? {
            revoke_family(conn, &family)?;
            return Ok(Rotation::Reused);
        }
    } else if expires_at <= now {
        return Ok(Rotation::Expired);
    }
    let user = {
        let sql = format!(
            "SELECT {COLUMNS} FROM users us JOIN units u ON u.id = us.unit_id WHERE us.id = ?1"
        );
        conn.prepare_cached(&sql)?
            .query_row([user_id], user_row)
            .optional()?
    };
    let Some(user) = user.filter(|u| !u.disabled) else {
        revoke_family(conn, &family)?;
        return Ok(Rotation::Revoked);
    };
    // The presented token is used now (a retry's was already); any successor that never reached
    // its client is retired: one live token per family.
    conn.execute(
        "UPDATE refresh_tokens SET used_at = coalesce(used_at, ?2) WHERE id = ?1",
        params![id, now],
    )?;
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?3
         WHERE family = ?2 AND id > ?1 AND used_at IS NULL AND revoked_at IS NULL",
        params![id, family, now],
    )?;
    insert_refresh(conn, &family, user_id, new_hash, new_expires_at, client_row)?;
    Ok(Rotation::Rotated { user, family })
}

/// Whether token `id` of `family`, rotated at `used_at`, is being presented again as a retry:
/// within `grace_secs` of its rotation, and no token issued after it was ever presented (the
/// answers that carried them were lost, perhaps more than once).
fn retried_in_grace(
    conn: &Tx,
    id: i64,
    family: &str,
    used_at: &str,
    grace_secs: i64,
) -> Result<bool, StoreError> {
    let used = crate::parse_time(used_at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if grace_secs <= 0 || chrono::Utc::now() - used > chrono::Duration::seconds(grace_secs) {
        return Ok(false);
    }
    let presented_later: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family = ?1 AND id > ?2 AND used_at IS NOT NULL)",
        params![family, id],
        |r| r.get(0),
    )?;
    Ok(!presented_later)
}

/// Revokes every token of `family`. Returns how many were still live.
pub fn revoke_family(conn: &Tx, family: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family = ?1 AND revoked_at IS NULL",
        params![family, now_text()],
    )?)
}

/// The family of a token, if it is known.
pub fn family_of(conn: &Tx, token_hash: &str) -> Result<Option<(String, i64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT family, user_id FROM refresh_tokens WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A registered app install.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClientRecord {
    /// The install's row (what mutations and refresh families point at).
    #[serde(skip)]
    pub row: i64,
    pub client_id: Uuid,
    pub app_version: String,
    pub device_model: Option<String>,
    pub registered_at: String,
    /// The install's Ed25519 public key (base64url), set once.
    pub public_key: Option<String>,
    pub revoked_at: Option<String>,
}

const CLIENT_COLUMNS: &str =
    "id, client_id, app_version, device_model, registered_at, public_key, revoked_at";

fn client_row(r: &crate::db::Row<'_>) -> crate::db::Result<ClientRecord> {
    Ok(ClientRecord {
        row: r.get(0)?,
        client_id: cols::uuid(r, 1)?,
        app_version: r.get(2)?,
        device_model: r.get(3)?,
        registered_at: r.get(4)?,
        public_key: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

/// The install `client_id` of user `user_id`, if that user registered it. Installs are per user:
/// the same id registered by another user is another install (decision 0021).
pub fn client_of_user(
    conn: &Tx,
    user_id: i64,
    client_id: Uuid,
) -> Result<Option<ClientRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE user_id = ?1 AND client_id = ?2"
        ))?
        .query_row(params![user_id, client_id.to_string()], client_row)
        .optional()?)
}

/// Every install of user `user_id`, oldest first.
pub fn clients_of_user(conn: &Tx, user_id: i64) -> Result<Vec<ClientRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE user_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([user_id], client_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Registers `client_id` for `user_id`. Registering again by the same user is idempotent (the
/// app version is updated). The install's key is set by the first registration that carries one;
/// a different key later is `client_key_mismatch`. A revoked install is `client_revoked`.
pub fn register_client(
    conn: &Tx,
    client_id: Uuid,
    user_id: i64,
    app_version: &str,
    device_model: Option<&str>,
    public_key: Option<&str>,
) -> Result<(ClientRecord, bool), StoreError> {
    let created = match client_of_user(conn, user_id, client_id)? {
        Some(c) if c.revoked_at.is_some() => return Err(StoreError::Conflict("client_revoked")),
        Some(c)
            if c.public_key.is_some()
                && public_key.is_some_and(|k| Some(k) != c.public_key.as_deref()) =>
        {
            return Err(StoreError::Conflict("client_key_mismatch"));
        }
        Some(c) => {
            conn.execute(
                "UPDATE clients SET app_version = ?2, device_model = ?3, public_key = coalesce(public_key, ?4) WHERE id = ?1",
                params![c.row, app_version, device_model, public_key],
            )?;
            false
        }
        None => {
            conn.execute(
                "INSERT INTO clients (client_id, user_id, app_version, device_model, registered_at, public_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![client_id.to_string(), user_id, app_version, device_model, now_text(), public_key],
            )?;
            true
        }
    };
    let rec = client_of_user(conn, user_id, client_id)?.ok_or(StoreError::NotFound)?;
    Ok((rec, created))
}

/// Revokes install `row` for good, and every refresh family opened on it. `false` if it was
/// already revoked.
pub fn revoke_client(conn: &Tx, row: i64) -> Result<bool, StoreError> {
    let now = now_text();
    let changed = conn.execute(
        "UPDATE clients SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![row, now],
    )?;
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE client_row = ?1 AND revoked_at IS NULL",
        params![row, now],
    )?;
    Ok(changed > 0)
}

/// The install (its id) the refresh family `family` is bound to, if any.
pub fn family_install(conn: &Tx, family: &str) -> Result<Option<Uuid>, StoreError> {
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT c.client_id FROM refresh_tokens t JOIN clients c ON c.id = t.client_row
             WHERE t.family = ?1 LIMIT 1",
        )?
        .query_row([family], |r| r.get(0))
        .optional()?;
    id.map(|i| Uuid::parse_str(&i).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Binds the family of the token stored as `token_hash` to install `row`, if it is not bound yet.
pub fn bind_family(conn: &Tx, token_hash: &str, row: i64) -> Result<(), StoreError> {
    if let Some((family, _)) = family_of(conn, token_hash)? {
        conn.execute(
            "UPDATE refresh_tokens SET client_row = ?2 WHERE family = ?1 AND client_row IS NULL",
            params![family, row],
        )?;
    }
    Ok(())
}

/// Remembers an answered install challenge until it expires; `false` if it was answered before.
/// Challenges past their expiry are forgotten here too (they are refused by their age anyway).
pub fn use_challenge(
    conn: &Tx,
    challenge_hash: &str,
    expires_at: &str,
) -> Result<bool, StoreError> {
    conn.execute(
        "DELETE FROM install_challenges_used WHERE expires_at < ?1",
        [now_text()],
    )?;
    let inserted = conn.execute(
        "INSERT INTO install_challenges_used (challenge_hash, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![challenge_hash, expires_at],
    )?;
    Ok(inserted == 1)
}

/// Enabled users with `role` in the subtree `within`, by display name.
pub fn users_in_subtree(
    conn: &Tx,
    within: &[String],
    role: Role,
) -> Result<Vec<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users us JOIN units u ON u.id = us.unit_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 AND us.role = ?2 AND us.disabled = 0
         ORDER BY us.display_name, us.username"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![crate::org::path_text(within), role.as_str()],
        user_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Users of the subtree `within` (every role, disabled ones too), by unit then name.
pub fn users_under(conn: &Tx, within: &[String]) -> Result<Vec<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users us JOIN units u ON u.id = us.unit_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 ORDER BY u.path, us.username"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([crate::org::path_text(within)], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Disables (or enables) user `user_id`. Disabling also ends every login of the user at once:
/// its refresh families and its console sessions. `false` if nothing changed.
pub fn set_disabled(conn: &Tx, user_id: i64, disabled: bool) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE users SET disabled = ?2 WHERE id = ?1 AND disabled <> ?2",
        params![user_id, disabled],
    )?;
    if disabled {
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, now_text()],
        )?;
        crate::sessions::revoke_user(conn, user_id)?;
    }
    Ok(changed > 0)
}

/// Gives user `user_id` role `role`; their console sessions end (a session holds the role it was
/// opened with). `false` if it was their role already.
pub fn set_role(conn: &Tx, user_id: i64, role: Role) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE users SET role = ?2 WHERE id = ?1 AND role <> ?2",
        params![user_id, role.as_str()],
    )?;
    if changed > 0 {
        crate::sessions::revoke_user(conn, user_id)?;
    }
    Ok(changed > 0)
}

/// Moves user `user_id` to unit `unit`; their console sessions end, and the move is kept
/// ([`moves_of`]). `Conflict("unit_unknown")` for a unit that does not exist; `false` if they
/// were there already.
pub fn set_unit(conn: &Tx, user_id: i64, unit: &str) -> Result<bool, StoreError> {
    let unit = unit_by_code(conn, unit)?.ok_or(StoreError::Conflict("unit_unknown"))?;
    let from: Option<i64> = conn
        .query_row(
            "SELECT unit_id FROM users WHERE id = ?1 AND unit_id <> ?2",
            params![user_id, unit.id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(from) = from else {
        return Ok(false);
    };
    conn.execute(
        "UPDATE users SET unit_id = ?2 WHERE id = ?1",
        params![user_id, unit.id],
    )?;
    conn.execute(
        "INSERT INTO user_moves (user_id, from_unit_id, to_unit_id, moved_at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, from, unit.id, now_text()],
    )?;
    crate::sessions::revoke_user(conn, user_id)?;
    Ok(true)
}

/// The moves of user `user_id`, oldest first: when, and the unit path they left.
pub fn moves_of(conn: &Tx, user_id: i64) -> Result<Vec<lantian_domain::user::Move>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.moved_at, u.path FROM user_moves m JOIN units u ON u.id = m.from_unit_id
         WHERE m.user_id = ?1 ORDER BY m.moved_at, m.id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok((r.get::<_, String>(0)?, cols::path(r, 1)?))
    })?;
    rows.map(|row| {
        let (at, left) = row?;
        Ok(lantian_domain::user::Move {
            at: crate::parse_time(&at)?,
            left,
        })
    })
    .collect()
}

/// Sets user `user_id`'s password hash. `one_time_until` set: a one-time password (an
/// administrator's reset), which ends every login the user has (refresh families and console
/// sessions; an install's key stays, decision 0023); `None`: a password the user chose, which ends
/// every login but `keep_family`, the one the change was made from.
pub fn set_password(
    conn: &Tx,
    user_id: i64,
    hash: &str,
    one_time_until: Option<&str>,
    keep_family: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, must_change_password = ?3, password_expires_at = ?4 WHERE id = ?1",
        params![user_id, hash, one_time_until.is_some(), one_time_until],
    )?;
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2
         WHERE user_id = ?1 AND revoked_at IS NULL AND family IS DISTINCT FROM ?3",
        params![user_id, now_text(), keep_family],
    )?;
    crate::sessions::revoke_user(conn, user_id)?;
    Ok(())
}

/// A live refresh-token family of a user (an app or API login).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    pub family: String,
    pub started_at: String,
    /// When its newest token was issued (the login's last refresh).
    pub last_seen_at: String,
    pub expires_at: String,
    /// The install it is bound to.
    pub install: Option<Uuid>,
}

/// The live refresh families of user `user_id` (a token neither revoked nor expired), oldest first.
pub fn live_logins(conn: &Tx, user_id: i64) -> Result<Vec<LoginRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.family, min(t.issued_at), max(t.issued_at), max(t.expires_at),
                (SELECT c.client_id FROM refresh_tokens b JOIN clients c ON c.id = b.client_row
                 WHERE b.family = t.family AND b.client_row IS NOT NULL LIMIT 1)
         FROM refresh_tokens t
         WHERE t.user_id = ?1
         GROUP BY t.family
         HAVING sum(CASE WHEN t.revoked_at IS NULL AND t.used_at IS NULL AND t.expires_at > ?2 THEN 1 ELSE 0 END) > 0
         ORDER BY min(t.issued_at), t.family",
    )?;
    let rows = stmt.query_map(params![user_id, now_text()], |r| {
        let install: Option<String> = r.get(4)?;
        Ok(LoginRecord {
            family: r.get(0)?,
            started_at: r.get(1)?,
            last_seen_at: r.get(2)?,
            expires_at: r.get(3)?,
            install: install
                .map(|i| Uuid::parse_str(&i).map_err(|e| crate::corrupt(4, e.to_string())))
                .transpose()?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes refresh family `family` if it is user `user_id`'s; `false` if it is not theirs or was
/// not live.
pub fn revoke_login(conn: &Tx, user_id: i64, family: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?3 WHERE family = ?2 AND user_id = ?1 AND revoked_at IS NULL",
        params![user_id, family, now_text()],
    )? > 0)
}

/// Counts one login attempt under `key` in a fixed window of `window` from its first attempt
/// (shared by the nodes of a deployment); returns the count in the current window and when it ends.
pub fn count_attempt(
    conn: &Tx,
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> Result<(i64, chrono::DateTime<chrono::Utc>), StoreError> {
    let (now_text, ends) = (crate::time_text(now), crate::time_text(now + window));
    let (count, ends): (i64, String) = conn
        .prepare_cached(
            "INSERT INTO login_counters (key, window_start, window_ends, count) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (key) DO UPDATE SET
                 count = CASE WHEN login_counters.window_ends <= ?2 THEN 1 ELSE login_counters.count + 1 END,
                 window_start = CASE WHEN login_counters.window_ends <= ?2 THEN ?2 ELSE login_counters.window_start END,
                 window_ends = CASE WHEN login_counters.window_ends <= ?2 THEN ?3 ELSE login_counters.window_ends END
             RETURNING count, window_ends",
        )?
        .query_row(params![key, now_text, ends], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok((count, crate::parse_time(&ends)?))
}

/// The attempts counted under `key` in its current window, and when the window ends; `None`
/// when no window is open at `now`.
pub fn attempts(
    conn: &Tx,
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(i64, chrono::DateTime<chrono::Utc>)>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT count, window_ends FROM login_counters WHERE key = ?1 AND window_ends > ?2",
        )?
        .query_row(params![key, crate::time_text(now)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    row.map(|(n, ends)| Ok((n, crate::parse_time(&ends)?)))
        .transpose()
}

/// Forgets the attempts counted under `key` (a successful sign-in clears its failures).
pub fn clear_attempts(conn: &Tx, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM login_counters WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Deletes the counters whose window ended before `now`; returns how many.
pub fn prune_attempts(conn: &Tx, now: chrono::DateTime<chrono::Utc>) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM login_counters WHERE window_ends <= ?1")?
        .execute([crate::time_text(now)])?)
}

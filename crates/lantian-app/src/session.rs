//! Console sessions (issue 16): a person signs in once with a password and gets a cookie naming a
//! server-side row. What decides whether a session still holds lives here, once:
//!
//! - idle expiry: no request for [`SessionPolicy::idle`];
//! - absolute expiry: [`SessionPolicy::absolute`] after sign-in, whatever the activity;
//! - the user disabled, or their role or unit changed since sign-in: the session is revoked on its
//!   next use, so that user management only changes the user and every session follows;
//! - sign-out.
//!
//! The cookie's value is 32 random bytes; the database keeps only its SHA-256. Each session has
//! its own CSRF token (a synchronizer token), compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use lantian_store::audit;
use lantian_store::sessions::{self, NewSession, SessionRecord};
use sha2::{Digest, Sha256};

use crate::{Actor, App, AppError};

/// How long a console session lasts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, whatever the activity.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// Activity is written back at most this often (a page view is otherwise a read).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The languages of the console; the first is the default.
pub const LANGS: [&str; 2] = ["zh-CN", "en"];

/// A session that holds: who, their CSRF token, their language.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub actor: Actor,
    pub csrf: String,
    pub lang: String,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        presented.len() == self.csrf.len()
            && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// A session just opened: the cookie's value (shown once, to the browser) and the session.
#[derive(Debug)]
pub struct Opened {
    pub cookie: String,
    pub session: Session,
}

/// Where a sign-in came from (kept with the session for the people who read sessions later).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub peer: Option<String>,
    pub user_agent: Option<String>,
}

fn random_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a session");
        AppError::internal()
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// 16 random bytes in hex: the name of a session in lists.
pub(crate) fn random_hex16() -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness");
        AppError::internal()
    })?;
    Ok(hex::encode(bytes))
}

fn token_hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// Why a stored session no longer holds, if it does not.
fn ended(s: &SessionRecord, policy: &SessionPolicy, now: DateTime<Utc>) -> Option<&'static str> {
    if s.revoked {
        Some("revoked")
    } else if s.user.disabled {
        Some("user_disabled")
    } else if s.role_at_start != s.user.role.as_str() || s.unit_at_start != s.unit_now {
        Some("user_changed")
    } else if now >= s.expires_at {
        Some("expired")
    } else if now - s.last_seen_at >= policy.idle {
        Some("idle")
    } else {
        None
    }
}

impl App {
    /// Opens a console session for `user` (whose password was just checked, under the login
    /// limits), in language `lang`.
    pub async fn open_session(
        &self,
        user: &lantian_store::identity::UserRecord,
        lang: &str,
        origin: Origin,
    ) -> Result<Opened, AppError> {
        let cookie = random_token()?;
        let csrf = random_token()?;
        let hash = token_hash(&cookie);
        let public_id = random_hex16()?;
        let now = Utc::now();
        let policy = self.config().session;
        let expires_at = now + policy.absolute;
        let lang = if LANGS.contains(&lang) {
            lang
        } else {
            LANGS[0]
        }
        .to_owned();
        let (user_id, uuid) = (user.id, user.uuid.to_string());
        let (csrf2, lang2) = (csrf.clone(), lang.clone());
        let id = self
            .store()
            .write(move |c| {
                sessions::open(
                    c,
                    &NewSession {
                        token_hash: &hash,
                        public_id: &public_id,
                        user_id,
                        csrf: &csrf2,
                        lang: &lang2,
                        now,
                        expires_at,
                        peer: origin.peer.as_deref(),
                        user_agent: origin.user_agent.as_deref(),
                    },
                )?;
                let s = sessions::find(c, &hash)?.ok_or(lantian_store::StoreError::NotFound)?;
                audit::record(
                    c,
                    &uuid,
                    "console.sign_in",
                    "console_session",
                    &s.id.to_string(),
                    None,
                    None,
                )?;
                Ok(s.id)
            })
            .await?;
        Ok(Opened {
            cookie,
            session: Session {
                id,
                actor: Actor(user.clone()),
                csrf,
                lang,
                expires_at,
            },
        })
    }

    /// The session the cookie `cookie` names, if it still holds. A session that no longer holds
    /// is marked revoked on the way (so that it stays ended even if its cause is undone).
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, AppError> {
        let hash = token_hash(cookie);
        let Some(s) = self.store().read(move |c| sessions::find(c, &hash)).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        if let Some(why) = ended(&s, &self.config().session, now) {
            if !s.revoked {
                tracing::info!(session = s.id, why, "console session ended");
                let id = s.id;
                self.store().write(move |c| sessions::revoke(c, id)).await?;
            }
            return Ok(None);
        }
        if now - s.last_seen_at >= TOUCH_EVERY {
            let id = s.id;
            self.store()
                .write(move |c| sessions::touch(c, id, now))
                .await?;
        }
        Ok(Some(Session {
            id: s.id,
            actor: Actor(s.user),
            csrf: s.csrf,
            lang: s.lang,
            expires_at: s.expires_at,
        }))
    }

    /// Ends `session` (sign-out).
    pub async fn end_session(&self, session: &Session) -> Result<(), AppError> {
        let (id, uuid) = (session.id, session.actor.uuid.to_string());
        Ok(self
            .store()
            .write(move |c| {
                sessions::revoke(c, id)?;
                audit::record(
                    c,
                    &uuid,
                    "console.sign_out",
                    "console_session",
                    &id.to_string(),
                    None,
                    None,
                )?;
                Ok(())
            })
            .await?)
    }

    /// Forgets sessions that ended more than a day before `now` (expired or revoked): they name no
    /// evidence, and the table would otherwise only grow. Sign-ins and sign-outs stay in the audit
    /// log.
    pub async fn forget_ended_sessions(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let before = now - Duration::days(1);
        Ok(self
            .store()
            .write(move |c| sessions::forget_ended(c, before))
            .await?)
    }

    /// Shows `session`'s pages in `lang` from now on (`bad_request` for a language the console
    /// does not have).
    pub async fn set_session_lang(&self, session: &Session, lang: &str) -> Result<(), AppError> {
        if !LANGS.contains(&lang) {
            return Err(AppError::bad_request("lang"));
        }
        let (id, lang) = (session.id, lang.to_owned());
        Ok(self
            .store()
            .write(move |c| sessions::set_lang(c, id, &lang))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lantian_domain::user::Role;
    use lantian_store::identity::UserRecord;

    fn record(now: DateTime<Utc>) -> SessionRecord {
        SessionRecord {
            id: 1,
            user: UserRecord {
                id: 1,
                uuid: uuid::Uuid::nil(),
                username: "sup".into(),
                display_name: "Sup".into(),
                role: Role::Supervisor,
                unit: "c".into(),
                unit_path: vec!["c".into()],
                password_hash: String::new(),
                disabled: false,
                must_change_password: false,
                password_expires_at: None,
            },
            role_at_start: "supervisor".into(),
            unit_at_start: 7,
            unit_now: 7,
            csrf: "x".into(),
            lang: "zh-CN".into(),
            created_at: now - Duration::minutes(5),
            last_seen_at: now - Duration::minutes(1),
            expires_at: now + Duration::hours(1),
            revoked: false,
        }
    }

    #[test]
    fn a_session_ends_for_every_reason_and_holds_otherwise() {
        let now = Utc::now();
        let p = SessionPolicy::default();
        assert_eq!(ended(&record(now), &p, now), None);
        let mut s = record(now);
        s.user.disabled = true;
        assert_eq!(ended(&s, &p, now), Some("user_disabled"));
        let mut s = record(now);
        s.user.role = Role::Inspector;
        assert_eq!(ended(&s, &p, now), Some("user_changed"));
        let mut s = record(now);
        s.unit_now = 8;
        assert_eq!(ended(&s, &p, now), Some("user_changed"));
        let mut s = record(now);
        s.last_seen_at = now - p.idle;
        assert_eq!(ended(&s, &p, now), Some("idle"));
        let mut s = record(now);
        s.expires_at = now;
        assert_eq!(ended(&s, &p, now), Some("expired"));
        let mut s = record(now);
        s.revoked = true;
        assert_eq!(ended(&s, &p, now), Some("revoked"));
    }

    #[test]
    fn csrf_is_compared_whole() {
        let s = Session {
            id: 1,
            actor: Actor(record(Utc::now()).user),
            csrf: "abcdef".into(),
            lang: "zh-CN".into(),
            expires_at: Utc::now(),
        };
        assert!(s.csrf_matches("abcdef"));
        assert!(!s.csrf_matches("abcde"));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches("abcdeg"));
    }
}

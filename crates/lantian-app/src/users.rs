//! User management (issue 17): the users of a subtree listed, created, disabled and enabled,
//! given another role, moved to another unit, given a one-time password; their sessions listed
//! and ended; and a user's own change of password. The policy table says who manages users and
//! where (`Action::ManageUsers`, the caller's subtree); the domain says what no one may do
//! (`user::check_user_change`: not to themselves, no role above their own) and what a password
//! must be. Every change is audited, and ends the user's console sessions; disabling and a new
//! password also end their logins everywhere.

use lantian_domain::policy::{Action, Decision, decide};
use lantian_domain::user::{
    ONE_TIME_PASSWORD_HOURS, PasswordState, Role, UserChangeRefusal, check_user_change,
    password_state,
};
use lantian_protocol::auth::{
    CreateUserRequest, CreatedUser, OneTimePassword, UserSession, UserSummary,
};
use lantian_store::identity::{self, NewUser, UserRecord};
use lantian_store::{StoreError, Tx, audit, sessions};
use uuid::Uuid;

use crate::{Actor, App, AppError};

/// A user as the people who manage users see them.
pub fn summary(u: UserRecord) -> UserSummary {
    UserSummary {
        id: u.uuid,
        username: u.username,
        display_name: u.display_name,
        role: u.role,
        unit: u.unit,
        disabled: u.disabled,
        must_change_password: u.must_change_password,
    }
}

/// A change to one user.
#[derive(Debug, Clone)]
pub enum UserChange {
    Disabled(bool),
    Role(Role),
    Unit(String),
}

impl UserChange {
    fn audit_action(&self) -> &'static str {
        match self {
            UserChange::Disabled(true) => "user.disable",
            UserChange::Disabled(false) => "user.enable",
            UserChange::Role(_) => "user.role",
            UserChange::Unit(_) => "user.move",
        }
    }
}

fn refused(r: UserChangeRefusal) -> AppError {
    match r {
        UserChangeRefusal::OwnAccount => AppError::forbidden()
            .detail("own_account")
            .note("nobody disables, re-roles or moves their own account"),
        UserChangeRefusal::RoleTooHigh => AppError::forbidden()
            .detail("role_too_high")
            .note("a role higher than your own is not yours to grant or to change"),
    }
}

/// Applies `change` to `target` inside a write, audited as done by `by`; returns the user as
/// they are now.
pub(crate) fn apply(
    c: &lantian_store::Tx,
    target: &UserRecord,
    change: &UserChange,
    by: &str,
) -> Result<UserRecord, lantian_store::StoreError> {
    let changed = match change {
        UserChange::Disabled(d) => identity::set_disabled(c, target.id, *d)?,
        UserChange::Role(r) => identity::set_role(c, target.id, *r)?,
        UserChange::Unit(u) => identity::set_unit(c, target.id, u)?,
    };
    let now = identity::user_by_uuid(c, target.uuid)?.ok_or(lantian_store::StoreError::NotFound)?;
    if changed {
        audit::record(
            c,
            by,
            change.audit_action(),
            "user",
            &target.uuid.to_string(),
            Some(audit::object_hash(&summary(target.clone()))?),
            Some(audit::object_hash(&summary(now.clone()))?),
        )?;
    }
    Ok(now)
}

impl App {
    /// The users of the caller's subtree (inclusive), disabled ones too.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<UserSummary>, AppError> {
        actor.may(Action::ManageUsers, Some(&actor.unit_path))?;
        let within = actor.unit_path.clone();
        Ok(self
            .store()
            .read(move |c| identity::users_under(c, &within))
            .await?
            .into_iter()
            .map(summary)
            .collect())
    }

    /// Changes user `id`: disable or enable, another role, another unit. The user must be in the
    /// caller's subtree (else `not_found`, like a user that does not exist), not the caller, of a
    /// role no higher than the caller's, and a role granted no higher either; a unit moved to must
    /// be in the caller's subtree too (else `not_found` on `unit`). Decided again inside the write
    /// on the user as it reads them.
    pub async fn change_user(
        &self,
        actor: &Actor,
        id: Uuid,
        change: UserChange,
    ) -> Result<UserSummary, AppError> {
        if let UserChange::Unit(code) = &change {
            self.unit_in_reach(actor, code).await?;
        }
        let caller = actor.0.clone();
        let by = actor.uuid.to_string();
        let done = self
            .store()
            .write(move |c| {
                let grant = match &change {
                    UserChange::Role(r) => Some(*r),
                    _ => None,
                };
                let target = match changeable(c, &caller, id, grant)? {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(e)),
                };
                apply(c, &target, &change, &by).map(Ok)
            })
            .await?;
        done.map(summary)
    }

    /// Opens an account in the caller's subtree with a one-time password, answered once: the user
    /// chooses their own at the first sign-in ([`App::change_password`]). The unit must be in the
    /// caller's subtree (else `not_found` on `unit`), the role no higher than the caller's; a taken
    /// name is a conflict (`username_taken`).
    pub async fn create_user(
        &self,
        actor: &Actor,
        req: CreateUserRequest,
    ) -> Result<CreatedUser, AppError> {
        if !lantian_domain::user::valid_username(&req.username) {
            return Err(lantian_domain::ValidationError::new(
                "username_invalid",
                "username",
                "usernames are 3 to 64 ASCII letters, digits, _, - or .",
            )
            .into());
        }
        let display_name = lantian_domain::limits::required(
            &req.display_name,
            lantian_domain::limits::NAME_CHARS,
            "display_name_invalid",
            "display_name",
            "a display name of 1 to 100 characters",
        )?
        .to_owned();
        self.unit_in_reach(actor, &req.unit).await?;
        check_user_change(actor.role, false, req.role, Some(req.role)).map_err(refused)?;
        let (password, hash) = self.one_time_password().await?;
        let new = NewUser {
            username: req.username,
            display_name,
            role: req.role,
            unit: req.unit,
            password_hash: hash,
            one_time_until: Some(password.expires_at.clone()),
        };
        let by = actor.uuid.to_string();
        let user = self
            .store()
            .write(move |c| {
                let rec = identity::create_user(c, &new)?;
                audit::record(
                    c,
                    &by,
                    "user.create",
                    "user",
                    &rec.uuid.to_string(),
                    None,
                    Some(audit::object_hash(&summary(rec.clone()))?),
                )?;
                Ok(rec)
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict("username_taken") => AppError::new("conflict")
                    .field("username")
                    .detail("username_taken")
                    .note("an account of that name exists"),
                e => e.into(),
            })?;
        Ok(CreatedUser {
            user: summary(user),
            password,
        })
    }

    /// Gives user `id` a one-time password, answered once, and ends every login they have (their
    /// installs' keys stay: a phone keeps syncing its queued work). The same rules as any change:
    /// in the caller's subtree, not the caller (who changes their own with the current one), no
    /// higher role.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<OneTimePassword, AppError> {
        let (password, hash) = self.one_time_password().await?;
        let caller = actor.0.clone();
        let until = password.expires_at.clone();
        self.store()
            .write(move |c| {
                let target = match changeable(c, &caller, id, None)? {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(e)),
                };
                identity::set_password(c, target.id, &hash, Some(&until), None)?;
                audit::record(
                    c,
                    &caller.uuid.to_string(),
                    "user.password_reset",
                    "user",
                    &target.uuid.to_string(),
                    None,
                    None,
                )?;
                Ok(Ok(()))
            })
            .await??;
        Ok(password)
    }

    /// Whether a password sign-in of `user` (the password just checked) may open a login: a
    /// one-time password opens none (`password_change_required`: change it first), a lapsed one
    /// does nothing (`one_time_password_expired`).
    pub fn password_opens_login(user: &UserRecord) -> Result<(), AppError> {
        let expires = user
            .password_expires_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        match password_state(user.must_change_password, expires, chrono::Utc::now()) {
            PasswordState::Chosen => Ok(()),
            PasswordState::OneTime => Err(AppError::new("password_change_required")),
            PasswordState::Lapsed => Err(AppError::new("one_time_password_expired")),
        }
    }

    /// `user` (whose `current` password was just checked, under the login limits) chooses
    /// `new_password`: long enough and not the current one. Every other login of theirs ends; the
    /// caller opens the new one. A lapsed one-time password changes nothing.
    pub async fn change_password(
        &self,
        user: &UserRecord,
        current: &str,
        new_password: String,
    ) -> Result<UserRecord, AppError> {
        if let Err(e) = App::password_opens_login(user)
            && e.code == "one_time_password_expired"
        {
            return Err(e);
        }
        lantian_domain::user::check_new_password(&new_password, current)?;
        let hash = self.hash(new_password).await?;
        let (id, uuid) = (user.id, user.uuid);
        Ok(self
            .store()
            .write(move |c| {
                identity::set_password(c, id, &hash, None, None)?;
                audit::record(
                    c,
                    &uuid.to_string(),
                    "user.password_change",
                    "user",
                    &uuid.to_string(),
                    None,
                    None,
                )?;
                identity::user_by_uuid(c, uuid)?.ok_or(StoreError::NotFound)
            })
            .await?)
    }

    /// The ways user `id` is signed in now: console sessions and app logins. For the user
    /// themselves, and for those who manage the users of their subtree.
    pub async fn user_sessions(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Vec<UserSession>, AppError> {
        let target = self.user_managed_by(actor, id).await?;
        let now = chrono::Utc::now();
        Ok(self
            .store()
            .read(move |c| sessions_of(c, target.id, now))
            .await?)
    }

    /// Ends one session of user `id` (named as [`App::user_sessions`] lists it): the user's own, or
    /// one of a user the caller may change. A session that is not the user's, or not open, is
    /// `not_found`.
    pub async fn end_user_session(
        &self,
        actor: &Actor,
        id: Uuid,
        session: String,
    ) -> Result<(), AppError> {
        let caller = actor.0.clone();
        self.store()
            .write(move |c| {
                let target = if caller.uuid == id {
                    caller.clone()
                } else {
                    match changeable(c, &caller, id, None)? {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(e)),
                    }
                };
                end_session(c, &target, &session, &caller.uuid.to_string())
            })
            .await?
    }

    /// A unit named for a user (created or moved there) must be in the caller's subtree, and the
    /// caller must manage users there: a unit outside answers like one that does not exist.
    async fn unit_in_reach(&self, actor: &Actor, code: &str) -> Result<(), AppError> {
        let code = code.to_owned();
        let unit = self
            .store()
            .read(move |c| lantian_store::org::unit_by_code(c, &code))
            .await?
            .ok_or_else(|| AppError::not_found().field("unit"))?;
        actor
            .may(Action::ManageUsers, Some(&unit.unit.path))
            .map_err(|e| {
                if e.code == "not_found" {
                    AppError::not_found().field("unit")
                } else {
                    e
                }
            })
    }

    /// A new one-time password and its argon2id hash, made on the hashing threads.
    async fn one_time_password(&self) -> Result<(OneTimePassword, String), AppError> {
        let password = new_one_time_password()?;
        let hash = self.hash(password.one_time_password.clone()).await?;
        Ok((password, hash))
    }

    /// An argon2id hash of `password`, on the hashing threads.
    pub(crate) async fn hash(&self, password: String) -> Result<String, AppError> {
        self.inner
            .hasher
            .run(move || crate::password::hash(&password))
            .await
            .ok_or_else(AppError::internal)?
            .map_err(|e| {
                tracing::error!(error = %e, "password hashing failed");
                AppError::internal()
            })
    }
}

/// A new one-time password (not yet hashed) and when it lapses.
pub(crate) fn new_one_time_password() -> Result<OneTimePassword, AppError> {
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a password");
        AppError::internal()
    })?;
    let expires_at = (chrono::Utc::now() + chrono::Duration::hours(ONE_TIME_PASSWORD_HOURS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(OneTimePassword {
        one_time_password: lantian_domain::user::one_time_password(random),
        expires_at,
    })
}

/// The console sessions and app logins of user row `user_id` that have not ended, oldest first.
pub(crate) fn sessions_of(
    c: &Tx,
    user_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<UserSession>, StoreError> {
    let consoles = sessions::live_of_user(c, user_id, now)?;
    let logins = identity::live_logins(c, user_id)?;
    let mut out: Vec<UserSession> = consoles
        .into_iter()
        .map(|s| UserSession {
            id: format!("console-{}", s.public_id),
            kind: "console".into(),
            started_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            install: None,
            peer: s.peer,
            user_agent: s.user_agent,
        })
        .chain(logins.into_iter().map(|l| UserSession {
            id: format!("app-{}", l.family),
            kind: "app".into(),
            started_at: l.started_at,
            last_seen_at: l.last_seen_at,
            expires_at: l.expires_at,
            install: l.install,
            peer: None,
            user_agent: None,
        }))
        .collect();
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Ends session `session` (as [`sessions_of`] names it) of `target`, audited as done by `by`;
/// `not_found` on `session_id` if it is not theirs or has ended.
pub(crate) fn end_session(
    c: &Tx,
    target: &UserRecord,
    session: &str,
    by: &str,
) -> Result<Result<(), AppError>, StoreError> {
    let ended = if let Some(p) = session.strip_prefix("console-") {
        sessions::revoke_public(c, target.id, p)?
    } else if let Some(f) = session.strip_prefix("app-") {
        identity::revoke_login(c, target.id, f)?
    } else {
        false
    };
    if !ended {
        return Ok(Err(AppError::not_found().field("session_id")));
    }
    audit::record(
        c,
        by,
        "user.session_end",
        "user",
        &target.uuid.to_string(),
        None,
        None,
    )?;
    Ok(Ok(()))
}

/// User `id` if the caller may change them (granting `grant` if the change is a role), decided on
/// the user as this transaction reads them: in the caller's subtree (else `not_found`, like a user
/// that does not exist), not the caller, no higher role.
fn changeable(
    c: &Tx,
    caller: &UserRecord,
    id: Uuid,
    grant: Option<Role>,
) -> Result<Result<UserRecord, AppError>, StoreError> {
    let Some(target) = identity::user_by_uuid(c, id)? else {
        return Ok(Err(AppError::not_found().field("user_id")));
    };
    let rel = lantian_domain::unit::relation(&caller.unit_path, &target.unit_path);
    match decide(caller.role, Action::ManageUsers, rel) {
        Decision::Allow => {}
        Decision::Forbidden => return Ok(Err(AppError::forbidden())),
        Decision::NotFound => return Ok(Err(AppError::not_found().field("user_id"))),
    }
    if let Err(r) = check_user_change(caller.role, caller.id == target.id, target.role, grant) {
        return Ok(Err(refused(r)));
    }
    Ok(Ok(target))
}

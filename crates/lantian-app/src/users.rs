//! User management (issue 17, part of): the users of a subtree listed, disabled and enabled,
//! given another role, moved to another unit. The policy table says who manages users and where
//! (`Action::ManageUsers`, the caller's subtree); the domain says what no one may do
//! (`user::check_user_change`: not to themselves, no role above their own). Every change is
//! audited, and ends the user's console sessions; disabling also ends their logins everywhere.

use lantian_domain::policy::Action;
use lantian_domain::user::{Role, UserChangeRefusal, check_user_change};
use lantian_protocol::auth::UserSummary;
use lantian_store::audit;
use lantian_store::identity::{self, UserRecord};
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
            let code = code.clone();
            let unit = self
                .store()
                .read(move |c| lantian_store::org::unit_by_code(c, &code))
                .await?
                .ok_or_else(|| AppError::not_found().field("unit"))?;
            // A role that manages no users is refused as such; a unit outside the subtree answers
            // like one that does not exist.
            actor
                .may(Action::ManageUsers, Some(&unit.unit.path))
                .map_err(|e| {
                    if e.code == "not_found" {
                        AppError::not_found().field("unit")
                    } else {
                        e
                    }
                })?;
        }
        let caller = actor.0.clone();
        let by = actor.uuid.to_string();
        let done = self
            .store()
            .write(move |c| {
                let Some(target) = identity::user_by_uuid(c, id)? else {
                    return Ok(Err(AppError::not_found().field("user_id")));
                };
                let rel = lantian_domain::unit::relation(&caller.unit_path, &target.unit_path);
                match lantian_domain::policy::decide(caller.role, Action::ManageUsers, rel) {
                    lantian_domain::policy::Decision::Allow => {}
                    lantian_domain::policy::Decision::Forbidden => {
                        return Ok(Err(AppError::forbidden()));
                    }
                    lantian_domain::policy::Decision::NotFound => {
                        return Ok(Err(AppError::not_found().field("user_id")));
                    }
                }
                let grant = match &change {
                    UserChange::Role(r) => Some(*r),
                    _ => None,
                };
                if let Err(r) =
                    check_user_change(caller.role, caller.id == target.id, target.role, grant)
                {
                    return Ok(Err(refused(r)));
                }
                apply(c, &target, &change, &by).map(Ok)
            })
            .await?;
        done.map(summary)
    }
}

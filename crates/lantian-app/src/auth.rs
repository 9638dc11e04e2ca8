//! Sign-in and app installs: refresh-token families (opened at login, rotated, revoked at logout),
//! the check of a password, and the registration of an install. Access tokens (JWT) are HTTP's;
//! what is stored and audited is here.

use lantian_domain::policy::Action;
use lantian_protocol::auth::{ClientView, RegisterClientRequest};
use lantian_store::audit;
use lantian_store::identity::{self, Rotation, UserRecord};

use crate::{Actor, App, AppError};

/// What a rotation found, as the caller hears it.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was current: here is its user; the next token is stored in its place.
    Rotated(UserRecord),
    /// The token had already been rotated: someone else holds a copy, and its family is revoked.
    Reused,
    /// Revoked, expired or unknown.
    Invalid,
}

impl App {
    /// The user `username` names if `password` is theirs and they are enabled. A username that does
    /// not exist costs the same password verification as one that does, on the hashing threads.
    pub async fn check_password(
        &self,
        username: String,
        password: String,
    ) -> Result<Option<UserRecord>, AppError> {
        let user = if lantian_domain::user::valid_username(&username) {
            self.store()
                .read(move |c| identity::user_by_username(c, &username))
                .await?
        } else {
            None
        };
        let hash = user.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |u| u.password_hash.clone(),
        );
        let matches = self
            .inner
            .hasher
            .run(move || crate::password::verify(&password, &hash))
            .await
            .ok_or_else(AppError::internal)?;
        Ok(user.filter(|u| matches && !u.disabled))
    }

    /// Opens a refresh-token family for `user` with its first token (stored as `token_hash`).
    pub async fn open_refresh_family(
        &self,
        user: &UserRecord,
        token_hash: String,
        expires: String,
    ) -> Result<(), AppError> {
        let (user_id, uuid) = (user.id, user.uuid.to_string());
        Ok(self
            .store()
            .write(move |c| {
                let family = uuid::Uuid::now_v7().to_string();
                identity::insert_refresh(c, &family, user_id, &token_hash, &expires)?;
                audit::record(
                    c,
                    &uuid,
                    "auth.login",
                    "refresh_family",
                    &family,
                    None,
                    None,
                )?;
                Ok(())
            })
            .await?)
    }

    /// Rotates the refresh token stored as `presented` to `next` (expiring at `expires`). A token
    /// presented again after it was rotated revokes its whole family, unless it is a retry within
    /// the grace window whose answer was lost (`identity::rotate_refresh`).
    pub async fn rotate_refresh(
        &self,
        presented: String,
        next: String,
        expires: String,
    ) -> Result<Refreshed, AppError> {
        let grace = self.config().refresh_grace_secs;
        let outcome = self
            .store()
            .write(move |c| {
                let r = identity::rotate_refresh(c, &presented, &next, &expires, grace)?;
                match &r {
                    Rotation::Rotated { user, family } => {
                        audit::record(
                            c,
                            &user.uuid.to_string(),
                            "auth.refresh",
                            "refresh_family",
                            family,
                            None,
                            None,
                        )?;
                    }
                    Rotation::Reused => {
                        if let Some((family, _)) = identity::family_of(c, &presented)? {
                            audit::record(
                                c,
                                "system",
                                "auth.refresh_reuse_revoked",
                                "refresh_family",
                                &family,
                                None,
                                None,
                            )?;
                        }
                    }
                    _ => {}
                }
                Ok(r)
            })
            .await?;
        Ok(match outcome {
            Rotation::Rotated { user, .. } => Refreshed::Rotated(user),
            Rotation::Reused => Refreshed::Reused,
            Rotation::Revoked | Rotation::Expired | Rotation::Unknown => Refreshed::Invalid,
        })
    }

    /// Revokes the family of the refresh token stored as `presented`, if there is one.
    pub async fn logout(&self, presented: String) -> Result<(), AppError> {
        Ok(self
            .store()
            .write(move |c| {
                if let Some((family, user_id)) = identity::family_of(c, &presented)?
                    && identity::revoke_family(c, &family)? > 0
                {
                    audit::record(
                        c,
                        &format!("user:{user_id}"),
                        "auth.logout",
                        "refresh_family",
                        &family,
                        None,
                        None,
                    )?;
                }
                Ok(())
            })
            .await?)
    }

    /// Registers an app install for the caller; `true` when new. An install of another user is
    /// `conflict`.
    pub async fn register_client(
        &self,
        actor: &Actor,
        req: RegisterClientRequest,
    ) -> Result<(ClientView, bool), AppError> {
        actor.may(Action::RegisterClient, None)?;
        if req.app_version.trim().is_empty() || req.app_version.len() > 64 {
            return Err(AppError::new("validation_failed")
                .field("app_version")
                .detail("app_version_invalid"));
        }
        if req.device_model.as_ref().is_some_and(|d| d.len() > 128) {
            return Err(AppError::new("validation_failed")
                .field("device_model")
                .detail("device_model_too_long"));
        }
        let user = actor.0.clone();
        let (rec, created) = self
            .store()
            .write(move |c| {
                let (rec, created) = identity::register_client(
                    c,
                    req.client_id,
                    user.id,
                    &req.app_version,
                    req.device_model.as_deref(),
                )?;
                audit::record(
                    c,
                    &user.uuid.to_string(),
                    if created {
                        "client.register"
                    } else {
                        "client.update"
                    },
                    "client",
                    &req.client_id.to_string(),
                    None,
                    Some(audit::object_hash(&rec)?),
                )?;
                Ok((rec, created))
            })
            .await?;
        Ok((
            ClientView {
                client_id: rec.client_id,
                app_version: rec.app_version,
                device_model: rec.device_model,
                registered_at: rec.registered_at,
            },
            created,
        ))
    }
}

//! Sign-in and app installs: refresh-token families (opened at login, rotated, revoked at logout),
//! the check of a password, and the registration of an install. Access tokens (JWT) are HTTP's;
//! what is stored and audited is here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lantian_domain::policy::Action;
use lantian_protocol::auth::{ClientView, RegisterClientRequest};
use lantian_store::audit;
use lantian_store::identity::{self, ClientRecord, Rotation, UserRecord};
use lantian_store::{StoreError, Tx};
use uuid::Uuid;

use crate::{Actor, App, AppError};

/// A key sign-in as the HTTP layer hands it over, the challenge already checked to be its own.
#[derive(Debug)]
pub struct KeySignIn {
    pub username: String,
    pub client_id: Uuid,
    /// The challenge as sent; its hash (`challenge_hash`) is what is remembered once answered,
    /// until `challenge_expires`.
    pub challenge: String,
    pub challenge_hash: String,
    pub challenge_expires: String,
    /// The install's Ed25519 signature, base64url.
    pub signature: String,
    /// The first refresh token of the new login (its hash) and when it expires.
    pub token_hash: String,
    pub expires: String,
}

/// What a rotation found, as the caller hears it.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was current: here is its user, and the install its login is bound to; the next
    /// token is stored in its place.
    Rotated(UserRecord, Option<Uuid>),
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

    /// Opens a refresh-token family for `user` with its first token (stored as `token_hash`),
    /// bound to the install `client_id` if the user registered it and it is not revoked; returns the
    /// install it is bound to.
    pub async fn open_refresh_family(
        &self,
        user: &UserRecord,
        token_hash: String,
        expires: String,
        client_id: Option<Uuid>,
    ) -> Result<Option<Uuid>, AppError> {
        let (user_id, uuid) = (user.id, user.uuid.to_string());
        Ok(self
            .store()
            .write(move |c| {
                let family = uuid::Uuid::now_v7().to_string();
                let install = live_install(c, user_id, client_id)?;
                identity::insert_refresh(c, &family, user_id, &token_hash, &expires, install)?;
                audit::record(
                    c,
                    &uuid,
                    "auth.login",
                    "refresh_family",
                    &family,
                    None,
                    None,
                )?;
                Ok(install.and(client_id))
            })
            .await?)
    }

    /// Rotates the refresh token stored as `presented` to `next` (expiring at `expires`). A token
    /// presented again after it was rotated revokes its whole family, unless it is a retry within
    /// the grace window whose answer was lost (`identity::rotate_refresh`).
    /// A family not yet bound to an install is bound to `client_id` (the user's, not revoked).
    pub async fn rotate_refresh(
        &self,
        presented: String,
        next: String,
        expires: String,
        client_id: Option<Uuid>,
    ) -> Result<Refreshed, AppError> {
        let grace = self.config().refresh_grace_secs;
        let outcome = self
            .store()
            .write(move |c| {
                let r = identity::rotate_refresh(c, &presented, &next, &expires, grace)?;
                match &r {
                    Rotation::Rotated { user, family } => {
                        if let Some(row) = live_install(c, user.id, client_id)? {
                            identity::bind_family(c, &next, row)?;
                        }
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
                let install = match &r {
                    Rotation::Rotated { family, .. } => identity::family_install(c, family)?,
                    _ => None,
                };
                Ok((r, install))
            })
            .await?;
        Ok(match outcome {
            (Rotation::Rotated { user, .. }, install) => Refreshed::Rotated(user, install),
            (Rotation::Reused, _) => Refreshed::Reused,
            (Rotation::Revoked | Rotation::Expired | Rotation::Unknown, _) => Refreshed::Invalid,
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
        if req.app_version.trim().is_empty()
            || !lantian_domain::limits::within(&req.app_version, 64)
        {
            return Err(AppError::new("validation_failed")
                .field("app_version")
                .detail("app_version_invalid"));
        }
        if req
            .device_model
            .as_ref()
            .is_some_and(|d| !lantian_domain::limits::within(d, 128))
        {
            return Err(AppError::new("validation_failed")
                .field("device_model")
                .detail("device_model_too_long"));
        }
        if let Some(key) = &req.public_key
            && public_key(key).is_none()
        {
            return Err(AppError::new("validation_failed")
                .field("public_key")
                .detail("public_key_invalid"));
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
                    req.public_key.as_deref(),
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
            .await
            .map_err(|e| match e {
                StoreError::Conflict("client_revoked") => {
                    AppError::new("client_revoked").field("client_id")
                }
                e => e.into(),
            })?;
        Ok((client_view(rec), created))
    }

    /// Signs in an install with its key: the signature must be the install's Ed25519 signature of
    /// [`lantian_protocol::auth::install_proof_message`] over a challenge the HTTP layer has
    /// checked is its own and fresh. Each challenge is answered once. Opens a refresh family bound
    /// to the install. Unknown user or install, no key, a bad signature, a replayed challenge and a
    /// disabled user all answer `install_auth_failed`; a revoked install, once the signature
    /// holds, `client_revoked`.
    pub async fn install_sign_in(&self, k: KeySignIn) -> Result<UserRecord, AppError> {
        let KeySignIn {
            username,
            client_id,
            challenge,
            challenge_hash,
            challenge_expires,
            signature,
            token_hash,
            expires,
        } = k;
        let failed = || AppError::new("install_auth_failed");
        let lookup = username.clone();
        let found = self
            .store()
            .read(move |c| {
                let Some(user) = identity::user_by_username(c, &lookup)? else {
                    return Ok(None);
                };
                Ok(identity::client_of_user(c, user.id, client_id)?.map(|i| (user, i)))
            })
            .await?;
        let Some((user, install)) = found else {
            return Err(failed());
        };
        let key = install.public_key.as_deref().and_then(public_key);
        let signature = URL_SAFE_NO_PAD
            .decode(signature.as_bytes())
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b));
        let (Some(key), Some(signature)) = (key, signature) else {
            return Err(failed());
        };
        let message =
            lantian_protocol::auth::install_proof_message(&challenge, &username, client_id);
        if key.verify_strict(&message, &signature).is_err() {
            return Err(failed());
        }
        let row = install.row;
        self.store()
            .write(move |c| {
                let Some(now) = identity::client_of_user(c, user.id, client_id)? else {
                    return Ok(Err(failed()));
                };
                if now.revoked_at.is_some() {
                    return Ok(Err(AppError::new("client_revoked").field("client_id")));
                }
                let current = identity::user_by_uuid(c, user.uuid)?;
                let Some(current) = current.filter(|u| !u.disabled) else {
                    return Ok(Err(failed()));
                };
                if !identity::use_challenge(c, &challenge_hash, &challenge_expires)? {
                    audit::record(
                        c,
                        &current.uuid.to_string(),
                        "auth.install_challenge_replayed",
                        "client",
                        &client_id.to_string(),
                        None,
                        None,
                    )?;
                    return Ok(Err(failed()));
                }
                let family = Uuid::now_v7().to_string();
                identity::insert_refresh(c, &family, current.id, &token_hash, &expires, Some(row))?;
                audit::record(
                    c,
                    &current.uuid.to_string(),
                    "auth.install_sign_in",
                    "refresh_family",
                    &family,
                    None,
                    None,
                )?;
                Ok(Ok(current))
            })
            .await?
    }

    /// The installs of the user `user` (a user id as the API shows it), if the caller may see them:
    /// the caller's own, or a user of the caller's subtree for those who manage users.
    pub async fn clients_of(&self, actor: &Actor, user: Uuid) -> Result<Vec<ClientView>, AppError> {
        let target = self.user_managed_by(actor, user).await?;
        let rows = self
            .store()
            .read(move |c| identity::clients_of_user(c, target.id))
            .await?;
        Ok(rows.into_iter().map(client_view).collect())
    }

    /// Revokes an install of `user` at once: its logins end, its key signs nothing in, and it
    /// pushes and pulls no more. Idempotent. The caller revokes their own installs (a lost phone)
    /// or those of a user of their subtree if they manage users.
    pub async fn revoke_client(
        &self,
        actor: &Actor,
        user: Uuid,
        client_id: Uuid,
    ) -> Result<ClientView, AppError> {
        let target = self.user_managed_by(actor, user).await?;
        let by = actor.uuid.to_string();
        let rec = self
            .store()
            .write(move |c| revoke_install(c, &target, client_id, &by))
            .await?
            .ok_or_else(|| AppError::not_found().field("client_id"))?;
        Ok(client_view(rec))
    }

    /// The user `user` if the caller may manage their installs: themselves, or, for a role that
    /// manages users, a user of the caller's subtree. Anyone else answers `not_found`, like a user
    /// that does not exist.
    pub(crate) async fn user_managed_by(
        &self,
        actor: &Actor,
        user: Uuid,
    ) -> Result<UserRecord, AppError> {
        let target = self
            .store()
            .read(move |c| identity::user_by_uuid(c, user))
            .await?
            .ok_or_else(|| AppError::not_found().field("user_id"))?;
        if target.id == actor.id {
            return Ok(target);
        }
        actor
            .may(Action::ManageUsers, Some(&target.unit_path))
            .map_err(|e| e.field("user_id"))?;
        Ok(target)
    }
}

/// Revokes install `client_id` of `user` (audited as done by `by`) and returns it as it is now;
/// `None` if the user has no such install. The API and the command line both revoke through here.
pub(crate) fn revoke_install(
    c: &Tx,
    user: &UserRecord,
    client_id: Uuid,
    by: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    let Some(install) = identity::client_of_user(c, user.id, client_id)? else {
        return Ok(None);
    };
    if identity::revoke_client(c, install.row)? {
        audit::record(
            c,
            by,
            "client.revoke",
            "client",
            &format!("{}/{client_id}", user.uuid),
            None,
            None,
        )?;
    }
    identity::client_of_user(c, user.id, client_id)
}

/// The row of install `client_id` of `user_id` if it is registered and not revoked.
fn live_install(c: &Tx, user_id: i64, client_id: Option<Uuid>) -> Result<Option<i64>, StoreError> {
    let Some(id) = client_id else {
        return Ok(None);
    };
    Ok(identity::client_of_user(c, user_id, id)?
        .filter(|i| i.revoked_at.is_none())
        .map(|i| i.row))
}

/// An Ed25519 public key from its base64url text (32 bytes, a valid point).
fn public_key(text: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()?;
    let bytes = <[u8; 32]>::try_from(bytes.as_slice()).ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

pub(crate) fn client_view(rec: ClientRecord) -> ClientView {
    ClientView {
        client_id: rec.client_id,
        app_version: rec.app_version,
        device_model: rec.device_model,
        registered_at: rec.registered_at,
        has_key: rec.public_key.is_some(),
        revoked_at: rec.revoked_at,
    }
}

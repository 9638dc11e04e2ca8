//! Identity on the wire.

use lantian_domain::user::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The app install signing in, if it was registered before: the login is bound to it, and
    /// revoking the install ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// The app install refreshing: a login not yet bound to an install is bound to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
}

/// Asks for a challenge that an install signs with its key to get tokens without a password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    pub username: String,
    pub client_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// Opaque, base64url; answer it once, within `expires_in` seconds.
    pub challenge: String,
    pub expires_in: i64,
}

/// The answer to a challenge: the install's Ed25519 signature of [`install_proof_message`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSignInRequest {
    pub username: String,
    pub client_id: Uuid,
    pub challenge: String,
    /// 64 bytes, base64url without padding.
    pub signature: String,
}

/// What an install signs to sign in with its key: the challenge bound to who asks for it, so that
/// a signature for one user or install is worth nothing for another.
pub fn install_proof_message(challenge: &str, username: &str, client_id: Uuid) -> Vec<u8> {
    format!("lantian install sign-in v1\n{challenge}\n{username}\n{client_id}").into_bytes()
}

/// Answer of login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires if unused.
    pub refresh_expires_in: i64,
    pub user: UserView,
}

/// A user as the people who manage users see them (`GET /v1/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Code of the user's unit.
    pub unit: String,
    /// A disabled user signs in nowhere; every login of theirs ended when they were disabled.
    pub disabled: bool,
    /// The user holds a one-time password an administrator set, not yet changed.
    pub must_change_password: bool,
}

/// `POST /v1/users`: a new account. Its password is a one-time password the server makes and
/// answers once; the user chooses their own at the first sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Code of the user's unit (within the caller's subtree).
    pub unit: String,
}

/// A one-time password, shown once: to be handed to its user, who must change it at the next
/// sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneTimePassword {
    pub one_time_password: String,
    /// When it lapses unused (RFC 3339).
    pub expires_at: String,
}

/// Answer of `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: UserSummary,
    #[serde(flatten)]
    pub password: OneTimePassword,
}

/// `POST /v1/auth/password`: a user changes their own password, with the current one (a
/// one-time password included: this is how the forced change is made). Under the login limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub username: String,
    pub current_password: String,
    pub new_password: String,
    /// The app install changing it, if registered: the new login is bound to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
}

/// One way a user is signed in: a console session, or an app or API login (a refresh family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSession {
    /// Names it for `POST /v1/users/{user_id}/sessions/{session_id}/revoke`.
    pub id: String,
    /// `console` or `app`.
    pub kind: String,
    pub started_at: String,
    /// The last request (console) or refresh (app) seen.
    pub last_seen_at: String,
    pub expires_at: String,
    /// The app install an app login is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Uuid>,
    /// Where a console session was opened from, and with what browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// `PUT /v1/users/{user_id}/role`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// `PUT /v1/users/{user_id}/unit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitChange {
    /// Code of the unit the user moves to (within the caller's subtree).
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Code of the user's unit.
    pub unit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterClientRequest {
    /// Made by the app install (UUIDv7 recommended); bound to the registering user for good.
    pub client_id: Uuid,
    pub app_version: String,
    #[serde(default)]
    pub device_model: Option<String>,
    /// The install's Ed25519 public key (32 bytes, base64url without padding), made on the
    /// device; the private key never leaves it. Set once: it signs challenges for new tokens
    /// when the refresh token has expired (decision 0021).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientView {
    pub client_id: Uuid,
    pub app_version: String,
    pub device_model: Option<String>,
    pub registered_at: String,
    /// Whether the install registered a key.
    pub has_key: bool,
    /// When the install was revoked; a revoked install neither syncs nor signs in.
    pub revoked_at: Option<String>,
}

//! Identity on the wire.

use lantian_domain::user::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientView {
    pub client_id: Uuid,
    pub app_version: String,
    pub device_model: Option<String>,
    pub registered_at: String,
}

//! Credentials: HS256 access tokens with pinned algorithm and claims, and opaque refresh tokens of
//! which only a SHA-256 is stored. Passwords are `lantian_app::password`'s.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

pub const ISSUER: &str = "lantian";
pub const AUDIENCE: &str = "lantian-api";
const ACCESS_TYP: &str = "access";

/// The HS256 signing key and everything derived from it. `kid` (a hash prefix of the key) is put in
/// every token header; a token naming another key is refused before any signature check.
pub struct JwtKeys {
    kid: String,
    /// Keys the MAC of install challenges; derived from the secret, never used for anything else.
    challenge_key: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing key must be at least 32 bytes")]
    TooShort,
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8]) -> Result<JwtKeys, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::TooShort);
        }
        let kid = lantian_store::sha256_hex(secret)[..16].to_owned();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        let mut derive = Sha256::new();
        derive.update(b"lantian install challenge key v1\0");
        derive.update(secret);
        Ok(JwtKeys {
            kid,
            challenge_key: derive.finalize().into(),
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an access token for `user` valid for `ttl_secs` from `now`, naming the app install
    /// its login is bound to (if any): revoking that install ends the token at once.
    pub fn sign_access(
        &self,
        user: Uuid,
        install: Option<Uuid>,
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, ApiError> {
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            cid: install.map(|i| i.to_string()),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: Uuid::now_v7().to_string(),
            typ: ACCESS_TYP.into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            ApiError::internal()
        })
    }

    /// Verifies an access token: header algorithm and key id, signature, issuer, audience, times,
    /// token type. Returns the user id it names, and the install its login is bound to.
    pub fn verify_access(&self, token: &str) -> Result<(Uuid, Option<Uuid>), ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::unauthenticated())?;
        if header.alg != Algorithm::HS256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(ApiError::unauthenticated());
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::new("token_expired"),
                _ => ApiError::unauthenticated(),
            })?;
        if data.claims.typ != ACCESS_TYP {
            return Err(ApiError::unauthenticated());
        }
        let user = Uuid::parse_str(&data.claims.sub).map_err(|_| ApiError::unauthenticated())?;
        let install = data
            .claims
            .cid
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| ApiError::unauthenticated())?;
        Ok((user, install))
    }
}

/// How long an install challenge may be answered.
pub const CHALLENGE_TTL_SECS: i64 = 300;

/// A challenge checked to be this server's, for this user and install, and fresh.
#[derive(Debug)]
pub struct CheckedChallenge {
    /// What is remembered once it is answered (SHA-256 of the challenge).
    pub hash: String,
    /// When it stops being answerable (RFC 3339).
    pub expires_at: String,
}

impl JwtKeys {
    fn challenge_mac(
        &self,
        issued: i64,
        nonce: &[u8],
        username: &str,
        client_id: Uuid,
    ) -> Hmac<Sha256> {
        // A 32-byte key always fits HMAC: `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.challenge_key)
            .expect("HMAC takes keys of any length");
        mac.update(&issued.to_be_bytes());
        mac.update(nonce);
        mac.update(username.as_bytes());
        mac.update(&[0]);
        mac.update(client_id.as_bytes());
        mac
    }

    /// A challenge for `username`'s install `client_id`, issued at `now` (Unix seconds). It is
    /// stateless: the time, 16 random bytes and a MAC over them and who it is for.
    pub fn new_challenge(
        &self,
        username: &str,
        client_id: Uuid,
        now: i64,
    ) -> Result<String, ApiError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| {
            tracing::error!(error = %e, "no randomness for a challenge");
            ApiError::internal()
        })?;
        let tag = self
            .challenge_mac(now, &nonce, username, client_id)
            .finalize()
            .into_bytes();
        let mut raw = Vec::with_capacity(8 + 16 + 32);
        raw.extend_from_slice(&now.to_be_bytes());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Checks that `challenge` was made here for `username`'s install `client_id` and can still be
    /// answered at `now`. Whether it was answered before is the store's to say.
    pub fn check_challenge(
        &self,
        challenge: &str,
        username: &str,
        client_id: Uuid,
        now: i64,
    ) -> Option<CheckedChallenge> {
        let raw = URL_SAFE_NO_PAD.decode(challenge.as_bytes()).ok()?;
        if raw.len() != 8 + 16 + 32 {
            return None;
        }
        let issued = i64::from_be_bytes(raw[..8].try_into().ok()?);
        self.challenge_mac(issued, &raw[8..24], username, client_id)
            .verify_slice(&raw[24..])
            .ok()?;
        let expires = issued.checked_add(CHALLENGE_TTL_SECS)?;
        if now > expires || issued > now + 60 {
            return None;
        }
        let expires_at = chrono::DateTime::from_timestamp(expires, 0)?
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Some(CheckedChallenge {
            hash: lantian_store::sha256_hex(challenge.as_bytes()),
            expires_at,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    /// The app install the login is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    typ: String,
}

/// A fresh refresh token: 32 random bytes, base64url, with a prefix that makes leaked tokens easy
/// to spot in logs and scanners.
pub fn new_refresh_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a refresh token");
        ApiError::internal()
    })?;
    Ok(format!("ltr_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored for a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    lantian_store::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(&[7u8; 32]).expect("keys")
    }

    #[test]
    fn a_challenge_checks_only_for_whom_and_while_it_was_made() {
        let k = keys();
        let install = Uuid::now_v7();
        let now = 1_800_000_000;
        let c = k.new_challenge("wang", install, now).expect("challenge");
        assert!(k.check_challenge(&c, "wang", install, now + 10).is_some());
        assert!(
            k.check_challenge(&c, "wang", install, now + CHALLENGE_TTL_SECS + 1)
                .is_none()
        );
        assert!(k.check_challenge(&c, "li", install, now).is_none());
        assert!(k.check_challenge(&c, "wang", Uuid::now_v7(), now).is_none());
        let other = JwtKeys::from_secret(&[8u8; 32]).expect("keys");
        assert!(other.check_challenge(&c, "wang", install, now).is_none());
        let mut bytes = URL_SAFE_NO_PAD.decode(&c).expect("b64");
        bytes[0] ^= 1;
        assert!(
            k.check_challenge(&URL_SAFE_NO_PAD.encode(bytes), "wang", install, now)
                .is_none()
        );
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_user() {
        let k = keys();
        let user = Uuid::now_v7();
        let now = chrono::Utc::now().timestamp();
        let t = k.sign_access(user, None, now, 60).expect("sign");
        assert_eq!(k.verify_access(&t).expect("verify"), (user, None));
    }

    #[test]
    fn an_expired_token_says_so_and_a_future_one_is_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let old = k
            .sign_access(Uuid::now_v7(), None, now - 120, 60)
            .expect("sign");
        assert_eq!(
            k.verify_access(&old).map_err(|e| e.code),
            Err("token_expired")
        );
        let future = k
            .sign_access(Uuid::now_v7(), None, now + 600, 60)
            .expect("sign");
        assert_eq!(
            k.verify_access(&future).map_err(|e| e.code),
            Err("unauthenticated")
        );
    }

    #[test]
    fn a_token_of_another_key_is_refused() {
        let other = JwtKeys::from_secret(&[8u8; 32]).expect("keys");
        let t = other
            .sign_access(Uuid::now_v7(), None, chrono::Utc::now().timestamp(), 60)
            .expect("sign");
        assert!(keys().verify_access(&t).is_err());
    }
}

//! Credentials: argon2id password hashes, HS256 access tokens with pinned algorithm and claims, and
//! opaque refresh tokens of which only a SHA-256 is stored.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

pub const ISSUER: &str = "lantian";
pub const AUDIENCE: &str = "lantian-api";
const ACCESS_TYP: &str = "access";

/// The HS256 signing key and everything derived from it. `kid` (a hash prefix of the key) is put in
/// every token header; a token naming another key is refused before any signature check.
pub struct JwtKeys {
    kid: String,
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
        Ok(JwtKeys {
            kid,
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an access token for `user` valid for `ttl_secs` from `now`.
    pub fn sign_access(&self, user: Uuid, now: i64, ttl_secs: i64) -> Result<String, ApiError> {
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
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
    /// token type. Returns the user id it names.
    pub fn verify_access(&self, token: &str) -> Result<Uuid, ApiError> {
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
        Uuid::parse_str(&data.claims.sub).map_err(|_| ApiError::unauthenticated())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    typ: String,
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes). Slow on purpose: call
/// it off the async threads.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::PasswordHasher;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

thread_local! {
    /// argon2's working memory, kept by each hashing thread and reused for every verification:
    /// allocating 19 MiB per login leaves freed chunks in malloc arenas (measured: RSS held at
    /// ~110 MB after a few logins), reusing one buffer per thread keeps it at 19 MiB per thread.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks a password against a stored PHC string, in constant time over the output. Any malformed
/// hash is a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let ctx = argon2::Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = BLOCKS.with(|cell| {
        let mut memory = cell.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::new());
        }
        ctx.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        )
    });
    computed.is_ok()
        && out
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A fresh refresh token: 32 random bytes, base64url, with a prefix that makes leaked tokens easy
/// to spot in logs and scanners.
pub fn new_refresh_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a refresh token");
        ApiError::internal()
    })?;
    Ok(format!(
        "ltr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
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
    fn a_signed_token_verifies_and_names_its_user() {
        let k = keys();
        let user = Uuid::now_v7();
        let now = chrono::Utc::now().timestamp();
        let t = k.sign_access(user, now, 60).expect("sign");
        assert_eq!(k.verify_access(&t).expect("verify"), user);
    }

    #[test]
    fn an_expired_token_says_so_and_a_future_one_is_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let old = k.sign_access(Uuid::now_v7(), now - 120, 60).expect("sign");
        assert_eq!(
            k.verify_access(&old).map_err(|e| e.code),
            Err("token_expired")
        );
        let future = k.sign_access(Uuid::now_v7(), now + 600, 60).expect("sign");
        assert_eq!(
            k.verify_access(&future).map_err(|e| e.code),
            Err("unauthenticated")
        );
    }

    #[test]
    fn a_token_of_another_key_is_refused() {
        let other = JwtKeys::from_secret(&[8u8; 32]).expect("keys");
        let t = other
            .sign_access(Uuid::now_v7(), chrono::Utc::now().timestamp(), 60)
            .expect("sign");
        assert!(keys().verify_access(&t).is_err());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // The same password against a hash whose output was altered.
        let last = h.chars().last().expect("non-empty");
        let altered = format!(
            "{}{}",
            &h[..h.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        assert!(!verify_password("correct horse", &altered));
        // Agrees with the crate's own verifier on a hash made with other parameters.
        use argon2::PasswordHasher;
        let other = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 3, 1, None).expect("params"),
        )
        .hash_password(b"correct horse")
        .expect("hash")
        .to_string();
        assert!(verify_password("correct horse", &other));
    }
}

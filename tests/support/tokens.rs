//! Forging access tokens: the claims the server signs, signed here with any key and algorithm, so
//! a test states exactly what a hostile token says.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// The key id the server gives its signing key.
pub fn kid_of(key: &[u8]) -> String {
    lantian_store::sha256_hex(key)[..16].to_owned()
}

/// The claims of a valid access token for user `sub`.
pub fn claims(sub: &str, iat: i64, exp: i64) -> Value {
    json!({"iss": "lantian", "aud": "lantian-api", "sub": sub, "iat": iat, "nbf": iat, "exp": exp, "jti": "t", "typ": "access"})
}

pub fn sign(alg: Algorithm, key: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(key).expect("key")).expect("sign")
}

/// A token with any header, its signature an HMAC-SHA256 over header and payload with `key`
/// (or empty when `key` is `None`): for headers jsonwebtoken refuses to write.
pub fn raw(header: &Value, claims: &Value, key: Option<&[u8]>) -> String {
    use hmac_sha256::hmac;
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.map_or_else(String::new, |k| b64(&hmac(signing_input.as_bytes(), k)));
    format!("{signing_input}.{sig}")
}

mod hmac_sha256 {
    use sha2::{Digest, Sha256};

    /// HMAC-SHA256 (RFC 2104), written out so the forger does not share the server's code.
    pub fn hmac(message: &[u8], key: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .to_vec()
    }
}

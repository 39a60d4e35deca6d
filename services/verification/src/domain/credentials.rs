//! Credentials: random secrets (API keys, stream tickets), their SHA-256 hashes (the only form
//! stored), and HS256 bearer JWT checks. Pure apart from the random source.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of API keys, so a leaked key is recognisable in a scanner.
pub const API_KEY_PREFIX: &str = "bsk_";
/// Prefix of stream tickets.
pub const TICKET_PREFIX: &str = "bst_";
/// Longest credential accepted; longer is INVALID_ARGUMENT, checked before any work.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// A fresh secret: `prefix` + 32 random bytes, URL-safe base64 without padding.
pub fn generate_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The claims of a bearer JWT that matter here.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Claims {
    /// The organization id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Why a bearer token was refused (never sent to a client in detail).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// No secret is configured: bearer tokens are not accepted.
    #[error("bearer tokens are not enabled")]
    Disabled,
    /// Bad signature, expired, malformed or missing claims.
    #[error("invalid bearer token")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

/// Checks an HS256 JWT (with or without the `Bearer ` prefix) and returns its claims.
pub fn check_bearer(token: &str, secret: Option<&[u8]>) -> Result<Claims, BearerError> {
    let secret = secret.ok_or(BearerError::Disabled)?;
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    // Clocks of issuer and verifier differ a little; a few seconds is enough.
    validation.leeway = 5;
    let key = jsonwebtoken::DecodingKey::from_secret(secret);
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(BearerError::Invalid)
}

/// Signs claims with HS256 (used by tests and by operators' tooling).
pub fn sign_bearer(claims: &Claims, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &key,
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_prefixed() {
        let a = generate_secret(API_KEY_PREFIX);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_ne!(a, generate_secret(API_KEY_PREFIX));
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }

    #[test]
    fn bearer_tokens_are_checked_for_signature_and_expiry() {
        let now = chrono::Utc::now().timestamp();
        let good = sign_bearer(
            &Claims {
                sub: "org_1".into(),
                exp: now + 60,
            },
            b"s",
        );
        assert_eq!(check_bearer(&good, Some(b"s")).unwrap().sub, "org_1");
        assert!(check_bearer(&format!("Bearer {good}"), Some(b"s")).is_ok());
        assert!(matches!(
            check_bearer(&good, Some(b"other")),
            Err(BearerError::Invalid(_))
        ));
        assert!(matches!(
            check_bearer(&good, None),
            Err(BearerError::Disabled)
        ));
        let old = sign_bearer(
            &Claims {
                sub: "org_1".into(),
                exp: now - 120,
            },
            b"s",
        );
        assert!(check_bearer(&old, Some(b"s")).is_err());
        assert!(check_bearer("not-a-jwt", Some(b"s")).is_err());
    }
}

//! Agent tokens (SPEC §2): `rly_` followed by 43 characters of unpadded
//! base64url encoding 32 random bytes. Only the SHA-256 digest is stored;
//! comparison is constant-time. Tokens are high-entropy, so a fast hash is
//! the right tool (no bcrypt/argon2: authentication must cost microseconds).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix every token carries.
pub const PREFIX: &str = "rly_";

/// A freshly generated token: `rly_` + 43 base64url characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest of `token`, as stored in the `agents.token_hash` column.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` hashes to `stored`, compared in constant time.
pub fn verify(token: &str, stored: &[u8]) -> bool {
    hash(token).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_has_the_documented_shape() {
        let t = generate();
        assert!(t.starts_with(PREFIX));
        assert_eq!(t.len(), 4 + 43);
        assert!(
            t[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(t, generate());
    }

    #[test]
    fn verify_accepts_only_the_matching_token() {
        let t = generate();
        let h = hash(&t);
        assert!(verify(&t, &h));
        assert!(!verify(&generate(), &h));
    }
}

//! How a key is stored: `sha256:<salt hex>:<hex of SHA-256(salt bytes ++ key bytes)>`.
//!
//! One salted SHA-256, not a slow password hash: the keys `whisk-basic-auth add` makes are
//! 64 random alphanumeric characters (about 380 bits), far beyond brute force, and every
//! request checks one, so it must be cheap. A hand-picked short key hashed with
//! `whisk-basic-auth hash` does not get that protection; the README says so.

use sha2::{Digest, Sha256};
use std::{fmt, io};
use subtle::ConstantTimeEq;

const SCHEME: &str = "sha256";
/// Salt bytes for new hashes.
const SALT_LEN: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash {
    salt: Vec<u8>,
    digest: [u8; 32],
}

impl KeyHash {
    /// The hash of `key` with a fresh random salt.
    pub fn new(key: &str) -> io::Result<Self> {
        Ok(Self::with_salt(key, crate::secret::random_bytes(SALT_LEN)?))
    }

    pub fn with_salt(key: &str, salt: Vec<u8>) -> Self {
        let digest = digest(&salt, key.as_bytes());
        Self { salt, digest }
    }

    /// Whether `key` is the key hashed here, in time that does not depend on where the
    /// digests differ.
    pub fn matches(&self, key: &[u8]) -> bool {
        digest(&self.salt, key).ct_eq(&self.digest).into()
    }

    /// Reads the stored form; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        const SHAPE: &str = "expected `sha256:<salt hex>:<64 hex digits>`";
        let mut parts = text.split(':');
        let (Some(scheme), Some(salt), Some(digest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "{SHAPE}, found {} part(s)",
                text.split(':').count()
            ));
        };
        if scheme != SCHEME {
            return Err(format!("unknown hash scheme `{scheme}`; {SHAPE}"));
        }
        let salt = hex_decode(salt).ok_or_else(|| format!("the salt is not hex; {SHAPE}"))?;
        if salt.is_empty() {
            return Err(format!("the salt is empty; {SHAPE}"));
        }
        let digest = hex_decode(digest)
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| format!("the digest is not 64 hex digits; {SHAPE}"))?;
        Ok(Self { salt, digest })
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}:{}:{}",
            hex_encode(&self.salt),
            hex_encode(&self.digest)
        )
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

fn digest(salt: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(key);
    hasher.finalize().into()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_verifies() {
        let hash = KeyHash::new("secret").unwrap();
        let parsed = KeyHash::parse(&hash.to_string()).unwrap();
        assert_eq!(parsed, hash);
        assert!(parsed.matches(b"secret"));
        assert!(!parsed.matches(b"secreT"));
        assert!(!parsed.matches(b""));
    }

    #[test]
    fn is_sha256_of_salt_then_key() {
        // printf '\x01\x02abc' | sha256sum
        assert_eq!(
            KeyHash::with_salt("abc", vec![1, 2]).to_string(),
            "sha256:0102:bf0e4665c55d7d245e3678ba4ac7c8692ab26a4e6ccf854425757a4893351544"
        );
    }

    #[test]
    fn salts_differ() {
        assert_ne!(KeyHash::new("k").unwrap(), KeyHash::new("k").unwrap());
    }

    #[test]
    fn refuses_malformed_values() {
        for (text, says) in [
            ("sha256:00", "part"),
            ("md5:00:00", "scheme"),
            ("sha256:zz:00", "salt is not hex"),
            ("sha256::00", "salt is empty"),
            ("sha256:00:abcd", "64 hex digits"),
        ] {
            let err = KeyHash::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}

//! New uuids, keys and salts, from the kernel's random source (no random crate needed).

use std::{fs::File, io, io::Read};

/// `n` bytes from `/dev/urandom`.
pub fn random_bytes(n: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io::Error::new(e.kind(), format!("/dev/urandom: {e}")))?;
    Ok(bytes)
}

/// A random (version 4) UUID, lower-case hex, as OpenWhisk's namespace uuids.
pub fn new_uuid() -> io::Result<String> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The length of OpenWhisk's generated keys.
pub const KEY_LEN: usize = 64;

/// A random key of 64 alphanumeric characters, as OpenWhisk generates them.
pub fn new_key() -> io::Result<String> {
    // 248 = 4 × 62: bytes at or above it are skipped, so every character is equally likely.
    let limit = (256 / ALPHANUMERIC.len() * ALPHANUMERIC.len()) as u8;
    let mut key = String::with_capacity(KEY_LEN);
    while key.len() < KEY_LEN {
        for byte in random_bytes(KEY_LEN)? {
            if byte < limit && key.len() < KEY_LEN {
                key.push(ALPHANUMERIC[usize::from(byte) % ALPHANUMERIC.len()] as char);
            }
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let uuid = new_uuid().unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(uuid
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(groups[2].starts_with('4'), "{uuid}");
        assert!("89ab".contains(&groups[3][..1]), "{uuid}");
        assert_ne!(uuid, new_uuid().unwrap());
    }

    #[test]
    fn keys_are_64_alphanumerics() {
        let key = new_key().unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        assert_ne!(key, new_key().unwrap());
    }
}

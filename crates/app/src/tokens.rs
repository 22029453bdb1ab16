//! Bearer tokens idsync issues (SCIM sources, login sync).

/// A new 256-bit token, hex-encoded behind a prefix that secret scanners can spot.
pub fn new_token() -> String {
    format!("idsync_{}", hex(&rand::random::<[u8; 32]>()))
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh 128-bit value, hex-encoded: an idempotency key for one request.
pub fn request_key() -> String {
    hex(&rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = super::new_token();
        assert_eq!(a.len(), 7 + 64);
        assert_ne!(a, super::new_token());
    }
}

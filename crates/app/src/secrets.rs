//! Secrets at rest: target credentials (and later IdP client secrets) are sealed with
//! XChaCha20-Poly1305 under a key from `IDSYNC_SECRET_KEY` (64 hex digits) or from the key file
//! `secret.key` in the data directory, created with mode 0600 on first use. Each sealed value is
//! bound to what it belongs to (the associated data), so a sealed blob cannot be moved from one
//! target to another.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::Error;

/// Format tag of sealed values, so the scheme can change later.
const VERSION: u8 = 1;
pub const KEY_ENV: &str = "IDSYNC_SECRET_KEY";

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

/// `where_from` names the key's origin in the error (the variable or the file).
fn parse_hex_key(text: &str, where_from: &str) -> Result<[u8; 32], Error> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Secret(format!(
            "{where_from} is not valid: the secret key must be 64 hexadecimal digits (32 bytes), e.g. from 'openssl rand -hex 32'"
        )));
    }
    let mut key = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).unwrap_or("00");
        key[i] = u8::from_str_radix(pair, 16).unwrap_or(0);
    }
    Ok(key)
}

pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key")
}

impl SecretBox {
    /// The key from the environment, else from the key file (created when missing).
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let key = match std::env::var(KEY_ENV) {
            Ok(text) => parse_hex_key(&text, KEY_ENV)?,
            Err(_) => load_or_create(&key_file(data_dir))?,
        };
        Ok(SecretBox { cipher: XChaCha20Poly1305::new(&key.into()) })
    }

    /// A box under a key derived elsewhere (a backup's passphrase).
    pub(crate) fn from_key(key: [u8; 32]) -> Self {
        SecretBox { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    pub fn seal(&self, plaintext: &[u8], bound_to: &str) -> Result<Vec<u8>, Error> {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: bound_to.as_bytes() })
            .map_err(|_| Error::Secret(format!("sealing the secret of {bound_to} failed")))?;
        let mut out = Vec::with_capacity(1 + 24 + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open_sealed(&self, sealed: &[u8], bound_to: &str) -> Result<Vec<u8>, Error> {
        let damaged = || {
            Error::Secret(format!(
                "the stored secret of {bound_to} is damaged or from an unknown version; set it again"
            ))
        };
        if sealed.len() < 1 + 24 + 16 || sealed[0] != VERSION {
            return Err(damaged());
        }
        let nonce_bytes: [u8; 24] = sealed[1..25].try_into().map_err(|_| damaged())?;
        self.cipher
            .decrypt(&XNonce::from(nonce_bytes), Payload { msg: &sealed[25..], aad: bound_to.as_bytes() })
            .map_err(|_| {
                Error::Secret(format!(
                    "cannot decrypt the stored credentials of {bound_to}: the secret key differs from the one they were stored with (check {KEY_ENV} or the data directory's secret.key), or set them again"
                ))
            })
    }
}

fn load_or_create(path: &Path) -> Result<[u8; 32], Error> {
    let name = format!("key file {}", path.display());
    match std::fs::read(path) {
        Ok(bytes) => parse_hex_key(&String::from_utf8_lossy(&bytes), &name),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
            }
            let key: [u8; 32] = rand::random();
            let text = crate::tokens::hex(&key);
            write_private(path, &text).map_err(Error::io(format!("cannot create {name}")))?;
            // Another process may have created it first: use whatever is on disk now.
            let on_disk = std::fs::read_to_string(path).map_err(Error::io(format!("cannot read {name}")))?;
            parse_hex_key(&on_disk, &name)
        }
        Err(e) => Err(Error::io(format!("cannot read {name}"))(e)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox { cipher: XChaCha20Poly1305::new(&load_or_create(&key_file(dir.path())).unwrap().into()) };
        let sealed = a.seal(b"token", "target:jira").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"token"));
        assert_eq!(a.open_sealed(&sealed, "target:jira").unwrap(), b"token");
        assert!(a.open_sealed(&sealed, "target:other").is_err());
        let b = SecretBox { cipher: XChaCha20Poly1305::new(&[9u8; 32].into()) };
        assert!(b.open_sealed(&sealed, "target:jira").unwrap_err().to_string().contains("secret key differs"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same file gives the same key.
        assert_eq!(load_or_create(&key_file(dir.path())).unwrap(), load_or_create(&key_file(dir.path())).unwrap());
        assert!(parse_hex_key("abc", "test key").unwrap_err().to_string().contains("test key is not valid"));
    }
}

//! The RSA key pair `caching_sha2_password` full authentication uses: MySQL 8
//! generates a 2048-bit pair in its data directory on first start
//! (`caching_sha2_password_auto_generate_rsa_keys`) and hands the public half
//! to a client that asks for it without TLS; the client encrypts its password
//! (XORed with the salt) under it with OAEP, which the decoy decrypts, so the
//! plaintext of a wrong password is captured too. The pair is made the first
//! time a client asks and kept in the decky's state directory, as the real
//! server keeps `private_key.pem` and `public_key.pem`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use openssl::pkey::Private;
use openssl::rsa::{Padding, Rsa};
use tokio::sync::OnceCell;

/// Size of the key MySQL generates.
pub const RSA_BITS: u32 = 2048;
const KEY_FILE: &str = "private_key.pem";

/// One decky's server key, loaded or made on first use.
#[derive(Debug)]
pub struct ServerKey {
    dir: PathBuf,
    key: OnceCell<Option<Key>>,
}

/// A loaded key and its public PEM.
pub struct Key {
    rsa: Rsa<Private>,
    public_pem: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<rsa>)")
    }
}

impl ServerKey {
    /// The key kept under `dir`.
    pub fn new(dir: PathBuf) -> ServerKey {
        ServerKey {
            dir,
            key: OnceCell::new(),
        }
    }

    /// The key, loading or generating it the first time (None when neither works).
    pub async fn get(&self) -> Option<&Key> {
        self.key
            .get_or_init(|| async {
                let dir = self.dir.clone();
                tokio::task::spawn_blocking(move || load_or_make(&dir))
                    .await
                    .ok()
                    .flatten()
            })
            .await
            .as_ref()
    }
}

impl Key {
    /// A key from its pair (tests).
    pub fn from_rsa(rsa: Rsa<Private>) -> Option<Key> {
        let public_pem = rsa.public_key_to_pem().ok()?;
        Some(Key { rsa, public_pem })
    }

    /// `-----BEGIN PUBLIC KEY-----…`, as the server sends it.
    pub fn public_pem(&self) -> &[u8] {
        &self.public_pem
    }

    /// The password a client encrypted for `salt`: OAEP-decrypted, XORed
    /// with the salt, up to its terminating NUL. None when it does not decrypt.
    pub fn decrypt_password(&self, ciphertext: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
        let size = usize::try_from(self.rsa.size()).ok()?;
        if ciphertext.len() != size || salt.is_empty() {
            return None;
        }
        let mut out = vec![0u8; size];
        let n = self
            .rsa
            .private_decrypt(ciphertext, &mut out, Padding::PKCS1_OAEP)
            .ok()?;
        out.truncate(n);
        for (b, s) in out.iter_mut().zip(salt.iter().cycle()) {
            *b ^= s;
        }
        if let Some(end) = out.iter().position(|&b| b == 0) {
            out.truncate(end);
        }
        Some(out)
    }
}

fn load_or_make(dir: &Path) -> Option<Key> {
    let path = dir.join(KEY_FILE);
    if let Ok(pem) = std::fs::read(&path) {
        if let Ok(rsa) = Rsa::private_key_from_pem(&pem) {
            return Key::from_rsa(rsa);
        }
    }
    let rsa = Rsa::generate(RSA_BITS).ok()?;
    if let Ok(pem) = rsa.private_key_to_pem() {
        let _ = std::fs::create_dir_all(dir);
        let tmp = path.with_extension("tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&pem).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(dir = %dir.display(), error = %e, "could not keep the MySQL RSA key");
        }
    }
    Key::from_rsa(rsa)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    #[test]
    fn a_password_encrypted_as_clients_do_decrypts() {
        let key = Key::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let salt = b"abcdefghijklmnopqrst";
        let mut msg = b"S3cret!\0".to_vec();
        for (b, s) in msg.iter_mut().zip(salt.iter().cycle()) {
            *b ^= s;
        }
        let public = Rsa::public_key_from_pem(key.public_pem()).unwrap();
        let mut ct = vec![0u8; public.size() as usize];
        public
            .public_encrypt(&msg, &mut ct, Padding::PKCS1_OAEP)
            .unwrap();
        assert_eq!(key.decrypt_password(&ct, salt).unwrap(), b"S3cret!");
        assert_eq!(key.decrypt_password(&ct[1..], salt), None);
        assert_eq!(key.decrypt_password(&[0u8; 128], salt), None);
    }

    #[tokio::test]
    async fn the_key_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerKey::new(dir.path().join("mysql"));
        let pem = a.get().await.unwrap().public_pem().to_vec();
        assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----"));
        let b = ServerKey::new(dir.path().join("mysql"));
        assert_eq!(b.get().await.unwrap().public_pem(), pem.as_slice());
    }
}

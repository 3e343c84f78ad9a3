//! Host keys derived from the decky's instance seed: stable across restarts,
//! different between deckies.

use decnet_core::seed::InstanceSeed;
use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair};
use russh::keys::{HashAlg, PrivateKey};

/// The decky's Ed25519 host key.
pub fn host_key(seed: &InstanceSeed) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&seed.derive(b"ssh-host-ed25519")))
}

/// The decky's ECDSA P-256 host key: a stock OpenSSH offers one beside Ed25519,
/// and a server offering Ed25519 alone stands out in its KEXINIT.
pub fn ecdsa_host_key(seed: &InstanceSeed) -> Option<PrivateKey> {
    // A valid scalar is in [1, n); a 32-byte HMAC output misses that range
    // with probability ~2^-32, so a few counters always suffice.
    (0u8..8).find_map(|i| {
        let bytes = seed.derive(&[b"ssh-host-ecdsa-p256:".as_slice(), &[i]].concat());
        let private = p256::SecretKey::from_slice(&bytes).ok()?;
        let public = private.public_key();
        Some(PrivateKey::from(EcdsaKeypair::NistP256 {
            private: private.into(),
            public: public.into(),
        }))
    })
}

/// Every host key of the decky, in the order OpenSSH lists them.
pub fn host_keys(seed: &InstanceSeed) -> Vec<PrivateKey> {
    ecdsa_host_key(seed)
        .into_iter()
        .chain(std::iter::once(host_key(seed)))
        .collect()
}

/// `SHA256:…` as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_follow_the_seed() {
        let a = InstanceSeed::derive_for(b"k", "a");
        let b = InstanceSeed::derive_for(b"k", "b");
        assert_eq!(host_key(&a).public_key(), host_key(&a).public_key());
        assert_ne!(host_key(&a).public_key(), host_key(&b).public_key());
        assert!(fingerprint(host_key(&a).public_key()).starts_with("SHA256:"));
        let ea = ecdsa_host_key(&a).unwrap();
        assert_eq!(ea.public_key(), ecdsa_host_key(&a).unwrap().public_key());
        assert_ne!(ea.public_key(), ecdsa_host_key(&b).unwrap().public_key());
        assert_eq!(ea.algorithm().as_str(), "ecdsa-sha2-nistp256");
        assert_eq!(host_keys(&a).len(), 2);
    }
}

//! Host keys derived from the decky's instance seed: stable across restarts,
//! different between deckies.

use decnet_core::seed::InstanceSeed;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};

/// The decky's Ed25519 host key.
pub fn host_key(seed: &InstanceSeed) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&seed.derive(b"ssh-host-ed25519")))
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
    }
}

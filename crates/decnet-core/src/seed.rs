//! Stable per-decky instance seeds: everything random a persona shows is derived
//! from one, so a decky looks the same across restarts and no two deckies
//! (nor two installations) share a fingerprint.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A decky's 32-byte instance seed.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceSeed([u8; 32]);

impl std::fmt::Debug for InstanceSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceSeed(<redacted>)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

impl InstanceSeed {
    /// The seed of decky `name` under an installation key (kept in the data dir).
    pub fn derive_for(installation_key: &[u8], name: &str) -> InstanceSeed {
        InstanceSeed(hmac(
            installation_key,
            &[b"decnet-decky-seed:", name.as_bytes()],
        ))
    }

    /// 32 bytes for one purpose (`b"ssh-host-ed25519"`, `b"mysql-salt"`, …).
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac(&self.0, &[label])
    }

    /// Any number of bytes for one purpose (HMAC in counter mode).
    pub fn derive_bytes(&self, label: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut counter: u32 = 0;
        while out.len() < len {
            out.extend_from_slice(&hmac(&self.0, &[label, &counter.to_be_bytes()]));
            counter = counter.wrapping_add(1);
        }
        out.truncate(len);
        out
    }

    /// A number in `0..n` for one purpose (n must be > 0; 0 yields 0).
    pub fn pick(&self, label: &[u8], n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let b = self.derive(label);
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[..8]);
        u64::from_le_bytes(x) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        let k = b"installation";
        assert_eq!(
            InstanceSeed::derive_for(k, "a"),
            InstanceSeed::derive_for(k, "a")
        );
        assert_ne!(
            InstanceSeed::derive_for(k, "a"),
            InstanceSeed::derive_for(k, "b")
        );
        assert_ne!(
            InstanceSeed::derive_for(k, "a"),
            InstanceSeed::derive_for(b"other", "a")
        );
        let s = InstanceSeed::derive_for(k, "a");
        assert_ne!(s.derive(b"x"), s.derive(b"y"));
        let long = s.derive_bytes(b"x", 100);
        assert_eq!(long.len(), 100);
        assert_eq!(&long[..32], &s.derive_bytes(b"x", 32)[..]);
        assert!(s.pick(b"p", 7) < 7);
        assert_eq!(s.pick(b"p", 0), 0);
    }
}

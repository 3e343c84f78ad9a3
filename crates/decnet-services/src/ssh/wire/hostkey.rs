//! The decky's host keys, derived from its instance seed as a stock OpenSSH
//! install has them (RSA 3072, ECDSA P-256, Ed25519, generated in that order
//! and offered in that order), and the exchange-hash signatures.
//!
//! An RSA 3072 key takes a noticeable moment to generate, so it is made on a
//! blocking thread when the instance is built and awaited by the first
//! connection that needs it; the other two are immediate.

use std::sync::Arc;

use decnet_core::seed::InstanceSeed;
use rand10::SeedableRng;
use ssh_key::encoding::Encode;
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::{HashAlg, PrivateKey, PublicKey};
use tokio::sync::OnceCell;

use super::WireError;

/// Bits of the RSA host key (`ssh-keygen -A` default).
pub const RSA_BITS: usize = 3072;

/// The decky's Ed25519 host key.
pub fn ed25519(seed: &InstanceSeed) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&ed25519_seed(seed)))
}

fn ed25519_seed(seed: &InstanceSeed) -> [u8; 32] {
    seed.derive(b"ssh-host-ed25519")
}

/// The decky's ECDSA P-256 host key.
pub fn ecdsa(seed: &InstanceSeed) -> Option<PrivateKey> {
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

/// The decky's RSA host key (slow: call it off the async threads).
pub fn rsa(seed: &InstanceSeed) -> Result<PrivateKey, WireError> {
    let mut rng = rand_chacha10::ChaCha20Rng::from_seed(seed.derive(b"ssh-host-rsa-3072"));
    let pair = RsaKeypair::random(&mut rng, RSA_BITS)
        .map_err(|_| WireError::Crypto("RSA host key generation failed"))?;
    Ok(PrivateKey::from(pair))
}

/// `SHA256:…` as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The RSA key, and the same key for `ring`, which signs `rsa-sha2-*` several
/// times faster than the constant-time `rsa` crate (one signature per connection).
#[derive(Debug)]
struct RsaHost {
    key: PrivateKey,
    fast: Option<ring::signature::RsaKeyPair>,
}

/// One decky's host keys.
#[derive(Debug, Clone)]
pub struct HostKeys {
    seed: InstanceSeed,
    rsa: Arc<OnceCell<Option<RsaHost>>>,
    ecdsa: Option<PrivateKey>,
    ed25519: PrivateKey,
    /// The same key expanded once: `ssh-key` re-derives it (a scalar
    /// multiplication) on every signature, one per connection.
    ed25519_signer: ed25519_dalek::SigningKey,
}

impl HostKeys {
    /// The keys of `seed`; the RSA key starts generating on a blocking thread
    /// when a runtime is running.
    pub fn new(seed: &InstanceSeed) -> HostKeys {
        let keys = HostKeys {
            seed: seed.clone(),
            rsa: Arc::new(OnceCell::new()),
            ecdsa: ecdsa(seed),
            ed25519: ed25519(seed),
            ed25519_signer: ed25519_dalek::SigningKey::from_bytes(&ed25519_seed(seed)),
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let k = keys.clone();
            rt.spawn(async move {
                k.rsa().await;
            });
        }
        keys
    }

    /// The RSA key, generated on first use.
    pub async fn rsa(&self) -> Option<&PrivateKey> {
        self.rsa_host().await.map(|h| &h.key)
    }

    async fn rsa_host(&self) -> Option<&RsaHost> {
        self.rsa
            .get_or_init(|| async {
                let seed = self.seed.clone();
                let made = tokio::task::spawn_blocking(move || {
                    rsa(&seed).map(|key| {
                        let fast = ring_rsa(&key);
                        RsaHost { key, fast }
                    })
                });
                match made.await {
                    Ok(Ok(k)) => Some(k),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "no RSA host key: only ECDSA and Ed25519 are offered");
                        None
                    }
                    Err(_) => None,
                }
            })
            .await
            .as_ref()
    }

    /// The Ed25519 key.
    pub fn ed25519(&self) -> &PrivateKey {
        &self.ed25519
    }

    /// The ECDSA key.
    pub fn ecdsa(&self) -> Option<&PrivateKey> {
        self.ecdsa.as_ref()
    }

    /// Host key algorithms for KEXINIT in OpenSSH's order (RSA, ECDSA, Ed25519),
    /// with the RSA signature names of the release.
    pub async fn algorithms(&self, rsa_algs: &[&str]) -> String {
        let mut v: Vec<&str> = Vec::new();
        if self.rsa().await.is_some() {
            v.extend_from_slice(rsa_algs);
        }
        if self.ecdsa.is_some() {
            v.push("ecdsa-sha2-nistp256");
        }
        v.push("ssh-ed25519");
        v.join(",")
    }

    /// The signature of `data` for host key algorithm `alg` with the key that
    /// [`HostKeys::for_alg`] names.
    pub async fn sign(&self, alg: &str, data: &[u8]) -> Result<Vec<u8>, WireError> {
        let ring_alg: &'static dyn ring::signature::RsaEncoding = match alg {
            "rsa-sha2-512" => &ring::signature::RSA_PKCS1_SHA512,
            "rsa-sha2-256" => &ring::signature::RSA_PKCS1_SHA256,
            "ssh-ed25519" => {
                use ed25519_dalek::Signer as _;
                let sig = self.ed25519_signer.sign(data).to_bytes();
                let mut out = Vec::with_capacity(sig.len() + 24);
                super::codec::put_str(&mut out, alg);
                super::codec::put_string(&mut out, &sig);
                return Ok(out);
            }
            _ => {
                let key = self
                    .for_alg(alg)
                    .await
                    .ok_or(WireError::NoCommonAlgorithm("host key"))?;
                return sign(key, alg, data);
            }
        };
        let host = self
            .rsa_host()
            .await
            .ok_or(WireError::NoCommonAlgorithm("host key"))?;
        let Some(fast) = &host.fast else {
            return sign(&host.key, alg, data);
        };
        let mut sig = vec![0u8; fast.public().modulus_len()];
        fast.sign(ring_alg, &ring::rand::SystemRandom::new(), data, &mut sig)
            .map_err(|_| WireError::Crypto("host key signature failed"))?;
        let mut out = Vec::with_capacity(sig.len() + 24);
        super::codec::put_str(&mut out, alg);
        super::codec::put_string(&mut out, &sig);
        Ok(out)
    }

    /// The key that signs for host key algorithm `alg`.
    pub async fn for_alg(&self, alg: &str) -> Option<&PrivateKey> {
        match alg {
            "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa" => self.rsa().await,
            "ecdsa-sha2-nistp256" => self.ecdsa(),
            "ssh-ed25519" => Some(&self.ed25519),
            _ => None,
        }
    }
}

/// A DER length.
fn der_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let digits = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | digits.len() as u8);
        out.extend_from_slice(digits);
    }
}

/// A DER INTEGER of an unsigned big-endian value.
fn der_uint(out: &mut Vec<u8>, v: &[u8]) {
    let start = v.iter().take_while(|b| **b == 0).count();
    let v = v.get(start..).unwrap_or(&[]);
    let pad = v.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    der_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// The key as `ring` takes it: a PKCS#1 `RSAPrivateKey`, CRT exponents computed.
fn ring_rsa(key: &PrivateKey) -> Option<ring::signature::RsaKeyPair> {
    use num_bigint::BigUint;
    let KeypairData::Rsa(pair) = key.key_data() else {
        return None;
    };
    let n = pair.public().n().as_positive_bytes()?;
    let e = pair.public().e().as_positive_bytes()?;
    let d = pair.private().d().as_positive_bytes()?;
    let p = pair.private().p().as_positive_bytes()?;
    let q = pair.private().q().as_positive_bytes()?;
    let iqmp = pair.private().iqmp().as_positive_bytes()?;
    let one = BigUint::from(1u8);
    let dn = BigUint::from_bytes_be(d);
    let dp = (&dn % (BigUint::from_bytes_be(p) - &one)).to_bytes_be();
    let dq = (&dn % (BigUint::from_bytes_be(q) - &one)).to_bytes_be();
    let mut body = Vec::with_capacity(2048);
    der_uint(&mut body, &[0]);
    for v in [n, e, d, p, q, &dp, &dq, iqmp] {
        der_uint(&mut body, v);
    }
    let mut der = vec![0x30];
    der_len(&mut der, body.len());
    der.extend_from_slice(&body);
    match ring::signature::RsaKeyPair::from_der(&der) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(error = %e, "RSA host key not usable by ring: signing with the slower rsa crate");
            None
        }
    }
}

/// The public key blob (`K_S`).
pub fn blob(key: &PrivateKey) -> Result<Vec<u8>, WireError> {
    key.public_key()
        .to_bytes()
        .map_err(|_| WireError::Crypto("host key encoding failed"))
}

/// The signature of `data` for host key algorithm `alg`, encoded as the
/// `string`'s content (`string alg || string blob`).
pub fn sign(key: &PrivateKey, alg: &str, data: &[u8]) -> Result<Vec<u8>, WireError> {
    use signature::Signer;
    let failed = |_| WireError::Crypto("host key signature failed");
    let sig: ssh_key::Signature = match key.key_data() {
        KeypairData::Rsa(pair) => {
            let hash = match alg {
                "rsa-sha2-512" => Some(HashAlg::Sha512),
                "rsa-sha2-256" => Some(HashAlg::Sha256),
                _ => None,
            };
            (pair, hash).try_sign(data).map_err(failed)?
        }
        other => other.try_sign(data).map_err(failed)?,
    };
    let mut out = Vec::new();
    sig.encode(&mut out)
        .map_err(|_| WireError::Crypto("signature encoding failed"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_keys_follow_the_seed_and_list_in_openssh_order() {
        let a = InstanceSeed::derive_for(b"k", "a");
        let b = InstanceSeed::derive_for(b"k", "b");
        assert_eq!(ed25519(&a).public_key(), ed25519(&a).public_key());
        assert_ne!(ed25519(&a).public_key(), ed25519(&b).public_key());
        let ka = HostKeys::new(&a);
        assert_eq!(
            ka.algorithms(&["rsa-sha2-512", "rsa-sha2-256"]).await,
            "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
        );
        let rsa_a = ka.rsa().await.unwrap().public_key().clone();
        assert_eq!(&rsa_a, HostKeys::new(&a).rsa().await.unwrap().public_key());
        assert_ne!(&rsa_a, HostKeys::new(&b).rsa().await.unwrap().public_key());
        let sig = sign(ka.rsa().await.unwrap(), "rsa-sha2-256", b"h").unwrap();
        assert!(sig.windows(12).any(|w| w == b"rsa-sha2-256"));
        // PKCS#1 v1.5 is deterministic: ring's signature is the rsa crate's, byte for byte.
        for alg in ["rsa-sha2-256", "rsa-sha2-512"] {
            let slow = sign(ka.rsa().await.unwrap(), alg, b"exchange hash").unwrap();
            let fast = ka.sign(alg, b"exchange hash").await.unwrap();
            assert_eq!(fast, slow, "{alg}");
        }
        assert!(ka.rsa_host().await.unwrap().fast.is_some());
        // Ed25519 is deterministic too: the cached signer signs as ssh-key does.
        assert_eq!(
            ka.sign("ssh-ed25519", b"exchange hash").await.unwrap(),
            sign(ka.ed25519(), "ssh-ed25519", b"exchange hash").unwrap()
        );
        assert!(fingerprint(ka.ed25519().public_key()).starts_with("SHA256:"));
    }
}

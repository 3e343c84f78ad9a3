//! The server's side of each key exchange method (RFC 4253 §8, RFC 4419,
//! RFC 5656, RFC 8731, and OpenSSH's sntrup761x25519 and mlkem768x25519
//! hybrids), the exchange hash and the key derivation of RFC 4253 §7.2.
//!
//! Every function takes the client's public value as attacker bytes and
//! refuses wrong sizes, points off the curve and out-of-range DH values.

use std::sync::OnceLock;

use curve25519_dalek::montgomery::MontgomeryPoint;
use num_bigint::BigUint;
use rand::RngCore;
use ring::digest;

use super::codec::{mpint, put_mpint, put_string, put_u32};
use super::groups;
use super::WireError;

/// The hash of a key exchange method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (group14-sha1 on 7.x personas).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    fn alg(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.alg(), data).as_ref().to_vec()
    }
}

/// An elliptic curve of `ecdh-sha2-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
}

/// A key exchange method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `curve25519-sha256`, `curve25519-sha256@libssh.org`.
    Curve25519,
    /// `ecdh-sha2-nistp*`.
    Ecdh(Curve),
    /// `diffie-hellman-group{14,16,18}-*`: the group's bit size and hash.
    Dh(usize, Hash),
    /// `diffie-hellman-group-exchange-sha256`.
    Gex,
    /// `sntrup761x25519-sha512[@openssh.com]`.
    Sntrup,
    /// `mlkem768x25519-sha256`.
    Mlkem,
}

impl Method {
    /// The method of a wire name.
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "curve25519-sha256" | "curve25519-sha256@libssh.org" => Method::Curve25519,
            "ecdh-sha2-nistp256" => Method::Ecdh(Curve::P256),
            "ecdh-sha2-nistp384" => Method::Ecdh(Curve::P384),
            "ecdh-sha2-nistp521" => Method::Ecdh(Curve::P521),
            "diffie-hellman-group14-sha1" => Method::Dh(2048, Hash::Sha1),
            "diffie-hellman-group14-sha256" => Method::Dh(2048, Hash::Sha256),
            "diffie-hellman-group16-sha512" => Method::Dh(4096, Hash::Sha512),
            "diffie-hellman-group18-sha512" => Method::Dh(8192, Hash::Sha512),
            "diffie-hellman-group-exchange-sha256" => Method::Gex,
            "sntrup761x25519-sha512" | "sntrup761x25519-sha512@openssh.com" => Method::Sntrup,
            "mlkem768x25519-sha256" => Method::Mlkem,
            _ => return None,
        })
    }

    /// The method's hash.
    pub fn hash(self) -> Hash {
        match self {
            Method::Curve25519 | Method::Gex | Method::Mlkem => Hash::Sha256,
            Method::Ecdh(Curve::P256) => Hash::Sha256,
            Method::Ecdh(Curve::P384) => Hash::Sha384,
            Method::Ecdh(Curve::P521) | Method::Sntrup => Hash::Sha512,
            Method::Dh(_, h) => h,
        }
    }
}

/// A server's answer to the client's ephemeral value: its own value and the
/// shared secret `K`, already encoded as it enters the hashes (an `mpint`,
/// or a `string` for the post-quantum hybrids).
#[derive(Debug)]
pub struct Reply {
    /// `Q_S` (or `f` for Diffie-Hellman, as its unsigned bytes).
    pub server_public: Vec<u8>,
    /// `K`, encoded.
    pub k: Vec<u8>,
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// X25519 with a fresh secret: our public value and the raw shared secret.
fn x25519(client: &[u8]) -> Result<([u8; 32], [u8; 32]), WireError> {
    let c: [u8; 32] = client
        .try_into()
        .map_err(|_| WireError::Kex("curve25519 public value is not 32 bytes"))?;
    let secret = random32();
    let ours = MontgomeryPoint::mul_base_clamped(secret);
    let shared = MontgomeryPoint(c).mul_clamped(secret);
    if shared.0 == [0u8; 32] {
        return Err(WireError::Kex("curve25519 public value of low order"));
    }
    Ok((ours.0, shared.0))
}

fn ecdh<C>(client: &[u8]) -> Result<Reply, WireError>
where
    C: elliptic_curve::CurveArithmetic + elliptic_curve::point::PointCompression,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
{
    use elliptic_curve::Generate;
    let peer = elliptic_curve::PublicKey::<C>::from_sec1_bytes(client)
        .map_err(|_| WireError::Kex("ECDH public value is not a point of the curve"))?;
    let secret = elliptic_curve::ecdh::EphemeralSecret::<C>::generate_from_rng(&mut rand10::rng());
    let ours = secret.public_key().to_sec1_bytes().to_vec();
    let shared = secret.diffie_hellman(&peer);
    Ok(Reply {
        server_public: ours,
        k: mpint(shared.raw_secret_bytes()),
    })
}

/// The server's half of an ECDH-shaped exchange (`Q_C` in, `Q_S` and `K` out).
pub fn ecdh_reply(method: Method, client: &[u8]) -> Result<Reply, WireError> {
    match method {
        Method::Curve25519 => {
            let (ours, shared) = x25519(client)?;
            Ok(Reply {
                server_public: ours.to_vec(),
                k: mpint(&shared),
            })
        }
        Method::Ecdh(Curve::P256) => ecdh::<p256::NistP256>(client),
        Method::Ecdh(Curve::P384) => ecdh::<p384::NistP384>(client),
        Method::Ecdh(Curve::P521) => ecdh::<p521::NistP521>(client),
        Method::Sntrup => {
            let (kem, x) = client
                .split_at_checked(sntrup761::PUBLIC_KEY_SIZE)
                .ok_or(WireError::Kex("sntrup761 public value too short"))?;
            let pk = sntrup761::EncapsulationKey::try_from(kem)
                .map_err(|_| WireError::Kex("sntrup761 public key malformed"))?;
            let (ours, shared_x) = x25519(x)?;
            let (ct, ss) = pk.encapsulate_deterministic(random32());
            let mut both = ss.as_ref().to_vec();
            both.extend_from_slice(&shared_x);
            let mut server_public = ct.as_ref().to_vec();
            server_public.extend_from_slice(&ours);
            let mut k = Vec::new();
            put_string(&mut k, &Hash::Sha512.digest(&both));
            Ok(Reply { server_public, k })
        }
        Method::Mlkem => {
            use ml_kem::kem::{Encapsulate, EncapsulationKey};
            use ml_kem::TryKeyInit;
            let (kem, x) = client
                .split_at_checked(1184)
                .ok_or(WireError::Kex("mlkem768 public value too short"))?;
            let ek = EncapsulationKey::<ml_kem::MlKem768>::new_from_slice(kem)
                .map_err(|_| WireError::Kex("mlkem768 public key malformed"))?;
            let (ours, shared_x) = x25519(x)?;
            let (ct, ss) = ek.encapsulate_with_rng(&mut rand10::rng());
            let mut both = ss.as_slice().to_vec();
            both.extend_from_slice(&shared_x);
            let mut server_public = ct.as_slice().to_vec();
            server_public.extend_from_slice(&ours);
            let mut k = Vec::new();
            put_string(&mut k, &Hash::Sha256.digest(&both));
            Ok(Reply { server_public, k })
        }
        Method::Dh(..) | Method::Gex => Err(WireError::Kex("not an ECDH-shaped method")),
    }
}

/// A Diffie-Hellman group: prime and generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The prime, unsigned big-endian.
    pub p: Vec<u8>,
    /// The generator, unsigned big-endian.
    pub g: Vec<u8>,
}

impl Group {
    fn from_hex(chunks: &[&str]) -> Group {
        Group {
            p: hex::decode(chunks.concat()).unwrap_or_default(),
            g: vec![2],
        }
    }

    /// An RFC 3526 group by bit size (2048, 4096 or 8192).
    pub fn fixed(bits: usize) -> Group {
        Group::from_hex(match bits {
            0..=2048 => groups::GROUP14,
            2049..=4096 => groups::GROUP16,
            _ => groups::GROUP18,
        })
    }

    /// Bits of the prime.
    pub fn bits(&self) -> u64 {
        BigUint::from_bytes_be(&self.p).bits()
    }
}

/// The server's half of Diffie-Hellman: `e` (unsigned) in, `f` and `K` out.
pub fn dh_reply(group: &Group, e: &[u8]) -> Result<Reply, WireError> {
    let p = BigUint::from_bytes_be(&group.p);
    let g = BigUint::from_bytes_be(&group.g);
    let e = BigUint::from_bytes_be(e);
    let one = BigUint::from(1u8);
    // RFC 4253 §8: e must be in [1, p-1]; OpenSSH refuses 1 and p-1 too.
    if e <= one || e >= &p - &one {
        return Err(WireError::Kex("DH public value out of range"));
    }
    let mut y = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut y);
    let y = BigUint::from_bytes_be(&y);
    let f = g.modpow(&y, &p);
    let k = e.modpow(&y, &p);
    Ok(Reply {
        server_public: f.to_bytes_be(),
        k: mpint(&k.to_bytes_be()),
    })
}

/// OpenSSH's `DH_GRP_MIN` and `DH_GRP_MAX`.
pub const GEX_MIN: u32 = 2048;
/// See [`GEX_MIN`].
pub const GEX_MAX: u32 = 8192;

/// Safe primes of `/etc/ssh/moduli` (`(size, group)`), read once.
fn moduli() -> &'static [(u32, Group)] {
    static MODULI: OnceLock<Vec<(u32, Group)>> = OnceLock::new();
    MODULI.get_or_init(|| {
        std::fs::read_to_string("/etc/ssh/moduli")
            .map(|t| parse_moduli(&t))
            .unwrap_or_default()
    })
}

/// Parses moduli lines (`time type tests tries size generator modulus`) as
/// OpenSSH's `parse_prime` accepts them: safe primes (type 2) that passed
/// Miller-Rabin (tests bit 0x04); the listed size is one less than the bits.
pub fn parse_moduli(text: &str) -> Vec<(u32, Group)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [_, kind, tests, _, size, gen, modulus] = f.as_slice() else {
                return None;
            };
            let tests: u32 = tests.parse().ok()?;
            if *kind != "2" || tests & 0x04 == 0 {
                return None;
            }
            let size: u32 = size.parse::<u32>().ok()?.checked_add(1)?;
            let g = BigUint::parse_bytes(gen.as_bytes(), 16)?.to_bytes_be();
            let p = hex::decode(if modulus.len() % 2 == 1 {
                format!("0{modulus}")
            } else {
                (*modulus).to_owned()
            })
            .ok()?;
            Some((size, Group { p, g }))
        })
        .collect()
}

/// The group OpenSSH's `choose_dh` picks for a request: among the moduli
/// within `[min, max]`, the smallest size above `want` (or the largest below
/// it), one of that size at random; the fixed fallback by `max` otherwise.
pub fn choose_group(min: u32, want: u32, max: u32) -> Option<Group> {
    if max < min || want < min || max < want || max < GEX_MIN {
        return None;
    }
    let min = min.max(GEX_MIN);
    let max = max.min(GEX_MAX);
    let want = want.clamp(GEX_MIN, GEX_MAX);
    Some(choose_from(moduli(), min, want, max))
}

/// [`choose_group`] over a given moduli list.
pub fn choose_from(moduli: &[(u32, Group)], min: u32, want: u32, max: u32) -> Group {
    let mut best = 0u32;
    for (size, _) in moduli {
        let size = *size;
        if size > max || size < min {
            continue;
        }
        if (size > want && size < best) || (size > best && best < want) {
            best = size;
        }
    }
    let candidates: Vec<&Group> = moduli
        .iter()
        .filter(|(s, _)| *s == best)
        .map(|(_, g)| g)
        .collect();
    if candidates.is_empty() {
        return Group::fixed(match max {
            0..=3071 => 2048,
            3072..=6143 => 4096,
            _ => 8192,
        });
    }
    let i = usize::try_from(rand::random::<u32>()).unwrap_or(0) % candidates.len();
    candidates
        .get(i)
        .map(|g| (*g).clone())
        .unwrap_or_else(|| Group::fixed(2048))
}

/// The fields every exchange hash starts with.
#[derive(Debug, Clone, Default)]
pub struct HashPrefix {
    /// `V_C`.
    pub client_ident: Vec<u8>,
    /// `V_S`.
    pub server_ident: Vec<u8>,
    /// `I_C`, the client's KEXINIT payload.
    pub client_kexinit: Vec<u8>,
    /// `I_S`.
    pub server_kexinit: Vec<u8>,
    /// `K_S`, the host key blob.
    pub host_key: Vec<u8>,
}

impl HashPrefix {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(
            self.client_kexinit.len() + self.server_kexinit.len() + self.host_key.len() + 600,
        );
        put_string(&mut b, &self.client_ident);
        put_string(&mut b, &self.server_ident);
        put_string(&mut b, &self.client_kexinit);
        put_string(&mut b, &self.server_kexinit);
        put_string(&mut b, &self.host_key);
        b
    }

    /// `H` of an ECDH-shaped exchange: `Q_C`, `Q_S` as strings, then `K`.
    pub fn ecdh_hash(&self, hash: Hash, q_c: &[u8], q_s: &[u8], k: &[u8]) -> Vec<u8> {
        let mut b = self.encode();
        put_string(&mut b, q_c);
        put_string(&mut b, q_s);
        b.extend_from_slice(k);
        hash.digest(&b)
    }

    /// `H` of fixed-group Diffie-Hellman: `e`, `f` as mpints, then `K`.
    pub fn dh_hash(&self, hash: Hash, e: &[u8], f: &[u8], k: &[u8]) -> Vec<u8> {
        let mut b = self.encode();
        put_mpint(&mut b, e);
        put_mpint(&mut b, f);
        b.extend_from_slice(k);
        hash.digest(&b)
    }

    /// `H` of group exchange (RFC 4419 §3).
    #[allow(clippy::too_many_arguments)]
    pub fn gex_hash(
        &self,
        hash: Hash,
        (min, n, max): (u32, u32, u32),
        group: &Group,
        e: &[u8],
        f: &[u8],
        k: &[u8],
    ) -> Vec<u8> {
        let mut b = self.encode();
        put_u32(&mut b, min);
        put_u32(&mut b, n);
        put_u32(&mut b, max);
        put_mpint(&mut b, &group.p);
        put_mpint(&mut b, &group.g);
        put_mpint(&mut b, e);
        put_mpint(&mut b, f);
        b.extend_from_slice(k);
        hash.digest(&b)
    }
}

/// Key material of RFC 4253 §7.2: `HASH(K || H || letter || session_id)`,
/// extended with `HASH(K || H || K1 ..)` until `len` bytes.
pub fn derive(
    hash: Hash,
    k: &[u8],
    h: &[u8],
    letter: u8,
    session_id: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut first = Vec::with_capacity(k.len() + h.len() + 1 + session_id.len());
    first.extend_from_slice(k);
    first.extend_from_slice(h);
    first.push(letter);
    first.extend_from_slice(session_id);
    let mut out = hash.digest(&first);
    while out.len() < len {
        let mut next = Vec::with_capacity(k.len() + h.len() + out.len());
        next.extend_from_slice(k);
        next.extend_from_slice(h);
        next.extend_from_slice(&out);
        out.extend_from_slice(&hash.digest(&next));
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_groups_have_their_sizes() {
        assert_eq!(Group::fixed(2048).bits(), 2048);
        assert_eq!(Group::fixed(4096).bits(), 4096);
        assert_eq!(Group::fixed(8192).bits(), 8192);
    }

    #[test]
    fn group_exchange_picks_as_openssh_does() {
        let text = "20230101000000 2 6 100 3071 2 F7\n\
                    20230101000000 2 6 100 3071 5 FB\n\
                    20230101000000 2 6 100 4095 2 FD\n\
                    20230101000000 2 6 100 7679 2 FF\n\
                    20230101000000 1 6 100 8191 2 FF\n";
        let m = parse_moduli(text);
        assert_eq!(m.len(), 4, "type 1 lines are not safe primes");
        // One pick, compared with every group of the size (a pick per
        // comparison would fail whenever two picks differ).
        let picked = choose_from(&m, 2048, 3072, 8192);
        assert!(m
            .iter()
            .filter(|(s, _)| *s == 3072)
            .any(|(_, g)| g == &picked));
        assert_eq!(
            choose_from(&m, 2048, 4000, 8192),
            m[2].1,
            "the smallest size above the request"
        );
        assert_eq!(
            choose_from(&m, 2048, 8192, 8192),
            m[3].1,
            "else the largest below it"
        );
        assert_eq!(choose_from(&[], 2048, 8192, 8192), Group::fixed(8192));
        assert_eq!(choose_from(&[], 2048, 3072, 4096), Group::fixed(4096));
        assert_eq!(choose_group(4096, 2048, 8192), None, "want below min");
    }

    #[test]
    fn dh_refuses_trivial_public_values() {
        let g = Group::fixed(2048);
        assert!(dh_reply(&g, &[1]).is_err());
        assert!(dh_reply(&g, &[]).is_err());
        assert!(dh_reply(&g, &g.p).is_err());
        assert!(dh_reply(&g, &[2]).is_ok());
    }

    #[test]
    fn curve25519_refuses_wrong_sizes_and_low_order_points() {
        assert!(ecdh_reply(Method::Curve25519, &[9; 31]).is_err());
        assert!(ecdh_reply(Method::Curve25519, &[0; 32]).is_err());
        assert!(ecdh_reply(Method::Curve25519, &[9; 32]).is_ok());
        assert!(ecdh_reply(Method::Ecdh(Curve::P256), &[4; 65]).is_err());
    }

    #[test]
    fn key_derivation_extends_with_the_previous_output() {
        let a = derive(Hash::Sha256, b"k", b"h", b'A', b"s", 64);
        assert_eq!(a.len(), 64);
        assert_eq!(a[..32], Hash::Sha256.digest(b"khAs")[..]);
        assert_eq!(
            a[32..],
            Hash::Sha256.digest(&[b"kh".as_slice(), &a[..32]].concat())[..]
        );
    }
}

//! SCRAM-SHA-1 and SCRAM-SHA-256 as mongod speaks them (RFC 5802/7677 inside
//! `saslStart`/`saslContinue`): mongod's iteration counts (10000 and 15000),
//! salt lengths (16 and 28 bytes) and 24-byte server nonce, and MongoDB's
//! SCRAM-SHA-1 quirk: the PBKDF2 password is not the password but the hex
//! MD5 of `user:mongo:password`. The message parsers are PostgreSQL's
//! (`crate::postgres::auth`), the same RFC 5802 grammar.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use decnet_core::SecretKind;

/// A SCRAM mechanism mongod offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// SCRAM-SHA-1 (password digested first).
    Sha1,
    /// SCRAM-SHA-256.
    Sha256,
}

impl Mechanism {
    /// The SASL name.
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-1" => Some(Mechanism::Sha1),
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            _ => None,
        }
    }

    /// Its SASL name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha1 => "SCRAM-SHA-1",
            Mechanism::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// mongod's default `scramIterationCount` / `scramSHA256IterationCount`.
    pub fn iterations(self) -> u32 {
        match self {
            Mechanism::Sha1 => 10_000,
            Mechanism::Sha256 => 15_000,
        }
    }

    /// Salt bytes mongod stores (the hash length less four).
    pub fn salt_len(self) -> usize {
        match self {
            Mechanism::Sha1 => 16,
            Mechanism::Sha256 => 28,
        }
    }

    /// The credential kind a proof is captured as.
    pub fn kind(self) -> SecretKind {
        match self {
            Mechanism::Sha1 => SecretKind::ScramSha1,
            Mechanism::Sha256 => SecretKind::ScramSha256,
        }
    }
}

/// Random bytes in mongod's server nonce (three quad-words), base64-encoded on the wire.
pub const SERVER_NONCE_LEN: usize = 24;

/// MongoDB's password digest: hex MD5 of `user:mongo:password` (what SCRAM-SHA-1 hashes).
pub fn password_digest(user: &str, password: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(user.as_bytes());
    h.update(b":mongo:");
    h.update(password);
    hex::encode(h.finalize())
}

/// The bytes PBKDF2 runs over for `mech`.
pub fn scram_password(mech: Mechanism, user: &str, password: &[u8]) -> Vec<u8> {
    match mech {
        Mechanism::Sha1 => password_digest(user, password).into_bytes(),
        // SASLprep maps nothing in the passwords the world plants (ASCII).
        Mechanism::Sha256 => password.to_vec(),
    }
}

fn hmac(mech: Mechanism, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match mech {
        Mechanism::Sha1 => {
            let Ok(mut m) = Hmac::<Sha1>::new_from_slice(key) else {
                return Vec::new();
            };
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        Mechanism::Sha256 => {
            let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
                return Vec::new();
            };
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn hash(mech: Mechanism, data: &[u8]) -> Vec<u8> {
    match mech {
        Mechanism::Sha1 => Sha1::digest(data).to_vec(),
        Mechanism::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// PBKDF2 of one block: SCRAM's SaltedPassword.
pub fn salted_password(mech: Mechanism, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut u = hmac(mech, password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u.clone();
    for _ in 1..iterations {
        u = hmac(mech, password, &[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// The ClientProof a client with this password sends, and the ServerSignature that answers it.
pub fn proof_and_signature(
    mech: Mechanism,
    user: &str,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let salted = salted_password(
        mech,
        &scram_password(mech, user, password),
        salt,
        iterations,
    );
    let client_key = hmac(mech, &salted, &[b"Client Key"]);
    let stored = hash(mech, &client_key);
    let client_sig = hmac(mech, &stored, &[auth_message]);
    let proof = client_key
        .iter()
        .zip(client_sig.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(mech, &salted, &[b"Server Key"]);
    (proof, hmac(mech, &server_key, &[auth_message]))
}

/// A SCRAM `saslname` decoded (`=2C` is a comma, `=3D` an equals sign).
pub fn decode_saslname(s: &str) -> String {
    s.replace("=2C", ",").replace("=3D", "=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn scram_sha_1_matches_rfc_5802s_example_on_a_raw_password() {
        // RFC 5802 §5 (user "user", password "pencil"), run over the password itself.
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("QSXCR+Q6sek8bf92").unwrap();
        let am = "n=user,r=fyko+d2lbbFgONRv9qkxdawL,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        let salted = salted_password(Mechanism::Sha1, b"pencil", &salt, 4096);
        let client_key = hmac(Mechanism::Sha1, &salted, &[b"Client Key"]);
        let stored = hash(Mechanism::Sha1, &client_key);
        let sig = hmac(Mechanism::Sha1, &stored, &[am.as_bytes()]);
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(b64.encode(proof), "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    }

    #[test]
    fn mongos_sha_1_password_is_the_user_digest() {
        // What the mongo shell's `_hashPassword("user", "pencil")` computes.
        let want = hex::encode(Md5::digest(b"user:mongo:pencil"));
        assert_eq!(password_digest("user", b"pencil"), want);
        assert_eq!(
            scram_password(Mechanism::Sha1, "user", b"pencil"),
            want.into_bytes()
        );
        assert_eq!(
            scram_password(Mechanism::Sha256, "user", b"pencil"),
            b"pencil"
        );
    }

    #[test]
    fn scram_sha_256_matches_rfc_7677() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let am = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let (p, s) = proof_and_signature(
            Mechanism::Sha256,
            "user",
            b"pencil",
            &salt,
            4096,
            am.as_bytes(),
        );
        assert_eq!(
            b64.encode(p),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            b64.encode(s),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }
}

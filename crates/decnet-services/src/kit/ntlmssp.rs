//! NTLMSSP ([MS-NLMP]) for every service that speaks it (LDAP, SMB, RDP,
//! MSSQL): the NEGOTIATE and AUTHENTICATE parsers, the CHALLENGE a Windows
//! host of the persona sends, and the captured response in the form hashcat
//! cracks (NetNTLMv2 mode 5600, NetNTLMv1 mode 5500). [`nt_hash`] and
//! [`ntlmv2_proof`] recompute a response from a password, so a service can
//! tell whether a bait password was used.
//!
//! Hostile input: the parsers take any bytes and return an error for
//! anything out of bounds; they never panic or allocate past the input.

use hmac::{Hmac, Mac};
use md5::Md5;

/// The signature every NTLMSSP message starts with.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Negotiate flags ([MS-NLMP] 2.2.2.5) used here.
pub mod flags {
    /// NTLMSSP_NEGOTIATE_UNICODE.
    pub const UNICODE: u32 = 0x0000_0001;
    /// NTLM_NEGOTIATE_OEM.
    pub const OEM: u32 = 0x0000_0002;
    /// NTLMSSP_REQUEST_TARGET.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// NTLMSSP_NEGOTIATE_SIGN.
    pub const SIGN: u32 = 0x0000_0010;
    /// NTLMSSP_NEGOTIATE_SEAL.
    pub const SEAL: u32 = 0x0000_0020;
    /// NTLMSSP_NEGOTIATE_LM_KEY.
    pub const LM_KEY: u32 = 0x0000_0080;
    /// NTLMSSP_NEGOTIATE_NTLM.
    pub const NTLM: u32 = 0x0000_0200;
    /// NTLMSSP_NEGOTIATE_ALWAYS_SIGN.
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    /// NTLMSSP_TARGET_TYPE_DOMAIN.
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY.
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// NTLMSSP_NEGOTIATE_TARGET_INFO.
    pub const TARGET_INFO: u32 = 0x0080_0000;
    /// NTLMSSP_NEGOTIATE_VERSION.
    pub const VERSION: u32 = 0x0200_0000;
    /// NTLMSSP_NEGOTIATE_128.
    pub const N128: u32 = 0x2000_0000;
    /// NTLMSSP_NEGOTIATE_KEY_EXCH.
    pub const KEY_EXCH: u32 = 0x4000_0000;
    /// NTLMSSP_NEGOTIATE_56.
    pub const N56: u32 = 0x8000_0000;
}

/// Why bytes are not the NTLMSSP message expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// No `NTLMSSP\0` signature.
    #[error("no NTLMSSP signature")]
    Signature,
    /// Another message type than the one expected.
    #[error("message type {0}")]
    Type(u32),
    /// A header or field runs past the message.
    #[error("truncated message")]
    Truncated,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, NtlmError> {
    let s = b.get(at..at + 2).ok_or(NtlmError::Truncated)?;
    Ok(u16::from_le_bytes([
        s.first().copied().unwrap_or(0),
        s.get(1).copied().unwrap_or(0),
    ]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, NtlmError> {
    let s = b.get(at..at + 4).ok_or(NtlmError::Truncated)?;
    let mut x = [0u8; 4];
    x.copy_from_slice(s);
    Ok(u32::from_le_bytes(x))
}

/// The payload a (len, maxlen, offset) field header at `at` points to.
fn field(b: &[u8], at: usize) -> Result<&[u8], NtlmError> {
    let len = usize::from(u16_at(b, at)?);
    let off = usize::try_from(u32_at(b, at + 4)?).map_err(|_| NtlmError::Truncated)?;
    if len == 0 {
        return Ok(&[]);
    }
    b.get(off..off.checked_add(len).ok_or(NtlmError::Truncated)?)
        .ok_or(NtlmError::Truncated)
}

fn check(b: &[u8], kind: u32) -> Result<(), NtlmError> {
    if b.get(..8) != Some(&SIGNATURE[..]) {
        return Err(NtlmError::Signature);
    }
    let t = u32_at(b, 8)?;
    if t != kind {
        return Err(NtlmError::Type(t));
    }
    Ok(())
}

/// The message type of NTLMSSP bytes (1, 2 or 3), if they are NTLMSSP.
pub fn message_type(b: &[u8]) -> Option<u32> {
    if b.get(..8) != Some(&SIGNATURE[..]) {
        return None;
    }
    u32_at(b, 8).ok()
}

/// Where NTLMSSP bytes start inside a token (raw, or wrapped in SPNEGO).
pub fn find(token: &[u8]) -> Option<&[u8]> {
    let at = token.windows(8).position(|w| w == SIGNATURE)?;
    token.get(at..)
}

/// Decodes a string field: UTF-16LE when unicode was negotiated, else OEM (Latin-1 here).
pub fn decode_str(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = b
            .chunks(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        b.iter().map(|&c| char::from(c)).collect()
    }
}

/// UTF-16LE bytes of a string.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A NEGOTIATE_MESSAGE (type 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiate {
    /// The client's flags.
    pub flags: u32,
    /// Domain the client named (usually empty).
    pub domain: String,
    /// Workstation the client named (usually empty).
    pub workstation: String,
}

impl Negotiate {
    /// Parses a NEGOTIATE_MESSAGE.
    pub fn parse(b: &[u8]) -> Result<Negotiate, NtlmError> {
        check(b, 1)?;
        let flags = u32_at(b, 12)?;
        // The domain and workstation fields are optional (absent in 16-byte messages).
        let domain = field(b, 16)
            .map(|d| decode_str(d, false))
            .unwrap_or_default();
        let workstation = field(b, 24)
            .map(|d| decode_str(d, false))
            .unwrap_or_default();
        Ok(Negotiate {
            flags,
            domain,
            workstation,
        })
    }
}

/// What a CHALLENGE_MESSAGE names: the host the persona is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// NetBIOS domain (`CORP`).
    pub nb_domain: String,
    /// NetBIOS computer name (`DC01`).
    pub nb_computer: String,
    /// DNS domain (`corp.example.com`).
    pub dns_domain: String,
    /// DNS computer name (`dc01.corp.example.com`).
    pub dns_computer: String,
    /// DNS forest (`corp.example.com`).
    pub dns_tree: String,
    /// Windows version: major, minor, build.
    pub version: (u8, u8, u16),
}

/// FILETIME (100 ns since 1601) of a Unix time in microseconds.
pub fn filetime(unix_micros: i64) -> u64 {
    u64::try_from(unix_micros.saturating_add(11_644_473_600_000_000))
        .unwrap_or(0)
        .saturating_mul(10)
}

/// The flags a Windows server answers a NEGOTIATE with.
pub fn reply_flags(client: u32) -> u32 {
    let mut f = flags::REQUEST_TARGET
        | flags::NTLM
        | flags::ALWAYS_SIGN
        | flags::TARGET_TYPE_DOMAIN
        | flags::TARGET_INFO
        | flags::VERSION;
    f |= if client & flags::UNICODE != 0 {
        flags::UNICODE
    } else {
        flags::OEM
    };
    for want in [
        flags::SIGN,
        flags::SEAL,
        flags::EXTENDED_SESSIONSECURITY,
        flags::N128,
        flags::KEY_EXCH,
        flags::N56,
    ] {
        f |= client & want;
    }
    if client & flags::EXTENDED_SESSIONSECURITY == 0 {
        f |= client & flags::LM_KEY;
    }
    f
}

/// Builds a CHALLENGE_MESSAGE (type 2).
pub fn challenge_message(flags_out: u32, challenge: [u8; 8], t: &Target, time: u64) -> Vec<u8> {
    let unicode = flags_out & flags::UNICODE != 0;
    let name = if unicode {
        utf16le(&t.nb_domain)
    } else {
        t.nb_domain.as_bytes().to_vec()
    };
    let mut info = Vec::new();
    let mut av = |id: u16, v: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&u16::try_from(v.len()).unwrap_or(0).to_le_bytes());
        info.extend_from_slice(v);
    };
    av(2, &utf16le(&t.nb_domain));
    av(1, &utf16le(&t.nb_computer));
    av(4, &utf16le(&t.dns_domain));
    av(3, &utf16le(&t.dns_computer));
    av(5, &utf16le(&t.dns_tree));
    av(7, &time.to_le_bytes());
    av(0, &[]);
    let name_off = 56u32;
    let info_off = name_off + u32::try_from(name.len()).unwrap_or(0);
    let mut m = Vec::with_capacity(64 + name.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    let len16 = |n: usize| u16::try_from(n).unwrap_or(0).to_le_bytes();
    m.extend_from_slice(&len16(name.len()));
    m.extend_from_slice(&len16(name.len()));
    m.extend_from_slice(&name_off.to_le_bytes());
    m.extend_from_slice(&flags_out.to_le_bytes());
    m.extend_from_slice(&challenge);
    m.extend_from_slice(&[0u8; 8]);
    m.extend_from_slice(&len16(info.len()));
    m.extend_from_slice(&len16(info.len()));
    m.extend_from_slice(&info_off.to_le_bytes());
    let (maj, min, build) = t.version;
    m.extend_from_slice(&[maj, min]);
    m.extend_from_slice(&build.to_le_bytes());
    // Reserved, then NTLMSSP_REVISION_W2K3.
    m.extend_from_slice(&[0, 0, 0, 15]);
    m.extend_from_slice(&name);
    m.extend_from_slice(&info);
    m
}

/// An AUTHENTICATE_MESSAGE (type 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// LmChallengeResponse.
    pub lm: Vec<u8>,
    /// NtChallengeResponse.
    pub nt: Vec<u8>,
    /// Domain.
    pub domain: String,
    /// User.
    pub user: String,
    /// Workstation.
    pub workstation: String,
    /// Flags.
    pub flags: u32,
}

/// A captured response in hashcat's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// NetNTLMv1 (mode 5500): `user::domain:lm:nt:challenge`.
    V1(String),
    /// NetNTLMv2 (mode 5600): `user::domain:challenge:ntproofstr:blob`.
    V2(String),
}

impl Authenticate {
    /// Parses an AUTHENTICATE_MESSAGE.
    pub fn parse(b: &[u8]) -> Result<Authenticate, NtlmError> {
        check(b, 3)?;
        let lm = field(b, 12)?.to_vec();
        let nt = field(b, 20)?.to_vec();
        let flags = u32_at(b, 60).unwrap_or(flags::UNICODE);
        let unicode = flags & flags::UNICODE != 0;
        Ok(Authenticate {
            lm,
            nt,
            domain: decode_str(field(b, 28)?, unicode),
            user: decode_str(field(b, 36)?, unicode),
            workstation: decode_str(field(b, 44)?, unicode),
            flags,
        })
    }

    /// Whether it is an anonymous authentication (no user, no response).
    pub fn anonymous(&self) -> bool {
        self.user.is_empty() && self.nt.is_empty()
    }

    /// The response as hashcat takes it, given the server challenge it answers.
    pub fn hashcat(&self, challenge: &[u8; 8]) -> Option<Captured> {
        let ch = hex::encode(challenge);
        match self.nt.len() {
            24 => Some(Captured::V1(format!(
                "{}::{}:{}:{}:{ch}",
                self.user,
                self.domain,
                hex::encode(&self.lm),
                hex::encode(&self.nt)
            ))),
            n if n > 24 => {
                let (proof, blob) = self.nt.split_at(16);
                Some(Captured::V2(format!(
                    "{}::{}:{ch}:{}:{}",
                    self.user,
                    self.domain,
                    hex::encode(proof),
                    hex::encode(blob)
                )))
            }
            _ => None,
        }
    }

    /// Whether an NTLMv2 response proves `password` for its user and domain.
    pub fn proves(&self, challenge: &[u8; 8], password: &str) -> bool {
        if self.nt.len() <= 24 {
            return false;
        }
        let (proof, blob) = self.nt.split_at(16);
        ntlmv2_proof(
            &nt_hash(password),
            &self.user,
            &self.domain,
            challenge,
            blob,
        ) == proof
    }
}

/// The NT hash: MD4 of the UTF-16LE password.
pub fn nt_hash(password: &str) -> [u8; 16] {
    md4(&utf16le(password))
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let Ok(mut m) = Hmac::<Md5>::new_from_slice(key) else {
        return [0; 16];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// NTProofStr: HMAC-MD5 under NTOWFv2 of the server challenge and the client blob.
pub fn ntlmv2_proof(
    nt: &[u8; 16],
    user: &str,
    domain: &str,
    challenge: &[u8; 8],
    blob: &[u8],
) -> [u8; 16] {
    let ident = utf16le(&format!("{}{domain}", user.to_uppercase()));
    let owf = hmac_md5(nt, &[&ident]);
    hmac_md5(&owf, &[challenge, blob])
}

/// MD4 (RFC 1320), which NT hashes need and no dependency here provides.
pub fn md4(input: &[u8]) -> [u8; 16] {
    let mut s: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = input.to_vec();
    let bits = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    let f = |x: u32, y: u32, z: u32| (x & y) | (!x & z);
    let g = |x: u32, y: u32, z: u32| (x & y) | (x & z) | (y & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    for block in msg.chunks_exact(64) {
        let mut x = [0u32; 16];
        for (w, c) in x.iter_mut().zip(block.chunks_exact(4)) {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            *w = u32::from_le_bytes(b);
        }
        let [mut a, mut b, mut c, mut d] = s;
        let xi = |i: usize| x.get(i).copied().unwrap_or(0);
        for &i in &[0usize, 4, 8, 12] {
            a = a
                .wrapping_add(f(b, c, d))
                .wrapping_add(xi(i))
                .rotate_left(3);
            d = d
                .wrapping_add(f(a, b, c))
                .wrapping_add(xi(i + 1))
                .rotate_left(7);
            c = c
                .wrapping_add(f(d, a, b))
                .wrapping_add(xi(i + 2))
                .rotate_left(11);
            b = b
                .wrapping_add(f(c, d, a))
                .wrapping_add(xi(i + 3))
                .rotate_left(19);
        }
        for &i in &[0usize, 1, 2, 3] {
            let k = 0x5a82_7999u32;
            a = a
                .wrapping_add(g(b, c, d))
                .wrapping_add(xi(i))
                .wrapping_add(k)
                .rotate_left(3);
            d = d
                .wrapping_add(g(a, b, c))
                .wrapping_add(xi(i + 4))
                .wrapping_add(k)
                .rotate_left(5);
            c = c
                .wrapping_add(g(d, a, b))
                .wrapping_add(xi(i + 8))
                .wrapping_add(k)
                .rotate_left(9);
            b = b
                .wrapping_add(g(c, d, a))
                .wrapping_add(xi(i + 12))
                .wrapping_add(k)
                .rotate_left(13);
        }
        for &i in &[0usize, 2, 1, 3] {
            let k = 0x6ed9_eba1u32;
            a = a
                .wrapping_add(h(b, c, d))
                .wrapping_add(xi(i))
                .wrapping_add(k)
                .rotate_left(3);
            d = d
                .wrapping_add(h(a, b, c))
                .wrapping_add(xi(i + 8))
                .wrapping_add(k)
                .rotate_left(9);
            c = c
                .wrapping_add(h(d, a, b))
                .wrapping_add(xi(i + 4))
                .wrapping_add(k)
                .rotate_left(11);
            b = b
                .wrapping_add(h(c, d, a))
                .wrapping_add(xi(i + 12))
                .wrapping_add(k)
                .rotate_left(15);
        }
        s = [
            s[0].wrapping_add(a),
            s[1].wrapping_add(b),
            s[2].wrapping_add(c),
            s[3].wrapping_add(d),
        ];
    }
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(s) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Builds an AUTHENTICATE_MESSAGE (for tests and clients of our own).
pub fn authenticate_message(
    user: &str,
    domain: &str,
    workstation: &str,
    lm: &[u8],
    nt: &[u8],
) -> Vec<u8> {
    let fields: [Vec<u8>; 6] = [
        lm.to_vec(),
        nt.to_vec(),
        utf16le(domain),
        utf16le(user),
        utf16le(workstation),
        Vec::new(),
    ];
    let mut head = Vec::new();
    head.extend_from_slice(SIGNATURE);
    head.extend_from_slice(&3u32.to_le_bytes());
    let mut off = 64u32;
    let mut payload = Vec::new();
    for f in &fields {
        let l = u16::try_from(f.len()).unwrap_or(0).to_le_bytes();
        head.extend_from_slice(&l);
        head.extend_from_slice(&l);
        head.extend_from_slice(&off.to_le_bytes());
        off += u32::try_from(f.len()).unwrap_or(0);
        payload.extend_from_slice(f);
    }
    head.extend_from_slice(
        &(flags::UNICODE | flags::NTLM | flags::EXTENDED_SESSIONSECURITY | flags::TARGET_INFO)
            .to_le_bytes(),
    );
    head.extend_from_slice(&payload);
    head
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn md4_matches_rfc1320() {
        assert_eq!(hex::encode(md4(b"")), "31d6cfe0d16ae931b73c59d7e0c089c0");
        assert_eq!(hex::encode(md4(b"abc")), "a448017aaf21d8525fc10ae87aa6729d");
        assert_eq!(
            hex::encode(md4(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "e33b4ddc9c38f2199c3e7b164fcc0536"
        );
    }

    #[test]
    fn nt_hash_and_ntlmv2_match_ms_nlmp_4_2_4() {
        // [MS-NLMP] 4.2.4: User "User", domain "Domain", password "Password".
        assert_eq!(
            hex::encode(nt_hash("Password")),
            "a4f49c406510bdcab6824ee7c30fd852"
        );
        let challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let owf = hmac_md5(&nt_hash("Password"), &[&utf16le("USERDomain")]);
        assert_eq!(hex::encode(owf), "0c868a403bfd7a93a3001ef22ef02e3f");
        // temp = Responserversion, HiResponserversion, Z(6), Time, ClientChallenge, Z(4), ServerName, Z(4)
        let server_name =
            hex::decode("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
                .unwrap();
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0; 8]);
        blob.extend_from_slice(&[0xaa; 8]);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&server_name);
        blob.extend_from_slice(&[0; 4]);
        let proof = ntlmv2_proof(&nt_hash("Password"), "User", "Domain", &challenge, &blob);
        assert_eq!(hex::encode(proof), "68cd0ab851e51c96aabc927bebef6a1c");
    }

    /// A NEGOTIATE with the flags and VERSION Windows Server 2019's SSPI sends (0xe2088297, build 17763).
    const NEGOTIATE: &[u8] = b"NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x63\x45\x00\x00\x00\x0f";

    #[test]
    fn a_windows_negotiate_parses_and_the_challenge_echoes_its_flags() {
        let n = Negotiate::parse(NEGOTIATE).unwrap();
        assert_eq!(n.flags, 0xe208_8297);
        let f = reply_flags(n.flags);
        assert_eq!(f & flags::UNICODE, flags::UNICODE);
        assert_eq!(f & flags::KEY_EXCH, flags::KEY_EXCH);
        let t = Target {
            nb_domain: "CORP".into(),
            nb_computer: "DC01".into(),
            dns_domain: "corp.local".into(),
            dns_computer: "dc01.corp.local".into(),
            dns_tree: "corp.local".into(),
            version: (10, 0, 17763),
        };
        let c = challenge_message(f, [1, 2, 3, 4, 5, 6, 7, 8], &t, 0x01d9_0000_0000_0000);
        assert_eq!(message_type(&c), Some(2));
        assert_eq!(&c[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(u32_at(&c, 20).unwrap(), f);
        assert_eq!(decode_str(field(&c, 12).unwrap(), true), "CORP");
        let info = field(&c, 40).unwrap();
        assert_eq!(&info[..4], &[2, 0, 8, 0]);
        assert_eq!(&info[info.len() - 4..], &[0, 0, 0, 0]);
        assert_eq!(&c[48..56], &[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
    }

    #[test]
    fn an_authenticate_round_trips_into_hashcats_netntlmv2_line() {
        let challenge = *b"\x11\x22\x33\x44\x55\x66\x77\x88";
        let blob = hex::decode("0101000000000000000000000000000001020304050607080000000000000000")
            .unwrap();
        let proof = ntlmv2_proof(&nt_hash("Summer2024!"), "jdoe", "CORP", &challenge, &blob);
        let mut nt = proof.to_vec();
        nt.extend_from_slice(&blob);
        let m = authenticate_message("jdoe", "CORP", "WS01", &[0; 24], &nt);
        let a = Authenticate::parse(&m).unwrap();
        assert_eq!(
            (a.user.as_str(), a.domain.as_str(), a.workstation.as_str()),
            ("jdoe", "CORP", "WS01")
        );
        assert!(a.proves(&challenge, "Summer2024!"));
        assert!(!a.proves(&challenge, "Winter2024!"));
        assert_eq!(
            a.hashcat(&challenge),
            Some(Captured::V2(format!(
                "jdoe::CORP:1122334455667788:{}:{}",
                hex::encode(proof),
                hex::encode(&blob)
            )))
        );
        let v1 = Authenticate::parse(&authenticate_message(
            "u",
            "D",
            "",
            &[0xaa; 24],
            &[0xbb; 24],
        ))
        .unwrap();
        assert!(
            matches!(v1.hashcat(&challenge), Some(Captured::V1(l)) if l.ends_with(":1122334455667788"))
        );
    }

    #[test]
    fn ntlmssp_is_found_inside_spnego() {
        let mut tok = b"\x60\x48\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x3e".to_vec();
        tok.extend_from_slice(NEGOTIATE);
        assert_eq!(find(&tok), Some(NEGOTIATE));
        assert_eq!(find(b"nothing"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..300), kind in 1u32..4) {
            let _ = Negotiate::parse(&b);
            let _ = Authenticate::parse(&b);
            if b.len() >= 12 {
                b[..8].copy_from_slice(SIGNATURE);
                b[8..12].copy_from_slice(&kind.to_le_bytes());
            }
            let _ = Negotiate::parse(&b);
            if let Ok(a) = Authenticate::parse(&b) {
                let _ = a.hashcat(&[0; 8]);
                let _ = a.proves(&[0; 8], "x");
            }
        }

        #[test]
        fn built_authenticates_parse_back(user in "[a-zA-Z0-9.]{0,20}", domain in "[A-Z]{0,15}", nt in proptest::collection::vec(any::<u8>(), 0..200)) {
            let a = Authenticate::parse(&authenticate_message(&user, &domain, "WS", &[], &nt)).unwrap();
            prop_assert_eq!(a.user, user);
            prop_assert_eq!(a.domain, domain);
            prop_assert_eq!(a.nt, nt);
        }
    }
}

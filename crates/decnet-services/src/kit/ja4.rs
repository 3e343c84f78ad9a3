//! The client's TLS fingerprint: a ClientHello parser over raw record-layer bytes and
//! the JA4 (FoxIO) and JA3 (Salesforce) fingerprints computed from it. Attackers'
//! tooling (curl, Go, python-requests, masscan, Metasploit …) is told apart by these
//! long after its User-Agent lies.
//!
//! [`progress`] is sans-IO: given the bytes a client sent so far it says how many more
//! it needs, or hands back the parsed [`ClientHello`], or gives up. The TLS kit feeds it
//! the connection's first bytes (and replays them to OpenSSL afterwards).
//!
//! Hostile-input guarantees: no input panics; a hello is assembled from at most
//! [`MAX_RECORDS`] handshake records and at most [`MAX_HELLO`] bytes of handshake
//! message, so a caller never buffers more than [`MAX_WIRE`] bytes; every list inside
//! is bounded by the message it came in. GREASE values (RFC 8701) are kept in the
//! parsed hello, as sent, and left out of both fingerprints, as their specs say.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Largest ClientHello message (handshake body) assembled. Real hellos are a few
/// hundred bytes; post-quantum key shares and padding keep them under 4 KiB.
pub const MAX_HELLO: usize = 16 * 1024;
/// Most handshake records a hello may be fragmented over.
pub const MAX_RECORDS: usize = 32;
/// TLS's largest plaintext record body (2^14).
const MAX_RECORD: usize = 16 * 1024;
/// Most bytes [`progress`] ever asks for: the hello plus its record headers, and
/// one record's worth of slack for a hello that ends mid-record.
pub const MAX_WIRE: usize = MAX_HELLO + MAX_RECORD + 5 * MAX_RECORDS;
/// Longest server name kept (DNS names are at most 253 bytes).
const MAX_SNI: usize = 255;

const EXT_SNI: u16 = 0x0000;
const EXT_GROUPS: u16 = 0x000a;
const EXT_POINT_FORMATS: u16 = 0x000b;
const EXT_SIG_ALGS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_VERSIONS: u16 = 0x002b;

/// What a ClientHello offered, in the client's order, GREASE included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` of the hello body (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Cipher suites.
    pub ciphers: Vec<u16>,
    /// Extension types.
    pub extensions: Vec<u16>,
    /// The first host name of the server_name extension (lossy UTF-8, capped).
    pub sni: Option<String>,
    /// ALPN protocol names.
    pub alpn: Vec<Vec<u8>>,
    /// supported_groups (elliptic curves, FFDHE and hybrid groups).
    pub groups: Vec<u16>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// signature_algorithms.
    pub sig_algs: Vec<u16>,
    /// supported_versions.
    pub versions: Vec<u16>,
}

/// How far the bytes a client sent get towards a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// At least this many bytes in all are needed (never more than [`MAX_WIRE`]).
    Need(usize),
    /// A whole hello, assembled from the first `consumed` bytes.
    Hello {
        /// The parsed hello.
        hello: ClientHello,
        /// Bytes of records it used.
        consumed: usize,
    },
    /// Not a ClientHello in TLS records, malformed, or over a cap: no fingerprint.
    NotHello,
}

/// Parses the record layer at the start of `wire` as far as it goes.
pub fn progress(wire: &[u8]) -> Progress {
    let mut handshake = Vec::new();
    let mut at = 0usize;
    for _ in 0..MAX_RECORDS {
        let Some(header) = wire.get(at..at + 5) else {
            return Progress::Need(at + 5);
        };
        let (kind, major) = (header.first(), header.get(1));
        if kind != Some(&0x16) || major != Some(&0x03) {
            return Progress::NotHello;
        }
        let len = be16(header.get(3..5));
        if len == 0 || len > MAX_RECORD {
            return Progress::NotHello;
        }
        let end = at + 5 + len;
        let Some(body) = wire.get(at + 5..end) else {
            return Progress::Need(end);
        };
        handshake.extend_from_slice(body);
        at = end;
        if let Some(head) = handshake.get(..4) {
            if head.first() != Some(&0x01) {
                return Progress::NotHello;
            }
            let msg_len = be24(head.get(1..4));
            if msg_len > MAX_HELLO {
                return Progress::NotHello;
            }
            if let Some(msg) = handshake.get(4..4 + msg_len) {
                return match parse_hello(msg) {
                    Some(hello) => Progress::Hello {
                        hello,
                        consumed: at,
                    },
                    None => Progress::NotHello,
                };
            }
        }
    }
    Progress::NotHello
}

/// Parses a ClientHello message body (after the 4-byte handshake header).
pub fn parse_hello(msg: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(msg);
    let mut hello = ClientHello {
        legacy_version: r.u16()?,
        ..ClientHello::default()
    };
    r.take(32)?; // random
    let sid = r.u8()?;
    r.take(usize::from(sid))?;
    let ciphers = r.vec16()?;
    hello.ciphers = u16s(ciphers)?;
    let compression = r.u8()?;
    r.take(usize::from(compression))?;
    if r.0.is_empty() {
        // An SSLv3-era hello without extensions.
        return Some(hello);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        hello.extensions.push(kind);
        // A malformed body of a known extension leaves its field empty; the
        // extension still counts (the fingerprints see what was offered).
        let _ = extension(&mut hello, kind, data);
    }
    Some(hello)
}

fn extension(hello: &mut ClientHello, kind: u16, data: &[u8]) -> Option<()> {
    let mut d = Reader(data);
    match kind {
        EXT_SNI => {
            let mut list = Reader(d.vec16()?);
            while !list.0.is_empty() {
                let name_type = list.u8()?;
                let name = list.vec16()?;
                if name_type == 0 && hello.sni.is_none() {
                    let name = name.get(..MAX_SNI.min(name.len())).unwrap_or(name);
                    hello.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        EXT_ALPN => {
            let mut list = Reader(d.vec16()?);
            while !list.0.is_empty() {
                let len = list.u8()?;
                hello.alpn.push(list.take(usize::from(len))?.to_vec());
            }
        }
        EXT_GROUPS => hello.groups = u16s(d.vec16()?)?,
        EXT_POINT_FORMATS => {
            let len = d.u8()?;
            hello.point_formats = d.take(usize::from(len))?.to_vec();
        }
        EXT_SIG_ALGS => hello.sig_algs = u16s(d.vec16()?)?,
        EXT_VERSIONS => {
            let len = d.u8()?;
            hello.versions = u16s(d.take(usize::from(len))?)?;
        }
        _ => {}
    }
    Some(())
}

/// A GREASE value (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

impl ClientHello {
    /// The JA4 fingerprint (`t13d1516h2_8daaf6152771_e5627efa2ab1`), as FoxIO's
    /// reference implementations compute it for TLS over TCP: the version is the
    /// highest of supported_versions when offered, else legacy_version; `d` when
    /// a server_name extension is present; counts of ciphers and extensions without
    /// GREASE (capped at 99); the first and last characters of the first ALPN value
    /// (`00` without one, `9` for a non-ASCII byte, `0` for the missing last of a
    /// one-byte value); then the truncated SHA-256 of the sorted ciphers and of the
    /// sorted extensions (without SNI and ALPN) followed by `_` and the signature
    /// algorithms in the client's order.
    pub fn ja4(&self) -> String {
        let offered: Vec<u16> = self
            .versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let version = offered.iter().copied().max().unwrap_or(self.legacy_version);
        let version = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0200 => "s2",
            0x0100 => "s1",
            _ => "00",
        };
        let sni = if self.extensions.contains(&EXT_SNI) {
            'd'
        } else {
            'i'
        };
        let ciphers = hex_list(self.ciphers.iter().copied(), true);
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let alpn = match self.alpn.first() {
            Some(v) if !v.is_empty() => {
                let ch = |b: Option<&u8>| match b {
                    Some(b) if b.is_ascii() => char::from(*b),
                    Some(_) => '9',
                    None => '0',
                };
                let last = if v.len() > 1 { v.last() } else { None };
                format!("{}{}", ch(v.first()), ch(last))
            }
            _ => "00".to_owned(),
        };
        let mut ext_part = hex_list(
            exts.iter()
                .copied()
                .filter(|e| *e != EXT_SNI && *e != EXT_ALPN),
            true,
        );
        let sig_algs = hex_list(self.sig_algs.iter().copied(), false);
        if !sig_algs.is_empty() {
            ext_part = format!("{ext_part}_{sig_algs}");
        }
        format!(
            "t{version}{sni}{:02}{:02}{alpn}_{}_{}",
            count(&self.ciphers),
            exts.len().min(99),
            truncated_sha256(&ciphers),
            truncated_sha256(&ext_part),
        )
    }

    /// The JA3 string: `version,ciphers,extensions,groups,point_formats`, each list
    /// decimal and `-`-joined in the client's order, GREASE left out.
    pub fn ja3(&self) -> String {
        let join = |vs: &mut dyn Iterator<Item = u16>| {
            vs.filter(|v| !is_grease(*v))
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("-")
        };
        let formats = self
            .point_formats
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("-");
        format!(
            "{},{},{},{},{}",
            self.legacy_version,
            join(&mut self.ciphers.iter().copied()),
            join(&mut self.extensions.iter().copied()),
            join(&mut self.groups.iter().copied()),
            formats,
        )
    }

    /// The JA3 hash: MD5 of [`ja3`](Self::ja3), lower-case hex.
    pub fn ja3_hash(&self) -> String {
        hex::encode(Md5::digest(self.ja3().as_bytes()))
    }
}

fn count(values: &[u16]) -> usize {
    values.iter().filter(|v| !is_grease(**v)).count().min(99)
}

/// Four-digit lower-case hex values, comma-joined, GREASE left out.
fn hex_list(values: impl Iterator<Item = u16>, sort: bool) -> String {
    let mut v: Vec<u16> = values.filter(|v| !is_grease(*v)).collect();
    if sort {
        v.sort_unstable();
    }
    v.iter()
        .map(|x| format!("{x:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of the SHA-256 of `s`; twelve zeros for an empty list.
fn truncated_sha256(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let mut h = hex::encode(Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn be16(b: Option<&[u8]>) -> usize {
    match b {
        Some([hi, lo]) => usize::from(*hi) << 8 | usize::from(*lo),
        _ => 0,
    }
}

fn be24(b: Option<&[u8]>) -> usize {
    match b {
        Some([a, b, c]) => usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c),
        _ => usize::MAX,
    }
}

fn u16s(b: &[u8]) -> Option<Vec<u16>> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    Some(
        b.chunks_exact(2)
            .map(|c| match c {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                _ => 0,
            })
            .collect(),
    )
}

/// A cursor over a byte slice whose reads fail instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::try_from(be16(Some(b))).unwrap_or(0))
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ClientHellos captured on this machine (Debian 12) by a Python listener that
    // saved the first TLS record of: `curl -k https://localhost:18443/` (curl 7.88.1,
    // OpenSSL 3.0.19); `openssl s_client -servername mail.example.com -alpn smtp`;
    // and `openssl s_client -tls1_2 -noservername`. The expected values were computed
    // independently: the bytes were turned into a pcap with text2pcap and run through
    // FoxIO's reference `ja4.py` (JA4) and tshark 4.0.17 (`tls.handshake.ja3_full`,
    // `tls.handshake.ja3`).
    const CURL: &str = "1603010200010001fc03034fa041bf9b9c8fcfff18a027969f5ba8de8c447efffd51b0c4cad2ac589b4f5120d4452d88\
        a83588ae132053abbe9633be7c2d9d07993c86a32faa6d3c74c8b071003e130213031301c02cc030009fcca9cca8ccaa\
        c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff01000175\
        0000000e000c0000096c6f63616c686f7374000b000403000102000a00160014001d0017001e00190018010001010102\
        010301040010000e000c02683208687474702f312e31001600000017000000310000000d002a00280403050306030807\
        08080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d00\
        020101003300260024001d0020db2f887fba9105cca251a79a545ff235c36d4c323c95293b16c6ca1249d6796e001500\
        b40000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
        00000000000000000000000000000000000000000000000000000000000000000000000000";
    const S_CLIENT: &str = "16030101480100014403031feffbe2389de8ec595c1530dfe6493e1055aead58344462c81fead13c3733fd20df750e23\
        0ade3d205d76546945c7257735528ba248fdacbf86199dce2f9af397003e130213031301c02cc030009fcca9cca8ccaa\
        c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000bd\
        0000001500130000106d61696c2e6578616d706c652e636f6d000b000403000102000a00160014001d0017001e001900\
        18010001010102010301040023000000100007000504736d74700016000000170000000d002a00280403050306030807\
        08080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d00\
        020101003300260024001d00207997430389de81a48a77f7412095bcae21f106978f6abb10c45d423fa74b8d7d";
    const TLS12: &str = "16030100b7010000b30303a179f9b3f0fa38dca384435f7602415fbd6a586b86e670143182008cc614caca000038c02c\
        c030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c\
        0035002f00ff01000052000b000403000102000a000c000a001d0017001e00190018002300000016000000170000000d\
        002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602";

    fn bytes(hex_str: &str) -> Vec<u8> {
        hex::decode(hex_str).unwrap()
    }

    fn hello_of(wire: &[u8]) -> ClientHello {
        match progress(wire) {
            Progress::Hello { hello, consumed } => {
                assert_eq!(consumed, wire.len());
                hello
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_hellos_give_the_reference_fingerprints() {
        let cases = [
            (
                CURL,
                "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
                "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-\
                 49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,\
                 0-11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
                "0149f47eabf9a20d0893e2a44e5a6323",
            ),
            (
                S_CLIENT,
                "t13d3111sp_e8f1e7e78f70_1f22a2ca17c4",
                "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-\
                 49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,\
                 0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2",
                "5a1edc7f170af1014fc65c994878e63c",
            ),
            (
                TLS12,
                "t12i280600_d943125447b4_e7e480e5a997",
                "771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-\
                 49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,\
                 11-10-35-22-23-13,29-23-30-25-24,0-1-2",
                "fbe7e189e37a07ee33706f86bc746344",
            ),
        ];
        for (wire, ja4, ja3, ja3_hash) in cases {
            let hello = hello_of(&bytes(wire));
            assert_eq!(hello.ja4(), ja4);
            assert_eq!(hello.ja3(), ja3.replace(' ', ""));
            assert_eq!(hello.ja3_hash(), ja3_hash);
        }
        let curl = hello_of(&bytes(CURL));
        assert_eq!(curl.sni.as_deref(), Some("localhost"));
        assert_eq!(curl.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(curl.versions, vec![0x0304, 0x0303, 0x0302, 0x0301]);
        let s_client = hello_of(&bytes(S_CLIENT));
        assert_eq!(s_client.sni.as_deref(), Some("mail.example.com"));
        assert_eq!(s_client.alpn, vec![b"smtp".to_vec()]);
        assert_eq!(hello_of(&bytes(TLS12)).sni, None);
    }

    /// The spec's worked example: its cipher list hashes to `8daaf6152771`, its
    /// extensions and signature algorithms to `e5627efa2ab1`, and without signature
    /// algorithms to `6d807ffa2a79` (FoxIO's JA4 technical details).
    #[test]
    fn the_spec_example_hashes_as_the_spec_says() {
        let hello = ClientHello {
            legacy_version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            alpn: vec![b"h2".to_vec()],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            versions: vec![0x0304, 0x0303],
            ..ClientHello::default()
        };
        assert_eq!(hello.ja4(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        let no_sigs = ClientHello {
            sig_algs: vec![],
            ..hello
        };
        assert!(
            no_sigs.ja4().ends_with("_6d807ffa2a79"),
            "{}",
            no_sigs.ja4()
        );
    }

    #[test]
    fn grease_is_left_out_of_both_fingerprints() {
        let plain = hello_of(&bytes(CURL));
        let mut greased = plain.clone();
        greased.ciphers.insert(0, 0x2a2a);
        greased.extensions.insert(0, 0x3a3a);
        greased.extensions.push(0xfafa);
        greased.groups.insert(0, 0x4a4a);
        greased.versions.insert(0, 0x5a5a);
        greased.sig_algs.insert(0, 0x6a6a);
        assert_eq!(greased.ja4(), plain.ja4());
        assert_eq!(greased.ja3(), plain.ja3());
    }

    #[test]
    fn a_hello_fragmented_over_records_is_reassembled() {
        let wire = bytes(CURL);
        let body = &wire[5..];
        let mut fragmented = Vec::new();
        for chunk in body.chunks(100) {
            fragmented.extend_from_slice(&[0x16, 0x03, 0x01]);
            fragmented.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
            fragmented.extend_from_slice(chunk);
        }
        assert_eq!(hello_of(&fragmented), hello_of(&wire));
        // Every prefix asks for more, never past the cap, until the hello is whole.
        for cut in 0..fragmented.len() {
            match progress(&fragmented[..cut]) {
                Progress::Need(n) => assert!(n > cut && n <= fragmented.len(), "{cut}: {n}"),
                other => panic!("{cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn what_is_not_a_hello_is_refused() {
        assert_eq!(progress(b"EHLO x\r\n"), Progress::NotHello);
        // A handshake record holding a ServerHello.
        assert_eq!(
            progress(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0, 0, 0]),
            Progress::NotHello
        );
        // A hello announcing more than the cap.
        assert_eq!(
            progress(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]),
            Progress::NotHello
        );
        // More records than the cap, each one byte.
        let mut wire = vec![0x16, 0x03, 0x01, 0x00, 0x01, 0x01];
        for _ in 0..MAX_RECORDS {
            wire.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x01, 0x00]);
        }
        assert_eq!(progress(&wire), Progress::NotHello);
    }

    #[test]
    fn alpn_characters_follow_the_reference() {
        let with = |alpn: &[u8]| ClientHello {
            alpn: vec![alpn.to_vec()],
            ..ClientHello::default()
        };
        let a = |h: ClientHello| h.ja4()[8..10].to_owned();
        assert_eq!(a(with(b"http/1.1")), "h1");
        assert_eq!(a(with(b"h")), "h0");
        assert_eq!(a(with(b"\xffx\xfe")), "99");
        assert_eq!(a(ClientHello::default()), "00");
    }

    #[test]
    fn grease_values_are_recognised() {
        for v in [0x0a0a, 0x1a1a, 0x2a2a, 0xfafa] {
            assert!(is_grease(v), "{v:#x}");
        }
        for v in [0x0a1a, 0x1301, 0x0a0b, 0x000a] {
            assert!(!is_grease(v), "{v:#x}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_ask_past_the_cap(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            match progress(&data) {
                Progress::Need(n) => prop_assert!(n <= MAX_WIRE && n > data.len()),
                Progress::Hello { hello, consumed } => {
                    prop_assert!(consumed <= data.len());
                    let _ = (hello.ja4(), hello.ja3_hash());
                }
                Progress::NotHello => {}
            }
            if let Some(h) = parse_hello(&data) {
                prop_assert_eq!(h.ja4().len(), 36);
                let _ = (h.ja3(), h.ja3_hash());
            }
        }

        #[test]
        fn a_record_header_then_arbitrary_bytes_never_panic(len in 0usize..600, body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut wire = vec![0x16, 0x03, 0x01];
            wire.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            wire.extend_from_slice(&[0x01, 0x00]);
            wire.extend_from_slice(&body);
            let _ = progress(&wire);
        }
    }
}

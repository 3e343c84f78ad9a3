//! The RFB (RFC 6143) handshake up to the security result, sans-IO: a
//! [`Handshake`] is fed the client's bytes and answers with the server's, as a
//! VNC server with VNC authentication does, until the client has sent its DES
//! response to the challenge. [`des_response`] computes that response from a
//! password, which is what cracking (and honeytoken matching) needs.
//!
//! Hostile-input guarantees: no input panics; the handshake holds at most 16
//! bytes of the client's whatever it sends; it answers each step once, ignores
//! everything after the response, and ends on the first byte that breaks the
//! protocol.

use des::cipher::{BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};

/// The security type of VNC authentication.
pub const SEC_VNC_AUTH: u8 = 2;
/// Length of a ProtocolVersion message (`RFB 003.008\n`).
pub const VERSION_LEN: usize = 12;
/// Length of the challenge and of the response.
pub const CHALLENGE_LEN: usize = 16;

/// A protocol version the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// 3.3: the server chooses the security type.
    V3_3,
    /// 3.7: the client chooses from a list; no failure reason.
    V3_7,
    /// 3.8: like 3.7, and a failed result carries a reason string.
    V3_8,
}

impl Version {
    /// Parses a persona value (`3.3`, `3.7`, `3.8`).
    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "3.3" => Some(Version::V3_3),
            "3.7" => Some(Version::V3_7),
            "3.8" => Some(Version::V3_8),
            _ => None,
        }
    }

    /// `3.3`, `3.7` or `3.8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3_3 => "3.3",
            Version::V3_7 => "3.7",
            Version::V3_8 => "3.8",
        }
    }

    /// The ProtocolVersion message.
    pub fn message(self) -> &'static [u8; VERSION_LEN] {
        match self {
            Version::V3_3 => b"RFB 003.003\n",
            Version::V3_7 => b"RFB 003.007\n",
            Version::V3_8 => b"RFB 003.008\n",
        }
    }

    /// The version both sides use when the client answers `major.minor` to a
    /// server offering `self`: RFC 6143 §7.1.1 — an unknown 3.x below 3.7 is
    /// 3.3, anything above the server's is the server's; not 3.x is refused.
    pub fn agree(self, major: u16, minor: u16) -> Option<Version> {
        if major != 3 {
            return None;
        }
        let client = match minor {
            0..=6 => Version::V3_3,
            7 => Version::V3_7,
            _ => Version::V3_8,
        };
        Some(client.min(self))
    }
}

/// Parses a ProtocolVersion message: `RFB xxx.yyy\n`, three digits each.
pub fn parse_version(b: &[u8]) -> Option<(u16, u16)> {
    let rest = b.strip_prefix(b"RFB ")?;
    let (major, rest) = rest.split_at_checked(3)?;
    let rest = rest.strip_prefix(b".")?;
    let (minor, rest) = rest.split_at_checked(3)?;
    if rest != b"\n" {
        return None;
    }
    let num = |d: &[u8]| -> Option<u16> {
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    Some((num(major)?, num(minor)?))
}

/// A fresh challenge for one connection: the decky's own key (from its
/// instance seed) hashed with a per-instance counter, the peer and the time,
/// so two connections — or two deckies, or one decky after a restart — never
/// show the same challenge, as a real server's random one never repeats.
pub fn challenge(key: &[u8; 32], counter: u64, peer: &str, nanos: u128) -> [u8; CHALLENGE_LEN] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(counter.to_le_bytes());
    h.update(peer.as_bytes());
    h.update(nanos.to_le_bytes());
    let d = h.finalize();
    let mut out = [0u8; CHALLENGE_LEN];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

/// The response a VNC client sends for `password`: the challenge's two halves
/// encrypted with single DES under the first eight password bytes (zero
/// padded), each byte's bits reversed, as every VNC viewer does.
pub fn des_response(password: &[u8], challenge: &[u8; CHALLENGE_LEN]) -> [u8; CHALLENGE_LEN] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password.iter()) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new(&key.into());
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        if let Ok(block) = <&mut [u8; 8]>::try_from(half) {
            cipher.encrypt_block(block.into());
        }
    }
    out
}

/// The John the Ripper line for a captured response (`$vnc$*CHALLENGE*RESPONSE`).
pub fn john_line(challenge: &[u8; CHALLENGE_LEN], response: &[u8; CHALLENGE_LEN]) -> String {
    format!(
        "$vnc$*{}*{}",
        hex::encode_upper(challenge),
        hex::encode_upper(response)
    )
}

/// Why a handshake ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's ProtocolVersion was not `RFB xxx.yyy\n` of a 3.x version.
    BadVersion,
    /// The client chose a security type other than VNC authentication.
    BadSecurityType(u8),
}

impl Refusal {
    /// For the event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadVersion => "unsupported protocol version",
            Refusal::BadSecurityType(_) => "unsupported security type",
        }
    }
}

/// How the handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The client answered the challenge; the step's output is the failed SecurityResult.
    Response([u8; CHALLENGE_LEN]),
    /// The client broke the protocol; the server closes without answering.
    Refused(Refusal),
}

/// What one [`Handshake::feed`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Bytes for the client, to be written only once an outcome's event is recorded.
    pub out: Vec<u8>,
    /// Set once the handshake is over.
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Version,
    SecurityType,
    Response,
    Done,
}

/// The server side of one handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    offered: Version,
    agreed: Option<Version>,
    client_version: Option<(u16, u16)>,
    challenge: [u8; CHALLENGE_LEN],
    reason: &'static str,
    state: State,
    buf: Vec<u8>,
}

impl Handshake {
    /// A handshake offering `version`, challenging with `challenge` and
    /// refusing with `reason` (3.8 sends it).
    pub fn new(
        version: Version,
        challenge: [u8; CHALLENGE_LEN],
        reason: &'static str,
    ) -> Handshake {
        Handshake {
            offered: version,
            agreed: None,
            client_version: None,
            challenge,
            reason,
            state: State::Version,
            buf: Vec::with_capacity(CHALLENGE_LEN),
        }
    }

    /// What the server sends first.
    pub fn greeting(&self) -> &'static [u8] {
        self.offered.message()
    }

    /// The version agreed, once the client sent one the server accepts.
    pub fn agreed(&self) -> Option<Version> {
        self.agreed
    }

    /// The version the client announced, as sent.
    pub fn client_version(&self) -> Option<(u16, u16)> {
        self.client_version
    }

    /// The challenge sent.
    pub fn challenge(&self) -> &[u8; CHALLENGE_LEN] {
        &self.challenge
    }

    /// Whether the challenge has gone out (the client saw VNC authentication).
    pub fn challenged(&self) -> bool {
        matches!(self.state, State::Response | State::Done)
    }

    /// Feeds the client's next bytes.
    pub fn feed(&mut self, input: &[u8]) -> Step {
        let mut step = Step::default();
        for &b in input {
            if step.outcome.is_some() || self.state == State::Done {
                break;
            }
            self.byte(b, &mut step);
        }
        step
    }

    fn byte(&mut self, b: u8, step: &mut Step) {
        match self.state {
            State::Version => {
                self.buf.push(b);
                if self.buf.len() < VERSION_LEN {
                    return;
                }
                let parsed = parse_version(&self.buf);
                self.buf.clear();
                self.client_version = parsed;
                match parsed.and_then(|(ma, mi)| self.offered.agree(ma, mi)) {
                    None => self.refuse(Refusal::BadVersion, step),
                    Some(v) => {
                        self.agreed = Some(v);
                        if v == Version::V3_3 {
                            // 3.3: the server names the type, then challenges at once.
                            step.out
                                .extend_from_slice(&u32::from(SEC_VNC_AUTH).to_be_bytes());
                            step.out.extend_from_slice(&self.challenge);
                            self.state = State::Response;
                        } else {
                            step.out.extend_from_slice(&[1, SEC_VNC_AUTH]);
                            self.state = State::SecurityType;
                        }
                    }
                }
            }
            State::SecurityType => {
                if b == SEC_VNC_AUTH {
                    step.out.extend_from_slice(&self.challenge);
                    self.state = State::Response;
                } else {
                    self.refuse(Refusal::BadSecurityType(b), step);
                }
            }
            State::Response => {
                self.buf.push(b);
                if self.buf.len() < CHALLENGE_LEN {
                    return;
                }
                let mut response = [0u8; CHALLENGE_LEN];
                for (r, v) in response.iter_mut().zip(self.buf.iter()) {
                    *r = *v;
                }
                self.buf.clear();
                // SecurityResult: failed; 3.8 adds the reason.
                step.out.extend_from_slice(&1u32.to_be_bytes());
                if self.agreed == Some(Version::V3_8) {
                    let reason = self.reason.as_bytes();
                    let len = u32::try_from(reason.len()).unwrap_or(0);
                    step.out.extend_from_slice(&len.to_be_bytes());
                    step.out.extend_from_slice(reason);
                }
                self.state = State::Done;
                step.outcome = Some(Outcome::Response(response));
            }
            State::Done => {}
        }
    }

    fn refuse(&mut self, r: Refusal, step: &mut Step) {
        self.state = State::Done;
        step.outcome = Some(Outcome::Refused(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REASON: &str = "Authentication failed";

    #[test]
    fn the_des_response_is_what_vncdotool_computes() {
        // Recorded with vncdotool 1.4.2's des_encrypt(_vnc_des(...)) (the
        // `cryptography` package's DES), an implementation independent of ours.
        let ch: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            hex::encode(des_response(b"Passw0rd", &ch)),
            "1b295f9e55e78a9fda2b8b47bef764df"
        );
        // Only the first eight bytes count.
        assert_eq!(
            hex::encode(des_response(b"longpassword123", &[0xaa; 16])),
            "6cdd5bceaae6e4b06cdd5bceaae6e4b0"
        );
        assert_eq!(
            des_response(b"longpass", &[0xaa; 16]),
            des_response(b"longpassword123", &[0xaa; 16])
        );
    }

    #[test]
    fn versions_parse_and_agree_as_rfc_6143_says() {
        assert_eq!(parse_version(b"RFB 003.008\n"), Some((3, 8)));
        assert_eq!(parse_version(b"RFB 003.889\n"), Some((3, 889)));
        assert_eq!(parse_version(b"RFB 03.008\n\n"), None);
        assert_eq!(parse_version(b"GET / HTTP/1"), None);
        assert_eq!(Version::V3_8.agree(3, 8), Some(Version::V3_8));
        assert_eq!(Version::V3_8.agree(3, 5), Some(Version::V3_3));
        assert_eq!(Version::V3_8.agree(3, 889), Some(Version::V3_8));
        assert_eq!(Version::V3_7.agree(3, 8), Some(Version::V3_7));
        assert_eq!(Version::V3_3.agree(3, 8), Some(Version::V3_3));
        assert_eq!(Version::V3_8.agree(4, 1), None);
    }

    #[test]
    fn a_3_8_handshake_lists_vnc_auth_challenges_and_fails_with_the_reason() {
        let ch = [7u8; 16];
        let mut h = Handshake::new(Version::V3_8, ch, REASON);
        assert_eq!(h.greeting(), b"RFB 003.008\n");
        // Split writes give the same answers.
        assert_eq!(h.feed(b"RFB 003.").out, b"");
        assert_eq!(h.feed(b"008\n").out, [1, 2]);
        assert_eq!(h.feed(&[2]).out, ch);
        let step = h.feed(&[9u8; 20]);
        assert_eq!(step.outcome, Some(Outcome::Response([9; 16])));
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 21];
        want.extend_from_slice(REASON.as_bytes());
        assert_eq!(step.out, want);
        assert_eq!(h.feed(b"more").outcome, None, "nothing after the end");
    }

    #[test]
    fn a_3_3_server_names_the_type_and_fails_without_a_reason() {
        let ch = [3u8; 16];
        let mut h = Handshake::new(Version::V3_3, ch, REASON);
        let step = h.feed(b"RFB 003.008\n");
        assert_eq!(h.agreed(), Some(Version::V3_3));
        let mut want = vec![0, 0, 0, 2];
        want.extend_from_slice(&ch);
        assert_eq!(step.out, want);
        let step = h.feed(&[1u8; 16]);
        assert_eq!(step.out, [0, 0, 0, 1]);
        assert_eq!(step.outcome, Some(Outcome::Response([1; 16])));
    }

    #[test]
    fn a_3_7_failure_has_no_reason_and_a_wrong_type_is_refused() {
        let mut h = Handshake::new(Version::V3_8, [0; 16], REASON);
        h.feed(b"RFB 003.007\n");
        h.feed(&[2]);
        assert_eq!(h.feed(&[5; 16]).out, [0, 0, 0, 1]);
        let mut h = Handshake::new(Version::V3_8, [0; 16], REASON);
        h.feed(b"RFB 003.008\n");
        let step = h.feed(&[1]);
        assert_eq!(
            step.outcome,
            Some(Outcome::Refused(Refusal::BadSecurityType(1)))
        );
        assert!(step.out.is_empty());
        let mut h = Handshake::new(Version::V3_8, [0; 16], REASON);
        let step = h.feed(b"SSH-2.0-OpenSSH_9.6\r\n");
        assert_eq!(step.outcome, Some(Outcome::Refused(Refusal::BadVersion)));
        assert!(step.out.is_empty());
    }

    #[test]
    fn challenges_differ_per_connection_decky_and_time() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let a = challenge(&k1, 0, "10.0.0.1:4000", 5);
        assert_ne!(a, challenge(&k1, 1, "10.0.0.1:4000", 5));
        assert_ne!(a, challenge(&k2, 0, "10.0.0.1:4000", 5));
        assert_ne!(a, challenge(&k1, 0, "10.0.0.1:4000", 6));
        assert_eq!(a, challenge(&k1, 0, "10.0.0.1:4000", 5));
    }

    proptest! {
        #[test]
        fn arbitrary_client_bytes_never_panic_and_output_is_bounded(
            version in 0usize..3,
            input in proptest::collection::vec(any::<u8>(), 0..256),
            cut in 0usize..256,
        ) {
            let v = [Version::V3_3, Version::V3_7, Version::V3_8][version];
            let mut whole = Handshake::new(v, [0; 16], REASON);
            let all = whole.feed(&input);
            prop_assert!(all.out.len() <= 4 + 16 + 8 + REASON.len());
            prop_assert!(whole.buf.len() <= CHALLENGE_LEN);
            // However the client split its writes, the same answer comes out.
            let cut = cut.min(input.len());
            let mut split = Handshake::new(v, [0; 16], REASON);
            let mut a = split.feed(&input[..cut]);
            let b = split.feed(&input[cut..]);
            a.out.extend(b.out);
            prop_assert_eq!(a.out, all.out);
            prop_assert_eq!(a.outcome.or(b.outcome), all.outcome);
        }
    }
}

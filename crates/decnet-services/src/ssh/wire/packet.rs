//! The binary packet protocol (RFC 4253 §6) as a sans-IO framer: bytes in,
//! whole payloads out, with the caps OpenSSH applies (256 KiB packets,
//! at least 4 bytes of padding, block alignment) and delayed zlib compression.
//!
//! Hostile input: lengths are checked before anything is allocated or read,
//! the MAC before a byte of payload is believed, and a decompressed payload
//! may not outgrow [`MAX_PACKET`].

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::crypt::Keys;
use super::WireError;

/// Largest packet accepted (OpenSSH's `PACKET_MAX_SIZE`).
pub const MAX_PACKET: usize = 256 * 1024;

/// Reads packets from the peer.
#[derive(Debug)]
pub struct Opener {
    keys: Keys,
    /// Sequence number of the next packet.
    pub seq: u32,
    /// Length of the packet being read, once known, and how many of its bytes
    /// [`Keys::peek_length`] already decrypted.
    pending: Option<(usize, usize)>,
    inflate: Option<Box<Decompress>>,
    /// Bytes still to swallow after a bad length before giving up.
    discard: Option<usize>,
}

impl Opener {
    /// A framer for the cleartext start of a connection.
    pub fn new() -> Opener {
        Opener {
            keys: Keys::clear(),
            seq: 0,
            pending: None,
            inflate: None,
            discard: None,
        }
    }

    /// Switches to new keys (after NEWKEYS); the sequence number continues.
    pub fn rekey(&mut self, keys: Keys) {
        self.keys = keys;
    }

    /// Turns on zlib decompression (`zlib@openssh.com` after authentication).
    pub fn start_inflate(&mut self) {
        self.inflate = Some(Box::new(Decompress::new(true)));
    }

    /// The next payload, or `None` until more bytes arrive.
    ///
    /// A length that is impossible or misaligned is not refused at once: like
    /// OpenSSH's `ssh_packet_start_discard`, the framer swallows up to
    /// [`MAX_PACKET`] bytes first, so a prober learns nothing from when the
    /// connection ends (and a stalled client stays until the pre-auth deadline).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<u8>>, WireError> {
        if let Some(left) = self.discard.as_mut() {
            let n = (*left).min(buf.len());
            let _ = buf.split_to(n);
            *left -= n;
            return if *left == 0 {
                Err(WireError::BadLength)
            } else {
                Ok(None)
            };
        }
        let (len, peeked) = match self.pending {
            Some(p) => p,
            None => {
                let need = if self.keys.length_apart() {
                    4
                } else {
                    self.keys.block()
                };
                if buf.len() < need {
                    return Ok(None);
                }
                let first = buf.get_mut(..need).ok_or(WireError::Truncated)?;
                let len = self.keys.peek_length(self.seq, first)? as usize;
                let aligned = if self.keys.length_apart() {
                    len
                } else {
                    len + 4
                };
                if !(5..=MAX_PACKET).contains(&len) || aligned % self.keys.block() != 0 {
                    self.discard = Some(MAX_PACKET);
                    return self.decode(buf);
                }
                let peeked = if self.keys.length_apart() { 0 } else { need };
                self.pending = Some((len, peeked));
                (len, peeked)
            }
        };
        let tag = self.keys.tag_len();
        if buf.len() < 4 + len + tag {
            return Ok(None);
        }
        self.pending = None;
        let mut whole = buf.split_to(4 + len + tag);
        let (packet, mac) = whole.split_at_mut(4 + len);
        self.keys.open(self.seq, packet, peeked, mac)?;
        self.seq = self.seq.wrapping_add(1);
        let body = packet.get(4..).ok_or(WireError::Truncated)?;
        let (&pad, body) = body.split_first().ok_or(WireError::Truncated)?;
        let pad = usize::from(pad);
        if pad < 4 || pad >= len {
            return Err(WireError::Malformed("bad padding length"));
        }
        let payload = body.get(..len - 1 - pad).ok_or(WireError::Truncated)?;
        match self.inflate.as_mut() {
            None => Ok(Some(payload.to_vec())),
            Some(z) => inflate(z, payload).map(Some),
        }
    }
}

impl Default for Opener {
    fn default() -> Self {
        Opener::new()
    }
}

fn inflate(z: &mut Decompress, mut input: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(input.len() * 2 + 64);
    loop {
        if out.len() >= MAX_PACKET {
            return Err(WireError::TooLong);
        }
        out.reserve(4096);
        let before = z.total_in();
        let status = z
            .decompress_vec(input, &mut out, FlushDecompress::Sync)
            .map_err(|_| WireError::Malformed("bad zlib stream"))?;
        let used = usize::try_from(z.total_in() - before).unwrap_or(usize::MAX);
        input = input.get(used..).unwrap_or(&[]);
        let full = out.len() == out.capacity();
        if input.is_empty() && !full {
            return Ok(out);
        }
        if matches!(status, Status::StreamEnd) || (used == 0 && !full) {
            return Ok(out);
        }
    }
}

/// Writes packets to the peer.
#[derive(Debug)]
pub struct Sealer {
    keys: Keys,
    /// Sequence number of the next packet.
    pub seq: u32,
    deflate: Option<Box<Compress>>,
}

impl Sealer {
    /// A sealer for the cleartext start of a connection.
    pub fn new() -> Sealer {
        Sealer {
            keys: Keys::clear(),
            seq: 0,
            deflate: None,
        }
    }

    /// Switches to new keys (after NEWKEYS).
    pub fn rekey(&mut self, keys: Keys) {
        self.keys = keys;
    }

    /// Turns on zlib compression.
    pub fn start_deflate(&mut self) {
        self.deflate = Some(Box::new(Compress::new(Compression::new(6), true)));
    }

    /// Appends one protected packet carrying `payload` to `out`.
    pub fn encode(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        let compressed;
        let payload = match self.deflate.as_mut() {
            None => payload,
            Some(z) => {
                let mut v = Vec::with_capacity(payload.len() + 64);
                let mut input = payload;
                loop {
                    v.reserve(input.len() + 64);
                    let before = z.total_in();
                    z.compress_vec(input, &mut v, FlushCompress::Partial)
                        .map_err(|_| WireError::Crypto("zlib compression failed"))?;
                    let used = usize::try_from(z.total_in() - before).unwrap_or(usize::MAX);
                    input = input.get(used..).unwrap_or(&[]);
                    if input.is_empty() && v.len() < v.capacity() {
                        break;
                    }
                }
                compressed = v;
                &compressed
            }
        };
        self.keys.seal(self.seq, payload, out)?;
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }
}

impl Default for Sealer {
    fn default() -> Self {
        Sealer::new()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ssh::wire::crypt::Direction;

    fn pair(cipher: &str, mac: &str) -> (Sealer, Opener) {
        let (k, iv, _) = crate::ssh::wire::crypt::cipher_sizes(cipher).unwrap();
        let key = vec![7u8; k];
        let iv = vec![9u8; iv];
        let mk = [3u8; 64];
        let mlen = crate::ssh::wire::crypt::mac_sizes(mac).map_or(0, |(l, _)| l);
        let mut s = Sealer::new();
        s.rekey(Keys::new(Direction::Seal, cipher, &key, &iv, mac, &mk[..mlen]).unwrap());
        let mut o = Opener::new();
        o.rekey(Keys::new(Direction::Open, cipher, &key, &iv, mac, &mk[..mlen]).unwrap());
        (s, o)
    }

    const SUITES: &[(&str, &str)] = &[
        ("chacha20-poly1305@openssh.com", ""),
        ("aes128-gcm@openssh.com", ""),
        ("aes256-gcm@openssh.com", ""),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes256-ctr", "hmac-sha2-512"),
        ("aes192-ctr", "hmac-sha1"),
        ("aes128-cbc", "hmac-sha1-etm@openssh.com"),
        ("aes256-cbc", "hmac-sha2-256"),
        ("aes128-ctr", "umac-64-etm@openssh.com"),
        ("aes256-ctr", "umac-128@openssh.com"),
        ("3des-cbc", "hmac-sha1"),
        ("3des-cbc", "hmac-sha2-256-etm@openssh.com"),
        ("blowfish-cbc", "hmac-sha2-512"),
        ("blowfish-cbc", "umac-64-etm@openssh.com"),
        ("cast128-cbc", "hmac-sha1-etm@openssh.com"),
        ("cast128-cbc", "umac-128@openssh.com"),
    ];

    #[test]
    fn every_suite_round_trips_and_refuses_a_flipped_bit() {
        for (cipher, mac) in SUITES {
            let (mut s, mut o) = pair(cipher, mac);
            let mut wire = Vec::new();
            for p in [b"first".as_slice(), &[0u8; 3000], b"x"] {
                s.encode(p, &mut wire).unwrap();
            }
            let mut buf = BytesMut::from(wire.as_slice());
            assert_eq!(o.decode(&mut buf).unwrap().unwrap(), b"first", "{cipher}");
            assert_eq!(
                o.decode(&mut buf).unwrap().unwrap(),
                vec![0u8; 3000],
                "{cipher}"
            );
            assert_eq!(o.decode(&mut buf).unwrap().unwrap(), b"x", "{cipher}");
            assert!(buf.is_empty());
            let (mut s, mut o) = pair(cipher, mac);
            let mut wire = Vec::new();
            s.encode(b"tampered", &mut wire).unwrap();
            let last = wire.len() - 1;
            wire[last] ^= 1;
            let mut buf = BytesMut::from(wire.as_slice());
            assert!(o.decode(&mut buf).is_err(), "{cipher} {mac}");
        }
    }

    #[test]
    fn eight_byte_block_packets_pad_to_8_and_are_read_from_their_first_8_bytes() {
        for cipher in ["3des-cbc", "blowfish-cbc", "cast128-cbc"] {
            let mut odd_eights = 0;
            for n in 0..40 {
                let (mut s, mut o) = pair(cipher, "hmac-sha1");
                let payload = vec![0x5a; n];
                let mut wire = Vec::new();
                s.encode(&payload, &mut wire).unwrap();
                let packet = wire.len() - 20;
                assert_eq!(packet % 8, 0, "{cipher} {n}");
                // At least 4 bytes of padding, fewer than 4 + one 8-byte block.
                let pad = packet - 5 - n;
                assert!((4..12).contains(&pad), "{cipher} {n}: {pad}");
                if packet % 16 == 8 {
                    odd_eights += 1;
                }
                let mut buf = BytesMut::from(&wire[..8]);
                assert!(matches!(o.decode(&mut buf), Ok(None)), "{cipher} {n}");
                buf.extend_from_slice(&wire[8..]);
                assert_eq!(o.decode(&mut buf).unwrap().unwrap(), payload, "{cipher}");
            }
            assert!(odd_eights > 0, "{cipher} padded to 16, not 8");
        }
    }

    #[test]
    fn compression_round_trips_across_packets() {
        let (mut s, mut o) = (Sealer::new(), Opener::new());
        s.start_deflate();
        o.start_inflate();
        let mut wire = Vec::new();
        let big = b"ls -la /tmp; ".repeat(2000);
        for p in [b"abc".as_slice(), &big, b"abc"] {
            s.encode(p, &mut wire).unwrap();
        }
        let mut buf = BytesMut::from(wire.as_slice());
        assert_eq!(o.decode(&mut buf).unwrap().unwrap(), b"abc");
        assert_eq!(o.decode(&mut buf).unwrap().unwrap(), big);
        assert_eq!(o.decode(&mut buf).unwrap().unwrap(), b"abc");
    }

    #[test]
    fn a_bad_length_is_refused_only_after_openssh_s_discard_window() {
        let mut o = Opener::new();
        let mut buf = BytesMut::from(&[0x00, 0x10, 0x00, 0x04, 0, 0, 0, 0][..]);
        assert!(
            matches!(o.decode(&mut buf), Ok(None)),
            "swallowed, no answer yet"
        );
        assert!(buf.is_empty());
        let mut rest = BytesMut::from(vec![0u8; MAX_PACKET - 9].as_slice());
        assert!(matches!(o.decode(&mut rest), Ok(None)));
        let mut last = BytesMut::from(&[0u8; 2][..]);
        assert!(matches!(o.decode(&mut last), Err(WireError::BadLength)));
        let mut misaligned = BytesMut::from(&[0, 0, 4, 0, 10, 20, 0, 0][..]);
        assert!(matches!(Opener::new().decode(&mut misaligned), Ok(None)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_framer(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut o = Opener::new();
            let mut buf = BytesMut::from(data.as_slice());
            while let Ok(Some(_)) = o.decode(&mut buf) {}
            let (_, mut o) = pair("chacha20-poly1305@openssh.com", "");
            let mut buf = BytesMut::from(data.as_slice());
            while let Ok(Some(_)) = o.decode(&mut buf) {}
            let (_, mut o) = pair("3des-cbc", "hmac-sha1");
            let mut buf = BytesMut::from(data.as_slice());
            while let Ok(Some(_)) = o.decode(&mut buf) {}
        }

        #[test]
        fn payloads_round_trip_in_the_clear(p in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let (mut s, mut o) = (Sealer::new(), Opener::new());
            let mut wire = Vec::new();
            s.encode(&p, &mut wire).unwrap();
            prop_assert_eq!(wire.len() % 8, 0);
            let mut buf = BytesMut::from(wire.as_slice());
            prop_assert_eq!(o.decode(&mut buf).unwrap().unwrap(), p);
        }
    }
}

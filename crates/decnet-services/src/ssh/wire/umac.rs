//! UMAC-64 and UMAC-128 (RFC 4418) with AES-128, as OpenSSH uses them for
//! `umac-64[-etm]@openssh.com` and `umac-128[-etm]@openssh.com`: the nonce is
//! the packet sequence number as 8 big-endian bytes, and the MAC covers the
//! packet alone (the sequence number is not prefixed as it is for HMAC).
//!
//! Written from the RFC's pseudocode; messages are at most one SSH packet
//! (256 KiB), so the 128-bit POLY stage of L2-HASH (past 2^17 bytes of L1
//! output, i.e. 16 MiB of message) is never reached and returns an error.

use aes::cipher::{BlockCipherEncrypt, KeyInit};

use super::WireError;

const P36: u64 = (1 << 36) - 5;
const P64: u64 = u64::MAX - 58; // 2^64 - 59
const MASK64: u64 = 0x01FF_FFFF_01FF_FFFF;

/// A UMAC key schedule for 8- or 16-byte tags.
#[derive(Clone)]
pub struct Umac {
    aes: aes::Aes128,
    /// `KDF(K, 0, 16)`, the pad-derivation key.
    pdf: aes::Aes128,
    streams: usize,
    /// NH key words (big-endian in the key), 256 + 4·(streams−1).
    l1: Vec<u32>,
    l2: Vec<u64>,
    l3a: Vec<[u64; 8]>,
    l3b: Vec<u32>,
}

impl std::fmt::Debug for Umac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umac")
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

fn aes_block(aes: &aes::Aes128, input: [u8; 16]) -> [u8; 16] {
    let mut b = aes::Block::from(input);
    aes.encrypt_block(&mut b);
    b.into()
}

/// RFC 4418 §4.1.
fn kdf(aes: &aes::Aes128, index: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 1u64;
    while out.len() < len {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&index.to_be_bytes());
        block[8..].copy_from_slice(&i.to_be_bytes());
        out.extend_from_slice(&aes_block(aes, block));
        i += 1;
    }
    out.truncate(len);
    out
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(a)
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(a)
}

impl Umac {
    /// A schedule for a 16-byte key and `tag_len` 8 or 16.
    pub fn new(key: &[u8], tag_len: usize) -> Result<Umac, WireError> {
        let aes = aes::Aes128::new_from_slice(key)
            .map_err(|_| WireError::Crypto("bad UMAC key length"))?;
        let streams = tag_len / 4;
        let pdf_key = kdf(&aes, 0, 16);
        let pdf = aes::Aes128::new_from_slice(&pdf_key)
            .map_err(|_| WireError::Crypto("bad UMAC key length"))?;
        let l1 = kdf(&aes, 1, 1024 + (streams - 1) * 16)
            .chunks_exact(4)
            .map(be32)
            .collect();
        let l2raw = kdf(&aes, 2, streams * 24);
        let l2 = l2raw.chunks_exact(24).map(|c| be64(c) & MASK64).collect();
        let l3raw = kdf(&aes, 3, streams * 64);
        let l3a = l3raw
            .chunks_exact(64)
            .map(|c| {
                let mut k = [0u64; 8];
                for (j, w) in c.chunks_exact(8).enumerate() {
                    if let Some(slot) = k.get_mut(j) {
                        *slot = be64(w) % P36;
                    }
                }
                k
            })
            .collect();
        let l3b = kdf(&aes, 4, streams * 4)
            .chunks_exact(4)
            .map(be32)
            .collect();
        Ok(Umac {
            aes,
            pdf,
            streams,
            l1,
            l2,
            l3a,
            l3b,
        })
    }

    /// Tag length in bytes.
    pub fn tag_len(&self) -> usize {
        self.streams * 4
    }

    /// The tag of `msg` under an 8-byte `nonce`.
    pub fn tag(&self, msg: &[u8], nonce: [u8; 8]) -> Result<Vec<u8>, WireError> {
        let _ = &self.aes;
        let mut out = Vec::with_capacity(self.tag_len());
        for s in 0..self.streams {
            let a = self.l1_hash(s, msg);
            let b: u128 = if msg.len() <= 1024 {
                u128::from(a.first().copied().unwrap_or(0))
            } else {
                self.l2_hash(s, &a)?
            };
            let c = self.l3_hash(s, b);
            out.extend_from_slice(&c.to_be_bytes());
        }
        // PDF (RFC 4418 §4.2).
        let t = out.len();
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&nonce);
        let index = if t == 8 { usize::from(nonce[7] & 1) } else { 0 };
        if t == 8 {
            n[7] &= !1;
        }
        let pad = aes_block(&self.pdf, n);
        let pad = pad.get(index * t..index * t + t).unwrap_or(&[]);
        for (o, p) in out.iter_mut().zip(pad) {
            *o ^= p;
        }
        Ok(out)
    }

    fn nh(&self, stream: usize, block: &[u8]) -> u64 {
        let key = self.l1.get(stream * 4..).unwrap_or(&[]);
        let words: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| {
                let mut a = [0u8; 4];
                a.copy_from_slice(w);
                u32::from_le_bytes(a)
            })
            .collect();
        let mut y = 0u64;
        for (m, k) in words.chunks_exact(8).zip(key.chunks_exact(8)) {
            let (m_lo, m_hi) = m.split_at(4);
            let (k_lo, k_hi) = k.split_at(4);
            for (((ml, kl), mh), kh) in m_lo.iter().zip(k_lo).zip(m_hi).zip(k_hi) {
                let a = u64::from(ml.wrapping_add(*kl));
                let b = u64::from(mh.wrapping_add(*kh));
                y = y.wrapping_add(a.wrapping_mul(b));
            }
        }
        y
    }

    /// L1-HASH: one 64-bit NH value per 1024-byte block.
    fn l1_hash(&self, stream: usize, msg: &[u8]) -> Vec<u64> {
        let mut out = Vec::with_capacity(msg.len() / 1024 + 1);
        let mut chunks = msg.chunks(1024).peekable();
        if chunks.peek().is_none() {
            return vec![self.nh(stream, &[0u8; 32])];
        }
        while let Some(c) = chunks.next() {
            let bits = (c.len() as u64) * 8;
            if c.len() == 1024 && chunks.peek().is_some() {
                out.push(self.nh(stream, c).wrapping_add(bits));
            } else {
                let padded_len = c.len().div_ceil(32).max(1) * 32;
                let mut p = c.to_vec();
                p.resize(padded_len, 0);
                out.push(self.nh(stream, &p).wrapping_add(bits));
            }
        }
        out
    }

    fn l2_hash(&self, stream: usize, a: &[u64]) -> Result<u128, WireError> {
        if a.len() * 8 > 1 << 17 {
            return Err(WireError::TooLong);
        }
        let k = u128::from(self.l2.get(stream).copied().unwrap_or(0));
        let p = u128::from(P64);
        let mut y: u128 = 1;
        for &m in a {
            if m >= u64::MAX - u64::from(u32::MAX) {
                // m ≥ 2^64 − 2^32: the marker p−1, then m − offset.
                y = (k * y + (p - 1)) % p;
                y = (k * y + u128::from(m - 59)) % p;
            } else {
                y = (k * y + u128::from(m)) % p;
            }
        }
        Ok(y)
    }

    fn l3_hash(&self, stream: usize, m: u128) -> u32 {
        let k = self.l3a.get(stream).copied().unwrap_or([0; 8]);
        let bytes = m.to_be_bytes();
        let mut y: u64 = 0;
        for (pair, ki) in bytes.chunks_exact(2).zip(k.iter()) {
            let mut a = [0u8; 2];
            a.copy_from_slice(pair);
            y = (y + u64::from(u16::from_be_bytes(a)) * ki) % P36;
        }
        (y as u32) ^ self.l3b.get(stream).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_tag(len: usize, msg: &[u8]) -> String {
        let u = Umac::new(b"abcdefghijklmnop", len).unwrap();
        hex::encode_upper(u.tag(msg, *b"bcdefghi").unwrap())
    }

    #[test]
    fn rfc_4418_test_vectors() {
        // RFC 4418 appendix, key "abcdefghijklmnop", nonce "bcdefghi".
        assert_eq!(hex_tag(8, b""), "6E155FAD26900BE1");
        assert_eq!(hex_tag(8, b"aaa"), "44B5CB542F220104");
        assert_eq!(hex_tag(8, &[b'a'; 1 << 10]), "26BF2F5D60118BD9");
        assert_eq!(hex_tag(8, &[b'a'; 1 << 15]), "27F8EF643B0D118D");
    }
}

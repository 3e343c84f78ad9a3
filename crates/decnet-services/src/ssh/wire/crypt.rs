//! Per-direction packet protection: the ciphers and MACs the persona's
//! OpenSSH offers, from `ring` (ChaCha20-Poly1305@openssh.com, AES-GCM, HMAC)
//! and RustCrypto (`aes`, `ctr`; CBC chaining is written here over the block
//! cipher, as RFC 4253 §6.3 defines it).

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use ring::aead::chacha20_poly1305_openssh as chacha;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

use super::umac::Umac;
use super::WireError;

type Ctr128<C> = ctr::Ctr128BE<C>;

/// Which way a key protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: this side opens.
    Open,
    /// Server to client: this side seals.
    Seal,
}

enum Block {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Block {
    fn new(bits: usize, key: &[u8]) -> Result<Block, WireError> {
        let bad = |_| WireError::Crypto("bad AES key length");
        Ok(match bits {
            128 => Block::A128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            192 => Block::A192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            _ => Block::A256(aes::Aes256::new_from_slice(key).map_err(bad)?),
        })
    }

    fn encrypt(&self, b: &mut [u8; 16]) {
        let b = <&mut aes::Block>::from(b);
        match self {
            Block::A128(c) => c.encrypt_block(b),
            Block::A192(c) => c.encrypt_block(b),
            Block::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, b: &mut [u8; 16]) {
        let b = <&mut aes::Block>::from(b);
        match self {
            Block::A128(c) => c.decrypt_block(b),
            Block::A192(c) => c.decrypt_block(b),
            Block::A256(c) => c.decrypt_block(b),
        }
    }
}

enum Ctr {
    A128(Ctr128<aes::Aes128>),
    A192(Ctr128<aes::Aes192>),
    A256(Ctr128<aes::Aes256>),
}

impl Ctr {
    fn new(bits: usize, key: &[u8], iv: &[u8]) -> Result<Ctr, WireError> {
        let bad = |_| WireError::Crypto("bad AES-CTR key or IV length");
        Ok(match bits {
            128 => Ctr::A128(Ctr128::new_from_slices(key, iv).map_err(bad)?),
            192 => Ctr::A192(Ctr128::new_from_slices(key, iv).map_err(bad)?),
            _ => Ctr::A256(Ctr128::new_from_slices(key, iv).map_err(bad)?),
        })
    }

    fn apply(&mut self, data: &mut [u8]) {
        match self {
            Ctr::A128(c) => c.apply_keystream(data),
            Ctr::A192(c) => c.apply_keystream(data),
            Ctr::A256(c) => c.apply_keystream(data),
        }
    }
}

enum Cipher {
    Clear,
    ChachaOpen(Box<chacha::OpeningKey>),
    ChachaSeal(Box<chacha::SealingKey>),
    Gcm { key: Box<LessSafeKey>, iv: [u8; 12] },
    Ctr(Box<Ctr>),
    Cbc { aes: Box<Block>, iv: [u8; 16] },
}

/// Key and IV sizes of a cipher, by wire name: `(key, iv, block)`.
pub fn cipher_sizes(name: &str) -> Option<(usize, usize, usize)> {
    Some(match name {
        "chacha20-poly1305@openssh.com" => (64, 0, 8),
        "aes128-ctr" | "aes128-cbc" => (16, 16, 16),
        "aes192-ctr" | "aes192-cbc" => (24, 16, 16),
        "aes256-ctr" | "aes256-cbc" => (32, 16, 16),
        "aes128-gcm@openssh.com" => (16, 12, 16),
        "aes256-gcm@openssh.com" => (32, 12, 16),
        _ => return None,
    })
}

/// Whether the cipher authenticates itself (the MAC is then not negotiated).
pub fn is_aead(name: &str) -> bool {
    matches!(
        name,
        "chacha20-poly1305@openssh.com" | "aes128-gcm@openssh.com" | "aes256-gcm@openssh.com"
    )
}

/// Key size of a MAC, by wire name, and whether it is encrypt-then-MAC.
pub fn mac_sizes(name: &str) -> Option<(usize, bool)> {
    Some(match name {
        "hmac-sha1" => (20, false),
        "hmac-sha2-256" => (32, false),
        "hmac-sha2-512" => (64, false),
        "hmac-sha1-etm@openssh.com" => (20, true),
        "hmac-sha2-256-etm@openssh.com" => (32, true),
        "hmac-sha2-512-etm@openssh.com" => (64, true),
        "umac-64@openssh.com" | "umac-128@openssh.com" => (16, false),
        "umac-64-etm@openssh.com" | "umac-128-etm@openssh.com" => (16, true),
        _ => return None,
    })
}

fn hmac_alg(name: &str) -> hmac::Algorithm {
    match name {
        "hmac-sha1" | "hmac-sha1-etm@openssh.com" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "hmac-sha2-512" | "hmac-sha2-512-etm@openssh.com" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

/// A MAC key: HMAC over `seq || packet`, or UMAC over the packet with the
/// sequence number as nonce.
enum MacKey {
    Hmac(hmac::Key),
    Umac(Box<Umac>),
}

/// The protection of one direction.
pub struct Keys {
    cipher: Cipher,
    mac: Option<MacKey>,
    etm: bool,
    block: usize,
    tag: usize,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("block", &self.block)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// No protection (before the first NEWKEYS).
    pub fn clear() -> Keys {
        Keys {
            cipher: Cipher::Clear,
            mac: None,
            etm: false,
            block: 8,
            tag: 0,
        }
    }

    /// Keys for `cipher` and `mac` (ignored for AEAD ciphers) from derived material.
    pub fn new(
        dir: Direction,
        cipher: &str,
        key: &[u8],
        iv: &[u8],
        mac: &str,
        mac_key: &[u8],
    ) -> Result<Keys, WireError> {
        let (_, _, block) = cipher_sizes(cipher).ok_or(WireError::Crypto("unknown cipher"))?;
        let c = match cipher {
            "chacha20-poly1305@openssh.com" => {
                let k: &[u8; 64] = key
                    .try_into()
                    .map_err(|_| WireError::Crypto("bad chacha key length"))?;
                match dir {
                    Direction::Open => Cipher::ChachaOpen(Box::new(chacha::OpeningKey::new(k))),
                    Direction::Seal => Cipher::ChachaSeal(Box::new(chacha::SealingKey::new(k))),
                }
            }
            "aes128-gcm@openssh.com" | "aes256-gcm@openssh.com" => {
                let alg = if cipher.starts_with("aes128") {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let key = UnboundKey::new(alg, key)
                    .map_err(|_| WireError::Crypto("bad AES-GCM key length"))?;
                let iv: [u8; 12] = iv
                    .try_into()
                    .map_err(|_| WireError::Crypto("bad AES-GCM IV length"))?;
                Cipher::Gcm {
                    key: Box::new(LessSafeKey::new(key)),
                    iv,
                }
            }
            _ => {
                let bits = key.len() * 8;
                if cipher.ends_with("-cbc") {
                    let iv: [u8; 16] = iv
                        .try_into()
                        .map_err(|_| WireError::Crypto("bad AES-CBC IV length"))?;
                    Cipher::Cbc {
                        aes: Box::new(Block::new(bits, key)?),
                        iv,
                    }
                } else {
                    Cipher::Ctr(Box::new(Ctr::new(bits, key, iv)?))
                }
            }
        };
        if is_aead(cipher) {
            return Ok(Keys {
                cipher: c,
                mac: None,
                etm: true,
                block,
                tag: 16,
            });
        }
        let (_, etm) = mac_sizes(mac).ok_or(WireError::Crypto("unknown MAC"))?;
        if mac.starts_with("umac-") {
            let len = if mac.starts_with("umac-64") { 8 } else { 16 };
            return Ok(Keys {
                cipher: c,
                mac: Some(MacKey::Umac(Box::new(Umac::new(mac_key, len)?))),
                etm,
                block,
                tag: len,
            });
        }
        let alg = hmac_alg(mac);
        Ok(Keys {
            cipher: c,
            mac: Some(MacKey::Hmac(hmac::Key::new(alg, mac_key))),
            etm,
            block,
            tag: alg.digest_algorithm().output_len(),
        })
    }

    /// Cipher block size (8 for the clear and ChaCha20 transports).
    pub fn block(&self) -> usize {
        self.block
    }

    /// Bytes of MAC or tag after each packet.
    pub fn tag_len(&self) -> usize {
        self.tag
    }

    /// Whether the packet length travels unencrypted (ETM, GCM) or is
    /// decrypted on its own (ChaCha20): then only 4 bytes are needed to learn it.
    pub fn length_apart(&self) -> bool {
        self.etm || matches!(self.cipher, Cipher::ChachaOpen(_) | Cipher::ChachaSeal(_))
    }

    /// Whether the padding aligns the packet without its length field.
    fn aligns_without_length(&self) -> bool {
        self.length_apart()
    }

    /// The packet length from the first bytes (4 when [`Keys::length_apart`],
    /// else one block, which is decrypted in place and must not be decrypted again).
    pub fn peek_length(&mut self, seq: u32, first: &mut [u8]) -> Result<u32, WireError> {
        let four = |b: &[u8]| -> Result<u32, WireError> {
            let a: [u8; 4] = b
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(WireError::Truncated)?;
            Ok(u32::from_be_bytes(a))
        };
        match &mut self.cipher {
            Cipher::ChachaOpen(k) => {
                let a: [u8; 4] = first
                    .get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(WireError::Truncated)?;
                Ok(u32::from_be_bytes(k.decrypt_packet_length(seq, a)))
            }
            _ if self.etm => four(first),
            Cipher::Clear => four(first),
            Cipher::Ctr(c) => {
                c.apply(first);
                four(first)
            }
            Cipher::Cbc { aes, iv } => {
                cbc_decrypt(aes, iv, first)?;
                four(first)
            }
            Cipher::ChachaSeal(_) | Cipher::Gcm { .. } => four(first),
        }
    }

    /// Authenticates and decrypts a whole packet (`length || rest`, the first
    /// `peeked` bytes already decrypted by [`Keys::peek_length`]), tag given
    /// apart; returns the plaintext `length || padding_length || payload || padding`.
    pub fn open(
        &mut self,
        seq: u32,
        packet: &mut [u8],
        peeked: usize,
        tag: &[u8],
    ) -> Result<(), WireError> {
        let bad_mac = WireError::Crypto("message authentication failed");
        match &mut self.cipher {
            Cipher::ChachaOpen(k) => {
                let t: &[u8; 16] = tag.try_into().map_err(|_| WireError::Truncated)?;
                k.open_in_place(seq, packet, t).map_err(|_| bad_mac)?;
                Ok(())
            }
            Cipher::Gcm { key, iv } => {
                let (len, body) = packet.split_at_mut(4.min(packet.len()));
                let mut ct = body.to_vec();
                ct.extend_from_slice(tag);
                let nonce = Nonce::assume_unique_for_key(*iv);
                let plain = key
                    .open_in_place(nonce, Aad::from(&*len), &mut ct)
                    .map_err(|_| bad_mac)?;
                body.copy_from_slice(plain);
                gcm_next(iv);
                Ok(())
            }
            _ => {
                let etm = self.etm;
                if etm {
                    verify(self.mac.as_ref(), seq, packet, tag)?;
                }
                let body = packet
                    .get_mut(if etm { 4 } else { peeked }..)
                    .unwrap_or(&mut []);
                match &mut self.cipher {
                    Cipher::Ctr(c) => c.apply(body),
                    Cipher::Cbc { aes, iv } => cbc_decrypt(aes, iv, body)?,
                    _ => {}
                }
                if !etm {
                    verify(self.mac.as_ref(), seq, packet, tag)?;
                }
                Ok(())
            }
        }
    }

    /// Pads `payload` into a packet, protects it and appends it to `out`.
    pub fn seal(&mut self, seq: u32, payload: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        use rand::RngCore;
        let block = self.block.max(8);
        let aligned = if self.aligns_without_length() {
            1 + payload.len()
        } else {
            5 + payload.len()
        };
        let mut pad = block - aligned % block;
        if pad < 4 {
            pad += block;
        }
        let len = 1 + payload.len() + pad;
        let start = out.len();
        out.extend_from_slice(
            &u32::try_from(len)
                .map_err(|_| WireError::TooLong)?
                .to_be_bytes(),
        );
        out.push(u8::try_from(pad).map_err(|_| WireError::TooLong)?);
        out.extend_from_slice(payload);
        let mut padding = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut padding);
        out.extend_from_slice(padding.get(..pad).unwrap_or(&[]));
        let packet = out.get_mut(start..).ok_or(WireError::Truncated)?;
        match &mut self.cipher {
            Cipher::ChachaSeal(k) => {
                let mut tag = [0u8; 16];
                k.seal_in_place(seq, packet, &mut tag);
                out.extend_from_slice(&tag);
            }
            Cipher::Gcm { key, iv } => {
                let (lenb, body) = packet.split_at_mut(4);
                let nonce = Nonce::assume_unique_for_key(*iv);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(&*lenb), body)
                    .map_err(|_| WireError::Crypto("AES-GCM seal failed"))?;
                gcm_next(iv);
                out.extend_from_slice(tag.as_ref());
            }
            Cipher::Clear | Cipher::ChachaOpen(_) => {}
            Cipher::Ctr(_) | Cipher::Cbc { .. } => {
                let etm = self.etm;
                let mac_plain = if etm {
                    None
                } else {
                    Some(sign(self.mac.as_ref(), seq, packet)?)
                };
                let body: &mut [u8] = if etm {
                    packet.get_mut(4..).unwrap_or(&mut [])
                } else {
                    packet
                };
                match &mut self.cipher {
                    Cipher::Ctr(c) => c.apply(body),
                    Cipher::Cbc { aes, iv } => cbc_encrypt(aes, iv, body)?,
                    _ => {}
                }
                let tag = match mac_plain {
                    Some(t) => t,
                    None => sign(self.mac.as_ref(), seq, packet)?,
                };
                out.extend_from_slice(&tag);
            }
        }
        Ok(())
    }
}

fn gcm_next(iv: &mut [u8; 12]) {
    // RFC 5647 §7.1: the invocation counter is the IV's last 64 bits.
    let (_, counter) = iv.split_at_mut(4);
    let mut c = [0u8; 8];
    c.copy_from_slice(counter);
    let n = u64::from_be_bytes(c).wrapping_add(1);
    counter.copy_from_slice(&n.to_be_bytes());
}

fn sign(key: Option<&MacKey>, seq: u32, data: &[u8]) -> Result<Vec<u8>, WireError> {
    match key {
        None => Ok(Vec::new()),
        Some(MacKey::Hmac(key)) => {
            let mut ctx = hmac::Context::with_key(key);
            ctx.update(&seq.to_be_bytes());
            ctx.update(data);
            Ok(ctx.sign().as_ref().to_vec())
        }
        Some(MacKey::Umac(u)) => u.tag(data, u64::from(seq).to_be_bytes()),
    }
}

fn verify(key: Option<&MacKey>, seq: u32, data: &[u8], tag: &[u8]) -> Result<(), WireError> {
    let bad = WireError::Crypto("message authentication failed");
    match key {
        None => Ok(()),
        Some(MacKey::Hmac(key)) => {
            let mut msg = Vec::with_capacity(data.len() + 4);
            msg.extend_from_slice(&seq.to_be_bytes());
            msg.extend_from_slice(data);
            hmac::verify(key, &msg, tag).map_err(|_| bad)
        }
        Some(MacKey::Umac(u)) => {
            let ours = u.tag(data, u64::from(seq).to_be_bytes())?;
            // Constant time: every byte is compared whatever the first difference.
            let diff = ours.iter().zip(tag).fold(0u8, |d, (a, b)| d | (a ^ b));
            if ours.len() == tag.len() && diff == 0 {
                Ok(())
            } else {
                Err(bad)
            }
        }
    }
}

fn cbc_encrypt(aes: &Block, iv: &mut [u8; 16], data: &mut [u8]) -> Result<(), WireError> {
    for chunk in data.chunks_mut(16) {
        let b: &mut [u8; 16] = chunk
            .try_into()
            .map_err(|_| WireError::Malformed("packet not block aligned"))?;
        for (x, v) in b.iter_mut().zip(iv.iter()) {
            *x ^= v;
        }
        aes.encrypt(b);
        *iv = *b;
    }
    Ok(())
}

fn cbc_decrypt(aes: &Block, iv: &mut [u8; 16], data: &mut [u8]) -> Result<(), WireError> {
    for chunk in data.chunks_mut(16) {
        let b: &mut [u8; 16] = chunk
            .try_into()
            .map_err(|_| WireError::Malformed("packet not block aligned"))?;
        let next = *b;
        aes.decrypt(b);
        for (x, v) in b.iter_mut().zip(iv.iter()) {
            *x ^= v;
        }
        *iv = next;
    }
    Ok(())
}

//! The transport layer over a stream (RFC 4253): identification exchange as
//! OpenSSH's `kex_exchange_identification` does it, packets through the
//! [`Opener`]/[`Sealer`] framers, and the server's side of key exchange,
//! initial and repeated, with strict KEX and `SSH_MSG_EXT_INFO` where the
//! persona's release has them.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::algos::{self, Release};
use super::codec::{put_bool, put_mpint, put_str, put_string, put_u32, put_u8, Reader};
use super::crypt::{self, Direction, Keys};
use super::hostkey::{self, HostKeys};
use super::kex::{self, Group, HashPrefix, Method};
use super::msg;
use super::packet::{Opener, Sealer};
use super::WireError;

/// Longest identification line read (OpenSSH's `SSH_MAX_BANNER_LEN`).
pub const MAX_IDENT: usize = 8192;

/// Why a client's identification line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentError {
    /// Not `SSH-x.y-software` (or a stray line first, NUL bytes, CR without LF,
    /// an over-long line): OpenSSH answers `Invalid SSH identification string.`
    Invalid,
    /// `SSH-1.x` other than 1.99: `Protocol major versions differ.`
    MajorVersion,
}

impl IdentError {
    /// The line OpenSSH writes before closing.
    pub fn answer(self) -> &'static [u8] {
        match self {
            IdentError::Invalid => b"Invalid SSH identification string.\r\n",
            IdentError::MajorVersion => b"Protocol major versions differ.\r\n",
        }
    }

    /// Reason text for events.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentError::Invalid => "invalid SSH identification string",
            IdentError::MajorVersion => "protocol major versions differ",
        }
    }
}

/// Checks a client identification line (without its line end) as OpenSSH's
/// `sscanf("SSH-%d.%d-%[^\n]")` and major-version switch do.
pub fn check_ident(line: &[u8]) -> Result<(), IdentError> {
    let rest = line.strip_prefix(b"SSH-").ok_or(IdentError::Invalid)?;
    let digits = |s: &[u8]| -> Option<(u64, usize)> {
        let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let v = std::str::from_utf8(s.get(..n)?).ok()?.parse().ok()?;
        Some((v, n))
    };
    let (major, n) = digits(rest).ok_or(IdentError::Invalid)?;
    let rest = rest
        .get(n..)
        .and_then(|r| r.strip_prefix(b"."))
        .ok_or(IdentError::Invalid)?;
    let (minor, n) = digits(rest).ok_or(IdentError::Invalid)?;
    let software = rest
        .get(n..)
        .and_then(|r| r.strip_prefix(b"-"))
        .ok_or(IdentError::Invalid)?;
    if software.is_empty() {
        return Err(IdentError::Invalid);
    }
    match (major, minor) {
        (2, _) | (1, 99) => Ok(()),
        _ => Err(IdentError::MajorVersion),
    }
}

/// What the negotiation settled.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    /// Key exchange method.
    pub kex: String,
    /// Host key algorithm.
    pub host_key: String,
    /// Cipher client to server.
    pub cipher_c2s: String,
    /// Cipher server to client.
    pub cipher_s2c: String,
    /// MAC client to server (empty with an AEAD cipher).
    pub mac_c2s: String,
    /// MAC server to client.
    pub mac_s2c: String,
    /// Compression client to server.
    pub comp_c2s: String,
    /// Compression server to client.
    pub comp_s2c: String,
}

/// One connection's transport.
pub struct Transport<S> {
    io: S,
    rbuf: BytesMut,
    opener: Opener,
    sealer: Sealer,
    wbuf: Vec<u8>,
    release: Release,
    keys: Arc<HostKeys>,
    server_ident: Vec<u8>,
    client_ident: Vec<u8>,
    session_id: Option<Vec<u8>>,
    /// Our KEXINIT of a key exchange the client has not answered yet.
    sent_kexinit: Option<Vec<u8>>,
    strict: bool,
    ext_info: bool,
    delayed_zlib: (bool, bool),
    /// What the last key exchange settled.
    pub negotiated: Negotiated,
}

impl<S> std::fmt::Debug for Transport<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("strict", &self.strict)
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    /// A transport over `io` that announces `server_ident` (`SSH-2.0-…`).
    pub fn new(io: S, server_ident: &str, release: Release, keys: Arc<HostKeys>) -> Transport<S> {
        Transport {
            io,
            rbuf: BytesMut::with_capacity(4096),
            opener: Opener::new(),
            sealer: Sealer::new(),
            wbuf: Vec::with_capacity(4096),
            release,
            keys,
            server_ident: server_ident.as_bytes().to_vec(),
            client_ident: Vec::new(),
            session_id: None,
            sent_kexinit: None,
            strict: false,
            ext_info: false,
            delayed_zlib: (false, false),
            negotiated: Negotiated::default(),
        }
    }

    /// The client's identification line (without CR LF), once read.
    pub fn client_ident(&self) -> &[u8] {
        &self.client_ident
    }

    /// The session identifier (the first exchange hash).
    pub fn session_id(&self) -> Option<&[u8]> {
        self.session_id.as_deref()
    }

    /// The stream underneath.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Sends our identification after `delay` (sshd's fork and exec take
    /// about that long), then reads the client's. A refused line is answered
    /// as OpenSSH answers it before the error is returned.
    pub async fn exchange_ident(&mut self, delay: Duration) -> Result<(), WireError> {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut line = self.server_ident.clone();
        line.extend_from_slice(b"\r\n");
        self.io.write_all(&line).await?;
        self.io.flush().await?;
        let ident = match self.read_ident_line().await? {
            Ok(l) => l,
            Err(e) => return self.refuse_ident(e, Vec::new()).await,
        };
        if let Err(e) = check_ident(&ident) {
            return self.refuse_ident(e, ident).await;
        }
        self.client_ident = ident;
        Ok(())
    }

    async fn refuse_ident(&mut self, e: IdentError, line: Vec<u8>) -> Result<(), WireError> {
        self.client_ident = line;
        let _ = self.io.write_all(e.answer()).await;
        let _ = self.io.flush().await;
        Err(WireError::Ident(e))
    }

    /// One line ending in LF (CR LF or LF), as OpenSSH reads it byte by byte.
    async fn read_ident_line(&mut self) -> Result<Result<Vec<u8>, IdentError>, WireError> {
        let mut line = Vec::with_capacity(64);
        let mut cr = false;
        loop {
            if self.rbuf.is_empty() {
                self.rbuf.reserve(1024);
                let n = self.io.read_buf(&mut self.rbuf).await?;
                if n == 0 {
                    return Err(WireError::Eof);
                }
            }
            let mut consumed = 0;
            let mut done = None;
            for &c in self.rbuf.iter() {
                consumed += 1;
                if c == b'\r' {
                    cr = true;
                    continue;
                }
                if c == b'\n' {
                    done = Some(Ok(()));
                    break;
                }
                if c == 0 || cr {
                    done = Some(Err(IdentError::Invalid));
                    break;
                }
                line.push(c);
                if line.len() > MAX_IDENT {
                    done = Some(Err(IdentError::Invalid));
                    break;
                }
            }
            let _ = self.rbuf.split_to(consumed);
            match done {
                None => continue,
                Some(Err(e)) => return Ok(Err(e)),
                Some(Ok(())) => {
                    // OpenSSH takes no lines before the identification from a client.
                    if line.len() > 4 && line.starts_with(b"SSH-") {
                        return Ok(Ok(line));
                    }
                    return Ok(Err(IdentError::Invalid));
                }
            }
        }
    }

    /// Queues a payload; it goes out with the next [`Transport::flush`].
    pub fn queue(&mut self, payload: &[u8]) -> Result<(), WireError> {
        self.sealer.encode(payload, &mut self.wbuf)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.io.flush().await?;
        Ok(())
    }

    /// Queues and writes one payload.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), WireError> {
        self.queue(payload)?;
        self.flush().await
    }

    /// Sends `SSH_MSG_DISCONNECT` and flushes, ignoring write errors (the peer may be gone).
    pub async fn disconnect(&mut self, reason: u32, text: &str) {
        let mut p = vec![msg::DISCONNECT];
        put_u32(&mut p, reason);
        put_str(&mut p, text);
        put_str(&mut p, "");
        let _ = self.send(&p).await;
    }

    /// The next payload from the peer, whatever its type.
    pub async fn read_payload(&mut self) -> Result<Vec<u8>, WireError> {
        loop {
            if let Some(p) = self.opener.decode(&mut self.rbuf)? {
                return Ok(p);
            }
            self.rbuf.reserve(16 * 1024);
            let n = self.io.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(WireError::Eof);
            }
        }
    }

    /// Sequence number of the packet [`Transport::read_payload`] returned last.
    pub fn last_seq(&self) -> u32 {
        self.opener.seq.wrapping_sub(1)
    }

    /// Turns on `zlib@openssh.com` where it was negotiated, once the user is in.
    pub fn authenticated(&mut self) {
        if self.delayed_zlib.1 {
            self.sealer.start_deflate();
        }
        if self.delayed_zlib.0 {
            self.opener.start_inflate();
        }
    }

    async fn send_kexinit(&mut self) -> Result<Vec<u8>, WireError> {
        use rand::RngCore;
        let mut p = vec![msg::KEXINIT];
        let mut cookie = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut cookie);
        p.extend_from_slice(&cookie);
        let rel = &self.release;
        let kex_list = if self.session_id.is_none() {
            rel.kex_list()
        } else {
            // Markers belong to the first KEXINIT only.
            rel.kex_list()
                .split(',')
                .filter(|a| *a != algos::STRICT_KEX_SERVER)
                .collect::<Vec<_>>()
                .join(",")
        };
        put_str(&mut p, &kex_list);
        put_str(&mut p, &self.keys.algorithms(rel.rsa_host_algs()).await);
        let (c, m, z) = (rel.cipher_list(), rel.mac_list(), rel.comp_list());
        for list in [&c, &c, &m, &m, &z, &z] {
            put_str(&mut p, list);
        }
        put_str(&mut p, "");
        put_str(&mut p, "");
        put_bool(&mut p, false);
        put_u32(&mut p, 0);
        self.send(&p).await?;
        Ok(p)
    }

    /// Starts the first key exchange: sends our KEXINIT right after the
    /// identification, as sshd does, and runs the exchange once the client's arrives.
    pub async fn first_kex(&mut self) -> Result<(), WireError> {
        let ours = self.send_kexinit().await?;
        self.sent_kexinit = Some(ours);
        let theirs = self.read_payload().await?;
        match theirs.first() {
            Some(&msg::KEXINIT) => self.kex(theirs).await,
            Some(&msg::DISCONNECT) => Err(WireError::Disconnected),
            _ => Err(WireError::Unexpected(theirs.first().copied().unwrap_or(0))),
        }
    }

    /// Runs a key exchange the client started with `client_kexinit`.
    pub async fn kex(&mut self, client_kexinit: Vec<u8>) -> Result<(), WireError> {
        let ours = match self.sent_kexinit.take() {
            Some(k) => k,
            None => self.send_kexinit().await?,
        };
        let first = self.session_id.is_none();
        let mut r = Reader::new(client_kexinit.get(17..).ok_or(WireError::Truncated)?);
        let c_kex = r.name_list()?;
        let c_host = r.name_list()?;
        let c_enc_cs = r.name_list()?;
        let c_enc_sc = r.name_list()?;
        let c_mac_cs = r.name_list()?;
        let c_mac_sc = r.name_list()?;
        let c_comp_cs = r.name_list()?;
        let c_comp_sc = r.name_list()?;
        let _ = r.name_list()?;
        let _ = r.name_list()?;
        let follows = r.bool()?;
        let rel = self.release.clone();
        if first {
            self.strict = rel.strict_kex && algos::has(c_kex, algos::STRICT_KEX_CLIENT);
            self.ext_info = algos::has(c_kex, algos::EXT_INFO_CLIENT);
        }
        let s_kex = rel.kex_list();
        let s_host = self.keys.algorithms(rel.rsa_host_algs()).await;
        let kex_name = algos::negotiate(c_kex, &s_kex)
            .filter(|k| Method::from_name(k).is_some())
            .ok_or(WireError::NoCommonAlgorithm("key exchange"))?;
        let host =
            algos::negotiate(c_host, &s_host).ok_or(WireError::NoCommonAlgorithm("host key"))?;
        let ciphers = rel.cipher_list();
        let enc_cs =
            algos::negotiate(c_enc_cs, &ciphers).ok_or(WireError::NoCommonAlgorithm("cipher"))?;
        let enc_sc =
            algos::negotiate(c_enc_sc, &ciphers).ok_or(WireError::NoCommonAlgorithm("cipher"))?;
        let macs = rel.mac_list();
        let mac_for = |c: &str, list: &str| -> Result<String, WireError> {
            if crypt::is_aead(c) {
                return Ok(String::new());
            }
            algos::negotiate(list, &macs)
                .map(str::to_owned)
                .ok_or(WireError::NoCommonAlgorithm("MAC"))
        };
        let mac_cs = mac_for(enc_cs, c_mac_cs)?;
        let mac_sc = mac_for(enc_sc, c_mac_sc)?;
        let comps = rel.comp_list();
        let comp_cs = algos::negotiate(c_comp_cs, &comps)
            .ok_or(WireError::NoCommonAlgorithm("compression"))?;
        let comp_sc = algos::negotiate(c_comp_sc, &comps)
            .ok_or(WireError::NoCommonAlgorithm("compression"))?;
        // A wrong guess means the packet that follows is thrown away.
        let mut skip_guess = follows
            && (c_kex.split(',').next() != Some(kex_name)
                || c_host.split(',').next() != Some(host));
        let method =
            Method::from_name(kex_name).ok_or(WireError::NoCommonAlgorithm("key exchange"))?;
        // The keys are shared by every connection of the decky: borrow, do not copy.
        let keys = self.keys.clone();
        let hostkey = keys
            .for_alg(host)
            .await
            .ok_or(WireError::NoCommonAlgorithm("host key"))?;
        let prefix = HashPrefix {
            client_ident: self.client_ident.clone(),
            server_ident: self.server_ident.clone(),
            client_kexinit: client_kexinit.clone(),
            server_kexinit: ours,
            host_key: hostkey::blob(hostkey)?,
        };
        self.negotiated = Negotiated {
            kex: kex_name.to_owned(),
            host_key: host.to_owned(),
            cipher_c2s: enc_cs.to_owned(),
            cipher_s2c: enc_sc.to_owned(),
            mac_c2s: mac_cs,
            mac_s2c: mac_sc,
            comp_c2s: comp_cs.to_owned(),
            comp_s2c: comp_sc.to_owned(),
        };
        let hash = method.hash();
        let (h, k, reply) = match method {
            Method::Gex => {
                let req = self.kex_msg(first, &mut skip_guess).await?;
                let mut r = Reader::new(&req);
                if r.u8()? != msg::KEX_DH_GEX_REQUEST {
                    return Err(WireError::Unexpected(req.first().copied().unwrap_or(0)));
                }
                let (min, n, max) = (r.u32()?, r.u32()?, r.u32()?);
                let group = kex::choose_group(min, n, max)
                    .ok_or(WireError::Kex("DH group exchange request out of range"))?;
                let mut p = vec![msg::KEX_DH_GEX_GROUP];
                put_mpint(&mut p, &group.p);
                put_mpint(&mut p, &group.g);
                self.send(&p).await?;
                let init = self.kex_msg(first, &mut skip_guess).await?;
                let mut r = Reader::new(&init);
                if r.u8()? != msg::KEX_DH_GEX_INIT {
                    return Err(WireError::Unexpected(init.first().copied().unwrap_or(0)));
                }
                let e = super::codec::mpint_unsigned(r.mpint()?)?.to_vec();
                let rep = kex::dh_reply(&group, &e)?;
                let h =
                    prefix.gex_hash(hash, (min, n, max), &group, &e, &rep.server_public, &rep.k);
                (h, rep.k, (msg::KEX_DH_GEX_REPLY, rep.server_public, true))
            }
            Method::Dh(bits, _) => {
                let init = self.kex_msg(first, &mut skip_guess).await?;
                let mut r = Reader::new(&init);
                if r.u8()? != msg::KEXDH_INIT {
                    return Err(WireError::Unexpected(init.first().copied().unwrap_or(0)));
                }
                let e = super::codec::mpint_unsigned(r.mpint()?)?.to_vec();
                let group = Group::fixed(bits);
                let rep = kex::dh_reply(&group, &e)?;
                let h = prefix.dh_hash(hash, &e, &rep.server_public, &rep.k);
                (h, rep.k, (msg::KEXDH_REPLY, rep.server_public, true))
            }
            _ => {
                let init = self.kex_msg(first, &mut skip_guess).await?;
                let mut r = Reader::new(&init);
                if r.u8()? != msg::KEXDH_INIT {
                    return Err(WireError::Unexpected(init.first().copied().unwrap_or(0)));
                }
                let q_c = r.string()?.to_vec();
                let rep = kex::ecdh_reply(method, &q_c)?;
                let h = prefix.ecdh_hash(hash, &q_c, &rep.server_public, &rep.k);
                (h, rep.k, (msg::KEXDH_REPLY, rep.server_public, false))
            }
        };
        let (code, public, as_mpint) = reply;
        let sig = keys.sign(host, &h).await?;
        let mut p = vec![code];
        put_string(&mut p, &prefix.host_key);
        if as_mpint {
            put_mpint(&mut p, &public);
        } else {
            put_string(&mut p, &public);
        }
        put_string(&mut p, &sig);
        self.queue(&p)?;
        self.queue(&[msg::NEWKEYS])?;
        let session_id = self.session_id.get_or_insert_with(|| h.clone()).clone();
        let n = self.negotiated.clone();
        let keys = |dir: Direction, cipher: &str, mac: &str, [iv_l, key_l, mac_l]: [u8; 3]| {
            let (klen, ivlen, _) =
                crypt::cipher_sizes(cipher).ok_or(WireError::Crypto("unknown cipher"))?;
            let mlen = crypt::mac_sizes(mac).map_or(0, |(l, _)| l);
            Keys::new(
                dir,
                cipher,
                &kex::derive(hash, &k, &h, key_l, &session_id, klen),
                &kex::derive(hash, &k, &h, iv_l, &session_id, ivlen),
                mac,
                &kex::derive(hash, &k, &h, mac_l, &session_id, mlen),
            )
        };
        let seal = keys(
            Direction::Seal,
            &n.cipher_s2c,
            &n.mac_s2c,
            [b'B', b'D', b'F'],
        )?;
        let open = keys(
            Direction::Open,
            &n.cipher_c2s,
            &n.mac_c2s,
            [b'A', b'C', b'E'],
        )?;
        self.sealer.rekey(seal);
        if self.strict {
            self.sealer.seq = 0;
        }
        if first && self.ext_info {
            let mut p = vec![msg::EXT_INFO];
            let exts = self.release.extensions();
            put_u32(&mut p, u32::try_from(exts.len()).unwrap_or(0));
            for (name, value) in exts {
                put_str(&mut p, name);
                put_str(&mut p, value);
            }
            self.queue(&p)?;
        }
        self.flush().await?;
        let nk = self.kex_msg(first, &mut skip_guess).await?;
        if nk.first() != Some(&msg::NEWKEYS) {
            return Err(WireError::Unexpected(nk.first().copied().unwrap_or(0)));
        }
        self.opener.rekey(open);
        if self.strict {
            self.opener.seq = 0;
        }
        self.delayed_zlib = (
            n.comp_c2s == "zlib@openssh.com",
            n.comp_s2c == "zlib@openssh.com",
        );
        Ok(())
    }

    /// The next key-exchange message, skipping a wrongly guessed one and, outside
    /// strict KEX, IGNORE/DEBUG; strict KEX allows nothing else during the first exchange.
    async fn kex_msg(&mut self, first: bool, skip_guess: &mut bool) -> Result<Vec<u8>, WireError> {
        loop {
            let p = self.read_payload().await?;
            let code = p.first().copied().unwrap_or(0);
            if *skip_guess && (30..=49).contains(&code) {
                *skip_guess = false;
                continue;
            }
            match code {
                msg::DISCONNECT => return Err(WireError::Disconnected),
                msg::IGNORE | msg::DEBUG | msg::UNIMPLEMENTED if !(first && self.strict) => {
                    continue
                }
                c if (30..=49).contains(&c) || c == msg::NEWKEYS => return Ok(p),
                c => return Err(WireError::Unexpected(c)),
            }
        }
    }
}

/// A KEXINIT payload with the given name-lists (for tests and the bench's client).
pub fn kexinit_payload(lists: [&str; 10]) -> Vec<u8> {
    let mut p = vec![msg::KEXINIT];
    p.extend_from_slice(&[0u8; 16]);
    for l in lists {
        put_str(&mut p, l);
    }
    put_u8(&mut p, 0);
    put_u32(&mut p, 0);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_lines_are_judged_as_openssh_judges_them() {
        assert_eq!(check_ident(b"SSH-2.0-OpenSSH_9.6"), Ok(()));
        assert_eq!(check_ident(b"SSH-1.99-x"), Ok(()));
        assert_eq!(check_ident(b"SSH-1.5-x"), Err(IdentError::MajorVersion));
        assert_eq!(check_ident(b"SSH-3.0-x"), Err(IdentError::MajorVersion));
        assert_eq!(check_ident(b"SSH-2.0-"), Err(IdentError::Invalid));
        assert_eq!(check_ident(b"SSH-2-x"), Err(IdentError::Invalid));
        assert_eq!(check_ident(b"GET / HTTP/1.1"), Err(IdentError::Invalid));
    }

    async fn answer_to(input: &[u8]) -> Vec<u8> {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let seed = decnet_core::seed::InstanceSeed::derive_for(b"k", "t");
        let mut t = Transport::new(
            a,
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            Release::for_ident("SSH-2.0-OpenSSH_9.2p1"),
            Arc::new(HostKeys::new(&seed)),
        );
        b.write_all(input).await.unwrap();
        let r = t.exchange_ident(Duration::ZERO).await;
        assert!(matches!(r, Err(WireError::Ident(_))), "{r:?}");
        drop(t);
        let mut out = Vec::new();
        // The transport is dropped: the read ends at its few hundred bytes.
        #[allow(clippy::disallowed_methods)]
        b.take(4096).read_to_end(&mut out).await.unwrap();
        out
    }

    /// The next payload a client-side `opener` reads from `io`.
    async fn client_read(
        io: &mut tokio::io::DuplexStream,
        rbuf: &mut BytesMut,
        opener: &mut Opener,
    ) -> Vec<u8> {
        loop {
            if let Some(p) = opener.decode(rbuf).unwrap() {
                return p;
            }
            rbuf.reserve(4096);
            assert!(io.read_buf(rbuf).await.unwrap() > 0, "server hung up");
        }
    }

    /// A client offering only `cipher` and `mac` runs curve25519 key exchange with a
    /// CentOS 7 persona's transport, then both sides exchange packets under the
    /// new keys; returns what the server negotiated.
    async fn negotiate_as_client(keys: Arc<HostKeys>, cipher: &str, mac: &str) -> Negotiated {
        use curve25519_dalek::MontgomeryPoint;
        let ident = "SSH-2.0-OpenSSH_7.4";
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let big = vec![0xa5u8; 1500];
        let expect = big.clone();
        let server = tokio::spawn(async move {
            let mut t = Transport::new(a, ident, Release::for_ident(ident), keys);
            t.exchange_ident(Duration::ZERO).await.unwrap();
            t.first_kex().await.unwrap();
            for _ in 0..2 {
                let p = t.read_payload().await.unwrap();
                let mut echo = vec![msg::IGNORE];
                put_string(&mut echo, &p);
                t.send(&echo).await.unwrap();
            }
            t.negotiated.clone()
        });
        let v_c = b"SSH-2.0-cbc-test".to_vec();
        b.write_all(&[v_c.as_slice(), b"\r\n"].concat())
            .await
            .unwrap();
        let mut rbuf = BytesMut::new();
        let v_s = loop {
            if let Some(n) = rbuf.iter().position(|&c| c == b'\n') {
                let line = rbuf.split_to(n + 1);
                break line.strip_suffix(b"\r\n").unwrap().to_vec();
            }
            assert!(b.read_buf(&mut rbuf).await.unwrap() > 0);
        };
        assert_eq!(v_s, ident.as_bytes());
        let (mut opener, mut sealer) = (Opener::new(), Sealer::new());
        let i_s = client_read(&mut b, &mut rbuf, &mut opener).await;
        assert_eq!(i_s.first(), Some(&msg::KEXINIT));
        let i_c = kexinit_payload([
            "curve25519-sha256",
            "ssh-ed25519",
            cipher,
            cipher,
            mac,
            mac,
            "none",
            "none",
            "",
            "",
        ]);
        let secret = [0x42u8; 32];
        let q_c = MontgomeryPoint::mul_base_clamped(secret).0;
        let mut init = vec![msg::KEXDH_INIT];
        put_string(&mut init, &q_c);
        let mut out = Vec::new();
        sealer.encode(&i_c, &mut out).unwrap();
        sealer.encode(&init, &mut out).unwrap();
        b.write_all(&out).await.unwrap();
        let reply = client_read(&mut b, &mut rbuf, &mut opener).await;
        let mut r = Reader::new(&reply);
        assert_eq!(r.u8().unwrap(), msg::KEXDH_REPLY);
        let k_s = r.string().unwrap().to_vec();
        let q_s: [u8; 32] = r.string().unwrap().try_into().unwrap();
        let k = super::super::codec::mpint(&MontgomeryPoint(q_s).mul_clamped(secret).0);
        let prefix = HashPrefix {
            client_ident: v_c,
            server_ident: v_s,
            client_kexinit: i_c,
            server_kexinit: i_s,
            host_key: k_s,
        };
        let hash = kex::Hash::Sha256;
        let h = prefix.ecdh_hash(hash, &q_c, &q_s, &k);
        let (klen, ivlen, _) = crypt::cipher_sizes(cipher).unwrap();
        let mlen = crypt::mac_sizes(mac).unwrap().0;
        let d = |letter: u8, len: usize| kex::derive(hash, &k, &h, letter, &h, len);
        let seal = Keys::new(
            Direction::Seal,
            cipher,
            &d(b'C', klen),
            &d(b'A', ivlen),
            mac,
            &d(b'E', mlen),
        );
        let open = Keys::new(
            Direction::Open,
            cipher,
            &d(b'D', klen),
            &d(b'B', ivlen),
            mac,
            &d(b'F', mlen),
        );
        let nk = client_read(&mut b, &mut rbuf, &mut opener).await;
        assert_eq!(nk, [msg::NEWKEYS]);
        out.clear();
        sealer.encode(&[msg::NEWKEYS], &mut out).unwrap();
        sealer.rekey(seal.unwrap());
        opener.rekey(open.unwrap());
        let mut request = vec![msg::SERVICE_REQUEST];
        put_str(&mut request, "ssh-userauth");
        sealer.encode(&request, &mut out).unwrap();
        sealer.encode(&big, &mut out).unwrap();
        b.write_all(&out).await.unwrap();
        for sent in [request, expect] {
            let echo = client_read(&mut b, &mut rbuf, &mut opener).await;
            let mut r = Reader::new(&echo);
            assert_eq!(r.u8().unwrap(), msg::IGNORE);
            assert_eq!(
                r.string().unwrap(),
                sent,
                "{cipher}: echoed under the new keys"
            );
        }
        server.await.unwrap()
    }

    #[tokio::test]
    async fn a_centos_7_transport_negotiates_each_8_byte_block_cipher_end_to_end() {
        let seed = decnet_core::seed::InstanceSeed::derive_for(b"k", "el7");
        let keys = Arc::new(HostKeys::new(&seed));
        for (cipher, mac) in [
            ("3des-cbc", "hmac-sha1"),
            ("blowfish-cbc", "hmac-sha2-256"),
            ("cast128-cbc", "hmac-sha2-512-etm@openssh.com"),
            ("3des-cbc", "umac-64-etm@openssh.com"),
        ] {
            let n = negotiate_as_client(keys.clone(), cipher, mac).await;
            assert_eq!(
                (n.cipher_c2s.as_str(), n.cipher_s2c.as_str()),
                (cipher, cipher)
            );
            assert_eq!((n.mac_c2s.as_str(), n.mac_s2c.as_str()), (mac, mac));
        }
    }

    #[tokio::test]
    async fn a_bad_identification_is_answered_then_closed() {
        let ours = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec();
        let invalid = [ours.as_slice(), b"Invalid SSH identification string.\r\n"].concat();
        assert_eq!(answer_to(b"GET / HTTP/1.0\r\n\r\n").await, invalid);
        assert_eq!(answer_to(b"SSH-2.0-\r\n").await, invalid);
        assert_eq!(answer_to(b"SSH-2.0-a\rb\n").await, invalid);
        let major = [ours.as_slice(), b"Protocol major versions differ.\r\n"].concat();
        assert_eq!(answer_to(b"SSH-1.5-x\r\n").await, major);
    }
}

//! DECNET's own SSH server transport for the decoy, built on primitive crates
//! (`ring`, RustCrypto, `ssh-key`, `sntrup761`, `ml-kem`) so that everything
//! a client sees before it logs in is what the persona's OpenSSH release sends.
//!
//! - [`codec`]: SSH data types over attacker bytes
//! - [`packet`]: the binary packet protocol, sans-IO, with OpenSSH's caps
//! - [`crypt`]: ciphers and MACs of one direction ([`umac`]: UMAC-64/128)
//! - [`kex`]: key exchange methods, exchange hashes, key derivation ([`groups`]: MODP primes)
//! - [`hostkey`]: host keys from the instance seed and their signatures
//! - [`algos`]: each OpenSSH release's name-lists and the negotiation
//! - [`transport`]: identification exchange and key exchange over a stream

pub mod algos;
pub mod codec;
pub mod crypt;
pub mod groups;
pub mod hostkey;
pub mod kex;
pub mod packet;
pub mod transport;
pub mod umac;

/// Message numbers (RFC 4250 §4.1).
pub mod msg {
    #![allow(missing_docs)]
    pub const DISCONNECT: u8 = 1;
    pub const IGNORE: u8 = 2;
    pub const UNIMPLEMENTED: u8 = 3;
    pub const DEBUG: u8 = 4;
    pub const SERVICE_REQUEST: u8 = 5;
    pub const SERVICE_ACCEPT: u8 = 6;
    pub const EXT_INFO: u8 = 7;
    pub const KEXINIT: u8 = 20;
    pub const NEWKEYS: u8 = 21;
    pub const KEXDH_INIT: u8 = 30;
    pub const KEXDH_REPLY: u8 = 31;
    pub const KEX_DH_GEX_GROUP: u8 = 31;
    pub const KEX_DH_GEX_INIT: u8 = 32;
    pub const KEX_DH_GEX_REPLY: u8 = 33;
    pub const KEX_DH_GEX_REQUEST: u8 = 34;
    pub const USERAUTH_REQUEST: u8 = 50;
    pub const USERAUTH_FAILURE: u8 = 51;
    pub const USERAUTH_SUCCESS: u8 = 52;
    pub const USERAUTH_BANNER: u8 = 53;
    pub const USERAUTH_PK_OK: u8 = 60;
    pub const USERAUTH_INFO_REQUEST: u8 = 60;
    pub const USERAUTH_INFO_RESPONSE: u8 = 61;
    pub const GLOBAL_REQUEST: u8 = 80;
    pub const REQUEST_SUCCESS: u8 = 81;
    pub const REQUEST_FAILURE: u8 = 82;
    pub const CHANNEL_OPEN: u8 = 90;
    pub const CHANNEL_OPEN_CONFIRMATION: u8 = 91;
    pub const CHANNEL_OPEN_FAILURE: u8 = 92;
    pub const CHANNEL_WINDOW_ADJUST: u8 = 93;
    pub const CHANNEL_DATA: u8 = 94;
    pub const CHANNEL_EXTENDED_DATA: u8 = 95;
    pub const CHANNEL_EOF: u8 = 96;
    pub const CHANNEL_CLOSE: u8 = 97;
    pub const CHANNEL_REQUEST: u8 = 98;
    pub const CHANNEL_SUCCESS: u8 = 99;
    pub const CHANNEL_FAILURE: u8 = 100;
    /// OpenSSH's `SSH2_MSG_PING` (`ping@openssh.com`).
    pub const PING: u8 = 192;
    pub const PONG: u8 = 193;
}

/// `SSH_MSG_DISCONNECT` reason codes (RFC 4250 §4.2.2) that sshd sends.
pub mod reason {
    #![allow(missing_docs)]
    pub const PROTOCOL_ERROR: u32 = 2;
    pub const KEY_EXCHANGE_FAILED: u32 = 3;
    pub const BY_APPLICATION: u32 = 11;
    pub const NO_MORE_AUTH_METHODS_AVAILABLE: u32 = 14;
}

/// Why the transport stopped. Most are a peer breaking the protocol, which a
/// honeypot expects; [`WireError::Eof`] and [`WireError::Disconnected`] are the peer leaving.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Reading or writing the socket failed.
    #[error("connection I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    Eof,
    /// The peer sent `SSH_MSG_DISCONNECT`.
    #[error("the peer disconnected")]
    Disconnected,
    /// The identification line was refused (and answered as OpenSSH does).
    #[error("{}", .0.as_str())]
    Ident(transport::IdentError),
    /// A message ended before one of its fields.
    #[error("message truncated")]
    Truncated,
    /// A field does not parse.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A packet length is impossible, too large or misaligned.
    #[error("invalid packet length")]
    BadLength,
    /// Something would exceed the packet size cap.
    #[error("packet too long")]
    TooLong,
    /// A cipher, MAC or signature operation failed.
    #[error("crypto: {0}")]
    Crypto(&'static str),
    /// The key exchange failed.
    #[error("key exchange: {0}")]
    Kex(&'static str),
    /// No algorithm of a category is common to both sides.
    #[error("no matching {0} algorithm")]
    NoCommonAlgorithm(&'static str),
    /// A message that is not allowed at this point.
    #[error("unexpected message type {0}")]
    Unexpected(u8),
}

impl WireError {
    /// Whether the peer broke the protocol (rather than leaving).
    pub fn is_protocol_error(&self) -> bool {
        !matches!(
            self,
            WireError::Io(_) | WireError::Eof | WireError::Disconnected
        )
    }
}

//! The protocol kit every service is written on, beside [`crate::conn`]:
//!
//! - [`line`](mod@line): the capped line reader (pure decoder + bounded async reader, STARTTLS hand-back)
//! - [`io`]: [`io::Rewind`] to replay bytes already read, and [`io::peek`] under a deadline
//! - [`ja4`]: the ClientHello parser and the JA4/JA3 fingerprints the TLS kit records
//! - [`tls`]: decoy TLS for any service (certificate per decky and service, own ALPN),
//!   TLS-or-plaintext sniffing, and a handshake under a deadline
//! - [`persona`]: typed persona-key access whose errors name the service and key
//! - [`ntlmssp`]: NTLMSSP messages (NEGOTIATE, CHALLENGE, AUTHENTICATE) and the NetNTLM capture in hashcat form
//! - [`artifact`]: captured files kept once per content under the service's `uploads/`

pub mod artifact;
pub mod io;
pub mod ja4;
pub mod line;
pub mod ntlmssp;
pub mod persona;
pub mod tls;

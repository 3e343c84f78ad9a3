//! DECNET's protocol emulators and what they share.
//!
//! - [`service`]: the `Service`/`Instance` contract, `ConnCtx` and the event `Emitter`
//! - [`conn`]: the supervised connection (idle deadline, byte caps) every service reads from
//! - [`kit`]: what line, TLS and persona-driven protocols share (capped lines, rewind/peek, TLS, persona keys)
//! - [`registry`]: the services this build implements
//! - [`ftp`]: the vsftpd look-alike (persona filesystem, passive and active data channels, uploads kept)
//! - [`http`]: the web server with its `https` listener (sites and their pages under `http/pages/`)
//! - [`ssh`]: the SSH emulator (its own transport, per OpenSSH release), with its KEXINIT tap; [`shell`]: the fake shell it serves
//! - [`recorder`]: interactive session transcripts (day shards shared by sessions)
//!
//! Services only parse and answer; the engine binds sockets and enforces limits.

pub mod conn;
pub mod ftp;
pub mod http;
pub mod kit;
pub mod recorder;
pub mod registry;
pub mod service;
pub mod shell;
pub mod ssh;

pub use conn::Conn;
pub use registry::Registry;
pub use service::{ConnCtx, DeckyRuntime, Emitter, Instance, Service, ServiceError};

//! DECNET's core vocabulary, shared by every other crate and depending on none.
//!
//! - [`event`]: the captured `Event` and `Credential` (DESIGN §6)
//! - [`fields`]: the typed event fields services write and intel reads back
//! - [`health`]: a shared ok/degraded value (the journal's, read by the engine and the API)
//! - [`journal_pos`]: the journal position shared by the journal and the store
//! - [`paths`]: the data-dir layout ([`paths::DataDir`])
//! - [`syslog`]: the RFC 5424 wire form of an event and its parser
//! - [`throttle`]: one log line per interval for a repeating condition
//! - [`persona`]: OS families, distros, archetypes and known service names
//! - [`seed`]: per-decky instance seeds
//! - [`space`]: free and total bytes of a filesystem
//! - [`bait`]: the fleet's bait world: people, planted credentials (honeytokens), mail and files
//! - [`catalog`]: what a service declares (ports, persona keys) so config can be checked
//! - [`transcript`]: where session transcript shards live and how a session's lines are found
//! - [`config`]: the typed fleet config, the INI loader and the resolver
//! - [`topics`]: bus topic names (DESIGN §8)

pub mod bait;
pub mod catalog;
pub mod config;
pub mod event;
pub mod fields;
pub mod health;
pub mod journal_pos;
pub mod paths;
pub mod persona;
pub mod seed;
pub mod space;
pub mod syslog;
pub mod throttle;
pub mod topics;
pub mod transcript;

pub use event::{Credential, Event, EventType, Fields, Secret, SecretKind};

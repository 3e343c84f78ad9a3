//! DECNET's engine: deckies at runtime.
//!
//! - [`engine`]: start a fleet (build instances, bind all listeners or none) and stop it cleanly
//! - [`supervisor`]: accept loops, connection limits, lifecycle events
//! - [`driver`]: listener sockets with the persona's TTL and receive window
//! - [`journal`]: the task feeding the services' events into `decnet-journal`
//! - [`limits`]: fair shares of a decky's slots, aggregated refusals, the descriptor budget
//!
//! Every decky's listeners live in one async runtime; the engine binds them,
//! enforces connection limits, and hands each connection to its service.

pub mod driver;
pub mod engine;
pub mod journal;
pub mod limits;
pub mod supervisor;

pub use engine::{check_fleet, installation_key, BoundService, Engine, EngineError, EngineOptions};
pub use journal::JournalFeed;

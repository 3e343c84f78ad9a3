//! Bus topic names (DESIGN §8): every topic string is built here, nowhere else.
//!
//! Fixed topics are constants; topics with an id or worker name are built by functions
//! that reject a segment which would change the topic's shape on the wire (a `.` adds a
//! token, `*`/`>` are wildcards, whitespace breaks the frame header, empty is no token).

use thiserror::Error;

/// A topic segment that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    /// The segment is empty.
    #[error("empty topic segment")]
    Empty,
    /// The segment contains a character that would change the topic's tokens or the frame.
    #[error(
        "topic segment {segment:?} contains {found:?} (no '.', '*', '>' or whitespace allowed)"
    )]
    BadChar {
        /// The rejected segment.
        segment: String,
        /// The first offending character.
        found: char,
    },
}

/// An attacker seen for the first time.
pub const ATTACKER_OBSERVED: &str = "attacker.observed";
/// An attacker's scores were recomputed.
pub const ATTACKER_SCORED: &str = "attacker.scored";
/// An attacker session started.
pub const ATTACKER_SESSION_STARTED: &str = "attacker.session.started";
/// An attacker session ended.
pub const ATTACKER_SESSION_ENDED: &str = "attacker.session.ended";
/// Threat-intel enrichment of an attacker finished.
pub const ATTACKER_INTEL_ENRICHED: &str = "attacker.intel.enriched";
/// A credential was captured and stored.
pub const CREDENTIAL_CAPTURED: &str = "credential.captured";
/// One secret was seen against several targets.
pub const CREDENTIAL_REUSE_DETECTED: &str = "credential.reuse.detected";
/// A planted credential (a bait world honeytoken) was presented to a decky.
pub const CREDENTIAL_HONEYTOKEN_USED: &str = "credential.honeytoken.used";
/// Platform log lines and batch notices.
pub const SYSTEM_LOG: &str = "system.log";
/// The broker's own heartbeat.
pub const SYSTEM_BUS_HEALTH: &str = "system.bus.health";
/// Pattern matching every worker's heartbeat, the broker's included.
pub const SYSTEM_HEALTH_ALL: &str = "system.*.health";

/// The stage of a topology mutation, the last token of `topology.{id}.mutation.{state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutationState {
    /// Queued by the API.
    Enqueued,
    /// Being applied by the mutator.
    Applying,
    /// Applied.
    Applied,
    /// Failed; the topology may be degraded.
    Failed,
}

impl MutationState {
    /// The topic token.
    pub fn as_str(self) -> &'static str {
        match self {
            MutationState::Enqueued => "enqueued",
            MutationState::Applying => "applying",
            MutationState::Applied => "applied",
            MutationState::Failed => "failed",
        }
    }
}

/// Checks that `s` is usable as one topic token.
pub fn segment(s: &str) -> Result<&str, TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    match s
        .chars()
        .find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
    {
        Some(found) => Err(TopicError::BadChar {
            segment: s.to_owned(),
            found,
        }),
        None => Ok(s),
    }
}

/// `topology.{id}.mutation.{state}`.
pub fn topology_mutation(id: &str, state: MutationState) -> Result<String, TopicError> {
    Ok(format!(
        "topology.{}.mutation.{}",
        segment(id)?,
        state.as_str()
    ))
}

/// `topology.{id}.status`.
pub fn topology_status(id: &str) -> Result<String, TopicError> {
    Ok(format!("topology.{}.status", segment(id)?))
}

/// Pattern for every topic of one topology: `topology.{id}.>`.
pub fn topology_all(id: &str) -> Result<String, TopicError> {
    Ok(format!("topology.{}.>", segment(id)?))
}

/// `decky.{id}.state`.
pub fn decky_state(id: &str) -> Result<String, TopicError> {
    Ok(format!("decky.{}.state", segment(id)?))
}

/// `decky.{id}.traffic`.
pub fn decky_traffic(id: &str) -> Result<String, TopicError> {
    Ok(format!("decky.{}.traffic", segment(id)?))
}

/// `decky.{id}.fingerprint`.
pub fn decky_fingerprint(id: &str) -> Result<String, TopicError> {
    Ok(format!("decky.{}.fingerprint", segment(id)?))
}

/// `system.{worker}.health`: a worker's heartbeat.
pub fn system_health(worker: &str) -> Result<String, TopicError> {
    Ok(format!("system.{}.health", segment(worker)?))
}

/// `system.{worker}.control`: requests to a worker (`{"action":"stop",…}`).
pub fn system_control(worker: &str) -> Result<String, TopicError> {
    Ok(format!("system.{}.control", segment(worker)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_family() {
        assert_eq!(
            topology_mutation("t1", MutationState::Applied).unwrap(),
            "topology.t1.mutation.applied"
        );
        assert_eq!(topology_status("t1").unwrap(), "topology.t1.status");
        assert_eq!(topology_all("t1").unwrap(), "topology.t1.>");
        assert_eq!(decky_state("d-1").unwrap(), "decky.d-1.state");
        assert_eq!(decky_traffic("d-1").unwrap(), "decky.d-1.traffic");
        assert_eq!(decky_fingerprint("d-1").unwrap(), "decky.d-1.fingerprint");
        assert_eq!(system_health("ingester").unwrap(), "system.ingester.health");
        assert_eq!(system_control("intel").unwrap(), "system.intel.control");
        assert_eq!(system_health("bus").unwrap(), SYSTEM_BUS_HEALTH);
    }

    #[test]
    fn rejects_segments_that_change_the_shape() {
        assert_eq!(decky_state(""), Err(TopicError::Empty));
        for bad in ["a.b", "*", "a>", "a b", "a\tb", "a\nb", "x\u{a0}y"] {
            assert!(
                matches!(decky_state(bad), Err(TopicError::BadChar { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(system_control("web-hook_2").is_ok());
    }
}

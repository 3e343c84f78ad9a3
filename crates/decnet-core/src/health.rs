//! A shared health value: one component (the journal writer) sets it, others
//! (the accept loops, the API's `/health`) read it without depending on that
//! component's crate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Whether a component can do its job, and why not; cheap to clone and to read.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Read on every accepted connection, so it is an atomic, not the mutex.
    degraded: AtomicBool,
    reason: Mutex<Option<String>>,
    refused: AtomicU64,
}

impl Condition {
    /// A condition that starts ok.
    pub fn new() -> Condition {
        Condition::default()
    }

    /// Marks the component degraded for `reason` (replacing an earlier reason).
    pub fn set_degraded(&self, reason: impl Into<String>) {
        let reason = reason.into();
        match self.inner.reason.lock() {
            Ok(mut r) => *r = Some(reason),
            Err(poisoned) => *poisoned.into_inner() = Some(reason),
        }
        self.inner.degraded.store(true, Ordering::Release);
    }

    /// Marks the component ok again.
    pub fn clear(&self) {
        self.inner.degraded.store(false, Ordering::Release);
        match self.inner.reason.lock() {
            Ok(mut r) => *r = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// True while the component is ok.
    pub fn is_ok(&self) -> bool {
        !self.inner.degraded.load(Ordering::Acquire)
    }

    /// Why the component is degraded, or `None` while it is ok.
    pub fn degraded(&self) -> Option<String> {
        if self.is_ok() {
            return None;
        }
        match self.inner.reason.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Counts one piece of work turned away because the component is degraded.
    pub fn note_refused(&self) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The work turned away since the last call (the owner reports it, rate-limited).
    pub fn take_refused(&self) -> u64 {
        self.inner.refused.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_state() {
        let c = Condition::new();
        let seen_by_api = c.clone();
        assert!(seen_by_api.is_ok());
        assert_eq!(seen_by_api.degraded(), None);
        c.set_degraded("journal: no space left on device (/data/journal)");
        assert!(!seen_by_api.is_ok());
        assert_eq!(
            seen_by_api.degraded().as_deref(),
            Some("journal: no space left on device (/data/journal)")
        );
        c.clear();
        assert!(seen_by_api.is_ok());
        assert_eq!(seen_by_api.degraded(), None);
    }

    #[test]
    fn refusals_are_counted_until_taken() {
        let c = Condition::new();
        let gate = c.clone();
        gate.note_refused();
        gate.note_refused();
        assert_eq!(c.take_refused(), 2);
        assert_eq!(c.take_refused(), 0);
    }
}

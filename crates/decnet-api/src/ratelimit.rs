//! Login backoff per username and per source IP: a few failures are free,
//! then each failure doubles the wait before the next attempt is even
//! checked; a success clears both keys. Uses tokio's clock so tests can
//! pause and advance time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Failures allowed before any delay.
pub const FREE_FAILURES: u32 = 3;
/// First delay once the free failures are used.
pub const BASE_DELAY: Duration = Duration::from_secs(1);
/// Longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys tracked at most; past it, forgotten entries are swept and then the
/// stalest dropped, so a spray of usernames cannot grow memory without bound.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Instant,
}

/// How quickly failures are punished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures allowed before any delay.
    pub free_failures: u32,
    /// First delay; each further failure doubles it.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            free_failures: FREE_FAILURES,
            base_delay: BASE_DELAY,
            max_delay: MAX_DELAY,
        }
    }
}

impl BackoffPolicy {
    /// The delay after `failures` failures.
    pub fn delay_for(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration::ZERO;
        }
        let exp = (failures - self.free_failures - 1).min(20);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }
}

/// Backoff state for logins.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    policy: BackoffPolicy,
    entries: Mutex<HashMap<Key, Entry>>,
}

fn user_key(username: &str) -> Key {
    Key::User(username.trim().to_lowercase())
}

impl LoginLimiter {
    /// A limiter with no history.
    pub fn new() -> LoginLimiter {
        LoginLimiter::default()
    }

    /// A limiter with another policy.
    pub fn with_policy(policy: BackoffPolicy) -> LoginLimiter {
        LoginLimiter {
            policy,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(seconds)` when either key is still backing off.
    pub fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let entries = self.lock();
        let wait = [Some(user_key(username)), ip.map(Key::Ip)]
            .into_iter()
            .flatten()
            .filter_map(|k| entries.get(&k))
            .map(|e| e.blocked_until.saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() {
            Ok(())
        } else {
            // Round up: a client that waits exactly Retry-After must get in.
            Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        }
    }

    /// Records a failed attempt on both keys.
    pub fn failure(&self, username: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < FORGET_AFTER);
            if entries.len() >= MAX_KEYS {
                if let Some(k) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_failure)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&k);
                }
            }
        }
        for k in [Some(user_key(username)), ip.map(Key::Ip)]
            .into_iter()
            .flatten()
        {
            let e = entries.entry(k).or_insert(Entry {
                failures: 0,
                last_failure: now,
                blocked_until: now,
            });
            if now.saturating_duration_since(e.last_failure) >= FORGET_AFTER {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last_failure = now;
            e.blocked_until = now + self.policy.delay_for(e.failures);
        }
    }

    /// Clears both keys after a successful login.
    pub fn success(&self, username: &str, ip: Option<IpAddr>) {
        let mut entries = self.lock();
        entries.remove(&user_key(username));
        if let Some(ip) = ip {
            entries.remove(&Key::Ip(ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures() {
        let p = BackoffPolicy::default();
        assert_eq!(p.delay_for(3), Duration::ZERO);
        assert_eq!(p.delay_for(4), Duration::from_secs(1));
        assert_eq!(p.delay_for(5), Duration::from_secs(2));
        assert_eq!(p.delay_for(6), Duration::from_secs(4));
        assert_eq!(p.delay_for(1000), MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn per_ip_backoff_spans_usernames() {
        let l = LoginLimiter::new();
        let ip = Some("10.0.0.1".parse().unwrap());
        for i in 0..4 {
            assert!(l.check(&format!("u{i}"), ip).is_ok());
            l.failure(&format!("u{i}"), ip);
        }
        assert_eq!(l.check("someone-else", ip), Err(1));
        assert!(l
            .check("someone-else", Some("10.0.0.2".parse().unwrap()))
            .is_ok());
    }
}

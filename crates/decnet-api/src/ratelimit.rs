//! Password-guess backoff, keyed two ways:
//!
//! - per **(username, source)**: a few failures are free, then each failure
//!   doubles the wait before that pair may try again. A stranger failing as
//!   `admin` from one address does not lock `admin` out from another.
//! - per **source**, across usernames: a larger free budget, then the same
//!   doubling, so one address cannot spray many usernames. A success does not
//!   refund this budget (an attacker with one account could otherwise reset it
//!   between guesses); it is forgotten an hour after the source's last failure.
//!
//! Attempts are admitted *before* the password is checked and counted while
//! in flight: once a key's free failures could be used up by the attempts
//! already running, it admits one attempt at a time. So 200 concurrent logins
//! from one address start at most a handful of argon2 hashes, the rest are
//! refused with a Retry-After at once. IPv6 sources are keyed by their /64
//! (one host usually owns the whole prefix). Uses tokio's clock so tests can
//! pause and advance time.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Failures per (username, source) allowed before any delay.
pub const FREE_FAILURES: u32 = 3;
/// Failures per source, across usernames, allowed before any delay.
pub const SOURCE_FREE_FAILURES: u32 = 10;
/// First delay once the free failures are used.
pub const BASE_DELAY: Duration = Duration::from_secs(1);
/// Longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys tracked at most; past it, forgotten entries are swept and then the
/// stalest dropped, so a spray of usernames cannot grow memory without bound.
pub const MAX_KEYS: usize = 100_000;

/// A source as the limiter keys it: an IPv4 address, an IPv6 /64, or unknown.
type Source = Option<IpAddr>;

fn source_of(ip: Option<IpAddr>) -> Source {
    ip.map(|ip| match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Source),
    Source(Source),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    last_failure: Instant,
    blocked_until: Instant,
}

/// How quickly failures are punished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures per (username, source) allowed before any delay.
    pub free_failures: u32,
    /// Failures per source across usernames allowed before any delay.
    pub source_free_failures: u32,
    /// First delay; each further failure doubles it.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            free_failures: FREE_FAILURES,
            source_free_failures: SOURCE_FREE_FAILURES,
            base_delay: BASE_DELAY,
            max_delay: MAX_DELAY,
        }
    }
}

impl BackoffPolicy {
    /// The delay after `failures` failures on a key with `free` free ones.
    fn delay(&self, free: u32, failures: u32) -> Duration {
        if failures <= free {
            return Duration::ZERO;
        }
        let exp = (failures - free - 1).min(20);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }

    /// The delay after `failures` failures of one (username, source) pair.
    pub fn delay_for(&self, failures: u32) -> Duration {
        self.delay(self.free_failures, failures)
    }

    fn free(&self, key: &Key) -> u32 {
        match key {
            Key::Pair(..) => self.free_failures,
            Key::Source(_) => self.source_free_failures,
        }
    }
}

/// Backoff state for password checks (logins and `old_password`).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    policy: BackoffPolicy,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Rounds up: a client that waits exactly Retry-After must get in.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
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

    fn keys(username: &str, ip: Option<IpAddr>) -> [Key; 2] {
        let source = source_of(ip);
        [
            Key::Pair(username.trim().to_lowercase(), source),
            Key::Source(source),
        ]
    }

    /// Admits one password check for `username` from `ip`, or `Err(seconds)`
    /// to wait. Settle the returned [`Attempt`] with
    /// [`failed`](Attempt::failed), [`succeeded`](Attempt::succeeded) or
    /// [`abandon`](Attempt::abandon) (the password was never checked).
    /// Dropped unsettled — the client hung up mid-check — it counts as a
    /// failure, so hanging up is not a way to guess for free.
    pub fn begin(&self, username: &str, ip: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let keys = Self::keys(username, ip);
        let mut entries = self.lock();
        for k in &keys {
            let Some(e) = entries.get(k) else { continue };
            let wait = e.blocked_until.saturating_duration_since(now);
            if !wait.is_zero() {
                return Err(whole_secs(wait));
            }
            let forgotten = now.saturating_duration_since(e.last_failure) >= FORGET_AFTER;
            let failures = if forgotten { 0 } else { e.failures };
            // Attempts in flight may all fail: once they could use up the free
            // failures, admit one at a time.
            if e.in_flight > 0 && failures.saturating_add(e.in_flight) >= self.policy.free(k) {
                return Err(whole_secs(self.policy.base_delay));
            }
        }
        make_room(&mut entries, now);
        for k in &keys {
            let e = entries.entry(k.clone()).or_insert(Entry {
                failures: 0,
                in_flight: 0,
                last_failure: now,
                blocked_until: now,
            });
            e.in_flight = e.in_flight.saturating_add(1);
        }
        Ok(Attempt {
            limiter: self,
            keys: Some(keys),
        })
    }

    fn settle(&self, keys: &[Key; 2], outcome: Outcome) {
        let now = Instant::now();
        let mut entries = self.lock();
        for k in keys {
            let Some(e) = entries.get_mut(k) else {
                continue;
            };
            e.in_flight = e.in_flight.saturating_sub(1);
            match (outcome, k) {
                (Outcome::Failed, _) => {
                    if now.saturating_duration_since(e.last_failure) >= FORGET_AFTER {
                        e.failures = 0;
                    }
                    e.failures = e.failures.saturating_add(1);
                    e.last_failure = now;
                    e.blocked_until = now + self.policy.delay(self.policy.free(k), e.failures);
                }
                (Outcome::Succeeded, Key::Pair(..)) => e.failures = 0,
                // The per-source budget is not refunded by a success.
                (Outcome::Succeeded, Key::Source(_)) | (Outcome::Abandoned, _) => {}
            }
            if e.failures == 0 && e.in_flight == 0 {
                entries.remove(k);
            }
        }
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Keeps the table under [`MAX_KEYS`]: forgotten entries go first, then the
/// stalest; entries with checks in flight stay (their attempts settle them).
fn make_room(entries: &mut HashMap<Key, Entry>, now: Instant) {
    if entries.len() + 2 <= MAX_KEYS {
        return;
    }
    entries.retain(|_, e| {
        e.in_flight > 0 || now.saturating_duration_since(e.last_failure) < FORGET_AFTER
    });
    while entries.len() + 2 > MAX_KEYS {
        let Some(k) = entries
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        entries.remove(&k);
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed,
    Succeeded,
    Abandoned,
}

/// One admitted password check; see [`LoginLimiter::begin`].
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: Option<[Key; 2]>,
}

impl Attempt<'_> {
    /// The password was wrong: counts against both keys.
    pub fn failed(mut self) {
        if let Some(k) = self.keys.take() {
            self.limiter.settle(&k, Outcome::Failed);
        }
    }

    /// The password was right: clears the (username, source) pair.
    pub fn succeeded(mut self) {
        if let Some(k) = self.keys.take() {
            self.limiter.settle(&k, Outcome::Succeeded);
        }
    }
}

impl Attempt<'_> {
    /// The password was never checked (hashing saturated, store down): counts
    /// as nothing.
    pub fn abandon(mut self) {
        if let Some(k) = self.keys.take() {
            self.limiter.settle(&k, Outcome::Abandoned);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.keys.take() {
            self.limiter.settle(&k, Outcome::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

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
    async fn a_pair_backs_off_without_locking_the_user_out_elsewhere() {
        let l = LoginLimiter::new();
        for _ in 0..4 {
            l.begin("admin", ip("10.0.0.1")).unwrap().failed();
        }
        assert_eq!(l.begin("admin", ip("10.0.0.1")).unwrap_err(), 1);
        // The same user from elsewhere, and another user from here: free.
        l.begin("Admin ", ip("10.0.0.2")).unwrap().succeeded();
        l.begin("bob", ip("10.0.0.1")).unwrap().failed();
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_spraying_usernames_exhausts_its_own_budget() {
        let l = LoginLimiter::new();
        for i in 0..=SOURCE_FREE_FAILURES {
            l.begin(&format!("u{i}"), ip("10.0.0.1")).unwrap().failed();
        }
        assert_eq!(l.begin("fresh-name", ip("10.0.0.1")).unwrap_err(), 1);
        // A success elsewhere does not refund it; other sources are untouched.
        l.begin("fresh-name", ip("10.0.0.9")).unwrap().abandon();
        tokio::time::advance(Duration::from_secs(1)).await;
        l.begin("mine", ip("10.0.0.1")).unwrap().succeeded();
        l.begin("fresh-name", ip("10.0.0.1")).unwrap().abandon();
        l.begin("fresh-name", ip("10.0.0.1")).unwrap().failed();
        assert_eq!(l.begin("other", ip("10.0.0.1")).unwrap_err(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_attempts_are_admitted_only_while_they_cannot_exceed_the_free_budget() {
        let l = LoginLimiter::new();
        let running: Vec<_> = (0..FREE_FAILURES)
            .map(|_| l.begin("admin", ip("10.0.0.1")).unwrap())
            .collect();
        // Another would be the fourth failure if all fail: refused at once.
        assert!(l.begin("admin", ip("10.0.0.1")).is_err());
        for a in running {
            a.abandon();
        }
        // Abandoned attempts (never checked) count as nothing.
        assert_eq!(l.tracked(), 0);
        assert!(l.begin("admin", ip("10.0.0.1")).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_dropped_mid_check_counts_as_a_failure() {
        let l = LoginLimiter::new();
        for _ in 0..=FREE_FAILURES {
            drop(l.begin("admin", ip("10.0.0.1")).unwrap());
        }
        assert_eq!(l.begin("admin", ip("10.0.0.1")).unwrap_err(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_sources_share_their_slash_64() {
        let l = LoginLimiter::new();
        for i in 0..=SOURCE_FREE_FAILURES {
            let a = format!("2001:db8:1:2::{:x}", i + 1);
            l.begin(&format!("u{i}"), ip(&a)).unwrap().failed();
        }
        assert!(l.begin("x", ip("2001:db8:1:2:ffff::1")).is_err());
        l.begin("x", ip("2001:db8:1:3::1")).unwrap().abandon();
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded() {
        let l = LoginLimiter::new();
        {
            let mut e = l.lock();
            let now = Instant::now();
            for i in 0..MAX_KEYS {
                e.insert(
                    Key::Pair(format!("u{i}"), None),
                    Entry {
                        failures: 1,
                        in_flight: 0,
                        last_failure: now,
                        blocked_until: now,
                    },
                );
            }
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        l.begin("newcomer", ip("10.0.0.1")).unwrap().failed();
        assert!(l.tracked() <= MAX_KEYS);
        // The newest failure is kept, the stalest made room.
        l.begin("newcomer", ip("10.0.0.1")).unwrap().abandon();
    }
}

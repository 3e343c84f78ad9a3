//! One log line per interval for a condition that repeats (a full disk, a
//! receiver that is down, a connection cap reached): the occurrences in
//! between are counted into the next line instead of each writing its own.

use std::time::{Duration, Instant};

/// Counts occurrences and says when one may be logged.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    /// A throttle letting one line through per `every`.
    pub const fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            count: 0,
        }
    }

    /// Counts one occurrence at `now`: `Some(n)` when it is to be logged, `n` being the
    /// occurrences since the last logged one, this one included; `None` to stay quiet.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }

    /// Forgets the past: the next occurrence is logged at once.
    pub fn reset(&mut self) {
        self.last = None;
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_carries_the_count_of_the_quiet_ones() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(60));
        assert_eq!(t.hit(t0), Some(1));
        for s in 1..60 {
            assert_eq!(t.hit(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_secs(60)), Some(60));
        assert_eq!(t.hit(t0 + Duration::from_secs(61)), None);
        t.reset();
        assert_eq!(t.hit(t0 + Duration::from_secs(62)), Some(1));
    }
}

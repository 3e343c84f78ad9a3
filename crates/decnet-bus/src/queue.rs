//! The bounded drop-oldest queue behind every broker connection and every local
//! subscription: pushing never waits; when full, the oldest item goes and is counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Capacity of every bus queue (DESIGN §8).
pub const QUEUE_CAPACITY: usize = 1024;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued with room to spare.
    Queued,
    /// Queued after dropping the oldest; `first` is true for the first drop since the
    /// queue last ran empty, so callers log once per burst.
    DroppedOldest {
        /// First drop of this burst.
        first: bool,
    },
    /// The queue is closed; the item was discarded.
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    in_burst: bool,
}

/// A single-consumer bounded queue that drops its oldest item when full.
pub(crate) struct DropQueue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
    cap: usize,
    dropped: AtomicU64,
    total_dropped: Option<Arc<AtomicU64>>,
}

impl<T> DropQueue<T> {
    /// A queue of `cap` items; drops are also added to `total_dropped` when given.
    pub(crate) fn new(cap: usize, total_dropped: Option<Arc<AtomicU64>>) -> Self {
        DropQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                in_burst: false,
            }),
            ready: Notify::new(),
            cap: cap.max(1),
            dropped: AtomicU64::new(0),
            total_dropped,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item, never waiting.
    pub(crate) fn push(&self, item: T) -> Pushed {
        let outcome = {
            let mut s = self.lock();
            if s.closed {
                return Pushed::Closed;
            }
            let outcome = if s.items.len() >= self.cap {
                s.items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = &self.total_dropped {
                    t.fetch_add(1, Ordering::Relaxed);
                }
                let first = !s.in_burst;
                s.in_burst = true;
                Pushed::DroppedOldest { first }
            } else {
                Pushed::Queued
            };
            s.items.push_back(item);
            outcome
        };
        self.ready.notify_one();
        outcome
    }

    /// Takes the oldest item if there is one.
    pub(crate) fn try_pop(&self) -> Option<T> {
        let mut s = self.lock();
        let item = s.items.pop_front();
        if s.items.is_empty() {
            s.in_burst = false;
        }
        item
    }

    /// Waits for the oldest item; `None` once closed and drained. Cancel-safe.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut s = self.lock();
                if let Some(item) = s.items.pop_front() {
                    if s.items.is_empty() {
                        s.in_burst = false;
                    }
                    return Some(item);
                }
                if s.closed {
                    return None;
                }
            }
            // notify_one stores a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.ready.notified().await;
        }
    }

    /// Refuses further pushes; the consumer drains what is left, then gets `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Items dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drops_oldest_and_counts() {
        let total = Arc::new(AtomicU64::new(0));
        let q = DropQueue::new(3, Some(total.clone()));
        for i in 0..3 {
            assert_eq!(q.push(i), Pushed::Queued);
        }
        assert_eq!(q.push(3), Pushed::DroppedOldest { first: true });
        assert_eq!(q.push(4), Pushed::DroppedOldest { first: false });
        assert_eq!((q.dropped(), total.load(Ordering::Relaxed)), (2, 2));
        assert_eq!(q.pop().await, Some(2));
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        // Drained: the next overflow starts a new burst.
        for i in 0..3 {
            q.push(i);
        }
        assert_eq!(q.push(9), Pushed::DroppedOldest { first: true });
        q.close();
        assert_eq!(q.push(10), Pushed::Closed);
        let mut rest = Vec::new();
        while let Some(i) = q.pop().await {
            rest.push(i);
        }
        assert_eq!(rest, vec![1, 2, 9]);
    }
}

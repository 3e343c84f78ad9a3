//! A broker connection's outbound queue: encoded `EVT` frames waiting for its socket.
//!
//! Items are batches: one shared slice of a publisher's encode buffer holding one or more
//! whole frames, so fanning a burst out to a subscriber costs one push and no copy. The
//! bound is [`QUEUE_CAPACITY`](crate::QUEUE_CAPACITY) frames, counted exactly; frames are
//! dropped oldest-first, a batch split at a frame boundary when needed.
//!
//! Publishers first wait for room ([`OutQueue::push_wait`], the backpressure the broker
//! docs explain); a subscriber that cannot make room in time is marked *behind* and gets
//! drop-oldest without waiting until its writer finds the queue empty (it caught up).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

/// Frames one after another, shared with every other subscriber of the same burst.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// Whole frames, back to back.
    pub(crate) bytes: Bytes,
    /// How many.
    pub(crate) count: usize,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued without loss.
    Queued,
    /// Queued after dropping this many of the oldest frames; `first` is true for the first
    /// drop since the subscriber was last caught up, so callers log once per episode.
    Dropped {
        /// Frames dropped by this push.
        n: u64,
        /// First drop of this episode.
        first: bool,
    },
    /// The connection is gone; the frames were discarded.
    Closed,
}

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    /// Frames in `batches`.
    len: usize,
    /// Frames the writer took and is still writing.
    in_flight: usize,
    closed: bool,
    /// Could not make room in time: pushes drop instead of waiting, until caught up.
    behind: bool,
    /// A drop was already reported in this episode.
    reported: bool,
}

/// A single-writer, many-publisher bounded queue of frame batches.
pub(crate) struct OutQueue {
    state: Mutex<State>,
    /// Wakes the writer.
    ready: Notify,
    /// Wakes publishers waiting for room.
    space: Notify,
    cap: usize,
    dropped: AtomicU64,
    total_dropped: Arc<AtomicU64>,
}

impl OutQueue {
    /// A queue of `cap` frames whose drops are also added to `total_dropped`.
    pub(crate) fn new(cap: usize, total_dropped: Arc<AtomicU64>) -> OutQueue {
        OutQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            space: Notify::new(),
            cap: cap.max(1),
            dropped: AtomicU64::new(0),
            total_dropped,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `batches` at once, dropping the oldest frames beyond the bound.
    pub(crate) fn push_now(&self, batches: Vec<Batch>) -> Pushed {
        let mut s = self.lock();
        self.push_locked(&mut s, batches)
    }

    /// Queues `batches` (`count` frames in all), first waiting up to `wait` for room while
    /// the subscriber is keeping up. Room means `headroom` free slots (at least `count`),
    /// so a reader that drains one frame at a time cannot pace every publisher to its speed.
    pub(crate) async fn push_wait(
        &self,
        batches: Vec<Batch>,
        count: usize,
        headroom: usize,
        wait: Duration,
    ) -> Pushed {
        let need = count.max(headroom).min(self.cap);
        let mut deadline = None;
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Registered before the check, so a drain between the check and the await wakes us.
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.closed || s.behind || s.len + need <= self.cap {
                    return self.push_locked(&mut s, batches);
                }
            }
            let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
            if tokio::time::timeout_at(until, notified).await.is_err() {
                let mut s = self.lock();
                s.behind = true;
                return self.push_locked(&mut s, batches);
            }
        }
    }

    fn push_locked(&self, s: &mut State, batches: Vec<Batch>) -> Pushed {
        if s.closed {
            return Pushed::Closed;
        }
        for b in batches {
            if b.count > 0 {
                s.len += b.count;
                s.batches.push_back(b);
            }
        }
        let over = s.len.saturating_sub(self.cap);
        let outcome = if over > 0 {
            drop_front(s, over);
            let n = over as u64;
            self.dropped.fetch_add(n, Ordering::Relaxed);
            self.total_dropped.fetch_add(n, Ordering::Relaxed);
            let first = !s.reported;
            s.reported = true;
            Pushed::Dropped { n, first }
        } else {
            Pushed::Queued
        };
        self.ready.notify_one();
        outcome
    }

    /// Moves every queued batch into `out` for writing; waits while there is none.
    /// `false` once closed and drained. Finding the queue empty means the subscriber has
    /// caught up: it is no longer behind.
    pub(crate) async fn take_all(&self, out: &mut Vec<Batch>) -> bool {
        loop {
            {
                let mut s = self.lock();
                s.in_flight = 0;
                if s.len > 0 {
                    out.extend(s.batches.drain(..));
                    s.in_flight = std::mem::take(&mut s.len);
                    drop(s);
                    self.space.notify_waiters();
                    return true;
                }
                s.behind = false;
                s.reported = false;
                if s.closed {
                    return false;
                }
            }
            // Single consumer: notify_one keeps a permit when the writer is not waiting yet.
            self.ready.notified().await;
        }
    }

    /// Refuses further pushes; the writer drains what is queued, then stops.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
        self.space.notify_waiters();
    }

    /// Frames held for this connection: queued plus being written.
    pub(crate) fn held(&self) -> usize {
        let s = self.lock();
        s.len + s.in_flight
    }

    /// Frames dropped so far.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Drops the oldest `n` frames, splitting the first surviving batch at a frame boundary.
fn drop_front(s: &mut State, mut n: usize) {
    while n > 0 {
        let Some(front) = s.batches.front_mut() else {
            break;
        };
        if front.count <= n {
            n -= front.count;
            s.len -= front.count;
            s.batches.pop_front();
            continue;
        }
        match frames_len(&front.bytes, n) {
            Some(cut) => {
                let _ = front.bytes.split_to(cut);
                front.count -= n;
                s.len -= n;
            }
            // Not our own framing (cannot happen): drop the whole batch rather than
            // send a torn frame.
            None => {
                s.len -= front.count;
                s.batches.pop_front();
            }
        }
        n = 0;
    }
}

/// Bytes taken by the first `n` frames of `b` (each `header\n`, a 4-byte length, a body).
fn frames_len(b: &[u8], n: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..n {
        let rest = b.get(at..)?;
        let nl = rest.iter().position(|&c| c == b'\n')?;
        let len_at = at + nl + 1;
        let lb: [u8; 4] = b.get(len_at..len_at + 4)?.try_into().ok()?;
        at = len_at + 4 + u32::from_be_bytes(lb) as usize;
    }
    (at <= b.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_bytes, Verb};

    fn batch(range: std::ops::Range<u32>) -> Batch {
        let mut v = Vec::new();
        for i in range.clone() {
            v.extend_from_slice(&encode_bytes(
                Verb::Evt,
                "t",
                format!("{{\"n\":{i}}}").as_bytes(),
            ));
        }
        Batch {
            bytes: v.into(),
            count: range.len(),
        }
    }

    fn numbers(batches: &[Batch]) -> Vec<u32> {
        let mut all = Vec::new();
        for b in batches {
            let mut rest = &b.bytes[..];
            while !rest.is_empty() {
                let crate::frame::Decoded::Frame(f, used) = crate::frame::decode(rest).unwrap()
                else {
                    panic!("torn frame")
                };
                let crate::frame::Frame::Evt { body, .. } = f else {
                    panic!()
                };
                all.push(body["n"].as_u64().unwrap() as u32);
                rest = &rest[used..];
            }
        }
        all
    }

    #[tokio::test]
    async fn drops_exactly_the_oldest_frames_splitting_batches() {
        let total = Arc::new(AtomicU64::new(0));
        let q = OutQueue::new(5, total.clone());
        assert_eq!(q.push_now(vec![batch(0..3)]), Pushed::Queued);
        assert_eq!(
            q.push_now(vec![batch(3..7)]),
            Pushed::Dropped { n: 2, first: true }
        );
        assert_eq!(
            q.push_now(vec![batch(7..8)]),
            Pushed::Dropped { n: 1, first: false }
        );
        assert_eq!(
            (q.dropped(), total.load(Ordering::Relaxed), q.held()),
            (3, 3, 5)
        );
        let mut out = Vec::new();
        assert!(q.take_all(&mut out).await);
        assert_eq!(numbers(&out), vec![3, 4, 5, 6, 7]);
        // A batch larger than the whole queue keeps its newest frames.
        out.clear();
        q.push_now(vec![batch(10..20)]);
        assert!(q.take_all(&mut out).await);
        assert_eq!(numbers(&out), vec![15, 16, 17, 18, 19]);
        q.close();
        assert_eq!(q.push_now(vec![batch(0..1)]), Pushed::Closed);
        out.clear();
        assert!(!q.take_all(&mut out).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_waits_for_its_writer_then_a_stalled_one_is_marked_behind() {
        let q = Arc::new(OutQueue::new(4, Arc::new(AtomicU64::new(0))));
        q.push_now(vec![batch(0..4)]);
        // The writer drains shortly: the publisher waits instead of dropping.
        let drain = {
            let q = q.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut out = Vec::new();
                q.take_all(&mut out).await;
                numbers(&out)
            })
        };
        let w = Duration::from_millis(100);
        assert_eq!(
            q.push_wait(vec![batch(4..6)], 2, 0, w).await,
            Pushed::Queued
        );
        assert_eq!(drain.await.unwrap(), vec![0, 1, 2, 3]);
        // Nobody drains now: after the wait the subscriber is behind and loses its oldest.
        q.push_now(vec![batch(6..8)]);
        let t0 = tokio::time::Instant::now();
        assert_eq!(
            q.push_wait(vec![batch(8..9)], 1, 0, w).await,
            Pushed::Dropped { n: 1, first: true }
        );
        assert_eq!(t0.elapsed(), w);
        // Behind: no more waiting.
        assert!(matches!(
            q.push_wait(vec![batch(9..10)], 1, 0, w).await,
            Pushed::Dropped { n: 1, first: false }
        ));
        assert_eq!(t0.elapsed(), w);
        // Once the writer comes back and finds it empty, it is keeping up again: a full
        // queue makes the publisher wait for the writer instead of dropping.
        let mut out = Vec::new();
        q.take_all(&mut out).await;
        assert_eq!(numbers(&out), vec![6, 7, 8, 9]);
        let writer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut out = Vec::new();
                q.take_all(&mut out).await;
                numbers(&out)
            }
        });
        tokio::task::yield_now().await;
        q.push_now(vec![batch(10..14)]);
        assert_eq!(
            q.push_wait(vec![batch(14..15)], 1, 0, w).await,
            Pushed::Queued
        );
        assert_eq!(writer.await.unwrap(), vec![10, 11, 12, 13]);
    }
}

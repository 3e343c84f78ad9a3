//! Local subscriptions: the table a process keeps of its own subscribers, shared by the
//! in-process bus, the fake bus and the UNIX-socket client, and the [`Subscription`] handle.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;

use crate::envelope::Envelope;
use crate::pattern::matches;
use crate::queue::{DropQueue, Pushed, QUEUE_CAPACITY};

struct Entry {
    id: u64,
    pattern: String,
    queue: Arc<DropQueue<Envelope>>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    subs: Vec<Entry>,
    closed: bool,
}

/// A process's live subscriptions.
#[derive(Default)]
pub(crate) struct LocalTable {
    state: Mutex<State>,
    dropped: Arc<AtomicU64>,
    /// Bumped whenever the set of distinct live patterns changes.
    generation: AtomicU64,
    /// Woken on every pattern-set change (the UNIX client's writer waits on it).
    pub(crate) changed: Notify,
}

impl LocalTable {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a subscription (the pattern is already validated).
    pub(crate) fn subscribe(self: &Arc<Self>, pattern: &str) -> Subscription {
        let queue = Arc::new(DropQueue::new(QUEUE_CAPACITY, Some(self.dropped.clone())));
        let mut s = self.lock();
        if s.closed {
            queue.close();
            return Subscription {
                pattern: pattern.to_owned(),
                queue,
                owner: None,
            };
        }
        s.next_id += 1;
        let id = s.next_id;
        let new_pattern = !s.subs.iter().any(|e| e.pattern == pattern);
        s.subs.push(Entry {
            id,
            pattern: pattern.to_owned(),
            queue: queue.clone(),
        });
        drop(s);
        if new_pattern {
            self.bump();
        }
        Subscription {
            pattern: pattern.to_owned(),
            queue,
            owner: Some((Arc::downgrade(self), id)),
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
    }

    fn remove(&self, id: u64) {
        let mut s = self.lock();
        let Some(pos) = s.subs.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = s.subs.swap_remove(pos);
        let last = !s.subs.iter().any(|e| e.pattern == entry.pattern);
        drop(s);
        entry.queue.close();
        if last {
            self.bump();
        }
    }

    /// Whether any live subscription would take a message on `topic`.
    pub(crate) fn wants(&self, topic: &str) -> bool {
        self.lock().subs.iter().any(|e| matches(&e.pattern, topic))
    }

    /// Hands `env` to every subscription whose pattern matches; returns how many took it.
    pub(crate) fn dispatch(&self, env: Envelope) -> usize {
        let targets: Vec<(Arc<DropQueue<Envelope>>, String)> = self
            .lock()
            .subs
            .iter()
            .filter(|e| matches(&e.pattern, &env.topic))
            .map(|e| (e.queue.clone(), e.pattern.clone()))
            .collect();
        let n = targets.len();
        let mut env = Some(env);
        for (i, (queue, pattern)) in targets.into_iter().enumerate() {
            // The last target takes the original; the others a copy.
            let item = if i + 1 == n { env.take() } else { env.clone() };
            let Some(item) = item else { break };
            if let Pushed::DroppedOldest { first: true } = queue.push(item) {
                tracing::warn!(
                    %pattern,
                    capacity = QUEUE_CAPACITY,
                    "bus subscription not keeping up; dropping its oldest messages"
                );
            }
        }
        n
    }

    /// The distinct live patterns.
    pub(crate) fn patterns(&self) -> BTreeSet<String> {
        self.lock().subs.iter().map(|e| e.pattern.clone()).collect()
    }

    /// Changes to the pattern set so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Messages dropped by local subscriptions, closed ones included.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Ends every subscription (each drains what it holds, then yields `None`) and refuses
    /// new ones.
    pub(crate) fn close(&self) {
        let subs = {
            let mut s = self.lock();
            s.closed = true;
            std::mem::take(&mut s.subs)
        };
        for e in subs {
            e.queue.close();
        }
    }
}

/// A stream of envelopes matching one pattern; dropping it unsubscribes.
pub struct Subscription {
    pattern: String,
    queue: Arc<DropQueue<Envelope>>,
    owner: Option<(Weak<LocalTable>, u64)>,
}

impl Subscription {
    /// A subscription that has already ended (NullBus, or a bus that is gone).
    pub(crate) fn ended(pattern: &str) -> Subscription {
        let queue = Arc::new(DropQueue::new(1, None));
        queue.close();
        Subscription {
            pattern: pattern.to_owned(),
            queue,
            owner: None,
        }
    }

    /// The next envelope; `None` when the bus is gone for good. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Envelope> {
        self.queue.pop().await
    }

    /// The next envelope if one is waiting.
    pub fn try_recv(&mut self) -> Option<Envelope> {
        self.queue.try_pop()
    }

    /// The pattern subscribed to.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Envelopes waiting in this subscription's queue.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no envelope is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Envelopes this subscription lost to drop-oldest.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("pattern", &self.pattern)
            .field("queued", &self.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some((table, id)) = self.owner.take() {
            if let Some(table) = table.upgrade() {
                table.remove(id);
            }
        }
    }
}

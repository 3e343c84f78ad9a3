//! Per-request freshness without a query per request.
//!
//! Every authenticated request needs the current state of its user (revoked
//! tokens must fail on the very next request, whichever process changed the
//! user) and, for the `/logs` cache, whether any event was committed since a
//! cached page was built. Both come from an [`AuthSnapshot`]: every user
//! and the [`IngestGeneration`](decnet_store::IngestGeneration).
//!
//! A request is only ever answered from a snapshot whose read *began after the
//! request asked for it*, so it sees every commit that was visible when it
//! arrived, exactly as a per-request lookup would. Requests arriving while a
//! read is in flight cannot use that read (it may have begun before a commit
//! they must see); they share the next one. Under load that is one small read
//! per round of concurrent requests instead of one per request; an idle API
//! does one read per request, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use decnet_store::{AuthSnapshot, IngestGeneration, Store, StoreError, User};
use tokio::sync::watch;
use uuid::Uuid;

/// Most users a snapshot holds; with more, the rest are looked up per request.
pub(crate) const MAX_SNAPSHOT_USERS: u32 = 256;

/// The users and ingest generation as one read saw them.
#[derive(Debug)]
pub(crate) struct Snapshot {
    users: HashMap<Uuid, User>,
    complete: bool,
    /// The ingest generation, read after the request that holds this arrived.
    pub(crate) ingest: IngestGeneration,
}

/// What a snapshot knows about one user.
pub(crate) enum Lookup<'a> {
    /// The user as stored.
    Found(&'a User),
    /// No such user (the snapshot holds every user).
    Absent,
    /// Not in a partial snapshot: look it up.
    Unknown,
}

impl Snapshot {
    fn new(s: AuthSnapshot) -> Snapshot {
        Snapshot {
            users: s.users.into_iter().map(|u| (u.uuid, u)).collect(),
            complete: s.complete,
            ingest: s.ingest,
        }
    }

    /// The user `uuid`, as far as this snapshot can tell.
    pub(crate) fn user(&self, uuid: Uuid) -> Lookup<'_> {
        match self.users.get(&uuid) {
            Some(u) => Lookup::Found(u),
            None if self.complete => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }
}

/// The last read: it serves every request with a ticket up to `covers`.
#[derive(Clone)]
struct Published {
    covers: u64,
    snapshot: Result<Arc<Snapshot>, Arc<StoreError>>,
}

#[derive(Default)]
struct GateState {
    /// Tickets handed out (the last one's number).
    arrivals: u64,
    /// A read is in flight.
    reading: bool,
}

/// Hands out snapshots read after each caller arrived, one read shared by
/// every caller waiting for it.
pub(crate) struct Gate {
    state: Mutex<GateState>,
    published: watch::Sender<Published>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Default for Gate {
    fn default() -> Self {
        let none = Published {
            covers: 0,
            snapshot: Ok(Arc::new(Snapshot {
                users: HashMap::new(),
                complete: false,
                ingest: IngestGeneration::default(),
            })),
        };
        Gate {
            state: Mutex::default(),
            published: watch::channel(none).0,
        }
    }
}

/// Lets the next waiter read when a reader is dropped mid-read (its request
/// was cancelled), so nobody waits for a read that will never publish.
struct Reading<'a>(&'a Gate);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.lock().reading = false;
        // Wakes the waiters to re-check; a published read was already seen.
        self.0.published.send_modify(|_| {});
    }
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // The state is two plain fields, valid whatever a panicking holder did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot whose read began after this call did.
    pub(crate) async fn current(&self, store: &Store) -> Result<Arc<Snapshot>, Arc<StoreError>> {
        let mut rx = self.published.subscribe();
        let ticket = {
            let mut s = self.lock();
            s.arrivals += 1;
            s.arrivals
        };
        loop {
            {
                let p = rx.borrow_and_update();
                if p.covers >= ticket {
                    return p.snapshot.clone();
                }
            }
            let lead = {
                let mut s = self.lock();
                (!s.reading).then(|| {
                    s.reading = true;
                    // Every ticket handed out so far arrived before this read begins.
                    s.arrivals
                })
            };
            match lead {
                Some(covers) => {
                    let _reading = Reading(self);
                    let snapshot = store
                        .auth_snapshot(MAX_SNAPSHOT_USERS)
                        .await
                        .map(|s| Arc::new(Snapshot::new(s)))
                        .map_err(Arc::new);
                    self.published.send_replace(Published { covers, snapshot });
                }
                None => {
                    // The sender lives as long as `self`: this only waits.
                    let _ = rx.changed().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_snapshot_is_read_after_the_call_and_sees_a_user_created_just_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let gate = Gate::default();
        let first = gate.current(&store).await.unwrap();
        assert!(first.users.is_empty() && first.complete);
        let u = store
            .create_user(&decnet_store::NewUser {
                username: "v".into(),
                password_hash: "h".into(),
                role: decnet_store::Role::Viewer,
                must_change_password: false,
            })
            .await
            .unwrap();
        let next = gate.current(&store).await.unwrap();
        assert!(matches!(next.user(u.uuid), Lookup::Found(f) if f.username == "v"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_all_get_a_snapshot_and_share_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let gate = Arc::new(Gate::default());
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (g, s) = (gate.clone(), store.clone());
                tokio::spawn(async move { g.current(&s).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let s = gate.lock();
        assert_eq!(s.arrivals, 200);
        assert!(!s.reading, "no read left marked in flight");
    }

    #[tokio::test]
    async fn a_reader_cancelled_mid_read_does_not_strand_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let gate = Gate::default();
        {
            // Polled once: it takes the reader's role, then is dropped.
            let fut = gate.current(&store);
            tokio::pin!(fut);
            let _ = futures_poll_once(fut.as_mut()).await;
        }
        assert!(!gate.lock().reading);
        tokio::time::timeout(std::time::Duration::from_secs(10), gate.current(&store))
            .await
            .expect("a later caller gets a snapshot")
            .unwrap();
    }

    /// Polls `f` once.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}

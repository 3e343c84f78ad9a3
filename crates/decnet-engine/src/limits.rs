//! Fair shares of a decky's connection slots, the aggregation of repeated
//! refusals, and the process's file-descriptor budget.
//!
//! - [`DeckySlots`]: the decky's cap, split so that no one service
//!   (`max_connections_per_service`) and no one source
//!   (`max_decky_connections_per_source`) can take all of it. When the decky (or
//!   the service) is full, a newcomer whose source holds fewer of its slots than
//!   the busiest source takes the busiest source's oldest slot: that connection
//!   is aborted as `evicted`. A flood from many sources therefore rotates through
//!   the slots instead of locking everyone else out.
//! - [`RefusalLog`]: per (source, decky, limit) and window, the first refusal is
//!   recorded at once and the rest are counted into one event when the window
//!   closes, so a flood costs an event a minute instead of one per connection.
//! - [`raise_nofile`], [`connection_budget`], [`ConnectionBudget`]: the soft
//!   `RLIMIT_NOFILE` is raised to the hard limit, and decky connections get what
//!   is left after a reserve for the API, the journal and the database, so a
//!   decky flood never makes them fail with EMFILE.
//!
//! Every operation is O(1) or O(log n) in the slots held, under a std mutex that
//! is never held across an await.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use decnet_core::catalog::ListenerInfo;
use decnet_core::config::model::Limits;
use decnet_core::{Event, EventType};
use decnet_services::service::SessionAbort;
use decnet_services::DeckyRuntime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock, so the flush task's windows follow paused time in tests.
use tokio::time::Instant;

/// `limit` of a refusal (or eviction) because the decky was full.
pub const MAX_PER_DECKY: &str = "max_connections_per_decky";
/// `limit` of a refusal (or eviction) because the service of the decky was full.
pub const MAX_PER_SERVICE: &str = "max_connections_per_service";
/// `limit` of a refusal because the source holds `max_connections_per_source` on this host.
pub const MAX_PER_SOURCE: &str = "max_connections_per_source";
/// `limit` of a refusal because the source already holds its share of the decky.
pub const MAX_DECKY_PER_SOURCE: &str = "max_decky_connections_per_source";
/// `limit` of a refusal because the engine's descriptor budget is spent.
pub const MAX_OPEN_FILES: &str = "max_open_files";
/// `disconnect` reason of a connection whose slot a fairer newcomer took.
pub const REASON_EVICTED: &str = "evicted";

/// A limit that was hit, and its value: the `limit` and `max` fields of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Name of the limit (`max_connections_per_decky`, …).
    pub limit: &'static str,
    /// Its configured value.
    pub max: u64,
}

/// The connections one pool (the decky, or one service of it) holds, by source.
#[derive(Debug, Default)]
struct Pool {
    held: u32,
    /// Per source, its connections by admission number: the first is the oldest.
    by_source: HashMap<IpAddr, BTreeSet<u64>>,
    /// (connections held, source), so the busiest source is the last.
    rank: BTreeSet<(u32, IpAddr)>,
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Pool {
    fn count(&self, ip: IpAddr) -> u32 {
        self.by_source.get(&ip).map_or(0, |s| len32(s.len()))
    }

    fn insert(&mut self, ip: IpAddr, seq: u64) {
        let set = self.by_source.entry(ip).or_default();
        let before = len32(set.len());
        if !set.insert(seq) {
            return;
        }
        self.rank.remove(&(before, ip));
        self.rank.insert((before.saturating_add(1), ip));
        self.held = self.held.saturating_add(1);
    }

    fn remove(&mut self, ip: IpAddr, seq: u64) {
        let Some(set) = self.by_source.get_mut(&ip) else {
            return;
        };
        let before = len32(set.len());
        if !set.remove(&seq) {
            return;
        }
        self.rank.remove(&(before, ip));
        if set.is_empty() {
            self.by_source.remove(&ip);
        } else {
            self.rank.insert((before.saturating_sub(1), ip));
        }
        self.held = self.held.saturating_sub(1);
    }

    /// How many slots the busiest source holds, and its oldest connection.
    fn busiest_oldest(&self) -> Option<(u32, u64)> {
        let &(n, ip) = self.rank.last()?;
        let seq = *self.by_source.get(&ip)?.first()?;
        Some((n, seq))
    }
}

/// One admitted connection, as the table knows it.
#[derive(Debug)]
struct Member {
    ip: IpAddr,
    service: &'static str,
    abort: SessionAbort,
    eviction: Arc<OnceLock<Hit>>,
}

#[derive(Debug, Default)]
struct SlotTable {
    next: u64,
    datagrams: u32,
    members: HashMap<u64, Member>,
    all: Pool,
    services: HashMap<&'static str, Pool>,
}

impl SlotTable {
    /// Takes connection `seq` out of the table; the connection keeps running until
    /// its supervisor sees the abort, but its slot is free at once.
    fn take(&mut self, seq: u64) -> Option<Member> {
        let m = self.members.remove(&seq)?;
        self.all.remove(m.ip, seq);
        if let Some(p) = self.services.get_mut(m.service) {
            p.remove(m.ip, seq);
        }
        Some(m)
    }

    fn evict(&mut self, seq: u64, why: Hit) {
        if let Some(m) = self.take(seq) {
            let _ = m.eviction.set(why);
            m.abort.abort(REASON_EVICTED);
        }
    }
}

/// The connection slots of one decky, shared by its listeners, with fair shares
/// per service and per source.
#[derive(Debug)]
pub struct DeckySlots {
    max_decky: u32,
    max_service: u32,
    max_source: u32,
    table: Mutex<SlotTable>,
}

impl DeckySlots {
    /// The slots of a decky under `limits`.
    pub fn new(limits: &Limits) -> Arc<DeckySlots> {
        Arc::new(DeckySlots {
            max_decky: limits.max_connections_per_decky,
            max_service: limits.max_connections_per_service,
            max_source: limits.max_decky_connections_per_source,
            table: Mutex::new(SlotTable::default()),
        })
    }

    fn hit(limit: &'static str, max: u32) -> Hit {
        Hit {
            limit,
            max: u64::from(max),
        }
    }

    /// Admits a connection from `ip` to `service`, evicting the busiest source's
    /// oldest connection when the service or the decky is full and `ip` holds fewer
    /// slots there than that source; `abort` ends this connection should it be
    /// evicted in turn. Err names the limit that refused it.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        service: &'static str,
        abort: &SessionAbort,
    ) -> Result<DeckySlot, Hit> {
        let decky_full = Self::hit(MAX_PER_DECKY, self.max_decky);
        let mut t = self.table.lock().map_err(|_| decky_full)?;
        if t.all.count(ip) >= self.max_source {
            return Err(Self::hit(MAX_DECKY_PER_SOURCE, self.max_source));
        }
        let service_held = t.services.get(service).map_or(0, |p| p.held);
        if service_held >= self.max_service {
            let why = Self::hit(MAX_PER_SERVICE, self.max_service);
            let victim = t.services.get(service).and_then(|p| {
                let (n, seq) = p.busiest_oldest()?;
                (p.count(ip) < n).then_some(seq)
            });
            // Freeing a slot of the service frees one of the decky too.
            t.evict(victim.ok_or(why)?, why);
        } else if t.all.held.saturating_add(t.datagrams) >= self.max_decky {
            let victim = t.all.busiest_oldest().and_then(|(n, seq)| {
                // Only a source holding fewer slots than the busiest one may take a slot.
                (t.all.count(ip) < n).then_some(seq)
            });
            t.evict(victim.ok_or(decky_full)?, decky_full);
        }
        let seq = t.next;
        t.next = t.next.wrapping_add(1);
        let eviction = Arc::new(OnceLock::new());
        t.members.insert(
            seq,
            Member {
                ip,
                service,
                abort: abort.clone(),
                eviction: eviction.clone(),
            },
        );
        t.all.insert(ip, seq);
        t.services.entry(service).or_default().insert(ip, seq);
        Ok(DeckySlot {
            slots: self.clone(),
            seq,
            eviction,
        })
    }

    /// A slot for answering one datagram, when the decky has one free (never evicts).
    pub fn try_datagram(self: &Arc<Self>) -> Option<DatagramSlot> {
        let mut t = self.table.lock().ok()?;
        if t.all.held.saturating_add(t.datagrams) >= self.max_decky {
            return None;
        }
        t.datagrams = t.datagrams.saturating_add(1);
        Some(DatagramSlot {
            slots: self.clone(),
        })
    }

    /// Slots held now (connections and datagrams being answered).
    pub fn held(&self) -> u32 {
        self.table
            .lock()
            .map_or(0, |t| t.all.held.saturating_add(t.datagrams))
    }

    /// Connections `ip` holds on this decky now.
    pub fn held_by(&self, ip: IpAddr) -> u32 {
        self.table.lock().map_or(0, |t| t.all.count(ip))
    }
}

/// A connection's slot of a decky; released on drop (unless it was evicted, which
/// released it already).
#[derive(Debug)]
pub struct DeckySlot {
    slots: Arc<DeckySlots>,
    seq: u64,
    eviction: Arc<OnceLock<Hit>>,
}

impl DeckySlot {
    /// The limit that was full when a newcomer took this slot, once it did.
    pub fn evicted(&self) -> Option<Hit> {
        self.eviction.get().copied()
    }

    /// A handle that still tells [`DeckySlot::evicted`] after the slot is released.
    pub fn eviction(&self) -> Eviction {
        Eviction(self.eviction.clone())
    }
}

/// Whether a connection was evicted, readable after its [`DeckySlot`] is gone.
#[derive(Debug, Clone)]
pub struct Eviction(Arc<OnceLock<Hit>>);

impl Eviction {
    /// The limit that was full when a newcomer took the slot, once it did.
    pub fn get(&self) -> Option<Hit> {
        self.0.get().copied()
    }
}

impl Drop for DeckySlot {
    fn drop(&mut self) {
        if let Ok(mut t) = self.slots.table.lock() {
            t.take(self.seq);
        }
    }
}

/// A decky slot held while one datagram is answered; released on drop.
#[derive(Debug)]
pub struct DatagramSlot {
    slots: Arc<DeckySlots>,
}

impl Drop for DatagramSlot {
    fn drop(&mut self) {
        if let Ok(mut t) = self.slots.table.lock() {
            t.datagrams = t.datagrams.saturating_sub(1);
        }
    }
}

/// Length of one aggregation window of [`RefusalLog`].
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(60);
/// How often the engine closes due windows of its [`RefusalLog`].
pub const REFUSAL_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// (source, decky, limit) keys a [`RefusalLog`] tracks at once; refusals beyond
/// are counted into one overflow key per decky and limit.
pub const MAX_TRACKED_REFUSALS: usize = 16_384;

/// Where a refusal happened: enough to write its event.
#[derive(Debug, Clone)]
pub struct Site {
    /// The decky.
    pub decky: Arc<DeckyRuntime>,
    /// The listener the peer reached.
    pub listener: &'static ListenerInfo,
    /// The refused peer.
    pub peer: SocketAddr,
    /// The decky address it reached.
    pub local: SocketAddr,
}

/// What to do about one refusal, as decided by [`RefusalLog::note`].
#[derive(Debug)]
pub enum Noted {
    /// The first of its window: record it now.
    Record,
    /// Counted into the window's aggregate: record nothing now.
    Counted,
    /// Counted into a new window; the previous window's count is due now.
    Flush(Aggregate),
}

/// The refusals of one (source, decky, limit) in one window after its first.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The last refusal's site (source 0.0.0.0 for the overflow key).
    pub site: Site,
    /// The limit hit.
    pub hit: Hit,
    /// Refusals since the last event of this key.
    pub count: u64,
    /// The window length.
    pub window: Duration,
    /// Whether this counts refusals of sources beyond the tracked ones.
    pub overflow: bool,
}

impl Aggregate {
    /// The `limit_exceeded` event carrying the count (its own one-event session).
    pub fn event(&self) -> Event {
        let peer = if self.overflow {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        } else {
            self.site.peer
        };
        let mut e = Event::now(
            self.site.decky.config.name.clone(),
            self.site.listener.name,
            EventType::LimitExceeded,
            peer,
            self.site.local,
        );
        e.session_id = Some(uuid::Uuid::now_v7());
        e.fields.insert("limit".into(), self.hit.limit.into());
        e.fields.insert("max".into(), self.hit.max.into());
        e.fields.insert("count".into(), self.count.into());
        e.fields
            .insert("window_secs".into(), self.window.as_secs().into());
        if self.overflow {
            e.fields.insert("overflow".into(), true.into());
        }
        e
    }
}

#[derive(Debug)]
struct Tally {
    start: Instant,
    pending: u64,
    max: u64,
    site: Site,
}

#[derive(Debug, Default)]
struct RefusalTable {
    tracked: usize,
    /// Per decky name, per (source, limit).
    deckies: HashMap<String, HashMap<(IpAddr, &'static str), Tally>>,
}

/// Repeated refusals per (source IP, decky, limit) and window, counted instead of
/// recorded one by one.
#[derive(Debug)]
pub struct RefusalLog {
    window: Duration,
    cap: usize,
    table: Mutex<RefusalTable>,
    /// Wakes the flush task when the first key arrives, so an engine without
    /// refusals has no timer ticking.
    first_key: tokio::sync::Notify,
}

const OVERFLOW_IP: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl RefusalLog {
    /// A log with windows of `window`, tracking at most `cap` keys.
    pub fn new(window: Duration, cap: usize) -> Arc<RefusalLog> {
        Arc::new(RefusalLog {
            window,
            cap,
            table: Mutex::new(RefusalTable::default()),
            first_key: tokio::sync::Notify::new(),
        })
    }

    /// Counts a refusal at `site` for `hit` at `now`.
    pub fn note(&self, site: &Site, hit: Hit, now: Instant) -> Noted {
        let Ok(mut t) = self.table.lock() else {
            return Noted::Record;
        };
        let t = &mut *t;
        let name = site.decky.config.name.as_str();
        let ip = site.peer.ip();
        let known = t
            .deckies
            .get(name)
            .is_some_and(|m| m.contains_key(&(ip, hit.limit)));
        let key_ip = if !known && t.tracked >= self.cap {
            OVERFLOW_IP
        } else {
            ip
        };
        if !t.deckies.contains_key(name) {
            t.deckies.insert(name.to_owned(), HashMap::new());
        }
        let Some(keys) = t.deckies.get_mut(name) else {
            return Noted::Record;
        };
        let Some(tally) = keys.get_mut(&(key_ip, hit.limit)) else {
            keys.insert(
                (key_ip, hit.limit),
                Tally {
                    start: now,
                    pending: 0,
                    max: hit.max,
                    site: site.clone(),
                },
            );
            t.tracked = t.tracked.saturating_add(1);
            if t.tracked == 1 {
                self.first_key.notify_one();
            }
            return Noted::Record;
        };
        let noted = if now.saturating_duration_since(tally.start) < self.window {
            tally.pending = tally.pending.saturating_add(1);
            Noted::Counted
        } else if tally.pending > 0 {
            let due = Aggregate {
                site: tally.site.clone(),
                hit: Hit {
                    limit: hit.limit,
                    max: tally.max,
                },
                count: tally.pending,
                window: self.window,
                overflow: key_ip == OVERFLOW_IP,
            };
            tally.start = now;
            tally.pending = 1;
            Noted::Flush(due)
        } else {
            // The window closed quietly: this one opens a new window, recorded at once.
            tally.start = now;
            Noted::Record
        };
        tally.site = site.clone();
        tally.max = hit.max;
        noted
    }

    /// Closes every window that ended by `now` (every window at all when `all`, for
    /// shutdown) and returns the counts due; keys whose window closed without
    /// further refusals are forgotten.
    pub fn flush(&self, now: Instant, all: bool) -> Vec<Aggregate> {
        let Ok(mut t) = self.table.lock() else {
            return Vec::new();
        };
        let t = &mut *t;
        let mut due = Vec::new();
        let mut forgotten = 0usize;
        for keys in t.deckies.values_mut() {
            keys.retain(|&(ip, limit), tally| {
                let closed = all || now.saturating_duration_since(tally.start) >= self.window;
                if !closed {
                    return true;
                }
                if tally.pending == 0 {
                    forgotten += 1;
                    return false;
                }
                due.push(Aggregate {
                    site: tally.site.clone(),
                    hit: Hit {
                        limit,
                        max: tally.max,
                    },
                    count: tally.pending,
                    window: self.window,
                    overflow: ip == OVERFLOW_IP,
                });
                // The flood may go on: the next window counts from here.
                tally.start = now;
                tally.pending = 0;
                true
            });
        }
        t.deckies.retain(|_, keys| !keys.is_empty());
        t.tracked = t.tracked.saturating_sub(forgotten);
        due
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.table.lock().map_or(0, |t| t.tracked)
    }
}

/// Reports the counts of closed windows every [`REFUSAL_FLUSH_EVERY`] while the
/// log tracks any key, until `cancel`; the engine's shutdown flushes what is left.
pub async fn flush_refusals(
    log: Arc<RefusalLog>,
    emitter: decnet_services::Emitter,
    cancel: tokio_util::sync::CancellationToken,
) {
    loop {
        if log.tracked() == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = log.first_key.notified() => {}
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(REFUSAL_FLUSH_EVERY) => {}
        }
        for due in log.flush(Instant::now(), false) {
            emitter.emit(due.event()).await;
        }
    }
}

/// Descriptors kept back from decky connections: 512 for the API's connection
/// cap, 128 for the journal, the database pool, the bus and files.
pub const RESERVED_DESCRIPTORS: u64 = 512 + 128;
/// Soft limit assumed when `RLIMIT_NOFILE` cannot be read (the usual default).
const FALLBACK_NOFILE: u64 = 1024;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit
/// now in force. Failing to raise it is logged and leaves the old limit.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the open-file limit");
                hard
            }
            Err(error) => {
                tracing::warn!(soft, hard, %error, "cannot raise the open-file limit to the hard limit; decky connections get less room (raise it with `ulimit -n` or LimitNOFILE= in the service unit)");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(%error, assumed = FALLBACK_NOFILE, "cannot read the open-file limit");
            FALLBACK_NOFILE
        }
    }
}

/// The soft `RLIMIT_NOFILE` in force.
pub fn nofile_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(FALLBACK_NOFILE, |(soft, _)| soft)
}

/// Decky connections the engine may hold at once under an open-file limit of
/// `nofile` with `listeners` listening sockets: what is left after
/// [`RESERVED_DESCRIPTORS`], but never less than a quarter of the limit (a tiny
/// limit then cuts into the reserve, with a warning).
pub fn connection_budget(nofile: u64, listeners: u64) -> u64 {
    let left = nofile.saturating_sub(RESERVED_DESCRIPTORS.saturating_add(listeners));
    let floor = nofile / 4;
    if left < floor {
        tracing::warn!(
            nofile,
            reserved = RESERVED_DESCRIPTORS,
            listeners,
            budget = floor,
            "the open-file limit is too low to keep descriptors in reserve for the API, journal and database; raise the hard limit (`ulimit -Hn`, or LimitNOFILE= in the service unit)"
        );
        return floor;
    }
    left
}

/// The engine's budget of concurrent decky connections (each holds a descriptor).
#[derive(Debug)]
pub struct ConnectionBudget {
    max: u64,
    permits: Arc<Semaphore>,
}

impl ConnectionBudget {
    /// A budget of `max` connections.
    pub fn new(max: u64) -> Arc<ConnectionBudget> {
        let permits = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Arc::new(ConnectionBudget {
            max,
            permits: Arc::new(Semaphore::new(permits)),
        })
    }

    /// A permit for one connection, held until it closes; Err when the budget is spent.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, Hit> {
        self.permits.clone().try_acquire_owned().map_err(|_| Hit {
            limit: MAX_OPEN_FILES,
            max: self.max,
        })
    }

    /// The budget.
    pub fn max(&self) -> u64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::{distro, OsFamily};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits(decky: u32, service: u32, source: u32) -> Limits {
        Limits {
            max_connections_per_decky: decky,
            max_connections_per_service: service,
            max_decky_connections_per_source: source,
            ..Limits::DEFAULT
        }
    }

    #[test]
    fn a_source_is_held_to_its_share_of_the_decky() {
        let s = DeckySlots::new(&limits(10, 10, 2));
        let a = SessionAbort::default();
        let _x = s.admit(ip("10.0.0.1"), "ssh", &a).unwrap();
        let y = s.admit(ip("10.0.0.1"), "http", &a).unwrap();
        let err = s.admit(ip("10.0.0.1"), "ssh", &a).unwrap_err();
        assert_eq!(
            err,
            Hit {
                limit: MAX_DECKY_PER_SOURCE,
                max: 2
            }
        );
        assert!(s.admit(ip("10.0.0.2"), "ssh", &a).is_ok());
        drop(y);
        assert_eq!(s.held_by(ip("10.0.0.1")), 1);
        assert!(s.admit(ip("10.0.0.1"), "ssh", &a).is_ok());
    }

    #[test]
    fn a_full_decky_evicts_the_busiest_sources_oldest_connection() {
        let s = DeckySlots::new(&limits(3, 10, 10));
        let aborts: Vec<SessionAbort> = (0..4).map(|_| SessionAbort::default()).collect();
        let busy_old = s.admit(ip("10.0.0.1"), "ssh", &aborts[0]).unwrap();
        let busy_new = s.admit(ip("10.0.0.1"), "ssh", &aborts[1]).unwrap();
        let other = s.admit(ip("10.0.0.2"), "ssh", &aborts[2]).unwrap();
        // 10.0.0.2 holds one slot, the busiest holds two: it may take one.
        let fresh = s.admit(ip("10.0.0.2"), "http", &aborts[3]).unwrap();
        assert_eq!(aborts[0].reason(), Some(REASON_EVICTED));
        assert_eq!(
            busy_old.evicted(),
            Some(Hit {
                limit: MAX_PER_DECKY,
                max: 3
            })
        );
        assert!(!aborts[1].is_aborted() && !aborts[2].is_aborted());
        assert_eq!(busy_new.evicted(), None);
        assert_eq!(s.held(), 3);
        // Now 10.0.0.2 is the busiest source: it takes nothing more.
        let err = s
            .admit(ip("10.0.0.2"), "ssh", &SessionAbort::default())
            .unwrap_err();
        assert_eq!(err.limit, MAX_PER_DECKY);
        // The evicted connection's own close releases nothing twice.
        drop(busy_old);
        assert_eq!(s.held(), 3);
        drop((busy_new, other, fresh));
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_full_service_evicts_within_the_service_and_leaves_the_others_room() {
        let s = DeckySlots::new(&limits(10, 2, 10));
        let first = SessionAbort::default();
        let _a = s.admit(ip("10.0.0.1"), "http", &first).unwrap();
        let _b = s
            .admit(ip("10.0.0.2"), "http", &SessionAbort::default())
            .unwrap();
        // Another service of the decky is not affected by the full one.
        let _c = s
            .admit(ip("10.0.0.1"), "ssh", &SessionAbort::default())
            .unwrap();
        // A fresh source on the full service takes the busiest source's slot there.
        // 10.0.0.1 and .2 hold one http slot each; the tie goes to the higher address.
        let _d = s
            .admit(ip("10.0.0.3"), "http", &SessionAbort::default())
            .unwrap();
        assert!(!first.is_aborted());
        assert_eq!(s.held(), 3);
        // A source already holding as many http slots as the busiest is refused.
        let err = s
            .admit(ip("10.0.0.1"), "http", &SessionAbort::default())
            .unwrap_err();
        assert_eq!(
            err,
            Hit {
                limit: MAX_PER_SERVICE,
                max: 2
            }
        );
    }

    #[test]
    fn datagrams_share_the_decky_cap_and_are_never_evicted() {
        let s = DeckySlots::new(&limits(2, 10, 10));
        let d = s.try_datagram().unwrap();
        let _c = s
            .admit(ip("10.0.0.1"), "ssh", &SessionAbort::default())
            .unwrap();
        assert!(s.try_datagram().is_none());
        // The decky is full; the only connection's source holds 1, a fresh one 0: evict.
        let _e = s
            .admit(ip("10.0.0.2"), "ssh", &SessionAbort::default())
            .unwrap();
        assert_eq!(s.held(), 2);
        drop(d);
        assert_eq!(s.held(), 1);
    }

    #[test]
    fn bookkeeping_is_empty_again_once_every_slot_is_released() {
        let s = DeckySlots::new(&limits(4, 3, 2));
        let mut held = Vec::new();
        for i in 0..50u8 {
            let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i % 7));
            let svc = if i % 3 == 0 { "ssh" } else { "http" };
            if let Ok(slot) = s.admit(src, svc, &SessionAbort::default()) {
                held.push(slot);
            }
            assert!(s.held() <= 4);
        }
        drop(held);
        let t = s.table.lock().unwrap();
        assert!(t.members.is_empty() && t.all.by_source.is_empty() && t.all.rank.is_empty());
        assert!(t
            .services
            .values()
            .all(|p| p.held == 0 && p.by_source.is_empty()));
    }

    fn site(peer: &str) -> Site {
        static L: ListenerInfo = ListenerInfo::tcp("ssh", 22);
        Site {
            decky: Arc::new(DeckyRuntime {
                config: decnet_core::config::model::DeckyConfig {
                    name: "d1".into(),
                    ip: ip("127.42.0.10"),
                    hostname: "d1".into(),
                    os_family: OsFamily::Linux,
                    distro: distro("debian").unwrap(),
                    windows: None,
                    archetype: None,
                    services: Vec::new(),
                },
                seed: decnet_core::seed::InstanceSeed::derive_for(b"k", "d1"),
                data_dir: "/nonexistent".into(),
                limits: Limits::DEFAULT,
                bait: Default::default(),
                prefix: 24,
            }),
            listener: &L,
            peer: peer.parse().unwrap(),
            local: "127.42.0.10:22".parse().unwrap(),
        }
    }

    const HIT: Hit = Hit {
        limit: MAX_PER_DECKY,
        max: 8,
    };

    #[test]
    fn the_first_refusal_is_recorded_and_the_rest_are_counted_per_window() {
        let log = RefusalLog::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let s = site("203.0.113.5:40000");
        assert!(matches!(log.note(&s, HIT, t0), Noted::Record));
        for i in 0..9 {
            let at = t0 + Duration::from_secs(i);
            assert!(matches!(log.note(&s, HIT, at), Noted::Counted));
        }
        // Another source, or another limit, is its own key.
        assert!(matches!(
            log.note(&site("203.0.113.6:1"), HIT, t0),
            Noted::Record
        ));
        let other = Hit {
            limit: MAX_DECKY_PER_SOURCE,
            max: 2,
        };
        assert!(matches!(log.note(&s, other, t0), Noted::Record));
        assert!(log.flush(t0 + Duration::from_secs(59), false).is_empty());
        let due = log.flush(t0 + Duration::from_secs(60), false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 9);
        let e = due[0].event();
        assert_eq!(e.event_type, EventType::LimitExceeded);
        assert_eq!(e.src_ip, ip("203.0.113.5"));
        assert_eq!(e.fields["count"], 9);
        assert_eq!(e.fields["window_secs"], 60);
        assert_eq!(e.fields["limit"], MAX_PER_DECKY);
        assert_eq!(e.fields["max"], 8);
        // The quiet keys were forgotten; the flooded one goes on counting.
        assert_eq!(log.tracked(), 1);
        let t1 = t0 + Duration::from_secs(61);
        assert!(matches!(log.note(&s, HIT, t1), Noted::Counted));
        // A window that closes quietly forgets its key: the next refusal is recorded at once.
        let due = log.flush(t0 + Duration::from_secs(120), false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 1);
        assert!(log.flush(t0 + Duration::from_secs(180), false).is_empty());
        assert_eq!(log.tracked(), 0);
        assert!(matches!(
            log.note(&s, HIT, t0 + Duration::from_secs(181)),
            Noted::Record
        ));
    }

    #[test]
    fn a_refusal_after_an_unflushed_window_brings_its_count_due() {
        let log = RefusalLog::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let s = site("203.0.113.5:40000");
        log.note(&s, HIT, t0);
        log.note(&s, HIT, t0);
        log.note(&s, HIT, t0);
        match log.note(&s, HIT, t0 + Duration::from_secs(60)) {
            Noted::Flush(a) => assert_eq!(a.count, 2),
            other => panic!("expected the closed window's count, got {other:?}"),
        }
        // This refusal is the first count of the new window.
        let due = log.flush(t0, true);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 1);
    }

    #[test]
    fn shutdown_flushes_every_pending_count() {
        let log = RefusalLog::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let s = site("203.0.113.5:40000");
        log.note(&s, HIT, t0);
        assert!(log.flush(t0, true).is_empty(), "nothing pending yet");
        for _ in 0..3 {
            log.note(&s, HIT, t0);
        }
        // The first of the three opened a new window and was recorded at once.
        let due = log.flush(t0, true);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 2);
        assert_eq!(log.tracked(), 1);
    }

    #[test]
    fn keys_beyond_the_cap_are_counted_into_one_overflow_key() {
        let log = RefusalLog::new(Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for i in 0..4 {
            log.note(&site(&format!("203.0.113.{i}:1")), HIT, t0);
        }
        // The first untracked source opens the overflow key; the rest count into it.
        assert!(matches!(
            log.note(&site("198.51.100.1:1"), HIT, t0),
            Noted::Record
        ));
        for i in 2..100 {
            let s = site(&format!("198.51.100.{i}:1"));
            assert!(matches!(log.note(&s, HIT, t0), Noted::Counted));
        }
        assert_eq!(log.tracked(), 5);
        // A tracked source keeps its own key.
        assert!(matches!(
            log.note(&site("203.0.113.0:1"), HIT, t0),
            Noted::Counted
        ));
        let due: Vec<Aggregate> = log
            .flush(t0, true)
            .into_iter()
            .filter(|a| a.overflow)
            .collect();
        assert_eq!(due.len(), 1);
        assert!(due[0].overflow);
        assert_eq!(due[0].count, 98);
        let e = due[0].event();
        assert_eq!(e.src_ip, OVERFLOW_IP);
        assert_eq!(e.fields["overflow"], true);
    }

    #[tokio::test(start_paused = true)]
    async fn the_flush_task_reports_a_window_once_it_closes() {
        let log = RefusalLog::new(REFUSAL_WINDOW, 100);
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let cancel = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(flush_refusals(
            log.clone(),
            decnet_services::Emitter::new(tx),
            cancel.clone(),
        ));
        let s = site("203.0.113.5:40000");
        let t0 = Instant::now();
        assert!(matches!(log.note(&s, HIT, t0), Noted::Record));
        for _ in 0..5 {
            log.note(&s, HIT, t0);
        }
        tokio::time::sleep(REFUSAL_WINDOW - Duration::from_secs(2)).await;
        assert!(rx.try_recv().is_err(), "the window is still open");
        let e = tokio::time::timeout(REFUSAL_WINDOW, rx.recv())
            .await
            .expect("the count is reported once the window closes")
            .unwrap();
        assert!(t0.elapsed() >= REFUSAL_WINDOW);
        assert!(t0.elapsed() <= REFUSAL_WINDOW + REFUSAL_FLUSH_EVERY);
        assert_eq!(e.fields["count"], 5);
        assert_eq!(e.fields["window_secs"], 60);
        cancel.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_budget_keeps_the_reserve_and_a_floor() {
        assert_eq!(
            connection_budget(1_048_576, 10),
            1_048_576 - RESERVED_DESCRIPTORS - 10
        );
        assert_eq!(connection_budget(1024, 4), 1024 - 644);
        assert_eq!(connection_budget(256, 4), 64);
    }

    #[test]
    fn the_connection_budget_refuses_past_its_max() {
        let b = ConnectionBudget::new(2);
        let x = b.take().unwrap();
        let _y = b.take().unwrap();
        assert_eq!(
            b.take().unwrap_err(),
            Hit {
                limit: MAX_OPEN_FILES,
                max: 2
            }
        );
        drop(x);
        assert!(b.take().is_ok());
    }

    #[test]
    fn raising_the_open_file_limit_reaches_the_hard_limit() {
        let now = raise_nofile();
        assert_eq!(now, nofile_limit());
        let (_, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(now, hard);
    }
}

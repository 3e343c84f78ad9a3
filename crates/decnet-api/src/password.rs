//! Argon2 behind a gate: at most [`HASH_CONCURRENCY`] hashes run at once, on
//! the blocking pool, each in one of as many reused memory buffers; at most
//! [`HASH_QUEUE`] more wait, and anything beyond is refused at once
//! ([`Busy`]) instead of queueing without bound.
//!
//! Why: argon2id with the default parameters fills `m_cost` = 19 MiB per hash.
//! 200 concurrent logins each allocating their own took the process from
//! 154 MB to 4 GB, and the allocator kept most of it. Here the hashing memory
//! of the whole process is `HASH_CONCURRENCY × 19 MiB` (76 MiB), allocated on
//! first use and reused, whatever the load and however many threads the
//! blocking pool has spun up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use decnet_core::throttle::Throttle;
use rand::RngCore as _;
use tokio::sync::Semaphore;

/// Hashes that run at once (each holds [`hash_memory_bytes`] of memory).
pub const HASH_CONCURRENCY: usize = 4;
/// Callers that may wait for a hashing slot; beyond it they are refused.
pub const HASH_QUEUE: usize = 64;
/// Seconds a refused caller is told to wait.
pub const BUSY_RETRY_AFTER: u64 = 1;

/// Bytes of memory one hash with DECNET's parameters fills.
pub const fn hash_memory_bytes() -> usize {
    Params::DEFAULT.block_count() * Block::SIZE
}

/// The gate is full: too many hashes are running or waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is saturated; retry in {BUSY_RETRY_AFTER} s")]
pub struct Busy;

/// A hashing failure: the gate was full, or argon2 refused its input.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes running and waiting.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// argon2 itself failed (bad stored hash, bad parameters, a lost task).
    #[error("argon2: {0}")]
    Argon2(String),
}

struct Gate {
    slots: Semaphore,
    waiting: AtomicUsize,
    buffers: Mutex<Vec<Vec<Block>>>,
    /// The "saturated" warning, once a minute with the refusals since.
    busy: Mutex<Throttle>,
}

/// How often the "saturated" warning may repeat.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Gate {
    /// One warning a minute, with the count refused since the last one.
    fn warn_busy(&self) {
        if let Some(refused) = lock(&self.busy).hit(std::time::Instant::now()) {
            tracing::warn!(
                running = HASH_CONCURRENCY,
                waiting = HASH_QUEUE,
                refused,
                "password checks saturated (a login flood?); refusing more with 503 until the queue drains"
            );
        }
    }
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate {
        slots: Semaphore::new(HASH_CONCURRENCY),
        waiting: AtomicUsize::new(0),
        buffers: Mutex::new(Vec::new()),
        busy: Mutex::new(Throttle::new(WARN_EVERY)),
    })
}

/// Decrements the waiting count however the wait ends (also when the
/// caller's future is dropped mid-wait).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f` on the blocking pool with a hashing buffer, once a slot is free.
async fn with_memory<R: Send + 'static>(
    f: impl FnOnce(&mut Vec<Block>) -> R + Send + 'static,
) -> Result<R, HashError> {
    let g = gate();
    let permit = match g.slots.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            if g.waiting.fetch_add(1, Ordering::AcqRel) >= HASH_QUEUE {
                g.waiting.fetch_sub(1, Ordering::AcqRel);
                g.warn_busy();
                return Err(Busy.into());
            }
            let _waiting = Waiting(&g.waiting);
            // The semaphore is never closed.
            g.slots
                .acquire()
                .await
                .map_err(|e| HashError::Argon2(e.to_string()))?
        }
    };
    // The permit and the buffer travel with the blocking task: if the caller
    // goes away (a client hanging up mid-login drops this future), the hash
    // still holds its slot until it finishes, so no more than
    // HASH_CONCURRENCY buffers ever exist.
    tokio::task::spawn_blocking(move || {
        let mut buf = lock(&g.buffers).pop().unwrap_or_default();
        let r = f(&mut buf);
        lock(&g.buffers).push(buf);
        drop(permit);
        r
    })
    .await
    // A panic inside argon2: its buffer is freed with the task and the next
    // caller allocates anew.
    .map_err(|e| HashError::Argon2(format!("hashing task failed: {e}")))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first `blocks` blocks of `buf`, growing it when a hash needs more.
fn memory(buf: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if buf.len() < blocks {
        buf.resize(blocks, Block::new());
    }
    buf.get_mut(..blocks).unwrap_or_default()
}

fn hash_with(buf: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let e = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let params = Params::DEFAULT;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            memory(buf, params.block_count()),
        )
        .map_err(|x| e(&x))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|x| e(&x))?,
        salt: Some(Salt::new(&salt).map_err(|x| e(&x))?),
        hash: Some(Output::new(&out).map_err(|x| e(&x))?),
    };
    Ok(phc.to_string())
}

fn verify_with(buf: &mut Vec<Block>, password: &[u8], hash: &str) -> Result<bool, HashError> {
    let e = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let phc = PasswordHash::new(hash).map_err(|x| e(&x))?;
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return Err(HashError::Argon2(
            "stored hash has no salt or output".into(),
        ));
    };
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|x| e(&x))?;
    let version = phc
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|x| e(&x))?
        .unwrap_or_default();
    let params = Params::try_from(&phc).map_err(|x| e(&x))?;
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    argon
        .hash_password_into_with_memory(password, salt, &mut out, memory(buf, blocks))
        .map_err(|x| e(&x))?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|x| e(&x))? == *expected)
}

/// A real hash of a random password nobody knows, made once.
fn dummy_hash(buf: &mut Vec<Block>) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut pw = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut pw);
        hash_with(buf, &pw).unwrap_or_default()
    })
}

/// Hashes `password` (argon2id, default parameters) through the gate.
pub async fn hash(password: String) -> Result<String, HashError> {
    with_memory(move |buf| hash_with(buf, password.as_bytes())).await?
}

/// Checks `password` against `hash` through the gate; `None` checks against
/// a dummy hash so an unknown user costs the same time and memory.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, HashError> {
    with_memory(move |buf| match hash {
        Some(h) => verify_with(buf, password.as_bytes(), &h),
        None => {
            let dummy = dummy_hash(buf);
            verify_with(buf, password.as_bytes(), dummy).map(|_| false)
        }
    })
    .await?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use argon2::PasswordVerifier as _;

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_and_verify_both_ways() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // argon2's own verifier accepts ours…
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", h.as_str())
            .is_ok());
        // …and ours accepts argon2's.
        let theirs = {
            use argon2::PasswordHasher as _;
            Argon2::default()
                .hash_password(b"another one")
                .unwrap()
                .to_string()
        };
        assert!(verify("another one".into(), Some(theirs.clone()))
            .await
            .unwrap());
        assert!(!verify("another two".into(), Some(theirs)).await.unwrap());
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
        assert!(verify("x".into(), Some("not a hash".into())).await.is_err());
    }

    #[test]
    fn one_hash_fills_19_mib() {
        assert_eq!(hash_memory_bytes(), 19 * 1024 * 1024);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_keeps_its_slot_until_its_hash_ends() {
        let g = gate();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let caller = tokio::spawn(with_memory(move |_| {
            let _ = wait.recv();
        }));
        while g.slots.available_permits() == HASH_CONCURRENCY {
            tokio::task::yield_now().await;
        }
        // The client hung up: its request future is dropped mid-hash…
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        // …but the hash still runs, and still holds its slot.
        assert_eq!(g.slots.available_permits(), HASH_CONCURRENCY - 1);
        release.send(()).unwrap();
        let all = g.slots.acquire_many(HASH_CONCURRENCY as u32).await.unwrap();
        drop(all);
        assert!(lock(&g.buffers).len() <= HASH_CONCURRENCY);
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_callers_are_refused_at_once() {
        let g = gate();
        // Hold every slot, then fill the queue with waiters.
        let held: Vec<_> = (0..HASH_CONCURRENCY)
            .map(|_| g.slots.try_acquire().unwrap())
            .collect();
        let waiters: Vec<_> = (0..HASH_QUEUE)
            .map(|_| tokio::spawn(hash("queued password".into())))
            .collect();
        while g.waiting.load(Ordering::Acquire) < HASH_QUEUE {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hash("one too many".into()).await,
            Err(HashError::Busy(Busy))
        ));
        drop(held);
        for w in waiters {
            assert!(w.await.unwrap().is_ok(), "a queued caller is served");
        }
        assert_eq!(g.waiting.load(Ordering::Acquire), 0);
        assert!(lock(&g.buffers).len() <= HASH_CONCURRENCY);
    }
}

//! One decky's fake keyspace: 16 databases of strings, hashes and lists with
//! expiry, seeded from the bait world and shared by every connection, as one
//! `redis-server` is. Writes are bounded: past [`MAX_BYTES`] of keys and values
//! a write is refused with Redis's own OOM error, whoever sends it.
//!
//! Pure data: times are passed in (milliseconds since the epoch), nothing here
//! reads a clock or touches the network.

use std::collections::BTreeMap;

/// Databases, as `databases 16` in Debian's redis.conf.
pub const DATABASES: usize = 16;
/// Most bytes of keys and values one decky's keyspace holds.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// What a refused write answers (Redis's `shared.oomerr`).
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// What an operation on the wrong type answers.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// A value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(Vec<u8>),
    /// A hash, fields in insertion order.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A list.
    List(Vec<Vec<u8>>),
}

impl Value {
    /// `TYPE`'s answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
        }
    }

    fn size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 16).sum(),
            Value::List(l) => l.iter().map(|v| v.len() + 8).sum(),
        }
    }
}

/// A key's value and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// When it expires (ms since the epoch).
    pub expires_at: Option<i64>,
}

/// The keyspace.
#[derive(Debug, Clone)]
pub struct Keyspace {
    dbs: Vec<BTreeMap<Vec<u8>, Entry>>,
    bytes: usize,
    cap: usize,
    /// Writes since the last SAVE (`rdb_changes_since_last_save`).
    pub dirty: u64,
}

impl Default for Keyspace {
    fn default() -> Keyspace {
        Keyspace::new(MAX_BYTES)
    }
}

fn entry_size(key: &[u8], e: &Entry) -> usize {
    key.len() + e.value.size() + 48
}

impl Keyspace {
    /// An empty keyspace holding at most `cap` bytes.
    pub fn new(cap: usize) -> Keyspace {
        Keyspace {
            dbs: vec![BTreeMap::new(); DATABASES],
            bytes: 0,
            cap,
            dirty: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether no database holds a key.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(BTreeMap::is_empty)
    }

    fn db_mut(&mut self, db: usize) -> Option<&mut BTreeMap<Vec<u8>, Entry>> {
        self.dbs.get_mut(db)
    }

    /// Drops `key` if it has expired.
    fn expire_one(&mut self, db: usize, key: &[u8], now: i64) {
        let gone = self
            .dbs
            .get(db)
            .and_then(|d| d.get(key))
            .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now));
        if gone {
            self.remove(db, key);
        }
    }

    /// Drops every expired key of `db`.
    fn expire_db(&mut self, db: usize, now: i64) {
        let dead: Vec<Vec<u8>> = self
            .dbs
            .get(db)
            .map(|d| {
                d.iter()
                    .filter(|(_, e)| e.expires_at.is_some_and(|t| t <= now))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        for k in dead {
            self.remove(db, &k);
        }
    }

    /// The live entry of `key`.
    pub fn get(&mut self, db: usize, key: &[u8], now: i64) -> Option<&Entry> {
        self.expire_one(db, key, now);
        self.dbs.get(db).and_then(|d| d.get(key))
    }

    /// Stores `value` under `key` (replacing it), keeping or setting its expiry.
    /// `Err` with the OOM text when the keyspace would pass its cap.
    pub fn put(
        &mut self,
        db: usize,
        key: &[u8],
        value: Value,
        expires_at: Option<i64>,
    ) -> Result<(), &'static str> {
        let e = Entry { value, expires_at };
        let old = self
            .dbs
            .get(db)
            .and_then(|d| d.get(key))
            .map_or(0, |o| entry_size(key, o));
        let new = entry_size(key, &e);
        if self.bytes - old + new > self.cap {
            return Err(OOM);
        }
        let Some(d) = self.db_mut(db) else {
            return Err("ERR DB index is out of range");
        };
        d.insert(key.to_vec(), e);
        self.bytes = self.bytes - old + new;
        self.dirty += 1;
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(d) = self.db_mut(db) else {
            return false;
        };
        match d.remove(key) {
            Some(e) => {
                self.bytes = self.bytes.saturating_sub(entry_size(key, &e));
                self.dirty += 1;
                true
            }
            None => false,
        }
    }

    /// Sets or clears the expiry of a live key; whether it was there.
    pub fn set_expiry(&mut self, db: usize, key: &[u8], at: Option<i64>, now: i64) -> bool {
        self.expire_one(db, key, now);
        match self.db_mut(db).and_then(|d| d.get_mut(key)) {
            Some(e) => {
                e.expires_at = at;
                self.dirty += 1;
                true
            }
            None => false,
        }
    }

    /// The live keys of `db`, in the order SCAN and KEYS walk them.
    pub fn keys(&mut self, db: usize, now: i64) -> Vec<Vec<u8>> {
        self.expire_db(db, now);
        let mut keys: Vec<Vec<u8>> = self
            .dbs
            .get(db)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        // A hash table's order, not a sorted one.
        keys.sort_by_key(|k| fnv(k));
        keys
    }

    /// Keys in `db` and how many of them expire.
    pub fn counts(&mut self, db: usize, now: i64) -> (usize, usize) {
        self.expire_db(db, now);
        self.dbs.get(db).map_or((0, 0), |d| {
            (
                d.len(),
                d.values().filter(|e| e.expires_at.is_some()).count(),
            )
        })
    }

    /// Average remaining TTL (ms) of the expiring keys of `db` (INFO keyspace's `avg_ttl`).
    pub fn avg_ttl(&self, db: usize, now: i64) -> i64 {
        let ttls: Vec<i64> = self
            .dbs
            .get(db)
            .map(|d| {
                d.values()
                    .filter_map(|e| e.expires_at)
                    .map(|t| (t - now).max(0))
                    .collect()
            })
            .unwrap_or_default();
        if ttls.is_empty() {
            0
        } else {
            ttls.iter().sum::<i64>() / i64::try_from(ttls.len()).unwrap_or(1)
        }
    }

    /// Empties one database.
    pub fn flush_db(&mut self, db: usize) {
        let keys: Vec<Vec<u8>> = self
            .dbs
            .get(db)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        for k in keys {
            self.remove(db, &k);
        }
    }

    /// Empties every database.
    pub fn flush_all(&mut self) {
        for db in 0..DATABASES {
            self.flush_db(db);
        }
    }
}

/// FNV-1a: a stable stand-in for the order of Redis's dict.
fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Redis's `stringmatchlen` (KEYS, SCAN MATCH, CONFIG GET): `*`, `?`, `[...]`
/// with ranges and `^`, `\` escapes. Iterative, so a hostile pattern costs at
/// most pattern × subject steps.
pub fn glob(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Matches one pattern item at `p` against byte `c`: Some(next p) when it matches.
    let one = |p: usize, c: u8| -> Option<usize> {
        match pattern.get(p).copied()? {
            b'?' => Some(p + 1),
            b'[' => {
                let mut i = p + 1;
                let not = pattern.get(i) == Some(&b'^');
                if not {
                    i += 1;
                }
                let mut hit = false;
                loop {
                    match pattern.get(i).copied() {
                        None => {
                            // Unterminated: Redis treats the end as the closing bracket.
                            break;
                        }
                        Some(b']') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if pattern.get(i + 2).is_some() => {
                            if pattern.get(i + 1).is_some_and(|&x| eq(x, c)) {
                                hit = true;
                            }
                            i += 2;
                        }
                        Some(a)
                            if pattern.get(i + 1) == Some(&b'-')
                                && pattern.get(i + 2).is_some() =>
                        {
                            let b = pattern.get(i + 2).copied().unwrap_or(a);
                            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                            let cc = if nocase { c.to_ascii_lowercase() } else { c };
                            let (lo2, hi2) = if nocase {
                                (lo.to_ascii_lowercase(), hi.to_ascii_lowercase())
                            } else {
                                (lo, hi)
                            };
                            if cc >= lo2 && cc <= hi2 {
                                hit = true;
                            }
                            i += 3;
                        }
                        Some(a) => {
                            if eq(a, c) {
                                hit = true;
                            }
                            i += 1;
                        }
                    }
                }
                (hit != not).then_some(i)
            }
            b'\\' if pattern.get(p + 1).is_some() => pattern
                .get(p + 1)
                .is_some_and(|&x| eq(x, c))
                .then_some(p + 2),
            x => eq(x, c).then_some(p + 1),
        }
    };
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p >= pattern.len() {
                return true;
            }
            star = Some((p, s));
            continue;
        }
        let c = subject.get(s).copied().unwrap_or(0);
        if let Some(next) = one(p, c) {
            p = next;
            s += 1;
            continue;
        }
        match star {
            Some((sp, ss)) => {
                p = sp;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p >= pattern.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn globs_match_as_redis() {
        assert!(glob(b"*", b"anything", false));
        assert!(glob(b"session:*", b"session:abc", false));
        assert!(!glob(b"session:*", b"sess:abc", false));
        assert!(glob(b"h?llo", b"hello", false));
        assert!(glob(b"h[ae]llo", b"hallo", false));
        assert!(!glob(b"h[^e]llo", b"hello", false));
        assert!(glob(b"h[a-b]llo", b"hbllo", false));
        assert!(glob(b"*a*b*c", b"xxaxxbxxc", false));
        assert!(!glob(b"*a*b*c", b"xxaxxbxx", false));
        assert!(glob(b"h\\*", b"h*", false));
        assert!(glob(b"MAX*", b"maxmemory", true));
        assert!(glob(b"", b"", false));
        assert!(!glob(b"", b"a", false));
        // A hostile pattern stays cheap.
        let p = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        assert!(!glob(&p, &[b'a'; 4000], false));
    }

    #[test]
    fn writes_are_capped_and_expiry_applies() {
        let mut k = Keyspace::new(200);
        k.put(0, b"a", Value::Str(vec![1; 50]), None).unwrap();
        assert_eq!(k.put(0, b"b", Value::Str(vec![1; 150]), None), Err(OOM));
        // Replacing a value frees what it held.
        k.put(0, b"a", Value::Str(vec![1; 100]), Some(1000))
            .unwrap();
        assert!(k.get(0, b"a", 999).is_some());
        assert!(k.get(0, b"a", 1000).is_none());
        assert_eq!(k.bytes(), 0);
        assert!(k.is_empty());
    }
}

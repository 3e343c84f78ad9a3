//! Session recording (DESIGN §11): interactive sessions are written as
//! asciinema-v2-like JSON lines into one shard per (decky, service, UTC day),
//! shared by concurrent sessions and tagged with the session id.
//!
//! Writes go through a process-wide writer per shard path, guarded by a std
//! mutex, each line written whole with one `write` on an `O_APPEND` file. The
//! lines are small (a chunk is at most [`CHUNK`] bytes of payload), so a write
//! is a page-cache copy of a few KiB: cheaper than a `spawn_blocking` round trip
//! and short enough not to stall the runtime. The disk-free check and the
//! rotation (a rename and a few unlinks) are rare and equally short.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use chrono::{NaiveDate, Utc};
use decnet_core::fields::SessionRecorded;
use decnet_core::transcript::{rotations, session_lines, shard_path};
use uuid::Uuid;

/// Largest payload piece per line, as in the Python sessrec, so lines stay under 4 KiB.
pub const CHUNK: usize = 975;

/// Thresholds of the recorder; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderLimits {
    /// Payload bytes (input + output) recorded per session before the `trunc` sentinel.
    pub session_cap: u64,
    /// No recording when the transcripts disk has less free space than this.
    pub min_free: u64,
    /// A day shard rotates once it would grow past this.
    pub day_max: u64,
    /// Rotations of one day kept (the newest ones).
    pub keep_rotations: usize,
}

impl RecorderLimits {
    /// The DESIGN defaults: 10 MiB per session, 200 MiB free, 500 MiB per day shard, 4 rotations.
    pub const DEFAULT: RecorderLimits = RecorderLimits {
        session_cap: 10 * 1024 * 1024,
        min_free: 200 * 1024 * 1024,
        day_max: 500 * 1024 * 1024,
        keep_rotations: 4,
    };

    /// The defaults with `DECNET_TRANSCRIPT_DAY_MAX_MB` applied when set to a number.
    pub fn from_env() -> RecorderLimits {
        let mut l = RecorderLimits::DEFAULT;
        if let Some(mb) = std::env::var("DECNET_TRANSCRIPT_DAY_MAX_MB")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            l.day_max = mb.saturating_mul(1024 * 1024).max(1);
        }
        l
    }
}

impl Default for RecorderLimits {
    fn default() -> Self {
        RecorderLimits::from_env()
    }
}

/// Where a service's transcripts go, and under which limits.
#[derive(Debug, Clone)]
pub struct Recorder {
    dir: PathBuf,
    limits: RecorderLimits,
}

/// Why a session was not recorded; core owns it as part of `session_recorded`.
pub use decnet_core::fields::SkipReason;

/// What a finished recording amounts to, for the `session_recorded` event.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingSummary {
    /// Session id.
    pub sid: Uuid,
    /// Shard the session was written to (the day's base shard).
    pub shard: PathBuf,
    /// Payload bytes recorded.
    pub bytes: u64,
    /// Seconds from start to finish.
    pub duration_s: f64,
    /// Whether the per-session cap cut the recording.
    pub truncated: bool,
    /// Why nothing was recorded, if so.
    pub skipped: Option<SkipReason>,
}

impl RecordingSummary {
    /// The `session_recorded` fields this recording amounts to.
    pub fn event_body(&self) -> SessionRecorded {
        SessionRecorded::new(
            self.sid,
            self.shard.display().to_string(),
            self.bytes,
            self.duration_s,
            self.truncated,
            self.skipped,
        )
    }
}

impl Recorder {
    /// A recorder writing into `<service_artifacts_dir>/transcripts`.
    pub fn new(service_artifacts_dir: &Path, limits: RecorderLimits) -> Recorder {
        Recorder {
            dir: decnet_core::paths::transcripts_in(service_artifacts_dir),
            limits,
        }
    }

    /// The transcripts directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts recording session `sid` with the terminal's size and `TERM`.
    pub fn start(&self, sid: Uuid, width: u32, height: u32, term: &str) -> SessionRecording {
        let day = Utc::now().date_naive();
        let shard_path = shard_path(&self.dir, day, None);
        let mut rec = SessionRecording {
            sid,
            sid_s: sid.to_string(),
            shard_path,
            writer: None,
            started: Instant::now(),
            bytes: 0,
            truncated: false,
            stopped: false,
            skipped: None,
            cap: self.limits.session_cap,
        };
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "transcripts dir unavailable");
            rec.skip(SkipReason::ShardOpenFailed);
            return rec;
        }
        if free_bytes(&self.dir).is_some_and(|free| free < self.limits.min_free) {
            rec.skip(SkipReason::DiskPressure);
            return rec;
        }
        let writer = shard_writer(&self.dir, day, self.limits);
        rec.writer = Some(writer);
        let header = serde_json::json!({
            "sid": rec.sid_s,
            "hdr": {
                "version": 2,
                "width": width,
                "height": height,
                "timestamp": Utc::now().timestamp(),
                "env": {"SHELL": "/bin/bash", "TERM": term},
            }
        });
        rec.write_line(header.to_string());
        if rec.stopped {
            rec.skip(SkipReason::ShardOpenFailed);
        }
        rec
    }
}

/// One session's recording in progress.
#[derive(Debug)]
pub struct SessionRecording {
    sid: Uuid,
    sid_s: String,
    shard_path: PathBuf,
    writer: Option<Arc<Mutex<ShardWriter>>>,
    started: Instant,
    bytes: u64,
    truncated: bool,
    stopped: bool,
    skipped: Option<SkipReason>,
    cap: u64,
}

impl SessionRecording {
    fn skip(&mut self, why: SkipReason) {
        self.skipped = Some(why);
        self.stopped = true;
        self.writer = None;
    }

    /// Records bytes the peer typed.
    pub fn input(&mut self, data: &[u8]) {
        self.chunked("i", data);
    }

    /// Records bytes the session printed.
    pub fn output(&mut self, data: &[u8]) {
        self.chunked("o", data);
    }

    /// Records a terminal resize.
    pub fn resize(&mut self, cols: u32, rows: u32) {
        if self.stopped {
            return;
        }
        let d = format!("{cols}x{rows}");
        let line = self.event_line("r", &serde_json::Value::String(d), "d");
        self.write_line(line);
    }

    /// Whether the per-session cap has cut the recording.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Ends the recording.
    pub fn finish(self) -> RecordingSummary {
        RecordingSummary {
            sid: self.sid,
            shard: self.shard_path,
            bytes: self.bytes,
            duration_s: self.started.elapsed().as_secs_f64(),
            truncated: self.truncated,
            skipped: self.skipped,
        }
    }

    fn chunked(&mut self, ch: &str, data: &[u8]) {
        for piece in split_chunks(data) {
            if self.stopped {
                return;
            }
            let len = piece.len() as u64;
            if self.bytes.saturating_add(len) > self.cap {
                self.truncated = true;
                let line = serde_json::json!({"sid": self.sid_s, "trunc": true}).to_string();
                self.write_line(line);
                self.stopped = true;
                self.writer = None;
                return;
            }
            let line = match std::str::from_utf8(piece) {
                Ok(s) => self.event_line(ch, &serde_json::Value::String(s.to_owned()), "d"),
                Err(_) => {
                    let b = base64::engine::general_purpose::STANDARD.encode(piece);
                    self.event_line(ch, &serde_json::Value::String(b), "b")
                }
            };
            self.write_line(line);
            self.bytes = self.bytes.saturating_add(len);
        }
    }

    fn event_line(&self, ch: &str, payload: &serde_json::Value, key: &str) -> String {
        // `t` is formatted by hand: the format wants exactly six decimals.
        format!(
            "{{\"sid\":\"{}\",\"t\":{:.6},\"ch\":\"{}\",\"{}\":{}}}",
            self.sid_s,
            self.started.elapsed().as_secs_f64(),
            ch,
            key,
            payload
        )
    }

    fn write_line(&mut self, mut line: String) {
        let Some(w) = &self.writer else { return };
        line.push('\n');
        let ok = match w.lock() {
            Ok(mut g) => g.write_line(line.as_bytes()).is_ok(),
            Err(_) => false,
        };
        if !ok {
            // A failing shard ends recording; the session itself goes on.
            self.stopped = true;
            self.writer = None;
        }
    }
}

/// Splits a payload into pieces of at most [`CHUNK`] bytes, on character boundaries when it is UTF-8.
fn split_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let utf8 = std::str::from_utf8(data).is_ok();
    while !rest.is_empty() {
        let mut n = rest.len().min(CHUNK);
        if utf8 {
            // Step back over continuation bytes so each piece stays valid UTF-8.
            while n > 0 && n < rest.len() && rest.get(n).is_some_and(|b| (b & 0xC0) == 0x80) {
                n -= 1;
            }
            if n == 0 {
                n = rest.len().min(CHUNK);
            }
        }
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

fn free_bytes(dir: &Path) -> Option<u64> {
    decnet_core::space::Space::of(dir).ok().map(|s| s.free)
}

/// The day shard's writer, shared by every session of the process that writes to it.
#[derive(Debug)]
struct ShardWriter {
    dir: PathBuf,
    day: NaiveDate,
    file: Option<File>,
    size: u64,
    limits: RecorderLimits,
}

type Writers = Mutex<HashMap<PathBuf, Arc<Mutex<ShardWriter>>>>;

fn shard_writer(dir: &Path, day: NaiveDate, limits: RecorderLimits) -> Arc<Mutex<ShardWriter>> {
    static WRITERS: OnceLock<Writers> = OnceLock::new();
    let key = shard_path(dir, day, None);
    let new = || {
        Arc::new(Mutex::new(ShardWriter {
            dir: dir.to_path_buf(),
            day,
            file: None,
            size: 0,
            limits,
        }))
    };
    let map = WRITERS.get_or_init(|| Mutex::new(HashMap::new()));
    match map.lock() {
        Ok(mut m) => {
            // Yesterday's writers are no longer needed; keep the map from growing forever.
            m.retain(|_, w| Arc::strong_count(w) > 1 || w.lock().is_ok_and(|g| g.day == day));
            m.entry(key).or_insert_with(new).clone()
        }
        Err(_) => new(),
    }
}

impl ShardWriter {
    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(shard_path(&self.dir, self.day, None))?;
            self.size = f.metadata()?.len();
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("shard not open"))
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.open()?;
        if self.size > 0 && self.size.saturating_add(line.len() as u64) > self.limits.day_max {
            self.rotate()?;
        }
        let f = self.open()?;
        // One write call per line on an O_APPEND file: lines never interleave.
        let n = f.write(line)?;
        if n != line.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short shard write",
            ));
        }
        self.size = self.size.saturating_add(n as u64);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let rotations = rotations(&self.dir, self.day);
        let next = rotations.last().map_or(1, |(n, _)| n.saturating_add(1));
        std::fs::rename(
            shard_path(&self.dir, self.day, None),
            shard_path(&self.dir, self.day, Some(next)),
        )?;
        let keep = self.limits.keep_rotations;
        // `rotations` is ascending and excludes the one just made, which is the newest.
        let total = rotations.len() + 1;
        if total > keep {
            for (_, p) in rotations.iter().take(total - keep) {
                if let Err(e) = std::fs::remove_file(p) {
                    tracing::warn!(path = %p.display(), error = %e, "could not prune old transcript rotation");
                }
            }
        }
        self.size = 0;
        Ok(())
    }
}

/// All lines of session `sid` in a day's shards, in the order written.
pub fn read_session(dir: &Path, day: NaiveDate, sid: Uuid) -> io::Result<Vec<String>> {
    Ok(session_lines(dir, day, sid)?
        .into_iter()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn limits() -> RecorderLimits {
        RecorderLimits {
            min_free: 0,
            ..RecorderLimits::DEFAULT
        }
    }

    fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    #[test]
    fn lines_follow_the_shard_format() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recorder::new(tmp.path(), limits());
        let sid = Uuid::new_v4();
        let mut s = r.start(sid, 120, 40, "xterm-256color");
        s.input(b"ls\r");
        s.output(b"ls\r\nfile\r\n");
        s.output(&[0xff, 0xfe, b'x']);
        s.resize(100, 30);
        let sum = s.finish();
        assert_eq!(
            sum.shard,
            shard_path(&tmp.path().join("transcripts"), today(), None)
        );
        assert_eq!(sum.bytes, 3 + 10 + 3);
        assert!(!sum.truncated);
        assert_eq!(sum.skipped, None);

        let lines = read_session(r.dir(), today(), sid).unwrap();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        let v: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["sid"], sid.to_string());
        assert_eq!(v[0]["hdr"]["version"], 2);
        assert_eq!(v[0]["hdr"]["width"], 120);
        assert_eq!(v[0]["hdr"]["height"], 40);
        assert_eq!(v[0]["hdr"]["env"]["SHELL"], "/bin/bash");
        assert_eq!(v[0]["hdr"]["env"]["TERM"], "xterm-256color");
        assert!(v[0]["hdr"]["timestamp"].as_i64().unwrap() > 1_600_000_000);
        assert_eq!(v[1]["ch"], "i");
        assert_eq!(v[1]["d"], "ls\r");
        assert_eq!(v[2]["ch"], "o");
        assert_eq!(v[2]["d"], "ls\r\nfile\r\n");
        assert_eq!(v[3]["b"], "//54");
        assert!(v[3].get("d").is_none());
        assert_eq!(v[4]["ch"], "r");
        assert_eq!(v[4]["d"], "100x30");
        // `t` carries exactly six decimals.
        let t = lines[1]
            .split("\"t\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert_eq!(t.split('.').nth(1).unwrap().len(), 6, "{t}");
    }

    #[test]
    fn concurrent_sessions_share_one_shard_without_interleaving() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recorder::new(tmp.path(), limits());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let sid = Uuid::new_v4();
                    let mut s = r.start(sid, 80, 24, "xterm");
                    for _ in 0..200 {
                        s.output(&[b'a'; 3000]);
                    }
                    s.finish();
                    sid
                })
            })
            .collect();
        let sids: Vec<Uuid> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let text = std::fs::read_to_string(shard_path(r.dir(), today(), None)).unwrap();
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        for sid in sids {
            // 1 header + 200 outputs of 3000 bytes in 975-byte chunks (4 each).
            assert_eq!(read_session(r.dir(), today(), sid).unwrap().len(), 1 + 800);
        }
    }

    #[test]
    fn the_session_cap_writes_one_sentinel_and_stops() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recorder::new(
            tmp.path(),
            RecorderLimits {
                session_cap: 100,
                ..limits()
            },
        );
        let sid = Uuid::new_v4();
        let mut s = r.start(sid, 80, 24, "xterm");
        s.output(&[b'x'; 60]);
        s.output(&[b'y'; 60]);
        s.output(&[b'z'; 10]);
        assert!(s.truncated());
        let sum = s.finish();
        assert!(sum.truncated);
        assert_eq!(sum.bytes, 60);
        let lines = read_session(r.dir(), today(), sid).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], format!("{{\"sid\":\"{sid}\",\"trunc\":true}}"));
    }

    #[test]
    fn disk_pressure_skips_recording() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recorder::new(
            tmp.path(),
            RecorderLimits {
                min_free: u64::MAX,
                ..limits()
            },
        );
        let sid = Uuid::new_v4();
        let mut s = r.start(sid, 80, 24, "xterm");
        s.output(b"hello");
        let sum = s.finish();
        assert_eq!(sum.skipped, Some(SkipReason::DiskPressure));
        assert_eq!(sum.skipped.map(SkipReason::as_str), Some("disk_pressure"));
        assert_eq!(sum.bytes, 0);
        assert!(!shard_path(r.dir(), today(), None).exists());
    }

    #[test]
    fn day_shards_rotate_and_keep_the_newest_four_and_the_reader_spans_them() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recorder::new(
            tmp.path(),
            RecorderLimits {
                day_max: 2000,
                ..limits()
            },
        );
        let sid = Uuid::new_v4();
        let mut s = r.start(sid, 80, 24, "xterm");
        // Each line is ~1 KiB, so every second line rotates the shard.
        for i in 0..20u8 {
            s.output(&[b'a' + i; 900]);
        }
        s.finish();
        let rots = rotations(r.dir(), today());
        let ns: Vec<u32> = rots.iter().map(|(n, _)| *n).collect();
        assert_eq!(ns.len(), 4, "{ns:?}");
        // Only the newest survive, numbered consecutively.
        assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{ns:?}");
        assert!(ns[0] > 1);
        for (_, p) in &rots {
            assert!(std::fs::metadata(p).unwrap().len() <= 2000);
        }
        let lines = read_session(r.dir(), today(), sid).unwrap();
        // Everything older than the kept rotations is gone; the newest output is there.
        assert!(!lines.is_empty());
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(last["d"].as_str().unwrap().as_bytes()[0], b'a' + 19);
        assert!(lines.len() < 21);
    }

    #[test]
    fn chunks_split_on_character_boundaries() {
        let s = "é".repeat(1000);
        for c in split_chunks(s.as_bytes()) {
            assert!(c.len() <= CHUNK);
            assert!(std::str::from_utf8(c).is_ok());
        }
        assert_eq!(split_chunks(b"").len(), 0);
        assert_eq!(split_chunks(&[0xff; 2000]).len(), 3);
    }
}

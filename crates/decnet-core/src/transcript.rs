//! Where session transcripts live and how one session's lines are found
//! (DESIGN §11): one shard per (decky, service, UTC day),
//! `sessions-YYYY-MM-DD.jsonl`, rotated to `sessions-YYYY-MM-DD.N.jsonl`,
//! every line tagged with its session's `sid`. Format only: the recorder
//! writes these files and the API reads them, neither knowing the other.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use uuid::Uuid;

use crate::paths;

/// `sessions-YYYY-MM-DD.jsonl`, or `sessions-YYYY-MM-DD.N.jsonl` for rotation N.
pub fn shard_path(dir: &Path, day: NaiveDate, rotation: Option<u32>) -> PathBuf {
    dir.join(paths::transcript_shard_name(day, rotation))
}

/// The rotations of a day, oldest (lowest N) first.
pub fn rotations(dir: &Path, day: NaiveDate) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(n) = paths::transcript_rotation_of(name, day) else {
            continue;
        };
        out.push((n, entry.path()));
    }
    out.sort_by_key(|(n, _)| *n);
    out
}

/// Every shard of a day, oldest first (rotations by N, then the current shard).
pub fn day_shards(dir: &Path, day: NaiveDate) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = rotations(dir, day).into_iter().map(|(_, p)| p).collect();
    let base = shard_path(dir, day, None);
    if base.exists() {
        out.push(base);
    }
    out
}

/// Every line of session `sid` in a day's shards, in the order written (newline removed).
pub fn session_lines(dir: &Path, day: NaiveDate, sid: Uuid) -> io::Result<Vec<Vec<u8>>> {
    let needle = format!("\"sid\":\"{sid}\"");
    let mut out = Vec::new();
    for path in day_shards(dir, day) {
        let f = match File::open(&path) {
            Ok(f) => f,
            // A rotation may be pruned between listing and opening.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut r = BufReader::new(f);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            if buf.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                out.push(std::mem::take(&mut buf));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_across_rotations_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let sid = Uuid::new_v4();
        let other = Uuid::new_v4();
        let line = |s: Uuid, n: u32| format!("{{\"sid\":\"{s}\",\"n\":{n}}}\n");
        std::fs::write(shard_path(dir.path(), day, Some(2)), line(sid, 2)).unwrap();
        std::fs::write(shard_path(dir.path(), day, Some(10)), line(sid, 10)).unwrap();
        std::fs::write(
            shard_path(dir.path(), day, None),
            format!("{}{}", line(other, 0), line(sid, 11)),
        )
        .unwrap();
        std::fs::write(dir.path().join("sessions-2026-11-23.jsonl"), line(sid, 99)).unwrap();
        let got: Vec<String> = session_lines(dir.path(), day, sid)
            .unwrap()
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        assert_eq!(
            got,
            vec![line(sid, 2), line(sid, 10), line(sid, 11)]
                .into_iter()
                .map(|l| l.trim_end().to_owned())
                .collect::<Vec<_>>()
        );
        assert!(
            session_lines(dir.path().join("missing").as_path(), day, sid)
                .unwrap()
                .is_empty()
        );
    }
}

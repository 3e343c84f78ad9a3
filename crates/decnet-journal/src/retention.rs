//! Journal retention: whole segments that every consumer has read past and
//! that are older than the retention are deleted; the newest segment (the one
//! being written) never is.
//!
//! "Every consumer" is the caller's business: it passes the oldest position
//! any of them has committed (the ingester's offset in the store, the
//! forwarder's offset file). A segment is past that position when its number
//! is below the position's segment, or it is the position's segment, a newer
//! one exists (so it is complete) and the position is at its end.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::segment::{list_segments, segment_path};
use crate::{io_err, JournalError, JournalPos};

/// One segment file and what retention needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment number.
    pub segment: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Last modification (the time its last event was written).
    pub modified: SystemTime,
}

/// What [`prune`] deleted (or [`due`] would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The segments, ascending.
    pub segments: Vec<u64>,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Every segment in `dir`, ascending.
pub fn segments(dir: &Path) -> Result<Vec<SegmentInfo>, JournalError> {
    let mut out = Vec::new();
    for segment in list_segments(dir)? {
        let path = segment_path(dir, segment);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            // Deleted between the listing and now (a concurrent prune).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, "stat segment")(e)),
        };
        out.push(SegmentInfo {
            segment,
            bytes: meta.len(),
            modified: meta.modified().map_err(io_err(&path, "stat segment"))?,
        });
    }
    Ok(out)
}

/// The segments of `all` that may go: past `committed`, not the newest, and
/// last modified more than `retention` before `now`.
fn select(
    all: &[SegmentInfo],
    committed: JournalPos,
    retention: Duration,
    now: SystemTime,
) -> Vec<SegmentInfo> {
    let Some(newest) = all.last().map(|s| s.segment) else {
        return Vec::new();
    };
    all.iter()
        .filter(|s| s.segment != newest)
        .filter(|s| {
            s.segment < committed.segment
                || (s.segment == committed.segment && committed.offset >= s.bytes)
        })
        .filter(|s| {
            now.duration_since(s.modified)
                .is_ok_and(|age| age > retention)
        })
        .copied()
        .collect()
}

/// What [`prune`] would delete now, without deleting it.
pub fn due(dir: &Path, committed: JournalPos, retention: Duration) -> Result<Pruned, JournalError> {
    let picked = select(&segments(dir)?, committed, retention, SystemTime::now());
    Ok(Pruned {
        bytes: picked.iter().map(|s| s.bytes).sum(),
        segments: picked.iter().map(|s| s.segment).collect(),
    })
}

/// Deletes every segment that every consumer has committed past (`committed`
/// is the oldest of their positions) and that is older than `retention`;
/// never the newest segment. Returns what it deleted.
pub fn prune(
    dir: &Path,
    committed: JournalPos,
    retention: Duration,
) -> Result<Pruned, JournalError> {
    let mut done = Pruned::default();
    for s in select(&segments(dir)?, committed, retention, SystemTime::now()) {
        let path = segment_path(dir, s.segment);
        match fs::remove_file(&path) {
            Ok(()) => {
                done.segments.push(s.segment);
                done.bytes += s.bytes;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "delete segment")(e)),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// Segments 1..=n of 100 bytes each, segment i last written `ages[i-1]` ago.
    fn journal(ages: &[Duration]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (i, age) in ages.iter().enumerate() {
            let path = segment_path(dir.path(), i as u64 + 1);
            fs::write(&path, vec![b'x'; 100]).unwrap();
            // std sets mtimes itself (no filetime in the lockfile, no nix needed).
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(SystemTime::now() - *age)
                .unwrap();
        }
        dir
    }

    fn pos(segment: u64, offset: u64) -> JournalPos {
        JournalPos { segment, offset }
    }

    #[test]
    fn old_committed_segments_go_and_the_rest_stay() {
        let dir = journal(&[10 * DAY, 9 * DAY, 8 * DAY, DAY, 10 * DAY]);
        // Consumers are in segment 4: 1..=3 are committed past; 4 is not old enough
        // (and not committed past); 5 is the newest, old or not.
        let d = due(dir.path(), pos(4, 10), 7 * DAY).unwrap();
        assert_eq!(d.segments, [1, 2, 3]);
        assert_eq!(d.bytes, 300);
        let p = prune(dir.path(), pos(4, 10), 7 * DAY).unwrap();
        assert_eq!(p, d);
        assert_eq!(list_segments(dir.path()).unwrap(), [4, 5]);
        // Nothing left to do: a second run deletes nothing.
        assert_eq!(
            prune(dir.path(), pos(4, 10), 7 * DAY).unwrap(),
            Pruned::default()
        );
    }

    #[test]
    fn a_segment_a_consumer_has_not_finished_is_kept_however_old() {
        let dir = journal(&[30 * DAY, 30 * DAY, 30 * DAY]);
        // Mid-segment 2: only 1 may go.
        assert_eq!(prune(dir.path(), pos(2, 99), DAY).unwrap().segments, [1]);
        // At the very end of segment 2, with 3 existing: 2 is done too.
        assert_eq!(prune(dir.path(), pos(2, 100), DAY).unwrap().segments, [2]);
        // A consumer that never committed holds everything.
        let dir = journal(&[30 * DAY, 30 * DAY]);
        assert!(prune(dir.path(), JournalPos::START, DAY)
            .unwrap()
            .segments
            .is_empty());
    }

    #[test]
    fn the_newest_segment_is_never_deleted() {
        let dir = journal(&[30 * DAY]);
        assert!(prune(dir.path(), pos(9, 0), DAY)
            .unwrap()
            .segments
            .is_empty());
        assert_eq!(list_segments(dir.path()).unwrap(), [1]);
    }

    #[test]
    fn a_missing_journal_prunes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = prune(&dir.path().join("journal"), pos(3, 0), DAY).unwrap();
        assert_eq!(p, Pruned::default());
    }
}

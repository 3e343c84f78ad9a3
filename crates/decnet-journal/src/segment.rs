//! Segment files: `segment-<20 digits>.jsonl`, numbered from 1, and the
//! repair of a last line torn by a crash.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{io_err, JournalError};

/// Segment file name prefix.
const PREFIX: &str = "segment-";
/// Segment file name suffix.
const SUFFIX: &str = ".jsonl";

/// `<dir>/segment-00000000000000000001.jsonl`.
pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{segment:020}{SUFFIX}"))
}

/// Segment numbers present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir, "list segments")(e)),
    };
    for entry in rd {
        let entry = entry.map_err(io_err(dir, "list segments"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Truncates a final line with no newline (a write torn by a crash); returns the length.
pub(crate) fn repair_torn_tail(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut reader = BufReader::new(&mut *file);
    let mut good = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            good += n as u64;
        } else {
            break;
        }
    }
    if good < len {
        tracing::warn!(
            torn_bytes = len - good,
            "journal segment ended in a torn line (crash while writing); truncating it"
        );
        file.set_len(good)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::End(0))?;
    Ok(good)
}

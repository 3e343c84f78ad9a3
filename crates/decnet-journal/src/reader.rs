//! The reader: complete lines from a position onwards, across segments,
//! never a line still being written, and a corrupt or over-long line
//! reported with its position instead of stopping the read.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use decnet_core::Event;

use crate::segment::{list_segments, segment_path};
use crate::{io_err, JournalError, JournalPos};

/// Longest line a reader accepts; anything longer is skipped as corrupt.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One line read from the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A well-formed event.
    Event(Box<Event>),
    /// A line that is not an event (kept so the reader can say where).
    Corrupt {
        /// Where it starts.
        at: JournalPos,
        /// Why it was refused.
        reason: String,
    },
}

/// Reads complete lines from a position onwards, across segments.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    pos: JournalPos,
    reader: Option<BufReader<File>>,
}

impl JournalReader {
    /// A reader starting at `pos` (use [`JournalPos::START`] for the beginning).
    pub fn open(dir: &Path, pos: JournalPos) -> JournalReader {
        JournalReader {
            dir: dir.to_path_buf(),
            pos,
            reader: None,
        }
    }

    /// Position after the last record returned: persist it to resume.
    pub fn position(&self) -> JournalPos {
        self.pos
    }

    fn open_current(&mut self) -> Result<bool, JournalError> {
        if self.reader.is_some() {
            return Ok(true);
        }
        let segments = list_segments(&self.dir)?;
        // Resume in the requested segment, or the first one after it if it is gone.
        let Some(&seg) = segments.iter().find(|&&s| s >= self.pos.segment.max(1)) else {
            return Ok(false);
        };
        if seg != self.pos.segment {
            self.pos = JournalPos {
                segment: seg,
                offset: 0,
            };
        }
        let path = segment_path(&self.dir, seg);
        let mut f = File::open(&path).map_err(io_err(&path, "open segment"))?;
        f.seek(SeekFrom::Start(self.pos.offset))
            .map_err(io_err(&path, "seek"))?;
        self.reader = Some(BufReader::with_capacity(256 * 1024, f));
        Ok(true)
    }

    /// Reads up to `max` records; returns fewer (possibly none) at the end of the journal.
    pub fn read_batch(&mut self, max: usize) -> Result<Vec<(Record, JournalPos)>, JournalError> {
        let mut out = Vec::new();
        let mut line = Vec::new();
        while out.len() < max {
            if !self.open_current()? {
                break;
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            line.clear();
            let path = segment_path(&self.dir, self.pos.segment);
            let mut n = read_line_capped(reader, &mut line, MAX_LINE_BYTES + 1)
                .map_err(io_err(&path, "read"))?;
            if n == 0 {
                // End of this segment so far. The writer creates the next segment
                // only after this one is complete and synced, so once a newer one
                // exists, one more read finds anything appended meanwhile.
                let segments = list_segments(&self.dir)?;
                let Some(&next) = segments.iter().find(|&&s| s > self.pos.segment) else {
                    break;
                };
                n = read_line_capped(reader, &mut line, MAX_LINE_BYTES + 1)
                    .map_err(io_err(&path, "read"))?;
                if n == 0 {
                    self.pos = JournalPos {
                        segment: next,
                        offset: 0,
                    };
                    self.reader = None;
                    continue;
                }
            }
            if line.last() != Some(&b'\n') {
                // A line still being written: leave it for the next call.
                if let Some(r) = self.reader.as_mut() {
                    r.seek(SeekFrom::Start(self.pos.offset))
                        .map_err(io_err(&path, "seek"))?;
                }
                break;
            }
            let at = self.pos;
            self.pos.offset += n as u64;
            let record = if n > MAX_LINE_BYTES {
                Record::Corrupt {
                    at,
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }
            } else {
                match serde_json::from_slice::<Event>(&line) {
                    Ok(e) => Record::Event(Box::new(e)),
                    Err(e) => Record::Corrupt {
                        at,
                        reason: e.to_string(),
                    },
                }
            };
            out.push((record, self.pos));
        }
        Ok(out)
    }
}

/// `read_until(b'\n')` that stops storing after `cap` bytes but still consumes the line.
fn read_line_capped<R: BufRead>(r: &mut R, out: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let (done, used) = {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                return Ok(total);
            }
            let nl = buf.iter().position(|&b| b == b'\n');
            let line_len = nl.map_or(buf.len(), |i| i + 1);
            let room = cap.saturating_sub(out.len());
            out.extend(buf.iter().take(line_len.min(room)));
            if nl.is_some() && line_len > room {
                // Keep the newline so the caller sees a complete (over-long) line.
                out.push(b'\n');
            }
            (nl.is_some(), line_len)
        };
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

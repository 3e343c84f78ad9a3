//! The event journal (DESIGN §7): append-only JSON-lines segments under
//! `<data>/journal/`, rolled by size, fsynced in groups, and a reader that
//! resumes from a durable position ([`JournalPos`], from core, so the
//! store keeps the very same type as a consumer's offset). It is the source of truth for captured
//! events and depends on `decnet-core` only, so whoever reads it (the
//! ingester, `decnet events`) links no protocol code.
//!
//! - [`segment`]: segment file names, listing, torn-tail repair
//! - [`writer`]: [`JournalWriter`], one per journal (a lock file enforces it)
//! - [`handle`]: [`JournalHandle`], the writer on its own thread, fed [`Append`] requests;
//!   it never dies of an I/O error: it turns degraded, refuses events, and resumes by itself
//! - [`reader`]: [`JournalReader`], complete lines from a position onwards

pub mod handle;
pub mod reader;
pub mod retention;
pub mod segment;
pub mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use decnet_core::journal_pos::JournalPos;
pub use handle::{Append, JournalHandle, JournalStats};
pub use reader::{JournalReader, Record, MAX_LINE_BYTES};
pub use segment::{list_segments, segment_path};
pub use writer::{JournalOptions, JournalWriter, Space};

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal directory or a segment could not be used.
    #[error("journal {path}: {op}: {source} (check that the data dir is writable and the disk is not full)")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Underlying error.
        source: io::Error,
    },
    /// Another process already writes this journal.
    #[error("journal {0} is already being written by another decnet process: stop it, or give this one its own --data-dir")]
    Locked(PathBuf),
    /// The journal's filesystem has less free space than the watermark asks for.
    #[error("journal: {0}; free space on that filesystem, or lower disk_watermark in [general] (0 disables it)")]
    LowSpace(String),
}

impl JournalError {
    /// What the journal's health says while this error keeps it from recording:
    /// `journal: no space left on device (<path>)`.
    pub fn degraded_reason(&self) -> String {
        match self {
            JournalError::Io { path, op, source } => match source.kind() {
                io::ErrorKind::StorageFull => {
                    format!("journal: no space left on device ({})", path.display())
                }
                io::ErrorKind::QuotaExceeded => {
                    format!("journal: disk quota exceeded ({})", path.display())
                }
                _ => format!("journal: {op}: {source} ({})", path.display()),
            },
            JournalError::Locked(dir) => {
                format!("journal: locked by another process ({})", dir.display())
            }
            JournalError::LowSpace(reason) => format!("journal: {reason}"),
        }
    }
}

/// Maps an I/O error to [`JournalError::Io`] naming the path and the operation.
pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

#[cfg(test)]
mod tests;

//! A place in the journal: segment number and byte offset in it.

use std::fmt;
use std::str::FromStr;

use crate::JournalError;

/// A place in the journal: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct JournalPos {
    /// Segment number (1-based; 0 means "before the first segment").
    pub segment: u64,
    /// Byte offset within the segment.
    pub offset: u64,
}

impl JournalPos {
    /// The very beginning of the journal.
    pub const START: JournalPos = JournalPos {
        segment: 0,
        offset: 0,
    };
}

impl fmt::Display for JournalPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

impl FromStr for JournalPos {
    type Err = JournalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || JournalError::BadPosition(s.to_owned());
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        Ok(JournalPos {
            segment: a.parse().map_err(|_| bad())?,
            offset: b.parse().map_err(|_| bad())?,
        })
    }
}

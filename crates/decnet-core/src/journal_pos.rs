//! A place in the journal: the one (segment, offset) pair the journal's
//! reader returns and the store keeps as a consumer's durable offset.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A place in the journal: segment number and byte offset in it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
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

/// A position string that is not `SEGMENT:OFFSET`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal position {0:?} is not of the form SEGMENT:OFFSET (two unsigned integers)")]
pub struct BadJournalPos(pub String);

impl fmt::Display for JournalPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

impl FromStr for JournalPos {
    type Err = BadJournalPos;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadJournalPos(s.to_owned());
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        Ok(JournalPos {
            segment: a.parse().map_err(|_| bad())?,
            offset: b.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_and_print() {
        let p = JournalPos {
            segment: 3,
            offset: 99,
        };
        assert_eq!(p.to_string().parse::<JournalPos>().unwrap(), p);
        assert!("3".parse::<JournalPos>().is_err());
        assert!("a:b".parse::<JournalPos>().is_err());
        assert!("1:-2".parse::<JournalPos>().is_err());
    }

    #[test]
    fn positions_order_by_segment_then_offset() {
        let a = JournalPos {
            segment: 1,
            offset: 900,
        };
        let b = JournalPos {
            segment: 2,
            offset: 0,
        };
        assert!(JournalPos::START < a && a < b);
    }
}

//! How full a filesystem is: the journal's watermark and the session recorder's
//! free-space floor both read it here.

use std::io;
use std::path::Path;

/// Free and total bytes of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    /// Size of the filesystem.
    pub total: u64,
}

impl Space {
    /// The space of the filesystem holding `dir`.
    pub fn of(dir: &Path) -> io::Result<Space> {
        let st = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
        #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
        let (avail, blocks, frag) = (
            st.blocks_available() as u64,
            st.blocks() as u64,
            st.fragment_size() as u64,
        );
        Ok(Space {
            free: avail.saturating_mul(frag),
            total: blocks.saturating_mul(frag),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_directory_has_a_filesystem_with_room_no_larger_than_itself() {
        let dir = tempfile::tempdir().unwrap();
        let s = Space::of(dir.path()).unwrap();
        assert!(s.total > 0 && s.free <= s.total, "{s:?}");
        assert!(Space::of(&dir.path().join("missing")).is_err());
    }
}

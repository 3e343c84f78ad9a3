//! The data-dir layout, in one place: every file and directory DECNET keeps
//! under `<data>` is named here, so no crate joins path strings by hand.
//!
//! ```text
//! <data>/installation.key                          instance-seed key (0600)
//! <data>/decnet.db                                 SQLite store (default backend)
//! <data>/jwt.secret                                API signing secret (0600)
//! <data>/journal/                                  event journal segments
//! <data>/journal/writer.lock                       one writer per journal
//! <data>/forwarder.offset                          log_target forwarder's journal position
//! <data>/deckies/<decky>/<service>/                keys, certificates kept across restarts
//! <data>/artifacts/<decky>/<service>/              captured files
//! <data>/artifacts/<decky>/<service>/transcripts/  session shards (DESIGN §11)
//! ```

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// Lock file name inside the journal directory.
pub const JOURNAL_WRITER_LOCK: &str = "writer.lock";
/// API signing secret file name under the data dir.
pub const JWT_SECRET_FILE: &str = "jwt.secret";
/// SQLite file name under the data dir.
pub const SQLITE_FILE: &str = "decnet.db";
/// Installation key file name under the data dir.
pub const INSTALLATION_KEY_FILE: &str = "installation.key";
/// Forwarder offset file name under the data dir.
pub const FORWARDER_OFFSET_FILE: &str = "forwarder.offset";
/// Start of every transcript shard name.
pub const TRANSCRIPT_SHARD_PREFIX: &str = "sessions-";
/// End of every transcript shard name.
pub const TRANSCRIPT_SHARD_SUFFIX: &str = ".jsonl";

/// A data directory (`--data-dir`) and the locations inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir(root.into())
    }

    /// `<data>` itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// `<data>/journal`.
    pub fn journal(&self) -> PathBuf {
        self.0.join("journal")
    }

    /// `<data>/journal/writer.lock`.
    pub fn journal_writer_lock(&self) -> PathBuf {
        journal_writer_lock(&self.journal())
    }

    /// `<data>/forwarder.offset`: the journal position the `log_target`
    /// forwarder has sent up to (`SEGMENT:OFFSET`, replaced atomically).
    pub fn forwarder_offset(&self) -> PathBuf {
        self.0.join(FORWARDER_OFFSET_FILE)
    }

    /// `<data>/installation.key`.
    pub fn installation_key(&self) -> PathBuf {
        self.0.join(INSTALLATION_KEY_FILE)
    }

    /// `<data>/decnet.db`.
    pub fn sqlite_db(&self) -> PathBuf {
        self.0.join(SQLITE_FILE)
    }

    /// `<data>/jwt.secret`.
    pub fn jwt_secret(&self) -> PathBuf {
        self.0.join(JWT_SECRET_FILE)
    }

    /// `<data>/deckies/<decky>/<service>`: state a service keeps across restarts.
    pub fn decky_state(&self, decky: &str, service: &str) -> PathBuf {
        self.0.join("deckies").join(decky).join(service)
    }

    /// `<data>/artifacts/<decky>/<service>`: what a service captured.
    pub fn artifacts(&self, decky: &str, service: &str) -> PathBuf {
        self.0.join("artifacts").join(decky).join(service)
    }

    /// `<data>/artifacts/<decky>/<service>/transcripts`.
    pub fn transcripts(&self, decky: &str, service: &str) -> PathBuf {
        transcripts_in(&self.artifacts(decky, service))
    }
}

impl AsRef<Path> for DataDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// `<journal_dir>/writer.lock`, for a journal opened by its directory.
pub fn journal_writer_lock(journal_dir: &Path) -> PathBuf {
    journal_dir.join(JOURNAL_WRITER_LOCK)
}

/// `<service_artifacts_dir>/transcripts`.
pub fn transcripts_in(service_artifacts_dir: &Path) -> PathBuf {
    service_artifacts_dir.join("transcripts")
}

/// `sessions-YYYY-MM-DD.jsonl`, or `sessions-YYYY-MM-DD.N.jsonl` for rotation N.
pub fn transcript_shard_name(day: NaiveDate, rotation: Option<u32>) -> String {
    let d = day.format("%Y-%m-%d");
    match rotation {
        None => format!("{TRANSCRIPT_SHARD_PREFIX}{d}{TRANSCRIPT_SHARD_SUFFIX}"),
        Some(n) => format!("{TRANSCRIPT_SHARD_PREFIX}{d}.{n}{TRANSCRIPT_SHARD_SUFFIX}"),
    }
}

/// The rotation number N of `name` if it is `sessions-<day>.N.jsonl`.
pub fn transcript_rotation_of(name: &str, day: NaiveDate) -> Option<u32> {
    let prefix = format!("{TRANSCRIPT_SHARD_PREFIX}{}.", day.format("%Y-%m-%d"));
    name.strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(TRANSCRIPT_SHARD_SUFFIX))
        .and_then(|n| n.parse::<u32>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_matches_the_design() {
        let d = DataDir::new("/var/lib/decnet");
        assert_eq!(d.journal(), Path::new("/var/lib/decnet/journal"));
        assert_eq!(
            d.journal_writer_lock(),
            Path::new("/var/lib/decnet/journal/writer.lock")
        );
        assert_eq!(
            d.installation_key(),
            Path::new("/var/lib/decnet/installation.key")
        );
        assert_eq!(d.sqlite_db(), Path::new("/var/lib/decnet/decnet.db"));
        assert_eq!(
            d.forwarder_offset(),
            Path::new("/var/lib/decnet/forwarder.offset")
        );
        assert_eq!(d.jwt_secret(), Path::new("/var/lib/decnet/jwt.secret"));
        assert_eq!(
            d.decky_state("web1", "https"),
            Path::new("/var/lib/decnet/deckies/web1/https")
        );
        assert_eq!(
            d.artifacts("web1", "ssh"),
            Path::new("/var/lib/decnet/artifacts/web1/ssh")
        );
        assert_eq!(
            d.transcripts("web1", "ssh"),
            Path::new("/var/lib/decnet/artifacts/web1/ssh/transcripts")
        );
    }

    #[test]
    fn shard_names_round_trip_their_rotation() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            transcript_shard_name(day, None),
            "sessions-2026-11-23.jsonl"
        );
        let rotated = transcript_shard_name(day, Some(3));
        assert_eq!(rotated, "sessions-2026-11-23.3.jsonl");
        assert_eq!(transcript_rotation_of(&rotated, day), Some(3));
        assert_eq!(
            transcript_rotation_of("sessions-2026-11-23.jsonl", day),
            None
        );
        let other = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(transcript_rotation_of(&rotated, other), None);
    }
}

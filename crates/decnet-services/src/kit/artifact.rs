//! Files an intruder brought in, kept as artifacts: every service that
//! captures a file (SFTP and scp uploads, payloads the fake shell saw written)
//! keeps its bytes at `<artifacts>/<decky>/<service>/uploads/<sha256>` and
//! reports them in one `file_upload` shape, so an operator finds every capture
//! in one place whichever way it arrived.
//!
//! One file per content: a capture whose artifact already exists is not
//! written again, and a new one is written under a temporary name and renamed
//! into place, so no reader (and no concurrent session dropping the same
//! bytes) ever sees half an artifact.

use std::path::{Path, PathBuf};

use decnet_core::fields::FileTransfer;
use sha2::{Digest, Sha256};

/// Bytes of one captured file kept as its artifact; the rest is counted, not kept.
pub const MAX_ARTIFACT: usize = 16 * 1024 * 1024;

/// The directory a service's captured files go into.
pub fn uploads_dir(service_artifacts_dir: &Path) -> PathBuf {
    service_artifacts_dir.join("uploads")
}

/// What became of one capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// SHA-256 (lower-case hex) of the bytes kept.
    pub sha256: String,
    /// Bytes kept (at most [`MAX_ARTIFACT`]).
    pub len: usize,
    /// The artifact file (`…/uploads/<sha256>`).
    pub path: PathBuf,
    /// Whether the artifact file holds them (now or from an earlier capture).
    pub stored: bool,
}

impl Kept {
    /// The `file_upload` body of a file `name` that was `size` bytes in all.
    pub fn upload(&self, name: impl Into<String>, size: u64) -> FileTransfer {
        let mut t = FileTransfer::upload(name, size, self.sha256.clone());
        t.truncated = Some(size > self.len as u64);
        t.stored = Some(self.stored);
        t.artifact = Some(self.path.display().to_string());
        t
    }
}

/// Keeps the first [`MAX_ARTIFACT`] bytes of `data` as an artifact of the
/// service whose artifacts live in `service_artifacts_dir`. A failure is
/// logged for the operator and reported as `stored: false`; the capture's
/// event still carries the hash.
pub async fn keep(service_artifacts_dir: &Path, data: &[u8]) -> Kept {
    let data = data.get(..MAX_ARTIFACT.min(data.len())).unwrap_or(data);
    let sha256 = hex::encode(Sha256::digest(data));
    let dir = uploads_dir(service_artifacts_dir);
    let path = dir.join(&sha256);
    let stored = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() && m.len() == data.len() as u64 => Ok(()),
        _ => write_new(&dir, &path, data).await,
    };
    if let Err(e) = &stored {
        tracing::warn!(error = %e, path = %path.display(),
            "captured file not stored as an artifact: check that the data directory is writable and has free space");
    }
    Kept {
        sha256,
        len: data.len(),
        path,
        stored: stored.is_ok(),
    }
}

/// Writes `data` to `path` through a temporary file, synced before and after
/// the rename: the event that says `stored` is durable, so the bytes must be too.
async fn write_new(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    let (dir, path, data) = (dir.to_path_buf(), path.to_path_buf(), data.to_vec());
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".part-{}", uuid::Uuid::new_v4().simple()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(&data)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[tokio::test]
    async fn a_capture_is_kept_once_under_its_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let data = b"\x7fELF\x02\x01\x01dropper";
        let k = keep(tmp.path(), data).await;
        let sha = hex::encode(Sha256::digest(data));
        assert_eq!(k.sha256, sha);
        assert!(k.stored);
        assert_eq!(k.path, tmp.path().join("uploads").join(&sha));
        assert_eq!(std::fs::read(&k.path).unwrap(), data);
        let before = std::fs::metadata(&k.path).unwrap().modified().unwrap();
        let again = keep(tmp.path(), data).await;
        assert_eq!(again, k);
        assert_eq!(
            std::fs::metadata(&k.path).unwrap().modified().unwrap(),
            before,
            "the same content is not written twice"
        );
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("uploads"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from(&sha)],
            "no temporary left"
        );
        let e = k.upload("/tmp/x", data.len() as u64);
        assert_eq!(
            (e.stored, e.truncated, e.artifact.as_deref()),
            (Some(true), Some(false), Some(k.path.to_str().unwrap()))
        );
    }

    #[tokio::test]
    async fn bytes_past_the_cap_are_counted_not_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let data = vec![0x41u8; MAX_ARTIFACT + 10];
        let k = keep(tmp.path(), &data).await;
        assert_eq!(k.len, MAX_ARTIFACT);
        assert_eq!(
            std::fs::metadata(&k.path).unwrap().len(),
            MAX_ARTIFACT as u64
        );
        let e = k.upload("/tmp/big", data.len() as u64);
        assert_eq!((e.size, e.truncated), (Some(data.len() as u64), Some(true)));
    }

    #[tokio::test]
    async fn an_unwritable_store_says_not_stored() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the service's artifacts directory should be.
        let blocker = tmp.path().join("ssh");
        std::fs::write(&blocker, b"").unwrap();
        let k = keep(&blocker, b"#!/bin/sh\n").await;
        assert!(!k.stored);
        assert_eq!(k.upload("/tmp/x", 10).stored, Some(false));
    }
}

//! Private by default, and no root after binding.
//!
//! The process umask is 077 from the first instruction (`main`), so every file
//! DECNET writes in the data dir is 0600 and every directory 0700. With
//! `--group NAME` the data dir is shared read-only with that group instead:
//! directories 2750 (setgid, so new files inherit the group), files 0640,
//! umask 027; secrets (`jwt.secret`, `installation.key`, the deckies' keys under
//! `deckies/`) stay 0600 always. A data dir written by an older version is
//! tightened at start.
//!
//! When `up` runs as root it binds every socket first, then chowns the data
//! dir to an unprivileged user and becomes it (`setgroups([])`, `setgid`,
//! `setuid`), and checks that it cannot become root again and holds no
//! capability.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use decnet_core::paths::{INSTALLATION_KEY_FILE, JWT_SECRET_FILE};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{Gid, Group, Uid, User};

/// Umask of a private data dir: nothing for group or others.
pub const PRIVATE_UMASK: u32 = 0o077;
/// Umask with `--group`: the group reads, others get nothing.
const GROUP_UMASK: u32 = 0o027;
/// User `up` becomes when started as root and `--user` is not given; created
/// (a system user without a shell) when missing. Not `nobody`: the data dir holds
/// password hashes and keys, and `nobody` is shared by every other daemon.
const DEFAULT_USER: &str = "decnet";

/// Who may read the data dir, and who `up` runs as once bound.
#[derive(Debug, clap::Args, Clone, Default)]
pub struct PrivacyOpts {
    /// When started as root: the user to become after binding (default: `decnet`, created as a system user if missing; `root` keeps root).
    #[arg(long, env = "DECNET_USER")]
    pub user: Option<String>,
    /// Let this group read the data dir (dirs 0750, files 0640; secrets stay 0600).
    #[arg(long, env = "DECNET_GROUP")]
    pub group: Option<String>,
}

/// Sets the process umask (at start, before any file is written).
pub fn set_umask(bits: u32) {
    umask(Mode::from_bits_truncate(bits));
}

/// The data dir made private (or group-readable): creates it, sets the umask,
/// fixes the modes (and group) of everything already in it, logging how many.
pub fn prepare(data_dir: &Path, opts: &PrivacyOpts) -> anyhow::Result<Option<Gid>> {
    let gid = match &opts.group {
        Some(name) => {
            let g = Group::from_name(name)
                .with_context(|| format!("looking up group {name:?}"))?
                .with_context(|| {
                    format!("group {name:?} (--group / DECNET_GROUP) does not exist: create it (groupadd {name}) or leave the option out")
                })?;
            set_umask(GROUP_UMASK);
            Some(g.gid)
        }
        None => None,
    };
    fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let mut fixed = 0usize;
    // Paths this user may not change (owned by someone else) are reported, not
    // fatal: the fleet still runs, and the operator learns what to chown.
    let mut refused: Vec<(PathBuf, std::io::Error)> = Vec::new();
    walk(data_dir, &mut |path, meta| {
        let rel = path.strip_prefix(data_dir).unwrap_or(path);
        let want = wanted_mode(rel, meta.is_dir(), gid.is_some());
        if meta.mode() & 0o7777 != want {
            match fs::set_permissions(path, fs::Permissions::from_mode(want)) {
                Ok(()) => fixed += 1,
                Err(e) => refused.push((path.to_path_buf(), e)),
            }
        }
        if let Some(g) = gid.filter(|g| meta.gid() != g.as_raw()) {
            if let Err(e) = nix::unistd::chown(path, None, Some(g)) {
                refused.push((path.to_path_buf(), e.into()));
            }
        }
        Ok(())
    })?;
    if fixed > 0 {
        tracing::info!(
            data_dir = %data_dir.display(),
            fixed,
            "tightened the modes of {fixed} paths in the data dir (written by an older version or by hand)"
        );
    }
    if let Some((first, e)) = refused.first() {
        tracing::warn!(
            data_dir = %data_dir.display(),
            count = refused.len(),
            first = %first.display(),
            error = %e,
            "{} paths in the data dir could not be made private (or given to the group): chown them to the user running decnet",
            refused.len()
        );
    }
    Ok(gid)
}

/// The mode a data-dir path (relative to the data dir) should have.
fn wanted_mode(rel: &Path, dir: bool, group: bool) -> u32 {
    match (dir, group) {
        (true, false) => 0o700,
        (true, true) => 0o2750,
        (false, false) => 0o600,
        (false, true) if is_secret(rel) => 0o600,
        (false, true) => 0o640,
    }
}

/// Secrets stay 0600 whatever the group: the signing secret, the installation
/// key, and the deckies' own keys.
fn is_secret(rel: &Path) -> bool {
    rel == Path::new(JWT_SECRET_FILE)
        || rel == Path::new(INSTALLATION_KEY_FILE)
        || rel.starts_with("deckies")
}

/// Calls `f` on `root` and everything under it, never following symlinks.
fn walk(
    root: &Path,
    f: &mut dyn FnMut(&Path, &fs::Metadata) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Gone meanwhile (a rotated transcript, a temp file).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        f(&path, &meta)?;
        if meta.is_dir() {
            let rd =
                fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))?;
            for entry in rd {
                let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// The user `up` will become once bound, decided (and checked) before anything binds.
#[derive(Debug, Clone)]
pub struct DropPlan {
    name: String,
    uid: Uid,
    gid: Gid,
}

/// Decides whom to become: `None` when not root, or with `--user root`
/// (which warns). Fails before binding if the user is unknown or cannot
/// reach the data dir.
pub fn plan_drop(
    data_dir: &Path,
    opts: &PrivacyOpts,
    group: Option<Gid>,
) -> anyhow::Result<Option<DropPlan>> {
    if !Uid::effective().is_root() {
        if let Some(u) = &opts.user {
            tracing::debug!(user = %u, "--user ignored: not running as root");
        }
        return Ok(None);
    }
    let explicit = opts.user.is_some();
    let name = match &opts.user {
        Some(u) => u.clone(),
        None => {
            ensure_default_user()?;
            DEFAULT_USER.to_owned()
        }
    };
    if name == "root" {
        tracing::warn!(
            "running as root after binding (--user root): whoever compromises a decky owns the host; \
             prefer an unprivileged user (the default drops to `decnet`)"
        );
        return Ok(None);
    }
    let user = User::from_name(&name)
        .with_context(|| format!("looking up user {name:?}"))?
        .with_context(|| {
            format!("user {name:?} (--user / DECNET_USER) does not exist: create it (useradd --system {name}) or name another")
        })?;
    if user.uid.is_root() {
        bail!("user {name:?} has uid 0: dropping to it keeps root; name an unprivileged user");
    }
    let gid = group.unwrap_or(user.gid);
    let abs = std::path::absolute(data_dir)
        .with_context(|| format!("cannot resolve the data dir {}", data_dir.display()))?;
    for dir in abs.ancestors().skip(1) {
        let m = fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
        let mode = m.mode();
        let ok = if m.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if m.gid() == gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok && !explicit {
            // The default must not break a plain `decnet up` from a checkout under /root:
            // say what is lost and how to get it, and keep running.
            tracing::warn!(
                "keeping root after binding: the data dir {} is not reachable by user {name:?} ({} is not searchable by it). \
                 Use a data dir it can reach (e.g. --data-dir /var/lib/decnet), or pass --user to insist",
                abs.display(),
                dir.display()
            );
            return Ok(None);
        }
        if !ok {
            bail!(
                "after binding, decnet runs as {name:?}, which cannot reach the data dir {}: {} is not searchable by it. \
                 Use a data dir it can reach (e.g. /var/lib/decnet), chmod o+x {}, or pass --user",
                abs.display(),
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(Some(DropPlan {
        name,
        uid: user.uid,
        gid,
    }))
}

/// Creates the default system user when it does not exist yet (`useradd --system`,
/// no home, no login shell), as a distribution package would at install.
fn ensure_default_user() -> anyhow::Result<()> {
    if matches!(User::from_name(DEFAULT_USER), Ok(Some(_))) {
        return Ok(());
    }
    let status = std::process::Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            DEFAULT_USER,
        ])
        .status()
        .with_context(|| {
            format!("creating the system user {DEFAULT_USER:?} (useradd): create it yourself, or pass --user NAME")
        })?;
    if !status.success() {
        bail!("creating the system user {DEFAULT_USER:?} failed (useradd {status}): create it yourself (useradd --system {DEFAULT_USER}), or pass --user NAME");
    }
    tracing::info!(
        user = DEFAULT_USER,
        "created the system user decnet runs as after binding"
    );
    Ok(())
}

/// Hands the data dir to the plan's user and becomes it, for good: chown
/// the tree, `setgroups([])`, `setgid`, `setuid`, then proves root cannot
/// come back and no capability is left.
pub fn drop_privileges(data_dir: &Path, plan: &DropPlan) -> anyhow::Result<()> {
    walk(data_dir, &mut |path, _| {
        nix::unistd::chown(path, Some(plan.uid), Some(plan.gid))
            .with_context(|| format!("cannot chown {} to {}", path.display(), plan.name))
    })?;
    let why = |step: &str| format!("dropping root to user {:?}: {step} failed", plan.name);
    nix::unistd::setgroups(&[]).with_context(|| why("setgroups([])"))?;
    nix::unistd::setgid(plan.gid).with_context(|| why("setgid"))?;
    nix::unistd::setuid(plan.uid).with_context(|| why("setuid"))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() || Uid::effective().is_root() {
        bail!(
            "dropped to {:?} but root could be regained: refusing to run",
            plan.name
        );
    }
    let caps = effective_caps().context("reading /proc/self/status after dropping root")?;
    if caps != 0 {
        bail!(
            "dropped to {:?} but capabilities remain (CapEff {caps:016x}): refusing to run",
            plan.name
        );
    }
    tracing::info!(user = %plan.name, uid = plan.uid.as_raw(), gid = plan.gid.as_raw(), "dropped root after binding");
    Ok(())
}

/// The `CapEff` mask of this process.
fn effective_caps() -> anyhow::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .context("no CapEff line")?;
    Ok(u64::from_str_radix(hex.trim(), 16)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn secrets_stay_owner_only_even_for_the_group() {
        let w = |p: &str, dir| wanted_mode(Path::new(p), dir, true);
        assert_eq!(w("jwt.secret", false), 0o600);
        assert_eq!(w("installation.key", false), 0o600);
        assert_eq!(w("deckies/web1/ssh/host_key", false), 0o600);
        assert_eq!(w("decnet.db", false), 0o640);
        assert_eq!(w("artifacts/web1/ssh/jwt.secret", false), 0o640);
        assert_eq!(w("journal", true), 0o2750);
        assert_eq!(wanted_mode(Path::new("decnet.db"), false, false), 0o600);
        assert_eq!(wanted_mode(Path::new("journal"), true, false), 0o700);
    }

    #[test]
    fn an_old_data_dir_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        fs::create_dir_all(d.join("journal")).unwrap();
        fs::write(d.join("decnet.db"), "x").unwrap();
        fs::set_permissions(d.join("decnet.db"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(d.join("journal"), fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&d, &PrivacyOpts::default()).unwrap();
        let mode = |p: &str| fs::metadata(d.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("decnet.db"), 0o600);
        assert_eq!(mode("journal"), 0o700);
        assert_eq!(mode(""), 0o700);
    }
}

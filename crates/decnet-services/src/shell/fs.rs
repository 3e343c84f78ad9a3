//! The session's filesystem: the persona's tree (shared, read-only, built
//! once per shell) under a copy-on-write overlay that holds what the session
//! wrote, created, changed or removed.
//!
//! Bounded: the overlay holds at most [`MAX_OVERLAY_BYTES`] of file data and
//! [`MAX_OVERLAY_NODES`] entries; past either, writes fail with "No space
//! left on device". Symlinks are followed at most [`MAX_SYMLINKS`] deep.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// File data the overlay keeps per session.
pub const MAX_OVERLAY_BYTES: usize = 16 * 1024 * 1024;
/// Entries the overlay keeps per session.
pub const MAX_OVERLAY_NODES: usize = 4096;
/// Symlink hops followed, as the kernel's ELOOP limit.
pub const MAX_SYMLINKS: usize = 40;

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Symlink(String),
    /// A character device (`/dev/null`, `/dev/zero`, …).
    CharDev,
}

/// A file, directory or link with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Permission bits (`0o755`, `0o1777`, `0o4755`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Modification time (Unix seconds).
    pub mtime: i64,
}

impl Node {
    /// A directory.
    pub fn dir(mode: u32, uid: u32, gid: u32, mtime: i64) -> Node {
        Node {
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
        }
    }

    /// A file.
    pub fn file(data: impl Into<Vec<u8>>, mode: u32, uid: u32, gid: u32, mtime: i64) -> Node {
        Node {
            kind: Kind::File(data.into()),
            mode,
            uid,
            gid,
            mtime,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Size as `ls -l` shows it.
    pub fn size(&self) -> usize {
        match &self.kind {
            Kind::Dir => 4096,
            Kind::File(d) => d.len(),
            Kind::Symlink(t) => t.len(),
            Kind::CharDev => 0,
        }
    }

    /// The `ls -l` type-and-mode string (`drwxrwxrwt`).
    pub fn mode_string(&self) -> String {
        let t = match self.kind {
            Kind::Dir => 'd',
            Kind::File(_) => '-',
            Kind::Symlink(_) => 'l',
            Kind::CharDev => 'c',
        };
        let m = self.mode;
        let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
        let special = |x: u32, s: u32, lower: char, upper: char| match (m & x != 0, m & s != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        };
        let mut s = String::with_capacity(10);
        s.push(t);
        s.push(bit(0o400, 'r'));
        s.push(bit(0o200, 'w'));
        s.push(special(0o100, 0o4000, 's', 'S'));
        s.push(bit(0o040, 'r'));
        s.push(bit(0o020, 'w'));
        s.push(special(0o010, 0o2000, 's', 'S'));
        s.push(bit(0o004, 'r'));
        s.push(bit(0o002, 'w'));
        s.push(special(0o001, 0o1000, 't', 'T'));
        s
    }
}

/// Why a filesystem operation failed, with the text coreutils prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// ENOENT.
    NotFound,
    /// ENOTDIR.
    NotDir,
    /// EISDIR.
    IsDir,
    /// EEXIST.
    Exists,
    /// ENOTEMPTY.
    NotEmpty,
    /// EACCES.
    Denied,
    /// ENOSPC: the overlay cap.
    NoSpace,
    /// ELOOP.
    Loop,
    /// EBUSY / EPERM for things like `/proc`.
    NotPermitted,
}

impl FsError {
    /// The strerror text.
    pub fn text(self) -> &'static str {
        match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotDir => "Not a directory",
            FsError::IsDir => "Is a directory",
            FsError::Exists => "File exists",
            FsError::NotEmpty => "Directory not empty",
            FsError::Denied => "Permission denied",
            FsError::NoSpace => "No space left on device",
            FsError::Loop => "Too many levels of symbolic links",
            FsError::NotPermitted => "Operation not permitted",
        }
    }
}

/// The persona's tree and the session's changes to it.
#[derive(Debug, Clone)]
pub struct Fs {
    base: Arc<BTreeMap<String, Node>>,
    overlay: BTreeMap<String, Option<Node>>,
    bytes: usize,
    /// Files written since the last [`Fs::take_dirty`].
    dirty: BTreeSet<String>,
}

/// The parent directory of a normalised absolute path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
    }
}

/// The last component of a path.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Fs {
    /// A fresh session's view of `p`'s tree (its decky's shared base, no writes yet).
    pub fn for_persona(p: &super::Persona) -> Fs {
        Fs::new(p.machine().tree.clone())
    }

    /// A session over a base tree.
    pub fn new(base: Arc<BTreeMap<String, Node>>) -> Fs {
        Fs {
            base,
            overlay: BTreeMap::new(),
            bytes: 0,
            dirty: BTreeSet::new(),
        }
    }

    /// The node at a normalised path, not following a final symlink.
    pub fn lget(&self, path: &str) -> Option<&Node> {
        match self.overlay.get(path) {
            Some(o) => o.as_ref(),
            None => self.base.get(path),
        }
    }

    /// Follows symlinks in every component: the real path, or why not.
    pub fn real(&self, path: &str) -> Result<String, FsError> {
        let mut hops = 0;
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut cur = String::from("/");
        while let Some(seg) = todo.pop() {
            match seg.as_str() {
                "." => continue,
                ".." => {
                    cur = parent(&cur).to_owned();
                    continue;
                }
                _ => {}
            }
            match self.lget(&cur) {
                Some(n) if n.is_dir() => {}
                Some(_) => return Err(FsError::NotDir),
                None => return Err(FsError::NotFound),
            }
            let next = join(&cur, &seg);
            match self.lget(&next).map(|n| &n.kind) {
                Some(Kind::Symlink(t)) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(FsError::Loop);
                    }
                    if t.starts_with('/') {
                        cur = "/".to_owned();
                    }
                    for s in t.split('/').filter(|s| !s.is_empty()).rev() {
                        todo.push(s.to_owned());
                    }
                }
                _ => cur = next,
            }
        }
        Ok(cur)
    }

    /// The node a path names, following symlinks, with its real path.
    pub fn stat(&self, path: &str) -> Result<(String, &Node), FsError> {
        let real = self.real(path)?;
        match self.lget(&real) {
            Some(n) => Ok((real, n)),
            None => Err(FsError::NotFound),
        }
    }

    /// The node a path names, following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.stat(path).ok().map(|(_, n)| n)
    }

    /// Whether a path names a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        self.get(path).is_some_and(Node::is_dir)
    }

    /// A file's bytes.
    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        let (_, n) = self.stat(path)?;
        match &n.kind {
            Kind::File(d) => Ok(d),
            Kind::Dir => Err(FsError::IsDir),
            Kind::CharDev | Kind::Symlink(_) => Ok(&[]),
        }
    }

    /// The entries directly under a directory (real path), sorted by name.
    pub fn children(&self, dir: &str) -> Vec<(String, &Node)> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        let direct = |k: &String| {
            k.get(prefix.len()..)
                .filter(|r| !r.is_empty() && !r.contains('/'))
                .map(str::to_owned)
        };
        let mut out: BTreeMap<String, &Node> = BTreeMap::new();
        for (k, v) in self
            .base
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            if let Some(name) = direct(k) {
                out.insert(name, v);
            }
        }
        for (k, v) in self
            .overlay
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            if let Some(name) = direct(k) {
                match v {
                    Some(n) => {
                        out.insert(name, n);
                    }
                    None => {
                        out.remove(&name);
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    fn put(&mut self, path: String, node: Option<Node>) -> Result<(), FsError> {
        let new = node.as_ref().map_or(0, Node::size);
        let old = match self.overlay.get(&path) {
            Some(Some(n)) => n.size(),
            _ => 0,
        };
        let bytes = self.bytes.saturating_sub(old).saturating_add(new);
        if (bytes > MAX_OVERLAY_BYTES && new > old)
            || (self.overlay.len() >= MAX_OVERLAY_NODES && !self.overlay.contains_key(&path))
        {
            return Err(FsError::NoSpace);
        }
        self.bytes = bytes;
        if matches!(node.as_ref().map(|n| &n.kind), Some(Kind::File(d)) if !d.is_empty()) {
            self.dirty.insert(path.clone());
        } else {
            self.dirty.remove(&path);
        }
        self.overlay.insert(path, node);
        Ok(())
    }

    /// The directory a new entry at `path` goes into, checked writable by `uid`.
    fn parent_for_create(&self, path: &str, uid: u32) -> Result<String, FsError> {
        let (real_parent, dir) = self.stat(parent(path))?;
        if !dir.is_dir() {
            return Err(FsError::NotDir);
        }
        if !writable(dir, uid) {
            return Err(FsError::Denied);
        }
        if real_parent.starts_with("/proc") || real_parent.starts_with("/sys") {
            return Err(FsError::NotFound);
        }
        Ok(real_parent)
    }

    /// Writes (or appends) a file as `uid`, creating it with `mode`; returns its real path.
    pub fn write(
        &mut self,
        path: &str,
        data: &[u8],
        append: bool,
        uid: u32,
        now: i64,
    ) -> Result<String, FsError> {
        let target = match self.stat(path) {
            Ok((real, n)) => match &n.kind {
                Kind::Dir => return Err(FsError::IsDir),
                Kind::CharDev => return Ok(real),
                _ if !writable(n, uid) => return Err(FsError::Denied),
                _ => real,
            },
            Err(FsError::NotFound) => {
                let dir = self.parent_for_create(path, uid)?;
                join(&dir, base_name(path))
            }
            Err(e) => return Err(e),
        };
        let mut node = match self.lget(&target) {
            Some(n) => n.clone(),
            None => Node::file(Vec::new(), 0o644, uid, uid, now),
        };
        if let Kind::File(d) = &mut node.kind {
            if !append {
                d.clear();
            }
            let room = MAX_OVERLAY_BYTES.saturating_sub(self.bytes);
            if data.len() > room {
                return Err(FsError::NoSpace);
            }
            d.extend_from_slice(data);
        }
        node.mtime = now;
        self.put(target.clone(), Some(node))?;
        Ok(target)
    }

    /// Creates a directory (`parents`: `mkdir -p`).
    pub fn mkdir(&mut self, path: &str, parents: bool, uid: u32, now: i64) -> Result<(), FsError> {
        if parents {
            let mut cur = String::new();
            for seg in path.split('/').filter(|s| !s.is_empty()) {
                cur.push('/');
                cur.push_str(seg);
                match self.stat(&cur) {
                    Ok((_, n)) if n.is_dir() => continue,
                    Ok(_) => return Err(FsError::NotDir),
                    Err(FsError::NotFound) => self.mkdir(&cur, false, uid, now)?,
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        if self.lget(path).is_some() {
            return Err(FsError::Exists);
        }
        let dir = self.parent_for_create(path, uid)?;
        self.put(
            join(&dir, base_name(path)),
            Some(Node::dir(0o755, uid, uid, now)),
        )
    }

    /// Removes a file or link (`dir`: an empty directory; `recursive`: anything).
    pub fn remove(
        &mut self,
        path: &str,
        dir: bool,
        recursive: bool,
        uid: u32,
    ) -> Result<(), FsError> {
        let real_parent = self.real(parent(path))?;
        let target = join(&real_parent, base_name(path));
        let node = self.lget(&target).ok_or(FsError::NotFound)?;
        let parent_node = self.lget(&real_parent).ok_or(FsError::NotFound)?;
        if !writable(parent_node, uid) || target.starts_with("/proc") || target == "/" {
            return Err(if uid == 0 {
                FsError::NotPermitted
            } else {
                FsError::Denied
            });
        }
        if node.is_dir() {
            let kids: Vec<String> = self.children(&target).into_iter().map(|(n, _)| n).collect();
            if !recursive && !dir {
                return Err(FsError::IsDir);
            }
            if !kids.is_empty() && !recursive {
                return Err(FsError::NotEmpty);
            }
            for k in kids {
                let child = join(&target, &k);
                // A child that is not removable leaves the rest in place, as rm -r does.
                self.remove(&child, false, true, uid)?;
            }
        } else if dir {
            return Err(FsError::NotDir);
        }
        self.put(target, None)
    }

    /// Moves a node (and everything under it) to a new path.
    pub fn rename(&mut self, from: &str, to: &str, uid: u32) -> Result<(), FsError> {
        let src_parent = self.real(parent(from))?;
        let src = join(&src_parent, base_name(from));
        let node = self.lget(&src).cloned().ok_or(FsError::NotFound)?;
        let dst = match self.stat(to) {
            Ok((real, n)) if n.is_dir() => join(&real, base_name(&src)),
            _ => join(&self.parent_for_create(to, uid)?, base_name(to)),
        };
        if dst == src {
            return Ok(());
        }
        if dst.starts_with(&format!("{src}/")) {
            return Err(FsError::NotPermitted);
        }
        let mut moved = vec![(dst.clone(), node.clone())];
        if node.is_dir() {
            self.collect(&src, &dst, &mut moved);
        }
        self.remove(&src, false, true, uid)?;
        for (p, n) in moved {
            self.put(p, Some(n))?;
        }
        Ok(())
    }

    fn collect(&self, src: &str, dst: &str, out: &mut Vec<(String, Node)>) {
        for (name, n) in self.children(src) {
            let s = join(src, &name);
            let d = join(dst, &name);
            out.push((d.clone(), n.clone()));
            if n.is_dir() && out.len() < MAX_OVERLAY_NODES {
                self.collect(&s, &d, out);
            }
        }
    }

    /// Copies a file (into a directory if `to` is one).
    pub fn copy(&mut self, from: &str, to: &str, uid: u32, now: i64) -> Result<(), FsError> {
        let (_, n) = self.stat(from)?;
        let (data, mode) = match &n.kind {
            Kind::File(d) => (d.clone(), n.mode),
            Kind::Dir => return Err(FsError::IsDir),
            _ => (Vec::new(), n.mode),
        };
        let dst = match self.stat(to) {
            Ok((real, d)) if d.is_dir() => join(&real, base_name(from)),
            _ => to.to_owned(),
        };
        let real = self.write(&dst, &data, false, uid, now)?;
        self.set_mode(&real, mode & 0o777)
    }

    /// Changes a node's mode bits.
    pub fn set_mode(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        self.update(path, |n| n.mode = mode)
    }

    /// Changes a node's owner and group.
    pub fn set_owner(
        &mut self,
        path: &str,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<(), FsError> {
        self.update(path, |n| {
            if let Some(u) = uid {
                n.uid = u;
            }
            if let Some(g) = gid {
                n.gid = g;
            }
        })
    }

    /// Sets a node's modification time (`touch`).
    pub fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<(), FsError> {
        self.update(path, |n| n.mtime = mtime)
    }

    fn update(&mut self, path: &str, f: impl FnOnce(&mut Node)) -> Result<(), FsError> {
        let (real, n) = self.stat(path)?;
        if real.starts_with("/proc") {
            return Err(FsError::NotPermitted);
        }
        let mut n = n.clone();
        f(&mut n);
        self.put(real, Some(n))
    }

    /// Whether a file holds what the persona's tree has at that path: a
    /// `chmod` or `touch` of a shipped file, not something the session wrote.
    pub fn is_original(&self, path: &str) -> bool {
        match (self.base.get(path), self.overlay.get(path)) {
            (Some(b), Some(Some(o))) => b.kind == o.kind,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Files written (non-empty) since the last call.
    pub fn take_dirty(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.dirty)
    }

    /// Creates a symbolic link at `path` pointing to `target` (`ln -s`).
    pub fn symlink(&mut self, target: &str, path: &str, uid: u32, now: i64) -> Result<(), FsError> {
        if self.lget(path).is_some() {
            return Err(FsError::Exists);
        }
        let dir = self.parent_for_create(path, uid)?;
        self.put(
            join(&dir, base_name(path)),
            Some(Node {
                kind: Kind::Symlink(target.to_owned()),
                mode: 0o777,
                uid,
                gid: uid,
                mtime: now,
            }),
        )
    }

    /// Bytes the session has written.
    pub fn overlay_bytes(&self) -> usize {
        self.bytes
    }
}

/// Whether `uid` may write into (or to) a node; root always may.
pub fn writable(n: &Node, uid: u32) -> bool {
    uid == 0 || (n.uid == uid && n.mode & 0o200 != 0) || n.mode & 0o002 != 0
}

/// Resolves `arg` against `cwd` and `home` into a normalised absolute path (no symlinks followed).
pub fn resolve(cwd: &str, home: &str, arg: &str) -> String {
    let joined = if arg == "~" {
        home.to_owned()
    } else if let Some(rest) = arg.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if arg.starts_with('/') {
        arg.to_owned()
    } else {
        format!("{cwd}/{arg}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Fs {
        let mut b = BTreeMap::new();
        b.insert("/".to_owned(), Node::dir(0o755, 0, 0, 0));
        b.insert("/usr".to_owned(), Node::dir(0o755, 0, 0, 0));
        b.insert("/usr/bin".to_owned(), Node::dir(0o755, 0, 0, 0));
        b.insert("/usr/bin/ls".to_owned(), Node::file("", 0o755, 0, 0, 0));
        b.insert(
            "/bin".to_owned(),
            Node {
                kind: Kind::Symlink("usr/bin".into()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: 0,
            },
        );
        b.insert("/tmp".to_owned(), Node::dir(0o1777, 0, 0, 0));
        b.insert("/root".to_owned(), Node::dir(0o700, 0, 0, 0));
        b.insert("/home".to_owned(), Node::dir(0o755, 0, 0, 0));
        b.insert("/home/u".to_owned(), Node::dir(0o755, 1000, 1000, 0));
        Fs::new(Arc::new(b))
    }

    #[test]
    fn paths_resolve_like_a_shell() {
        assert_eq!(resolve("/root", "/root", ".."), "/");
        assert_eq!(resolve("/", "/root", "../../etc/./passwd"), "/etc/passwd");
        assert_eq!(resolve("/tmp", "/root", "~"), "/root");
        assert_eq!(resolve("/tmp", "/root", "~/.ssh"), "/root/.ssh");
        assert_eq!(resolve("/var", "/root", "log"), "/var/log");
    }

    #[test]
    fn symlinks_are_followed_and_loops_end() {
        let mut fs = tree();
        assert_eq!(fs.real("/bin/ls"), Ok("/usr/bin/ls".to_owned()));
        assert!(fs.get("/bin/ls").is_some());
        assert_eq!(
            fs.lget("/bin").map(Node::mode_string).as_deref(),
            Some("lrwxrwxrwx")
        );
        fs.overlay.insert(
            "/tmp/a".into(),
            Some(Node {
                kind: Kind::Symlink("/tmp/a".into()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: 0,
            }),
        );
        assert_eq!(fs.real("/tmp/a/x"), Err(FsError::Loop));
    }

    #[test]
    fn writes_are_the_sessions_own_and_visible_after() {
        let mut fs = tree();
        let before = fs.clone();
        fs.write("/tmp/x", b"hi", false, 0, 5).unwrap();
        fs.write("/tmp/x", b"!", true, 0, 6).unwrap();
        assert_eq!(fs.read("/tmp/x"), Ok(&b"hi!"[..]));
        assert!(before.get("/tmp/x").is_none());
        fs.mkdir("/tmp/a/b/c", true, 0, 7).unwrap();
        assert!(fs.is_dir("/tmp/a/b"));
        assert_eq!(fs.mkdir("/tmp/a", false, 0, 7), Err(FsError::Exists));
        fs.rename("/tmp/a", "/tmp/z", 0).unwrap();
        assert!(fs.is_dir("/tmp/z/b/c") && fs.get("/tmp/a").is_none());
        fs.copy("/tmp/x", "/tmp/z", 0, 8).unwrap();
        assert_eq!(fs.read("/tmp/z/x"), Ok(&b"hi!"[..]));
        assert_eq!(fs.remove("/tmp/z", false, false, 0), Err(FsError::IsDir));
        fs.remove("/tmp/z", false, true, 0).unwrap();
        assert!(fs.children("/tmp").iter().all(|(n, _)| n == "x"));
        fs.remove("/usr/bin/ls", false, false, 0).unwrap();
        assert!(fs.get("/bin/ls").is_none());
    }

    #[test]
    fn users_write_only_where_modes_let_them() {
        let mut fs = tree();
        assert_eq!(
            fs.write("/root/x", b"", false, 1000, 0),
            Err(FsError::Denied)
        );
        assert!(fs.write("/tmp/x", b"", false, 1000, 0).is_ok());
        assert!(fs.write("/home/u/x", b"", false, 1000, 0).is_ok());
        assert_eq!(
            fs.remove("/usr/bin/ls", false, false, 1000),
            Err(FsError::Denied)
        );
        assert_eq!(fs.read("/nope"), Err(FsError::NotFound));
        assert_eq!(fs.read("/tmp"), Err(FsError::IsDir));
    }

    #[test]
    fn the_overlay_is_bounded() {
        let mut fs = tree();
        let big = vec![0u8; MAX_OVERLAY_BYTES / 2 + 1];
        fs.write("/tmp/a", &big, false, 0, 0).unwrap();
        assert_eq!(fs.write("/tmp/b", &big, false, 0, 0), Err(FsError::NoSpace));
        // Rewriting the same file frees its old bytes first.
        fs.write("/tmp/a", b"x", false, 0, 0).unwrap();
        assert!(fs.overlay_bytes() < 10);
        for i in 0..MAX_OVERLAY_NODES {
            if fs.write(&format!("/tmp/f{i}"), b"", false, 0, 0).is_err() {
                return;
            }
        }
        panic!("node cap never reached");
    }

    #[test]
    fn modes_print_as_ls_does() {
        assert_eq!(Node::dir(0o1777, 0, 0, 0).mode_string(), "drwxrwxrwt");
        assert_eq!(Node::dir(0o700, 0, 0, 0).mode_string(), "drwx------");
        assert_eq!(Node::file("", 0o4755, 0, 0, 0).mode_string(), "-rwsr-xr-x");
    }
}

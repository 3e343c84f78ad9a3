//! File transfers over a session channel, as sans-IO state machines: legacy
//! `scp -t` (upload) and `scp -f` (download) run as `exec`, and a small SFTP
//! version 3 server for the `sftp` subsystem (the `sftp` client, and `scp`,
//! which speaks SFTP since OpenSSH 9.0). Uploads are kept whole up to
//! [`MAX_UPLOAD`] bytes and handed out as [`Moved::Upload`]; reads are served
//! from the persona's filesystem and from what this session uploaded.
//!
//! Every length in attacker input is checked against what is buffered and
//! against the caps before anything is allocated.

use std::collections::HashMap;

use super::wire::codec::{put_str, put_string, put_u32, Reader};
use crate::shell::fs::{Fs, Kind};

/// Bytes of one uploaded file kept as its artifact; the rest is counted, not kept.
pub const MAX_UPLOAD: usize = crate::kit::artifact::MAX_ARTIFACT;
/// Largest SFTP packet accepted (OpenSSH's `SFTP_MAX_MSG_LENGTH`).
pub const MAX_SFTP_PACKET: usize = 256 * 1024;
/// Open handles per SFTP session.
const MAX_HANDLES: usize = 64;

/// A file that crossed the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// The client sent a file.
    Upload {
        /// Path as the client named it.
        name: String,
        /// The bytes kept (at most [`MAX_UPLOAD`]).
        data: Vec<u8>,
        /// Bytes sent in all.
        size: u64,
        /// `scp` or `sftp`.
        tool: &'static str,
    },
    /// The client fetched a file.
    Download {
        /// Path as the client named it.
        name: String,
        /// Bytes served.
        size: u64,
        /// `scp` or `sftp`.
        tool: &'static str,
    },
}

/// What one input step produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Bytes for the client.
    pub out: Vec<u8>,
    /// Files moved.
    pub moved: Vec<Moved>,
    /// The transfer ended with this exit status.
    pub exit: Option<u32>,
}

/// A transfer running on one channel.
#[derive(Debug)]
pub enum Transfer {
    /// `scp -t`.
    Sink(ScpSink),
    /// `scp -f`.
    Source(ScpSource),
    /// The `sftp` subsystem.
    Sftp(Box<Sftp>),
}

/// The transfer an `exec` command line asks for, if it is legacy scp's remote end.
pub fn for_exec(command: &str, fs: &Fs, cwd: &str) -> Option<(Transfer, Step)> {
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.first() != Some(&"scp") {
        return None;
    }
    let flags: Vec<&str> = words
        .iter()
        .skip(1)
        .copied()
        .filter(|w| w.starts_with('-'))
        .collect();
    let target = words
        .iter()
        .skip(1)
        .copied()
        .rfind(|w| !w.starts_with('-'))
        .unwrap_or(".");
    let has = |c: char| flags.iter().any(|f| f.contains(c));
    if has('t') {
        let sink = ScpSink {
            target: target.to_owned(),
            buf: Vec::new(),
            file: None,
        };
        // The sink speaks first: a zero byte says "ready".
        return Some((
            Transfer::Sink(sink),
            Step {
                out: vec![0],
                ..Step::default()
            },
        ));
    }
    if has('f') {
        let path = crate::shell::fs::resolve(cwd, cwd, target);
        let file = match fs.get(&path).map(|n| &n.kind) {
            Some(Kind::File(c)) => Some(c.clone()),
            _ => None,
        };
        let src = ScpSource {
            name: target.to_owned(),
            file,
            stage: 0,
        };
        return Some((Transfer::Source(src), Step::default()));
    }
    None
}

impl Transfer {
    /// Feeds channel data.
    pub fn input(&mut self, data: &[u8]) -> Step {
        match self {
            Transfer::Sink(s) => s.input(data),
            Transfer::Source(s) => s.input(data),
            Transfer::Sftp(s) => s.input(data),
        }
    }

    /// The client sent EOF.
    pub fn eof(&mut self) -> Step {
        Step {
            exit: Some(0),
            ..Step::default()
        }
    }
}

#[derive(Debug)]
struct Incoming {
    name: String,
    left: u64,
    size: u64,
    data: Vec<u8>,
}

/// The receiving end of legacy scp.
#[derive(Debug)]
pub struct ScpSink {
    target: String,
    buf: Vec<u8>,
    file: Option<Incoming>,
}

impl ScpSink {
    fn input(&mut self, data: &[u8]) -> Step {
        let mut step = Step::default();
        let mut data = data;
        loop {
            if let Some(f) = self.file.as_mut() {
                if f.left > 0 {
                    let n = usize::try_from(f.left)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    let (now, rest) = data.split_at(n);
                    let room = MAX_UPLOAD.saturating_sub(f.data.len());
                    f.data
                        .extend_from_slice(now.get(..room.min(now.len())).unwrap_or(&[]));
                    f.left -= n as u64;
                    data = rest;
                    if f.left > 0 {
                        return step;
                    }
                }
                // The file's bytes are followed by one status byte.
                let Some((_, rest)) = data.split_first() else {
                    return step;
                };
                data = rest;
                if let Some(f) = self.file.take() {
                    step.moved.push(Moved::Upload {
                        name: join(&self.target, &f.name),
                        data: f.data,
                        size: f.size,
                        tool: "scp",
                    });
                }
                step.out.push(0);
                continue;
            }
            let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                if self.buf.len() + data.len() > 4096 {
                    step.out
                        .extend_from_slice(b"\x01scp: protocol error: line too long\n");
                    step.exit = Some(1);
                    return step;
                }
                self.buf.extend_from_slice(data);
                return step;
            };
            let (line, rest) = data.split_at(nl);
            data = rest.get(1..).unwrap_or(&[]);
            let mut l = std::mem::take(&mut self.buf);
            l.extend_from_slice(line);
            let line = String::from_utf8_lossy(&l).into_owned();
            match line.chars().next() {
                Some('C') => {
                    let mut parts = line.splitn(3, ' ');
                    let _mode = parts.next();
                    let size = parts.next().and_then(|s| s.parse::<u64>().ok());
                    let name = parts.next().unwrap_or("").to_owned();
                    let Some(size) = size else {
                        step.out
                            .extend_from_slice(b"\x01scp: protocol error: size not delimited\n");
                        step.exit = Some(1);
                        return step;
                    };
                    self.file = Some(Incoming {
                        name,
                        left: size,
                        size,
                        data: Vec::new(),
                    });
                    step.out.push(0);
                }
                Some('D' | 'E' | 'T') => step.out.push(0),
                _ => {
                    step.out
                        .extend_from_slice(b"\x01scp: protocol error: expected control record\n");
                    step.exit = Some(1);
                    return step;
                }
            }
        }
    }
}

fn join(target: &str, name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    if target.ends_with('/') || target == "." || target == "~" {
        format!("{}/{base}", target.trim_end_matches('/'))
    } else if target.is_empty() {
        base.to_owned()
    } else {
        target.to_owned()
    }
}

/// The sending end of legacy scp.
#[derive(Debug)]
pub struct ScpSource {
    name: String,
    file: Option<Vec<u8>>,
    stage: u8,
}

impl ScpSource {
    fn input(&mut self, data: &[u8]) -> Step {
        let mut step = Step::default();
        for _ in data {
            match self.stage {
                0 => match &self.file {
                    None => {
                        step.out.extend_from_slice(
                            format!("\x01scp: {}: No such file or directory\n", self.name)
                                .as_bytes(),
                        );
                        step.exit = Some(1);
                        return step;
                    }
                    Some(f) => {
                        let base = self.name.rsplit('/').next().unwrap_or(&self.name);
                        step.out
                            .extend_from_slice(format!("C0644 {} {base}\n", f.len()).as_bytes());
                        self.stage = 1;
                    }
                },
                1 => {
                    if let Some(f) = &self.file {
                        step.out.extend_from_slice(f);
                        step.out.push(0);
                        step.moved.push(Moved::Download {
                            name: self.name.clone(),
                            size: f.len() as u64,
                            tool: "scp",
                        });
                    }
                    self.stage = 2;
                }
                _ => {
                    step.exit = Some(0);
                    return step;
                }
            }
        }
        step
    }
}

// SFTP v3 (draft-ietf-secsh-filexfer-02) message numbers and status codes.
const INIT: u8 = 1;
const VERSION: u8 = 2;
const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const READ: u8 = 5;
const WRITE: u8 = 6;
const LSTAT: u8 = 7;
const FSTAT: u8 = 8;
const OPENDIR: u8 = 11;
const READDIR: u8 = 12;
const REALPATH: u8 = 16;
const STAT: u8 = 17;
const STATUS: u8 = 101;
const HANDLE: u8 = 102;
const DATA: u8 = 103;
const NAME: u8 = 104;
const ATTRS: u8 = 105;
const FX_OK: u32 = 0;
const FX_EOF: u32 = 1;
const FX_NO_SUCH_FILE: u32 = 2;
const FX_FAILURE: u32 = 4;
const FX_OP_UNSUPPORTED: u32 = 8;
const FXF_WRITE: u32 = 0x02;

#[derive(Debug)]
enum Handle {
    Read {
        name: String,
        data: Vec<u8>,
        served: u64,
    },
    Write {
        name: String,
        data: Vec<u8>,
        size: u64,
    },
    Dir {
        entries: Vec<(String, bool, u64)>,
        sent: bool,
    },
}

/// A small SFTP v3 server over the persona's filesystem.
#[derive(Debug)]
pub struct Sftp {
    fs: Fs,
    home: String,
    buf: Vec<u8>,
    handles: HashMap<u32, Handle>,
    next: u32,
    /// What this session uploaded, readable back.
    written: HashMap<String, Vec<u8>>,
}

impl Sftp {
    /// A server whose relative paths start at `home`.
    pub fn new(fs: Fs, home: &str) -> Sftp {
        Sftp {
            fs,
            home: home.to_owned(),
            buf: Vec::new(),
            handles: HashMap::new(),
            next: 0,
            written: HashMap::new(),
        }
    }

    fn input(&mut self, data: &[u8]) -> Step {
        let mut step = Step::default();
        self.buf.extend_from_slice(data);
        loop {
            let Some(len) = self.buf.get(..4).map(|b| {
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                u32::from_be_bytes(a) as usize
            }) else {
                return step;
            };
            if len == 0 || len > MAX_SFTP_PACKET {
                step.exit = Some(1);
                return step;
            }
            if self.buf.len() < 4 + len {
                return step;
            }
            let pkt: Vec<u8> = self.buf.drain(..4 + len).skip(4).collect();
            if self.packet(&pkt, &mut step).is_none() {
                // A malformed request ends the session as sftp-server does.
                step.exit = Some(1);
                return step;
            }
        }
    }

    fn path(&self, p: &str) -> String {
        crate::shell::fs::resolve(&self.home, &self.home, if p.is_empty() { "." } else { p })
    }

    fn lookup(&self, path: &str) -> Option<(bool, u64)> {
        if let Some(d) = self.written.get(path) {
            return Some((false, d.len() as u64));
        }
        self.fs
            .get(path)
            .map(|n| (n.is_dir(), if n.is_dir() { 4096 } else { n.size() as u64 }))
    }

    fn packet(&mut self, pkt: &[u8], step: &mut Step) -> Option<()> {
        let mut r = Reader::new(pkt);
        let kind = r.u8().ok()?;
        if kind == INIT {
            let mut b = vec![VERSION];
            put_u32(&mut b, 3);
            for (name, v) in [
                ("posix-rename@openssh.com", "1"),
                ("statvfs@openssh.com", "2"),
                ("fstatvfs@openssh.com", "2"),
                ("hardlink@openssh.com", "1"),
                ("fsync@openssh.com", "1"),
                ("lsetstat@openssh.com", "1"),
            ] {
                put_str(&mut b, name);
                put_str(&mut b, v);
            }
            frame(step, &b);
            return Some(());
        }
        let id = r.u32().ok()?;
        match kind {
            REALPATH => {
                // sftp-server answers the resolved path as name and long name, no attributes.
                let p = self.path(r.utf8().ok()?);
                let mut b = vec![NAME];
                put_u32(&mut b, id);
                put_u32(&mut b, 1);
                put_str(&mut b, &p);
                put_str(&mut b, &p);
                put_u32(&mut b, 0);
                frame(step, &b);
            }
            STAT | LSTAT => {
                let p = self.path(r.utf8().ok()?);
                match self.lookup(&p) {
                    Some((dir, size)) => attrs_reply(step, id, dir, size),
                    None => status(step, id, FX_NO_SUCH_FILE, "No such file"),
                }
            }
            OPEN => {
                let name = r.utf8().ok()?.to_owned();
                let flags = r.u32().ok()?;
                let p = self.path(&name);
                if self.handles.len() >= MAX_HANDLES {
                    status(step, id, FX_FAILURE, "Failure");
                    return Some(());
                }
                let h = if flags & FXF_WRITE != 0 {
                    Handle::Write {
                        name: p,
                        data: Vec::new(),
                        size: 0,
                    }
                } else {
                    let data = match self.written.get(&p) {
                        Some(d) => d.clone(),
                        None => match self.fs.get(&p).map(|n| &n.kind) {
                            Some(Kind::File(c)) => c.clone(),
                            Some(_) => {
                                status(step, id, FX_FAILURE, "Failure");
                                return Some(());
                            }
                            None => {
                                status(step, id, FX_NO_SUCH_FILE, "No such file");
                                return Some(());
                            }
                        },
                    };
                    Handle::Read {
                        name: p,
                        data,
                        served: 0,
                    }
                };
                self.new_handle(step, id, h);
            }
            OPENDIR => {
                let p = self.path(r.utf8().ok()?);
                if self.lookup(&p).map(|(d, _)| d) != Some(true) {
                    status(step, id, FX_NO_SUCH_FILE, "No such file");
                    return Some(());
                }
                let entries = self
                    .fs
                    .children(&p)
                    .into_iter()
                    .map(|(n, node)| {
                        let size = if node.is_dir() {
                            4096
                        } else {
                            node.size() as u64
                        };
                        (n, node.is_dir(), size)
                    })
                    .collect();
                self.new_handle(
                    step,
                    id,
                    Handle::Dir {
                        entries,
                        sent: false,
                    },
                );
            }
            READDIR => {
                let h = handle_id(r.string().ok()?)?;
                match self.handles.get_mut(&h) {
                    Some(Handle::Dir { entries, sent }) if !*sent => {
                        *sent = true;
                        let list: Vec<(String, bool, u64)> = entries.clone();
                        let mut b = vec![NAME];
                        put_u32(&mut b, id);
                        put_u32(&mut b, u32::try_from(list.len()).unwrap_or(0));
                        for (n, dir, size) in &list {
                            put_str(&mut b, n);
                            put_str(&mut b, &long_name(n, *dir, *size));
                            put_attrs(&mut b, *dir, *size);
                        }
                        frame(step, &b);
                    }
                    Some(Handle::Dir { .. }) => status(step, id, FX_EOF, "End of file"),
                    _ => status(step, id, FX_FAILURE, "Failure"),
                }
            }
            READ => {
                let h = handle_id(r.string().ok()?)?;
                let offset = read_u64(&mut r)?;
                let len = r.u32().ok()?.min(256 * 1024) as usize;
                match self.handles.get_mut(&h) {
                    Some(Handle::Read { data, served, .. }) => {
                        let start = usize::try_from(offset).unwrap_or(usize::MAX);
                        match data.get(start..) {
                            Some(rest) if !rest.is_empty() => {
                                let chunk = rest.get(..len.min(rest.len())).unwrap_or(&[]);
                                *served = (*served).max(offset + chunk.len() as u64);
                                let mut b = vec![DATA];
                                put_u32(&mut b, id);
                                put_string(&mut b, chunk);
                                frame(step, &b);
                            }
                            _ => status(step, id, FX_EOF, "End of file"),
                        }
                    }
                    _ => status(step, id, FX_FAILURE, "Failure"),
                }
            }
            WRITE => {
                let h = handle_id(r.string().ok()?)?;
                let offset = read_u64(&mut r)?;
                let chunk = r.string().ok()?;
                match self.handles.get_mut(&h) {
                    Some(Handle::Write { data, size, .. }) => {
                        let end = offset.saturating_add(chunk.len() as u64);
                        *size = (*size).max(end);
                        let start = usize::try_from(offset).unwrap_or(usize::MAX);
                        if start < MAX_UPLOAD {
                            let keep = chunk
                                .get(..(MAX_UPLOAD - start).min(chunk.len()))
                                .unwrap_or(&[]);
                            if data.len() < start + keep.len() {
                                data.resize(start + keep.len(), 0);
                            }
                            if let Some(slot) = data.get_mut(start..start + keep.len()) {
                                slot.copy_from_slice(keep);
                            }
                        }
                        status(step, id, FX_OK, "Success");
                    }
                    _ => status(step, id, FX_FAILURE, "Failure"),
                }
            }
            FSTAT => {
                let h = handle_id(r.string().ok()?)?;
                match self.handles.get(&h) {
                    Some(Handle::Read { data, .. }) => {
                        attrs_reply(step, id, false, data.len() as u64)
                    }
                    Some(Handle::Write { size, .. }) => attrs_reply(step, id, false, *size),
                    Some(Handle::Dir { .. }) => attrs_reply(step, id, true, 4096),
                    None => status(step, id, FX_FAILURE, "Failure"),
                }
            }
            CLOSE => {
                let h = handle_id(r.string().ok()?)?;
                match self.handles.remove(&h) {
                    Some(Handle::Write { name, data, size }) => {
                        self.written.insert(name.clone(), data.clone());
                        step.moved.push(Moved::Upload {
                            name,
                            data,
                            size,
                            tool: "sftp",
                        });
                        status(step, id, FX_OK, "Success");
                    }
                    Some(Handle::Read { name, served, .. }) => {
                        step.moved.push(Moved::Download {
                            name,
                            size: served,
                            tool: "sftp",
                        });
                        status(step, id, FX_OK, "Success");
                    }
                    Some(Handle::Dir { .. }) => status(step, id, FX_OK, "Success"),
                    None => status(step, id, FX_FAILURE, "Failure"),
                }
            }
            // SETSTAT, FSETSTAT, MKDIR, REMOVE, RENAME…: accepted without effect,
            // as a permissive server would; extensions are not implemented.
            9 | 10 | 13 | 14 | 15 | 18 => status(step, id, FX_OK, "Success"),
            _ => status(step, id, FX_OP_UNSUPPORTED, "Operation unsupported"),
        }
        Some(())
    }

    fn new_handle(&mut self, step: &mut Step, id: u32, h: Handle) {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        self.handles.insert(n, h);
        let mut b = vec![HANDLE];
        put_u32(&mut b, id);
        put_string(&mut b, &n.to_be_bytes());
        frame(step, &b);
    }
}

fn read_u64(r: &mut Reader<'_>) -> Option<u64> {
    let hi = r.u32().ok()?;
    let lo = r.u32().ok()?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

fn handle_id(h: &[u8]) -> Option<u32> {
    let a: [u8; 4] = h.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

fn frame(step: &mut Step, body: &[u8]) {
    put_u32(&mut step.out, u32::try_from(body.len()).unwrap_or(u32::MAX));
    step.out.extend_from_slice(body);
}

fn status(step: &mut Step, id: u32, code: u32, text: &str) {
    let mut b = vec![STATUS];
    put_u32(&mut b, id);
    put_u32(&mut b, code);
    put_str(&mut b, text);
    put_str(&mut b, "");
    frame(step, &b);
}

fn put_attrs(b: &mut Vec<u8>, dir: bool, size: u64) {
    // SIZE | UIDGID | PERMISSIONS | ACMODTIME
    put_u32(b, 0x0f);
    put_u32(b, (size >> 32) as u32);
    put_u32(b, size as u32);
    put_u32(b, 0);
    put_u32(b, 0);
    put_u32(b, if dir { 0o040755 } else { 0o100644 });
    put_u32(b, 1_700_000_000);
    put_u32(b, 1_700_000_000);
}

fn attrs_reply(step: &mut Step, id: u32, dir: bool, size: u64) {
    let mut b = vec![ATTRS];
    put_u32(&mut b, id);
    put_attrs(&mut b, dir, size);
    frame(step, &b);
}

fn long_name(name: &str, dir: bool, size: u64) -> String {
    let mode = if dir { "drwxr-xr-x" } else { "-rw-r--r--" };
    format!("{mode}    1 root     root     {size:>8} Nov 14 22:13 {name}")
}

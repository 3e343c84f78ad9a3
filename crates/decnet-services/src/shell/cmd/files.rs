//! File tools over the session filesystem: `ls`, `cat`, `mkdir`, `rm`,
//! `touch`, `mv`, `cp`, `ln`, `chmod`, `chown`, `chattr`, `stat`, `find`,
//! `tee`, `du`, `readlink`, `basename`, `dirname`, with coreutils' messages.

use chrono::{DateTime, Utc};

use super::text::read_file;
use super::Outcome;
use crate::shell::fs::{base_name, parent, resolve, FsError, Kind, Node};
use crate::shell::State;

/// Runs a file tool; `None` when `name` is not one.
pub fn run(name: &str, st: &mut State, args: &[String], stdin: &[u8]) -> Option<Outcome> {
    Some(match name {
        "ls" | "dir" | "vdir" => ls(st, args),
        "cat" => {
            let files: Vec<String> = args
                .iter()
                .filter(|a| !(a.starts_with('-') && a.len() > 1))
                .cloned()
                .collect();
            let mut out = Vec::new();
            let mut err = String::new();
            let mut status = 0;
            if files.is_empty() {
                return Some(Outcome::ok(stdin.to_vec()));
            }
            for f in &files {
                if f == "-" {
                    out.extend_from_slice(stdin);
                    continue;
                }
                match read_file(st, f) {
                    Ok(d) => out.extend_from_slice(&d),
                    Err(e) => {
                        err.push_str(&format!("cat: {f}: {e}\n"));
                        status = 1;
                    }
                }
            }
            Outcome::both(out, err, status)
        }
        "mkdir" => each(st, "mkdir", args, |st, a, opts| {
            let p = resolve(&st.cwd, &st.home, a);
            let (uid, now) = (st.uid, st.now());
            st.fs.mkdir(&p, opts.contains('p'), uid, now).map_err(|e| {
                // mkdir quotes with the locale's quotation marks (UTF-8 on every persona).
                format!("mkdir: cannot create directory ‘{a}’: {}\n", e.text())
            })
        }),
        "rmdir" => each(st, "rmdir", args, |st, a, _| {
            let p = resolve(&st.cwd, &st.home, a);
            let uid = st.uid;
            st.fs
                .remove(&p, true, false, uid)
                .map_err(|e| format!("rmdir: failed to remove '{a}': {}\n", e.text()))
        }),
        "rm" => rm(st, args),
        "touch" => each(st, "touch", args, |st, a, _| {
            let p = resolve(&st.cwd, &st.home, a);
            let (uid, now) = (st.uid, st.now());
            if st.fs.get(&p).is_some() {
                st.fs
                    .set_mtime(&p, now)
                    .map_err(|e| format!("touch: cannot touch '{a}': {}\n", e.text()))
            } else {
                st.fs
                    .write(&p, b"", true, uid, now)
                    .map(|_| ())
                    .map_err(|e| format!("touch: cannot touch '{a}': {}\n", e.text()))
            }
        }),
        "mv" => two(st, "mv", args, |st, from, to| {
            let (f, t) = (
                resolve(&st.cwd, &st.home, from),
                resolve(&st.cwd, &st.home, to),
            );
            let uid = st.uid;
            st.fs.rename(&f, &t, uid).map_err(|e| match e {
                FsError::NotFound => {
                    format!("mv: cannot stat '{from}': No such file or directory\n")
                }
                e => format!("mv: cannot move '{from}' to '{to}': {}\n", e.text()),
            })
        }),
        "cp" => two(st, "cp", args, |st, from, to| {
            let (f, t) = (
                resolve(&st.cwd, &st.home, from),
                resolve(&st.cwd, &st.home, to),
            );
            let (uid, now) = (st.uid, st.now());
            if st.fs.is_dir(&f) {
                return Err(format!(
                    "cp: -r not specified; omitting directory '{from}'\n"
                ));
            }
            if let Ok(d) = read_file(st, from) {
                let dst = if st.fs.is_dir(&t) {
                    format!("{t}/{}", base_name(&f))
                } else {
                    t.clone()
                };
                let mode = st.fs.get(&f).map_or(0o644, |n| n.mode & 0o777);
                return st
                    .fs
                    .write(&dst, &d, false, uid, now)
                    .and_then(|real| st.fs.set_mode(&real, mode))
                    .map_err(|e| format!("cp: cannot create regular file '{to}': {}\n", e.text()));
            }
            st.fs.copy(&f, &t, uid, now).map_err(|e| match e {
                FsError::NotFound => {
                    format!("cp: cannot stat '{from}': No such file or directory\n")
                }
                e => format!("cp: cannot create regular file '{to}': {}\n", e.text()),
            })
        }),
        "ln" => two(st, "ln", args, |st, from, to| {
            let t = resolve(&st.cwd, &st.home, to);
            let (uid, now) = (st.uid, st.now());
            st.fs
                .symlink(from, &t, uid, now)
                .map_err(|e| format!("ln: failed to create symbolic link '{to}': {}\n", e.text()))
        }),
        "chmod" => chmod(st, args),
        "chown" | "chgrp" => chown(name, st, args),
        "chattr" => {
            let files: Vec<&String> = args
                .iter()
                .filter(|a| !a.starts_with('-') && !a.starts_with('+') && !a.starts_with('='))
                .collect();
            let mut err = String::new();
            for f in files {
                let p = resolve(&st.cwd, &st.home, f);
                if st.fs.get(&p).is_none() {
                    err.push_str(&format!(
                        "chattr: No such file or directory while trying to stat {f}\n"
                    ));
                } else if st.uid != 0 {
                    err.push_str(&format!(
                        "chattr: Operation not permitted while setting flags on {f}\n"
                    ));
                }
            }
            let status = i32::from(!err.is_empty());
            Outcome::both("", err, status)
        }
        "lsattr" => {
            let mut out = String::new();
            for f in args.iter().filter(|a| !a.starts_with('-')) {
                out.push_str(&format!("--------------e------- {f}\n"));
            }
            Outcome::ok(out)
        }
        "stat" => stat(st, args),
        "find" => find(st, args),
        "tee" => {
            let append = args.iter().any(|a| a == "-a" || a == "--append");
            let mut err = String::new();
            for f in args.iter().filter(|a| !a.starts_with('-')) {
                let p = resolve(&st.cwd, &st.home, f);
                let (uid, now) = (st.uid, st.now());
                if let Err(e) = st.fs.write(&p, stdin, append, uid, now) {
                    err.push_str(&format!("tee: {f}: {}\n", e.text()));
                }
            }
            let status = i32::from(!err.is_empty());
            Outcome::both(stdin.to_vec(), err, status)
        }
        "du" => {
            let targets: Vec<String> = args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect();
            let targets = if targets.is_empty() {
                vec![".".to_owned()]
            } else {
                targets
            };
            let human = args.iter().any(|a| a.starts_with('-') && a.contains('h'));
            let mut out = String::new();
            for t in targets {
                let p = resolve(&st.cwd, &st.home, &t);
                let kb = st
                    .fs
                    .get(&p)
                    .map_or(0, |n| n.size().div_ceil(4096) * 4)
                    .max(4);
                if human {
                    out.push_str(&format!("{}K\t{t}\n", kb));
                } else {
                    out.push_str(&format!("{kb}\t{t}\n"));
                }
            }
            Outcome::ok(out)
        }
        "readlink" | "realpath" => {
            let mut out = String::new();
            let mut status = 0;
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                let p = resolve(&st.cwd, &st.home, a);
                let follow = name == "realpath" || args.iter().any(|x| x == "-f" || x == "-e");
                if follow {
                    match st.fs.real(&p) {
                        Ok(r) => out.push_str(&format!("{r}\n")),
                        Err(_) => status = 1,
                    }
                } else if let Some(Node {
                    kind: Kind::Symlink(t),
                    ..
                }) = st.fs.lget(&p)
                {
                    out.push_str(&format!("{t}\n"));
                } else {
                    status = 1;
                }
            }
            Outcome::fail(out, status)
        }
        "basename" => match args.first() {
            Some(a) => {
                let mut b = base_name(a.trim_end_matches('/')).to_owned();
                if let Some(suf) = args.get(1) {
                    if b != *suf {
                        b = b.strip_suffix(suf.as_str()).unwrap_or(&b).to_owned();
                    }
                }
                Outcome::ok(format!("{b}\n"))
            }
            None => Outcome::fail_err(
                "basename: missing operand\nTry 'basename --help' for more information.\n",
                1,
            ),
        },
        "dirname" => match args.first() {
            Some(a) if a.contains('/') => {
                Outcome::ok(format!("{}\n", parent(a.trim_end_matches('/'))))
            }
            Some(_) => Outcome::ok(".\n"),
            None => Outcome::fail_err(
                "dirname: missing operand\nTry 'dirname --help' for more information.\n",
                1,
            ),
        },
        _ => {
            let _ = stdin;
            return None;
        }
    })
}

/// Runs `f` on each operand, collecting coreutils-style errors.
fn each(
    st: &mut State,
    prog: &str,
    args: &[String],
    mut f: impl FnMut(&mut State, &str, &str) -> Result<(), String>,
) -> Outcome {
    let opts: String = args
        .iter()
        .filter(|a| a.starts_with('-') && a.len() > 1)
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let ops: Vec<&String> = args
        .iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1))
        .collect();
    if ops.is_empty() {
        return Outcome::fail_err(
            format!("{prog}: missing operand\nTry '{prog} --help' for more information.\n"),
            1,
        );
    }
    let mut err = String::new();
    for a in ops {
        if let Err(e) = f(st, a, &opts) {
            err.push_str(&e);
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both("", err, status)
}

/// Runs `f` on (source, destination) pairs: `prog SRC... DEST`.
fn two(
    st: &mut State,
    prog: &str,
    args: &[String],
    mut f: impl FnMut(&mut State, &str, &str) -> Result<(), String>,
) -> Outcome {
    let ops: Vec<&String> = args
        .iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1))
        .collect();
    match ops.as_slice() {
        [] => Outcome::fail_err(format!("{prog}: missing file operand\nTry '{prog} --help' for more information.\n"), 1),
        [one] => Outcome::fail_err(
            format!("{prog}: missing destination file operand after '{one}'\nTry '{prog} --help' for more information.\n"),
            1,
        ),
        [srcs @ .., dst] => {
            let mut err = String::new();
            for s in srcs {
                if let Err(e) = f(st, s, dst) {
                    err.push_str(&e);
                }
            }
            let status = i32::from(!err.is_empty());
            Outcome::both("", err, status)
        }
    }
}

fn rm(st: &mut State, args: &[String]) -> Outcome {
    let opts: String = args
        .iter()
        .filter(|a| a.starts_with('-') && a.len() > 1)
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let recursive = opts.contains('r') || opts.contains('R');
    let force = opts.contains('f');
    let ops: Vec<&String> = args
        .iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1))
        .collect();
    if ops.is_empty() && !force {
        return Outcome::fail_err(
            "rm: missing operand\nTry 'rm --help' for more information.\n",
            1,
        );
    }
    let mut err = String::new();
    for a in ops {
        let p = resolve(&st.cwd, &st.home, a);
        if p == "/" {
            err.push_str("rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n");
            continue;
        }
        let uid = st.uid;
        match st.fs.remove(&p, false, recursive, uid) {
            Ok(()) => {}
            Err(FsError::NotFound) if force => {}
            Err(FsError::NotFound) => err.push_str(&format!(
                "rm: cannot remove '{a}': No such file or directory\n"
            )),
            Err(FsError::IsDir) => {
                err.push_str(&format!("rm: cannot remove '{a}': Is a directory\n"))
            }
            Err(e) => err.push_str(&format!("rm: cannot remove '{a}': {}\n", e.text())),
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both("", err, status)
}

/// Parses a chmod mode (`755`, `+x`, `u+rwx,go-w`) against the current mode.
pub fn apply_mode(spec: &str, cur: u32) -> Option<u32> {
    if !spec.is_empty() && spec.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(spec, 8).ok().filter(|m| *m <= 0o7777);
    }
    let mut mode = cur;
    for clause in spec.split(',') {
        let who_end = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let who = clause.get(..who_end)?;
        let rest = clause.get(who_end..)?;
        let op = rest.chars().next()?;
        let perms = rest.get(1..)?;
        let mask_who = if who.is_empty() || who.contains('a') {
            0o777
        } else {
            let mut m = 0;
            if who.contains('u') {
                m |= 0o700;
            }
            if who.contains('g') {
                m |= 0o070;
            }
            if who.contains('o') {
                m |= 0o007;
            }
            m
        };
        let all = who.is_empty() || who.contains('a');
        let setid = (if all || who.contains('u') { 0o4000 } else { 0 })
            | (if all || who.contains('g') { 0o2000 } else { 0 });
        let mut bits = 0;
        for c in perms.chars() {
            bits |= match c {
                'r' => 0o444,
                'w' => 0o222,
                'x' | 'X' => 0o111,
                's' => setid,
                't' => 0o1000,
                _ => return None,
            };
        }
        let apply = bits & (mask_who | 0o7000);
        // `+x` without who honours the umask for w only; for r and x it is all.
        let apply = if who.is_empty() && op == '+' && perms.contains('w') {
            apply & !0o022
        } else {
            apply
        };
        mode = match op {
            '+' => mode | apply,
            '-' => mode & !apply,
            _ => (mode & !mask_who) | apply,
        };
    }
    Some(mode)
}

fn chmod(st: &mut State, args: &[String]) -> Outcome {
    let ops: Vec<&String> = args
        .iter()
        .filter(|a| {
            !(a.starts_with('-')
                && a.len() > 1
                && a.chars()
                    .nth(1)
                    .is_some_and(|c| c.is_ascii_uppercase() || c == 'v' || c == 'f' || c == 'c'))
        })
        .collect();
    let Some((mode, files)) = ops.split_first() else {
        return Outcome::fail_err(
            "chmod: missing operand\nTry 'chmod --help' for more information.\n",
            1,
        );
    };
    if files.is_empty() {
        return Outcome::fail_err(
            format!(
                "chmod: missing operand after '{mode}'\nTry 'chmod --help' for more information.\n"
            ),
            1,
        );
    }
    let mut err = String::new();
    let recursive = args.iter().any(|a| a == "-R" || a == "--recursive");
    let mut targets: Vec<(String, String)> = Vec::new();
    for f in files {
        targets.push(((*f).clone(), resolve(&st.cwd, &st.home, f)));
        if recursive {
            let mut stack = vec![resolve(&st.cwd, &st.home, f)];
            while let Some(d) = stack.pop() {
                if targets.len() > 4096 || !st.fs.is_dir(&d) {
                    continue;
                }
                let Ok(real) = st.fs.real(&d) else { continue };
                for (name, _) in st.fs.children(&real) {
                    let child = format!("{}/{name}", real.trim_end_matches('/'));
                    targets.push((child.clone(), child.clone()));
                    stack.push(child);
                }
            }
        }
    }
    for (f, _) in &targets {
        let f = f.as_str();
        let p = resolve(&st.cwd, &st.home, f);
        let Some(n) = st.fs.get(&p) else {
            err.push_str(&format!(
                "chmod: cannot access '{f}': No such file or directory\n"
            ));
            continue;
        };
        if st.uid != 0 && n.uid != st.uid {
            err.push_str(&format!(
                "chmod: changing permissions of '{f}': Operation not permitted\n"
            ));
            continue;
        }
        let Some(m) = apply_mode(mode, n.mode) else {
            return Outcome::fail_err(
                format!(
                    "chmod: invalid mode: '{mode}'\nTry 'chmod --help' for more information.\n"
                ),
                1,
            );
        };
        if let Err(e) = st.fs.set_mode(&p, m) {
            err.push_str(&format!(
                "chmod: changing permissions of '{f}': {}\n",
                e.text()
            ));
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both("", err, status)
}

fn chown(name: &str, st: &mut State, args: &[String]) -> Outcome {
    let ops: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let Some((owner, files)) = ops.split_first() else {
        return Outcome::fail_err(
            format!("{name}: missing operand\nTry '{name} --help' for more information.\n"),
            1,
        );
    };
    let (u, g) = if name == "chgrp" {
        (None, Some(owner.as_str()))
    } else {
        match owner.split_once([':', '.']) {
            Some((u, g)) => (
                Some(u).filter(|s| !s.is_empty()),
                Some(g).filter(|s| !s.is_empty()),
            ),
            None => (Some(owner.as_str()), None),
        }
    };
    let uid = match u {
        Some(u) => match st.uid_of(u).or_else(|| u.parse().ok()) {
            Some(id) => Some(id),
            None => return Outcome::fail_err(format!("{name}: invalid user: '{owner}'\n"), 1),
        },
        None => None,
    };
    let gid = match g {
        Some(g) => match st.gid_of(g).or_else(|| g.parse().ok()) {
            Some(id) => Some(id),
            None => return Outcome::fail_err(format!("{name}: invalid group: '{owner}'\n"), 1),
        },
        None => None,
    };
    let mut err = String::new();
    for f in files {
        let p = resolve(&st.cwd, &st.home, f);
        if st.fs.get(&p).is_none() {
            err.push_str(&format!(
                "{name}: cannot access '{f}': No such file or directory\n"
            ));
        } else if st.uid != 0 {
            err.push_str(&format!(
                "{name}: changing ownership of '{f}': Operation not permitted\n"
            ));
        } else if let Err(e) = st.fs.set_owner(&p, uid, gid) {
            err.push_str(&format!(
                "{name}: changing ownership of '{f}': {}\n",
                e.text()
            ));
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both("", err, status)
}

fn fmt_time(st: &State, t: i64) -> String {
    let Some(dt) = DateTime::<Utc>::from_timestamp(t, 0) else {
        return "Jan  1  1970".to_owned();
    };
    let now = st.now();
    // ls shows the year instead of the time for files over six months old (or in the future).
    if now - t > 15_778_476 || t > now + 3600 {
        dt.format("%b %e  %Y").to_string()
    } else {
        dt.format("%b %e %H:%M").to_string()
    }
}

fn long_line(st: &State, name: &str, n: &Node, widths: (usize, usize, usize, usize)) -> String {
    let owner = st.user_name(n.uid);
    let group = st.group_name(n.gid);
    let links = if n.is_dir() { 2 } else { 1 };
    let shown = match &n.kind {
        Kind::Symlink(t) => format!("{name} -> {t}"),
        _ => name.to_owned(),
    };
    let size = if n.kind == Kind::CharDev {
        "1, 3".to_owned()
    } else {
        n.size().to_string()
    };
    format!(
        "{} {links:>lw$} {owner:<ow$} {group:<gw$} {size:>sw$} {} {shown}\n",
        n.mode_string(),
        fmt_time(st, n.mtime),
        lw = widths.0,
        ow = widths.1,
        gw = widths.2,
        sw = widths.3,
    )
}

/// Names in GNU ls's column layout for an 80-column terminal.
pub fn columns(names: &[String], width: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    let n = names.len();
    let lens: Vec<usize> = names.iter().map(|s| s.chars().count()).collect();
    let mut best_cols = 1;
    for cols in (1..=n.min(width / 3 + 1)).rev() {
        let rows = n.div_ceil(cols);
        let mut total = 0;
        for c in 0..cols {
            let w = (0..rows)
                .filter_map(|r| lens.get(c * rows + r))
                .max()
                .copied()
                .unwrap_or(0);
            total += w + if c + 1 < cols { 2 } else { 0 };
        }
        if total <= width {
            best_cols = cols;
            break;
        }
    }
    let rows = n.div_ceil(best_cols);
    let cols = n.div_ceil(rows);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            (0..rows)
                .filter_map(|r| lens.get(c * rows + r))
                .max()
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            let Some(name) = names.get(c * rows + r) else {
                continue;
            };
            line.push_str(name);
            if names.get((c + 1) * rows + r).is_some() {
                let pad = widths.get(c).copied().unwrap_or(0) + 2 - name.chars().count();
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ls(st: &State, args: &[String]) -> Outcome {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-') && !a.starts_with("--") && a.len() > 1)
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let long = flags.contains('l') || flags.contains('n');
    let all = flags.contains('a');
    let almost = flags.contains('A');
    let one = flags.contains('1') || !st.tty;
    let dir_only = flags.contains('d');
    let reverse = flags.contains('r');
    let by_time = flags.contains('t');
    let targets: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-') || a.len() == 1)
        .cloned()
        .collect();
    let targets = if targets.is_empty() {
        vec![".".to_owned()]
    } else {
        targets
    };
    let mut out = String::new();
    let mut err = String::new();
    let mut status = 0;
    let mut file_entries: Vec<(String, Node)> = Vec::new();
    let mut dirs: Vec<(String, String)> = Vec::new();
    for t in &targets {
        let path = resolve(&st.cwd, &st.home, t);
        match st.fs.stat(&path) {
            Err(_) => {
                err.push_str(&format!(
                    "ls: cannot access '{t}': No such file or directory\n"
                ));
                status = 2;
            }
            Ok((real, n)) => {
                if n.is_dir() && !dir_only {
                    if st.uid != 0 && n.mode & 0o004 == 0 && n.uid != st.uid {
                        err.push_str(&format!(
                            "ls: cannot open directory '{t}': Permission denied\n"
                        ));
                        status = 2;
                        continue;
                    }
                    dirs.push((t.clone(), real));
                } else {
                    file_entries.push((t.clone(), n.clone()));
                }
            }
        }
    }
    let render = |entries: Vec<(String, Node)>, total: bool| -> String {
        let mut entries = entries;
        if by_time {
            entries.sort_by_key(|e| std::cmp::Reverse(e.1.mtime));
        }
        if reverse {
            entries.reverse();
        }
        if long {
            let w = entries.iter().fold((1, 1, 1, 1), |w, (_, n)| {
                (
                    w.0,
                    w.1.max(st.user_name(n.uid).len()),
                    w.2.max(st.group_name(n.gid).len()),
                    w.3.max(n.size().to_string().len()),
                )
            });
            let mut s = String::new();
            if total {
                let blocks: usize = entries
                    .iter()
                    .map(|(_, n)| {
                        if n.is_dir() {
                            4
                        } else {
                            n.size().div_ceil(4096) * 4
                        }
                    })
                    .sum();
                s.push_str(&format!("total {blocks}\n"));
            }
            for (name, n) in &entries {
                s.push_str(&long_line(st, name, n, w));
            }
            s
        } else {
            let names: Vec<String> = entries.into_iter().map(|(n, _)| n).collect();
            if one {
                names.iter().map(|n| format!("{n}\n")).collect()
            } else {
                columns(&names, 80)
            }
        }
    };
    let had_files = !file_entries.is_empty();
    out.push_str(&render(file_entries, false));
    let many = targets.len() > 1;
    for (i, (shown, real)) in dirs.iter().enumerate() {
        if many {
            if had_files || i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("{shown}:\n"));
        }
        let mut entries: Vec<(String, Node)> = st
            .fs
            .children(real)
            .into_iter()
            .filter(|(n, _)| all || almost || !n.starts_with('.'))
            .map(|(n, node)| (n, node.clone()))
            .collect();
        if all {
            if let Some(up) = st.fs.get(parent(real)).cloned() {
                entries.insert(0, ("..".to_owned(), up));
            }
            if let Some(me) = st.fs.get(real).cloned() {
                entries.insert(0, (".".to_owned(), me));
            }
        }
        // GNU ls sorts by the locale: C and C.UTF-8 by bytes, en_US ignoring leading dots and case.
        let c_locale = st
            .vars
            .get("LANG")
            .is_none_or(|l| l.starts_with('C') || l == "POSIX");
        entries.sort_by(|a, b| {
            let key = |s: &str| {
                if c_locale {
                    s.to_owned()
                } else {
                    s.trim_start_matches('.').to_lowercase()
                }
            };
            match (a.0.as_str(), b.0.as_str()) {
                (".", _) => std::cmp::Ordering::Less,
                (_, ".") => std::cmp::Ordering::Greater,
                ("..", _) => std::cmp::Ordering::Less,
                (_, "..") => std::cmp::Ordering::Greater,
                _ => key(&a.0).cmp(&key(&b.0)).then_with(|| a.0.cmp(&b.0)),
            }
        });
        out.push_str(&render(entries, true));
    }
    Outcome::both(out, err, status)
}

fn stat(st: &State, args: &[String]) -> Outcome {
    let mut out = String::new();
    let mut err = String::new();
    let mut format: Option<String> = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-c" | "--format" | "--printf" => format = it.next().cloned(),
            s if s.starts_with("--format=") => format = s.get(9..).map(str::to_owned),
            s if s.starts_with('-') && s.len() > 1 => {}
            _ => files.push(a.clone()),
        }
    }
    if files.is_empty() {
        return Outcome::fail_err(
            "stat: missing operand\nTry 'stat --help' for more information.\n",
            1,
        );
    }
    for a in &files {
        let p = resolve(&st.cwd, &st.home, a);
        let Some(n) = st.fs.get(&p) else {
            err.push_str(&format!(
                "stat: cannot statx '{a}': No such file or directory\n"
            ));
            continue;
        };
        let kind = match n.kind {
            Kind::Dir => "directory",
            Kind::File(ref d) if d.is_empty() => "regular empty file",
            Kind::File(_) => "regular file",
            Kind::Symlink(_) => "symbolic link",
            Kind::CharDev => "character special file",
        };
        if let Some(f) = &format {
            let mut chars = f.chars();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('a') => out.push_str(&format!("{:o}", n.mode)),
                    Some('A') => out.push_str(&n.mode_string()),
                    Some('U') => out.push_str(&st.user_name(n.uid)),
                    Some('G') => out.push_str(&st.group_name(n.gid)),
                    Some('u') => out.push_str(&n.uid.to_string()),
                    Some('g') => out.push_str(&n.gid.to_string()),
                    Some('s') => out.push_str(&n.size().to_string()),
                    Some('n') => out.push_str(a),
                    Some('F') => out.push_str(kind),
                    Some('Y') => out.push_str(&n.mtime.to_string()),
                    Some('h') => out.push_str(if n.is_dir() { "2" } else { "1" }),
                    Some('%') => out.push('%'),
                    Some(_) => out.push('?'),
                    None => out.push('%'),
                }
            }
            out.push('\n');
            continue;
        }
        let t = DateTime::<Utc>::from_timestamp(n.mtime, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S.000000000 +0000").to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "  File: {a}\n  Size: {:<15} Blocks: {:<10} IO Block: 4096   {kind}\nDevice: 8,1\tInode: {:<11} Links: {}\nAccess: ({:04o}/{})  Uid: ({:>5}/{:>8})   Gid: ({:>5}/{:>8})\nAccess: {t}\nModify: {t}\nChange: {t}\n Birth: -\n",
            n.size(),
            n.size().div_ceil(512),
            262_144 + (n.mtime.rem_euclid(100_000)),
            if n.is_dir() { 2 } else { 1 },
            n.mode,
            n.mode_string(),
            n.uid,
            st.user_name(n.uid),
            n.gid,
            st.group_name(n.gid),
        ));
    }
    let status = i32::from(!err.is_empty());
    Outcome::both(out, err, status)
}

fn find(st: &State, args: &[String]) -> Outcome {
    let mut roots = Vec::new();
    let mut name: Option<String> = None;
    let mut kind: Option<char> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-name" | "-iname" => name = it.next().cloned(),
            "-type" => kind = it.next().and_then(|t| t.chars().next()),
            "-perm" | "-user" | "-mtime" | "-size" | "-maxdepth" | "-newer" | "-exec" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            _ => roots.push(a.clone()),
        }
    }
    if roots.is_empty() {
        roots.push(".".to_owned());
    }
    let mut out = String::new();
    let mut err = String::new();
    let mut budget = 20_000usize;
    for r in roots {
        let p = resolve(&st.cwd, &st.home, &r);
        let Ok((real, _)) = st.fs.stat(&p) else {
            err.push_str(&format!("find: '{r}': No such file or directory\n"));
            continue;
        };
        let mut stack = vec![(r.clone(), real)];
        while let Some((shown, real)) = stack.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let Some(n) = st.fs.lget(&real) else { continue };
            let name_ok = name
                .as_ref()
                .is_none_or(|pat| crate::shell::expand::glob_match(pat, base_name(&real)));
            let kind_ok = match kind {
                Some('f') => matches!(n.kind, Kind::File(_)),
                Some('d') => n.is_dir(),
                Some('l') => matches!(n.kind, Kind::Symlink(_)),
                _ => true,
            };
            if name_ok && kind_ok {
                out.push_str(&shown);
                out.push('\n');
            }
            if n.is_dir() && !real.starts_with("/proc") {
                if st.uid != 0 && n.mode & 0o004 == 0 && n.uid != st.uid {
                    err.push_str(&format!("find: '{shown}': Permission denied\n"));
                    continue;
                }
                let kids = st.fs.children(&real);
                for (k, _) in kids.into_iter().rev() {
                    let s = if shown.ends_with('/') {
                        format!("{shown}{k}")
                    } else {
                        format!("{shown}/{k}")
                    };
                    let rp = if real == "/" {
                        format!("/{k}")
                    } else {
                        format!("{real}/{k}")
                    };
                    stack.push((s, rp));
                }
            }
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both(out, err, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_modes() {
        assert_eq!(apply_mode("755", 0), Some(0o755));
        assert_eq!(apply_mode("+x", 0o644), Some(0o755));
        assert_eq!(apply_mode("u+x", 0o644), Some(0o744));
        assert_eq!(apply_mode("go-r", 0o644), Some(0o600));
        assert_eq!(apply_mode("a=r", 0o777), Some(0o444));
        assert_eq!(apply_mode("u+s", 0o755), Some(0o4755));
        assert_eq!(apply_mode("zz", 0o755), None);
        assert_eq!(apply_mode("99999", 0o755), None);
    }

    #[test]
    fn ls_columns_like_gnu() {
        let names: Vec<String> = [
            "bin", "boot", "dev", "etc", "home", "lib", "lib64", "media", "mnt", "opt", "proc",
            "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            columns(&names, 80),
            "bin   dev  home  lib64  mnt  proc  run   srv  tmp  var\nboot  etc  lib   media  opt  root  sbin  sys  usr\n"
        );
    }
}

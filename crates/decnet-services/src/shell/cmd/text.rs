//! Text tools over files and stdin: `wc`, `grep`, `head`, `tail`, `cut`,
//! `sort`, `uniq`, `tr`, the common `awk` and `sed` one-liners, `printf`,
//! `base64`, the checksum tools, `rev`, `seq`, `yes`, `tac`, `nl`.
//!
//! Regular expressions run on `regex-automata`'s linear-time engine with a
//! compiled-size cap, so a hostile pattern costs bounded time and memory.

use base64::Engine as _;
use md5::Digest as _;
use regex_automata::meta::Regex;

use super::Outcome;
use crate::shell::fs::resolve;
use crate::shell::lex::unescape_c;
use crate::shell::State;

/// Lines `yes` prints before its pipe is "closed" (the reader never reads more).
const YES_LINES: usize = 20_000;
/// Numbers `seq` prints at most.
const SEQ_MAX: i64 = 100_000;

/// Runs a text tool; `None` when `name` is not one.
pub fn run(name: &str, st: &mut State, args: &[String], stdin: &[u8]) -> Option<Outcome> {
    Some(match name {
        "wc" => wc(st, args, stdin),
        "grep" | "egrep" | "fgrep" => grep(name, st, args, stdin),
        "head" => head_tail(st, args, stdin, true),
        "tail" => head_tail(st, args, stdin, false),
        "cut" => cut(st, args, stdin),
        "sort" => sort(st, args, stdin),
        "uniq" => uniq(st, args, stdin),
        "tr" => tr(args, stdin),
        "awk" | "gawk" | "mawk" => awk(st, args, stdin),
        "sed" => sed(st, args, stdin),
        "base64" => base64_cmd(st, args, stdin),
        "md5sum" | "sha1sum" | "sha256sum" => checksum(name, st, args, stdin),
        "rev" => map_lines(st, "rev", args, stdin, |l| l.chars().rev().collect()),
        "tac" => {
            let (data, err, status) = read_inputs(st, "tac", args, stdin);
            let text = String::from_utf8_lossy(&data);
            let mut lines: Vec<&str> = text.lines().collect();
            lines.reverse();
            Outcome::both(join_lines(&lines), err, status)
        }
        "nl" => {
            let (data, err, status) = read_inputs(st, "nl", args, stdin);
            let text = String::from_utf8_lossy(&data);
            let mut out = String::new();
            let mut n = 0;
            for l in text.lines() {
                if l.is_empty() {
                    out.push_str("       \n");
                } else {
                    n += 1;
                    out.push_str(&format!("{n:>6}\t{l}\n"));
                }
            }
            Outcome::both(out, err, status)
        }
        "seq" => seq(args),
        "yes" => {
            let word = if args.is_empty() {
                "y".to_owned()
            } else {
                args.join(" ")
            };
            let mut out = String::with_capacity((word.len() + 1) * 64);
            for _ in 0..YES_LINES {
                out.push_str(&word);
                out.push('\n');
                if out.len() > crate::shell::exec::MAX_OUTPUT {
                    break;
                }
            }
            Outcome::ok(out)
        }
        "printf" => printf(args),
        "echo" => Outcome::ok(format!("{}\n", args.join(" "))),
        _ => return None,
    })
}

fn join_lines(lines: &[&str]) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Files named in `args` (or stdin when none, or `-`), concatenated; errors as `prog: f: msg`.
pub fn read_inputs(
    st: &State,
    prog: &str,
    files: &[String],
    stdin: &[u8],
) -> (Vec<u8>, String, i32) {
    let mut data = Vec::new();
    let mut err = String::new();
    let mut status = 0;
    if files.is_empty() {
        return (stdin.to_vec(), err, 0);
    }
    for f in files {
        if f == "-" {
            data.extend_from_slice(stdin);
            continue;
        }
        match read_file(st, f) {
            Ok(d) => data.extend_from_slice(&d),
            Err(e) => {
                err.push_str(&format!("{prog}: {f}: {e}\n"));
                status = if prog == "grep" { 2 } else { 1 };
            }
        }
    }
    (data, err, status)
}

/// One file's bytes as the user may read them.
pub fn read_file(st: &State, f: &str) -> Result<Vec<u8>, &'static str> {
    let path = resolve(&st.cwd, &st.home, f);
    match st.fs.stat(&path) {
        Ok((real, n)) => {
            if st.uid != 0 && n.mode & 0o004 == 0 && n.uid != st.uid {
                return Err("Permission denied");
            }
            match &n.kind {
                crate::shell::fs::Kind::Dir => Err("Is a directory"),
                crate::shell::fs::Kind::File(d) => {
                    Ok(st.dynamic_file(&real).unwrap_or_else(|| d.clone()))
                }
                _ => Ok(Vec::new()),
            }
        }
        Err(e) => Err(e.text()),
    }
}

fn split_opts(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut opts = Vec::new();
    let mut files = Vec::new();
    let mut done = false;
    for a in args {
        if !done && a == "--" {
            done = true;
        } else if !done && a.starts_with('-') && a.len() > 1 {
            opts.push(a.clone());
        } else {
            files.push(a.clone());
        }
    }
    (opts, files)
}

fn has_flag(opts: &[String], c: char) -> bool {
    opts.iter()
        .any(|o| !o.starts_with("--") && o.chars().skip(1).any(|x| x == c))
}

fn wc(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let (opts, files) = split_opts(args);
    let (mut l, mut w, mut c) = (
        has_flag(&opts, 'l'),
        has_flag(&opts, 'w'),
        has_flag(&opts, 'c') || has_flag(&opts, 'm'),
    );
    if !l && !w && !c {
        (l, w, c) = (true, true, true);
    }
    let count = |d: &[u8]| {
        let t = String::from_utf8_lossy(d);
        (
            d.iter().filter(|&&b| b == b'\n').count(),
            t.split_whitespace().count(),
            d.len(),
        )
    };
    let fmt = |n: (usize, usize, usize), name: Option<&str>, width: usize| {
        let mut parts = Vec::new();
        if l {
            parts.push(format!("{:>width$}", n.0));
        }
        if w {
            parts.push(format!("{:>width$}", n.1));
        }
        if c {
            parts.push(format!("{:>width$}", n.2));
        }
        let mut s = parts.join(" ");
        if let Some(n) = name {
            s.push(' ');
            s.push_str(n);
        }
        s.push('\n');
        s
    };
    let single = [l, w, c].iter().filter(|x| **x).count() == 1;
    if files.is_empty() {
        let n = count(stdin);
        let width = if single { 1 } else { 7 };
        return Outcome::ok(fmt(n, None, width));
    }
    let mut out = String::new();
    let mut err = String::new();
    let mut status = 0;
    let mut total = (0, 0, 0);
    let mut counts = Vec::new();
    for f in &files {
        match read_file(st, f) {
            Ok(d) => {
                let n = count(&d);
                total = (total.0 + n.0, total.1 + n.1, total.2 + n.2);
                counts.push((Some(n), f.clone()));
            }
            Err(e) => {
                counts.push((None, format!("wc: {f}: {e}\n")));
                status = 1;
            }
        }
    }
    // GNU wc pads every column to the width of the largest count.
    let width = if single && files.len() == 1 {
        1
    } else {
        total.2.max(total.0).max(total.1).to_string().len()
    };
    for (n, name) in counts {
        match n {
            Some(n) => out.push_str(&fmt(n, Some(&name), width)),
            None => err.push_str(&name),
        }
    }
    if files.len() > 1 {
        out.push_str(&fmt(total, Some("total"), width));
    }
    Outcome::both(out, err, status)
}

/// A BRE (grep's default) rewritten as the ERE syntax the engine reads.
fn bre_to_ere(p: &str) -> String {
    let mut o = String::new();
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            if c == ']' {
                in_class = false;
            }
            if c == '\\' || c == '[' && chars.peek() != Some(&':') {
                o.push('\\');
            }
            o.push(c);
            continue;
        }
        match c {
            '\\' => match chars.next() {
                Some(n @ ('(' | ')' | '|' | '{' | '}' | '+' | '?')) => o.push(n),
                Some(n) => {
                    o.push('\\');
                    o.push(n);
                }
                None => o.push_str("\\\\"),
            },
            '(' | ')' | '|' | '{' | '}' | '+' | '?' => {
                o.push('\\');
                o.push(c);
            }
            '[' => {
                in_class = true;
                o.push(c);
                if chars.peek() == Some(&'^') {
                    o.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    o.push_str("\\]");
                    chars.next();
                }
            }
            '*' if o.is_empty() || o.ends_with('^') => o.push_str("\\*"),
            c => o.push(c),
        }
    }
    o
}

/// Compiles a grep/sed/awk pattern; `None` when it is invalid.
pub fn regex(p: &str, extended: bool, fixed: bool, icase: bool) -> Option<Regex> {
    let pat = if fixed {
        regex_escape(p)
    } else if extended {
        p.to_owned()
    } else {
        bre_to_ere(p)
    };
    Regex::builder()
        .syntax(
            regex_automata::util::syntax::Config::new()
                .case_insensitive(icase)
                .unicode(false)
                .utf8(false),
        )
        .configure(
            Regex::config()
                .nfa_size_limit(Some(1 << 20))
                .hybrid_cache_capacity(1 << 20),
        )
        .build(&pat)
        .ok()
}

fn regex_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~ ".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn grep(name: &str, st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let mut pattern: Option<String> = None;
    let mut files = Vec::new();
    let mut flags = String::new();
    let mut it = args.iter();
    let mut max: Option<usize> = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-e" => pattern = it.next().cloned(),
            "-m" => max = it.next().and_then(|v| v.parse().ok()),
            "--color=auto" | "--color" | "--colour=auto" => {}
            s if s.starts_with("--") => {}
            s if s.starts_with('-') && s.len() > 1 => flags.push_str(s.get(1..).unwrap_or("")),
            _ if pattern.is_none() => pattern = Some(a.clone()),
            _ => files.push(a.clone()),
        }
    }
    let Some(pattern) = pattern else {
        return Outcome::fail_err(
            "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n",
            2,
        );
    };
    let f = |c: char| flags.contains(c);
    let extended = f('E') || name == "egrep";
    let fixed = f('F') || name == "fgrep";
    let Some(re) = regex(&pattern, extended, fixed, f('i')) else {
        return Outcome::fail_err("grep: Unmatched ( or \\(\n", 2);
    };
    let many = files.len() > 1 && !f('h');
    let sources: Vec<(String, Result<Vec<u8>, &'static str>)> = if files.is_empty() {
        vec![("(standard input)".to_owned(), Ok(stdin.to_vec()))]
    } else {
        files
            .iter()
            .map(|n| {
                let r = read_file(st, n);
                (n.clone(), r)
            })
            .collect()
    };
    let mut out = String::new();
    let mut err = String::new();
    let mut any = false;
    let mut status_err = false;
    for (fname, data) in sources {
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                if !f('s') {
                    err.push_str(&format!("grep: {fname}: {e}\n"));
                }
                status_err = true;
                continue;
            }
        };
        let text = String::from_utf8_lossy(&data);
        let mut count = 0usize;
        for (i, line) in text.lines().enumerate() {
            let hit = if f('x') {
                re.find(line.as_bytes())
                    .is_some_and(|m| m.start() == 0 && m.end() == line.len())
            } else if f('w') {
                re.find_iter(line.as_bytes()).any(|m| {
                    let before = line
                        .as_bytes()
                        .get(m.start().wrapping_sub(1))
                        .is_none_or(|b| !is_word(*b));
                    let after = line.as_bytes().get(m.end()).is_none_or(|b| !is_word(*b));
                    before && after
                })
            } else {
                re.is_match(line.as_bytes())
            };
            if hit == f('v') {
                continue;
            }
            count += 1;
            any = true;
            if f('q') {
                return Outcome::ok("");
            }
            if !f('c') && !f('l') {
                if many {
                    out.push_str(&fname);
                    out.push(':');
                }
                if f('n') {
                    out.push_str(&format!("{}:", i + 1));
                }
                if f('o') {
                    for m in re.find_iter(line.as_bytes()) {
                        if let Some(s) = line.get(m.start()..m.end()) {
                            out.push_str(s);
                            out.push('\n');
                        }
                    }
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            if max.is_some_and(|m| count >= m) {
                break;
            }
        }
        if f('c') {
            if many {
                out.push_str(&format!("{fname}:{count}\n"));
            } else {
                out.push_str(&format!("{count}\n"));
            }
        } else if f('l') && count > 0 {
            out.push_str(&format!("{fname}\n"));
        }
    }
    let status = if status_err && (!f('s') || !any) {
        2
    } else if any {
        0
    } else {
        1
    };
    Outcome::both(out, err, status)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn head_tail(st: &State, args: &[String], stdin: &[u8], head: bool) -> Outcome {
    let prog = if head { "head" } else { "tail" };
    let mut n: i64 = 10;
    let mut bytes: Option<i64> = None;
    let mut from_start = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let num = |v: &str, from_start: &mut bool| -> Option<i64> {
            if let Some(r) = v.strip_prefix('+') {
                *from_start = true;
                r.parse().ok()
            } else {
                v.parse::<i64>().ok().map(|x| x.abs())
            }
        };
        match a.as_str() {
            "-n" | "--lines" => {
                n = it
                    .next()
                    .and_then(|v| num(v, &mut from_start))
                    .unwrap_or(10)
            }
            "-c" | "--bytes" => bytes = it.next().and_then(|v| num(v, &mut from_start)),
            "-f" | "-F" | "-q" | "-v" => {}
            s if s.starts_with("-n") => {
                n = num(s.get(2..).unwrap_or(""), &mut from_start).unwrap_or(10)
            }
            s if s.starts_with("-c") => bytes = num(s.get(2..).unwrap_or(""), &mut from_start),
            s if s.starts_with('-')
                && s.get(1..)
                    .is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit())) =>
            {
                n = s.get(1..).and_then(|r| r.parse().ok()).unwrap_or(10)
            }
            _ => files.push(a.clone()),
        }
    }
    let (data, err, status) = read_inputs(st, prog, &files, stdin);
    let k = usize::try_from(n.max(0)).unwrap_or(0);
    if let Some(b) = bytes {
        let b = usize::try_from(b.max(0)).unwrap_or(0);
        let slice = if head {
            data.get(..b.min(data.len())).unwrap_or(&[])
        } else if from_start {
            data.get(b.saturating_sub(1).min(data.len())..)
                .unwrap_or(&[])
        } else {
            data.get(data.len().saturating_sub(b)..).unwrap_or(&[])
        };
        return Outcome::both(slice.to_vec(), err, status);
    }
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let chosen: Vec<&str> = if head {
        lines.iter().take(k).copied().collect()
    } else if from_start {
        lines.iter().skip(k.saturating_sub(1)).copied().collect()
    } else {
        lines
            .iter()
            .skip(lines.len().saturating_sub(k))
            .copied()
            .collect()
    };
    Outcome::both(chosen.concat(), err, status)
}

/// `1,3-5,7-` into ranges (1-based, inclusive; `usize::MAX` for open ends).
fn ranges(spec: &str) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let r = match part.split_once('-') {
            Some((a, b)) => (
                if a.is_empty() { 1 } else { a.parse().ok()? },
                if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse().ok()?
                },
            ),
            None => {
                let v: usize = part.parse().ok()?;
                (v, v)
            }
        };
        if r.0 == 0 {
            return None;
        }
        out.push(r);
    }
    Some(out)
}

fn cut(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let mut delim = '\t';
    let mut fields: Option<String> = None;
    let mut chars: Option<String> = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-d" => delim = it.next().and_then(|v| v.chars().next()).unwrap_or('\t'),
            "-f" => fields = it.next().cloned(),
            "-c" | "-b" => chars = it.next().cloned(),
            s if s.starts_with("-d") => delim = s.chars().nth(2).unwrap_or('\t'),
            s if s.starts_with("-f") => fields = s.get(2..).map(str::to_owned),
            s if s.starts_with("-c") || s.starts_with("-b") => {
                chars = s.get(2..).map(str::to_owned)
            }
            _ => files.push(a.clone()),
        }
    }
    let spec = fields.clone().or(chars.clone());
    let Some(spec) = spec else {
        return Outcome::fail_err("cut: you must specify a list of bytes, characters, or fields\nTry 'cut --help' for more information.\n", 1);
    };
    let Some(rs) = ranges(&spec) else {
        return Outcome::fail_err(
            "cut: invalid field value\nTry 'cut --help' for more information.\n",
            1,
        );
    };
    let want = |i: usize| rs.iter().any(|(a, b)| *a <= i && i <= *b);
    let (data, err, status) = read_inputs(st, "cut", &files, stdin);
    let text = String::from_utf8_lossy(&data);
    let mut out = String::new();
    for line in text.lines() {
        if fields.is_some() {
            if !line.contains(delim) {
                out.push_str(line);
            } else {
                let picked: Vec<&str> = line
                    .split(delim)
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, f)| f)
                    .collect();
                out.push_str(&picked.join(&delim.to_string()));
            }
        } else {
            out.extend(
                line.chars()
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, c)| c),
            );
        }
        out.push('\n');
    }
    Outcome::both(out, err, status)
}

fn sort(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let mut key: Option<usize> = None;
    let mut sep: Option<char> = None;
    let mut flags = String::new();
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-k" => {
                key = it.next().and_then(|v| {
                    v.split(',')
                        .next()?
                        .trim_end_matches(|c: char| c.is_alphabetic())
                        .parse()
                        .ok()
                })
            }
            "-t" => sep = it.next().and_then(|v| v.chars().next()),
            s if s.starts_with("-k") => {
                key = s.get(2..).and_then(|v| v.split(',').next()?.parse().ok())
            }
            s if s.starts_with("-t") => sep = s.chars().nth(2),
            s if s.starts_with('-') && s.len() > 1 => flags.push_str(s.get(1..).unwrap_or("")),
            _ => files.push(a.clone()),
        }
    }
    let (data, err, status) = read_inputs(st, "sort", &files, stdin);
    let text = String::from_utf8_lossy(&data);
    let mut lines: Vec<&str> = text.lines().collect();
    let field = |l: &str| -> String {
        match key {
            None => l.to_owned(),
            Some(k) => {
                let parts: Vec<&str> = match sep {
                    Some(s) => l.split(s).collect(),
                    None => l.split_whitespace().collect(),
                };
                parts
                    .get(k.saturating_sub(1))
                    .copied()
                    .unwrap_or("")
                    .to_owned()
            }
        }
    };
    let numeric = flags.contains('n') || flags.contains('h');
    let num = |s: &str| -> f64 {
        let t: String = s
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        t.parse().unwrap_or(0.0)
    };
    lines.sort_by(|a, b| {
        let (fa, fb) = (field(a), field(b));
        if numeric {
            num(&fa)
                .partial_cmp(&num(&fb))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.cmp(b))
        } else if flags.contains('f') {
            fa.to_lowercase().cmp(&fb.to_lowercase())
        } else {
            fa.cmp(&fb)
        }
    });
    if flags.contains('r') {
        lines.reverse();
    }
    if flags.contains('u') {
        lines.dedup();
    }
    Outcome::both(join_lines(&lines), err, status)
}

fn uniq(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let (opts, files) = split_opts(args);
    let (data, err, status) = read_inputs(st, "uniq", files.get(..1).unwrap_or(&[]), stdin);
    let text = String::from_utf8_lossy(&data);
    let mut groups: Vec<(usize, &str)> = Vec::new();
    for l in text.lines() {
        match groups.last_mut() {
            Some((n, last)) if *last == l => *n += 1,
            _ => groups.push((1, l)),
        }
    }
    let mut out = String::new();
    for (n, l) in groups {
        if has_flag(&opts, 'd') && n < 2 || has_flag(&opts, 'u') && n > 1 {
            continue;
        }
        if has_flag(&opts, 'c') {
            out.push_str(&format!("{n:>7} {l}\n"));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    Outcome::both(out, err, status)
}

fn tr_set(s: &str) -> Vec<u8> {
    let classes = [
        ("[:upper:]", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("[:lower:]", "abcdefghijklmnopqrstuvwxyz"),
        ("[:digit:]", "0123456789"),
        ("[:space:]", " \t\n\r\x0b\x0c"),
        ("[:blank:]", " \t"),
        (
            "[:alpha:]",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        ),
        (
            "[:alnum:]",
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        ),
    ];
    let mut s = s.to_owned();
    for (k, v) in classes {
        s = s.replace(k, v);
    }
    let b = unescape_c(&s);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if b.get(i + 1) == Some(&b'-') {
            if let Some(&e) = b.get(i + 2) {
                if e >= c {
                    out.extend(c..=e);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn tr(args: &[String], stdin: &[u8]) -> Outcome {
    let (opts, sets) = split_opts(args);
    let delete = has_flag(&opts, 'd');
    let squeeze = has_flag(&opts, 's');
    let complement = has_flag(&opts, 'c') || has_flag(&opts, 'C');
    let Some(s1) = sets.first() else {
        return Outcome::fail_err(
            "tr: missing operand\nTry 'tr --help' for more information.\n",
            1,
        );
    };
    let a = tr_set(s1);
    let in_a = |b: u8| a.contains(&b) != complement;
    let mut out = Vec::with_capacity(stdin.len());
    if delete {
        out.extend(stdin.iter().copied().filter(|b| !in_a(*b)));
        return Outcome::ok(out);
    }
    let Some(s2) = sets.get(1) else {
        if squeeze {
            for &b in stdin {
                if in_a(b) && out.last() == Some(&b) {
                    continue;
                }
                out.push(b);
            }
            return Outcome::ok(out);
        }
        return Outcome::fail_err(format!("tr: missing operand after '{s1}'\nTwo strings must be given when translating.\nTry 'tr --help' for more information.\n"), 1);
    };
    let b = tr_set(s2);
    for &c in stdin {
        let mapped = match a.iter().position(|x| *x == c) {
            Some(i) if !complement => b.get(i).or(b.last()).copied().unwrap_or(c),
            None if complement => b.last().copied().unwrap_or(c),
            _ => c,
        };
        if squeeze && out.last() == Some(&mapped) && b.contains(&mapped) {
            continue;
        }
        out.push(mapped);
    }
    Outcome::ok(out)
}

fn map_lines(
    st: &State,
    prog: &str,
    args: &[String],
    stdin: &[u8],
    f: impl Fn(&str) -> String,
) -> Outcome {
    let (data, err, status) = read_inputs(st, prog, args, stdin);
    let text = String::from_utf8_lossy(&data);
    let mut out = String::new();
    for l in text.lines() {
        out.push_str(&f(l));
        out.push('\n');
    }
    Outcome::both(out, err, status)
}

fn base64_cmd(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let (opts, files) = split_opts(args);
    let decode = has_flag(&opts, 'd') || opts.iter().any(|o| o == "--decode");
    let (data, err, status) = read_inputs(st, "base64", files.get(..1).unwrap_or(&[]), stdin);
    if status != 0 {
        return Outcome::both("", err, status);
    }
    if decode {
        let clean: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        return match base64::engine::general_purpose::STANDARD.decode(&clean) {
            Ok(d) => Outcome::ok(d),
            Err(_) => {
                // GNU base64 prints what decoded before the bad byte, then the error.
                let good = clean.len() / 4 * 4;
                let partial = base64::engine::general_purpose::STANDARD
                    .decode(clean.get(..good).unwrap_or(&[]))
                    .unwrap_or_default();
                Outcome::both(partial, "base64: invalid input\n", 1)
            }
        };
    }
    let enc = base64::engine::general_purpose::STANDARD.encode(&data);
    let mut out = String::with_capacity(enc.len() + enc.len() / 76 + 1);
    let wrap = !opts
        .iter()
        .any(|o| o == "-w0" || o == "-w" || o == "--wrap=0");
    if wrap {
        for chunk in enc.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
    } else {
        out.push_str(&enc);
    }
    Outcome::ok(out)
}

fn checksum(name: &str, st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let (_, files) = split_opts(args);
    let hash = |d: &[u8]| -> String {
        match name {
            "md5sum" => hex::encode(md5::Md5::digest(d)),
            "sha1sum" => sha1_hex(d),
            _ => hex::encode(sha2::Sha256::digest(d)),
        }
    };
    if files.is_empty() {
        return Outcome::ok(format!("{}  -\n", hash(stdin)));
    }
    let mut out = String::new();
    let mut err = String::new();
    let mut status = 0;
    for f in &files {
        match read_file(st, f) {
            Ok(d) => out.push_str(&format!("{}  {f}\n", hash(&d))),
            Err(e) => {
                err.push_str(&format!("{name}: {f}: {e}\n"));
                status = 1;
            }
        }
    }
    Outcome::both(out, err, status)
}

/// SHA-1, computed here to avoid a dependency for one rarely used tool.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = u64::try_from(data.len()).unwrap_or(0).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            if let (Some(slot), [a, b, cc, d]) = (w.get_mut(i), c) {
                *slot = u32::from_be_bytes([*a, *b, *cc, *d]);
            }
        }
        for i in 16..80 {
            let at = |k: usize| w.get(i - k).copied().unwrap_or(0);
            let v = at(3) ^ at(8) ^ at(14) ^ at(16);
            if let Some(slot) = w.get_mut(i) {
                *slot = v.rotate_left(1);
            }
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h = [
            h[0].wrapping_add(a),
            h[1].wrapping_add(b),
            h[2].wrapping_add(c),
            h[3].wrapping_add(d),
            h[4].wrapping_add(e),
        ];
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

fn seq(args: &[String]) -> Outcome {
    let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (first, step, last) = match nums.as_slice() {
        [l] => (1, 1, *l),
        [f, l] => (*f, 1, *l),
        [f, s, l] => (*f, *s, *l),
        _ => {
            return Outcome::fail_err(
                "seq: missing operand\nTry 'seq --help' for more information.\n",
                1,
            );
        }
    };
    if step == 0 {
        return Outcome::fail_err(
            "seq: invalid Zero increment value: '0'\nTry 'seq --help' for more information.\n",
            1,
        );
    }
    let mut out = String::new();
    let mut v = first;
    let mut n = 0;
    while (step > 0 && v <= last || step < 0 && v >= last) && n < SEQ_MAX {
        out.push_str(&v.to_string());
        out.push('\n');
        v = v.wrapping_add(step);
        n += 1;
    }
    Outcome::ok(out)
}

/// bash's `printf`: the format reused until the arguments run out.
pub fn printf(args: &[String]) -> Outcome {
    let Some((fmt, rest)) = args.split_first() else {
        return Outcome::fail_err("printf: usage: printf [-v var] format [arguments]\n", 2);
    };
    let mut out = Vec::new();
    let mut args = rest.iter();
    let mut consumed_any;
    let mut rounds = 0;
    loop {
        consumed_any = false;
        let f = fmt.as_bytes();
        let mut i = 0;
        while let Some(&c) = f.get(i) {
            if c == b'\\' {
                let mut j = i + 1;
                // One escape: the letter, or up to three octal digits, or x and two hex digits.
                match f.get(j) {
                    Some(b'x') => {
                        j += 1;
                        while j < i + 4 && f.get(j).is_some_and(u8::is_ascii_hexdigit) {
                            j += 1;
                        }
                    }
                    Some(b'0'..=b'7') => {
                        while j < i + 4 && f.get(j).is_some_and(|d| (b'0'..=b'7').contains(d)) {
                            j += 1;
                        }
                    }
                    Some(_) => j += 1,
                    None => {}
                }
                out.extend(unescape_c(&String::from_utf8_lossy(
                    f.get(i..j).unwrap_or(&[]),
                )));
                i = j;
                continue;
            }
            if c != b'%' {
                out.push(c);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            if f.get(i) == Some(&b'%') {
                out.push(b'%');
                i += 1;
                continue;
            }
            while f.get(i).is_some_and(|b| b"-+ #0".contains(b)) {
                i += 1;
            }
            while f.get(i).is_some_and(|b| b.is_ascii_digit() || *b == b'.') {
                i += 1;
            }
            let Some(&conv) = f.get(i) else {
                out.extend_from_slice(f.get(start..).unwrap_or(&[]));
                break;
            };
            i += 1;
            let spec = String::from_utf8_lossy(f.get(start + 1..i - 1).unwrap_or(&[])).into_owned();
            let arg = args.next();
            consumed_any |= arg.is_some();
            let a = arg.map_or("", String::as_str);
            let left = spec.starts_with('-');
            let zero = spec.starts_with('0');
            let (w, prec) = match spec
                .trim_start_matches(['-', '+', ' ', '#', '0'])
                .split_once('.')
            {
                Some((w, p)) => (
                    w.parse::<usize>().unwrap_or(0),
                    Some(p.parse::<usize>().unwrap_or(0)),
                ),
                None => (
                    spec.trim_start_matches(['-', '+', ' ', '#', '0'])
                        .parse::<usize>()
                        .unwrap_or(0),
                    None,
                ),
            };
            let w = w.min(4096);
            let num = || -> i64 {
                a.strip_prefix('\'')
                    .or_else(|| a.strip_prefix('"'))
                    .and_then(|s| s.chars().next())
                    .map_or_else(
                        || a.trim().parse::<i64>().unwrap_or(0),
                        |c| i64::from(u32::from(c)),
                    )
            };
            let body = match conv {
                b's' => {
                    let s = match prec {
                        Some(p) => a.chars().take(p).collect(),
                        None => a.to_owned(),
                    };
                    s
                }
                b'b' => String::from_utf8_lossy(&unescape_c(a)).into_owned(),
                b'd' | b'i' => num().to_string(),
                b'u' => num().to_string(),
                b'x' => format!("{:x}", num()),
                b'X' => format!("{:X}", num()),
                b'o' => format!("{:o}", num()),
                b'c' => a.chars().next().map(String::from).unwrap_or_default(),
                b'f' | b'g' | b'e' => {
                    let v: f64 = a.trim().parse().unwrap_or(0.0);
                    format!("{:.*}", prec.unwrap_or(6).min(64), v)
                }
                _ => {
                    out.extend_from_slice(f.get(start..i).unwrap_or(&[]));
                    continue;
                }
            };
            let padded = if body.chars().count() >= w {
                body
            } else if left {
                format!("{body:<w$}")
            } else if zero && conv != b's' {
                format!("{body:0>w$}")
            } else {
                format!("{body:>w$}")
            };
            out.extend_from_slice(padded.as_bytes());
        }
        rounds += 1;
        if !consumed_any || args.len() == 0 || rounds > 10_000 {
            break;
        }
    }
    Outcome::ok(out)
}

/// A compiled awk one-liner: `[-F sep] 'pattern { print items }'` and `END { print … }`.
fn awk(st: &State, args: &[String], stdin: &[u8]) -> Outcome {
    let mut sep: Option<String> = None;
    let mut prog: Option<String> = None;
    let mut files = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-F" => sep = it.next().cloned(),
            "-v" => {
                if let Some((k, v)) = it.next().and_then(|kv| kv.split_once('=')) {
                    vars.push((k.to_owned(), v.to_owned()));
                }
            }
            s if s.starts_with("-F") => sep = s.get(2..).map(str::to_owned),
            _ if prog.is_none() => prog = Some(a.clone()),
            _ => files.push(a.clone()),
        }
    }
    let Some(prog) = prog else {
        return Outcome::fail_err(
            "usage: awk [-F fs][-v var=value][prog | -f progfile][file ...]\n",
            2,
        );
    };
    let sep = sep.map(|s| if s == "\\t" { "\t".to_owned() } else { s });
    let Some(rules) = awk::parse(&prog) else {
        return Outcome::fail_err(
            format!(
                "awk: line 1: syntax error at or near {}\n",
                prog.chars().next().unwrap_or(' ')
            ),
            2,
        );
    };
    let (data, err, status) = read_inputs(st, "awk", &files, stdin);
    let out = awk::run(
        &rules,
        sep.as_deref(),
        &String::from_utf8_lossy(&data),
        &vars,
    );
    Outcome::both(out, err, status)
}

mod awk {
    //! The awk subset bots use: patterns (`/re/`, `NR==n`, `$n=="x"`,
    //! `BEGIN`, `END`), actions of `print` items and `var+=expr` statements.

    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    pub enum Pat {
        All,
        Begin,
        End,
        Re(String, bool),
        Cmp(Expr, String, Expr),
    }

    #[derive(Debug, Clone)]
    pub enum Expr {
        Field(Box<Expr>),
        Var(String),
        Num(f64),
        Str(String),
        Concat(Vec<Expr>),
        Add(Box<Expr>, char, Box<Expr>),
    }

    #[derive(Debug, Clone)]
    pub enum Stmt {
        Print(Vec<Expr>),
        Printf(Vec<Expr>),
        Assign(String, char, Expr),
    }

    pub type Rule = (Pat, Vec<Stmt>);

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.i).copied()
        }
        fn eat(&mut self, t: &str) -> bool {
            self.ws();
            if self.s.get(self.i..self.i + t.len()) == Some(t.as_bytes()) {
                self.i += t.len();
                true
            } else {
                false
            }
        }
        fn ident(&mut self) -> Option<String> {
            self.ws();
            let st = self.i;
            while self
                .s
                .get(self.i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                self.i += 1;
            }
            (self.i > st).then(|| {
                String::from_utf8_lossy(self.s.get(st..self.i).unwrap_or(&[])).into_owned()
            })
        }
        fn string(&mut self) -> Option<String> {
            let mut s = String::new();
            while let Some(&b) = self.s.get(self.i) {
                self.i += 1;
                match b {
                    b'"' => return Some(s),
                    b'\\' => {
                        let e = self.s.get(self.i).copied()?;
                        self.i += 1;
                        s.push(match e {
                            b'n' => '\n',
                            b't' => '\t',
                            o => char::from(o),
                        });
                    }
                    o => s.push(char::from(o)),
                }
            }
            None
        }
        fn atom(&mut self) -> Option<Expr> {
            match self.peek()? {
                b'$' => {
                    self.i += 1;
                    Some(Expr::Field(Box::new(self.atom()?)))
                }
                b'"' => {
                    self.i += 1;
                    Some(Expr::Str(self.string()?))
                }
                b'(' => {
                    self.i += 1;
                    let e = self.expr()?;
                    self.eat(")").then_some(e)
                }
                b'0'..=b'9' | b'.' => {
                    let st = self.i;
                    while self
                        .s
                        .get(self.i)
                        .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
                    {
                        self.i += 1;
                    }
                    let t =
                        String::from_utf8_lossy(self.s.get(st..self.i).unwrap_or(&[])).into_owned();
                    Some(Expr::Num(t.parse().unwrap_or(0.0)))
                }
                _ => self.ident().map(Expr::Var),
            }
        }
        fn sum(&mut self) -> Option<Expr> {
            let mut l = self.atom()?;
            loop {
                let op = match self.peek() {
                    Some(b'+') if self.s.get(self.i + 1) != Some(&b'=') => '+',
                    Some(b'-') if self.s.get(self.i + 1) != Some(&b'=') => '-',
                    Some(b'*') => '*',
                    Some(b'/') => '/',
                    _ => return Some(l),
                };
                self.i += 1;
                let r = self.atom()?;
                l = Expr::Add(Box::new(l), op, Box::new(r));
            }
        }
        fn expr(&mut self) -> Option<Expr> {
            // Juxtaposition concatenates: `$1 ":" $2`.
            let mut parts = vec![self.sum()?];
            while let Some(b) = self.peek() {
                if matches!(b, b'$' | b'"' | b'(') || b.is_ascii_alphanumeric() {
                    parts.push(self.sum()?);
                } else {
                    break;
                }
            }
            Some(if parts.len() == 1 {
                parts.pop()?
            } else {
                Expr::Concat(parts)
            })
        }
        fn stmts(&mut self) -> Option<Vec<Stmt>> {
            let mut v = Vec::new();
            loop {
                self.ws();
                if self.eat("}") {
                    return Some(v);
                }
                if self.eat(";") {
                    continue;
                }
                let save = self.i;
                let id = self.ident()?;
                match id.as_str() {
                    "print" | "printf" => {
                        let mut items = Vec::new();
                        while !matches!(self.peek(), Some(b'}' | b';') | None) {
                            items.push(self.expr()?);
                            self.eat(",");
                        }
                        v.push(if id == "print" {
                            Stmt::Print(items)
                        } else {
                            Stmt::Printf(items)
                        });
                    }
                    _ => {
                        let op = if self.eat("+=") {
                            '+'
                        } else if self.eat("-=") {
                            '-'
                        } else if self.eat("++") {
                            v.push(Stmt::Assign(id, '+', Expr::Num(1.0)));
                            continue;
                        } else if self.eat("=") {
                            '='
                        } else {
                            self.i = save;
                            return None;
                        };
                        let e = self.expr()?;
                        v.push(Stmt::Assign(id, op, e));
                    }
                }
            }
        }
    }

    pub fn parse(src: &str) -> Option<Vec<Rule>> {
        let mut p = P {
            s: src.as_bytes(),
            i: 0,
        };
        let mut rules = Vec::new();
        while p.peek().is_some() {
            let pat = if p.eat("BEGIN") {
                Pat::Begin
            } else if p.eat("END") {
                Pat::End
            } else if p.eat("!/") || p.eat("/") {
                let neg = p.s.get(p.i.wrapping_sub(2)) == Some(&b'!');
                let st = p.i;
                while p.s.get(p.i).is_some_and(|b| *b != b'/') {
                    p.i += if p.s.get(p.i) == Some(&b'\\') { 2 } else { 1 };
                }
                let re = String::from_utf8_lossy(p.s.get(st..p.i.min(p.s.len())).unwrap_or(&[]))
                    .into_owned();
                p.i += 1;
                Pat::Re(re, neg)
            } else if p.peek() == Some(b'{') {
                Pat::All
            } else {
                let l = p.sum()?;
                let op = ["==", "!=", ">=", "<=", ">", "<"]
                    .into_iter()
                    .find(|o| p.eat(o))?;
                let r = p.sum()?;
                Pat::Cmp(l, op.to_owned(), r)
            };
            let body = if p.eat("{") {
                p.stmts()?
            } else {
                vec![Stmt::Print(Vec::new())]
            };
            rules.push((pat, body));
        }
        Some(rules)
    }

    struct Env<'a> {
        fields: Vec<String>,
        line: String,
        vars: BTreeMap<String, String>,
        nr: usize,
        ofs: &'a str,
    }

    fn num(s: &str) -> f64 {
        let t: String = s
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        t.parse().unwrap_or(0.0)
    }

    fn fmt_num(v: f64) -> String {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v:.6}").trim_end_matches('0').to_owned()
        }
    }

    fn eval(e: &Expr, env: &Env<'_>) -> String {
        match e {
            Expr::Field(i) => {
                let n = num(&eval(i, env));
                let n = if n < 0.0 { 0 } else { n as usize };
                if n == 0 {
                    env.line.clone()
                } else {
                    env.fields.get(n - 1).cloned().unwrap_or_default()
                }
            }
            Expr::Var(v) => match v.as_str() {
                "NR" => env.nr.to_string(),
                "NF" => env.fields.len().to_string(),
                _ => env.vars.get(v).cloned().unwrap_or_default(),
            },
            Expr::Num(n) => fmt_num(*n),
            Expr::Str(s) => s.clone(),
            Expr::Concat(v) => v.iter().map(|x| eval(x, env)).collect(),
            Expr::Add(l, op, r) => {
                let (a, b) = (num(&eval(l, env)), num(&eval(r, env)));
                fmt_num(match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ if b == 0.0 => 0.0,
                    _ => a / b,
                })
            }
        }
    }

    fn exec(body: &[Stmt], env: &mut Env<'_>, out: &mut String) {
        for s in body {
            match s {
                Stmt::Print(items) => {
                    if items.is_empty() {
                        out.push_str(&env.line);
                    } else {
                        let v: Vec<String> = items.iter().map(|e| eval(e, env)).collect();
                        out.push_str(&v.join(env.ofs));
                    }
                    out.push('\n');
                }
                Stmt::Printf(items) => {
                    let v: Vec<String> = items.iter().map(|e| eval(e, env)).collect();
                    let o = super::printf(&v);
                    out.push_str(&String::from_utf8_lossy(&o.out));
                }
                Stmt::Assign(name, op, e) => {
                    let v = eval(e, env);
                    let cur = num(env.vars.get(name).map_or("", String::as_str));
                    let nv = match op {
                        '+' => fmt_num(cur + num(&v)),
                        '-' => fmt_num(cur - num(&v)),
                        _ => v,
                    };
                    env.vars.insert(name.clone(), nv);
                }
            }
            if out.len() > crate::shell::exec::MAX_OUTPUT {
                return;
            }
        }
    }

    pub fn run(
        rules: &[Rule],
        sep: Option<&str>,
        input: &str,
        vars: &[(String, String)],
    ) -> String {
        let mut env = Env {
            fields: Vec::new(),
            line: String::new(),
            vars: vars.iter().cloned().collect(),
            nr: 0,
            ofs: " ",
        };
        let mut out = String::new();
        for (p, b) in rules {
            if matches!(p, Pat::Begin) {
                exec(b, &mut env, &mut out);
            }
        }
        let regexes: Vec<Option<regex_automata::meta::Regex>> = rules
            .iter()
            .map(|(p, _)| match p {
                Pat::Re(r, _) => super::regex(r, true, false, false),
                _ => None,
            })
            .collect();
        for line in input.lines() {
            env.nr += 1;
            env.line = line.to_owned();
            env.fields = match sep {
                Some(s) if s.len() == 1 && s != " " => line.split(s).map(str::to_owned).collect(),
                Some(s) if s != " " => match super::regex(s, true, false, false) {
                    Some(re) => {
                        let mut f = Vec::new();
                        let mut last = 0;
                        for m in re.find_iter(line.as_bytes()) {
                            f.push(line.get(last..m.start()).unwrap_or("").to_owned());
                            last = m.end();
                        }
                        f.push(line.get(last..).unwrap_or("").to_owned());
                        f
                    }
                    None => vec![line.to_owned()],
                },
                _ => line.split_whitespace().map(str::to_owned).collect(),
            };
            for ((p, b), re) in rules.iter().zip(&regexes) {
                let hit = match p {
                    Pat::All => true,
                    Pat::Begin | Pat::End => false,
                    Pat::Re(_, neg) => {
                        re.as_ref().is_some_and(|r| r.is_match(line.as_bytes())) != *neg
                    }
                    Pat::Cmp(l, op, r) => {
                        let (a, c) = (eval(l, &env), eval(r, &env));
                        let numeric =
                            a.trim().parse::<f64>().is_ok() && c.trim().parse::<f64>().is_ok();
                        let ord = if numeric {
                            num(&a)
                                .partial_cmp(&num(&c))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        } else {
                            a.cmp(&c)
                        };
                        match op.as_str() {
                            "==" => ord.is_eq(),
                            "!=" => !ord.is_eq(),
                            ">" => ord.is_gt(),
                            "<" => ord.is_lt(),
                            ">=" => !ord.is_lt(),
                            _ => !ord.is_gt(),
                        }
                    }
                };
                if hit {
                    exec(b, &mut env, &mut out);
                }
            }
            if out.len() > crate::shell::exec::MAX_OUTPUT {
                break;
            }
        }
        for (p, b) in rules {
            if matches!(p, Pat::End) {
                exec(b, &mut env, &mut out);
            }
        }
        out
    }
}

/// The sed subset bots use: `s/a/b/[gi]`, `Nd`, `/re/d`, `-n 'Np'`, `$d`, `q`, `-i` on files.
fn sed(st: &mut State, args: &[String], stdin: &[u8]) -> Outcome {
    let mut scripts = Vec::new();
    let mut files = Vec::new();
    let mut quiet = false;
    let mut in_place = false;
    let mut extended = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-e" => scripts.extend(it.next().cloned()),
            "-n" => quiet = true,
            "-E" | "-r" => extended = true,
            s if s.starts_with("-i") => in_place = true,
            s if s.starts_with('-') && s.len() > 1 => {
                quiet |= s.contains('n');
                extended |= s.contains('E') || s.contains('r');
                in_place |= s.contains('i');
            }
            _ if scripts.is_empty() => scripts.push(a.clone()),
            _ => files.push(a.clone()),
        }
    }
    let Some(cmds) = scripts
        .iter()
        .map(|s| sed_parse(s, extended))
        .collect::<Option<Vec<Vec<SedCmd>>>>()
    else {
        return Outcome::fail_err(
            format!(
                "sed: -e expression #1, char {}: unknown command: `{}'\n",
                scripts.first().map_or(1, |s| s.len()),
                scripts
                    .first()
                    .and_then(|s| s.chars().last())
                    .unwrap_or(' ')
            ),
            1,
        );
    };
    let cmds: Vec<SedCmd> = cmds.into_iter().flatten().collect();
    if in_place {
        let mut err = String::new();
        let mut status = 0;
        for f in &files {
            match read_file(st, f) {
                Ok(d) => {
                    let out = sed_run(&cmds, &String::from_utf8_lossy(&d), quiet);
                    let path = resolve(&st.cwd, &st.home, f);
                    let uid = st.uid;
                    let now = st.now();
                    if let Err(e) = st.fs.write(&path, out.as_bytes(), false, uid, now) {
                        err.push_str(&format!(
                            "sed: couldn't open temporary file {}: {}\n",
                            path,
                            e.text()
                        ));
                        status = 4;
                    }
                }
                Err(e) => {
                    err.push_str(&format!("sed: can't read {f}: {e}\n"));
                    status = 2;
                }
            }
        }
        return Outcome::both("", err, status);
    }
    let (data, err, status) = read_inputs(st, "sed", &files, stdin);
    let err = err.replace("sed: ", "sed: can't read ");
    Outcome::both(
        sed_run(&cmds, &String::from_utf8_lossy(&data), quiet),
        err,
        if status != 0 { 2 } else { 0 },
    )
}

#[derive(Debug, Clone)]
enum Addr {
    Line(usize),
    Last,
    Re(Regex),
}

#[derive(Debug, Clone)]
enum SedOp {
    Subst(Regex, String, bool),
    Delete,
    Print,
    Quit,
}

#[derive(Debug, Clone)]
struct SedCmd {
    addr: Option<(Addr, Option<Addr>)>,
    op: SedOp,
}

fn sed_addr(s: &str, i: &mut usize, ext: bool) -> Option<Addr> {
    let b = s.as_bytes();
    match b.get(*i)? {
        b'$' => {
            *i += 1;
            Some(Addr::Last)
        }
        b'0'..=b'9' => {
            let st = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            s.get(st..*i)?.parse().ok().map(Addr::Line)
        }
        b'/' => {
            *i += 1;
            let st = *i;
            while b.get(*i).is_some_and(|c| *c != b'/') {
                *i += if b.get(*i) == Some(&b'\\') { 2 } else { 1 };
            }
            let re = s.get(st..(*i).min(s.len()))?;
            *i += 1;
            regex(re, ext, false, false).map(Addr::Re)
        }
        _ => None,
    }
}

fn sed_parse(s: &str, ext: bool) -> Option<Vec<SedCmd>> {
    let mut out = Vec::new();
    for part in s.split([';', '\n']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let mut i = 0;
        let addr = match sed_addr(part, &mut i, ext) {
            Some(a) => {
                let second = if part.as_bytes().get(i) == Some(&b',') {
                    i += 1;
                    sed_addr(part, &mut i, ext)
                } else {
                    None
                };
                Some((a, second))
            }
            None => None,
        };
        let rest = part.get(i..)?.trim_start();
        let op = match rest.chars().next()? {
            'd' => SedOp::Delete,
            'p' => SedOp::Print,
            'q' => SedOp::Quit,
            's' => {
                let d = rest.chars().nth(1)?;
                let body = rest.get(1 + d.len_utf8()..)?;
                let mut fields = Vec::new();
                let mut cur = String::new();
                let mut esc = false;
                for c in body.chars() {
                    if esc {
                        if c != d {
                            cur.push('\\');
                        }
                        cur.push(c);
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == d && fields.len() < 2 {
                        fields.push(std::mem::take(&mut cur));
                    } else {
                        cur.push(c);
                    }
                }
                if fields.len() < 2 {
                    return None;
                }
                let flags = cur;
                let re = regex(
                    fields.first()?,
                    ext,
                    false,
                    flags.contains('i') || flags.contains('I'),
                )?;
                SedOp::Subst(re, fields.get(1)?.clone(), flags.contains('g'))
            }
            _ => return None,
        };
        out.push(SedCmd { addr, op });
    }
    Some(out)
}

fn sed_run(cmds: &[SedCmd], input: &str, quiet: bool) -> String {
    let lines: Vec<&str> = input.lines().collect();
    let total = lines.len();
    let mut out = String::new();
    let mut active: Vec<bool> = vec![false; cmds.len()];
    for (idx, line) in lines.iter().enumerate() {
        let n = idx + 1;
        let mut cur = (*line).to_owned();
        let mut deleted = false;
        let mut quit = false;
        for (ci, c) in cmds.iter().enumerate() {
            let matches = |a: &Addr, text: &str| match a {
                Addr::Line(k) => *k == n,
                Addr::Last => n == total,
                Addr::Re(r) => r.is_match(text.as_bytes()),
            };
            let hit = match &c.addr {
                None => true,
                Some((a, None)) => matches(a, &cur),
                Some((a, Some(b))) => {
                    let on = active.get(ci).copied().unwrap_or(false);
                    if on {
                        if matches(b, &cur) || matches!(b, Addr::Line(k) if *k <= n) {
                            if let Some(x) = active.get_mut(ci) {
                                *x = false;
                            }
                        }
                        true
                    } else if matches(a, &cur) {
                        if let Some(x) = active.get_mut(ci) {
                            *x = !matches(b, &cur);
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            if !hit {
                continue;
            }
            match &c.op {
                SedOp::Delete => {
                    deleted = true;
                    break;
                }
                SedOp::Print => {
                    out.push_str(&cur);
                    out.push('\n');
                }
                SedOp::Quit => {
                    quit = true;
                    break;
                }
                SedOp::Subst(re, rep, global) => {
                    cur = sed_subst(re, rep, *global, &cur);
                }
            }
        }
        if !deleted && !quiet {
            out.push_str(&cur);
            out.push('\n');
        }
        if quit || out.len() > crate::shell::exec::MAX_OUTPUT {
            break;
        }
    }
    out
}

fn sed_subst(re: &Regex, rep: &str, global: bool, line: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for m in re.find_iter(line.as_bytes()) {
        out.push_str(line.get(last..m.start()).unwrap_or(""));
        let matched = line.get(m.start()..m.end()).unwrap_or("");
        let mut chars = rep.chars();
        while let Some(c) = chars.next() {
            match c {
                '&' => out.push_str(matched),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                },
                o => out.push(o),
            }
        }
        last = m.end();
        if !global {
            break;
        }
    }
    out.push_str(line.get(last..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_reference() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn bre_becomes_ere() {
        assert_eq!(bre_to_ere("a\\(b\\)c+"), "a(b)c\\+");
        assert_eq!(bre_to_ere("^root"), "^root");
        assert!(regex("name", false, false, false).is_some());
        assert!(regex("(", true, false, false).is_none());
    }

    #[test]
    fn printf_reuses_its_format() {
        let o = printf(&[
            "%s-%d\\n".into(),
            "a".into(),
            "1".into(),
            "b".into(),
            "2".into(),
        ]);
        assert_eq!(o.out, b"a-1\nb-2\n");
        let o = printf(&[
            "%5s|%-3s|%03d\\x41".into(),
            "ab".into(),
            "c".into(),
            "7".into(),
        ]);
        assert_eq!(String::from_utf8_lossy(&o.out), "   ab|c  |007A");
    }

    #[test]
    fn awk_and_sed_one_liners() {
        let r = awk::parse("{print $1}").unwrap();
        assert_eq!(awk::run(&r, None, "a b\nc d\n", &[]), "a\nc\n");
        let r = awk::parse("NR==2 {print $NF}").unwrap();
        assert_eq!(awk::run(&r, None, "a b\nc d\n", &[]), "d\n");
        let r = awk::parse("/x/ {print $2 \":\" NR}").unwrap();
        assert_eq!(awk::run(&r, None, "x 1\ny 2\nx 3\n", &[]), "1:1\n3:3\n");
        let r = awk::parse("{s+=$1} END {print s}").unwrap();
        assert_eq!(awk::run(&r, None, "1\n2\n3\n", &[]), "6\n");
        let c = sed_parse("s/a/b/g", false).unwrap();
        assert_eq!(sed_run(&c, "aXa\n", false), "bXb\n");
        let c = sed_parse("2d", false).unwrap();
        assert_eq!(sed_run(&c, "1\n2\n3\n", false), "1\n3\n");
        let c = sed_parse("1p", false).unwrap();
        assert_eq!(sed_run(&c, "1\n2\n", true), "1\n");
        let c = sed_parse("s#/#|#", false).unwrap();
        assert_eq!(sed_run(&c, "/a/b\n", false), "|a/b\n");
    }
}

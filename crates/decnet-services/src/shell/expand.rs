//! Word expansion helpers: field splitting on `IFS`, pathname globbing over
//! the session filesystem, and the glob matcher `case` and `${X#pat}` use.
//!
//! Hostile input: the matcher is iterative with one backtrack point per `*`
//! (linear-times-pattern, no exponential blow-up); globbing visits at most
//! [`MAX_GLOB`] entries.

use super::fs::{resolve, Fs};
use super::lex::{Part, Word};

/// Most pathnames a glob expands to (and directory entries it visits).
pub const MAX_GLOB: usize = 4096;

/// A piece of an expanded word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The text.
    pub text: String,
    /// The same text as a glob pattern (quoted glob characters escaped).
    pub pattern: String,
    /// Whether unquoted glob characters are in it.
    pub glob: bool,
    /// Whether it is split on IFS (an unquoted expansion).
    pub split: bool,
    /// Whether it came from quotes (so it makes a field even when empty).
    pub quoted: bool,
}

impl Field {
    /// Unquoted literal text.
    pub fn lit(text: String) -> Field {
        Field {
            pattern: text.clone(),
            text,
            glob: true,
            split: false,
            quoted: false,
        }
    }

    /// Quoted text.
    pub fn quoted(text: String) -> Field {
        Field {
            pattern: escape_glob(&text),
            text,
            glob: false,
            split: false,
            quoted: true,
        }
    }

    /// The result of an expansion, split and globbed unless double-quoted.
    pub fn expansion(text: String, quoted: bool) -> Field {
        if quoted {
            Field::quoted(text)
        } else {
            Field {
                pattern: text.clone(),
                text,
                glob: true,
                split: true,
                quoted: false,
            }
        }
    }
}

/// A word after splitting: its text and glob pattern.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Out {
    /// The text.
    pub text: String,
    /// Its pattern.
    pub pattern: String,
    /// Whether any part may glob.
    pub glob: bool,
}

/// Joins expanded pieces into words, splitting unquoted expansions on IFS.
pub fn split(fields: Vec<Field>, ifs: &str) -> Vec<Out> {
    let mut out = Vec::new();
    let mut cur = Out::default();
    let mut has = false;
    for f in fields {
        if !f.split || ifs.is_empty() {
            cur.text.push_str(&f.text);
            cur.pattern.push_str(&f.pattern);
            cur.glob |= f.glob;
            has |= f.quoted || !f.text.is_empty();
            continue;
        }
        for c in f.text.chars() {
            if ifs.contains(c) {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            } else {
                cur.text.push(c);
                cur.pattern.push(c);
                cur.glob = true;
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// Escapes glob characters so they match themselves.
pub fn escape_glob(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Whether a pattern has an unescaped glob character.
pub fn has_glob(p: &str) -> bool {
    let mut esc = false;
    for c in p.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape(p: &str) -> String {
    let mut o = String::new();
    let mut esc = false;
    for c in p.chars() {
        if !esc && c == '\\' {
            esc = true;
            continue;
        }
        esc = false;
        o.push(c);
    }
    o
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Char(char),
    Any,
    Star,
    Class(Vec<(char, char)>, bool),
}

fn compile(p: &str) -> Vec<Tok> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\\' => {
                if let Some(&n) = chars.get(i) {
                    out.push(Tok::Char(n));
                    i += 1;
                } else {
                    out.push(Tok::Char('\\'));
                }
            }
            '*' => {
                if out.last() != Some(&Tok::Star) {
                    out.push(Tok::Star);
                }
            }
            '?' => out.push(Tok::Any),
            '[' => {
                let mut j = i;
                let neg = matches!(chars.get(j), Some('!' | '^'));
                if neg {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                let mut closed = false;
                while let Some(&d) = chars.get(j) {
                    if d == ']' && !first {
                        closed = true;
                        j += 1;
                        break;
                    }
                    first = false;
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|e| *e != ']')
                    {
                        let e = chars.get(j + 2).copied().unwrap_or(d);
                        ranges.push((d, e));
                        j += 3;
                    } else {
                        ranges.push((d, d));
                        j += 1;
                    }
                }
                if closed {
                    out.push(Tok::Class(ranges, neg));
                    i = j;
                } else {
                    out.push(Tok::Char('['));
                }
            }
            c => out.push(Tok::Char(c)),
        }
    }
    out
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Char(x) => *x == c,
        Tok::Any => true,
        Tok::Star => true,
        Tok::Class(r, neg) => r.iter().any(|(a, b)| *a <= c && c <= *b) != *neg,
    }
}

/// Whether `s` matches the glob pattern `p` (`*`, `?`, `[...]`, `\x`).
pub fn glob_match(p: &str, s: &str) -> bool {
    let pat = compile(p);
    let text: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        match pat.get(pi) {
            Some(Tok::Star) => {
                back = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(t) => {
                if let Some(&c) = text.get(ti) {
                    if tok_matches(t, c) {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
            None if ti == text.len() => return true,
            None => {}
        }
        match back {
            Some((bp, bt)) if bt < text.len() => {
                back = Some((bp, bt + 1));
                pi = bp + 1;
                ti = bt + 1;
            }
            _ => return false,
        }
    }
}

/// `${v#pat}` / `${v##pat}`.
pub fn trim_prefix(v: &str, pat: &str, long: bool) -> String {
    let idx: Vec<usize> = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
    let order: Vec<&usize> = if long {
        idx.iter().rev().collect()
    } else {
        idx.iter().collect()
    };
    for &i in order {
        if glob_match(pat, v.get(..i).unwrap_or("")) {
            return v.get(i..).unwrap_or("").to_owned();
        }
    }
    v.to_owned()
}

/// `${v%pat}` / `${v%%pat}`.
pub fn trim_suffix(v: &str, pat: &str, long: bool) -> String {
    let idx: Vec<usize> = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
    let order: Vec<&usize> = if long {
        idx.iter().collect()
    } else {
        idx.iter().rev().collect()
    };
    for &i in order {
        if glob_match(pat, v.get(i..).unwrap_or("")) {
            return v.get(..i).unwrap_or("").to_owned();
        }
    }
    v.to_owned()
}

/// `${v/pat/rep}` / `${v//pat/rep}` (longest match at the leftmost position).
pub fn replace(v: &str, pat: &str, rep: &str, all: bool) -> String {
    if pat.is_empty() {
        return v.to_owned();
    }
    let idx: Vec<usize> = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
    let mut out = String::new();
    let mut i = 0usize;
    let mut done = false;
    while i < idx.len() {
        let start = idx.get(i).copied().unwrap_or(v.len());
        if !done {
            let mut hit = None;
            for j in (i + 1..idx.len()).rev() {
                let end = idx.get(j).copied().unwrap_or(v.len());
                if glob_match(pat, v.get(start..end).unwrap_or("")) {
                    hit = Some(j);
                    break;
                }
            }
            if let Some(j) = hit {
                out.push_str(rep);
                i = j;
                done = !all;
                continue;
            }
        }
        if let Some(c) = v.get(start..).and_then(|s| s.chars().next()) {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Pathnames matching a pattern, sorted; empty when none (the word then stays as written).
pub fn glob_fs(fs: &Fs, cwd: &str, pattern: &str) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let segs: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    // (display prefix, real dir)
    let mut cur: Vec<(String, String)> = vec![if absolute {
        (String::new(), "/".to_owned())
    } else {
        (String::new(), cwd.to_owned())
    }];
    let mut visited = 0usize;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        let mut next = Vec::new();
        for (shown, dir) in &cur {
            let join_shown = |name: &str| {
                if shown.is_empty() && !absolute {
                    name.to_owned()
                } else {
                    format!("{shown}/{name}")
                }
            };
            if !has_glob(seg) {
                let name = unescape(seg);
                let path = resolve(dir, "/", &name);
                if fs.get(&path).is_some() {
                    next.push((join_shown(&name), path));
                }
                continue;
            }
            let Ok(real) = fs.real(dir) else { continue };
            for (name, node) in fs.children(&real) {
                visited += 1;
                if visited > MAX_GLOB {
                    break;
                }
                if name.starts_with('.') && !seg.starts_with('.') {
                    continue;
                }
                if glob_match(seg, &name) && (last || node.is_dir()) {
                    next.push((join_shown(&name), resolve(&real, "/", &name)));
                }
            }
        }
        cur = next;
        if cur.is_empty() {
            return Vec::new();
        }
    }
    let mut out: Vec<String> = cur.into_iter().map(|(s, _)| s).collect();
    out.sort();
    out.truncate(MAX_GLOB);
    out
}

/// Words a brace expansion makes (`a{b,c}d` → `abd acd`, `{1..3}`), at most
/// [`MAX_GLOB`]; the word itself when it has none. Only braces inside one
/// unquoted literal part expand, which covers what scripts write.
pub fn braces(w: &Word) -> Vec<Word> {
    let mut out = Vec::new();
    let mut todo = vec![w.clone()];
    while let Some(cur) = todo.pop() {
        match split_brace(&cur) {
            // A word that would take the total past the cap stays as written.
            Some(alts) if out.len() + todo.len() + alts.len() <= MAX_GLOB => {
                todo.extend(alts.into_iter().rev());
            }
            _ => out.push(cur),
        }
    }
    out
}

fn split_brace(w: &Word) -> Option<Vec<Word>> {
    for (i, p) in w.parts.iter().enumerate() {
        let Part::Lit(s) = p else { continue };
        let chars: Vec<char> = s.chars().collect();
        for (open, _) in chars.iter().enumerate().filter(|(_, c)| **c == '{') {
            let mut depth = 0usize;
            let mut commas = Vec::new();
            let mut close = None;
            for (j, c) in chars.iter().enumerate().skip(open) {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(j);
                            break;
                        }
                    }
                    ',' if depth == 1 => commas.push(j),
                    _ => {}
                }
            }
            let Some(close) = close else { continue };
            let text = |a: usize, b: usize| {
                chars
                    .get(a..b)
                    .map(|c| c.iter().collect::<String>())
                    .unwrap_or_default()
            };
            let inner = text(open + 1, close);
            let alts: Vec<String> = if !commas.is_empty() {
                let mut v = Vec::new();
                let mut start = open + 1;
                for c in commas.iter().copied().chain([close]) {
                    v.push(text(start, c));
                    start = c + 1;
                }
                v
            } else if let Some((a, b)) = inner.split_once("..") {
                match (a.parse::<i64>(), b.parse::<i64>()) {
                    (Ok(a), Ok(b)) if (a - b).abs() < MAX_GLOB as i64 => {
                        if a <= b {
                            (a..=b).map(|n| n.to_string()).collect()
                        } else {
                            (b..=a).rev().map(|n| n.to_string()).collect()
                        }
                    }
                    _ => continue,
                }
            } else {
                continue;
            };
            let (pre, post) = (text(0, open), text(close + 1, chars.len()));
            return Some(
                alts.into_iter()
                    .map(|alt| {
                        let mut parts = w.parts.clone();
                        if let Some(slot) = parts.get_mut(i) {
                            *slot = Part::Lit(format!("{pre}{alt}{post}"));
                        }
                        Word { parts }
                    })
                    .collect(),
            );
        }
    }
    None
}

/// A word as written (for `ambiguous redirect` messages).
pub fn raw_text(w: &Word) -> String {
    w.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) | Part::Quoted(s) => s.clone(),
            Part::Param(p, _) => format!("${}", p.name),
            Part::Cmd(s, _) => format!("$({s})"),
            Part::Arith(s, _) => format!("$(({s}))"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs_match_as_fnmatch() {
        assert!(glob_match("*.sh", "x.sh"));
        assert!(!glob_match("*.sh", "x.shx"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("[", "["));
    }

    #[test]
    fn trims_and_replacements() {
        assert_eq!(trim_prefix("/usr/bin/ls", "*/", false), "usr/bin/ls");
        assert_eq!(trim_prefix("/usr/bin/ls", "*/", true), "ls");
        assert_eq!(trim_suffix("a.tar.gz", ".*", false), "a.tar");
        assert_eq!(trim_suffix("a.tar.gz", ".*", true), "a");
        assert_eq!(replace("aXbXc", "X", "-", false), "a-bXc");
        assert_eq!(replace("aXbXc", "X", "-", true), "a-b-c");
    }

    #[test]
    fn splitting_keeps_quoted_empties_and_drops_unquoted_ones() {
        let f = vec![Field::expansion(" a  b ".into(), false)];
        let w: Vec<String> = split(f, " \t\n").into_iter().map(|o| o.text).collect();
        assert_eq!(w, vec!["a", "b"]);
        let f = vec![Field::expansion(String::new(), false)];
        assert!(split(f, " ").is_empty());
        let f = vec![Field::quoted(String::new())];
        assert_eq!(split(f, " ").len(), 1);
        let f = vec![
            Field::lit("x".into()),
            Field::expansion("1 2".into(), false),
        ];
        let w: Vec<String> = split(f, " ").into_iter().map(|o| o.text).collect();
        assert_eq!(w, vec!["x1", "2"]);
    }

    #[test]
    fn braces_expand_as_bash_does() {
        let lit = |s: &str| Word {
            parts: vec![Part::Lit(s.into())],
        };
        let texts = |w: &str| -> Vec<String> {
            braces(&lit(w)).into_iter().map(|w| raw_text(&w)).collect()
        };
        assert_eq!(texts("a{b,c}d"), vec!["abd", "acd"]);
        assert_eq!(texts("{1..3}"), vec!["1", "2", "3"]);
        assert_eq!(texts("x{a,b}{1,2}"), vec!["xa1", "xa2", "xb1", "xb2"]);
        assert_eq!(texts("{a}"), vec!["{a}"]);
        assert_eq!(texts("{}"), vec!["{}"]);
        assert!(braces(&lit(&"{a,b}".repeat(20))).len() <= MAX_GLOB);
    }

    proptest! {
        #[test]
        fn matching_ends_quickly_on_any_pattern(p in "[a*?\\[\\]!-]{0,40}", s in "[ab]{0,60}") {
            let _ = glob_match(&p, &s);
        }
    }
}

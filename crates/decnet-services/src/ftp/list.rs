//! Directory listings as vsftpd's `ls.c` writes them: numeric owners, the day
//! zero-padded, the year instead of the time for files older than six months
//! (or in the future), dot files only with `-a`, names sorted.

use chrono::{DateTime, Utc};

use crate::shell::fs::{Fs, Kind, Node};

/// vsftpd's "recent" window (`ls.c`: 182 days).
const SIX_MONTHS: i64 = 60 * 60 * 24 * 182;

/// One `LIST` line for `name` (no terminator).
pub fn long_line(name: &str, node: &Node, now: i64) -> String {
    let links = if node.is_dir() { 2 } else { 1 };
    let mut line = format!(
        "{} {links:>4} {:<8} {:<8} {:>8} {} {name}",
        node.mode_string(),
        node.uid,
        node.gid,
        node.size(),
        date(node.mtime, now),
    );
    if let Kind::Symlink(target) = &node.kind {
        line.push_str(" -> ");
        line.push_str(target);
    }
    line
}

/// `Mon DD HH:MM` for recent times, `Mon DD  YYYY` otherwise, in UTC as vsftpd
/// prints them unless `use_localtime` is set.
pub fn date(mtime: i64, now: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp(mtime, 0).unwrap_or_default();
    if mtime > now || now - mtime > SIX_MONTHS {
        t.format("%b %d  %Y").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

/// `MDTM`'s `YYYYMMDDHHMMSS`.
pub fn mdtm(mtime: i64) -> String {
    DateTime::<Utc>::from_timestamp(mtime, 0)
        .unwrap_or_default()
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// What `LIST`/`NLST` were asked for: vsftpd takes one leading `-opts` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListArgs {
    /// `-a`: dot files too (and `.` and `..`).
    pub all: bool,
    /// The path, empty for the working directory.
    pub path: String,
}

impl ListArgs {
    /// Splits `-la dir` into options and path.
    pub fn parse(arg: &str) -> ListArgs {
        match arg.strip_prefix('-') {
            Some(rest) => {
                let (opts, path) = rest.split_once(' ').unwrap_or((rest, ""));
                ListArgs {
                    all: opts.contains('a'),
                    path: path.trim_start().to_owned(),
                }
            }
            None => ListArgs {
                all: false,
                path: arg.to_owned(),
            },
        }
    }
}

/// The listing of `real` (a real path in `fs`) as `LIST` (`long`) or `NLST`
/// sends it; `shown` is the path as the client named it, which `NLST` of a
/// directory puts before each name. `None` when there is nothing there:
/// vsftpd then sends an empty listing.
pub fn listing(fs: &Fs, real: &str, shown: &str, args: &ListArgs, long: bool, now: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok((real, node)) = fs.stat(real) else {
        return out;
    };
    let mut push = |line: String| {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if !node.is_dir() {
        let base = crate::shell::fs::base_name(&real);
        if long {
            push(long_line(base, node, now));
        } else {
            push(shown.to_owned());
        }
        return out;
    }
    if long && args.all {
        push(long_line(".", node, now));
        if let Some(up) = fs.get(crate::shell::fs::parent(&real)) {
            push(long_line("..", up, now));
        }
    }
    for (name, child) in fs.children(&real) {
        if name.starts_with('.') && !args.all {
            continue;
        }
        if long {
            push(long_line(&name, child, now));
        } else if shown.is_empty() {
            push(name);
        } else {
            push(format!("{}/{name}", shown.trim_end_matches('/')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_are_laid_out_as_vsftpd_writes_them() {
        // Recorded from vsftpd 3.0.3 on Debian 12.
        let now = 1_764_649_500; // 2025-12-02 04:25 UTC
        let file = Node::file(b"hello\n".to_vec(), 0o777, 1001, 0, 1_764_649_380);
        assert_eq!(
            long_line("hello.txt", &file, now),
            "-rwxrwxrwx    1 1001     0               6 Dec 02 04:23 hello.txt"
        );
        let dir = Node::dir(0o755, 1001, 1001, 1_764_649_380);
        assert_eq!(
            long_line(".", &dir, now),
            "drwxr-xr-x    2 1001     1001         4096 Dec 02 04:23 ."
        );
        let old = Node::file(vec![0; 220], 0o644, 1001, 1001, 1_744_934_400);
        assert_eq!(
            long_line(".bash_logout", &old, now),
            "-rw-r--r--    1 1001     1001          220 Apr 18  2025 .bash_logout"
        );
    }

    #[test]
    fn list_options_are_split_from_the_path() {
        assert_eq!(
            ListArgs::parse("-la /etc"),
            ListArgs {
                all: true,
                path: "/etc".into()
            }
        );
        assert_eq!(
            ListArgs::parse("-l"),
            ListArgs {
                all: false,
                path: String::new()
            }
        );
        assert_eq!(
            ListArgs::parse("pub"),
            ListArgs {
                all: false,
                path: "pub".into()
            }
        );
    }

    #[test]
    fn mdtm_is_utc() {
        assert_eq!(mdtm(1_764_649_399), "20251202042319");
    }
}

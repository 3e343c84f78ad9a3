//! `ls`, `cd`, `pwd`, `cat` over the persona's file tree.

use super::Outcome;
use crate::shell::fs::{resolve, Node};
use crate::shell::State;

/// A file verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// `ls [-la] [path…]`.
    Ls,
    /// `cd [path]`.
    Cd,
    /// `pwd`.
    Pwd,
    /// `cat path…`.
    Cat,
}

impl Files {
    /// The verb of a command name (`ll` is the usual alias).
    pub fn parse(name: &str) -> Option<Files> {
        Some(match name {
            "ls" | "ll" | "dir" => Files::Ls,
            "cd" => Files::Cd,
            "pwd" => Files::Pwd,
            "cat" => Files::Cat,
            _ => return None,
        })
    }

    /// Runs it.
    pub fn run(self, st: &mut State, args: &[String]) -> Outcome {
        match self {
            Files::Pwd => Outcome::ok(format!("{}\n", st.cwd)),
            Files::Cd => {
                let target = args.iter().find(|a| !a.starts_with('-'));
                let path = match target {
                    None => st.home.clone(),
                    Some(a) => resolve(&st.cwd, &st.home, a),
                };
                match st.fs.get(&path) {
                    Some(Node::Dir) => {
                        st.cwd = path;
                        Outcome::ok("")
                    }
                    Some(Node::File(_)) => Outcome::fail(
                        format!("bash: cd: {}: Not a directory\n", target.map_or("", |s| s)),
                        1,
                    ),
                    None => Outcome::fail(
                        format!(
                            "bash: cd: {}: No such file or directory\n",
                            target.map_or("", |s| s)
                        ),
                        1,
                    ),
                }
            }
            Files::Cat => {
                let mut out = String::new();
                let mut status = 0;
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    let path = resolve(&st.cwd, &st.home, a);
                    match st.fs.get(&path) {
                        Some(Node::File(_)) if path == "/etc/shadow" && st.user != "root" => {
                            out.push_str(&format!("cat: {a}: Permission denied\n"));
                            status = 1;
                        }
                        Some(Node::File(c)) => out.push_str(c),
                        Some(Node::Dir) => {
                            out.push_str(&format!("cat: {a}: Is a directory\n"));
                            status = 1;
                        }
                        None => {
                            out.push_str(&format!("cat: {a}: No such file or directory\n"));
                            status = 1;
                        }
                    }
                }
                Outcome::fail(out, status)
            }
            Files::Ls => ls(st, args),
        }
    }
}

fn ls(st: &State, args: &[String]) -> Outcome {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-'))
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let long = flags.contains('l');
    let all = flags.contains('a') || flags.contains('A');
    let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let targets: Vec<String> = if targets.is_empty() {
        vec![".".to_owned()]
    } else {
        targets.into_iter().cloned().collect()
    };
    let mut out = String::new();
    let mut status = 0;
    let many = targets.len() > 1;
    for t in &targets {
        let path = resolve(&st.cwd, &st.home, t);
        match st.fs.get(&path) {
            None => {
                out.push_str(&format!(
                    "ls: cannot access '{t}': No such file or directory\n"
                ));
                status = 2;
            }
            Some(Node::File(c)) => {
                if long {
                    out.push_str(&long_line(st, t, false, c.len()));
                } else {
                    out.push_str(&format!("{t}\n"));
                }
            }
            Some(Node::Dir) => {
                if many {
                    out.push_str(&format!("{t}:\n"));
                }
                let mut entries: Vec<(String, bool, usize)> = st
                    .fs
                    .children(&path)
                    .into_iter()
                    .filter(|(n, _)| all || !n.starts_with('.'))
                    .map(|(n, node)| match node {
                        Node::Dir => (n, true, 4096),
                        Node::File(c) => (n, false, c.len()),
                    })
                    .collect();
                if all {
                    entries.insert(0, ("..".to_owned(), true, 4096));
                    entries.insert(0, (".".to_owned(), true, 4096));
                }
                if long {
                    out.push_str(&format!("total {}\n", entries.len() * 4));
                    for (n, d, size) in &entries {
                        out.push_str(&long_line(st, n, *d, *size));
                    }
                } else if !entries.is_empty() {
                    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
                    out.push_str(&names.join("  "));
                    out.push('\n');
                }
            }
        }
    }
    Outcome::fail(out, status)
}

fn long_line(st: &State, name: &str, dir: bool, size: usize) -> String {
    let owner = if name.starts_with('.') || st.cwd.starts_with("/home/") {
        st.user.as_str()
    } else {
        "root"
    };
    let mode = if dir { "drwxr-xr-x" } else { "-rw-r--r--" };
    let links = if dir { 2 } else { 1 };
    format!("{mode} {links:>2} {owner} {owner} {size:>5} Jan 14 09:12 {name}\n")
}

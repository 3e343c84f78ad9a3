//! Shell builtins (`echo`, `export`, `history`, `exit`, `which`, `sudo`, …) and
//! the utilities that succeed silently (`chmod`, `rm`, `mkdir`, …).

use super::Outcome;
use crate::shell::fs::resolve;
use crate::shell::State;

/// A builtin verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `echo`.
    Echo,
    /// `export NAME=VALUE`.
    Export,
    /// `history`.
    History,
    /// `exit` / `logout`.
    Exit,
    /// `which`.
    Which,
    /// `sudo` (the password is never right).
    Sudo,
    /// `true` / `:`.
    True,
    /// `false`.
    False,
    /// Utilities that print nothing and succeed (`chmod`, `rm`, `grep` in a pipe, …).
    Quiet,
}

const QUIET: [&str; 24] = [
    "chmod", "chown", "rm", "mkdir", "touch", "cp", "mv", "kill", "pkill", "killall", "unset",
    "sleep", "nohup", "grep", "awk", "sed", "head", "tail", "sh", "bash", "cd-", "clear", "sync",
    "unalias",
];

impl Builtin {
    /// The verb of a command name.
    pub fn parse(name: &str) -> Option<Builtin> {
        Some(match name {
            "echo" => Builtin::Echo,
            "export" => Builtin::Export,
            "history" => Builtin::History,
            "exit" | "logout" => Builtin::Exit,
            "which" => Builtin::Which,
            "sudo" => Builtin::Sudo,
            "true" | ":" => Builtin::True,
            "false" => Builtin::False,
            n if QUIET.contains(&n) => Builtin::Quiet,
            _ => return None,
        })
    }

    /// Runs it.
    pub fn run(self, st: &mut State, args: &[String]) -> Outcome {
        match self {
            Builtin::Echo => {
                let (newline, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, args.get(1..).unwrap_or(&[])),
                    Some("-e") => (true, args.get(1..).unwrap_or(&[])),
                    _ => (true, args),
                };
                let mut s = words.join(" ");
                if newline {
                    s.push('\n');
                }
                Outcome::ok(s)
            }
            Builtin::Export => {
                for a in args {
                    if let Some((k, v)) = a.split_once('=') {
                        if st.env.len() < 256 && !k.is_empty() {
                            st.env.insert(k.to_owned(), v.to_owned());
                        }
                    }
                }
                Outcome::ok("")
            }
            Builtin::History => {
                let mut out = String::new();
                for (i, h) in st.history.iter().enumerate() {
                    out.push_str(&format!("{:>5}  {h}\n", i + 1));
                }
                Outcome::ok(out)
            }
            Builtin::Exit => Outcome {
                out: String::new(),
                exit: true,
                ..Outcome::default()
            },
            Builtin::Which => {
                let mut out = String::new();
                let mut status = 0;
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    let found = ["/usr/bin", "/usr/sbin"]
                        .iter()
                        .map(|d| resolve("/", "/", &format!("{d}/{a}")))
                        .find(|p| st.fs.get(p).is_some() && !a.contains('/'));
                    match found {
                        Some(p) => {
                            out.push_str(&p);
                            out.push('\n');
                        }
                        None => status = 1,
                    }
                }
                Outcome::fail(out, status)
            }
            Builtin::Sudo => {
                if st.user == "root" {
                    // root's sudo runs the command; the shell re-runs it without the prefix.
                    let words: Vec<String> = args
                        .iter()
                        .skip_while(|a| a.starts_with('-'))
                        .cloned()
                        .collect();
                    return match super::Command::parse(&words) {
                        Some(c) => c.run(st, &words.join(" ")),
                        None => Outcome::fail("usage: sudo -h | -K | -k | -V\n", 1),
                    };
                }
                Outcome::fail(
                    format!(
                        "[sudo] password for {u}: \nSorry, try again.\n[sudo] password for {u}: \nSorry, try again.\n[sudo] password for {u}: \nsudo: 3 incorrect password attempts\n",
                        u = st.user
                    ),
                    1,
                )
            }
            Builtin::True | Builtin::Quiet => Outcome::ok(""),
            Builtin::False => Outcome::fail("", 1),
        }
    }
}

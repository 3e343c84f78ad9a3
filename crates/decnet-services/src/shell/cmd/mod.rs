//! The commands the fake shell knows, one module per family behind [`Command`].

pub mod builtin;
pub mod files;
pub mod net;
pub mod sysinfo;

use super::{ShellEvent, State};

/// What running one command produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Output with `\n` newlines.
    pub out: String,
    /// Events it caused besides the command line itself.
    pub events: Vec<ShellEvent>,
    /// Exit status (`&&`/`||` follow it).
    pub status: u32,
    /// The shell ends after it.
    pub exit: bool,
}

impl Outcome {
    /// Success with output.
    pub fn ok(out: impl Into<String>) -> Outcome {
        Outcome {
            out: out.into(),
            ..Outcome::default()
        }
    }

    /// Failure with output.
    pub fn fail(out: impl Into<String>, status: u32) -> Outcome {
        Outcome {
            out: out.into(),
            status,
            ..Outcome::default()
        }
    }
}

/// A parsed command: its family's verb and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// System information (`uname`, `id`, `ps`, …).
    Sys(sysinfo::Sys, Vec<String>),
    /// Files and directories (`ls`, `cd`, `cat`, …).
    Files(files::Files, Vec<String>),
    /// Network tools (`ifconfig`, `ip`, `wget`, `curl`, …).
    Net(net::Net, Vec<String>),
    /// Shell builtins and quiet utilities (`echo`, `export`, `exit`, `sudo`, …).
    Builtin(builtin::Builtin, Vec<String>),
    /// Anything else: `bash: NAME: command not found`.
    Unknown(String),
}

impl Command {
    /// Parses a command from its words (`None` for an empty command).
    pub fn parse(words: &[String]) -> Option<Command> {
        let (name, args) = words.split_first()?;
        // `/usr/bin/id` runs `id`.
        let base = name.rsplit('/').next().unwrap_or(name);
        let args = args.to_vec();
        Some(if let Some(v) = sysinfo::Sys::parse(base) {
            Command::Sys(v, args)
        } else if let Some(v) = files::Files::parse(base) {
            Command::Files(v, args)
        } else if let Some(v) = net::Net::parse(base) {
            Command::Net(v, args)
        } else if let Some(v) = builtin::Builtin::parse(base) {
            Command::Builtin(v, args)
        } else {
            Command::Unknown(name.clone())
        })
    }

    /// Runs it; `raw` is the command part as typed.
    pub fn run(self, st: &mut State, raw: &str) -> Outcome {
        match self {
            Command::Sys(v, args) => v.run(st, &args),
            Command::Files(v, args) => v.run(st, &args),
            Command::Net(v, args) => v.run(st, &args, raw),
            Command::Builtin(v, args) => v.run(st, &args),
            Command::Unknown(name) => Outcome::fail(format!("{name}: command not found\n"), 127),
        }
    }
}

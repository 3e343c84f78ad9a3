//! bash's builtins: the commands the shell runs itself (`cd`, `echo`,
//! `export`, `read`, `test`, `type`, `exit`, …), with bash's own messages.

use crate::shell::exec::{is_builtin, Dialect, Io, Run};
use crate::shell::fs::{resolve, Kind};
use crate::shell::lex::unescape_c;
use crate::shell::parse::is_name;

/// Every builtin bash has that the shell answers for (`type` says "is a shell builtin").
pub const BUILTINS: [&str; 46] = [
    "cd", "pwd", "echo", "printf", "export", "unset", "set", "exit", "logout", "true", "false",
    ":", "test", "[", "read", "history", "type", "command", "eval", "source", ".", "exec", "break",
    "continue", "return", "shift", "alias", "unalias", "wait", "jobs", "kill", "umask", "ulimit",
    "hash", "local", "declare", "let", "readonly", "trap", "shopt", "enable", "help", "times",
    "bg", "fg", "disown",
];

impl Run<'_> {
    /// Runs a builtin; `None` when `name` is not one.
    pub fn builtin(&mut self, name: &str, args: &[String], io: &Io, line: usize) -> Option<i32> {
        let st = match name {
            "cd" => self.cd(args, io, line),
            "pwd" => {
                let cwd = format!("{}\n", self.st.cwd);
                self.write(&io.out, cwd.as_bytes());
                0
            }
            "echo" => {
                let mut newline = true;
                let mut escapes = false;
                let mut rest = args;
                while let Some((first, tail)) = rest.split_first() {
                    let f = first.as_str();
                    if f.len() > 1
                        && f.starts_with('-')
                        && f.chars().skip(1).all(|c| "neE".contains(c))
                    {
                        for c in f.chars().skip(1) {
                            match c {
                                'n' => newline = false,
                                'e' => escapes = true,
                                _ => escapes = false,
                            }
                        }
                        rest = tail;
                    } else {
                        break;
                    }
                }
                let joined = rest.join(" ");
                let mut out = if escapes {
                    let (bytes, stop) = echo_escapes(&joined);
                    if stop {
                        newline = false;
                    }
                    bytes
                } else {
                    joined.into_bytes()
                };
                if newline {
                    out.push(b'\n');
                }
                self.write(&io.out, &out);
                0
            }
            "printf" => {
                let o = super::text::printf(args);
                self.finish(o, io)
            }
            "export" | "readonly" | "declare" | "local" | "typeset" => {
                let mut status = 0;
                let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                if names.is_empty() {
                    let mut out = String::new();
                    for (k, v) in self.environment() {
                        out.push_str(&format!("declare -x {k}=\"{v}\"\n"));
                    }
                    self.write(&io.out, out.as_bytes());
                    return Some(0);
                }
                for a in names {
                    let (k, v) = match a.split_once('=') {
                        Some((k, v)) => (k, Some(v.to_owned())),
                        None => (a.as_str(), None),
                    };
                    if !is_name(k) {
                        let m = format!("{name}: `{a}': not a valid identifier");
                        self.diag(&io.err, &m, line);
                        status = 1;
                        continue;
                    }
                    if let Some(v) = v {
                        if !self.st.set_var(k, v) {
                            self.fatal(&io.err, "fork: Cannot allocate memory");
                            return Some(1);
                        }
                    }
                    if name == "export" {
                        self.st.exported.insert(k.to_owned());
                    }
                }
                status
            }
            "unset" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    self.st.vars.remove(a);
                    self.st.exported.remove(a);
                    self.st.functions.remove(a);
                }
                0
            }
            "set" => {
                if args.is_empty() {
                    let mut out = String::new();
                    for (k, v) in &self.st.vars {
                        if is_name(k) {
                            out.push_str(&format!("{k}={}\n", quote_value(v)));
                        }
                    }
                    self.write(&io.out, out.as_bytes());
                } else if let Some(pos) = args.iter().position(|a| a == "--") {
                    self.st.positional = args.get(pos + 1..).unwrap_or(&[]).to_vec();
                } else if !args
                    .iter()
                    .all(|a| a.starts_with('-') || a.starts_with('+'))
                {
                    self.st.positional = args.to_vec();
                }
                0
            }
            "exit" | "logout" => {
                let status = match args.first() {
                    None => self.st.status,
                    Some(a) => match a.parse::<i64>() {
                        Ok(n) => i32::try_from(n.rem_euclid(256)).unwrap_or(0),
                        Err(_) => {
                            self.diag(
                                &io.err,
                                &format!("exit: {a}: numeric argument required"),
                                line,
                            );
                            2
                        }
                    },
                };
                if self.dialect() == Dialect::Login {
                    self.write(&io.err, b"logout\n");
                }
                self.set_flow_exit(status);
                status
            }
            "true" | ":" => 0,
            "false" => 1,
            "test" => test(self, args, io, line),
            "[" => {
                if args.last().map(String::as_str) != Some("]") {
                    self.diag(&io.err, "[: missing `]'", line);
                    return Some(2);
                }
                let inner = args.get(..args.len() - 1).unwrap_or(&[]);
                test(self, inner, io, line)
            }
            "read" => self.read(args, io),
            "history" => {
                if args.first().map(String::as_str) == Some("-c") {
                    self.st.history.clear();
                    return Some(0);
                }
                let mut out = String::new();
                for (i, h) in self.st.history.iter().enumerate() {
                    out.push_str(&format!("{:>5}  {h}\n", i + 1));
                }
                self.write(&io.out, out.as_bytes());
                0
            }
            "type" => self.type_cmd(args, io, line, false),
            "command" => {
                if matches!(args.first().map(String::as_str), Some("-v" | "-V")) {
                    let verbose = args.first().map(String::as_str) == Some("-V");
                    return Some(self.type_cmd(args.get(1..).unwrap_or(&[]), io, line, !verbose));
                }
                let argv = args.to_vec();
                return Some(self.exec_argv(&argv, io, line));
            }
            "hash" => 0,
            "eval" => {
                let src = args.join(" ");
                self.eval(&src, io)
            }
            "source" | "." => {
                let Some(file) = args.first() else {
                    self.diag(
                        &io.err,
                        &format!("{name}: filename argument required"),
                        line,
                    );
                    self.write(
                        &io.err,
                        format!("{name}: usage: {name} filename [arguments]\n").as_bytes(),
                    );
                    return Some(2);
                };
                let path = resolve(&self.st.cwd, &self.st.home, file);
                match self.st.fs.read(&path) {
                    Ok(d) => {
                        let src = String::from_utf8_lossy(d).into_owned();
                        self.eval(&src, io)
                    }
                    Err(e) => {
                        self.diag(&io.err, &format!("{file}: {}", e.text()), line);
                        1
                    }
                }
            }
            "exec" => {
                if args.is_empty() {
                    return Some(0);
                }
                let argv = args.to_vec();
                let st = self.exec_argv(&argv, io, line);
                self.set_flow_exit(st);
                st
            }
            "break" | "continue" => {
                let n = args
                    .first()
                    .and_then(|a| a.parse::<u32>().ok())
                    .unwrap_or(1);
                if !self.set_flow_break(n, name == "continue") {
                    let m = format!("{name}: only meaningful in a `for', `while', or `until' loop");
                    self.diag(&io.err, &m, line);
                }
                0
            }
            "return" => {
                let st = args
                    .first()
                    .and_then(|a| a.parse::<i32>().ok())
                    .unwrap_or(self.st.status);
                if !self.set_flow_return() {
                    self.diag(
                        &io.err,
                        "return: can only `return' from a function or sourced script",
                        line,
                    );
                    return Some(1);
                }
                st
            }
            "shift" => {
                let n = args
                    .first()
                    .and_then(|a| a.parse::<usize>().ok())
                    .unwrap_or(1);
                if n > self.st.positional.len() {
                    return Some(1);
                }
                self.st.positional.drain(..n);
                0
            }
            "alias" => {
                if args.is_empty() {
                    let out = "alias l='ls -CF'\nalias la='ls -A'\nalias ll='ls -alF'\nalias ls='ls --color=auto'\n";
                    self.write(&io.out, out.as_bytes());
                }
                0
            }
            "unalias" | "wait" | "umask" | "trap" | "shopt" | "enable" | "times" | "disown" => {
                if name == "umask" && args.is_empty() {
                    self.write(&io.out, b"0022\n");
                }
                0
            }
            "jobs" => 0,
            "bg" | "fg" => {
                self.diag(&io.err, &format!("{name}: current: no such job"), line);
                1
            }
            "help" => {
                let v = self.st.persona.distro.bash_version;
                let t = format!("GNU bash, version {v} (x86_64-pc-linux-gnu)\nThese shell commands are defined internally.  Type `help' to see this list.\n");
                self.write(&io.out, t.as_bytes());
                0
            }
            "ulimit" => {
                self.write(&io.out, b"unlimited\n");
                0
            }
            "let" => {
                let mut last = 0;
                for a in args {
                    match crate::shell::arith::eval(a, &mut self.st.vars) {
                        Ok(v) => last = v,
                        Err(e) => {
                            self.diag(
                                &io.err,
                                &format!("let: {a}: {} (error token is \"{}\")", e.msg, e.token),
                                line,
                            );
                            return Some(1);
                        }
                    }
                }
                i32::from(last == 0)
            }
            "kill" => {
                let o = super::sysinfo::kill(self.st, args);
                self.finish(o, io)
            }
            _ => return None,
        };
        Some(st)
    }

    fn cd(&mut self, args: &[String], io: &Io, line: usize) -> i32 {
        let args: Vec<&String> = args
            .iter()
            .filter(|a| !(a.starts_with('-') && a.len() > 1))
            .collect();
        if args.len() > 1 {
            self.diag(&io.err, "cd: too many arguments", line);
            return 1;
        }
        let target = match args.first().map(|s| s.as_str()) {
            None => self.st.home.clone(),
            Some("-") => {
                let old = self.st.vars.get("OLDPWD").cloned().unwrap_or_default();
                if old.is_empty() {
                    self.diag(&io.err, "cd: OLDPWD not set", line);
                    return 1;
                }
                self.write(&io.out, format!("{old}\n").as_bytes());
                old
            }
            Some(a) => a.to_owned(),
        };
        let path = resolve(&self.st.cwd, &self.st.home, &target);
        match self.st.fs.stat(&path) {
            Ok((_, n)) if n.is_dir() => {
                if self.st.uid != 0 && n.mode & 0o001 == 0 && n.uid != self.st.uid {
                    self.cd_error(&target, "Permission denied", io, line);
                    return 1;
                }
                let old = std::mem::replace(&mut self.st.cwd, path.clone());
                self.st.set_var("OLDPWD", old);
                self.st.set_var("PWD", path);
                0
            }
            Ok(_) => {
                self.cd_error(&target, "Not a directory", io, line);
                1
            }
            Err(e) => {
                self.cd_error(&target, e.text(), io, line);
                1
            }
        }
    }

    fn cd_error(&mut self, target: &str, msg: &str, io: &Io, line: usize) {
        if self.dialect() == Dialect::Dash {
            self.diag(&io.err, &format!("cd: can't cd to {target}"), line);
        } else {
            self.diag(&io.err, &format!("cd: {target}: {msg}"), line);
        }
    }

    fn read(&mut self, args: &[String], io: &Io) -> i32 {
        let mut names = Vec::new();
        let mut raw = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-r" => raw = true,
                "-p" | "-t" | "-n" | "-d" | "-u" => {
                    it.next();
                }
                s if s.starts_with('-') => {}
                s => names.push(s.to_owned()),
            }
        }
        // The command's stdin is consumed a line at a time across calls in one loop.
        let Some(line) = io.input.line() else {
            return 1;
        };
        // Without -r a backslash escapes the next character and is removed.
        let line = if raw {
            line
        } else {
            let mut out = String::with_capacity(line.len());
            let mut esc = false;
            for c in line.chars() {
                if c == '\\' && !esc {
                    esc = true;
                    continue;
                }
                esc = false;
                out.push(c);
            }
            out
        };
        if names.is_empty() {
            names.push("REPLY".to_owned());
        }
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        let count = names.len();
        for (i, n) in names.iter().enumerate() {
            let v = if i + 1 == count {
                let rest = fields.join(" ");
                fields.clear();
                rest
            } else if fields.is_empty() {
                String::new()
            } else {
                fields.remove(0).to_owned()
            };
            self.st.set_var(n, v);
        }
        0
    }

    fn type_cmd(&mut self, args: &[String], io: &Io, line: usize, short: bool) -> i32 {
        let mut status = 0;
        for a in args.iter().filter(|a| !a.starts_with('-')) {
            const KEYWORDS: [&str; 12] = [
                "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
                "esac",
            ];
            let text = if KEYWORDS.contains(&a.as_str()) {
                if short {
                    format!("{a}\n")
                } else {
                    format!("{a} is a shell keyword\n")
                }
            } else if self.st.functions.contains_key(a) {
                if short {
                    format!("{a}\n")
                } else {
                    format!("{a} is a function\n")
                }
            } else if is_builtin(a) {
                if short {
                    format!("{a}\n")
                } else {
                    format!("{a} is a shell builtin\n")
                }
            } else if let Some(p) = self.lookup(a) {
                if short {
                    format!("{p}\n")
                } else {
                    format!("{a} is {p}\n")
                }
            } else {
                status = 1;
                if !short {
                    self.diag(&io.err, &format!("type: {a}: not found"), line);
                }
                continue;
            };
            self.write(&io.out, text.as_bytes());
        }
        status
    }
}

/// `echo -e`'s escapes; `\c` stops output (the `bool`).
fn echo_escapes(s: &str) -> (Vec<u8>, bool) {
    match s.find("\\c") {
        Some(i) => (unescape_c(s.get(..i).unwrap_or("")), true),
        None => (unescape_c(s), false),
    }
}

fn quote_value(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_.:-,@%+=".contains(c))
    {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// `test` / `[`: file tests, string and integer comparisons, `!`, `-a`, `-o`.
fn test(run: &mut Run<'_>, args: &[String], io: &Io, line: usize) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match eval_test(run, &a) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(msg) => {
            run.diag(&io.err, &msg, line);
            2
        }
    }
}

fn eval_test(run: &mut Run<'_>, a: &[&str]) -> Result<bool, String> {
    if let Some(i) = a.iter().position(|x| *x == "-o") {
        return Ok(eval_test(run, a.get(..i).unwrap_or(&[]))?
            || eval_test(run, a.get(i + 1..).unwrap_or(&[]))?);
    }
    if let Some(i) = a.iter().position(|x| *x == "-a") {
        if i > 0 {
            return Ok(eval_test(run, a.get(..i).unwrap_or(&[]))?
                && eval_test(run, a.get(i + 1..).unwrap_or(&[]))?);
        }
    }
    match a {
        [] => Ok(false),
        ["!", rest @ ..] => Ok(!eval_test(run, rest)?),
        [s] => Ok(!s.is_empty()),
        [op, x] => {
            let path = resolve(&run.st.cwd, &run.st.home, x);
            let node = run.st.fs.get(&path);
            Ok(match *op {
                "-n" => !x.is_empty(),
                "-z" => x.is_empty(),
                "-e" | "-a" => node.is_some(),
                "-f" => node.is_some_and(|n| matches!(n.kind, Kind::File(_))),
                "-d" => node.is_some_and(|n| n.is_dir()),
                "-s" => node.is_some_and(|n| n.size() > 0),
                "-x" => node.is_some_and(|n| n.mode & 0o111 != 0),
                "-r" => node.is_some_and(|n| run.st.uid == 0 || n.mode & 0o444 != 0),
                "-w" => node.is_some_and(|n| crate::shell::fs::writable(n, run.st.uid)),
                "-L" | "-h" => run
                    .st
                    .fs
                    .lget(&path)
                    .is_some_and(|n| matches!(n.kind, Kind::Symlink(_))),
                "-c" => node.is_some_and(|n| n.kind == Kind::CharDev),
                _ => return Err(format!("{op}: unary operator expected")),
            })
        }
        [x, op, y] => {
            let int = |s: &str| -> Result<i64, String> {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{s}: integer expression expected"))
            };
            Ok(match *op {
                "=" | "==" => x == y,
                "!=" => x != y,
                "<" => x < y,
                ">" => x > y,
                "-eq" => int(x)? == int(y)?,
                "-ne" => int(x)? != int(y)?,
                "-lt" => int(x)? < int(y)?,
                "-le" => int(x)? <= int(y)?,
                "-gt" => int(x)? > int(y)?,
                "-ge" => int(x)? >= int(y)?,
                _ => return Err(format!("{op}: binary operator expected")),
            })
        }
        _ => Err("too many arguments".to_owned()),
    }
}

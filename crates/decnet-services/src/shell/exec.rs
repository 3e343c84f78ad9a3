//! The executor: runs a parsed script against the session [`State`] as bash
//! would, with word expansion, redirections, pipelines (run one after the
//! other, each consuming the previous one's output), subshells, loops and
//! functions.
//!
//! Bounded: every run has a budget of [`MAX_STEPS`] commands and loop turns,
//! [`MAX_DEPTH`] nested shells (`$(...)`, `sh -c`, `eval`, functions),
//! [`MAX_OUTPUT`] bytes per output stream and [`super::MAX_VARS`]
//! variables. A cap hit stops the run with bash's own out-of-resources
//! message; the session goes on.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::cmd::{self, Outcome};
use super::expand::{self, Field};
use super::fs::{resolve, FsError, Kind};
use super::lex::{Part, RedirOp, Word};
use super::parse::{self, AndOr, Command, Compound, List, ParseError, Pipeline, RedirKind, Simple};
use super::{ShellEvent, State};

/// Commands and loop turns one run may take.
pub const MAX_STEPS: u32 = 20_000;
/// Nested shells (`$(...)`, `sh -c`, `eval`, function calls).
pub const MAX_DEPTH: u32 = 24;
/// Bytes one output stream (terminal, pipe, substitution) keeps.
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// Functions a session may define.
pub const MAX_FUNCTIONS: usize = 64;

/// The shell flavour running: decides the error formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// bash as the login shell (`-bash: `).
    Login,
    /// bash run as a command or by `-c` (`bash: `).
    Bash,
    /// dash, Debian's `/bin/sh` (`sh: 1: `).
    Dash,
    /// BusyBox ash (`sh: `).
    Ash,
}

/// Where an output stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// The terminal (or the exec channel).
    Term,
    /// A capture buffer (pipe or substitution).
    Buf(usize),
    /// A file (already opened: truncated or not).
    File(String),
    /// `/dev/null`.
    Null,
}

/// A command's stdin: bytes and how far they have been read, shared by the
/// commands of one redirection (`while read l; do …; done < file`).
#[derive(Debug, Default)]
pub struct Input {
    data: Vec<u8>,
    pos: Cell<usize>,
}

impl Input {
    /// Stdin holding `data`.
    pub fn new(data: Vec<u8>) -> Rc<Input> {
        Rc::new(Input {
            data,
            pos: Cell::new(0),
        })
    }

    /// An empty stdin (the terminal sends nothing during a one-line run).
    pub fn empty() -> Rc<Input> {
        Rc::new(Input::default())
    }

    /// Everything not read yet, consumed.
    pub fn take_all(&self) -> Vec<u8> {
        let rest = self.data.get(self.pos.get()..).unwrap_or(&[]).to_vec();
        self.pos.set(self.data.len());
        rest
    }

    /// The next line (without its newline); `None` at end of input.
    pub fn line(&self) -> Option<String> {
        let rest = self.data.get(self.pos.get()..)?;
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\n');
        let (line, used) = match end {
            Some(i) => (rest.get(..i).unwrap_or(&[]), i + 1),
            None => (rest, rest.len()),
        };
        self.pos.set(self.pos.get() + used);
        Some(String::from_utf8_lossy(line).into_owned())
    }
}

/// The standard streams of a command.
#[derive(Debug, Clone)]
pub struct Io {
    /// stdin.
    pub input: Rc<Input>,
    /// stdout.
    pub out: Sink,
    /// stderr.
    pub err: Sink,
}

/// How a run ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break(u32),
    Continue(u32),
    Return,
    Exit,
    /// A cap was hit: stop everything.
    Abort,
}

/// One run of a command line (or an exec request) over the session state.
pub struct Run<'a> {
    /// The session.
    pub st: &'a mut State,
    /// Events raised.
    pub events: Vec<ShellEvent>,
    /// Terminal output, stdout and stderr interleaved.
    pub term: Vec<u8>,
    /// The shell was told to exit.
    pub exit: bool,
    bufs: Vec<Vec<u8>>,
    steps: u32,
    depth: u32,
    loops: u32,
    flow: Flow,
    dialect: Dialect,
    /// The raw line, kept in events.
    pub line: String,
    /// Arguments of the command not found (for download capture).
    pending_args: Vec<String>,
    /// The script line of the command running (bash's `line N:`).
    cur_line: usize,
}

impl<'a> Run<'a> {
    /// A run in the login shell's dialect.
    pub fn new(st: &'a mut State, dialect: Dialect, line: &str) -> Run<'a> {
        Run {
            st,
            events: Vec::new(),
            term: Vec::new(),
            exit: false,
            bufs: Vec::new(),
            steps: 0,
            depth: 0,
            loops: 0,
            flow: Flow::Normal,
            dialect,
            line: line.to_owned(),
            pending_args: Vec::new(),
            cur_line: 1,
        }
    }

    /// Parses and runs a script; returns its exit status.
    pub fn script(&mut self, src: &str, io: &Io) -> i32 {
        match parse::parse(src) {
            Ok(s) => {
                for (line, delim) in &s.heredoc_eof {
                    let msg = format!(
                        "warning: here-document at line {line} delimited by end-of-file (wanted `{delim}')"
                    );
                    let last = src.lines().count().max(1);
                    self.diag(&io.err, &msg, last);
                }
                let st = self.list(&s.list, io);
                self.st.status = st;
                st
            }
            Err(e) => {
                self.syntax_error(&e, src, io);
                self.st.status = 2;
                2
            }
        }
    }

    /// A bash message on stderr with the dialect's prefix (`-bash: MSG`).
    pub fn diag(&mut self, err: &Sink, msg: &str, line: usize) {
        let text = match self.dialect {
            Dialect::Login => format!("-bash: {msg}\n"),
            // bash ≥ 5.1 names the script line in `-c` mode, as sshd's exec shows it.
            Dialect::Bash => format!(
                "bash: line {}: {msg}\n",
                if line == 0 { self.cur_line } else { line }.max(1)
            ),
            Dialect::Dash => format!("sh: {}: {msg}\n", line.max(1)),
            Dialect::Ash => format!("sh: {msg}\n"),
        };
        self.write(err, text.as_bytes());
    }

    /// An out-of-resources message: bash prints these without a line number.
    pub fn fatal(&mut self, err: &Sink, msg: &str) {
        let text = match self.dialect {
            Dialect::Login => format!("-bash: {msg}\n"),
            Dialect::Bash => format!("bash: {msg}\n"),
            Dialect::Dash | Dialect::Ash => format!("sh: {msg}\n"),
        };
        self.write(err, text.as_bytes());
    }

    fn syntax_error(&mut self, e: &ParseError, src: &str, io: &Io) {
        let login = self.dialect == Dialect::Login;
        let (line, msg) = match e {
            ParseError::Unexpected { token, line } => match self.dialect {
                Dialect::Dash | Dialect::Ash => {
                    let m = format!("Syntax error: \"{token}\" unexpected");
                    let t = if self.dialect == Dialect::Dash {
                        format!("sh: {line}: {m}\n")
                    } else {
                        format!("sh: syntax error: unexpected \"{token}\"\n")
                    };
                    self.write(&io.err, t.as_bytes());
                    return;
                }
                _ => (
                    *line,
                    format!("syntax error near unexpected token `{token}'"),
                ),
            },
            ParseError::Eof { line } => (*line, "syntax error: unexpected end of file".to_owned()),
            ParseError::Lex(super::lex::LexError::Unterminated { wanted, line }) => (
                *line,
                format!("unexpected EOF while looking for matching `{wanted}'"),
            ),
            ParseError::Lex(super::lex::LexError::TooLong) | ParseError::TooDeep => {
                self.fatal(&io.err, "fork: Cannot allocate memory");
                return;
            }
        };
        if login {
            self.write(&io.err, format!("-bash: {msg}\n").as_bytes());
            return;
        }
        let text = format!("bash: -c: line {line}: {msg}\n");
        self.write(&io.err, text.as_bytes());
        if let ParseError::Unexpected { .. } = e {
            let shown = src.lines().nth(line.saturating_sub(1)).unwrap_or("");
            self.write(
                &io.err,
                format!("bash: -c: line {line}: `{shown}'\n").as_bytes(),
            );
        }
    }

    /// Writes to a stream, within the caps.
    pub fn write(&mut self, sink: &Sink, data: &[u8]) {
        match sink {
            Sink::Term => cap_push(&mut self.term, data),
            Sink::Buf(i) => {
                if let Some(b) = self.bufs.get_mut(*i) {
                    cap_push(b, data);
                }
            }
            Sink::File(path) => {
                let uid = self.st.uid;
                let now = self.st.now();
                if self.st.fs.write(path, data, true, uid, now).is_err() {
                    // Out of room: what was written stays, the rest is lost as on a full disk.
                }
            }
            Sink::Null => {}
        }
    }

    fn step(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS && self.flow != Flow::Abort {
            self.flow = Flow::Abort;
            self.fatal(&Sink::Term, "fork: retry: Resource temporarily unavailable");
        }
        self.flow != Flow::Abort
    }

    fn list(&mut self, list: &List, io: &Io) -> i32 {
        let mut status = self.st.status;
        for item in &list.items {
            if self.flow != Flow::Normal {
                break;
            }
            status = self.and_or(item, io);
            self.st.status = status;
            if item.background {
                // A background job prints its job number and pid, as an interactive bash does.
                if self.dialect == Dialect::Login {
                    let pid = self.st.next_pid();
                    self.write(&io.err, format!("[1] {pid}\n").as_bytes());
                }
                status = 0;
                self.st.status = 0;
            }
        }
        status
    }

    fn and_or(&mut self, a: &AndOr, io: &Io) -> i32 {
        let mut status = self.pipeline(&a.first, io);
        for (and, p) in &a.rest {
            if self.flow != Flow::Normal {
                break;
            }
            self.st.status = status;
            if (*and && status == 0) || (!*and && status != 0) {
                status = self.pipeline(p, io);
            }
        }
        status
    }

    fn pipeline(&mut self, p: &Pipeline, io: &Io) -> i32 {
        let mut status = 0;
        let n = p.cmds.len();
        let mut input: Rc<Input> = io.input.clone();
        for (i, c) in p.cmds.iter().enumerate() {
            if self.flow == Flow::Abort {
                break;
            }
            let last = i + 1 == n;
            let out = if last {
                io.out.clone()
            } else {
                self.bufs.push(Vec::new());
                Sink::Buf(self.bufs.len() - 1)
            };
            let cio = Io {
                input: input.clone(),
                out: out.clone(),
                err: io.err.clone(),
            };
            status = if n > 1 {
                // Every part of a pipeline runs in a subshell.
                self.subshell(|r| r.command(c, &cio))
            } else {
                self.command(c, &cio)
            };
            if !last {
                input = Input::new(self.bufs.pop().unwrap_or_default());
            }
        }
        if p.bang {
            status = i32::from(status == 0);
        }
        status
    }

    /// Runs `f` with the variables, cwd and functions saved and restored, as a forked shell.
    pub fn subshell(&mut self, f: impl FnOnce(&mut Run<'_>) -> i32) -> i32 {
        let vars = self.st.vars.clone();
        let exported = self.st.exported.clone();
        let cwd = self.st.cwd.clone();
        let funcs = self.st.functions.clone();
        let exit = self.exit;
        let loops = self.loops;
        self.loops = 0;
        let status = f(self);
        if matches!(
            self.flow,
            Flow::Exit | Flow::Return | Flow::Break(_) | Flow::Continue(_)
        ) {
            self.flow = Flow::Normal;
        }
        self.loops = loops;
        self.exit = exit;
        self.st.vars = vars;
        self.st.exported = exported;
        self.st.cwd = cwd;
        self.st.functions = funcs;
        status
    }

    fn command(&mut self, c: &Command, io: &Io) -> i32 {
        if !self.step() {
            return 1;
        }
        match c {
            Command::Simple(s) => self.simple(s, io),
            Command::Function(name, body) => {
                if self.st.functions.len() < MAX_FUNCTIONS || self.st.functions.contains_key(name) {
                    self.st.functions.insert(name.clone(), (**body).clone());
                }
                0
            }
            Command::Compound(c, redirs) => {
                let Some(cio) = self.redirect(redirs, io, 0) else {
                    return 1;
                };
                self.compound(c, &cio)
            }
        }
    }

    fn compound(&mut self, c: &Compound, io: &Io) -> i32 {
        match c {
            Compound::Group(l) => self.list(l, io),
            Compound::Subshell(l) => self.subshell(|r| r.list(l, io)),
            Compound::If {
                branches,
                otherwise,
            } => {
                for (cond, then) in branches {
                    let st = self.list(cond, io);
                    if self.flow != Flow::Normal {
                        return st;
                    }
                    if st == 0 {
                        return self.list(then, io);
                    }
                }
                match otherwise {
                    Some(l) => self.list(l, io),
                    None => 0,
                }
            }
            Compound::For { var, words, body } => {
                let items: Vec<String> = match words {
                    Some(ws) => {
                        let mut v = Vec::new();
                        for w in ws {
                            v.extend(self.expand_word(w, io));
                        }
                        v
                    }
                    None => self.st.positional.clone(),
                };
                let mut status = 0;
                self.loops += 1;
                for it in items {
                    if !self.step() {
                        break;
                    }
                    self.st.set_var(var, it);
                    status = self.list(body, io);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loops -= 1;
                status
            }
            Compound::While { cond, body, until } => {
                let mut status = 0;
                self.loops += 1;
                loop {
                    if !self.step() {
                        break;
                    }
                    let c = self.list(cond, io);
                    if self.flow != Flow::Normal {
                        if self.loop_flow() {
                            break;
                        }
                        continue;
                    }
                    if (c == 0) == *until {
                        break;
                    }
                    status = self.list(body, io);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loops -= 1;
                status
            }
            Compound::Case { word, arms } => {
                let subject = self.expand_string(word, io);
                for (pats, body) in arms {
                    for p in pats {
                        let pat = self.expand_pattern(p, io);
                        if expand::glob_match(&pat, &subject) {
                            return self.list(body, io);
                        }
                    }
                }
                0
            }
        }
    }

    /// After a loop body: whether to leave the loop (consuming one level of break/continue).
    fn loop_flow(&mut self) -> bool {
        match self.flow {
            Flow::Break(n) => {
                self.flow = if n > 1 {
                    Flow::Break(n - 1)
                } else {
                    Flow::Normal
                };
                true
            }
            Flow::Continue(n) => {
                if n > 1 {
                    self.flow = Flow::Continue(n - 1);
                    true
                } else {
                    self.flow = Flow::Normal;
                    false
                }
            }
            Flow::Normal => false,
            Flow::Return | Flow::Exit | Flow::Abort => true,
        }
    }

    fn simple(&mut self, s: &Simple, io: &Io) -> i32 {
        self.cur_line = s.line;
        let mut argv = Vec::new();
        for w in &s.words {
            argv.extend(self.expand_word(w, io));
            if self.flow == Flow::Abort {
                return 1;
            }
        }
        let mut assigns = Vec::new();
        for (name, value) in &s.assigns {
            let v = self.expand_string(value, io);
            assigns.push((name.clone(), v));
        }
        let Some(cio) = self.redirect(&s.redirs, io, s.line) else {
            return 1;
        };
        if argv.is_empty() {
            for (n, v) in assigns {
                if !self.st.set_var(&n, v) {
                    self.fatal(&cio.err, "fork: Cannot allocate memory");
                    return 1;
                }
            }
            // A bare assignment's status is that of its last command substitution.
            return if s.assigns.is_empty() {
                0
            } else {
                self.st.status
            };
        }
        if assigns.is_empty() {
            return self.exec_argv(&argv, &cio, s.line);
        }
        // `A=1 cmd`: the assignment is for that command only.
        let saved: Vec<(String, Option<String>, bool)> = assigns
            .iter()
            .map(|(n, _)| {
                (
                    n.clone(),
                    self.st.vars.get(n).cloned(),
                    self.st.exported.contains(n),
                )
            })
            .collect();
        for (n, v) in assigns {
            self.st.set_var(&n, v);
            self.st.exported.insert(n);
        }
        let status = self.exec_argv(&argv, &cio, s.line);
        for (n, old, was) in saved {
            match old {
                Some(v) => {
                    self.st.vars.insert(n.clone(), v);
                }
                None => {
                    self.st.vars.remove(&n);
                }
            }
            if !was {
                self.st.exported.remove(&n);
            }
        }
        status
    }

    /// Applies redirections to a copy of `io`; `None` (after the error message) when one fails.
    fn redirect(&mut self, redirs: &[parse::Redir], io: &Io, line: usize) -> Option<Io> {
        let mut cio = io.clone();
        for r in redirs {
            let target = match r.kind {
                RedirKind::HereDoc(expand) => {
                    let body = match r.target.parts.first() {
                        Some(Part::Quoted(b)) => b.clone(),
                        _ => String::new(),
                    };
                    let text = if expand {
                        let w = super::lex::lex_dquoted(&body);
                        self.expand_string(&w, io)
                    } else {
                        body
                    };
                    if r.fd.unwrap_or(0) == 0 {
                        cio.input = Input::new(text.into_bytes());
                    }
                    continue;
                }
                RedirKind::Op(RedirOp::HereStr) => {
                    let mut text = self.expand_string(&r.target, io);
                    text.push('\n');
                    if r.fd.unwrap_or(0) == 0 {
                        cio.input = Input::new(text.into_bytes());
                    }
                    continue;
                }
                RedirKind::Op(op) => (op, self.expand_word(&r.target, io)),
            };
            let (op, words) = target;
            let word = match words.as_slice() {
                [one] => one.clone(),
                _ => {
                    let shown = expand::raw_text(&r.target);
                    self.diag(&cio.err, &format!("{shown}: ambiguous redirect"), line);
                    return None;
                }
            };
            match op {
                RedirOp::DupOut | RedirOp::DupIn => {
                    let fd = r.fd.unwrap_or(if op == RedirOp::DupOut { 1 } else { 0 });
                    let src = match word.as_str() {
                        "1" => cio.out.clone(),
                        "2" => cio.err.clone(),
                        "-" => Sink::Null,
                        "0" => continue,
                        w if op == RedirOp::DupOut
                            && fd == 1
                            && !w.bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            // `>& file` is `&> file`.
                            match self.open(&word, false, &cio, line) {
                                Some(s) => {
                                    cio.out = s.clone();
                                    cio.err = s;
                                    continue;
                                }
                                None => return None,
                            }
                        }
                        _ => {
                            self.diag(&cio.err, &format!("{word}: Bad file descriptor"), line);
                            return None;
                        }
                    };
                    match fd {
                        1 => cio.out = src,
                        2 => cio.err = src,
                        _ => {}
                    }
                }
                RedirOp::In => {
                    let path = resolve(&self.st.cwd, &self.st.home, &word);
                    match self.st.fs.read(&path) {
                        Ok(d) => cio.input = Input::new(d.to_vec()),
                        Err(e) => {
                            self.diag(&cio.err, &format!("{word}: {}", e.text()), line);
                            return None;
                        }
                    }
                }
                RedirOp::Out | RedirOp::Append | RedirOp::AllOut | RedirOp::AllAppend => {
                    let append = matches!(op, RedirOp::Append | RedirOp::AllAppend);
                    let sink = self.open(&word, append, &cio, line)?;
                    match (op, r.fd.unwrap_or(1)) {
                        (RedirOp::AllOut | RedirOp::AllAppend, _) => {
                            cio.out = sink.clone();
                            cio.err = sink;
                        }
                        (_, 1) => cio.out = sink,
                        (_, 2) => cio.err = sink,
                        _ => {}
                    }
                }
                RedirOp::HereStr => {}
            }
        }
        Some(cio)
    }

    /// Opens a file for output (truncating unless `append`); errors as bash prints them.
    fn open(&mut self, word: &str, append: bool, io: &Io, line: usize) -> Option<Sink> {
        let path = resolve(&self.st.cwd, &self.st.home, word);
        if matches!(path.as_str(), "/dev/null" | "/dev/zero" | "/dev/full") {
            return Some(Sink::Null);
        }
        if matches!(
            path.as_str(),
            "/dev/stdout" | "/dev/tty" | "/proc/self/fd/1"
        ) {
            return Some(io.out.clone());
        }
        if matches!(path.as_str(), "/dev/stderr" | "/proc/self/fd/2") {
            return Some(io.err.clone());
        }
        let uid = self.st.uid;
        let now = self.st.now();
        match self.st.fs.write(&path, b"", append, uid, now) {
            Ok(real) => Some(Sink::File(real)),
            Err(e) => {
                self.diag(&io.err, &format!("{word}: {}", e.text()), line);
                None
            }
        }
    }

    /// Expands a word into fields (splitting and globbing as unquoted text gets).
    pub fn expand_word(&mut self, w: &Word, io: &Io) -> Vec<String> {
        let words = expand::braces(w);
        if words.len() > 1 {
            let mut out = Vec::new();
            for b in &words {
                out.extend(self.expand_one(b, io));
            }
            return out;
        }
        self.expand_one(w, io)
    }

    fn expand_one(&mut self, w: &Word, io: &Io) -> Vec<String> {
        let fields = self.expand_fields(w, io);
        let ifs = self
            .st
            .vars
            .get("IFS")
            .cloned()
            .unwrap_or_else(|| " \t\n".to_owned());
        let mut out = Vec::new();
        for f in expand::split(fields, &ifs) {
            if f.glob && expand::has_glob(&f.pattern) {
                let matches = expand::glob_fs(&self.st.fs, &self.st.cwd, &f.pattern);
                if !matches.is_empty() {
                    out.extend(matches);
                    continue;
                }
            }
            out.push(f.text);
        }
        out
    }

    /// Expands a word into one string (no splitting, no globbing).
    pub fn expand_string(&mut self, w: &Word, io: &Io) -> String {
        let mut s = String::new();
        for f in self.expand_fields(w, io) {
            s.push_str(&f.text);
        }
        s
    }

    /// Expands a word as a pattern: quoted parts match literally.
    fn expand_pattern(&mut self, w: &Word, io: &Io) -> String {
        let mut s = String::new();
        for f in self.expand_fields(w, io) {
            if f.glob {
                s.push_str(&f.pattern);
            } else {
                s.push_str(&expand::escape_glob(&f.text));
            }
        }
        s
    }

    fn expand_fields(&mut self, w: &Word, io: &Io) -> Vec<Field> {
        let mut out = Vec::new();
        for (i, p) in w.parts.iter().enumerate() {
            match p {
                Part::Lit(s) => {
                    let text = if i == 0 { self.tilde(s) } else { s.clone() };
                    out.push(Field::lit(text));
                }
                Part::Quoted(s) => out.push(Field::quoted(s.clone())),
                Part::Param(p, quoted) => {
                    let v = self.param(p, io);
                    out.push(Field::expansion(v, *quoted));
                }
                Part::Cmd(src, quoted) => {
                    let v = self.substitute(src, io);
                    out.push(Field::expansion(v, *quoted));
                }
                Part::Arith(src, quoted) => {
                    let v = self.arith(src, io);
                    out.push(Field::expansion(v, *quoted));
                }
            }
        }
        out
    }

    fn tilde(&self, s: &str) -> String {
        if s == "~" {
            return self.st.home.clone();
        }
        if let Some(rest) = s.strip_prefix("~/") {
            return format!("{}/{rest}", self.st.home);
        }
        if let Some(user) = s.strip_prefix('~') {
            let (name, rest) = user.split_once('/').unwrap_or((user, ""));
            if let Some(h) = self.st.home_of(name) {
                return if rest.is_empty() && !user.contains('/') {
                    h
                } else {
                    format!("{h}/{rest}")
                };
            }
        }
        s.to_owned()
    }

    fn param(&mut self, p: &super::lex::Param, io: &Io) -> String {
        use super::lex::ParamOp;
        let value = self.st.param(&p.name);
        let set = value.is_some();
        let v = value.unwrap_or_default();
        let arg = |r: &mut Run<'_>| {
            let w = super::lex::lex_dquoted(&p.arg);
            r.expand_string(&w, io)
        };
        match p.op {
            ParamOp::Plain => v,
            ParamOp::Len => v.chars().count().to_string(),
            ParamOp::Default(colon) => {
                if !set || (colon && v.is_empty()) {
                    arg(self)
                } else {
                    v
                }
            }
            ParamOp::Assign(colon) => {
                if !set || (colon && v.is_empty()) {
                    let a = arg(self);
                    self.st.set_var(&p.name, a.clone());
                    a
                } else {
                    v
                }
            }
            ParamOp::Alt(colon) => {
                if !set || (colon && v.is_empty()) {
                    String::new()
                } else {
                    arg(self)
                }
            }
            ParamOp::TrimPrefix(long) => {
                let w = super::lex::lex_word(&p.arg);
                let pat = self.expand_pattern(&w, io);
                expand::trim_prefix(&v, &pat, long)
            }
            ParamOp::TrimSuffix(long) => {
                let w = super::lex::lex_word(&p.arg);
                let pat = self.expand_pattern(&w, io);
                expand::trim_suffix(&v, &pat, long)
            }
            ParamOp::Replace(all) => {
                let (pat, rep) = p.arg.split_once('/').unwrap_or((&p.arg, ""));
                let pw = super::lex::lex_word(pat);
                let pat = self.expand_pattern(&pw, io);
                let rw = super::lex::lex_dquoted(rep);
                let rep = self.expand_string(&rw, io);
                expand::replace(&v, &pat, &rep, all)
            }
            ParamOp::Substr => {
                let (off, len) = p.arg.split_once(':').unwrap_or((&p.arg, ""));
                let mut vars = self.st.vars.clone();
                let off = super::arith::eval(off, &mut vars).unwrap_or(0);
                let chars: Vec<char> = v.chars().collect();
                let n = i64::try_from(chars.len()).unwrap_or(0);
                let start = if off < 0 {
                    (n + off).max(0)
                } else {
                    off.min(n)
                };
                let end = if len.is_empty() {
                    n
                } else {
                    let l = super::arith::eval(len, &mut vars).unwrap_or(0);
                    if l < 0 {
                        (n + l).max(start)
                    } else {
                        (start + l).min(n)
                    }
                };
                let s = usize::try_from(start).unwrap_or(0);
                let e = usize::try_from(end).unwrap_or(0);
                chars
                    .get(s..e.max(s))
                    .map(|c| c.iter().collect())
                    .unwrap_or_default()
            }
        }
    }

    /// `$(...)`: runs the source in a subshell and returns its output without trailing newlines.
    fn substitute(&mut self, src: &str, io: &Io) -> String {
        if self.depth >= MAX_DEPTH {
            self.flow = Flow::Abort;
            self.fatal(&io.err, "fork: Cannot allocate memory");
            return String::new();
        }
        self.bufs.push(Vec::new());
        let idx = self.bufs.len() - 1;
        let sio = Io {
            input: Input::empty(),
            out: Sink::Buf(idx),
            err: io.err.clone(),
        };
        self.depth += 1;
        let status = self.subshell(|r| r.script(src, &sio));
        self.depth -= 1;
        self.st.status = status;
        let out = self.bufs.pop().unwrap_or_default();
        let mut s = String::from_utf8_lossy(&out).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        s
    }

    fn arith(&mut self, src: &str, io: &Io) -> String {
        // The expression undergoes parameter and command expansion first.
        let w = super::lex::lex_dquoted(src);
        let expr = self.expand_string(&w, io);
        match super::arith::eval(&expr, &mut self.st.vars) {
            Ok(v) => v.to_string(),
            Err(e) => {
                let msg = format!(
                    "{}: {} (error token is \"{}\")",
                    expr.trim(),
                    e.msg,
                    e.token
                );
                self.diag(&io.err, &msg, 0);
                self.st.status = 1;
                // An arithmetic error abandons the command it was in, as bash does.
                self.flow = Flow::Abort;
                String::new()
            }
        }
    }

    /// Runs an expanded command line: builtins, functions, then the filesystem.
    pub fn exec_argv(&mut self, argv: &[String], io: &Io, line: usize) -> i32 {
        let Some((name, args)) = argv.split_first() else {
            return 0;
        };
        if let Some(st) = self.builtin(name, args, io, line) {
            return st;
        }
        if let Some(body) = self.st.functions.get(name).cloned() {
            if self.depth >= MAX_DEPTH {
                self.diag(
                    &io.err,
                    &format!("{name}: maximum function nesting level exceeded ({MAX_DEPTH})"),
                    line,
                );
                self.flow = Flow::Abort;
                return 1;
            }
            let saved = std::mem::replace(&mut self.st.positional, args.to_vec());
            self.depth += 1;
            let st = self.compound(&body, io);
            self.depth -= 1;
            self.st.positional = saved;
            if self.flow == Flow::Return {
                self.flow = Flow::Normal;
            }
            return st;
        }
        let Some(path) = self.lookup(name) else {
            self.pending_args = args.to_vec();
            return self.not_found(name, io, line);
        };
        self.external(&path, name, args, io, line)
    }

    fn not_found(&mut self, name: &str, io: &Io, line: usize) -> i32 {
        if name.contains('/') {
            let path = resolve(&self.st.cwd, &self.st.home, name);
            let e = match self.st.fs.stat(&path) {
                Err(e) => e,
                Ok(_) => FsError::Denied,
            };
            self.diag(&io.err, &format!("{name}: {}", e.text()), line);
            return if e == FsError::Denied { 126 } else { 127 };
        }
        // A download tool that is not installed still names its URL: capture it.
        if let Some(e) = cmd::net::missing_tool_download(name, &self.pending_args) {
            self.events.push(e);
        }
        let msg = match self.dialect {
            Dialect::Dash | Dialect::Ash => format!("{name}: not found"),
            _ => format!("{name}: command not found"),
        };
        if self.dialect == Dialect::Login && self.st.persona.distro.os_id == "ubuntu" {
            // Ubuntu's command-not-found handler prints without bash's prefix.
            self.write(&io.err, format!("{msg}\n").as_bytes());
        } else {
            self.diag(&io.err, &msg, line);
        }
        127
    }

    /// The executable a command name runs: its path in the fs, searched along `PATH`.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        if name.contains('/') {
            let path = resolve(&self.st.cwd, &self.st.home, name);
            let (real, n) = self.st.fs.stat(&path).ok()?;
            return (matches!(n.kind, Kind::File(_)) && n.mode & 0o111 != 0).then_some(real);
        }
        let path = self.st.vars.get("PATH").cloned().unwrap_or_default();
        for dir in path.split(':').filter(|d| d.starts_with('/')) {
            let p = format!("{}/{name}", dir.trim_end_matches('/'));
            if let Ok((_, n)) = self.st.fs.stat(&p) {
                if matches!(n.kind, Kind::File(_)) && n.mode & 0o111 != 0 {
                    return Some(p);
                }
            }
        }
        None
    }

    fn external(&mut self, path: &str, name: &str, args: &[String], io: &Io, line: usize) -> i32 {
        let base = super::fs::base_name(name).to_owned();
        let data = self
            .st
            .fs
            .read(path)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        // What the session dropped runs as what it is.
        if !data.is_empty() && !cmd::is_placeholder(&data) {
            return self.run_file(path, name, &data, args, io, line);
        }
        if let Some(st) = self.wrapper(&base, args, io, line) {
            return st;
        }
        self.st.tty = io.out == Sink::Term && self.dialect == Dialect::Login;
        let stdin = io.input.take_all();
        match cmd::run(&base, self.st, args, &stdin) {
            Some(o) => self.finish(o, io),
            // A program the persona ships that the shell does not model: runs and prints nothing.
            None => 0,
        }
    }

    /// Writes a command's outcome to its streams and keeps its events.
    pub fn finish(&mut self, o: Outcome, io: &Io) -> i32 {
        self.write(&io.out, &o.out);
        let err = o.err.into_bytes();
        self.write(&io.err, &err);
        self.events.extend(o.events);
        o.status
    }

    fn run_file(
        &mut self,
        path: &str,
        name: &str,
        data: &[u8],
        args: &[String],
        io: &Io,
        line: usize,
    ) -> i32 {
        self.events.push(ShellEvent::Exec {
            path: path.to_owned(),
            command: self.line.clone(),
        });
        if data.starts_with(b"\x7fELF") {
            // e_machine 62 is x86-64; a bot's ARM or MIPS build fails as on the real box.
            let machine = data
                .get(18..20)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_le_bytes);
            if machine != Some(62) {
                self.diag(
                    &io.err,
                    &format!("{name}: cannot execute binary file: Exec format error"),
                    line,
                );
                return 126;
            }
            return 0;
        }
        let text = String::from_utf8_lossy(data).into_owned();
        let first = text.lines().next().unwrap_or("");
        let interp = first.strip_prefix("#!").map(|s| s.trim().to_owned());
        match interp.as_deref().map(|i| i.rsplit('/').next().unwrap_or(i)) {
            None | Some("sh" | "bash" | "dash" | "ash") | Some("env bash" | "env sh") => {
                self.nested(&text, args, io, Dialect::Bash, name)
            }
            Some(other) => {
                let prog = other.split_whitespace().next().unwrap_or(other).to_owned();
                let base = prog.rsplit('/').next().unwrap_or(&prog).to_owned();
                let stdin = io.input.take_all();
                let o = cmd::run(&base, self.st, &[path.to_owned()], &stdin)
                    .unwrap_or_else(|| Outcome::fail("", 0));
                self.finish(o, io)
            }
        }
    }

    /// Runs a script in a child shell (`sh -c`, `bash file`).
    pub fn nested(
        &mut self,
        src: &str,
        args: &[String],
        io: &Io,
        dialect: Dialect,
        name: &str,
    ) -> i32 {
        if self.depth >= MAX_DEPTH {
            self.fatal(&io.err, "fork: Cannot allocate memory");
            self.flow = Flow::Abort;
            return 254;
        }
        let saved_dialect = std::mem::replace(&mut self.dialect, dialect);
        let positional = std::mem::replace(&mut self.st.positional, args.to_vec());
        let zero = self.st.vars.insert("0".to_owned(), name.to_owned());
        self.depth += 1;
        let status = self.subshell(|r| r.script(src, io));
        self.depth -= 1;
        if self.flow == Flow::Exit {
            self.flow = Flow::Normal;
        }
        match zero {
            Some(z) => {
                self.st.vars.insert("0".to_owned(), z);
            }
            None => {
                self.st.vars.remove("0");
            }
        }
        self.st.positional = positional;
        self.dialect = saved_dialect;
        status
    }

    /// Commands that run other commands: shells, sudo, env, nohup, xargs, busybox, …
    fn wrapper(&mut self, base: &str, args: &[String], io: &Io, line: usize) -> Option<i32> {
        let sh_dialect = |st: &State| match st.persona.distro.os_id {
            "debian" | "ubuntu" | "kali" => Dialect::Dash,
            "alpine" => Dialect::Ash,
            _ => Dialect::Bash,
        };
        Some(match base {
            "sh" | "bash" | "dash" | "ash" => {
                let dialect = if base == "bash" {
                    Dialect::Bash
                } else if base == "dash" {
                    Dialect::Dash
                } else {
                    sh_dialect(self.st)
                };
                let mut it = args
                    .iter()
                    .skip_while(|a| a.starts_with('-') && !a.contains('c') && a.as_str() != "-");
                match it.next().map(String::as_str) {
                    Some(c) if c.starts_with('-') && c.contains('c') => {
                        let src = it.next().cloned().unwrap_or_default();
                        let rest: Vec<String> = it.cloned().collect();
                        let zero = rest.first().cloned().unwrap_or_else(|| base.to_owned());
                        let pos = rest.get(1..).unwrap_or(&[]).to_vec();
                        if src.is_empty() && args.last().map(String::as_str) == Some(c) {
                            self.diag(&io.err, &format!("{c}: option requires an argument"), line);
                            return Some(2);
                        }
                        self.nested(&src, &pos, io, dialect, &zero)
                    }
                    Some(file) => {
                        let path = resolve(&self.st.cwd, &self.st.home, file);
                        match self.st.fs.read(&path) {
                            Ok(d) => {
                                let src = String::from_utf8_lossy(d).into_owned();
                                let rest: Vec<String> = it.cloned().collect();
                                self.events.push(ShellEvent::Exec {
                                    path: path.clone(),
                                    command: self.line.clone(),
                                });
                                self.nested(&src, &rest, io, dialect, file)
                            }
                            Err(e) => {
                                let msg = match dialect {
                                    Dialect::Dash => {
                                        format!("sh: 0: cannot open {file}: No such file\n")
                                    }
                                    _ => format!("{base}: {file}: {}\n", e.text()),
                                };
                                self.write(&io.err, msg.as_bytes());
                                127
                            }
                        }
                    }
                    // `curl … | sh`: the script is stdin.
                    None => {
                        let src = String::from_utf8_lossy(&io.input.take_all()).into_owned();
                        let sio = Io {
                            input: Input::empty(),
                            ..io.clone()
                        };
                        self.nested(&src, &[], &sio, dialect, base)
                    }
                }
            }
            "sudo" => return Some(self.sudo(args, io, line)),
            "nohup" => {
                let rest = args.to_vec();
                if rest.is_empty() {
                    let o = Outcome::fail_err(
                        "nohup: missing operand\nTry 'nohup --help' for more information.\n",
                        125,
                    );
                    return Some(self.finish(o, io));
                }
                self.write(
                    &io.err,
                    b"nohup: ignoring input and appending output to 'nohup.out'\n",
                );
                let path = resolve(&self.st.cwd, &self.st.home, "nohup.out");
                let uid = self.st.uid;
                let now = self.st.now();
                let out = match self.st.fs.write(&path, b"", true, uid, now) {
                    Ok(p) => Sink::File(p),
                    Err(_) => Sink::Null,
                };
                let nio = Io {
                    input: Input::empty(),
                    out: out.clone(),
                    err: out,
                };
                self.exec_argv(&rest, &nio, line)
            }
            "env" if args.iter().any(|a| !a.contains('=') && !a.starts_with('-')) => {
                let mut rest = args.iter().skip_while(|a| a.starts_with('-')).peekable();
                let mut assigns = Vec::new();
                while let Some(a) = rest.peek() {
                    match a.split_once('=') {
                        Some((k, v)) if parse::is_name(k) => {
                            assigns.push((k.to_owned(), v.to_owned()));
                            rest.next();
                        }
                        _ => break,
                    }
                }
                let argv: Vec<String> = rest.cloned().collect();
                self.subshell(|r| {
                    for (k, v) in assigns {
                        r.st.set_var(&k, v);
                        r.st.exported.insert(k);
                    }
                    r.exec_argv(&argv, io, line)
                })
            }
            "nice" | "setsid" | "stdbuf" | "ionice" | "chronic" | "time" => {
                let argv: Vec<String> = args
                    .iter()
                    .skip_while(|a| a.starts_with('-') || a.bytes().all(|b| b.is_ascii_digit()))
                    .cloned()
                    .collect();
                if argv.is_empty() {
                    return None;
                }
                self.exec_argv(&argv, io, line)
            }
            "timeout" => {
                let argv: Vec<String> = args
                    .iter()
                    .skip_while(|a| a.starts_with('-'))
                    .skip(1)
                    .cloned()
                    .collect();
                self.exec_argv(&argv, io, line)
            }
            "xargs" => {
                let mut opts = args.iter().peekable();
                let mut n: Option<usize> = None;
                let mut repl: Option<String> = None;
                while let Some(a) = opts.peek() {
                    match a.as_str() {
                        "-n" => {
                            opts.next();
                            n = opts.next().and_then(|v| v.parse().ok());
                        }
                        "-I" => {
                            opts.next();
                            repl = opts.next().cloned();
                        }
                        s if s.starts_with('-') => {
                            opts.next();
                        }
                        _ => break,
                    }
                }
                let mut cmd: Vec<String> = opts.cloned().collect();
                if cmd.is_empty() {
                    cmd.push("echo".to_owned());
                }
                let input = String::from_utf8_lossy(&io.input.take_all()).into_owned();
                let items: Vec<String> = if repl.is_some() {
                    input.lines().map(str::to_owned).collect()
                } else {
                    input.split_whitespace().map(str::to_owned).collect()
                };
                let nio = Io {
                    input: Input::empty(),
                    ..io.clone()
                };
                let mut status = 0;
                let batches: Vec<Vec<String>> = match (&repl, n) {
                    (Some(_), _) => items.into_iter().map(|i| vec![i]).collect(),
                    (None, Some(k)) if k > 0 => items.chunks(k).map(<[String]>::to_vec).collect(),
                    _ => vec![items],
                };
                for b in batches {
                    if !self.step() {
                        break;
                    }
                    let argv: Vec<String> = match &repl {
                        Some(r) => cmd
                            .iter()
                            .map(|c| c.replace(r.as_str(), b.first().map_or("", String::as_str)))
                            .collect(),
                        None => cmd.iter().cloned().chain(b).collect(),
                    };
                    if self.exec_argv(&argv, &nio, line) != 0 {
                        status = 123;
                    }
                }
                status
            }
            "busybox" if !args.is_empty() => {
                let argv = args.to_vec();
                if cmd::busybox_applet(argv.first().map_or("", String::as_str)) {
                    let sub = argv.first().cloned().unwrap_or_default();
                    if let Some(st) = self.wrapper(&sub, argv.get(1..).unwrap_or(&[]), io, line) {
                        return Some(st);
                    }
                    if let Some(st) = self.builtin(&sub, argv.get(1..).unwrap_or(&[]), io, line) {
                        return Some(st);
                    }
                    let stdin = io.input.take_all();
                    match cmd::run(&sub, self.st, argv.get(1..).unwrap_or(&[]), &stdin) {
                        Some(o) => self.finish(o, io),
                        None => 0,
                    }
                } else {
                    let sub = argv.first().cloned().unwrap_or_default();
                    self.write(&io.err, format!("{sub}: applet not found\n").as_bytes());
                    127
                }
            }
            "su" => return Some(self.su(args, io, line)),
            _ => return None,
        })
    }

    fn sudo(&mut self, args: &[String], io: &Io, line: usize) -> i32 {
        let flags: Vec<&String> = args.iter().take_while(|a| a.starts_with('-')).collect();
        let rest: Vec<String> = args.iter().skip(flags.len()).cloned().collect();
        if flags.iter().any(|f| f.as_str() == "-l")
            || (rest.is_empty() && flags.iter().any(|f| f.contains('l')))
        {
            let o = cmd::sysinfo::sudo_list(self.st);
            return self.finish(o, io);
        }
        if flags.iter().any(|f| f.as_str() == "-V") {
            return self.finish(Outcome::ok("Sudo version 1.9.13p3\nSudoers policy plugin version 1.9.13p3\nSudoers file grammar version 50\nSudoers I/O plugin version 1.9.13p3\nSudoers audit plugin version 1.9.13p3\n"), io);
        }
        if rest.is_empty() {
            let o = Outcome::fail_err("usage: sudo -h | -K | -k | -V\nusage: sudo -v [-ABkNnS] [-g group] [-h host] [-p prompt] [-u user]\nusage: sudo -l [-ABkNnS] [-g group] [-h host] [-p prompt] [-U user]\n            [-u user] [command [arg ...]]\nusage: sudo [-ABbEHkNnPS] [-r role] [-t type] [-C num] [-D directory]\n            [-g group] [-h host] [-p prompt] [-R directory] [-T timeout]\n            [-u user] [VAR=value] [-i | -s] [command [arg ...]]\nusage: sudo -e [-ABkNnS] [-r role] [-t type] [-C num] [-D directory]\n            [-g group] [-h host] [-p prompt] [-R directory] [-T timeout]\n            [-u user] file ...\n", 1);
            return self.finish(o, io);
        }
        if self.st.uid != 0 {
            // The password is never right: three prompts, then sudo gives up.
            let u = self.st.user.clone();
            let o = Outcome::fail_err(
                format!("[sudo] password for {u}: \nsudo: a password is required\n"),
                1,
            );
            return self.finish(o, io);
        }
        if self
            .lookup(rest.first().map_or("", String::as_str))
            .is_none()
            && !is_builtin(rest.first().map_or("", String::as_str))
        {
            let n = rest.first().cloned().unwrap_or_default();
            self.write(
                &io.err,
                format!("sudo: {n}: command not found\n").as_bytes(),
            );
            return 1;
        }
        self.exec_argv(&rest, io, line)
    }

    fn su(&mut self, args: &[String], io: &Io, _line: usize) -> i32 {
        let target = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_else(|| "root".to_owned());
        if self.st.uid_of(&target).is_none() {
            self.write(&io.err, format!("su: user {target} does not exist or the user entry does not contain all the required fields\n").as_bytes());
            return 1;
        }
        if self.st.uid == 0 {
            return 0;
        }
        // A password prompt that never accepts.
        self.write(&io.err, b"Password: \nsu: Authentication failure\n");
        1
    }

    /// Runs `-c`-style source from a builtin (`eval`, `source`): same shell, same variables.
    pub fn eval(&mut self, src: &str, io: &Io) -> i32 {
        if self.depth >= MAX_DEPTH {
            self.fatal(&io.err, "fork: Cannot allocate memory");
            self.flow = Flow::Abort;
            return 1;
        }
        self.depth += 1;
        let st = match parse::parse(src) {
            Ok(s) => self.list(&s.list, io),
            Err(e) => {
                self.syntax_error(&e, src, io);
                2
            }
        };
        self.depth -= 1;
        st
    }

    pub(crate) fn set_flow_break(&mut self, n: u32, cont: bool) -> bool {
        if self.loops == 0 {
            return false;
        }
        let n = n.clamp(1, self.loops);
        self.flow = if cont {
            Flow::Continue(n)
        } else {
            Flow::Break(n)
        };
        true
    }

    pub(crate) fn set_flow_exit(&mut self, status: i32) {
        self.st.status = status;
        if self.depth == 0 && self.dialect == Dialect::Login {
            self.exit = true;
        }
        self.flow = Flow::Exit;
    }

    pub(crate) fn set_flow_return(&mut self) -> bool {
        if self.depth == 0 {
            return false;
        }
        self.flow = Flow::Return;
        true
    }

    /// The current dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Files the run wrote (or made executable) that look like payloads, for
    /// capture: path, the first [`super::MAX_PAYLOAD`] bytes, and the length in all.
    pub fn payloads(&mut self) -> Vec<(String, Vec<u8>, usize)> {
        let dirty = self.st.fs.take_dirty();
        let mut out = Vec::new();
        for p in dirty {
            let Some(n) = self.st.fs.lget(&p) else {
                continue;
            };
            if self.st.fs.is_original(&p) {
                continue;
            }
            if let Kind::File(d) = &n.kind {
                if cmd::is_payload(d, n.mode) {
                    let kept = d.get(..super::MAX_PAYLOAD.min(d.len())).unwrap_or(d);
                    out.push((p, kept.to_vec(), d.len()));
                }
            }
        }
        out
    }

    /// Variables as `env` shows them (exported only).
    pub fn environment(&self) -> BTreeMap<String, String> {
        self.st
            .exported
            .iter()
            .filter_map(|k| self.st.vars.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

/// Whether a name is a shell builtin (what `type` says "is a shell builtin").
pub fn is_builtin(name: &str) -> bool {
    super::cmd::builtin::BUILTINS.contains(&name)
}

fn cap_push(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
}

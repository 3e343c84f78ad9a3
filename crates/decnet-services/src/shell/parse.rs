//! The shell's parser: tokens into bash's grammar (lists, and-or chains,
//! pipelines, simple commands with assignments and redirections, `if`, `for`,
//! `while`/`until`, `case`, groups, subshells and function definitions).
//!
//! Hostile input: recursive descent bounded by [`MAX_DEPTH`] nested
//! compounds; a deeper script is a syntax error, never a stack overflow.

use super::lex::{lex, LexError, Lexed, Op, RedirOp, Tok, Word};

/// Deepest nesting of compound commands parsed.
pub const MAX_DEPTH: usize = 48;

/// A list of and-or chains, each run in the foreground or (`&`) background.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List {
    /// The chains, in order.
    pub items: Vec<AndOr>,
}

/// `a && b || c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The rest, `true` for `&&`, `false` for `||`.
    pub rest: Vec<(bool, Pipeline)>,
    /// Ended by `&`.
    pub background: bool,
}

/// `! a | b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Negated with `!`.
    pub bang: bool,
    /// The commands, left to right.
    pub cmds: Vec<Command>,
}

/// One command of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `A=1 cmd args >file`.
    Simple(Simple),
    /// A compound command and its redirections.
    Compound(Box<Compound>, Vec<Redir>),
    /// `name() compound`.
    Function(String, Box<Compound>),
}

/// A simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simple {
    /// `NAME=value` prefixes.
    pub assigns: Vec<(String, Word)>,
    /// The command name and arguments.
    pub words: Vec<Word>,
    /// Redirections in order.
    pub redirs: Vec<Redir>,
    /// The line it starts on.
    pub line: usize,
}

/// A compound command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compound {
    /// `{ list; }`.
    Group(List),
    /// `( list )`.
    Subshell(List),
    /// `if c; then l; elif c; then l; else l; fi`.
    If {
        /// Conditions and their branches.
        branches: Vec<(List, List)>,
        /// The `else` branch.
        otherwise: Option<List>,
    },
    /// `for v in words; do l; done` (`None`: `"$@"`).
    For {
        /// The loop variable.
        var: String,
        /// The words iterated.
        words: Option<Vec<Word>>,
        /// The body.
        body: List,
    },
    /// `while c; do l; done` / `until`.
    While {
        /// The condition.
        cond: List,
        /// The body.
        body: List,
        /// `until` rather than `while`.
        until: bool,
    },
    /// `case w in p|q) l;; esac`.
    Case {
        /// The word matched.
        word: Word,
        /// Patterns and their lists.
        arms: Vec<(Vec<Word>, List)>,
    },
}

/// A redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redir {
    /// The explicit fd, if any.
    pub fd: Option<u32>,
    /// What it does.
    pub kind: RedirKind,
    /// Its file, fd or text.
    pub target: Word,
}

/// What a redirection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirKind {
    /// An operator with a word.
    Op(RedirOp),
    /// A here-document; `true` when its body is expanded.
    HereDoc(bool),
}

/// Why a script does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `syntax error near unexpected token `X'`.
    Unexpected {
        /// The token as bash prints it.
        token: String,
        /// Its line.
        line: usize,
    },
    /// `syntax error: unexpected end of file` (more input would complete it).
    Eof {
        /// The line after the last.
        line: usize,
    },
    /// The lexer gave up.
    Lex(LexError),
    /// Nesting beyond [`MAX_DEPTH`].
    TooDeep,
}

impl ParseError {
    /// Whether more lines would complete the script (an interactive shell prompts `> `).
    pub fn incomplete(&self) -> bool {
        matches!(
            self,
            ParseError::Eof { .. } | ParseError::Lex(LexError::Unterminated { .. })
        )
    }
}

/// A parsed script and the here-documents that ran to end of input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// The commands.
    pub list: List,
    /// (line opened, delimiter) of here-documents without their delimiter line.
    pub heredoc_eof: Vec<(usize, String)>,
}

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Script, ParseError> {
    let Lexed { toks, heredoc_eof } = lex(src).map_err(ParseError::Lex)?;
    let last_line = toks.last().map_or(1, |(_, l)| *l);
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        last_line,
    };
    let list = p.list(&[])?;
    if let Some((t, line)) = p.toks.get(p.pos) {
        return Err(ParseError::Unexpected {
            token: tok_text(t),
            line: *line,
        });
    }
    Ok(Script { list, heredoc_eof })
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Word(w) => word_text(w),
        Tok::Op(o) => o.text().to_owned(),
        Tok::Redir(_, r) => r.text().to_owned(),
        Tok::HereDoc(..) => "<<".to_owned(),
        Tok::Newline => "newline".to_owned(),
    }
}

fn word_text(w: &Word) -> String {
    use super::lex::Part;
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

const RESERVED: [&str; 16] = [
    "if", "then", "elif", "else", "fi", "do", "done", "for", "in", "while", "until", "case",
    "esac", "{", "}", "!",
];

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    last_line: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.toks.get(self.pos).map_or(self.last_line, |(_, l)| *l)
    }

    fn unexpected(&self) -> ParseError {
        match self.toks.get(self.pos) {
            Some((t, line)) => ParseError::Unexpected {
                token: tok_text(t),
                line: *line,
            },
            None => ParseError::Eof {
                line: self.last_line + 1,
            },
        }
    }

    /// The reserved word at the cursor, if the token is one.
    fn reserved(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let s = w.plain()?;
                RESERVED.iter().copied().find(|r| *r == s)
            }
            _ => None,
        }
    }

    fn expect_reserved(&mut self, word: &str) -> Result<(), ParseError> {
        if self.reserved() == Some(word) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }

    /// A list ending at end of input or before one of `stops` (reserved words or `)`).
    fn list(&mut self, stops: &[&str]) -> Result<List, ParseError> {
        let mut list = List::default();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => break,
                Some(Tok::Op(Op::RParen)) if stops.contains(&")") => break,
                Some(Tok::Op(Op::DSemi)) if stops.contains(&";;") => break,
                _ => {}
            }
            if let Some(r) = self.reserved() {
                if stops.contains(&r) {
                    break;
                }
            }
            let mut item = self.and_or()?;
            match self.peek() {
                Some(Tok::Op(Op::Semi)) | Some(Tok::Newline) => self.pos += 1,
                Some(Tok::Op(Op::Amp)) => {
                    item.background = true;
                    self.pos += 1;
                }
                _ => {
                    list.items.push(item);
                    break;
                }
            }
            list.items.push(item);
        }
        Ok(list)
    }

    /// A list that must not be empty (bash: the token after is unexpected).
    fn body(&mut self, stops: &[&str]) -> Result<List, ParseError> {
        let l = self.list(stops)?;
        if l.items.is_empty() {
            return Err(self.unexpected());
        }
        Ok(l)
    }

    fn and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek() {
                Some(Tok::Op(Op::AndAnd)) => true,
                Some(Tok::Op(Op::OrOr)) => false,
                _ => break,
            };
            self.pos += 1;
            self.skip_newlines();
            rest.push((and, self.pipeline()?));
        }
        Ok(AndOr {
            first,
            rest,
            background: false,
        })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut bang = false;
        while self.reserved() == Some("!") {
            bang = !bang;
            self.pos += 1;
        }
        let mut cmds = vec![self.command()?];
        while self.peek() == Some(&Tok::Op(Op::Pipe)) {
            self.pos += 1;
            self.skip_newlines();
            cmds.push(self.command()?);
        }
        Ok(Pipeline { bang, cmds })
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.depth += 1;
        let r = self.command_inner();
        self.depth -= 1;
        r
    }

    fn command_inner(&mut self) -> Result<Command, ParseError> {
        let compound = match (self.reserved(), self.peek()) {
            (Some("if"), _) => Some(self.if_clause()?),
            (Some("for"), _) => Some(self.for_clause()?),
            (Some("while"), _) => Some(self.while_clause(false)?),
            (Some("until"), _) => Some(self.while_clause(true)?),
            (Some("case"), _) => Some(self.case_clause()?),
            (Some("{"), _) => {
                self.pos += 1;
                let l = self.body(&["}"])?;
                self.expect_reserved("}")?;
                Some(Compound::Group(l))
            }
            (None, Some(Tok::Op(Op::LParen))) => {
                self.pos += 1;
                let l = self.body(&[")"])?;
                if self.peek() != Some(&Tok::Op(Op::RParen)) {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                Some(Compound::Subshell(l))
            }
            (Some(_), _) => return Err(self.unexpected()),
            _ => None,
        };
        if let Some(c) = compound {
            let mut redirs = Vec::new();
            while let Some(r) = self.redir()? {
                redirs.push(r);
            }
            return Ok(Command::Compound(Box::new(c), redirs));
        }
        // `name() { ...; }`
        if let (
            Some(Tok::Word(w)),
            Some((Tok::Op(Op::LParen), _)),
            Some((Tok::Op(Op::RParen), _)),
        ) = (
            self.peek(),
            self.toks.get(self.pos + 1),
            self.toks.get(self.pos + 2),
        ) {
            if let Some(name) = w.plain().filter(|n| is_name(n)).map(str::to_owned) {
                self.pos += 3;
                self.skip_newlines();
                let body = match self.command()? {
                    Command::Compound(c, _) => c,
                    _ => return Err(self.unexpected()),
                };
                return Ok(Command::Function(name, body));
            }
        }
        self.simple()
    }

    fn simple(&mut self) -> Result<Command, ParseError> {
        let mut s = Simple {
            line: self.line(),
            ..Simple::default()
        };
        loop {
            if let Some(r) = self.redir()? {
                s.redirs.push(r);
                continue;
            }
            match self.peek() {
                Some(Tok::Word(w)) => {
                    let w = w.clone();
                    self.pos += 1;
                    if s.words.is_empty() {
                        if let Some((name, value)) = split_assignment(&w) {
                            s.assigns.push((name, value));
                            continue;
                        }
                    }
                    s.words.push(w);
                }
                _ => break,
            }
        }
        if s.words.is_empty() && s.assigns.is_empty() && s.redirs.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Command::Simple(s))
    }

    fn redir(&mut self) -> Result<Option<Redir>, ParseError> {
        let (fd, kind) = match self.peek() {
            Some(Tok::Redir(fd, op)) => (*fd, RedirKind::Op(*op)),
            Some(Tok::HereDoc(fd, body, expand)) => {
                let r = Redir {
                    fd: *fd,
                    kind: RedirKind::HereDoc(*expand),
                    target: Word {
                        parts: vec![super::lex::Part::Quoted(body.clone())],
                    },
                };
                self.pos += 1;
                return Ok(Some(r));
            }
            _ => return Ok(None),
        };
        self.pos += 1;
        match self.peek() {
            Some(Tok::Word(w)) => {
                let target = w.clone();
                self.pos += 1;
                Ok(Some(Redir { fd, kind, target }))
            }
            // The end of a `-c` string reads as a newline here.
            None => Err(ParseError::Unexpected {
                token: "newline".into(),
                line: self.last_line,
            }),
            _ => Err(self.unexpected()),
        }
    }

    fn if_clause(&mut self) -> Result<Compound, ParseError> {
        self.pos += 1;
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.body(&["then"])?;
            self.expect_reserved("then")?;
            let then = self.body(&["elif", "else", "fi"])?;
            branches.push((cond, then));
            match self.reserved() {
                Some("elif") => self.pos += 1,
                Some("else") => {
                    self.pos += 1;
                    otherwise = Some(self.body(&["fi"])?);
                    self.expect_reserved("fi")?;
                    break;
                }
                Some("fi") => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Compound::If {
            branches,
            otherwise,
        })
    }

    fn for_clause(&mut self) -> Result<Compound, ParseError> {
        self.pos += 1;
        let var = match self.peek() {
            Some(Tok::Word(w)) => w.plain().filter(|n| is_name(n)).map(str::to_owned),
            _ => None,
        };
        let Some(var) = var else {
            return Err(match self.toks.get(self.pos) {
                Some((Tok::Word(w), _)) => ParseError::Unexpected {
                    token: word_text(w),
                    line: self.line(),
                },
                _ => self.unexpected(),
            });
        };
        self.pos += 1;
        self.skip_newlines();
        let mut words = None;
        if self.reserved() == Some("in") {
            self.pos += 1;
            let mut ws = Vec::new();
            while let Some(Tok::Word(w)) = self.peek() {
                ws.push(w.clone());
                self.pos += 1;
            }
            words = Some(ws);
        }
        match self.peek() {
            Some(Tok::Op(Op::Semi)) | Some(Tok::Newline) => self.pos += 1,
            _ => {}
        }
        self.skip_newlines();
        self.expect_reserved("do")?;
        let body = self.body(&["done"])?;
        self.expect_reserved("done")?;
        Ok(Compound::For { var, words, body })
    }

    fn while_clause(&mut self, until: bool) -> Result<Compound, ParseError> {
        self.pos += 1;
        let cond = self.body(&["do"])?;
        self.expect_reserved("do")?;
        let body = self.body(&["done"])?;
        self.expect_reserved("done")?;
        Ok(Compound::While { cond, body, until })
    }

    fn case_clause(&mut self) -> Result<Compound, ParseError> {
        self.pos += 1;
        let word = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        self.skip_newlines();
        self.expect_reserved("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines();
            if self.reserved() == Some("esac") {
                self.pos += 1;
                break;
            }
            if self.peek() == Some(&Tok::Op(Op::LParen)) {
                self.pos += 1;
            }
            let mut pats = Vec::new();
            loop {
                match self.peek() {
                    Some(Tok::Word(w)) => {
                        pats.push(w.clone());
                        self.pos += 1;
                    }
                    _ => return Err(self.unexpected()),
                }
                match self.peek() {
                    Some(Tok::Op(Op::Pipe)) => self.pos += 1,
                    Some(Tok::Op(Op::RParen)) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.unexpected()),
                }
            }
            let body = self.list(&[";;", "esac"])?;
            arms.push((pats, body));
            match self.peek() {
                Some(Tok::Op(Op::DSemi)) => self.pos += 1,
                _ if self.reserved() == Some("esac") => {}
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Compound::Case { word, arms })
    }
}

/// Whether `s` is a shell variable name.
pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `NAME=value` as (name, value word), when the word is an assignment.
pub fn split_assignment(w: &Word) -> Option<(String, Word)> {
    use super::lex::Part;
    let Some(Part::Lit(first)) = w.parts.first() else {
        return None;
    };
    let (name, rest) = first.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut value = Word::default();
    if !rest.is_empty() {
        value.parts.push(Part::Lit(rest.to_owned()));
    }
    value.parts.extend(w.parts.iter().skip(1).cloned());
    Some((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> ParseError {
        parse(src).unwrap_err()
    }

    #[test]
    fn lists_chains_and_pipelines() {
        let s = parse("a | b && c || d; e &").unwrap();
        assert_eq!(s.list.items.len(), 2);
        assert_eq!(s.list.items[0].first.cmds.len(), 2);
        assert_eq!(s.list.items[0].rest.len(), 2);
        assert!(s.list.items[1].background);
    }

    #[test]
    fn compounds_parse() {
        for ok in [
            "if true; then echo y; elif false; then :; else echo n; fi",
            "for i in 1 2 3; do echo $i; done",
            "for i\ndo echo; done",
            "while read l; do echo \"$l\"; done < /etc/passwd",
            "until false; do break; done",
            "case $1 in a|b) echo ab;; *) echo x;; esac",
            "{ echo a; echo b; } > /tmp/x",
            "(cd /tmp && ls)",
            "f() { echo hi; }; f",
            "X=1 Y=2 env",
            "> /tmp/empty",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
    }

    #[test]
    fn syntax_errors_name_the_token_as_bash_does() {
        let u = |t: &str| ParseError::Unexpected {
            token: t.into(),
            line: 1,
        };
        assert_eq!(err("echo a ;;"), u(";;"));
        assert_eq!(err("fi"), u("fi"));
        assert_eq!(err(")"), u(")"));
        assert_eq!(err("| ls"), u("|"));
        assert_eq!(err("ls >"), u("newline"));
        assert_eq!(err("if true; then"), ParseError::Eof { line: 2 });
        assert_eq!(err("echo hi |"), ParseError::Eof { line: 2 });
        assert!(err("if true; then").incomplete());
        assert!(err("echo 'x").incomplete());
        assert!(!err("done").incomplete());
        assert_eq!(err("ls > ;"), u(";"));
        assert_eq!(err("for 1 in a; do :; done"), u("1"));
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!(
            "{}true{}",
            "( ".repeat(MAX_DEPTH + 5),
            " )".repeat(MAX_DEPTH + 5)
        );
        assert_eq!(err(&deep), ParseError::TooDeep);
        let ok = format!("{}true{}", "( ".repeat(10), " )".repeat(10));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn assignments_only_before_the_command_name() {
        let s = parse("A=1 echo B=2").unwrap();
        let Command::Simple(c) = &s.list.items[0].first.cmds[0] else {
            panic!()
        };
        assert_eq!(c.assigns.len(), 1);
        assert_eq!(c.words.len(), 2);
    }
}

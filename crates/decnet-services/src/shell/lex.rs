//! The shell's lexer: bash's quoting rules turn a command line into words
//! (made of literal, quoted and expansion parts) and operators.
//!
//! Hostile input: the lexer is a single pass over the characters, bounded by
//! [`MAX_INPUT`] characters and [`MAX_TOKENS`] tokens; command substitutions
//! are kept as source text and parsed only when they run, under the
//! executor's depth cap, so nesting never recurses here.

/// Longest input lexed (characters); longer input is refused whole.
pub const MAX_INPUT: usize = 64 * 1024;
/// Most tokens one input may hold.
pub const MAX_TOKENS: usize = 8192;

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Unquoted text: subject to globbing; tilde at the start of a word.
    Lit(String),
    /// Quoted or escaped text: taken as it is.
    Quoted(String),
    /// `$NAME`, `${...}`, `$?`, `$1`; `true` when inside double quotes.
    Param(Param, bool),
    /// `$(...)` or backticks: the source to run; `true` inside double quotes.
    Cmd(String, bool),
    /// `$((...))`: the expression; `true` inside double quotes.
    Arith(String, bool),
}

/// A parameter expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The variable (`HOME`, `?`, `1`, `#`).
    pub name: String,
    /// What to do with it.
    pub op: ParamOp,
    /// The operator's word, as source (expanded when needed).
    pub arg: String,
}

/// The `${...}` operators bots use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamOp {
    /// `$X`, `${X}`.
    Plain,
    /// `${#X}`.
    Len,
    /// `${X:-w}` (`true`: with colon).
    Default(bool),
    /// `${X:=w}`.
    Assign(bool),
    /// `${X:+w}`.
    Alt(bool),
    /// `${X#w}` / `${X##w}`.
    TrimPrefix(bool),
    /// `${X%w}` / `${X%%w}`.
    TrimSuffix(bool),
    /// `${X/a/b}` / `${X//a/b}`.
    Replace(bool),
    /// `${X:off:len}`.
    Substr,
}

/// A word: its parts in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// The parts.
    pub parts: Vec<Part>,
}

impl Word {
    /// The word's text when it is one unquoted literal (reserved words, assignments, fd numbers).
    pub fn plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    fn push_lit(&mut self, c: char, quoted: bool) {
        match (self.parts.last_mut(), quoted) {
            (Some(Part::Lit(s)), false) | (Some(Part::Quoted(s)), true) => s.push(c),
            _ => self.parts.push(if quoted {
                Part::Quoted(c.to_string())
            } else {
                Part::Lit(c.to_string())
            }),
        }
    }
}

/// Control operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `;`
    Semi,
    /// `;;`
    DSemi,
    /// `&`
    Amp,
    /// `&&`
    AndAnd,
    /// `|`
    Pipe,
    /// `||`
    OrOr,
    /// `(`
    LParen,
    /// `)`
    RParen,
}

impl Op {
    /// How bash spells it in a syntax error.
    pub fn text(self) -> &'static str {
        match self {
            Op::Semi => ";",
            Op::DSemi => ";;",
            Op::Amp => "&",
            Op::AndAnd => "&&",
            Op::Pipe => "|",
            Op::OrOr => "||",
            Op::LParen => "(",
            Op::RParen => ")",
        }
    }
}

/// Redirection operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    /// `>` (and `>|`).
    Out,
    /// `>>`.
    Append,
    /// `<`.
    In,
    /// `>&` (`2>&1`).
    DupOut,
    /// `<&`.
    DupIn,
    /// `<<<`.
    HereStr,
    /// `&>`.
    AllOut,
    /// `&>>`.
    AllAppend,
}

impl RedirOp {
    /// How bash spells it in a syntax error.
    pub fn text(self) -> &'static str {
        match self {
            RedirOp::Out => ">",
            RedirOp::Append => ">>",
            RedirOp::In => "<",
            RedirOp::DupOut => ">&",
            RedirOp::DupIn => "<&",
            RedirOp::HereStr => "<<<",
            RedirOp::AllOut => "&>",
            RedirOp::AllAppend => "&>>",
        }
    }
}

/// A token and the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A word.
    Word(Word),
    /// A control operator.
    Op(Op),
    /// A redirection, with its explicit fd (`2>`).
    Redir(Option<u32>, RedirOp),
    /// A here-document (`<<`, `<<-`): its body, and whether it is expanded.
    HereDoc(Option<u32>, String, bool),
    /// A newline.
    Newline,
}

/// Why lexing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    /// Input ended inside a quote or substitution; bash names the closer it wanted.
    Unterminated {
        /// The character bash was looking for (`'`, `"`, `` ` ``, `)`, `}`).
        wanted: char,
        /// The line the input ended on.
        line: usize,
    },
    /// The input is over [`MAX_INPUT`] or [`MAX_TOKENS`].
    TooLong,
}

/// Tokens with their line numbers, and here-document warnings.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Tokens and the 1-based line each starts on.
    pub toks: Vec<(Tok, usize)>,
    /// Here-documents that ended at end of input: (line opened, delimiter).
    pub heredoc_eof: Vec<(usize, String)>,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

/// Splits `src` into tokens as bash does.
pub fn lex(src: &str) -> Result<Lexed, LexError> {
    if src.len() > MAX_INPUT {
        return Err(LexError::TooLong);
    }
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut out = Lexed::default();
    let mut pending = Pending::new();
    loop {
        if out.toks.len() > MAX_TOKENS {
            return Err(LexError::TooLong);
        }
        let Some(c) = lx.peek(0) else { break };
        let line = lx.line;
        match c {
            ' ' | '\t' | '\r' => lx.pos += 1,
            '\\' if lx.peek(1) == Some('\n') => {
                lx.pos += 2;
                lx.line += 1;
            }
            '\n' => {
                lx.pos += 1;
                lx.line += 1;
                out.toks.push((Tok::Newline, line));
                for (idx, delim, strip, opened) in pending.drain(..) {
                    let (body, ended) = lx.heredoc_body(&delim, strip);
                    if !ended {
                        out.heredoc_eof.push((opened, delim.clone()));
                    }
                    if let Some((Tok::HereDoc(_, b, _), _)) = out.toks.get_mut(idx) {
                        *b = body;
                    }
                }
            }
            '#' => {
                while lx.peek(0).is_some_and(|c| c != '\n') {
                    lx.pos += 1;
                }
            }
            ';' | '&' | '|' | '(' | ')' | '<' | '>' => {
                let tok = lx.operator(None);
                lx.push(tok, line, &mut out, &mut pending)?;
            }
            _ => {
                let word = lx.word()?;
                // `2>file`: an all-digit word right before a redirection is its fd.
                if let (Some(n), Some('<' | '>')) = (word.plain(), lx.peek(0)) {
                    if let Ok(fd) = n.parse::<u32>() {
                        if n.len() <= 2 {
                            let tok = lx.operator(Some(fd));
                            lx.push(tok, line, &mut out, &mut pending)?;
                            continue;
                        }
                    }
                }
                out.toks.push((Tok::Word(word), line));
            }
        }
    }
    for (_, delim, _, opened) in pending {
        out.heredoc_eof.push((opened, delim));
    }
    Ok(out)
}

/// A here-document waiting for the next newline: (token index, delimiter, strip tabs, line).
type Pending = Vec<(usize, String, bool, usize)>;

impl Lexer {
    /// Pushes an operator token; a here-document also reads its delimiter and waits for its body.
    fn push(
        &mut self,
        tok: Tok,
        line: usize,
        out: &mut Lexed,
        pending: &mut Pending,
    ) -> Result<(), LexError> {
        if let Tok::HereDoc(fd, _, strip) = tok {
            let (delim, quoted) = self.heredoc_delim()?;
            pending.push((out.toks.len(), delim, strip, line));
            out.toks
                .push((Tok::HereDoc(fd, String::new(), !quoted), line));
        } else {
            out.toks.push((tok, line));
        }
        Ok(())
    }

    fn peek(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn operator(&mut self, fd: Option<u32>) -> Tok {
        let c0 = self.peek(0).unwrap_or(' ');
        let c1 = self.peek(1);
        let c2 = self.peek(2);
        let (tok, n) = match (c0, c1, c2) {
            (';', Some(';'), _) => (Tok::Op(Op::DSemi), 2),
            (';', _, _) => (Tok::Op(Op::Semi), 1),
            ('&', Some('&'), _) => (Tok::Op(Op::AndAnd), 2),
            ('&', Some('>'), Some('>')) => (Tok::Redir(fd, RedirOp::AllAppend), 3),
            ('&', Some('>'), _) => (Tok::Redir(fd, RedirOp::AllOut), 2),
            ('&', _, _) => (Tok::Op(Op::Amp), 1),
            ('|', Some('|'), _) => (Tok::Op(Op::OrOr), 2),
            ('|', _, _) => (Tok::Op(Op::Pipe), 1),
            ('(', _, _) => (Tok::Op(Op::LParen), 1),
            (')', _, _) => (Tok::Op(Op::RParen), 1),
            ('<', Some('<'), Some('<')) => (Tok::Redir(fd, RedirOp::HereStr), 3),
            // The flag says whether `<<-` strips leading tabs; `push` turns it into "expand".
            ('<', Some('<'), Some('-')) => (Tok::HereDoc(fd, String::new(), true), 3),
            ('<', Some('<'), _) => (Tok::HereDoc(fd, String::new(), false), 2),
            ('<', Some('&'), _) => (Tok::Redir(fd, RedirOp::DupIn), 2),
            ('<', _, _) => (Tok::Redir(fd, RedirOp::In), 1),
            ('>', Some('>'), _) => (Tok::Redir(fd, RedirOp::Append), 2),
            ('>', Some('&'), _) => (Tok::Redir(fd, RedirOp::DupOut), 2),
            ('>', Some('|'), _) => (Tok::Redir(fd, RedirOp::Out), 2),
            _ => (Tok::Redir(fd, RedirOp::Out), 1),
        };
        self.pos += n;
        tok
    }

    /// The delimiter word after `<<`: its text without quotes, and whether any part was quoted.
    fn heredoc_delim(&mut self) -> Result<(String, bool), LexError> {
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.pos += 1;
        }
        let w = self.word()?;
        let mut quoted = false;
        let mut s = String::new();
        for p in w.parts {
            match p {
                Part::Lit(t) => s.push_str(&t),
                Part::Quoted(t) => {
                    quoted = true;
                    s.push_str(&t);
                }
                Part::Param(p, _) => {
                    s.push('$');
                    s.push_str(&p.name);
                }
                Part::Cmd(c, _) => s.push_str(&c),
                Part::Arith(a, _) => s.push_str(&a),
            }
        }
        Ok((s, quoted))
    }

    /// Lines up to the delimiter line; `false` when input ended first.
    fn heredoc_body(&mut self, delim: &str, strip_tabs: bool) -> (String, bool) {
        let mut body = String::new();
        while self.peek(0).is_some() {
            let start = self.pos;
            while self.peek(0).is_some_and(|c| c != '\n') {
                self.pos += 1;
            }
            let line: String = self
                .chars
                .get(start..self.pos)
                .unwrap_or(&[])
                .iter()
                .collect();
            if self.peek(0) == Some('\n') {
                self.pos += 1;
                self.line += 1;
            }
            let line = if strip_tabs {
                line.trim_start_matches('\t').to_owned()
            } else {
                line
            };
            if line == delim {
                return (body, true);
            }
            body.push_str(&line);
            body.push('\n');
        }
        (body, false)
    }

    fn word(&mut self) -> Result<Word, LexError> {
        let mut w = Word::default();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    self.pos += 1;
                    match self.bump() {
                        Some('\n') => {}
                        Some(e) => w.push_lit(e, true),
                        None => w.push_lit('\\', false),
                    }
                }
                '\'' => {
                    self.pos += 1;
                    let mut s = String::new();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(c) => s.push(c),
                            None => {
                                return Err(LexError::Unterminated {
                                    wanted: '\'',
                                    line: self.line,
                                });
                            }
                        }
                    }
                    w.parts.push(Part::Quoted(s));
                }
                '"' => {
                    self.pos += 1;
                    self.dquoted(&mut w, true)?;
                }
                '$' => self.dollar(&mut w, false)?,
                '`' => {
                    self.pos += 1;
                    let s = self.backtick()?;
                    w.parts.push(Part::Cmd(s, false));
                }
                c => {
                    self.pos += 1;
                    w.push_lit(c, false);
                }
            }
        }
        Ok(w)
    }

    /// Double-quoted text up to the closing quote (`closing`) or the end of input.
    fn dquoted(&mut self, w: &mut Word, closing: bool) -> Result<(), LexError> {
        // An empty pair of quotes still makes a (empty) word.
        w.parts.push(Part::Quoted(String::new()));
        loop {
            match self.peek(0) {
                None if closing => {
                    return Err(LexError::Unterminated {
                        wanted: '"',
                        line: self.line,
                    })
                }
                None => return Ok(()),
                Some('"') if closing => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.bump() {
                        Some(c @ ('$' | '`' | '"' | '\\')) => w.push_lit(c, true),
                        Some('\n') => {}
                        Some(c) => {
                            w.push_lit('\\', true);
                            w.push_lit(c, true);
                        }
                        None => w.push_lit('\\', true),
                    }
                }
                Some('$') => self.dollar(w, true)?,
                Some('`') => {
                    self.pos += 1;
                    let s = self.backtick()?;
                    w.parts.push(Part::Cmd(s, true));
                }
                Some(_) => {
                    if let Some(c) = self.bump() {
                        w.push_lit(c, true);
                    }
                }
            }
        }
    }

    fn backtick(&mut self) -> Result<String, LexError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                Some('`') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some(c @ ('`' | '\\' | '$')) => s.push(c),
                    Some(c) => {
                        s.push('\\');
                        s.push(c);
                    }
                    None => s.push('\\'),
                },
                Some(c) => s.push(c),
                None => {
                    return Err(LexError::Unterminated {
                        wanted: '`',
                        line: self.line,
                    })
                }
            }
        }
    }

    fn dollar(&mut self, w: &mut Word, quoted: bool) -> Result<(), LexError> {
        self.pos += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                self.pos += 2;
                let expr = self.balanced('(', ')', true)?;
                // `$((` closes with `))`: the balanced scan ate the first `)`.
                if self.peek(0) == Some(')') {
                    self.pos += 1;
                    w.parts.push(Part::Arith(expr, quoted));
                } else {
                    // `$((cmd) )` is a command substitution of a subshell.
                    w.parts.push(Part::Cmd(format!("({expr})"), quoted));
                    let rest = self.balanced('(', ')', false)?;
                    if let Some(Part::Cmd(s, _)) = w.parts.last_mut() {
                        s.push_str(&rest);
                    }
                }
            }
            Some('(') => {
                self.pos += 1;
                let src = self.balanced('(', ')', false)?;
                w.parts.push(Part::Cmd(src, quoted));
            }
            Some('{') => {
                self.pos += 1;
                let inner = self.balanced('{', '}', false)?;
                w.parts.push(Part::Param(parse_braced(&inner), quoted));
            }
            Some('\'') if !quoted => {
                // `$'...'`: ANSI-C quoting.
                self.pos += 1;
                let mut s = String::new();
                loop {
                    match self.bump() {
                        Some('\'') => break,
                        Some('\\') => {
                            if let Some(e) = self.bump() {
                                s.push_str(&format!("\\{e}"));
                            }
                        }
                        Some(c) => s.push(c),
                        None => {
                            return Err(LexError::Unterminated {
                                wanted: '\'',
                                line: self.line,
                            })
                        }
                    }
                }
                w.parts.push(Part::Quoted(
                    String::from_utf8_lossy(&unescape_c(&s)).into_owned(),
                ));
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek(0) {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                w.parts.push(Part::Param(plain(name), quoted));
            }
            Some(c @ ('?' | '#' | '$' | '!' | '@' | '*' | '-' | '0'..='9')) => {
                self.pos += 1;
                w.parts.push(Part::Param(plain(c.to_string()), quoted));
            }
            _ => w.push_lit('$', quoted),
        }
        Ok(())
    }

    /// Source text up to the `close` matching an already consumed `open`,
    /// skipping quotes; the closer is consumed and not returned.
    fn balanced(&mut self, open: char, close: char, arith: bool) -> Result<String, LexError> {
        let mut depth = 1usize;
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(LexError::Unterminated {
                    wanted: close,
                    line: self.line,
                });
            };
            match c {
                '\\' => {
                    s.push(c);
                    if let Some(n) = self.bump() {
                        s.push(n);
                    }
                }
                '\'' if !arith && close != '}' => {
                    s.push(c);
                    loop {
                        match self.bump() {
                            Some('\'') => {
                                s.push('\'');
                                break;
                            }
                            Some(n) => s.push(n),
                            None => {
                                return Err(LexError::Unterminated {
                                    wanted: '\'',
                                    line: self.line,
                                })
                            }
                        }
                    }
                }
                '"' if !arith => {
                    s.push(c);
                    loop {
                        match self.bump() {
                            Some('"') => {
                                s.push('"');
                                break;
                            }
                            Some('\\') => {
                                s.push('\\');
                                if let Some(n) = self.bump() {
                                    s.push(n);
                                }
                            }
                            Some(n) => s.push(n),
                            None => {
                                return Err(LexError::Unterminated {
                                    wanted: '"',
                                    line: self.line,
                                })
                            }
                        }
                    }
                }
                c if c == open => {
                    depth += 1;
                    s.push(c);
                }
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(s);
                    }
                    s.push(c);
                }
                c => s.push(c),
            }
        }
    }
}

fn plain(name: String) -> Param {
    Param {
        name,
        op: ParamOp::Plain,
        arg: String::new(),
    }
}

/// `NAME`, `#NAME`, `NAME:-word`, … from the inside of `${...}`.
fn parse_braced(inner: &str) -> Param {
    if let Some(rest) = inner.strip_prefix('#') {
        if !rest.is_empty() {
            return Param {
                name: rest.to_owned(),
                op: ParamOp::Len,
                arg: String::new(),
            };
        }
    }
    let name_len = inner
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphanumeric()
                || c == '_'
                || (i == 0 && matches!(c, '?' | '#' | '$' | '!' | '@' | '*' | '-')))
        })
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(name_len);
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (ParamOp::Default(true), a)
    } else if let Some(a) = rest.strip_prefix(":=") {
        (ParamOp::Assign(true), a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (ParamOp::Alt(true), a)
    } else if let Some(a) = rest.strip_prefix(':') {
        (ParamOp::Substr, a)
    } else if let Some(a) = rest.strip_prefix('-') {
        (ParamOp::Default(false), a)
    } else if let Some(a) = rest.strip_prefix('=') {
        (ParamOp::Assign(false), a)
    } else if let Some(a) = rest.strip_prefix('+') {
        (ParamOp::Alt(false), a)
    } else if let Some(a) = rest.strip_prefix("##") {
        (ParamOp::TrimPrefix(true), a)
    } else if let Some(a) = rest.strip_prefix('#') {
        (ParamOp::TrimPrefix(false), a)
    } else if let Some(a) = rest.strip_prefix("%%") {
        (ParamOp::TrimSuffix(true), a)
    } else if let Some(a) = rest.strip_prefix('%') {
        (ParamOp::TrimSuffix(false), a)
    } else if let Some(a) = rest.strip_prefix("//") {
        (ParamOp::Replace(true), a)
    } else if let Some(a) = rest.strip_prefix('/') {
        (ParamOp::Replace(false), a)
    } else {
        (ParamOp::Plain, rest)
    };
    Param {
        name: name.to_owned(),
        op,
        arg: arg.to_owned(),
    }
}

/// Lexes text as the inside of double quotes (here-document bodies, `${X:-word}` words).
pub fn lex_dquoted(src: &str) -> Word {
    let mut lx = Lexer {
        chars: src.chars().take(MAX_INPUT).collect(),
        pos: 0,
        line: 1,
    };
    let mut w = Word::default();
    match lx.dquoted(&mut w, false) {
        Ok(()) => w,
        Err(_) => Word {
            parts: vec![Part::Quoted(src.to_owned())],
        },
    }
}

/// Lexes text as one unquoted word (the operand of `${X#pattern}`).
pub fn lex_word(src: &str) -> Word {
    let mut lx = Lexer {
        chars: src.chars().take(MAX_INPUT).collect(),
        pos: 0,
        line: 1,
    };
    let mut w = Word::default();
    while lx.peek(0).is_some() {
        match lx.word() {
            Ok(mut part) => w.parts.append(&mut part.parts),
            Err(_) => break,
        }
        // Separators are literal inside `${...}`.
        if let Some(c) = lx.bump() {
            w.push_lit(c, true);
        }
    }
    w
}

/// Backslash escapes as `echo -e`, `printf` and `$'...'` read them.
pub fn unescape_c(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = b.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'e' | b'E' => out.push(0x1b),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match b.get(i).and_then(|d| char::from(*d).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(u8::try_from(v).unwrap_or(0));
                }
            }
            b'0'..=b'7' => {
                // `\0NNN` (echo) and `\NNN` (printf, $'') both read up to three octal digits.
                let mut v = u32::from(e - b'0');
                let mut n = 1;
                if e == b'0' {
                    v = 0;
                    n = 0;
                }
                while n < 3 {
                    match b.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v & 0xff).unwrap_or(0));
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<Tok> {
        lex(src).unwrap().toks.into_iter().map(|(t, _)| t).collect()
    }

    fn lit(s: &str) -> Tok {
        Tok::Word(Word {
            parts: vec![Part::Lit(s.into())],
        })
    }

    #[test]
    fn operators_and_words_split_as_bash_does() {
        assert_eq!(
            words("a|b&&c||d;e&"),
            vec![
                lit("a"),
                Tok::Op(Op::Pipe),
                lit("b"),
                Tok::Op(Op::AndAnd),
                lit("c"),
                Tok::Op(Op::OrOr),
                lit("d"),
                Tok::Op(Op::Semi),
                lit("e"),
                Tok::Op(Op::Amp)
            ]
        );
        assert_eq!(
            words("ls 2>/dev/null >>x 2>&1 <<<hi"),
            vec![
                lit("ls"),
                Tok::Redir(Some(2), RedirOp::Out),
                lit("/dev/null"),
                Tok::Redir(None, RedirOp::Append),
                lit("x"),
                Tok::Redir(Some(2), RedirOp::DupOut),
                lit("1"),
                Tok::Redir(None, RedirOp::HereStr),
                lit("hi"),
            ]
        );
        assert_eq!(words("echo a # comment"), vec![lit("echo"), lit("a")]);
    }

    #[test]
    fn quotes_and_escapes_make_quoted_parts() {
        let t = words(r#"'a b'"c $X"\ d"#);
        let Tok::Word(w) = &t[0] else { panic!() };
        assert_eq!(
            w.parts,
            vec![
                Part::Quoted("a b".into()),
                Part::Quoted("c ".into()),
                Part::Param(plain("X".into()), true),
                Part::Quoted(" ".into()),
                Part::Lit("d".into()),
            ]
        );
        assert_eq!(
            lex("echo 'a").unwrap_err(),
            LexError::Unterminated {
                wanted: '\'',
                line: 1
            }
        );
        assert_eq!(
            lex("echo $(ls").unwrap_err(),
            LexError::Unterminated {
                wanted: ')',
                line: 1
            }
        );
    }

    #[test]
    fn substitutions_keep_their_source() {
        let t = words("$(echo $(id)) `uname -a` $((1+(2*3))) ${HOME:-/x}");
        let parts: Vec<Part> = t
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word(w) => w.parts.into_iter().next(),
                _ => None,
            })
            .collect();
        assert_eq!(parts[0], Part::Cmd("echo $(id)".into(), false));
        assert_eq!(parts[1], Part::Cmd("uname -a".into(), false));
        assert_eq!(parts[2], Part::Arith("1+(2*3)".into(), false));
        assert_eq!(
            parts[3],
            Part::Param(
                Param {
                    name: "HOME".into(),
                    op: ParamOp::Default(true),
                    arg: "/x".into()
                },
                false
            )
        );
    }

    #[test]
    fn here_documents_take_the_following_lines() {
        let l = lex("cat <<EOF >x\nhello $USER\nEOF\necho done").unwrap();
        assert!(matches!(&l.toks[1].0, Tok::HereDoc(None, b, true) if b == "hello $USER\n"));
        assert!(l.heredoc_eof.is_empty());
        let l = lex("cat <<'E'\nx").unwrap();
        assert_eq!(l.heredoc_eof, vec![(1, "E".to_owned())]);
    }

    #[test]
    fn c_escapes() {
        assert_eq!(unescape_c(r"a\nb\x41\101\0101\\"), b"a\nbAAA\\");
    }

    #[test]
    fn oversized_input_is_refused() {
        assert_eq!(
            lex(&"a".repeat(MAX_INPUT + 1)).unwrap_err(),
            LexError::TooLong
        );
        assert_eq!(
            lex(&"; ".repeat(MAX_TOKENS + 2)).unwrap_err(),
            LexError::TooLong
        );
    }
}

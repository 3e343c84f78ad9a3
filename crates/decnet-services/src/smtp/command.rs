//! SMTP command lines parsed into [`Command`] (sans-IO). Verbs are matched
//! case-insensitively; arguments keep the client's bytes (lossy UTF-8, the line
//! reader has already capped their length).

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO name`.
    Helo(String),
    /// `EHLO name`.
    Ehlo(String),
    /// `MAIL FROM:<address> [params]`.
    Mail(String),
    /// `RCPT TO:<address> [params]`.
    Rcpt(String),
    /// `MAIL` or `RCPT` whose address part is missing or malformed.
    BadAddress(Verb),
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]`.
    Bdat {
        /// Bytes of content that follow.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `BDAT` without a usable size.
    BadBdat,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY address`.
    Vrfy(String),
    /// `EXPN list`.
    Expn(String),
    /// `HELP`.
    Help,
    /// `ETRN domain`.
    Etrn(String),
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// The mechanism, upper-cased.
        mechanism: String,
        /// The initial response (base64), if given.
        initial: Option<String>,
    },
    /// A verb that needs an argument and got none (`HELO`, `EHLO`, `VRFY`, `AUTH`).
    MissingArgument(Verb),
    /// An empty line.
    Empty,
    /// Anything else; the verb as sent.
    Unknown(String),
}

/// Verbs an error reply names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// HELO.
    Helo,
    /// EHLO.
    Ehlo,
    /// MAIL.
    Mail,
    /// RCPT.
    Rcpt,
    /// VRFY.
    Vrfy,
    /// AUTH.
    Auth,
    /// ETRN.
    Etrn,
}

/// Parses one command line (without its terminator).
pub fn parse(line: &[u8]) -> Command {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches([' ', '\t', '\r']);
    if text.trim().is_empty() {
        return Command::Empty;
    }
    let (verb, rest) = match text.split_once([' ', '\t']) {
        Some((v, r)) => (v, r.trim()),
        None => (text, ""),
    };
    let arg = || rest.to_owned();
    match verb.to_ascii_uppercase().as_str() {
        "HELO" if rest.is_empty() => Command::MissingArgument(Verb::Helo),
        "HELO" => Command::Helo(arg()),
        "EHLO" if rest.is_empty() => Command::MissingArgument(Verb::Ehlo),
        "EHLO" => Command::Ehlo(arg()),
        "MAIL" => address(rest, "FROM:").map_or(Command::BadAddress(Verb::Mail), Command::Mail),
        "RCPT" => address(rest, "TO:").map_or(Command::BadAddress(Verb::Rcpt), Command::Rcpt),
        "DATA" => Command::Data,
        "BDAT" => bdat(rest),
        "RSET" => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" => Command::Quit,
        "VRFY" if rest.is_empty() => Command::MissingArgument(Verb::Vrfy),
        "VRFY" => Command::Vrfy(arg()),
        "EXPN" => Command::Expn(arg()),
        "HELP" => Command::Help,
        "ETRN" if rest.is_empty() => Command::MissingArgument(Verb::Etrn),
        "ETRN" => Command::Etrn(arg()),
        "STARTTLS" => Command::StartTls,
        "AUTH" => {
            let mut parts = rest.split_whitespace();
            match parts.next() {
                None => Command::MissingArgument(Verb::Auth),
                Some(m) => Command::Auth {
                    mechanism: m.to_ascii_uppercase(),
                    initial: parts.next().map(str::to_owned),
                },
            }
        }
        _ => Command::Unknown(verb.to_owned()),
    }
}

/// The address of `FROM:<a> …` / `TO:<a> …` (Postfix's lenient parsing: spaces
/// after the colon, a missing pair of angle brackets). `<>` is the null sender.
fn address(rest: &str, keyword: &str) -> Option<String> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let after = rest.get(keyword.len()..)?.trim_start();
    if let Some(inner) = after.strip_prefix('<') {
        let end = inner.find('>')?;
        return inner.get(..end).map(str::to_owned);
    }
    let addr = after.split_whitespace().next()?;
    Some(addr.to_owned())
}

fn bdat(rest: &str) -> Command {
    let mut parts = rest.split_whitespace();
    let Some(size) = parts.next().and_then(|s| s.parse::<u64>().ok()) else {
        return Command::BadBdat;
    };
    match parts.next() {
        None => Command::Bdat { size, last: false },
        Some(l) if l.eq_ignore_ascii_case("LAST") && parts.next().is_none() => {
            Command::Bdat { size, last: true }
        }
        Some(_) => Command::BadBdat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_parse_as_postfix_reads_them() {
        assert_eq!(parse(b"ehlo swaks"), Command::Ehlo("swaks".into()));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.c> SIZE=10"),
            Command::Mail("a@b.c".into())
        );
        assert_eq!(parse(b"MAIL FROM: <a@b.c>"), Command::Mail("a@b.c".into()));
        assert_eq!(parse(b"MAIL FROM:<>"), Command::Mail(String::new()));
        assert_eq!(parse(b"mail from:x@y"), Command::Mail("x@y".into()));
        assert_eq!(parse(b"MAIL TO:<x>"), Command::BadAddress(Verb::Mail));
        assert_eq!(
            parse(b"RCPT TO:<root@host>"),
            Command::Rcpt("root@host".into())
        );
        assert_eq!(parse(b"RCPT"), Command::BadAddress(Verb::Rcpt));
        assert_eq!(
            parse(b"BDAT 100 LAST"),
            Command::Bdat {
                size: 100,
                last: true
            }
        );
        assert_eq!(parse(b"BDAT x"), Command::BadBdat);
        assert_eq!(
            parse(b"AUTH plain AGEAYg=="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            }
        );
        assert_eq!(parse(b"AUTH"), Command::MissingArgument(Verb::Auth));
        assert_eq!(parse(b"   "), Command::Empty);
        assert_eq!(parse(b"GET / HTTP/1.0"), Command::Unknown("GET".into()));
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&line);
        }
    }
}

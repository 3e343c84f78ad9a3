//! FTP command lines, as vsftpd reads them: a line ends at `\n` (one `\r`
//! before it dropped), is at most [`MAX_LINE`] bytes (a longer one is answered
//! `500 Input line too long.` and the connection closed), the verb is what
//! comes before the first space, upper-cased, and the argument is everything
//! after that space, kept as sent.
//!
//! Pure and bounded: [`parse`] never panics and allocates at most the line it
//! is given; [`port`] and [`eprt`] parse active-mode addresses without trusting
//! a single byte.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::kit::line::{Eol, LineRule};

/// Longest command line vsftpd reads (`VSFTP_MAX_COMMAND_LINE`).
pub const MAX_LINE: usize = 4096;

/// How the control connection's lines are found.
pub const RULE: LineRule = LineRule::new(MAX_LINE, Eol::Lf);

/// One command line: the verb (upper-cased) and its argument bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What came before the first space, ASCII upper-cased.
    pub verb: String,
    /// What came after it, as sent (may be empty, may hold any byte).
    pub arg: Vec<u8>,
}

impl Request {
    /// The argument as text (invalid UTF-8 replaced), for paths and replies.
    pub fn arg_text(&self) -> String {
        String::from_utf8_lossy(&self.arg).into_owned()
    }
}

/// Splits one line (without its terminator) into verb and argument.
pub fn parse(line: &[u8]) -> Request {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (
            line.get(..i).unwrap_or_default(),
            line.get(i + 1..).unwrap_or_default(),
        ),
        None => (line, &[][..]),
    };
    Request {
        verb: String::from_utf8_lossy(verb).to_ascii_uppercase(),
        arg: arg.to_vec(),
    }
}

/// The verbs the server knows, after vsftpd's aliases (`XPWD` is `PWD`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `USER`.
    User,
    /// `PASS`.
    Pass,
    /// `QUIT`.
    Quit,
    /// `FEAT`.
    Feat,
    /// `OPTS`.
    Opts,
    /// `SYST`.
    Syst,
    /// `PWD`, `XPWD`.
    Pwd,
    /// `CWD`, `XCWD`.
    Cwd,
    /// `CDUP`, `XCUP`.
    Cdup,
    /// `TYPE`.
    Type,
    /// `MODE`.
    Mode,
    /// `STRU`.
    Stru,
    /// `SIZE`.
    Size,
    /// `MDTM`.
    Mdtm,
    /// `PASV`.
    Pasv,
    /// `EPSV`.
    Epsv,
    /// `PORT`.
    Port,
    /// `EPRT`.
    Eprt,
    /// `LIST`.
    List,
    /// `NLST`.
    Nlst,
    /// `RETR`.
    Retr,
    /// `STOR`.
    Stor,
    /// `APPE`.
    Appe,
    /// `STOU`.
    Stou,
    /// `DELE`.
    Dele,
    /// `MKD`, `XMKD`.
    Mkd,
    /// `RMD`, `XRMD`.
    Rmd,
    /// `RNFR`.
    Rnfr,
    /// `RNTO`.
    Rnto,
    /// `NOOP`.
    Noop,
    /// `REST`.
    Rest,
    /// `ABOR`.
    Abor,
    /// `SITE`.
    Site,
    /// `HELP`.
    Help,
    /// `STAT`.
    Stat,
    /// `ALLO`.
    Allo,
    /// `ACCT`.
    Acct,
    /// `SMNT`.
    Smnt,
    /// `REIN`.
    Rein,
    /// `AUTH`, `PBSZ`, `PROT`, `CCC` with TLS off.
    Tls,
    /// An empty line: vsftpd answers nothing.
    Empty,
    /// Anything else.
    Unknown,
}

impl Verb {
    /// The verb a request names.
    pub fn of(verb: &str) -> Verb {
        match verb {
            "USER" => Verb::User,
            "PASS" => Verb::Pass,
            "QUIT" => Verb::Quit,
            "FEAT" => Verb::Feat,
            "OPTS" => Verb::Opts,
            "SYST" => Verb::Syst,
            "PWD" | "XPWD" => Verb::Pwd,
            "CWD" | "XCWD" => Verb::Cwd,
            "CDUP" | "XCUP" => Verb::Cdup,
            "TYPE" => Verb::Type,
            "MODE" => Verb::Mode,
            "STRU" => Verb::Stru,
            "SIZE" => Verb::Size,
            "MDTM" => Verb::Mdtm,
            "PASV" => Verb::Pasv,
            "EPSV" => Verb::Epsv,
            "PORT" => Verb::Port,
            "EPRT" => Verb::Eprt,
            "LIST" => Verb::List,
            "NLST" => Verb::Nlst,
            "RETR" => Verb::Retr,
            "STOR" => Verb::Stor,
            "APPE" => Verb::Appe,
            "STOU" => Verb::Stou,
            "DELE" => Verb::Dele,
            "MKD" | "XMKD" => Verb::Mkd,
            "RMD" | "XRMD" => Verb::Rmd,
            "RNFR" => Verb::Rnfr,
            "RNTO" => Verb::Rnto,
            "NOOP" => Verb::Noop,
            "REST" => Verb::Rest,
            "ABOR" => Verb::Abor,
            "SITE" => Verb::Site,
            "HELP" => Verb::Help,
            "STAT" => Verb::Stat,
            "ALLO" => Verb::Allo,
            "ACCT" => Verb::Acct,
            "SMNT" => Verb::Smnt,
            "REIN" => Verb::Rein,
            "AUTH" | "PBSZ" | "PROT" | "CCC" => Verb::Tls,
            "" => Verb::Empty,
            _ => Verb::Unknown,
        }
    }
}

/// The address of a `PORT h1,h2,h3,h4,p1,p2` argument; `None` when malformed.
pub fn port(arg: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(arg).ok()?;
    let mut n = [0u8; 6];
    let mut parts = text.trim().split(',');
    for slot in &mut n {
        *slot = parts.next()?.trim().parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let [a, b, c, d, hi, lo] = n;
    Some(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        u16::from_be_bytes([hi, lo]),
    ))
}

/// Why an `EPRT` argument was refused, with vsftpd's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EprtError {
    /// Not `|proto|addr|port|`: `500 Bad EPRT command.`
    Bad,
    /// A protocol other than 1 (IPv4) on this IPv4 server: `500 Bad EPRT protocol.`
    Protocol,
}

/// The address of an `EPRT |1|a.b.c.d|port|` argument (RFC 2428).
pub fn eprt(arg: &[u8]) -> Result<SocketAddr, EprtError> {
    let text = std::str::from_utf8(arg).map_err(|_| EprtError::Bad)?;
    let mut chars = text.chars();
    let delim = chars.next().ok_or(EprtError::Bad)?;
    // RFC 2428: any printable delimiter outside 33-126 is not allowed.
    if !(' '..='~').contains(&delim) || delim == ' ' {
        return Err(EprtError::Bad);
    }
    let fields: Vec<&str> = chars.as_str().splitn(4, delim).collect();
    let [proto, addr, port, rest] = fields.as_slice() else {
        return Err(EprtError::Bad);
    };
    if !rest.is_empty() {
        return Err(EprtError::Bad);
    }
    match *proto {
        "1" => {}
        "2" => return Err(EprtError::Protocol),
        _ => return Err(EprtError::Bad),
    }
    let ip: Ipv4Addr = addr.parse().map_err(|_| EprtError::Bad)?;
    let port: u16 = port.parse().map_err(|_| EprtError::Bad)?;
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::kit::line::{Decoded, LineDecoder};
    use proptest::prelude::*;

    /// Every request a recorded client session holds, decoded as the server reads them.
    fn requests(bytes: &[u8]) -> Vec<Request> {
        let mut d = LineDecoder::new(RULE);
        let mut rest = bytes;
        let mut out = Vec::new();
        while let Decoded::Line { line, consumed } = d.decode(rest) {
            out.push(parse(line));
            rest = &rest[consumed..];
        }
        out
    }

    #[test]
    fn an_lftp_login_reads_as_lftp_sent_it() {
        // Bytes lftp 4.9 sent to vsftpd (recorded on loopback).
        let recorded = b"FEAT\r\nUSER admin\r\nPASS s3cr3t pass\r\nPWD\r\nPASV\r\nLIST\r\nQUIT\r\n";
        let got: Vec<(String, Vec<u8>)> = requests(recorded)
            .into_iter()
            .map(|r| (r.verb, r.arg))
            .collect();
        let want: Vec<(String, Vec<u8>)> = [
            ("FEAT", ""),
            ("USER", "admin"),
            ("PASS", "s3cr3t pass"),
            ("PWD", ""),
            ("PASV", ""),
            ("LIST", ""),
            ("QUIT", ""),
        ]
        .iter()
        .map(|(v, a)| (v.to_string(), a.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn verbs_are_case_blind_arguments_are_kept_as_sent() {
        let r = parse(b"retr  My File.TXT ");
        assert_eq!(r.verb, "RETR");
        assert_eq!(r.arg, b" My File.TXT ");
        assert_eq!(Verb::of(&r.verb), Verb::Retr);
        let r = parse(b"PASS \xff\xfebin");
        assert_eq!(r.arg, b"\xff\xfebin", "a password is its bytes");
        assert_eq!(Verb::of(&parse(b"").verb), Verb::Empty);
        assert_eq!(Verb::of(&parse(b"XPWD").verb), Verb::Pwd);
        assert_eq!(Verb::of(&parse(b"GET /").verb), Verb::Unknown);
    }

    #[test]
    fn a_bare_newline_ends_a_line_like_vsftpd() {
        let got = requests(b"USER anonymous\nPASS a@b\r\n");
        assert_eq!(got[0].arg, b"anonymous");
        assert_eq!(got[1].arg, b"a@b");
    }

    #[test]
    fn port_arguments() {
        assert_eq!(
            port(b"127,0,0,1,200,10"),
            Some("127.0.0.1:51210".parse().unwrap())
        );
        assert_eq!(port(b"1,2"), None);
        assert_eq!(port(b"1,2,3,4,5,6,7"), None);
        assert_eq!(port(b"256,0,0,1,1,1"), None);
        assert_eq!(port(b""), None);
    }

    #[test]
    fn eprt_arguments() {
        assert_eq!(
            eprt(b"|1|127.0.0.1|40000|"),
            Ok("127.0.0.1:40000".parse().unwrap())
        );
        assert_eq!(eprt(b"|2|::1|40000|"), Err(EprtError::Protocol));
        assert_eq!(eprt(b"x"), Err(EprtError::Bad));
        assert_eq!(eprt(b"|1|127.0.0.1|70000|"), Err(EprtError::Bad));
        assert_eq!(eprt(b"|1|127.0.0.1|1|extra"), Err(EprtError::Bad));
        assert_eq!(eprt(b""), Err(EprtError::Bad));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_nor_outgrow_their_line(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let mut d = LineDecoder::new(RULE);
            let mut rest = &bytes[..];
            loop {
                match d.decode(rest) {
                    Decoded::Line { line, consumed } => {
                        prop_assert!(line.len() <= MAX_LINE);
                        let r = parse(line);
                        prop_assert!(r.verb.len() + r.arg.len() <= line.len() * 3);
                        prop_assert!(r.arg.len() <= line.len());
                        let _ = Verb::of(&r.verb);
                        let _ = port(&r.arg);
                        let _ = eprt(&r.arg);
                        rest = &rest[consumed..];
                    }
                    Decoded::Incomplete => {
                        prop_assert!(rest.len() <= RULE.cap());
                        break;
                    }
                    Decoded::TooLong { limit } => {
                        prop_assert_eq!(limit, MAX_LINE);
                        break;
                    }
                }
            }
        }
    }
}

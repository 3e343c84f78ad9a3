//! What each MTA says, as its Debian package says it with the default
//! configuration (plus SASL, so that AUTH is offered and credentials captured):
//! the greeting, the EHLO capability list in the MTA's order, and the reply to
//! each situation.

use decnet_core::persona::distro::{Distro, Package};

/// Which mail server the decky pretends to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mta {
    /// Postfix smtpd (the default on every distro here).
    Postfix,
    /// Exim 4.
    Exim,
    /// Sendmail.
    Sendmail,
}

impl Mta {
    /// The `smtp_mta` values.
    pub const NAMES: &'static [&'static str] = &["postfix", "exim", "sendmail"];

    /// Parses an `smtp_mta` value.
    pub fn parse(s: &str) -> Option<Mta> {
        match s.to_ascii_lowercase().as_str() {
            "postfix" => Some(Mta::Postfix),
            "exim" | "exim4" => Some(Mta::Exim),
            "sendmail" => Some(Mta::Sendmail),
            _ => None,
        }
    }
}

/// Debian 12's sendmail (not in the persona package table: no distro here ships it by default).
const SENDMAIL_VERSION: &str = "8.17.1.9";

/// Situations that get a reply; each MTA words them its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A command the server does not know.
    Unknown,
    /// An empty line.
    Empty,
    /// A command line over the length limit.
    TooLong,
    /// MAIL/AUTH before HELO/EHLO.
    NeedHelo,
    /// RCPT before MAIL.
    NeedMail,
    /// DATA before RCPT.
    NeedRcpt,
    /// MAIL inside a transaction.
    NestedMail,
    /// MAIL FROM accepted.
    SenderOk,
    /// RCPT TO accepted.
    RecipientOk,
    /// `MAIL` syntax error.
    MailSyntax,
    /// `RCPT` syntax error.
    RcptSyntax,
    /// DATA accepted; send the message.
    StartData,
    /// RSET / NOOP.
    Ok,
    /// QUIT.
    Bye,
    /// STARTTLS accepted.
    ReadyTls,
    /// STARTTLS when TLS is already on, or pipelined bytes after it.
    TlsNotAvailable,
    /// AUTH succeeded.
    AuthOk,
    /// AUTH failed.
    AuthFailed,
    /// AUTH cancelled with `*`.
    AuthAborted,
    /// AUTH with a mechanism not offered.
    AuthBadMechanism,
    /// AUTH response not base64.
    AuthBadBase64,
    /// AUTH a second time after success.
    AuthAgain,
    /// The message is over the size limit.
    TooBig,
    /// EXPN.
    Expn,
    /// ETRN.
    Etrn,
    /// HELP.
    Help,
    /// A verb missing its argument.
    Syntax,
    /// BDAT malformed.
    BdatSyntax,
    /// Too many errors: the server hangs up.
    TooManyErrors,
}

/// One MTA's words for one host.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// The MTA.
    pub mta: Mta,
    /// The host name it calls itself.
    pub hostname: String,
    /// Text after `220 ` in the greeting.
    pub banner: String,
    /// The message size limit (message_size_limit).
    pub max_message: u64,
    /// Whether `SIZE` shows the limit (Sendmail without `MaxMessageSize` says plain `SIZE`).
    pub size_shown: bool,
}

impl Dialect {
    /// The MTA's own default size limit: Postfix's 10240000, Debian exim4's 50 MiB;
    /// Sendmail has none (it is then capped at Postfix's).
    pub fn default_max_message(mta: Mta) -> u64 {
        match mta {
            Mta::Postfix | Mta::Sendmail => 10_240_000,
            Mta::Exim => 52_428_800,
        }
    }

    /// The default greeting text of `mta` on `distro` for `hostname`.
    pub fn default_banner(mta: Mta, distro: &Distro, hostname: &str) -> String {
        match mta {
            // Debian's and Ubuntu's smtpd_banner: `$myhostname ESMTP $mail_name (Debian/GNU)`.
            Mta::Postfix => match distro.os_id {
                "debian" => format!("{hostname} ESMTP Postfix (Debian/GNU)"),
                "ubuntu" => format!("{hostname} ESMTP Postfix (Ubuntu)"),
                _ => format!("{hostname} ESMTP Postfix"),
            },
            Mta::Exim => {
                let v = distro.package(Package::Exim).map_or("4.96", |p| p.upstream);
                format!("{hostname} ESMTP Exim {v} {}", rfc2822_now())
            }
            Mta::Sendmail => {
                let v = SENDMAIL_VERSION;
                format!(
                    "{hostname} ESMTP Sendmail {v}/{v}/Debian-2; {}",
                    rfc2822_now()
                )
            }
        }
    }

    /// Whether MAIL needs HELO/EHLO first (Postfix's `smtpd_helo_required` is off).
    pub fn helo_required(&self) -> bool {
        self.mta != Mta::Postfix
    }

    /// Whether a BDAT syntax error ends the session (Postfix answers 521 and hangs up).
    pub fn bdat_error_is_fatal(&self) -> bool {
        self.mta == Mta::Postfix
    }

    /// The greeting line.
    pub fn greeting(&self) -> String {
        format!("220 {}\r\n", self.banner)
    }

    /// The reply to HELO.
    pub fn helo(&self, client: &str, peer_ip: &str) -> String {
        match self.mta {
            Mta::Postfix => format!("250 {}\r\n", self.hostname),
            Mta::Exim => format!("250 {} Hello {client} [{peer_ip}]\r\n", self.hostname),
            Mta::Sendmail => format!(
                "250 {} Hello {client} [{peer_ip}], pleased to meet you\r\n",
                self.hostname
            ),
        }
    }

    /// The reply to EHLO: the capability list, in the MTA's order.
    pub fn ehlo(&self, client: &str, peer_ip: &str, tls: bool, authed: bool) -> String {
        let size = if self.size_shown {
            format!("SIZE {}", self.max_message)
        } else {
            "SIZE".to_owned()
        };
        let mut caps: Vec<String> = Vec::new();
        let auth = (!authed).then_some("AUTH PLAIN LOGIN CRAM-MD5");
        match self.mta {
            Mta::Postfix => {
                caps.push(self.hostname.clone());
                caps.extend(["PIPELINING".into(), size, "VRFY".into()]);
                caps.push("ETRN".into());
                if !tls {
                    caps.push("STARTTLS".into());
                }
                caps.extend(auth.map(str::to_owned));
                caps.extend(
                    [
                        "ENHANCEDSTATUSCODES",
                        "8BITMIME",
                        "DSN",
                        "SMTPUTF8",
                        "CHUNKING",
                    ]
                    .map(str::to_owned),
                );
            }
            Mta::Exim => {
                caps.push(format!("{} Hello {client} [{peer_ip}]", self.hostname));
                caps.extend([size, "8BITMIME".into()]);
                caps.extend(["PIPELINING".into(), "CHUNKING".into()]);
                caps.extend(auth.map(str::to_owned));
                if !tls {
                    caps.push("STARTTLS".into());
                }
                caps.extend(["PRDR".into(), "HELP".into()]);
            }
            Mta::Sendmail => {
                caps.push(format!(
                    "{} Hello {client} [{peer_ip}], pleased to meet you",
                    self.hostname
                ));
                caps.extend(
                    [
                        "ENHANCEDSTATUSCODES",
                        "PIPELINING",
                        "EXPN",
                        "VERB",
                        "8BITMIME",
                    ]
                    .map(str::to_owned),
                );
                caps.extend([size, "DSN".into(), "ETRN".into()]);
                caps.extend(auth.map(|_| "AUTH DIGEST-MD5 CRAM-MD5 PLAIN LOGIN".to_owned()));
                if !tls {
                    caps.push("STARTTLS".into());
                }
                caps.extend(["DELIVERBY".into(), "HELP".into()]);
            }
        }
        multiline(250, &caps)
    }

    /// The reply to an accepted message.
    pub fn queued(&self, id: &str) -> String {
        match self.mta {
            Mta::Postfix => format!("250 2.0.0 Ok: queued as {id}\r\n"),
            Mta::Exim => format!("250 OK id={id}\r\n"),
            Mta::Sendmail => format!("250 2.0.0 {id} Message accepted for delivery\r\n"),
        }
    }

    /// A queue id in the MTA's shape, from 8 random bytes.
    pub fn queue_id(&self, r: [u8; 8]) -> String {
        match self.mta {
            // Postfix's short ids: 10 or 11 upper-case hex digits.
            Mta::Postfix => {
                let len = 10 + usize::from(r[0] & 1);
                let mut id = hex::encode_upper(r);
                id.truncate(len);
                id
            }
            Mta::Exim => {
                let b62 = |v: u64, n: usize| {
                    const A: &[u8] =
                        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                    let mut v = v;
                    let mut s = String::new();
                    for _ in 0..n {
                        s.insert(
                            0,
                            char::from(A.get((v % 62) as usize).copied().unwrap_or(b'0')),
                        );
                        v /= 62;
                    }
                    s
                };
                let v = u64::from_be_bytes(r);
                format!("{}-{}-{}", b62(v, 6), b62(v >> 20, 6), b62(v >> 40, 2))
            }
            Mta::Sendmail => {
                let v = u64::from_be_bytes(r);
                format!("{:014}", v % 100_000_000_000_000)
            }
        }
    }

    /// The reply to RCPT of a domain this host does not relay for.
    pub fn relay_denied(&self, rcpt: &str) -> String {
        match self.mta {
            Mta::Postfix => format!("554 5.7.1 <{rcpt}>: Relay access denied\r\n"),
            Mta::Exim => "550 relay not permitted\r\n".into(),
            Mta::Sendmail => format!("550 5.7.1 <{rcpt}>... Relaying denied\r\n"),
        }
    }

    /// The reply to VRFY.
    pub fn vrfy(&self, who: &str) -> String {
        match self.mta {
            Mta::Postfix => format!("252 2.0.0 {who}\r\n"),
            Mta::Exim => "252 Administrative prohibition\r\n".into(),
            Mta::Sendmail => {
                "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)\r\n"
                    .into()
            }
        }
    }

    /// An AUTH challenge line (`334 <base64>`).
    pub fn challenge(&self, b64: &str) -> String {
        format!("334 {b64}\r\n")
    }

    /// The reply to `r`; `verb` names the command when the MTA says it.
    pub fn reply(&self, r: Reply, verb: &str) -> String {
        let h = &self.hostname;
        let s: String = match (self.mta, r) {
            (Mta::Postfix, r) => match r {
                Reply::Unknown => "500 5.5.2 Error: command not recognized".into(),
                Reply::Empty => "500 5.5.2 Error: bad syntax".into(),
                Reply::TooLong => "500 5.5.0 Error: line too long".into(),
                Reply::NeedHelo => "503 5.5.1 Error: send HELO/EHLO first".into(),
                Reply::NeedMail => "503 5.5.1 Error: need MAIL command".into(),
                Reply::NeedRcpt => "503 5.5.1 Error: need RCPT command".into(),
                Reply::NestedMail => "503 5.5.1 Error: nested MAIL command".into(),
                Reply::SenderOk => "250 2.1.0 Ok".into(),
                Reply::RecipientOk => "250 2.1.5 Ok".into(),
                Reply::MailSyntax => "501 5.5.4 Syntax: MAIL FROM:<address>".into(),
                Reply::RcptSyntax => "501 5.5.4 Syntax: RCPT TO:<address>".into(),
                Reply::StartData => "354 End data with <CR><LF>.<CR><LF>".into(),
                Reply::Ok => "250 2.0.0 Ok".into(),
                Reply::Bye => "221 2.0.0 Bye".into(),
                Reply::ReadyTls => "220 2.0.0 Ready to start TLS".into(),
                Reply::TlsNotAvailable => "554 5.5.1 Error: TLS already active".into(),
                Reply::AuthOk => "235 2.7.0 Authentication successful".into(),
                Reply::AuthFailed => {
                    "535 5.7.8 Error: authentication failed: authentication failure".into()
                }
                Reply::AuthAborted => "501 5.7.0 Authentication aborted".into(),
                Reply::AuthBadMechanism => {
                    "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"
                        .into()
                }
                Reply::AuthBadBase64 => "501 5.5.2 Invalid base64 data in initial response".into(),
                Reply::AuthAgain => "503 5.5.1 Error: already authenticated".into(),
                Reply::TooBig => "552 5.3.4 Message size exceeds fixed limit".into(),
                Reply::Expn | Reply::Help => "500 5.5.2 Error: command not recognized".into(),
                // Without fast_flush_domains (the default), `verb` is the domain.
                Reply::Etrn => format!("459 <{verb}>: service unavailable"),
                Reply::Syntax => match verb {
                    "VRFY" => "501 5.5.4 Syntax: VRFY address [SMTPUTF8]".into(),
                    "AUTH" => "501 5.5.4 Syntax: AUTH mechanism".into(),
                    "ETRN" => "500 Syntax: ETRN domain".into(),
                    _ => format!("501 Syntax: {verb} hostname"),
                },
                Reply::BdatSyntax => "521 5.5.4 Syntax: BDAT count [LAST]".into(),
                Reply::TooManyErrors => format!("421 4.7.0 {h} Error: too many errors"),
            },
            (Mta::Exim, r) => match r {
                Reply::Unknown | Reply::Empty => "500 unrecognized command".into(),
                Reply::TooLong => "500 line too long".into(),
                Reply::NeedHelo => format!("503 {verb} command must be preceded by HELO or EHLO"),
                Reply::NeedMail => "503 sender not yet given".into(),
                Reply::NeedRcpt => "503 valid RCPT command must precede DATA".into(),
                Reply::NestedMail => "503 sender already given".into(),
                Reply::SenderOk | Reply::Ok => "250 OK".into(),
                Reply::RecipientOk => "250 Accepted".into(),
                Reply::MailSyntax | Reply::RcptSyntax => {
                    format!("501 {verb}: malformed address")
                }
                Reply::StartData => "354 Enter message, ending with \".\" on a line by itself".into(),
                Reply::Bye => format!("221 {h} closing connection"),
                Reply::ReadyTls => "220 TLS go ahead".into(),
                Reply::TlsNotAvailable => "554 Already in TLS".into(),
                Reply::AuthOk => "235 Authentication succeeded".into(),
                Reply::AuthFailed => "535 Incorrect authentication data".into(),
                Reply::AuthAborted => "501 Authentication cancelled".into(),
                Reply::AuthBadMechanism => "504 Unsupported authentication mechanism".into(),
                Reply::AuthBadBase64 => "501 Invalid base64 data".into(),
                Reply::AuthAgain => "503 already authenticated".into(),
                Reply::TooBig => "552 Message size exceeds maximum permitted".into(),
                Reply::Expn => "550 Administrative prohibition".into(),
                Reply::Etrn => "458 Administrative prohibition".into(),
                Reply::Help => "214-Commands supported:\r\n214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP".into(),
                Reply::Syntax => format!("501 Syntactically invalid {verb} argument(s)"),
                Reply::BdatSyntax => "501 missing size for BDAT command".into(),
                Reply::TooManyErrors => format!("421 {h} too many unrecognized commands"),
            },
            (Mta::Sendmail, r) => match r {
                Reply::Unknown => format!("500 5.5.1 Command unrecognized: \"{verb}\""),
                Reply::Empty => "500 5.5.1 Command unrecognized: \"\"".into(),
                Reply::TooLong => "500 5.5.0 Command line too long".into(),
                Reply::NeedHelo => "503 5.0.0 Polite people say HELO first".into(),
                Reply::NeedMail => "503 5.0.0 Need MAIL before RCPT".into(),
                Reply::NeedRcpt => "503 5.0.0 Need RCPT (recipient)".into(),
                Reply::NestedMail => "503 5.5.0 Sender already specified".into(),
                Reply::SenderOk => "250 2.1.0 Sender ok".into(),
                Reply::RecipientOk => "250 2.1.5 Recipient ok".into(),
                Reply::MailSyntax | Reply::RcptSyntax => "501 5.5.2 Syntax error in parameters scanning \"\"".into(),
                Reply::StartData => "354 Enter mail, end with \".\" on a line by itself".into(),
                Reply::Ok => "250 2.0.0 OK".into(),
                Reply::Bye => format!("221 2.0.0 {h} closing connection"),
                Reply::ReadyTls => "220 2.0.0 Ready to start TLS".into(),
                Reply::TlsNotAvailable => "454 4.3.3 TLS not available: already active".into(),
                Reply::AuthOk => "235 2.0.0 OK Authenticated".into(),
                Reply::AuthFailed => "535 5.7.0 authentication failed".into(),
                Reply::AuthAborted => "501 5.0.0 AUTH aborted".into(),
                Reply::AuthBadMechanism => "504 5.3.3 AUTH mechanism not available".into(),
                Reply::AuthBadBase64 => "501 5.5.4 cannot decode AUTH parameter".into(),
                Reply::AuthAgain => "503 5.5.0 Already Authenticated".into(),
                Reply::TooBig => "552 5.2.3 Message exceeds maximum fixed size".into(),
                Reply::Expn => "502 5.7.0 Sorry, we do not allow this operation".into(),
                Reply::Etrn => "458 4.0.0 Unable to queue messages".into(),
                Reply::Help => "214 2.0.0 This is sendmail".into(),
                Reply::Syntax => format!("501 5.0.0 {verb} requires domain address"),
                Reply::BdatSyntax => "501 5.5.4 Syntax error".into(),
                Reply::TooManyErrors => format!("421 4.7.0 {h} Too many errors"),
            },
        };
        format!("{s}\r\n")
    }
}

/// Lines `code-…` then `code …`.
fn multiline(code: u16, lines: &[String]) -> String {
    let mut out = String::new();
    let last = lines.len().saturating_sub(1);
    for (i, l) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{l}\r\n"));
    }
    out
}

/// The date as Exim and Sendmail print it in their greeting.
fn rfc2822_now() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::distro;

    fn postfix() -> Dialect {
        Dialect {
            mta: Mta::Postfix,
            hostname: "mx1".into(),
            banner: Dialect::default_banner(Mta::Postfix, distro("debian").unwrap(), "mx1"),
            max_message: 10_240_000,
            size_shown: true,
        }
    }

    #[test]
    fn postfix_greets_and_advertises_as_debian_ships_it() {
        let d = postfix();
        assert_eq!(d.greeting(), "220 mx1 ESMTP Postfix (Debian/GNU)\r\n");
        assert_eq!(
            d.ehlo("c", "192.0.2.1", false, false),
            "250-mx1\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
             250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-ENHANCEDSTATUSCODES\r\n\
             250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
        );
        assert!(!d.ehlo("c", "192.0.2.1", true, false).contains("STARTTLS"));
        assert_eq!(
            d.reply(Reply::Unknown, "X"),
            "500 5.5.2 Error: command not recognized\r\n"
        );
        let id = d.queue_id([1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(
            id.len() == 11 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }

    #[test]
    fn every_mta_has_its_own_greeting_and_last_capability_line() {
        let debian = distro("debian").unwrap();
        let exim = Dialect::default_banner(Mta::Exim, debian, "mx1");
        assert!(exim.starts_with("mx1 ESMTP Exim 4.96 "), "{exim}");
        let sendmail = Dialect::default_banner(Mta::Sendmail, debian, "mx1");
        assert!(sendmail.starts_with("mx1 ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; "));
        for mta in [Mta::Exim, Mta::Sendmail] {
            let d = Dialect { mta, ..postfix() };
            assert!(d
                .ehlo("c", "192.0.2.1", false, false)
                .ends_with("250 HELP\r\n"));
        }
    }
}

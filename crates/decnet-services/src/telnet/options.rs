//! Telnet's in-band commands (RFC 854, 855) and the options Linux telnetd
//! negotiates, sans-IO: [`Parser`] splits what a client sends into NVT data,
//! option verbs, commands and subnegotiations; [`decode`] reads the
//! subnegotiations telnetd asks for (terminal type, window size, speed, X
//! display, environment); [`Options`] answers verbs as telnetd's option state
//! machine does, so a client's WILL/DO never loops.
//!
//! Hostile-input guarantees: no input panics; a subnegotiation payload is kept
//! up to [`MAX_SUB`] bytes whatever its length (the rest is counted as
//! truncated, not stored); the data handed out is never longer than the input
//! that carried it, and the items of one [`Parser::feed`] are at most one per
//! input byte. The parser's answer does not depend on how the client split its
//! writes. Decoded strings are capped and hold no control characters.

/// Interpret As Command.
pub const IAC: u8 = 255;
/// Refuses (or asks the peer to stop) an option on the peer's side.
pub const DONT: u8 = 254;
/// Asks the peer to enable an option on its side.
pub const DO: u8 = 253;
/// Refuses (or stops) an option on the sender's side.
pub const WONT: u8 = 252;
/// Offers an option on the sender's side.
pub const WILL: u8 = 251;
/// Subnegotiation begins.
pub const SB: u8 = 250;
/// Erase line.
pub const EL: u8 = 248;
/// Erase character.
pub const EC: u8 = 247;
/// Are you there.
pub const AYT: u8 = 246;
/// Interrupt process.
pub const IP: u8 = 244;
/// Subnegotiation ends.
pub const SE: u8 = 240;

/// Subnegotiation qualifier: the value follows.
pub const IS: u8 = 0;
/// Subnegotiation qualifier: please send the value.
pub const SEND: u8 = 1;
/// NEW-ENVIRON qualifier: unsolicited update.
pub const INFO: u8 = 2;

/// Option codes telnetd deals with.
pub mod opt {
    /// Binary transmission (RFC 856).
    pub const BINARY: u8 = 0;
    /// Echo (RFC 857).
    pub const ECHO: u8 = 1;
    /// Suppress go-ahead (RFC 858).
    pub const SGA: u8 = 3;
    /// Status (RFC 859).
    pub const STATUS: u8 = 5;
    /// Timing mark (RFC 860).
    pub const TM: u8 = 6;
    /// Terminal type (RFC 1091).
    pub const TTYPE: u8 = 24;
    /// Negotiate about window size (RFC 1073).
    pub const NAWS: u8 = 31;
    /// Terminal speed (RFC 1079).
    pub const TSPEED: u8 = 32;
    /// Remote flow control (RFC 1372).
    pub const LFLOW: u8 = 33;
    /// Linemode (RFC 1184).
    pub const LINEMODE: u8 = 34;
    /// X display location (RFC 1096).
    pub const XDISPLOC: u8 = 35;
    /// Old environment option (RFC 1408).
    pub const OLD_ENVIRON: u8 = 36;
    /// New environment option (RFC 1572).
    pub const NEW_ENVIRON: u8 = 39;
}

/// Bytes of one subnegotiation kept; the rest is dropped and flagged.
pub const MAX_SUB: usize = 512;
/// Environment variables one NEW-ENVIRON answer may contribute.
pub const MAX_ENV_VARS: usize = 16;
/// Characters kept of a variable name or a short value (terminal type, speed, display).
pub const MAX_NAME: usize = 64;
/// Characters kept of an environment value.
pub const MAX_VALUE: usize = 256;

/// An option verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `WILL`.
    Will,
    /// `WONT`.
    Wont,
    /// `DO`.
    Do,
    /// `DONT`.
    Dont,
}

impl Verb {
    fn of(b: u8) -> Option<Verb> {
        match b {
            WILL => Some(Verb::Will),
            WONT => Some(Verb::Wont),
            DO => Some(Verb::Do),
            DONT => Some(Verb::Dont),
            _ => None,
        }
    }

    /// The verb's byte.
    pub fn byte(self) -> u8 {
        match self {
            Verb::Will => WILL,
            Verb::Wont => WONT,
            Verb::Do => DO,
            Verb::Dont => DONT,
        }
    }
}

/// One thing a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// NVT data: `IAC IAC` is one 0xFF, and the Enter key's `CR LF` or `CR NUL` is one `CR`.
    Data(Vec<u8>),
    /// An option verb.
    Negotiate(Verb, u8),
    /// A two-byte command (`IAC IP`, `IAC AYT`, …); `IAC SE` outside a subnegotiation is dropped.
    Command(u8),
    /// A subnegotiation, `IAC IAC` inside it unescaped.
    Sub {
        /// The option it is about.
        option: u8,
        /// Its bytes after the option code, at most [`MAX_SUB`].
        payload: Vec<u8>,
        /// More bytes came than were kept.
        truncated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    Iac,
    Verb(Verb),
    SubOption,
    Sub,
    SubIac,
}

/// Splits a client's byte stream into [`Item`]s. Keeps its state across
/// reads, so an `IAC` sequence or a `CR LF` split between two reads is whole.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    state: State,
    after_cr: bool,
    sub_option: u8,
    sub: Vec<u8>,
    sub_truncated: bool,
}

impl Parser {
    /// A parser at the start of a connection.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses the next bytes of the stream.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Item> {
        let mut items = Vec::new();
        let mut data = Vec::new();
        for &b in input {
            self.byte(b, &mut data, &mut items);
        }
        if !data.is_empty() {
            items.push(Item::Data(data));
        }
        items
    }

    fn byte(&mut self, b: u8, data: &mut Vec<u8>, items: &mut Vec<Item>) {
        match self.state {
            State::Data => {
                if b == IAC {
                    self.after_cr = false;
                    self.state = State::Iac;
                    return;
                }
                if self.after_cr && (b == 0 || b == b'\n') {
                    self.after_cr = false;
                    return;
                }
                self.after_cr = b == b'\r';
                data.push(b);
            }
            State::Iac => {
                self.state = State::Data;
                if b == IAC {
                    data.push(IAC);
                    return;
                }
                let item = if let Some(v) = Verb::of(b) {
                    self.state = State::Verb(v);
                    None
                } else if b == SB {
                    self.state = State::SubOption;
                    None
                } else if b == SE {
                    None
                } else {
                    Some(Item::Command(b))
                };
                if let Some(item) = item {
                    flush(data, items);
                    items.push(item);
                }
            }
            State::Verb(v) => {
                self.state = State::Data;
                flush(data, items);
                items.push(Item::Negotiate(v, b));
            }
            State::SubOption => {
                self.sub_option = b;
                self.sub.clear();
                self.sub_truncated = false;
                self.state = State::Sub;
            }
            State::Sub => {
                if b == IAC {
                    self.state = State::SubIac;
                } else {
                    self.sub_push(b);
                }
            }
            State::SubIac => {
                if b == IAC {
                    self.sub_push(IAC);
                    self.state = State::Sub;
                    return;
                }
                // `IAC SE` ends it; any other command ends it too (BSD telnetd's
                // "bad form of suboption") and is then taken as a command.
                flush(data, items);
                items.push(Item::Sub {
                    option: self.sub_option,
                    payload: std::mem::take(&mut self.sub),
                    truncated: self.sub_truncated,
                });
                self.state = State::Data;
                if b != SE {
                    self.state = State::Iac;
                    self.byte(b, data, items);
                }
            }
        }
    }

    fn sub_push(&mut self, b: u8) {
        if self.sub.len() < MAX_SUB {
            self.sub.push(b);
        } else {
            self.sub_truncated = true;
        }
    }
}

fn flush(data: &mut Vec<u8>, items: &mut Vec<Item>) {
    if !data.is_empty() {
        items.push(Item::Data(std::mem::take(data)));
    }
}

/// What a subnegotiation told about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubInfo {
    /// `TTYPE IS name`.
    TerminalType(String),
    /// `NAWS`: columns and rows.
    WindowSize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// `TSPEED IS transmit,receive`.
    Speed(String),
    /// `XDISPLOC IS host:display`.
    XDisplay(String),
    /// `NEW-ENVIRON IS|INFO` (or the old option): variables and their values.
    Environ(Vec<(String, String)>),
}

/// Decodes a subnegotiation telnetd asked for; `None` for any other or a malformed one.
pub fn decode(option: u8, payload: &[u8]) -> Option<SubInfo> {
    match option {
        opt::NAWS => match payload {
            [c0, c1, r0, r1] => Some(SubInfo::WindowSize {
                cols: u16::from_be_bytes([*c0, *c1]),
                rows: u16::from_be_bytes([*r0, *r1]),
            }),
            _ => None,
        },
        opt::TTYPE | opt::TSPEED | opt::XDISPLOC => {
            let (&q, rest) = payload.split_first()?;
            if q != IS {
                return None;
            }
            let s = text(rest, MAX_NAME);
            Some(match option {
                opt::TTYPE => SubInfo::TerminalType(s),
                opt::TSPEED => SubInfo::Speed(s),
                _ => SubInfo::XDisplay(s),
            })
        }
        opt::NEW_ENVIRON | opt::OLD_ENVIRON => {
            let (&q, rest) = payload.split_first()?;
            if q != IS && q != INFO {
                return None;
            }
            Some(SubInfo::Environ(environ(rest)))
        }
        _ => None,
    }
}

/// NEW-ENVIRON's `VAR`, `USERVAR`, `VALUE` and `ESC` codes.
const ENV_VAR: u8 = 0;
const ENV_VALUE: u8 = 1;
const ENV_ESC: u8 = 2;
const ENV_USERVAR: u8 = 3;

/// The variables of a NEW-ENVIRON list (RFC 1572): `VAR|USERVAR name [VALUE value]`…
fn environ(mut b: &[u8]) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    while let Some((&kind, rest)) = b.split_first() {
        b = rest;
        if kind != ENV_VAR && kind != ENV_USERVAR {
            continue;
        }
        let (name, rest, stop) = env_part(b);
        b = rest;
        let mut value = Vec::new();
        if stop == Some(ENV_VALUE) {
            let (v, rest, _) = env_part(b);
            value = v;
            b = rest;
        }
        if vars.len() < MAX_ENV_VARS {
            vars.push((text(&name, MAX_NAME), text(&value, MAX_VALUE)));
        }
    }
    vars
}

/// One name or value: bytes up to the next unescaped code, that code (consumed
/// when it is `VALUE`), and what is left.
fn env_part(mut b: &[u8]) -> (Vec<u8>, &[u8], Option<u8>) {
    let mut out = Vec::new();
    while let Some((&c, rest)) = b.split_first() {
        match c {
            ENV_ESC => {
                if let Some((&e, rest)) = rest.split_first() {
                    out.push(e);
                    b = rest;
                } else {
                    b = rest;
                }
            }
            ENV_VALUE => return (out, rest, Some(c)),
            ENV_VAR | ENV_USERVAR => return (out, b, Some(c)),
            _ => {
                out.push(c);
                b = rest;
            }
        }
    }
    (out, b, None)
}

/// Text for an event: lossy UTF-8, control characters dropped, at most `cap` characters.
fn text(b: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(cap)
        .collect()
}

/// Options the server lets the client enable on its side (its `DO` answer to a `WILL`).
const HIS_OK: [u8; 9] = [
    opt::BINARY,
    opt::SGA,
    opt::TTYPE,
    opt::NAWS,
    opt::TSPEED,
    opt::LFLOW,
    opt::XDISPLOC,
    opt::OLD_ENVIRON,
    opt::NEW_ENVIRON,
];
/// Options the server enables on its own side when asked.
const MY_OK: [u8; 4] = [opt::BINARY, opt::ECHO, opt::SGA, opt::STATUS];

#[derive(Debug, Clone, Copy, Default)]
struct Side {
    on: bool,
    /// We sent DO/WILL and wait for the answer.
    asked: bool,
}

/// Both sides' state of every option, answering the client as telnetd does
/// (RFC 1143's rule: answer only a request that changes state, so two agents
/// never loop).
#[derive(Debug, Clone)]
pub struct Options {
    his: Vec<Side>,
    mine: Vec<Side>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            his: vec![Side::default(); 256],
            mine: vec![Side::default(); 256],
        }
    }
}

impl Options {
    /// Every option off, nothing asked.
    pub fn new() -> Options {
        Options::default()
    }

    fn his_mut(&mut self, o: u8) -> Option<&mut Side> {
        self.his.get_mut(usize::from(o))
    }

    fn mine_mut(&mut self, o: u8) -> Option<&mut Side> {
        self.mine.get_mut(usize::from(o))
    }

    /// Whether the client has the option on.
    pub fn his(&self, o: u8) -> bool {
        self.his.get(usize::from(o)).is_some_and(|s| s.on)
    }

    /// Whether the server has the option on.
    pub fn mine(&self, o: u8) -> bool {
        self.mine.get(usize::from(o)).is_some_and(|s| s.on)
    }

    /// Whether the client has answered the server's `DO` (or was never asked).
    pub fn his_settled(&self, o: u8) -> bool {
        self.his.get(usize::from(o)).is_none_or(|s| !s.asked)
    }

    /// Whether the client has answered the server's `WILL` (or it was never offered).
    pub fn mine_settled(&self, o: u8) -> bool {
        self.mine.get(usize::from(o)).is_none_or(|s| !s.asked)
    }

    /// Sends `DO o` unless it is on or already asked.
    pub fn ask(&mut self, o: u8, out: &mut Vec<u8>) {
        if let Some(s) = self.his_mut(o) {
            if !s.on && !s.asked {
                s.asked = true;
                out.extend_from_slice(&[IAC, DO, o]);
            }
        }
    }

    /// Sends `WILL o` unless it is on or already offered.
    pub fn offer(&mut self, o: u8, out: &mut Vec<u8>) {
        if let Some(s) = self.mine_mut(o) {
            if !s.on && !s.asked {
                s.asked = true;
                out.extend_from_slice(&[IAC, WILL, o]);
            }
        }
    }

    /// Answers one verb from the client into `out` (at most three bytes).
    pub fn receive(&mut self, verb: Verb, o: u8, out: &mut Vec<u8>) {
        let reply = match verb {
            Verb::Will => self.his_mut(o).and_then(|s| {
                if s.on {
                    s.asked = false;
                    None
                } else if o == opt::ECHO {
                    // A client that would echo for the server is an old 4.2 BSD
                    // one: telnetd tells it not to.
                    s.asked = false;
                    Some(DONT)
                } else if s.asked || HIS_OK.contains(&o) {
                    let asked = s.asked;
                    s.on = true;
                    s.asked = false;
                    (!asked).then_some(DO)
                } else {
                    Some(DONT)
                }
            }),
            Verb::Wont => self.his_mut(o).and_then(|s| {
                let was_on = s.on && !s.asked;
                s.on = false;
                s.asked = false;
                was_on.then_some(DONT)
            }),
            Verb::Do => {
                if o == opt::TM {
                    // A timing mark is answered every time and never stays on.
                    Some(WILL)
                } else {
                    self.mine_mut(o).and_then(|s| {
                        if s.on {
                            s.asked = false;
                            None
                        } else if s.asked || MY_OK.contains(&o) {
                            let asked = s.asked;
                            s.on = true;
                            s.asked = false;
                            (!asked).then_some(WILL)
                        } else {
                            Some(WONT)
                        }
                    })
                }
            }
            Verb::Dont => self.mine_mut(o).and_then(|s| {
                let was_on = s.on && !s.asked;
                s.on = false;
                s.asked = false;
                was_on.then_some(WONT)
            }),
        };
        if let Some(v) = reply {
            out.extend_from_slice(&[IAC, v, o]);
        }
    }
}

/// Prepares bytes for the wire as telnetd sends terminal output: 0xFF doubled,
/// and a `CR` not followed by `LF` sent as `CR NUL` (RFC 854's bare carriage return).
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    let mut it = data.iter().peekable();
    while let Some(&b) = it.next() {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        } else if b == b'\r' && it.peek() != Some(&&b'\n') {
            out.push(0);
        }
    }
    out
}

/// A subnegotiation asking the client to send its value of `o`.
pub fn send_request(o: u8) -> [u8; 6] {
    [IAC, SB, o, SEND, IAC, SE]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the netkit telnet client answers to Linux telnetd's first four DOs,
    /// then to its subnegotiation requests (recorded from `telnet` 0.17 with TERM=xterm).
    const NETKIT_ANSWERS: &[u8] = b"\xff\xfb\x18\xff\xfb\x20\xff\xfb\x23\xff\xfb\x27";
    const NETKIT_SUBS: &[u8] = b"\xff\xfa\x20\x0038400,38400\xff\xf0\
\xff\xfa\x23\x00host:0\xff\xf0\
\xff\xfa\x27\x00\x00USER\x01alice\x00DISPLAY\x01host:0\xff\xf0\
\xff\xfa\x18\x00XTERM\xff\xf0";

    fn all(input: &[u8]) -> Vec<Item> {
        Parser::new().feed(input)
    }

    #[test]
    fn the_clients_answers_and_subnegotiations_are_read() {
        let items = all(NETKIT_ANSWERS);
        assert_eq!(
            items,
            vec![
                Item::Negotiate(Verb::Will, opt::TTYPE),
                Item::Negotiate(Verb::Will, opt::TSPEED),
                Item::Negotiate(Verb::Will, opt::XDISPLOC),
                Item::Negotiate(Verb::Will, opt::NEW_ENVIRON),
            ]
        );
        let subs: Vec<SubInfo> = all(NETKIT_SUBS)
            .into_iter()
            .filter_map(|i| match i {
                Item::Sub {
                    option, payload, ..
                } => decode(option, &payload),
                _ => None,
            })
            .collect();
        assert_eq!(
            subs,
            vec![
                SubInfo::Speed("38400,38400".into()),
                SubInfo::XDisplay("host:0".into()),
                SubInfo::Environ(vec![
                    ("USER".into(), "alice".into()),
                    ("DISPLAY".into(), "host:0".into())
                ]),
                SubInfo::TerminalType("XTERM".into()),
            ]
        );
    }

    #[test]
    fn naws_with_an_escaped_255_is_the_window_size() {
        // 255 columns travel as IAC IAC inside the subnegotiation.
        let items = all(b"\xff\xfa\x1f\x00\xff\xff\x00\x18\xff\xf0");
        let Some(Item::Sub {
            option, payload, ..
        }) = items.first()
        else {
            panic!("{items:?}")
        };
        assert_eq!(
            decode(*option, payload),
            Some(SubInfo::WindowSize {
                cols: 255,
                rows: 24
            })
        );
    }

    #[test]
    fn enter_is_one_cr_whether_cr_lf_or_cr_nul_and_iac_iac_is_data() {
        assert_eq!(all(b"ls\r\n"), vec![Item::Data(b"ls\r".to_vec())]);
        assert_eq!(all(b"ls\r\0"), vec![Item::Data(b"ls\r".to_vec())]);
        assert_eq!(all(b"a\nb"), vec![Item::Data(b"a\nb".to_vec())]);
        assert_eq!(all(b"\xff\xff"), vec![Item::Data(vec![0xff])]);
        // Split across reads, the CR's companion is still dropped.
        let mut p = Parser::new();
        assert_eq!(p.feed(b"id\r"), vec![Item::Data(b"id\r".to_vec())]);
        assert_eq!(p.feed(b"\0w"), vec![Item::Data(b"w".to_vec())]);
    }

    #[test]
    fn commands_between_data_keep_their_place() {
        assert_eq!(
            all(b"ab\xff\xf4cd\xff\xf0"),
            vec![
                Item::Data(b"ab".to_vec()),
                Item::Command(IP),
                Item::Data(b"cd".to_vec())
            ]
        );
    }

    #[test]
    fn an_oversize_subnegotiation_is_capped_and_flagged() {
        let mut input = b"\xff\xfa\x18\x00".to_vec();
        input.extend(std::iter::repeat_n(b'A', 10_000));
        input.extend_from_slice(b"\xff\xf0ok");
        let items = all(&input);
        match items.as_slice() {
            [Item::Sub {
                payload, truncated, ..
            }, Item::Data(d)] => {
                assert_eq!(payload.len(), MAX_SUB);
                assert!(truncated);
                assert_eq!(d, b"ok");
            }
            other => panic!("{other:?}"),
        }
        let Some(SubInfo::TerminalType(t)) = decode(opt::TTYPE, &input[3..3 + MAX_SUB]) else {
            panic!()
        };
        assert_eq!(t.len(), MAX_NAME);
    }

    #[test]
    fn a_command_inside_a_subnegotiation_ends_it() {
        assert_eq!(
            all(b"\xff\xfa\x18\x00vt\xff\xfd\x01"),
            vec![
                Item::Sub {
                    option: opt::TTYPE,
                    payload: b"\x00vt".to_vec(),
                    truncated: false
                },
                Item::Negotiate(Verb::Do, opt::ECHO),
            ]
        );
    }

    #[test]
    fn answers_follow_telnetd_and_never_loop() {
        let mut o = Options::new();
        let mut out = Vec::new();
        o.ask(opt::TTYPE, &mut out);
        o.ask(opt::TTYPE, &mut out);
        assert_eq!(out, [IAC, DO, opt::TTYPE], "asked once");
        out.clear();
        o.receive(Verb::Will, opt::TTYPE, &mut out);
        assert!(out.is_empty(), "an answer is not answered");
        assert!(o.his(opt::TTYPE) && o.his_settled(opt::TTYPE));
        o.receive(Verb::Will, opt::TTYPE, &mut out);
        assert!(out.is_empty(), "no change, no answer");
        // Unasked: what telnetd supports is accepted, the rest refused.
        o.receive(Verb::Will, opt::NAWS, &mut out);
        o.receive(Verb::Will, opt::LINEMODE, &mut out);
        o.receive(Verb::Do, opt::SGA, &mut out);
        o.receive(Verb::Do, 99, &mut out);
        o.receive(Verb::Do, opt::TM, &mut out);
        assert_eq!(
            out,
            [
                IAC,
                DO,
                opt::NAWS,
                IAC,
                DONT,
                opt::LINEMODE,
                IAC,
                WILL,
                opt::SGA,
                IAC,
                WONT,
                99,
                IAC,
                WILL,
                opt::TM
            ]
        );
        out.clear();
        // A refusal of what was asked is not answered; turning off what was on is.
        o.ask(opt::XDISPLOC, &mut out);
        out.clear();
        o.receive(Verb::Wont, opt::XDISPLOC, &mut out);
        assert!(out.is_empty());
        assert!(o.his_settled(opt::XDISPLOC) && !o.his(opt::XDISPLOC));
        o.receive(Verb::Wont, opt::NAWS, &mut out);
        assert_eq!(out, [IAC, DONT, opt::NAWS]);
        out.clear();
        o.receive(Verb::Wont, opt::NAWS, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn output_doubles_iac_and_pads_a_bare_cr() {
        assert_eq!(escape(b"a\xffb"), b"a\xff\xffb");
        assert_eq!(escape(b"x\r\ny\rz\r"), b"x\r\ny\r\0z\r\0");
    }

    fn merged(items: Vec<Item>) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::new();
        for i in items {
            match (out.last_mut(), i) {
                (Some(Item::Data(a)), Item::Data(b)) => a.extend(b),
                (_, i) => out.push(i),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_output_is_bounded(
            input in proptest::collection::vec(any::<u8>(), 0..4096),
            cut in 0usize..4096,
        ) {
            let items = all(&input);
            prop_assert!(items.len() <= input.len());
            let mut data = 0;
            let mut o = Options::new();
            let mut replies = Vec::new();
            let mut verbs = 0;
            for i in &items {
                match i {
                    Item::Data(d) => data += d.len(),
                    Item::Sub { option, payload, .. } => {
                        prop_assert!(payload.len() <= MAX_SUB);
                        if let Some(SubInfo::Environ(v)) = decode(*option, payload) {
                            prop_assert!(v.len() <= MAX_ENV_VARS);
                        }
                    }
                    Item::Negotiate(v, opt) => {
                        verbs += 1;
                        o.receive(*v, *opt, &mut replies);
                    }
                    Item::Command(_) => {}
                }
            }
            prop_assert!(data <= input.len());
            prop_assert!(replies.len() <= 3 * verbs);
            // However the client split its writes, the same items come out.
            let cut = cut.min(input.len());
            let mut p = Parser::new();
            let mut split = p.feed(&input[..cut]);
            split.extend(p.feed(&input[cut..]));
            prop_assert_eq!(merged(split), merged(items));
        }

        #[test]
        fn any_subnegotiation_payload_decodes_without_panic(
            option in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            match decode(option, &payload) {
                Some(SubInfo::TerminalType(s) | SubInfo::Speed(s) | SubInfo::XDisplay(s)) => {
                    prop_assert!(s.chars().count() <= MAX_NAME);
                    prop_assert!(!s.chars().any(char::is_control));
                }
                Some(SubInfo::Environ(v)) => {
                    prop_assert!(v.len() <= MAX_ENV_VARS);
                    for (n, val) in v {
                        prop_assert!(n.chars().count() <= MAX_NAME);
                        prop_assert!(val.chars().count() <= MAX_VALUE);
                    }
                }
                _ => {}
            }
        }
    }
}

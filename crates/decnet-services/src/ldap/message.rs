//! LDAPMessage (RFC 4511 §4) decoding into typed requests, filters and their
//! RFC 4515 text, and the response encoders. Sans-IO.
//!
//! What slapd does with a message decides the variant: bytes liblber cannot
//! decode close the connection without a word ([`Decoded::Garbage`]); a
//! message that decodes but names no operation slapd knows gets the Notice of
//! Disconnection ([`Decoded::Unknown`]).

use super::ber::{self, tag, BerError, Lengths, Reader, Writer};

/// slapd's `olcMaxFilterDepth` default: a deeper filter ends the connection.
pub const MAX_FILTER_DEPTH: usize = 1000;
/// Most attributes a search may select.
pub const MAX_ATTRS: usize = 1000;

/// Application tags of the operations.
pub mod op {
    /// BindRequest.
    pub const BIND: u8 = 0x60;
    /// BindResponse.
    pub const BIND_RESPONSE: u8 = 0x61;
    /// UnbindRequest.
    pub const UNBIND: u8 = 0x42;
    /// SearchRequest.
    pub const SEARCH: u8 = 0x63;
    /// SearchResultEntry.
    pub const SEARCH_ENTRY: u8 = 0x64;
    /// SearchResultDone.
    pub const SEARCH_DONE: u8 = 0x65;
    /// ModifyRequest.
    pub const MODIFY: u8 = 0x66;
    /// ModifyResponse.
    pub const MODIFY_RESPONSE: u8 = 0x67;
    /// AddRequest.
    pub const ADD: u8 = 0x68;
    /// AddResponse.
    pub const ADD_RESPONSE: u8 = 0x69;
    /// DelRequest.
    pub const DEL: u8 = 0x4a;
    /// DelResponse.
    pub const DEL_RESPONSE: u8 = 0x6b;
    /// ModifyDNRequest.
    pub const MODDN: u8 = 0x6c;
    /// ModifyDNResponse.
    pub const MODDN_RESPONSE: u8 = 0x6d;
    /// CompareRequest.
    pub const COMPARE: u8 = 0x6e;
    /// CompareResponse.
    pub const COMPARE_RESPONSE: u8 = 0x6f;
    /// AbandonRequest.
    pub const ABANDON: u8 = 0x50;
    /// ExtendedRequest.
    pub const EXTENDED: u8 = 0x77;
    /// ExtendedResponse.
    pub const EXTENDED_RESPONSE: u8 = 0x78;
}

/// Result codes used here (RFC 4511 §4.1.9).
pub mod code {
    /// success.
    pub const SUCCESS: i64 = 0;
    /// operationsError.
    pub const OPERATIONS_ERROR: i64 = 1;
    /// protocolError.
    pub const PROTOCOL_ERROR: i64 = 2;
    /// sizeLimitExceeded.
    pub const SIZE_LIMIT_EXCEEDED: i64 = 4;
    /// compareFalse.
    pub const COMPARE_FALSE: i64 = 5;
    /// compareTrue.
    pub const COMPARE_TRUE: i64 = 6;
    /// authMethodNotSupported.
    pub const AUTH_METHOD_NOT_SUPPORTED: i64 = 7;
    /// strongerAuthRequired.
    pub const STRONGER_AUTH_REQUIRED: i64 = 8;
    /// saslBindInProgress.
    pub const SASL_BIND_IN_PROGRESS: i64 = 14;
    /// noSuchObject.
    pub const NO_SUCH_OBJECT: i64 = 32;
    /// invalidDNSyntax.
    pub const INVALID_DN_SYNTAX: i64 = 34;
    /// inappropriateAuthentication.
    pub const INAPPROPRIATE_AUTH: i64 = 48;
    /// invalidCredentials.
    pub const INVALID_CREDENTIALS: i64 = 49;
    /// insufficientAccessRights.
    pub const INSUFFICIENT_ACCESS: i64 = 50;
    /// unwillingToPerform.
    pub const UNWILLING: i64 = 53;
}

/// The credentials of a BindRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `simple [0]`: a password (empty for anonymous).
    Simple(Vec<u8>),
    /// `sasl [3]`: mechanism and optional credentials.
    Sasl {
        /// Mechanism name.
        mechanism: String,
        /// Credentials, when sent.
        credentials: Option<Vec<u8>>,
    },
    /// Microsoft's sicily choices: `[9]` package discovery, `[10]` NTLM
    /// NEGOTIATE, `[11]` NTLM AUTHENTICATE.
    Sicily {
        /// The context tag (9, 10 or 11).
        choice: u8,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// Another choice (its tag).
    Other(u8),
}

/// A search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// baseObject.
    Base,
    /// singleLevel.
    One,
    /// wholeSubtree.
    Sub,
}

impl Scope {
    /// As ldapsearch names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "base",
            Scope::One => "one",
            Scope::Sub => "sub",
        }
    }
}

/// A search filter (RFC 4511 §4.5.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `(&…)`.
    And(Vec<Filter>),
    /// `(|…)`.
    Or(Vec<Filter>),
    /// `(!…)`.
    Not(Box<Filter>),
    /// `(a=v)`.
    Equal(String, Vec<u8>),
    /// `(a=x*y*z)`.
    Substrings {
        /// Attribute.
        attr: String,
        /// Leading part.
        initial: Option<Vec<u8>>,
        /// Middle parts.
        any: Vec<Vec<u8>>,
        /// Trailing part.
        last: Option<Vec<u8>>,
    },
    /// `(a>=v)`.
    Greater(String, Vec<u8>),
    /// `(a<=v)`.
    Less(String, Vec<u8>),
    /// `(a=*)`.
    Present(String),
    /// `(a~=v)`.
    Approx(String, Vec<u8>),
    /// `(a:rule:=v)`: never matches here.
    Extensible(String),
    /// A choice slapd does not know: evaluates to Undefined.
    Undefined(u8),
}

fn escape(v: &[u8], out: &mut String) {
    for &b in v {
        match b {
            b'*' | b'(' | b')' | b'\\' | 0 => out.push_str(&format!("\\{b:02x}")),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:02x}")),
        }
    }
}

impl Filter {
    /// The RFC 4515 string (as slapd logs it).
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) {
        match self {
            Filter::And(v) | Filter::Or(v) => {
                s.push_str(if matches!(self, Filter::And(_)) {
                    "(&"
                } else {
                    "(|"
                });
                for f in v {
                    f.write(s);
                }
                s.push(')');
            }
            Filter::Not(f) => {
                s.push_str("(!");
                f.write(s);
                s.push(')');
            }
            _ => self.write_leaf(s),
        }
    }

    #[inline(never)]
    fn write_leaf(&self, s: &mut String) {
        s.push('(');
        match self {
            Filter::And(v) | Filter::Or(v) => {
                s.push(if matches!(self, Filter::And(_)) {
                    '&'
                } else {
                    '|'
                });
                for f in v {
                    f.write(s);
                }
            }
            Filter::Not(f) => {
                s.push('!');
                f.write(s);
            }
            Filter::Equal(a, v)
            | Filter::Greater(a, v)
            | Filter::Less(a, v)
            | Filter::Approx(a, v) => {
                s.push_str(a);
                s.push_str(match self {
                    Filter::Equal(..) => "=",
                    Filter::Greater(..) => ">=",
                    Filter::Less(..) => "<=",
                    _ => "~=",
                });
                escape(v, s);
            }
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            } => {
                s.push_str(attr);
                s.push('=');
                if let Some(i) = initial {
                    escape(i, s);
                }
                s.push('*');
                for a in any {
                    escape(a, s);
                    s.push('*');
                }
                if let Some(l) = last {
                    escape(l, s);
                }
            }
            Filter::Present(a) => {
                s.push_str(a);
                s.push_str("=*");
            }
            Filter::Extensible(t) => s.push_str(t),
            Filter::Undefined(t) => s.push_str(&format!("?={t:#04x}")),
        }
        s.push(')');
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// BindRequest.
    Bind {
        /// Protocol version asked for.
        version: i64,
        /// The DN (or, for AD, any name).
        name: String,
        /// Credentials.
        auth: Auth,
    },
    /// UnbindRequest.
    Unbind,
    /// SearchRequest.
    Search(Search),
    /// AbandonRequest.
    Abandon(i64),
    /// ExtendedRequest.
    Extended {
        /// requestName.
        oid: String,
        /// requestValue.
        value: Option<Vec<u8>>,
    },
    /// Modify, Add, Delete, ModifyDN or Compare: answered, not carried out.
    Update {
        /// Its application tag.
        tag: u8,
        /// The entry it names.
        dn: String,
    },
}

/// A SearchRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// baseObject.
    pub base: String,
    /// Scope, or the bad value sent.
    pub scope: Result<Scope, i64>,
    /// sizeLimit (0: none).
    pub size_limit: i64,
    /// typesOnly.
    pub types_only: bool,
    /// The filter.
    pub filter: Filter,
    /// Attributes asked for.
    pub attrs: Vec<String>,
}

/// What one message decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A request with its message id.
    Request {
        /// messageID.
        id: i64,
        /// The request.
        req: Request,
    },
    /// Decodes, but names no known operation (or breaks one): slapd's Notice
    /// of Disconnection with this text.
    Unknown {
        /// The diagnostic slapd sends.
        text: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Not BER slapd reads: the connection closes silently.
    Garbage(String),
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses one filter. Only and/or/not recurse, through this small frame; the
/// leaves are parsed out of line so a filter at slapd's depth limit fits in a
/// worker thread's stack even unoptimised.
fn filter(r: &mut Reader<'_>, depth: usize) -> Result<Filter, FilterError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(FilterError::TooDeep);
    }
    let (t, c) = r.any()?;
    match t {
        0xa0 | 0xa1 => {
            let mut inner = r.child(c)?;
            let mut v = Vec::new();
            while !inner.is_empty() {
                v.push(filter(&mut inner, depth + 1)?);
            }
            Ok(if t == 0xa0 {
                Filter::And(v)
            } else {
                Filter::Or(v)
            })
        }
        0xa2 => {
            let mut inner = r.child(c)?;
            Ok(Filter::Not(Box::new(filter(&mut inner, depth + 1)?)))
        }
        _ => leaf(r, t, c),
    }
}

#[inline(never)]
fn leaf(r: &Reader<'_>, t: u8, c: &[u8]) -> Result<Filter, FilterError> {
    let ava = |r: &Reader<'_>| -> Result<(String, Vec<u8>), FilterError> {
        let mut a = r.child(c)?;
        let attr = text(a.octets(tag::OCTET_STRING)?);
        let v = a.octets(tag::OCTET_STRING)?.to_vec();
        Ok((attr, v))
    };
    Ok(match t {
        0xa3 => {
            let (a, v) = ava(r)?;
            Filter::Equal(a, v)
        }
        0xa5 => {
            let (a, v) = ava(r)?;
            Filter::Greater(a, v)
        }
        0xa6 => {
            let (a, v) = ava(r)?;
            Filter::Less(a, v)
        }
        0xa8 => {
            let (a, v) = ava(r)?;
            Filter::Approx(a, v)
        }
        0x87 => Filter::Present(text(c)),
        0xa4 => {
            let mut s = r.child(c)?;
            let attr = text(s.octets(tag::OCTET_STRING)?);
            let mut parts = s.enter(tag::SEQUENCE)?;
            let (mut initial, mut any, mut last) = (None, Vec::new(), None);
            while !parts.is_empty() {
                let (pt, pc) = parts.any()?;
                match pt {
                    0x80 => initial = Some(pc.to_vec()),
                    0x81 => any.push(pc.to_vec()),
                    0x82 => last = Some(pc.to_vec()),
                    _ => {
                        return Err(FilterError::Ber(BerError::Unexpected {
                            expected: 0x81,
                            found: pt,
                        }))
                    }
                }
            }
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            }
        }
        0xa9 => {
            let mut m = r.child(c)?;
            let mut rule = String::new();
            let mut attr = String::new();
            let mut value = Vec::new();
            while !m.is_empty() {
                let (mt, mc) = m.any()?;
                match mt {
                    0x81 => rule = text(mc),
                    0x82 => attr = text(mc),
                    0x83 => value = mc.to_vec(),
                    _ => {}
                }
            }
            let mut s = attr;
            if !rule.is_empty() {
                s.push(':');
                s.push_str(&rule);
            }
            s.push_str(":=");
            escape(&value, &mut s);
            Filter::Extensible(s)
        }
        other => Filter::Undefined(other),
    })
}

#[derive(Debug)]
enum FilterError {
    TooDeep,
    Ber(BerError),
}

impl From<BerError> for FilterError {
    fn from(e: BerError) -> Self {
        FilterError::Ber(e)
    }
}

/// Decodes one whole message (`bytes` is exactly one element, as [`ber::frame`] sized it).
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut top = Reader::new(bytes);
    let mut m = match top.enter(tag::SEQUENCE) {
        Ok(m) => m,
        Err(e) => return Decoded::Garbage(format!("not an LDAPMessage: {e}")),
    };
    let id = match m.int(tag::INTEGER) {
        Ok(id) if (1..=i64::from(i32::MAX)).contains(&id) => id,
        // slapd drops a message id of 0 or out of range without a word.
        Ok(id) => return Decoded::Garbage(format!("message id {id}")),
        Err(e) => return Decoded::Garbage(format!("message id: {e}")),
    };
    let (t, c) = match m.any() {
        Ok(x) => x,
        Err(e) => return Decoded::Garbage(format!("operation: {e}")),
    };
    let unknown = |reason: String| Decoded::Unknown {
        text: "unknown LDAP request",
        reason,
    };
    let decoding = |e: BerError, what: &str| Decoded::Garbage(format!("{what}: {e}"));
    let req = match t {
        op::BIND => match bind(&m, c) {
            Ok(r) => r,
            Err(e) => return decoding(e, "bind"),
        },
        op::UNBIND => Request::Unbind,
        op::ABANDON => match ber::decode_int(c) {
            Ok(n) => Request::Abandon(n),
            Err(e) => return decoding(e, "abandon"),
        },
        op::SEARCH => match search(&m, c) {
            Ok(s) => Request::Search(s),
            Err(FilterError::TooDeep) => {
                return Decoded::Unknown {
                    text: "filter nested too deeply",
                    reason: "filter nested too deeply".into(),
                }
            }
            Err(FilterError::Ber(e)) => return decoding(e, "search"),
        },
        op::EXTENDED => {
            let mut x = match m.child(c) {
                Ok(x) => x,
                Err(e) => return decoding(e, "extended"),
            };
            let oid = match x.octets(0x80) {
                Ok(o) => text(o),
                Err(e) => return decoding(e, "extended"),
            };
            let value = x.octets(0x81).ok().map(<[u8]>::to_vec);
            Request::Extended { oid, value }
        }
        op::DEL => Request::Update {
            tag: t,
            dn: text(c),
        },
        op::MODIFY | op::ADD | op::MODDN | op::COMPARE => {
            let dn = m
                .child(c)
                .and_then(|mut x| x.octets(tag::OCTET_STRING).map(text))
                .unwrap_or_default();
            Request::Update { tag: t, dn }
        }
        other => return unknown(format!("operation tag {other:#04x}")),
    };
    Decoded::Request { id, req }
}

fn bind(m: &Reader<'_>, c: &[u8]) -> Result<Request, BerError> {
    let mut b = m.child(c)?;
    let version = b.int(tag::INTEGER)?;
    let name = text(b.octets(tag::OCTET_STRING)?);
    let (t, ac) = b.any()?;
    let auth = match t {
        0x80 => Auth::Simple(ac.to_vec()),
        0xa3 => {
            let mut s = b.child(ac)?;
            let mechanism = text(s.octets(tag::OCTET_STRING)?);
            let credentials = s.octets(tag::OCTET_STRING).ok().map(<[u8]>::to_vec);
            Auth::Sasl {
                mechanism,
                credentials,
            }
        }
        0x89..=0x8b => Auth::Sicily {
            choice: t & 0x1f,
            data: ac.to_vec(),
        },
        other => Auth::Other(other),
    };
    Ok(Request::Bind {
        version,
        name,
        auth,
    })
}

/// Whether the filter `b` starts with nests and/or/not past
/// [`MAX_FILTER_DEPTH`], found without recursion so no input can exhaust the stack.
fn too_deep(b: &[u8]) -> bool {
    let first = match ber::header(b) {
        Ok((_, h, len)) => b.get(..h.saturating_add(len)).unwrap_or(b),
        Err(_) => return false,
    };
    let mut stack: Vec<&[u8]> = vec![first];
    while let Some(top) = stack.last_mut() {
        if top.is_empty() {
            stack.pop();
            continue;
        }
        let Ok((t, h, len)) = ber::header(top) else {
            return false;
        };
        let Some(content) = top.get(h..h.saturating_add(len)) else {
            return false;
        };
        *top = top.get(h + len..).unwrap_or_default();
        if matches!(t, 0xa0..=0xa2) {
            if stack.len() > MAX_FILTER_DEPTH {
                return true;
            }
            stack.push(content);
        }
    }
    false
}

fn search(m: &Reader<'_>, c: &[u8]) -> Result<Search, FilterError> {
    let mut s = m.child(c)?;
    let base = text(s.octets(tag::OCTET_STRING)?);
    let scope = match s.int(tag::ENUMERATED)? {
        0 => Ok(Scope::Base),
        1 => Ok(Scope::One),
        2 => Ok(Scope::Sub),
        n => Err(n),
    };
    let _deref = s.int(tag::ENUMERATED)?;
    let size_limit = s.int(tag::INTEGER)?;
    let _time_limit = s.int(tag::INTEGER)?;
    let types_only = s.boolean()?;
    if too_deep(s.rest()) {
        return Err(FilterError::TooDeep);
    }
    let filter = filter(&mut s, 0)?;
    let mut list = s.enter(tag::SEQUENCE)?;
    let mut attrs = Vec::new();
    while !list.is_empty() {
        let a = text(list.octets(tag::OCTET_STRING)?);
        if attrs.len() < MAX_ATTRS {
            attrs.push(a);
        }
    }
    Ok(Search {
        base,
        scope,
        size_limit,
        types_only,
        filter,
        attrs,
    })
}

/// An LDAPResult-shaped response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// The operation tag of the response.
    pub op: u8,
    /// resultCode.
    pub code: i64,
    /// matchedDN.
    pub matched: &'a str,
    /// diagnosticMessage.
    pub text: &'a str,
    /// Trailing elements (serverSaslCreds `[7]`, responseName `[10]`) already encoded.
    pub extra: &'a [(u8, &'a [u8])],
}

/// Encodes a response of message `id`.
pub fn response(lengths: Lengths, id: i64, r: &Response<'_>) -> Vec<u8> {
    let mut w = Writer::new(lengths);
    w.open(tag::SEQUENCE).int(tag::INTEGER, id).open(r.op);
    w.int(tag::ENUMERATED, r.code)
        .octets(r.matched)
        .octets(r.text);
    for (t, v) in r.extra {
        w.prim(*t, v);
    }
    w.finish()
}

/// slapd's Notice of Disconnection (message id 0, protocolError, responseName 1.3.6.1.4.1.1466.20036).
pub fn notice_of_disconnection(lengths: Lengths, text: &str) -> Vec<u8> {
    response(
        lengths,
        0,
        &Response {
            op: op::EXTENDED_RESPONSE,
            code: code::PROTOCOL_ERROR,
            matched: "",
            text,
            extra: &[(0x8a, b"1.3.6.1.4.1.1466.20036")],
        },
    )
}

/// Encodes a SearchResultEntry.
pub fn entry(lengths: Lengths, id: i64, dn: &str, attrs: &[(&str, Vec<&[u8]>)]) -> Vec<u8> {
    let mut w = Writer::new(lengths);
    w.open(tag::SEQUENCE)
        .int(tag::INTEGER, id)
        .open(op::SEARCH_ENTRY)
        .octets(dn)
        .open(tag::SEQUENCE);
    for (name, values) in attrs {
        w.open(tag::SEQUENCE).octets(name).open(tag::SET);
        for v in values {
            w.octets(v);
        }
        w.close().close();
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nmaps_search_request_decodes() {
        let b = b"\x30\x84\x00\x00\x00\x2d\x02\x01\x07\x63\x84\x00\x00\x00\x24\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x64\x01\x01\x00\x87\x0b\x6f\x62\x6a\x65\x63\x74\x43\x6c\x61\x73\x73\x30\x84\x00\x00\x00\x00";
        let Decoded::Request {
            id,
            req: Request::Search(s),
        } = decode(b)
        else {
            panic!("{:?}", decode(b))
        };
        assert_eq!(id, 7);
        assert_eq!(
            (s.base.as_str(), s.scope, s.size_limit),
            ("", Ok(Scope::Base), 0)
        );
        assert_eq!(s.filter.text(), "(objectClass=*)");
        assert!(s.attrs.is_empty());
    }

    #[test]
    fn filters_print_as_rfc4515() {
        let f = Filter::And(vec![
            Filter::Or(vec![
                Filter::Equal("uid".into(), b"a(b)*".to_vec()),
                Filter::Present("mail".into()),
            ]),
            Filter::Not(Box::new(Filter::Substrings {
                attr: "cn".into(),
                initial: Some(b"Jo".to_vec()),
                any: vec![b"n".to_vec()],
                last: Some(b"s".to_vec()),
            })),
        ]);
        assert_eq!(f.text(), "(&(|(uid=a\\28b\\29\\2a)(mail=*))(!(cn=Jo*n*s)))");
    }

    #[test]
    fn an_unknown_operation_is_a_notice_and_a_bad_element_is_garbage() {
        assert!(matches!(
            decode(b"\x30\x05\x02\x01\x01\x4f\x00"),
            Decoded::Unknown { .. }
        ));
        assert!(matches!(
            decode(b"\x30\x05\x02\x01\x01\x7f\x00"),
            Decoded::Garbage(_)
        ));
        assert!(matches!(
            decode(b"\x30\x05\x02\x01\x00\x42\x00"),
            Decoded::Garbage(_)
        ));
        assert_eq!(
            notice_of_disconnection(Lengths::Minimal, "unknown LDAP request"),
            b"08\x02\x01\x00x3\n\x01\x02\x04\x00\x04\x14unknown LDAP request\x8a\x161.3.6.1.4.1.1466.20036"
        );
    }

    fn nested_search(depth: usize) -> Vec<u8> {
        let mut w = Writer::new(Lengths::Minimal);
        w.open(tag::SEQUENCE).int(tag::INTEGER, 2).open(op::SEARCH);
        w.octets("").int(tag::ENUMERATED, 0).int(tag::ENUMERATED, 0);
        w.int(tag::INTEGER, 0).int(tag::INTEGER, 0).boolean(false);
        for _ in 0..depth {
            w.open(0xa2);
        }
        w.prim(0x87, b"objectClass");
        for _ in 0..depth {
            w.close();
        }
        w.open(tag::SEQUENCE).close();
        w.finish()
    }

    #[test]
    fn a_filter_at_slapds_depth_limit_is_handled_on_a_worker_sized_stack() {
        // tokio's worker threads have 2 MiB of stack; so does this one.
        let t = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let Decoded::Request {
                    req: Request::Search(s),
                    ..
                } = decode(&nested_search(MAX_FILTER_DEPTH))
                else {
                    panic!("the deepest filter slapd takes is a search");
                };
                assert_eq!(
                    s.filter.text().len(),
                    MAX_FILTER_DEPTH * 3 + "(objectClass=*)".len()
                );
                assert!(matches!(
                    decode(&nested_search(MAX_FILTER_DEPTH + 2)),
                    Decoded::Unknown {
                        text: "filter nested too deeply",
                        ..
                    }
                ));
                assert!(matches!(
                    decode(&nested_search(50_000)),
                    Decoded::Unknown { .. }
                ));
            })
            .unwrap();
        t.join().unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&b);
            let mut framed = vec![0x30, 0x82];
            framed.extend_from_slice(&u16::try_from(b.len()).unwrap().to_be_bytes());
            framed.extend_from_slice(&b);
            let _ = decode(&framed);
        }
    }
}

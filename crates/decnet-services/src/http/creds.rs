//! Credentials in HTTP requests: the `Authorization` header, login forms
//! (urlencoded or JSON, body or query) and WordPress XML-RPC logins.
//!
//! Everything here takes attacker bytes and must return, never panic; secrets
//! keep their exact bytes (percent-decoding can yield invalid UTF-8).

use base64::Engine as _;

/// Form keys that name the user, in the order they are preferred.
pub const PRINCIPAL_KEYS: &[&str] = &[
    "username",
    "user",
    "email",
    "login",
    "userid",
    "account",
    "log",
    "user_login",
    "uname",
    "pma_username",
];

/// Form keys that carry the password, in the order they are preferred.
pub const SECRET_KEYS: &[&str] = &[
    "password",
    "pass",
    "pwd",
    "passwd",
    "passwort",
    "mot_de_passe",
    "user_password",
    "pma_password",
];

/// Most pairs read from one form; the rest are ignored.
const MAX_PAIRS: usize = 256;

/// What an `Authorization` header carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `Basic` with a decodable `user:password`.
    Basic {
        /// User name, lossy UTF-8.
        user: String,
        /// Exact password bytes.
        password: Vec<u8>,
    },
    /// `Bearer` (or `Token`) with a non-empty token.
    Bearer(Vec<u8>),
    /// `Basic`/`Bearer` whose payload could not be decoded.
    Malformed {
        /// Scheme as sent.
        scheme: String,
    },
    /// Any other scheme (`Digest`, `NTLM`, `Negotiate`, …); recorded, not captured.
    Other {
        /// Scheme as sent.
        scheme: String,
    },
}

impl Authorization {
    /// The scheme as the client spelled it.
    pub fn scheme(&self) -> &str {
        match self {
            Authorization::Basic { .. } => "Basic",
            Authorization::Bearer(_) => "Bearer",
            Authorization::Malformed { scheme } | Authorization::Other { scheme } => scheme,
        }
    }
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &[u8]) -> Authorization {
    let value = trim(value);
    let (scheme, rest) = match value.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(i) => (
            value.get(..i).unwrap_or_default(),
            trim(value.get(i..).unwrap_or_default()),
        ),
        None => (value, &[][..]),
    };
    let scheme_text = String::from_utf8_lossy(scheme).into_owned();
    if scheme.eq_ignore_ascii_case(b"basic") {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let decoded = engines.iter().find_map(|e| e.decode(rest).ok());
        match decoded {
            Some(raw) => match raw.iter().position(|b| *b == b':') {
                Some(i) => Authorization::Basic {
                    user: String::from_utf8_lossy(raw.get(..i).unwrap_or_default()).into_owned(),
                    password: raw.get(i + 1..).unwrap_or_default().to_vec(),
                },
                None => Authorization::Malformed {
                    scheme: scheme_text,
                },
            },
            None => Authorization::Malformed {
                scheme: scheme_text,
            },
        }
    } else if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"token") {
        if rest.is_empty() {
            Authorization::Malformed {
                scheme: scheme_text,
            }
        } else {
            Authorization::Bearer(rest.to_vec())
        }
    } else {
        Authorization::Other {
            scheme: scheme_text,
        }
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A user name and password offered through a login form.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user, lossy UTF-8 (empty when the form had no user field).
    pub principal: String,
    /// Exact password bytes.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Decodes `application/x-www-form-urlencoded` into exact byte pairs.
pub fn parse_form(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .take(MAX_PAIRS)
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(i) => (
                percent_decode(pair.get(..i).unwrap_or_default()),
                percent_decode(pair.get(i + 1..).unwrap_or_default()),
            ),
            None => (percent_decode(pair), Vec::new()),
        })
        .collect()
}

/// Percent-decoding with `+` as space; a `%` not followed by two hex digits stays literal.
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter().copied();
    while let Some(b) = it.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let mut ahead = it.clone();
                match (
                    ahead.next().and_then(hex_val),
                    ahead.next().and_then(hex_val),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        it = ahead;
                    }
                    _ => out.push(b'%'),
                }
            }
            _ => out.push(b),
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The login in decoded form pairs: the first secret key present makes a
/// credential, the first principal key present names its user.
pub fn form_login(pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<Login> {
    let find = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            pairs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k.as_bytes()))
                .map(|(_, v)| v.clone())
        })
    };
    let secret = find(SECRET_KEYS)?;
    let principal = find(PRINCIPAL_KEYS)
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default();
    Some(Login { principal, secret })
}

/// The login in a JSON object body (`{"username": …, "password": …}`).
pub fn json_login(body: &[u8]) -> Option<Login> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let find = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            obj.iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        })
    };
    let secret = find(SECRET_KEYS)?;
    let principal = find(PRINCIPAL_KEYS).unwrap_or_default();
    Some(Login {
        principal,
        secret: secret.into_bytes(),
    })
}

/// Most logins read from one XML-RPC call (a multicall carries hundreds).
const MAX_XMLRPC_LOGINS: usize = 1000;

/// The user and password of an XML-RPC call that takes them as its first two
/// parameters (`wp.getUsersBlogs`, `wp.getProfile`, … as brute-forcers use
/// them); for `system.multicall` the first call's pair.
pub fn xmlrpc_login(body: &[u8]) -> Option<Login> {
    xmlrpc_logins(body).into_iter().next()
}

/// Every user and password pair of an XML-RPC call: one for a `wp.*` call,
/// one per `wp.*` call inside a `system.multicall` (at most 1000).
pub fn xmlrpc_logins(body: &[u8]) -> Vec<Login> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let Some(method) = between(text, "<methodName>", "</methodName>").map(str::trim) else {
        return Vec::new();
    };
    let multicall = method == "system.multicall";
    if !(method.starts_with("wp.") || multicall) {
        return Vec::new();
    }
    let mut out = Vec::new();
    // The string parameters of the call being read; a multicall starts a new
    // call at each string that is the value of a `methodName` member.
    let mut call: Option<Vec<String>> = if multicall { None } else { Some(Vec::new()) };
    let flush = |call: &mut Option<Vec<String>>, out: &mut Vec<Login>| {
        if let Some(values) = call.take() {
            let mut it = values.into_iter();
            if let (Some(principal), Some(secret)) = (it.next(), it.next()) {
                out.push(Login {
                    principal,
                    secret: secret.into_bytes(),
                });
            }
        }
    };
    let mut rest = text;
    while out.len() < MAX_XMLRPC_LOGINS {
        let Some(open) = rest.find("<string>") else {
            break;
        };
        let before = rest.get(..open).unwrap_or_default();
        let after = rest.get(open + "<string>".len()..).unwrap_or_default();
        let Some(close) = after.find("</string>") else {
            break;
        };
        let value = after.get(..close).unwrap_or_default();
        rest = after.get(close + "</string>".len()..).unwrap_or_default();
        if multicall {
            let names_method = before
                .rsplit_once("<name>")
                .is_some_and(|(_, n)| n.trim_start().starts_with("methodName</name>"));
            if names_method {
                flush(&mut call, &mut out);
                if value.trim().starts_with("wp.") {
                    call = Some(Vec::new());
                }
                continue;
            }
        }
        match call.as_mut() {
            Some(values) if values.len() < 2 => values.push(xml_unescape(value)),
            Some(_) if !multicall => break,
            _ => {}
        }
    }
    flush(&mut call, &mut out);
    out
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let tail = s.get(start..)?;
    let end = tail.find(close)?;
    tail.get(..end)
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_gives_user_and_exact_password_bytes() {
        // "admin:s3cr:et" keeps everything after the first colon.
        assert_eq!(
            parse_authorization(b"Basic YWRtaW46czNjcjpldA=="),
            Authorization::Basic {
                user: "admin".into(),
                password: b"s3cr:et".to_vec()
            }
        );
        // Scheme is case-insensitive and unpadded base64 is tolerated.
        assert_eq!(
            parse_authorization(b"basic  YWRtaW46c2VjcmV0"),
            Authorization::Basic {
                user: "admin".into(),
                password: b"secret".to_vec()
            }
        );
        // Non-UTF-8 password bytes survive: "u:\xff\x00".
        assert_eq!(
            parse_authorization(b"Basic dTr/AA=="),
            Authorization::Basic {
                user: "u".into(),
                password: vec![0xff, 0x00]
            }
        );
    }

    #[test]
    fn malformed_basic_is_flagged_not_captured() {
        for bad in [&b"Basic !!!notbase64"[..], b"Basic", b"Basic YWRtaW4="] {
            assert!(
                matches!(parse_authorization(bad), Authorization::Malformed { .. }),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bearer_and_other_schemes() {
        assert_eq!(
            parse_authorization(b"Bearer eyJhbGciOi.x.y"),
            Authorization::Bearer(b"eyJhbGciOi.x.y".to_vec())
        );
        assert!(matches!(
            parse_authorization(b"Bearer "),
            Authorization::Malformed { .. }
        ));
        assert_eq!(
            parse_authorization(b"NTLM TlRMTVNTUAAB"),
            Authorization::Other {
                scheme: "NTLM".into()
            }
        );
    }

    #[test]
    fn form_decoding_is_exact() {
        let pairs = parse_form(b"log=ad%6Din&pwd=a+b%26c%ff%zz%&x");
        assert_eq!(
            pairs,
            vec![
                (b"log".to_vec(), b"admin".to_vec()),
                (b"pwd".to_vec(), b"a b&c\xff%zz%".to_vec()),
                (b"x".to_vec(), vec![]),
            ]
        );
    }

    #[test]
    fn form_login_follows_the_key_lists() {
        let wp = form_login(&parse_form(b"log=admin&pwd=hunter2&wp-submit=Log+In")).unwrap();
        assert_eq!(wp.principal, "admin");
        assert_eq!(wp.secret, b"hunter2");
        let pma = form_login(&parse_form(b"pma_username=root&pma_password=toor&server=1")).unwrap();
        assert_eq!(
            (pma.principal.as_str(), &pma.secret[..]),
            ("root", &b"toor"[..])
        );
        // `username` is preferred over `email` whatever the order in the form.
        let r = form_login(&parse_form(b"email=a@b&username=bob&Password=x")).unwrap();
        assert_eq!((r.principal.as_str(), &r.secret[..]), ("bob", &b"x"[..]));
        // A secret alone still counts; a user alone does not.
        assert_eq!(form_login(&parse_form(b"pass=1234")).unwrap().principal, "");
        assert!(form_login(&parse_form(b"user=bob&q=1")).is_none());
    }

    #[test]
    fn json_login_reads_objects_only() {
        let l = json_login(br#"{"email":"a@b.c","password":"pw","n":1}"#).unwrap();
        assert_eq!((l.principal.as_str(), &l.secret[..]), ("a@b.c", &b"pw"[..]));
        assert!(json_login(b"[1,2]").is_none());
        assert!(json_login(b"{\"password\"").is_none());
    }

    #[test]
    fn xmlrpc_brute_force_calls_are_read() {
        let body = b"<?xml version=\"1.0\"?><methodCall><methodName>wp.getUsersBlogs</methodName>\
            <params><param><value><string>admin</string></value></param>\
            <param><value><string>p&amp;ss</string></value></param></params></methodCall>";
        let l = xmlrpc_login(body).unwrap();
        assert_eq!(
            (l.principal.as_str(), &l.secret[..]),
            ("admin", &b"p&ss"[..])
        );
        let multi = b"<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>\
            <value><struct><member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member>\
            <member><name>params</name><value><array><data><value><string>bob</string></value>\
            <value><string>pw1</string></value></data></array></value></member></struct></value>";
        let l = xmlrpc_login(multi).unwrap();
        assert_eq!((l.principal.as_str(), &l.secret[..]), ("bob", &b"pw1"[..]));
        assert!(xmlrpc_login(b"<methodName>demo.sayHello</methodName>").is_none());
    }

    #[test]
    fn every_pair_of_a_multicall_is_read() {
        let call = |user: &str, pw: &str| {
            format!(
                "<value><struct><member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member>\
                 <member><name>params</name><value><array><data><value><string>{user}</string></value>\
                 <value><string>{pw}</string></value></data></array></value></member></struct></value>"
            )
        };
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>\
             {}{}{}</data></array></value></param></params></methodCall>",
            call("admin", "wp.secret"),
            call("admin", "p&amp;2"),
            call("editor", "123456"),
        );
        let pairs: Vec<(String, Vec<u8>)> = xmlrpc_logins(body.as_bytes())
            .into_iter()
            .map(|l| (l.principal, l.secret))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("admin".into(), b"wp.secret".to_vec()),
                ("admin".into(), b"p&2".to_vec()),
                ("editor".into(), b"123456".to_vec()),
            ]
        );
        // A call that is not a wp.* login inside the multicall gives nothing.
        let other = "<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>\
            <value><struct><member><name>methodName</name><value><string>demo.sayHello</string></value></member>\
            <member><name>params</name><value><array><data><value><string>a</string></value>\
            <value><string>b</string></value></data></array></value></member></struct></value>";
        assert!(xmlrpc_logins(other.as_bytes()).is_empty());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_authorization(&bytes);
            let pairs = parse_form(&bytes);
            prop_assert!(pairs.len() <= MAX_PAIRS);
            let _ = form_login(&pairs);
            let _ = json_login(&bytes);
            let _ = xmlrpc_login(&bytes);
            prop_assert!(xmlrpc_logins(&bytes).len() <= MAX_XMLRPC_LOGINS);
        }

        #[test]
        fn basic_round_trips(user in "[^:]{0,40}", pw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut raw = user.clone().into_bytes();
            raw.push(b':');
            raw.extend_from_slice(&pw);
            let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&raw));
            prop_assert_eq!(
                parse_authorization(header.as_bytes()),
                Authorization::Basic { user, password: pw }
            );
        }

        #[test]
        fn percent_encoding_round_trips(secret in proptest::collection::vec(any::<u8>(), 0..64)) {
            let enc: String = secret.iter().map(|b| format!("%{b:02X}")).collect();
            let l = form_login(&parse_form(format!("user=x&password={enc}").as_bytes())).unwrap();
            prop_assert_eq!(l.secret, secret);
        }
    }
}

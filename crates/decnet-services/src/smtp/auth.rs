//! SASL as SMTP AUTH carries it: PLAIN (RFC 4616), LOGIN (the base64 username and
//! password prompts) and CRAM-MD5 (RFC 2195), decoded into one [`Attempt`] shape.
//! Whether an attempt is let in is decided in one place, [`accepts`].

use base64::Engine as _;
use decnet_core::{Credential, Fields, SecretKind};

/// `334` prompt of AUTH LOGIN for the username (`Username:`).
pub const LOGIN_USER_PROMPT: &str = "VXNlcm5hbWU6";
/// `334` prompt of AUTH LOGIN for the password (`Password:`).
pub const LOGIN_PASS_PROMPT: &str = "UGFzc3dvcmQ6";

/// A mechanism this server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// PLAIN.
    Plain,
    /// LOGIN.
    Login,
    /// CRAM-MD5.
    CramMd5,
}

impl Mechanism {
    /// The mechanism named `s` (upper-case), if offered.
    pub fn parse(s: &str) -> Option<Mechanism> {
        match s {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "CRAM-MD5" => Some(Mechanism::CramMd5),
            _ => None,
        }
    }

    /// Its SASL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
        }
    }
}

/// What a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A plaintext password (PLAIN, LOGIN).
    Password {
        /// The mechanism.
        mechanism: Mechanism,
        /// PLAIN's authorization identity, when not empty.
        authzid: Option<String>,
        /// The user name.
        user: String,
        /// The password's exact bytes.
        password: Vec<u8>,
    },
    /// A CRAM-MD5 response: HMAC-MD5 of the challenge keyed with the password.
    CramMd5 {
        /// The challenge sent (`<random.timestamp@hostname>`).
        challenge: String,
        /// The user name.
        user: String,
        /// The lower-case hex digest.
        digest: String,
    },
}

/// The one place an AUTH attempt is accepted or refused: only a password the
/// bait world lets in on this decky (a person of the world with an account
/// here, or a honeytoken valid here). CRAM-MD5 digests are checked against
/// the passwords the world has for that user.
pub fn accepts(attempt: &Attempt, world: &decnet_core::bait::World, decky: &str) -> bool {
    match attempt {
        Attempt::Password { user, password, .. } => world.accepts(decky, user, password),
        Attempt::CramMd5 {
            challenge,
            user,
            digest,
        } => world
            .passwords_for(decky, user)
            .iter()
            .any(|p| cram_md5(p.as_bytes(), challenge.as_bytes()) == *digest),
    }
}

/// CRAM-MD5's response digest: HMAC-MD5 of the challenge keyed with the password, lower-case hex.
pub fn cram_md5(password: &[u8], challenge: &[u8]) -> String {
    use hmac::Mac as _;
    match hmac::Hmac::<md5::Md5>::new_from_slice(password) {
        Ok(mut mac) => {
            mac.update(challenge);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Decodes a base64 SASL response (`=` is the empty response); `None` when malformed.
pub fn b64(s: &str) -> Option<Vec<u8>> {
    if s == "=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// PLAIN's `authzid NUL authcid NUL passwd`.
pub fn plain(decoded: &[u8]) -> Option<Attempt> {
    let mut parts = decoded.splitn(3, |&b| b == 0);
    let authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    Some(Attempt::Password {
        mechanism: Mechanism::Plain,
        authzid: (!authzid.is_empty()).then(|| String::from_utf8_lossy(authzid).into_owned()),
        user: String::from_utf8_lossy(user).into_owned(),
        password: password.to_vec(),
    })
}

/// CRAM-MD5's `user SP digest`.
pub fn cram(challenge: &str, decoded: &[u8]) -> Option<Attempt> {
    let text = String::from_utf8_lossy(decoded);
    let (user, digest) = text.rsplit_once(' ')?;
    Some(Attempt::CramMd5 {
        challenge: challenge.to_owned(),
        user: user.to_owned(),
        digest: digest.to_ascii_lowercase(),
    })
}

/// A CRAM-MD5 challenge as Cyrus SASL and Dovecot send it.
pub fn challenge(random: u64, unix_time: i64, hostname: &str) -> String {
    format!("<{random}.{unix_time}@{hostname}>")
}

impl Attempt {
    /// The mechanism used.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            Attempt::Password { mechanism, .. } => *mechanism,
            Attempt::CramMd5 { .. } => Mechanism::CramMd5,
        }
    }

    /// The user name presented.
    pub fn user(&self) -> &str {
        match self {
            Attempt::Password { user, .. } | Attempt::CramMd5 { user, .. } => user,
        }
    }

    /// The credential of the login event, and the fields cracking needs.
    ///
    /// A CRAM-MD5 response is a `cram_md5` credential with the hex digest as
    /// secret, the challenge in `cram_md5_challenge`, and the line hashcat's mode
    /// 16400 cracks in `hashcat`.
    pub fn credential(&self) -> (Credential, Fields) {
        let mut f = Fields::new();
        f.insert("sasl_mechanism".into(), self.mechanism().as_str().into());
        match self {
            Attempt::Password {
                authzid,
                user,
                password,
                ..
            } => {
                if let Some(z) = authzid {
                    f.insert("authzid".into(), z.clone().into());
                }
                (
                    Credential::new(user.clone(), password, SecretKind::Password),
                    f,
                )
            }
            Attempt::CramMd5 {
                challenge,
                user,
                digest,
            } => {
                let e = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                f.insert("cram_md5_challenge".into(), challenge.clone().into());
                let hashcat = format!(
                    "$cram_md5${}${}",
                    e(challenge.as_bytes()),
                    e(format!("{user} {digest}").as_bytes())
                );
                f.insert("hashcat".into(), hashcat.into());
                (
                    Credential::new(user.clone(), digest.as_bytes(), SecretKind::CramMd5),
                    f,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_splits_into_its_three_parts() {
        let a = plain(b"admin\0alice\0s3cret\0x").unwrap();
        assert_eq!(
            a,
            Attempt::Password {
                mechanism: Mechanism::Plain,
                authzid: Some("admin".into()),
                user: "alice".into(),
                password: b"s3cret\0x".to_vec(),
            }
        );
        assert_eq!(plain(b"no-nul"), None);
        assert_eq!(b64("="), Some(vec![]));
        assert_eq!(b64("!!"), None);
    }

    #[test]
    fn only_the_bait_worlds_passwords_are_accepted_and_only_where_it_says() {
        use decnet_core::config::model::{DeckyConfig, ServiceConfig};
        let mx = DeckyConfig {
            name: "mx".into(),
            ip: "127.42.0.30".parse().unwrap(),
            hostname: "mx1".into(),
            os_family: decnet_core::persona::OsFamily::Linux,
            distro: decnet_core::persona::distro("debian").unwrap(),
            windows: None,
            archetype: None,
            services: ["smtp", "imap"]
                .iter()
                .map(|n| ServiceConfig {
                    name: (*n).into(),
                    listeners: vec![],
                    persona: Default::default(),
                })
                .collect(),
        };
        let world = decnet_core::bait::World::derive(b"k", &[mx], 1_790_000_000);
        let p = world.people.first().unwrap();
        let plain_of = |u: &str, pw: &str| plain(format!("\0{u}\0{pw}").as_bytes()).unwrap();
        assert!(accepts(&plain_of(&p.email, &p.password), &world, "mx"));
        assert!(!accepts(
            &plain_of(&p.email, &p.password),
            &world,
            "elsewhere"
        ));
        assert!(!accepts(&plain_of(&p.email, "wrong"), &world, "mx"));
        assert!(!accepts(&plain_of("root", "root"), &world, "mx"));
        let challenge = "<1234.5678@mx1>".to_owned();
        let cram_of = |pw: &str| Attempt::CramMd5 {
            challenge: challenge.clone(),
            user: p.username.clone(),
            digest: cram_md5(pw.as_bytes(), challenge.as_bytes()),
        };
        assert!(accepts(&cram_of(&p.password), &world, "mx"));
        assert!(!accepts(&cram_of("wrong"), &world, "mx"));
        // RFC 2195's example: tim / tanstaaftanstaaf.
        assert_eq!(
            cram_md5(
                b"tanstaaftanstaaf",
                b"<1896.697170952@postoffice.reston.mci.net>"
            ),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }
}

//! The FTP emulator: vsftpd 3.0.3 as Debian ships it, with its reply texts,
//! its 1 s delay on a wrong password and its hang-up after the third, its
//! `PORT` rules (the control connection's peer only, no privileged port: no FTP
//! bounce), `LIST` as its `ls.c` lays it out, and the persona's filesystem
//! behind it (the fake shell's filesystem, as SFTP serves it).
//!
//! - [`command`]: the line rule and the verb/argument split (pure, fuzzed)
//! - [`data`]: passive and active data channels, bounded and slot-counted
//! - [`list`]: `LIST`/`NLST` lines and `MDTM` times
//! - `session`: one control connection's state machine
//!
//! Every `USER`/`PASS` pair is a login event carrying the credential (the
//! anonymous "password" is the e-mail the client gave); [`Shared::decide`] is
//! the one place a login is accepted. Uploads (`STOR`, `APPE`, `STOU`) are kept
//! as artifacts by SHA-256 and show up in the session's later listings;
//! downloads are `file_download` events.

pub mod command;
pub mod data;
pub mod list;
mod session;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::persona::Package;

use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use crate::shell::Persona;

/// Accounts let in when the persona names none.
pub const DEFAULT_USERS: &str = "admin:admin";
/// vsftpd's `delay_failed_login`.
pub const FAIL_DELAY: Duration = Duration::from_secs(1);
/// vsftpd's `max_login_fails`: the connection is closed after this many.
pub const MAX_LOGIN_FAILS: u32 = 3;
/// Where anonymous users are jailed (Debian's `ftp` user's home, vsftpd's `anon_root`).
pub const ANON_ROOT: &str = "/srv/ftp";

static KEYS: [PersonaKey; 5] = [
    PersonaKey {
        name: "ftp_banner",
        kind: KeyKind::Text,
        doc: "Greeting line, `220 …` included. Default: the distro's vsftpd, e.g. `220 (vsFTPd 3.0.3)`.",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "Accounts let in, `user:password,…` (the password may contain `:`); each sees the persona's filesystem from its home. Default: `admin:admin`. Every other attempt is refused and recorded.",
    },
    PersonaKey {
        name: "anonymous",
        kind: KeyKind::Bool,
        doc: "Let `anonymous` and `ftp` in with any password (recorded: it is usually an e-mail), jailed in /srv/ftp. Default: true (vsftpd's built-in default; Debian's packaged vsftpd.conf says NO), since anonymous access is the first thing FTP scanners try.",
    },
    PersonaKey {
        name: "pasv_min_port",
        kind: KeyKind::Int,
        doc: "Lowest port of passive data channels, on the decky's address (vsftpd's name). Default: unset with pasv_max_port, any free port.",
    },
    PersonaKey {
        name: "pasv_max_port",
        kind: KeyKind::Int,
        doc: "Highest port of passive data channels. Set both or neither; a control connection prepares at most 500 data channels, one at a time.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "ftp",
    summary: "vsftpd look-alike: captures logins, serves the persona's files and keeps uploads",
    listeners: &[ListenerInfo::tcp("ftp", 21)],
    persona_keys: &KEYS,
};

/// The FTP service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ftp;

/// How a login was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured account.
    User,
    /// `anonymous` or `ftp`, with anonymous access on.
    Anonymous,
    /// Refused.
    Refused,
}

/// What every connection of one FTP instance shares.
#[derive(Debug)]
pub struct Shared {
    /// The greeting line, without its terminator.
    pub banner: String,
    /// Accounts let in.
    pub users: Vec<(String, String)>,
    /// Anonymous access.
    pub anonymous: bool,
    /// Passive ports.
    pub range: data::PortRange,
    /// The machine the files come from.
    pub persona: Persona,
    /// The vsftpd release `STAT` names.
    pub version: String,
}

impl Shared {
    /// Whether `user` names the anonymous account (vsftpd compares case-blind).
    pub fn is_anonymous_name(&self, user: &str) -> bool {
        self.anonymous
            && (user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp"))
    }

    /// The one place a login is decided: configured accounts, and those the
    /// bait world says exist here (its people, honeytokens valid here).
    pub fn decide(&self, user: &str, password: &[u8]) -> Verdict {
        if self.is_anonymous_name(user) {
            return Verdict::Anonymous;
        }
        if self
            .users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
            || self
                .persona
                .bait
                .accepts(&self.persona.decky, user, password)
        {
            Verdict::User
        } else {
            Verdict::Refused
        }
    }
}

/// One decky's FTP instance.
#[derive(Debug)]
pub struct FtpInstance {
    shared: Arc<Shared>,
}

impl Service for Ftp {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let d = decky.config.distro;
        let version = d.package(Package::Vsftpd).map(|v| v.upstream.to_owned());
        let banner = match keys.text("ftp_banner") {
            Some(b) => b.to_owned(),
            None => match &version {
                Some(v) => format!("220 (vsFTPd {v})"),
                None => {
                    return Err(keys.error(
                        "ftp_banner",
                        format!("distro {} ships no vsftpd; set ftp_banner", d.slug),
                    ))
                }
            },
        };
        if !banner.starts_with("220") || banner.len() > 512 || banner.chars().any(char::is_control)
        {
            return Err(keys.error(
                "ftp_banner",
                "must start with 220, be at most 512 characters and hold no control characters",
            ));
        }
        let users = keys.users_or("users", DEFAULT_USERS)?;
        let anonymous = keys.bool("anonymous")?.unwrap_or(true);
        let min = keys.int_in::<u16>("pasv_min_port", 1024..=65535)?;
        let max = keys.int_in::<u16>("pasv_max_port", 1024..=65535)?;
        let range = match (min, max) {
            (None, None) => data::PortRange(None),
            (Some(lo), Some(hi)) if lo <= hi => data::PortRange(Some((lo, hi))),
            (Some(_), Some(_)) => {
                return Err(keys.error("pasv_max_port", "must not be lower than pasv_min_port"))
            }
            (Some(_), None) => {
                return Err(keys.error("pasv_max_port", "set it too when pasv_min_port is set"))
            }
            (None, Some(_)) => {
                return Err(keys.error("pasv_min_port", "set it too when pasv_max_port is set"))
            }
        };
        let persona = Persona::for_decky(
            &decky,
            None,
            None,
            users.iter().map(|(u, _)| u.clone()).collect(),
        );
        Ok(Arc::new(FtpInstance {
            shared: Arc::new(Shared {
                banner,
                users,
                anonymous,
                range,
                persona,
                version: version.unwrap_or_else(|| "3.0.3".to_owned()),
            }),
        }))
    }
}

#[async_trait]
impl Instance for FtpInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        session::Session::new(self.shared.clone(), ctx)
            .run(conn)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use decnet_core::config::model::{DeckyConfig, Limits};
    use decnet_core::persona::OsFamily;
    use decnet_core::seed::InstanceSeed;
    use decnet_core::{Event, EventType};
    use tokio::io::AsyncWriteExt;
    use tokio::sync::mpsc;

    use super::*;
    use crate::kit::line::{Eol, LineOutcome, LineReader, LineRule};
    use crate::service::{Emitter, ExtraSlots, SessionAbort, SlotGate, SlotRefused};

    fn shared(anonymous: bool) -> Shared {
        let d = decnet_core::persona::distro("debian").unwrap();
        Shared {
            banner: "220 (vsFTPd 3.0.3)".into(),
            users: vec![("admin".into(), "pa:ss".into())],
            anonymous,
            range: data::PortRange(None),
            persona: Persona::new(d, "ftp01", "127.0.0.1".parse().unwrap(), vec![]),
            version: "3.0.3".into(),
        }
    }

    /// A gate that counts the slots it hands out, refusing past `max`.
    #[derive(Debug)]
    struct Counting {
        held: Arc<AtomicU32>,
        max: u32,
    }

    struct Slot(Arc<AtomicU32>);

    impl Drop for Slot {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl SlotGate for Counting {
        fn admit(
            &self,
            _peer: std::net::IpAddr,
            _abort: &SessionAbort,
        ) -> Result<Box<dyn Send + Sync>, SlotRefused> {
            if self.held.load(Ordering::SeqCst) >= self.max {
                return Err(SlotRefused {
                    limit: "max_connections_per_source",
                    max: u64::from(self.max),
                });
            }
            self.held.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Slot(self.held.clone())))
        }
    }

    /// A session over an in-memory pipe, its events, and the slots its gate holds.
    fn session(
        max: u32,
    ) -> (
        LineReader<tokio::io::DuplexStream>,
        mpsc::Receiver<Event>,
        Arc<AtomicU32>,
        tokio::task::JoinHandle<()>,
    ) {
        let d = decnet_core::persona::distro("debian").unwrap();
        let decky = DeckyRuntime {
            config: DeckyConfig {
                name: "ftp-unit".into(),
                ip: "127.0.0.1".parse().unwrap(),
                hostname: "files".into(),
                os_family: OsFamily::Linux,
                distro: d,
                windows: None,
                archetype: None,
                services: Vec::new(),
            },
            seed: InstanceSeed::derive_for(b"test-installation", "ftp-unit"),
            data_dir: PathBuf::from("/nonexistent"),
            limits: Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        };
        let held = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel(64);
        static LISTENER: ListenerInfo = ListenerInfo::tcp("ftp", 21);
        let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let local: std::net::SocketAddr = "127.0.0.1:21".parse().unwrap();
        let ctx = ConnCtx {
            decky: Arc::new(decky),
            service: "ftp",
            listener: &LISTENER,
            peer,
            local,
            session_id: uuid::Uuid::now_v7(),
            accepted: tokio::time::Instant::now(),
            emitter: Emitter::new(tx),
            abort: Default::default(),
            pre_auth: Default::default(),
            slots: ExtraSlots::new(Arc::new(Counting {
                held: held.clone(),
                max,
            })),
        };
        let (a, b) = tokio::io::duplex(64 * 1024);
        let conn = Conn::new(Box::new(a), peer, local, &Limits::DEFAULT);
        let task = tokio::spawn(async move {
            let _ = session::Session::new(Arc::new(shared(true)), ctx)
                .run(conn)
                .await;
        });
        let client = LineReader::new(b, LineRule::new(4096, Eol::Crlf));
        (client, rx, held, task)
    }

    async fn say(c: &mut LineReader<tokio::io::DuplexStream>, line: &str) -> String {
        c.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        next(c).await
    }

    async fn next(c: &mut LineReader<tokio::io::DuplexStream>) -> String {
        match c.read_line().await.unwrap() {
            LineOutcome::Line(l) => String::from_utf8(l.to_vec()).unwrap(),
            other => panic!("no reply: {other:?}"),
        }
    }

    #[tokio::test]
    async fn data_channels_hold_a_slot_one_at_a_time_and_free_it_with_the_session() {
        let (mut c, _events, held, task) = session(4);
        assert_eq!(next(&mut c).await, "220 (vsFTPd 3.0.3)");
        assert_eq!(
            say(&mut c, "USER admin").await,
            "331 Please specify the password."
        );
        assert_eq!(say(&mut c, "PASS pa:ss").await, "230 Login successful.");
        assert!(say(&mut c, "PASV")
            .await
            .starts_with("227 Entering Passive Mode (127,0,0,1,"));
        assert_eq!(held.load(Ordering::SeqCst), 1);
        // A new channel replaces the prepared one: still one slot.
        assert!(say(&mut c, "EPSV")
            .await
            .starts_with("229 Entering Extended Passive Mode (|||"));
        assert_eq!(held.load(Ordering::SeqCst), 1);
        drop(c);
        task.await.unwrap();
        assert_eq!(
            held.load(Ordering::SeqCst),
            0,
            "the channel closed with its control connection"
        );
    }

    #[tokio::test]
    async fn a_data_channel_past_the_limits_is_refused_and_recorded() {
        let (mut c, mut events, held, _task) = session(0);
        next(&mut c).await;
        say(&mut c, "USER anonymous").await;
        assert_eq!(say(&mut c, "PASS x@y").await, "230 Login successful.");
        assert_eq!(
            say(&mut c, "PASV").await,
            "425 Failed to establish connection."
        );
        assert_eq!(held.load(Ordering::SeqCst), 0);
        let mut limit = None;
        while let Some(e) = events.recv().await {
            if e.event_type == EventType::LimitExceeded {
                limit = Some(e);
                break;
            }
        }
        let e = limit.expect("limit_exceeded");
        assert_eq!(e.fields["limit"], "max_connections_per_source");
        assert_eq!(e.fields["max"], 0);
        assert_eq!(e.fields["channel"], "data");
    }

    #[tokio::test]
    async fn an_overlong_line_is_refused_and_ends_the_connection_like_vsftpd() {
        let (mut c, _events, _held, task) = session(1);
        next(&mut c).await;
        let long = "A".repeat(command::MAX_LINE + 1);
        assert_eq!(say(&mut c, &long).await, "500 Input line too long.");
        task.await.unwrap();
        assert_eq!(c.read_line().await.unwrap(), LineOutcome::Eof);
    }

    #[test]
    fn one_function_decides_every_login() {
        let s = shared(true);
        assert_eq!(s.decide("admin", b"pa:ss"), Verdict::User);
        assert_eq!(s.decide("admin", b"pa:sS"), Verdict::Refused);
        assert_eq!(s.decide("Admin", b"pa:ss"), Verdict::Refused);
        assert_eq!(s.decide("Anonymous", b"me@x"), Verdict::Anonymous);
        assert_eq!(s.decide("ftp", b""), Verdict::Anonymous);
        let s = shared(false);
        assert_eq!(s.decide("anonymous", b"me@x"), Verdict::Refused);
    }
}

//! One control connection: vsftpd's pre-login and post-login command sets, the
//! data transfers they start, and the events they leave.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::fields::{Command, Direction, FileRef, FileTransfer, LoginMethod};
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::command::{self, EprtError, Request, Verb, RULE};
use super::data::{Channels, OpenError, PrepareError, LIMIT_DATA_CHANNELS, MAX_DATA_CHANNELS};
use super::list::{self, ListArgs};
use super::{Shared, Verdict, ANON_ROOT, FAIL_DELAY, MAX_LOGIN_FAILS};
use crate::conn::Conn;
use crate::kit::artifact::{self, MAX_ARTIFACT};
use crate::kit::line::{LineOutcome, LineReader, OnTooLong};
use crate::service::{ConnCtx, ServiceError, REASON_NOT_RECORDED};
use crate::shell::fs::{self, Fs, Kind};

/// How long a refused login's event may wait to share an fsync: half the delay.
const FAIL_SLACK: Duration = Duration::from_millis(500);
/// Bytes read from a data connection at a time.
const CHUNK: usize = 64 * 1024;

/// How an upload names its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// `STOR`: create or replace.
    Create,
    /// `APPE`: append.
    Append,
    /// `STOU`: a name the server chose.
    Unique,
}

/// Whether the control connection goes on.
enum Flow {
    Continue,
    Close,
}

/// Who logged in.
#[derive(Debug)]
struct Login {
    /// The account (`ftp` for anonymous, as vsftpd names it).
    name: String,
    anonymous: bool,
    /// Prefix of every path (the anonymous jail), empty for accounts.
    root: String,
    uid: u32,
    gid: u32,
    home: String,
}

type Reader = LineReader<Conn>;

pub(super) struct Session {
    shared: Arc<Shared>,
    ctx: ConnCtx,
    fs: Fs,
    user: Option<String>,
    login: Option<Login>,
    fails: u32,
    binary: bool,
    rest: u64,
    rnfr: Option<String>,
    epsv_all: bool,
    umask: u32,
    data: Channels,
    cwd: String,
}

/// Writes one reply; false when the peer is gone.
async fn reply(r: &mut Reader, text: &str) -> bool {
    let mut b = Vec::with_capacity(text.len() + 2);
    b.extend_from_slice(text.as_bytes());
    b.extend_from_slice(b"\r\n");
    r.get_mut().write_all(&b).await.is_ok()
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>, ctx: ConnCtx) -> Session {
        let fs = Fs::for_persona(&shared.persona);
        let range = shared.range;
        Session {
            shared,
            ctx,
            fs,
            user: None,
            login: None,
            fails: 0,
            binary: false,
            rest: 0,
            rnfr: None,
            epsv_all: false,
            umask: 0o077,
            data: Channels::new(range),
            cwd: "/".into(),
        }
    }

    pub(super) async fn run(mut self, conn: Conn) -> Result<(), ServiceError> {
        let mut r = LineReader::with_policy(conn, RULE, OnTooLong::Stop);
        if !reply(&mut r, &self.shared.banner.clone()).await {
            return Ok(());
        }
        loop {
            let line = match r.read_line().await {
                Ok(LineOutcome::Line(l)) => l,
                Ok(LineOutcome::TooLong { .. }) => {
                    reply(&mut r, "500 Input line too long.").await;
                    return Ok(());
                }
                Ok(LineOutcome::Eof | LineOutcome::EofMidLine(_)) => return Ok(()),
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        // vsftpd's idle_session_timeout says so before it hangs up.
                        reply(&mut r, "421 Timeout.").await;
                    }
                    return Ok(());
                }
            };
            let req = command::parse(&line);
            let flow = if self.login.is_some() {
                self.logged_in(&mut r, req).await
            } else {
                self.pre_login(&mut r, req).await
            };
            match flow {
                Some(Flow::Continue) => {}
                Some(Flow::Close) | None => return Ok(()),
            }
        }
    }

    /// Answers, then goes on; `None` when the peer is gone.
    async fn say(r: &mut Reader, text: &str) -> Option<Flow> {
        reply(r, text).await.then_some(Flow::Continue)
    }

    async fn pre_login(&mut self, r: &mut Reader, req: Request) -> Option<Flow> {
        match Verb::of(&req.verb) {
            Verb::User => {
                self.user = Some(req.arg_text());
                Self::say(r, "331 Please specify the password.").await
            }
            Verb::Pass => match self.user.take() {
                None => Self::say(r, "503 Login with USER first.").await,
                Some(user) => self.pass(r, user, req.arg).await,
            },
            Verb::Quit => {
                reply(r, "221 Goodbye.").await;
                Some(Flow::Close)
            }
            Verb::Feat => Self::say(r, FEAT).await,
            Verb::Opts => Self::say(r, opts(&req)).await,
            Verb::Empty => Some(Flow::Continue),
            Verb::Port | Verb::Eprt => {
                // Bounce scanners try PORT before logging in: worth a record.
                self.command_event(&req).await;
                Self::say(r, "530 Please login with USER and PASS.").await
            }
            _ => Self::say(r, "530 Please login with USER and PASS.").await,
        }
    }

    async fn pass(&mut self, r: &mut Reader, user: String, password: Vec<u8>) -> Option<Flow> {
        let verdict = self.shared.decide(&user, &password);
        let credential = Credential::new(user.clone(), &password, SecretKind::Password);
        let mut fields = Fields::new();
        fields.insert("anonymous".into(), (verdict == Verdict::Anonymous).into());
        if verdict == Verdict::Refused {
            let e = self.ctx.login_event(
                decnet_core::fields::LoginOutcome::Attempt,
                LoginMethod::Password,
                credential,
                fields,
            );
            // vsftpd's delay_failed_login: the event syncs while it runs.
            let receipt = self.ctx.emitter.submit(e, FAIL_SLACK).await;
            tokio::time::sleep(FAIL_DELAY).await;
            if !receipt.recorded().await {
                self.ctx.abort.abort(REASON_NOT_RECORDED);
                std::future::pending::<()>().await;
            }
            self.fails += 1;
            reply(r, "530 Login incorrect.").await;
            if self.fails >= MAX_LOGIN_FAILS {
                return Some(Flow::Close);
            }
            return Some(Flow::Continue);
        }
        self.ctx
            .login_success(LoginMethod::Password, credential, fields)
            .await;
        self.ctx.pre_auth.done();
        let login = self.login_of(&user, verdict == Verdict::Anonymous);
        self.cwd = login.home.clone();
        self.login = Some(login);
        Self::say(r, "230 Login successful.").await
    }

    fn login_of(&mut self, user: &str, anonymous: bool) -> Login {
        if anonymous {
            if !self.fs.is_dir(ANON_ROOT) {
                let _ = self
                    .fs
                    .mkdir(ANON_ROOT, true, 0, self.shared.persona.installed());
            }
            return Login {
                name: "ftp".into(),
                anonymous: true,
                root: ANON_ROOT.into(),
                uid: 0,
                gid: 0,
                home: "/".into(),
            };
        }
        let account = self
            .shared
            .persona
            .accounts()
            .into_iter()
            .find(|a| a.name == user);
        let (uid, gid, home) = match account {
            Some(a) => (a.uid, a.gid, a.home),
            None => (1000, 1000, "/".to_owned()),
        };
        let home = if self.fs.is_dir(&home) {
            home
        } else {
            "/".into()
        };
        Login {
            name: user.to_owned(),
            anonymous: false,
            root: String::new(),
            uid,
            gid,
            home,
        }
    }

    /// The path a client named, as it sees it and as the filesystem has it.
    fn path(&self, arg: &str) -> (String, String) {
        let (root, home) = match &self.login {
            Some(l) => (l.root.as_str(), l.home.as_str()),
            None => ("", "/"),
        };
        let arg = if arg.is_empty() { "." } else { arg };
        let shown = fs::resolve(&self.cwd, home, arg);
        let real = if root.is_empty() {
            shown.clone()
        } else if shown == "/" {
            root.to_owned()
        } else {
            format!("{root}{shown}")
        };
        (shown, real)
    }

    fn uid(&self) -> u32 {
        self.login.as_ref().map_or(0, |l| l.uid)
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    async fn command_event(&self, req: &Request) {
        let mut line = req.verb.clone();
        if !req.arg.is_empty() {
            line.push(' ');
            line.push_str(&req.arg_text());
        }
        let mut c = Command::new(line);
        if let Some(l) = &self.login {
            c = c.in_shell(self.cwd.clone(), l.name.clone());
        }
        self.ctx.emit(self.ctx.event_of(&c)).await;
    }

    async fn logged_in(&mut self, r: &mut Reader, req: Request) -> Option<Flow> {
        let verb = Verb::of(&req.verb);
        if verb == Verb::Empty {
            return Some(Flow::Continue);
        }
        if verb != Verb::Pass {
            self.command_event(&req).await;
        }
        let arg = req.arg_text();
        let anonymous = self.login.as_ref().is_some_and(|l| l.anonymous);
        match verb {
            Verb::User => {
                let same = self.login.as_ref().is_some_and(|l| l.name == arg);
                let text = if anonymous {
                    "530 Can't change from guest user."
                } else if same {
                    "331 Any password will do."
                } else {
                    "530 Can't change to another user."
                };
                Self::say(r, text).await
            }
            Verb::Pass => Self::say(r, "230 Already logged in.").await,
            Verb::Quit => {
                reply(r, "221 Goodbye.").await;
                Some(Flow::Close)
            }
            Verb::Feat => Self::say(r, FEAT).await,
            Verb::Opts => Self::say(r, opts(&req)).await,
            Verb::Syst => Self::say(r, "215 UNIX Type: L8").await,
            Verb::Pwd => {
                Self::say(r, &format!("257 \"{}\" is the current directory", self.cwd)).await
            }
            Verb::Cwd | Verb::Cdup => {
                let target = if verb == Verb::Cdup {
                    ".."
                } else {
                    arg.as_str()
                };
                if verb == Verb::Cwd && arg.is_empty() {
                    return Self::say(r, "550 Failed to change directory.").await;
                }
                let (shown, real) = self.path(target);
                if self.fs.is_dir(&real) {
                    self.cwd = shown;
                    Self::say(r, "250 Directory successfully changed.").await
                } else {
                    Self::say(r, "550 Failed to change directory.").await
                }
            }
            Verb::Type => {
                let t = arg.to_ascii_uppercase();
                let text = match t.as_str() {
                    "I" | "L8" | "L 8" => {
                        self.binary = true;
                        "200 Switching to Binary mode."
                    }
                    "A" | "A N" => {
                        self.binary = false;
                        "200 Switching to ASCII mode."
                    }
                    _ => "500 Unrecognised TYPE command.",
                };
                Self::say(r, text).await
            }
            Verb::Mode => {
                let ok = arg.eq_ignore_ascii_case("S");
                Self::say(
                    r,
                    if ok {
                        "200 Mode set to S."
                    } else {
                        "504 Bad MODE command."
                    },
                )
                .await
            }
            Verb::Stru => {
                let ok = arg.eq_ignore_ascii_case("F");
                Self::say(
                    r,
                    if ok {
                        "200 Structure set to F."
                    } else {
                        "504 Bad STRU command."
                    },
                )
                .await
            }
            Verb::Size => {
                let (_, real) = self.path(&arg);
                let text = match self.fs.get(&real) {
                    Some(n) if matches!(n.kind, Kind::File(_)) => format!("213 {}", n.size()),
                    _ => "550 Could not get file size.".to_owned(),
                };
                Self::say(r, &text).await
            }
            Verb::Mdtm => {
                let (_, real) = self.path(&arg);
                let text = match self.fs.get(&real) {
                    Some(n) if matches!(n.kind, Kind::File(_)) => {
                        format!("213 {}", list::mdtm(n.mtime))
                    }
                    _ => "550 Could not get file modification time.".to_owned(),
                };
                Self::say(r, &text).await
            }
            Verb::Pasv => {
                if self.epsv_all {
                    return Self::say(r, "550 Permission denied.").await;
                }
                let std::net::IpAddr::V4(ip) = self.ctx.local.ip() else {
                    return Self::say(r, "550 Permission denied.").await;
                };
                match self.data.passive(&self.ctx).await {
                    Ok(port) => {
                        let [a, b, c, d] = ip.octets();
                        let [hi, lo] = port.to_be_bytes();
                        Self::say(
                            r,
                            &format!("227 Entering Passive Mode ({a},{b},{c},{d},{hi},{lo})."),
                        )
                        .await
                    }
                    Err(e) => self.prepare_failed(r, e).await,
                }
            }
            Verb::Epsv => {
                if arg.eq_ignore_ascii_case("ALL") {
                    self.epsv_all = true;
                    return Self::say(r, "200 EPSV ALL ok.").await;
                }
                if !arg.is_empty() && arg != "1" {
                    return Self::say(r, "522 Bad network protocol.").await;
                }
                match self.data.passive(&self.ctx).await {
                    Ok(port) => {
                        Self::say(
                            r,
                            &format!("229 Entering Extended Passive Mode (|||{port}|)"),
                        )
                        .await
                    }
                    Err(e) => self.prepare_failed(r, e).await,
                }
            }
            Verb::Port | Verb::Eprt => {
                if self.epsv_all {
                    return Self::say(r, "550 Permission denied.").await;
                }
                let (addr, illegal, ok) = if verb == Verb::Port {
                    match command::port(&req.arg) {
                        Some(a) => (
                            a,
                            "500 Illegal PORT command.",
                            "200 PORT command successful. Consider using PASV.",
                        ),
                        None => return Self::say(r, "500 Illegal PORT command.").await,
                    }
                } else {
                    match command::eprt(&req.arg) {
                        Ok(a) => (
                            a,
                            "500 Illegal EPRT command.",
                            "200 EPRT command successful. Consider using EPSV.",
                        ),
                        Err(EprtError::Bad) => return Self::say(r, "500 Bad EPRT command.").await,
                        Err(EprtError::Protocol) => {
                            return Self::say(r, "500 Bad EPRT protocol.").await
                        }
                    }
                };
                // vsftpd without port_promiscuous: the control peer only, no
                // privileged port. Anything else is an FTP bounce attempt.
                if addr.ip() != self.ctx.peer.ip() || addr.port() < 1024 {
                    self.data.clear();
                    self.bounce_event(addr).await;
                    return Self::say(r, illegal).await;
                }
                match self.data.active(&self.ctx, addr) {
                    Ok(()) => Self::say(r, ok).await,
                    Err(e) => self.prepare_failed(r, e).await,
                }
            }
            Verb::List | Verb::Nlst => self.list(r, &arg, verb == Verb::List).await,
            Verb::Retr => self.retr(r, &arg).await,
            Verb::Stor => self.stor(r, &arg, Store::Create).await,
            Verb::Appe => self.stor(r, &arg, Store::Append).await,
            Verb::Stou => {
                if anonymous {
                    return Self::say(r, "550 Permission denied.").await;
                }
                let mut name = "STOU".to_owned();
                let mut n = 0;
                while self.fs.get(&self.path(&name).1).is_some() && n < 1000 {
                    n += 1;
                    name = format!("STOU.{n}");
                }
                self.stor(r, &name, Store::Unique).await
            }
            Verb::Dele => {
                let (_, real) = self.path(&arg);
                let ok = self.fs.lget(&real).is_some_and(|n| !n.is_dir())
                    && self.fs.remove(&real, false, false, self.uid()).is_ok();
                Self::say(
                    r,
                    if ok {
                        "250 Delete operation successful."
                    } else {
                        "550 Delete operation failed."
                    },
                )
                .await
            }
            Verb::Mkd => {
                let (shown, real) = self.path(&arg);
                match self.fs.mkdir(&real, false, self.uid(), Self::now()) {
                    Ok(()) => Self::say(r, &format!("257 \"{shown}\" created")).await,
                    Err(_) => Self::say(r, "550 Create directory operation failed.").await,
                }
            }
            Verb::Rmd => {
                let (_, real) = self.path(&arg);
                let ok =
                    self.fs.is_dir(&real) && self.fs.remove(&real, true, false, self.uid()).is_ok();
                Self::say(
                    r,
                    if ok {
                        "250 Remove directory operation successful."
                    } else {
                        "550 Remove directory operation failed."
                    },
                )
                .await
            }
            Verb::Rnfr => {
                let (_, real) = self.path(&arg);
                if self.fs.lget(&real).is_some() {
                    self.rnfr = Some(real);
                    Self::say(r, "350 Ready for RNTO.").await
                } else {
                    Self::say(r, "550 RNFR command failed.").await
                }
            }
            Verb::Rnto => match self.rnfr.take() {
                None => Self::say(r, "503 RNFR required first.").await,
                Some(from) => {
                    let (_, to) = self.path(&arg);
                    let ok = self.fs.rename(&from, &to, self.uid()).is_ok();
                    Self::say(
                        r,
                        if ok {
                            "250 Rename successful."
                        } else {
                            "550 Rename failed."
                        },
                    )
                    .await
                }
            },
            Verb::Noop => Self::say(r, "200 NOOP ok.").await,
            Verb::Rest => {
                self.rest = arg.trim().parse::<u64>().unwrap_or(0);
                Self::say(
                    r,
                    &format!("350 Restart position accepted ({}).", self.rest),
                )
                .await
            }
            Verb::Abor => Self::say(r, "225 No transfer to ABOR.").await,
            Verb::Site => self.site(r, &arg, anonymous).await,
            Verb::Help => Self::say(r, HELP).await,
            Verb::Stat => self.stat(r, &arg).await,
            Verb::Allo => Self::say(r, "202 ALLO command ignored.").await,
            Verb::Acct => Self::say(r, "502 ACCT not implemented.").await,
            Verb::Smnt => Self::say(r, "502 SMNT not implemented.").await,
            Verb::Rein => Self::say(r, "502 REIN not implemented.").await,
            Verb::Tls | Verb::Unknown => Self::say(r, "500 Unknown command.").await,
            Verb::Empty => Some(Flow::Continue),
        }
    }

    async fn prepare_failed(&mut self, r: &mut Reader, e: PrepareError) -> Option<Flow> {
        let (limit, max) = match e {
            PrepareError::Refused(hit) => (hit.limit, hit.max),
            PrepareError::Exhausted => (LIMIT_DATA_CHANNELS, u64::from(MAX_DATA_CHANNELS)),
            PrepareError::Bind(err) => {
                tracing::warn!(decky = %self.ctx.decky.config.name, error = %err,
                    "ftp: no passive data port could be bound; check pasv_min_port/pasv_max_port and what else listens there");
                return Self::say(r, "425 Failed to establish connection.").await;
            }
        };
        let mut ev = self.ctx.event(EventType::LimitExceeded);
        ev.fields.insert("limit".into(), limit.into());
        ev.fields.insert("max".into(), max.into());
        ev.fields.insert("channel".into(), "data".into());
        self.ctx.emit(ev).await;
        Self::say(r, "425 Failed to establish connection.").await
    }

    async fn bounce_event(&self, target: std::net::SocketAddr) {
        let mut e = self.ctx.event(EventType::ProtocolError);
        e.fields.insert("reason".into(), "ftp_bounce".into());
        e.fields.insert("target".into(), target.to_string().into());
        self.ctx.emit(e).await;
    }

    /// The prepared data connection, after the checks every transfer makes first;
    /// `Err` carries the flow after the refusal was answered.
    async fn open(&mut self, r: &mut Reader) -> Result<Conn, Option<Flow>> {
        match self.data.open(&self.ctx).await {
            Ok(c) => Ok(c),
            Err(OpenError::NotPrepared) => Err(Self::say(r, "425 Use PORT or PASV first.").await),
            Err(OpenError::Failed) => {
                Err(Self::say(r, "425 Failed to establish connection.").await)
            }
            Err(OpenError::BadIp(who)) => {
                let mut e = self.ctx.event(EventType::ProtocolError);
                e.fields
                    .insert("reason".into(), "ftp_data_foreign_peer".into());
                e.fields.insert("data_peer".into(), who.to_string().into());
                self.ctx.emit(e).await;
                Err(Self::say(r, "425 Security: Bad IP connecting.").await)
            }
        }
    }

    async fn list(&mut self, r: &mut Reader, arg: &str, long: bool) -> Option<Flow> {
        if !self.data.is_prepared() {
            return Self::say(r, "425 Use PORT or PASV first.").await;
        }
        let args = ListArgs::parse(arg);
        let (_, real) = self.path(&args.path);
        let body = list::listing(&self.fs, &real, &args.path, &args, long, Self::now());
        let mut data = match self.open(r).await {
            Ok(c) => c,
            Err(flow) => return flow,
        };
        if !reply(r, "150 Here comes the directory listing.").await {
            return None;
        }
        let sent = data.write_all(&body).await.is_ok() && data.shutdown().await.is_ok();
        drop(data);
        let text = if sent {
            "226 Directory send OK."
        } else {
            "426 Failure writing network stream."
        };
        Self::say(r, text).await
    }

    async fn retr(&mut self, r: &mut Reader, arg: &str) -> Option<Flow> {
        if !self.data.is_prepared() {
            return Self::say(r, "425 Use PORT or PASV first.").await;
        }
        let (_, real) = self.path(arg);
        let content = match self.fs.stat(&real) {
            Ok((real, n)) => match &n.kind {
                Kind::File(d) => Some((real, d.clone())),
                _ => None,
            },
            Err(_) => None,
        };
        let Some((real, content)) = content else {
            self.data.clear();
            return Self::say(r, "550 Failed to open file.").await;
        };
        let offset = usize::try_from(std::mem::take(&mut self.rest)).unwrap_or(usize::MAX);
        let mut data = match self.open(r).await {
            Ok(c) => c,
            Err(flow) => return flow,
        };
        let mode = if self.binary { "BINARY" } else { "ASCII" };
        let opening = format!(
            "150 Opening {mode} mode data connection for {arg} ({} bytes).",
            content.len()
        );
        if !reply(r, &opening).await {
            return None;
        }
        let part = content.get(offset..).unwrap_or_default();
        let sent = data.write_all(part).await.is_ok() && data.shutdown().await.is_ok();
        drop(data);
        let mut t = FileTransfer::new(Direction::Download, FileRef::Name(real));
        t.size = Some(if sent { part.len() as u64 } else { 0 });
        t.tool = Some("ftp".into());
        self.ctx.emit(self.ctx.event_of(&t)).await;
        let text = if sent {
            "226 Transfer complete."
        } else {
            "426 Failure writing network stream."
        };
        Self::say(r, text).await
    }

    async fn stor(&mut self, r: &mut Reader, arg: &str, how: Store) -> Option<Flow> {
        let append = how == Store::Append;
        if !self.data.is_prepared() {
            return Self::say(r, "425 Use PORT or PASV first.").await;
        }
        let (shown, real) = self.path(arg);
        let uid = self.uid();
        let creatable = match self.fs.stat(&real) {
            Ok((_, n)) => !n.is_dir() && fs::writable(n, uid),
            Err(_) => self
                .fs
                .get(fs::parent(&real))
                .is_some_and(|d| d.is_dir() && fs::writable(d, uid)),
        };
        if arg.is_empty() || !creatable {
            self.data.clear();
            return Self::say(r, "553 Could not create file.").await;
        }
        let mut data = match self.open(r).await {
            Ok(c) => c,
            Err(flow) => return flow,
        };
        let opening = if how == Store::Unique {
            format!("150 FILE: {}", fs::base_name(&shown))
        } else {
            "150 Ok to send data.".to_owned()
        };
        if !reply(r, &opening).await {
            return None;
        }
        let (kept_bytes, size, complete) = receive(&mut data).await;
        drop(data);
        let kept = artifact::keep(&self.ctx.decky.artifacts_dir("ftp"), &kept_bytes).await;
        let mut t = kept.upload(real.clone(), size);
        t.tool = Some("ftp".into());
        self.ctx.emit(self.ctx.event_of(&t)).await;
        // The session's later listings show it (the overlay keeps what fits).
        let now = Self::now();
        if self.fs.write(&real, &kept_bytes, append, uid, now).is_ok() && !append {
            let mode = 0o666 & !self.umask;
            let _ = self.fs.set_mode(&real, mode);
            if let Some(l) = &self.login {
                let (u, g) = (l.uid, l.gid);
                let _ = self.fs.set_owner(&real, Some(u), Some(g));
            }
        }
        let text = if complete {
            "226 Transfer complete."
        } else {
            "426 Failure reading network stream."
        };
        Self::say(r, text).await
    }

    async fn site(&mut self, r: &mut Reader, arg: &str, anonymous: bool) -> Option<Flow> {
        if anonymous {
            return Self::say(r, "550 Permission denied.").await;
        }
        let (sub, rest) = arg.split_once(' ').unwrap_or((arg, ""));
        match sub.to_ascii_uppercase().as_str() {
            "HELP" => Self::say(r, "214 CHMOD UMASK HELP").await,
            "CHMOD" => {
                let (mode, file) = rest.split_once(' ').unwrap_or((rest, ""));
                let (_, real) = self.path(file);
                let ok = !file.is_empty()
                    && u32::from_str_radix(mode, 8)
                        .ok()
                        .is_some_and(|m| self.fs.set_mode(&real, m & 0o7777).is_ok());
                Self::say(
                    r,
                    if ok {
                        "200 SITE CHMOD command ok."
                    } else {
                        "550 SITE CHMOD command failed."
                    },
                )
                .await
            }
            "UMASK" => match u32::from_str_radix(rest.trim(), 8) {
                Ok(m) if !rest.trim().is_empty() => {
                    self.umask = m & 0o777;
                    Self::say(r, &format!("200 UMASK set to 0{:o}", self.umask)).await
                }
                _ => Self::say(r, &format!("200 Your current UMASK is 0{:o}", self.umask)).await,
            },
            _ => Self::say(r, "500 Unknown SITE command.").await,
        }
    }

    async fn stat(&mut self, r: &mut Reader, arg: &str) -> Option<Flow> {
        if arg.is_empty() {
            let user = self.login.as_ref().map_or("", |l| l.name.as_str());
            let text = format!(
                "211-FTP server status:\r\n     Connected to {}\r\n     Logged in as {user}\r\n     TYPE: {}\r\n     No session bandwidth limit\r\n     Session timeout in seconds is 300\r\n     Control connection is plain text\r\n     Data connections will be plain text\r\n     At session startup, client count was 1\r\n     vsFTPd {} - secure, fast, stable\r\n211 End of status",
                self.ctx.peer.ip(),
                if self.binary { "BINARY" } else { "ASCII" },
                self.shared.version,
            );
            return Self::say(r, &text).await;
        }
        let args = ListArgs {
            all: true,
            path: arg.to_owned(),
        };
        let (_, real) = self.path(arg);
        let body = list::listing(&self.fs, &real, arg, &args, true, Self::now());
        let mut text = String::from("213-Status follows:\r\n");
        text.push_str(&String::from_utf8_lossy(&body));
        text.push_str("213 End of status");
        Self::say(r, &text).await
    }
}

/// Reads an upload to its end: the first [`MAX_ARTIFACT`] bytes, the size in
/// all, and whether it ended cleanly (not at a limit or a reset).
async fn receive(data: &mut Conn) -> (Vec<u8>, u64, bool) {
    let mut kept = Vec::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match data.read(&mut buf).await {
            Ok(0) => return (kept, size, true),
            Ok(n) => {
                size = size.saturating_add(n as u64);
                let room = MAX_ARTIFACT.saturating_sub(kept.len());
                kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
            Err(_) => return (kept, size, false),
        }
    }
}

/// `OPTS`: vsftpd knows only `UTF8 ON`.
fn opts(req: &Request) -> &'static str {
    if req.arg_text().eq_ignore_ascii_case("UTF8 ON") {
        "200 Always in UTF8 mode."
    } else {
        "501 Option not understood."
    }
}

/// `FEAT` as Debian's vsftpd 3.0.3 answers it (TLS off).
const FEAT: &str = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End";

/// `HELP` as vsftpd 3.0.3 answers it.
const HELP: &str = "214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.";

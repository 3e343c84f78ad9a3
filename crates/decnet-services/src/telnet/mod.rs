//! The telnet emulator: Linux telnetd's option negotiation, the distro's
//! `/etc/issue.net` and login(1)'s dialogue; every password typed is a login
//! event, and accepted users get the decky's fake [`crate::shell`] (the same
//! machine its SSH shows), recorded by [`crate::recorder`].
//!
//! - [`options`]: the in-band command parser, subnegotiation decoding and the option state machine
//!
//! On connect the decoy sends what netkit's `in.telnetd` sends first — `DO
//! TERMINAL-TYPE`, `DO TSPEED`, `DO XDISPLOC`, `DO NEW-ENVIRON` and nothing
//! else until the client answers (the bytes nmap's "Linux telnetd" rule reads)
//! — then asks for the values the client agreed to send, then `WILL SGA`, `DO
//! ECHO`, `DO NAWS`, `WILL STATUS`, `DO LFLOW` and, once the window size is
//! settled, `WILL ECHO`. A client that types before answering (a bot that does
//! not speak the options) is served at once rather than left waiting: its
//! credentials matter more than the remaining negotiation.
//!
//! The terminal type, window size, speed, X display and environment (`USER`
//! above all) the client sent ride on its login events. A connection that has
//! not logged in within the decky's `pre_auth_timeout` is told so as login(1)
//! tells it and closed with a `limit_exceeded` event; one that leaves without
//! typing a password is a `scan`.

pub mod options;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::{LoginMethod, LoginOutcome};
use decnet_core::persona::Distro;
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::{Conn, LimitTrip};
use crate::kit::persona::PersonaKeys;
use crate::recorder::{Recorder, RecorderLimits};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError, REASON_NOT_RECORDED};
use crate::shell::{Persona, Shell};
use options::{opt, Item, Options, Parser, SubInfo};

/// login(1) refuses a wrong password after pam_faildelay's three seconds (Debian's `/etc/pam.d/login`).
pub const AUTH_DELAY: Duration = Duration::from_secs(3);
/// Wrong passwords one connection may type: login.defs `LOGIN_RETRIES`; then login exits.
pub const MAX_LOGIN_TRIES: u32 = 5;
/// `limit` of the `limit_exceeded` event of the try that makes login give up.
pub const LIMIT_LOGIN_TRIES: &str = "max_auth_tries";
/// Empty user names (bare Enter at `login:`) a connection may send before it is dropped.
const MAX_EMPTY_NAMES: u32 = 20;
/// Longest user name kept; further typed bytes are dropped, as login's buffer does.
const MAX_USER: usize = 256;
/// Longest password kept.
const MAX_PASSWORD: usize = 512;
/// Decoded client bytes held before the shell or login reads them.
const MAX_INPUT: usize = 64 * 1024;
/// `TERM` when the client sent no terminal type (BSD and netkit telnetd's default).
const DEFAULT_TERM: &str = "network";

/// The options telnetd asks for first, in its order.
const FIRST: [u8; 4] = [opt::TTYPE, opt::TSPEED, opt::XDISPLOC, opt::NEW_ENVIRON];
/// The values it then requests from a client that agreed, in its order.
const REQUESTS: [u8; 4] = [opt::TSPEED, opt::XDISPLOC, opt::NEW_ENVIRON, opt::TTYPE];

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "banner",
        kind: KeyKind::Text,
        doc: "Text shown before the first login prompt, as `/etc/issue.net` holds it; issue(5) escapes (`\\S`, `\\r`, `\\m`, `\\s`, `\\n`, `\\l`) are expanded. Default: the distro's, e.g. `Ubuntu 22.04.4 LTS`.",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "Accounts let in, `user:password,…` (the password may contain `:`). Default: `root:root,admin:admin`. Every other attempt is refused and recorded.",
    },
    PersonaKey {
        name: "login_prompt",
        kind: KeyKind::Text,
        doc: "The prompt login(1) shows for the user name. Default: `<hostname> login: `.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "telnet",
    summary: "Linux telnetd look-alike: captures logins, serves the decky's fake shell and records sessions",
    listeners: &[ListenerInfo::tcp("telnet", 23)],
    persona_keys: &KEYS,
};

/// The telnet service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Telnet;

/// One decky's telnet instance.
#[derive(Debug)]
pub struct TelnetInstance {
    /// The issue text, `\r\n` line ends.
    banner: String,
    login_prompt: String,
    users: Vec<(String, String)>,
    persona: Persona,
    recorder: Recorder,
}

impl TelnetInstance {
    /// Whether `user`/`password` may log in: the one place the decision is made.
    pub fn accepts(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
            || self
                .persona
                .bait
                .accepts(&self.persona.decky, user, password)
    }
}

/// `PRETTY_NAME` of the distro's os-release (what issue's `\S` shows).
fn pretty_name(d: &Distro) -> String {
    d.os_release_file
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| d.display_name.to_owned())
}

/// Expands issue(5) escapes as the login banner shows them over telnet.
pub fn expand_issue(text: &str, d: &Distro, hostname: &str, kernel: &str) -> String {
    let mut out = String::new();
    let mut it = text.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('S') => out.push_str(&pretty_name(d)),
            Some('r') => out.push_str(kernel),
            Some('m') => out.push_str("x86_64"),
            Some('s') => out.push_str("Linux"),
            Some('n') => out.push_str(hostname),
            Some('l') => out.push_str("pts/0"),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The distro's `/etc/issue.net` as telnetd prints it: Debian and its
/// derivatives ship `/etc/issue` without its ` \n \l` tail; the others ship the
/// same text as `/etc/issue`, escapes expanded. One trailing newline.
pub fn default_issue(d: &Distro, hostname: &str, kernel: &str) -> String {
    let net = d.issue.replace(" \\n \\l", "");
    let mut s = expand_issue(&net, d, hostname, kernel)
        .trim_end_matches('\n')
        .to_owned();
    s.push('\n');
    s
}

/// The persona key of the decky's SSH service, when it has one: telnet shows the same machine.
fn ssh_key<'a>(decky: &'a DeckyRuntime, key: &str) -> Option<&'a str> {
    decky
        .config
        .services
        .iter()
        .find(|s| s.name == "ssh")
        .and_then(|s| s.get(key))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn no_controls(
    keys: &PersonaKeys<'_>,
    key: &'static str,
    v: &str,
    max: usize,
) -> Result<(), ServiceError> {
    if v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\t') {
        return Err(keys.error(
            key,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(())
}

impl Service for Telnet {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        Ok(Arc::new(TelnetInstance::build(&decky, cfg)?))
    }
}

impl TelnetInstance {
    /// The instance of `decky` under `cfg`'s persona keys.
    fn build(decky: &DeckyRuntime, cfg: &ServiceConfig) -> Result<TelnetInstance, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let users = keys.users_or("users", crate::ssh::DEFAULT_USERS)?;
        // The machine's accounts are the decky's, whichever service let the user in.
        let mut accounts: Vec<String> = match decky.config.services.iter().find(|s| s.name == "ssh")
        {
            Some(ssh) => PersonaKeys::new("ssh", ssh)
                .users_or("users", crate::ssh::DEFAULT_USERS)
                .unwrap_or_default()
                .into_iter()
                .map(|(u, _)| u)
                .collect(),
            None => Vec::new(),
        };
        for (u, _) in &users {
            if !accounts.contains(u) {
                accounts.push(u.clone());
            }
        }
        let persona = Persona::for_decky(
            decky,
            ssh_key(decky, "hostname"),
            ssh_key(decky, "kernel_version"),
            accounts,
        );
        let d = decky.config.distro;
        let issue = match keys.text("banner") {
            Some(b) => {
                no_controls(&keys, "banner", b, 4096)?;
                let mut s = expand_issue(b, d, &persona.hostname, &persona.kernel_release);
                s.push('\n');
                s
            }
            None => default_issue(d, &persona.hostname, &persona.kernel_release),
        };
        let login_prompt = match keys.raw("login_prompt").filter(|v| !v.trim().is_empty()) {
            Some(p) => {
                no_controls(&keys, "login_prompt", p, 256)?;
                p.to_owned()
            }
            None => format!("{} login: ", persona.hostname),
        };
        Ok(TelnetInstance {
            banner: issue.replace('\n', "\r\n"),
            login_prompt,
            users,
            persona,
            recorder: Recorder::new(&decky.artifacts_dir(INFO.name), RecorderLimits::from_env()),
        })
    }
}

/// What the client told about itself during negotiation.
#[derive(Debug, Default, Clone)]
struct Client {
    /// It answered some option verb.
    negotiated: bool,
    term: Option<String>,
    size: Option<(u16, u16)>,
    speed: Option<String>,
    display: Option<String>,
    env: Vec<(String, String)>,
}

impl Client {
    fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("negotiated".into(), self.negotiated.into());
        if let Some(t) = &self.term {
            f.insert("term".into(), t.clone().into());
        }
        if let Some((c, r)) = self.size {
            f.insert("cols".into(), c.into());
            f.insert("rows".into(), r.into());
        }
        if let Some(s) = &self.speed {
            f.insert("tspeed".into(), s.clone().into());
        }
        if let Some(d) = &self.display {
            f.insert("xdisploc".into(), d.clone().into());
        }
        if let Some((_, u)) = self.env.iter().find(|(n, _)| n == "USER") {
            f.insert("env_user".into(), u.clone().into());
        }
        if !self.env.is_empty() {
            let env: serde_json::Map<String, serde_json::Value> = self
                .env
                .iter()
                .map(|(n, v)| (n.clone(), v.clone().into()))
                .collect();
            f.insert("env".into(), env.into());
        }
        f
    }
}

/// How the part before the shell ended.
enum Before {
    /// The user logged in.
    LoggedIn(String),
    /// The client left, or login gave up on it.
    Closed,
}

/// One connection.
struct Session<'a> {
    inst: &'a TelnetInstance,
    ctx: ConnCtx,
    io: Conn,
    parser: Parser,
    opts: Options,
    client: Client,
    /// Decoded data not yet read by login or the shell.
    input: Vec<u8>,
    /// Options the client sent a subnegotiation for.
    subs: Vec<u8>,
    /// The window size changed since the shell last looked.
    resized: bool,
    /// Passwords typed.
    attempts: u32,
}

impl<'a> Session<'a> {
    fn new(inst: &'a TelnetInstance, io: Conn, ctx: ConnCtx) -> Session<'a> {
        Session {
            inst,
            ctx,
            io,
            parser: Parser::new(),
            opts: Options::new(),
            client: Client::default(),
            input: Vec::new(),
            subs: Vec::new(),
            resized: false,
            attempts: 0,
        }
    }

    /// Reads once from the client and handles what came; false at end of stream.
    async fn pump(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 2048];
        let n = self.io.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        let mut reply = Vec::new();
        for item in self.parser.feed(buf.get(..n).unwrap_or(&[])) {
            match item {
                Item::Data(d) => {
                    let room = MAX_INPUT.saturating_sub(self.input.len());
                    self.input.extend(d.into_iter().take(room));
                }
                Item::Negotiate(v, o) => {
                    self.client.negotiated = true;
                    self.opts.receive(v, o, &mut reply);
                }
                Item::Command(c) => match c {
                    // telnetd turns these into the terminal's own keys.
                    options::IP => self.input.push(0x03),
                    options::EC => self.input.push(0x7f),
                    options::EL => self.input.push(0x15),
                    options::AYT => reply.extend_from_slice(b"\r\n[Yes]\r\n"),
                    _ => {}
                },
                Item::Sub {
                    option, payload, ..
                } => {
                    if !self.subs.contains(&option) {
                        self.subs.push(option);
                    }
                    if let Some(info) = options::decode(option, &payload) {
                        self.learn(info);
                    }
                }
            }
        }
        if !reply.is_empty() {
            self.io.write_all(&reply).await?;
        }
        Ok(true)
    }

    fn learn(&mut self, info: SubInfo) {
        match info {
            // telnetd lowercases the type it puts in TERM.
            SubInfo::TerminalType(t) => self.client.term = Some(t.to_ascii_lowercase()),
            SubInfo::WindowSize { cols, rows } => {
                self.client.size = Some((cols, rows));
                self.resized = true;
            }
            SubInfo::Speed(s) => self.client.speed = Some(s),
            SubInfo::XDisplay(d) => self.client.display = Some(d),
            SubInfo::Environ(vars) => {
                for (n, v) in vars {
                    if let Some(slot) = self.client.env.iter_mut().find(|(k, _)| *k == n) {
                        slot.1 = v;
                    } else if self.client.env.len() < options::MAX_ENV_VARS {
                        self.client.env.push((n, v));
                    }
                }
            }
        }
    }

    /// Reads until `done` holds, the client types something, or the stream ends (false).
    async fn settle(&mut self, done: impl Fn(&Self) -> bool) -> std::io::Result<bool> {
        while !done(self) && self.input.is_empty() {
            if !self.pump().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Terminal output: IAC-escaped, bare CRs padded.
    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.io.write_all(&options::escape(data)).await
    }

    /// telnetd's negotiation, in its order; false when the client left.
    async fn negotiate(&mut self) -> std::io::Result<bool> {
        let mut out = Vec::new();
        for o in FIRST {
            self.opts.ask(o, &mut out);
        }
        self.io.write_all(&out).await?;
        if !self
            .settle(|s| FIRST.iter().all(|&o| s.opts.his_settled(o)))
            .await?
        {
            return Ok(false);
        }
        let wanted: Vec<u8> = REQUESTS.into_iter().filter(|&o| self.opts.his(o)).collect();
        out.clear();
        for &o in &wanted {
            out.extend_from_slice(&options::send_request(o));
        }
        if !out.is_empty() {
            self.io.write_all(&out).await?;
            if !self
                .settle(|s| wanted.iter().all(|o| s.subs.contains(o)))
                .await?
            {
                return Ok(false);
            }
        }
        out.clear();
        self.opts.offer(opt::SGA, &mut out);
        self.opts.ask(opt::ECHO, &mut out);
        self.opts.ask(opt::NAWS, &mut out);
        self.opts.offer(opt::STATUS, &mut out);
        self.opts.ask(opt::LFLOW, &mut out);
        self.io.write_all(&out).await?;
        if !self
            .settle(|s| s.opts.his_settled(opt::NAWS) && s.opts.his_settled(opt::ECHO))
            .await?
        {
            return Ok(false);
        }
        out.clear();
        self.opts.offer(opt::ECHO, &mut out);
        self.io.write_all(&out).await?;
        Ok(true)
    }

    /// Whether typed characters are echoed: the server echoes unless the client refused it.
    fn echoes(&self) -> bool {
        self.opts.mine(opt::ECHO) || !self.opts.mine_settled(opt::ECHO)
    }

    /// One line as login reads it from the terminal (erase, kill, Enter); `None` when the
    /// client left or typed Ctrl-D on an empty line.
    async fn read_line(&mut self, echo: bool, max: usize) -> std::io::Result<Option<Vec<u8>>> {
        let mut line: Vec<u8> = Vec::new();
        loop {
            let mut out = Vec::new();
            let mut done = None;
            let mut used = 0;
            for &b in &self.input {
                used += 1;
                match b {
                    b'\r' | b'\n' => {
                        done = Some(true);
                        break;
                    }
                    0x04 if line.is_empty() => {
                        done = Some(false);
                        break;
                    }
                    0x7f | 0x08 => {
                        if line.pop().is_some() && echo {
                            out.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x15 => {
                        if echo {
                            for _ in 0..line.len() {
                                out.extend_from_slice(b"\x08 \x08");
                            }
                        }
                        line.clear();
                    }
                    b if b < 0x20 => {}
                    b => {
                        if line.len() < max {
                            line.push(b);
                            if echo {
                                out.push(b);
                            }
                        }
                    }
                }
            }
            self.input.drain(..used);
            if !out.is_empty() {
                self.send(&out).await?;
            }
            match done {
                Some(true) => {
                    // Enter echoes as a new line; after a hidden password login prints one.
                    self.send(b"\r\n").await?;
                    return Ok(Some(line));
                }
                Some(false) => return Ok(None),
                None => {}
            }
            if !self.pump().await? {
                return Ok(None);
            }
        }
    }

    /// Negotiation, the issue text and login(1)'s dialogue.
    async fn before_shell(&mut self) -> std::io::Result<Before> {
        if !self.negotiate().await? {
            return Ok(Before::Closed);
        }
        let banner = self.inst.banner.clone();
        self.send(banner.as_bytes()).await?;
        let mut empty = 0;
        let mut failures = 0;
        loop {
            let prompt = self.inst.login_prompt.clone();
            self.send(prompt.as_bytes()).await?;
            let echo = self.echoes();
            let Some(user) = self.read_line(echo, MAX_USER).await? else {
                return Ok(Before::Closed);
            };
            if user.is_empty() {
                empty += 1;
                if empty > MAX_EMPTY_NAMES {
                    return Ok(Before::Closed);
                }
                continue;
            }
            self.send(b"Password: ").await?;
            let Some(password) = self.read_line(false, MAX_PASSWORD).await? else {
                return Ok(Before::Closed);
            };
            let user = String::from_utf8_lossy(&user).into_owned();
            self.attempts += 1;
            let cred = Credential::new(&user, &password, SecretKind::Password);
            if self.inst.accepts(&user, &password) {
                let e = self.ctx.login_event(
                    LoginOutcome::Success,
                    LoginMethod::Password,
                    cred,
                    self.client.fields(),
                );
                self.ctx.emit(e).await;
                return Ok(Before::LoggedIn(user));
            }
            let e = self.ctx.login_event(
                LoginOutcome::Attempt,
                LoginMethod::Password,
                cred,
                self.client.fields(),
            );
            // The refusal goes out when pam_faildelay's delay ends and its event
            // (and, at the last try, the limit's) is on disk.
            let slack = crate::ssh::sync_slack(AUTH_DELAY);
            failures += 1;
            let last = failures >= MAX_LOGIN_TRIES;
            let mut receipts = vec![self.ctx.emitter.submit(e, slack).await];
            if last {
                let mut limit = self.ctx.event(EventType::LimitExceeded);
                limit
                    .fields
                    .insert("limit".into(), LIMIT_LOGIN_TRIES.into());
                limit.fields.insert("max".into(), MAX_LOGIN_TRIES.into());
                limit.fields.extend(self.client.fields());
                receipts.push(self.ctx.emitter.submit(limit, slack).await);
            }
            tokio::time::sleep(AUTH_DELAY).await;
            for r in receipts {
                if !r.recorded().await {
                    self.ctx.abort.abort(REASON_NOT_RECORDED);
                    std::future::pending::<()>().await;
                }
            }
            self.send(b"\r\nLogin incorrect\r\n").await?;
            if last {
                // login(1) exits; telnetd closes the connection. The reconnect is a new capture.
                return Ok(Before::Closed);
            }
        }
    }

    /// The logged-in user's shell until it exits or the client leaves.
    async fn shell(&mut self, user: &str) {
        self.ctx.pre_auth.done();
        let persona = self.inst.persona.clone();
        let mut shell = Shell::new(persona.clone(), user).with_peer(self.ctx.peer);
        let (cols, rows) = self.client.size.unwrap_or((80, 24));
        let term = self
            .client
            .term
            .clone()
            .unwrap_or_else(|| DEFAULT_TERM.to_owned());
        let mut rec =
            self.inst
                .recorder
                .start(self.ctx.session_id, u32::from(cols), u32::from(rows), &term);
        self.resized = false;
        let mut out = persona
            .login_banner(self.ctx.peer.ip(), chrono::Utc::now())
            .into_bytes();
        out.extend_from_slice(&shell.banner());
        rec.output(&out);
        if self.send(&out).await.is_ok() {
            loop {
                if self.resized {
                    if let Some((c, r)) = self.client.size {
                        rec.resize(u32::from(c), u32::from(r));
                    }
                    self.resized = false;
                }
                if !self.input.is_empty() {
                    let data = std::mem::take(&mut self.input);
                    let step = shell.feed(&data);
                    rec.input(&data);
                    rec.output(&step.output);
                    crate::shell::emit_events(&self.ctx, step.events).await;
                    if !step.output.is_empty() && self.send(&step.output).await.is_err() {
                        break;
                    }
                    if step.exit {
                        break;
                    }
                }
                match self.pump().await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => break,
                }
            }
        }
        self.ctx.session_recorded(&rec.finish()).await;
    }
}

#[async_trait]
impl Instance for TelnetInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let limits = ctx.decky.limits;
        // login(1)'s LOGIN_TIMEOUT counts from the connection, negotiation included.
        let deadline = ctx.accepted + limits.pre_auth_timeout;
        let trip = conn.trip_flag();
        let mut s = Session::new(self, conn, ctx.clone());
        let before = tokio::select! {
            r = s.before_shell() => Some(r),
            () = tokio::time::sleep_until(deadline) => None,
        };
        match before {
            Some(Ok(Before::LoggedIn(user))) => {
                s.shell(&user).await;
                return Ok(());
            }
            None => {
                let secs = limits.pre_auth_timeout.as_secs();
                let _ = s
                    .send(format!("\r\nLogin timed out after {secs} seconds.\r\n").as_bytes())
                    .await;
                let mut e = ctx.event(EventType::LimitExceeded);
                e.fields
                    .insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
                e.fields.insert("max_secs".into(), secs.into());
                e.fields.extend(s.client.fields());
                ctx.emit(e).await;
                return Ok(());
            }
            Some(Ok(Before::Closed)) | Some(Err(_)) => {}
        }
        if s.attempts == 0 && trip.get() != Some(LimitTrip::Idle) {
            // No password was typed: a banner grab or a fingerprinting probe.
            let mut e = ctx.event(EventType::Scan);
            e.fields.extend(s.client.fields());
            ctx.emit(e).await;
        }
        Ok(())
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::distro;

    #[test]
    fn the_default_issue_is_what_each_distro_ships_as_issue_net() {
        let d = |s| distro(s).unwrap();
        assert_eq!(
            default_issue(d("debian"), "h", "6.1.0"),
            "Debian GNU/Linux 12\n"
        );
        assert_eq!(
            default_issue(d("ubuntu22"), "h", "5.15.0"),
            "Ubuntu 22.04.4 LTS\n"
        );
        let centos = default_issue(d("centos7"), "h", "3.10.0-1160.el7.x86_64");
        assert!(
            centos
                .starts_with("CentOS Linux 7 (Core)\nKernel 3.10.0-1160.el7.x86_64 on an x86_64\n"),
            "{centos:?}"
        );
        assert!(!centos.contains('\\'));
    }

    fn runtime(services: Vec<ServiceConfig>) -> DeckyRuntime {
        DeckyRuntime {
            config: decnet_core::config::model::DeckyConfig {
                name: "tn".into(),
                ip: "127.42.0.9".parse().unwrap(),
                hostname: "files-ops-07".into(),
                os_family: decnet_core::persona::OsFamily::Linux,
                distro: distro("debian").unwrap(),
                windows: None,
                archetype: None,
                services,
            },
            seed: decnet_core::seed::InstanceSeed::derive_for(b"k", "tn"),
            data_dir: std::path::PathBuf::from("/nonexistent"),
            limits: decnet_core::config::model::Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        }
    }

    fn cfg(name: &str, pairs: &[(&str, &str)]) -> ServiceConfig {
        ServiceConfig {
            name: name.into(),
            listeners: Vec::new(),
            persona: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn telnet_shows_the_machine_the_deckys_ssh_shows() {
        let ssh = cfg(
            "ssh",
            &[
                ("hostname", "fs-01"),
                ("kernel_version", "6.1.0-99-amd64"),
                ("users", "deploy:x"),
            ],
        );
        let telnet = cfg("telnet", &[("users", "alice:pw")]);
        let rt = runtime(vec![ssh, telnet.clone()]);
        let t = TelnetInstance::build(&rt, &telnet).unwrap();
        assert_eq!(t.login_prompt, "fs-01 login: ");
        assert_eq!(t.banner, "Debian GNU/Linux 12\r\n");
        assert_eq!(t.persona.kernel_release, "6.1.0-99-amd64");
        assert_eq!(t.persona.users, ["deploy", "alice"]);
        let alone = TelnetInstance::build(&runtime(vec![telnet.clone()]), &telnet).unwrap();
        assert_eq!(alone.login_prompt, "files-ops-07 login: ");
        // Only telnet's own accounts log in over telnet.
        assert!(t.accepts("alice", b"pw"));
        assert!(!t.accepts("deploy", b"x"));
        assert!(!t.accepts("alice", b"pw "));
    }

    #[test]
    fn persona_keys_override_and_bad_values_name_the_key() {
        let c = cfg(
            "telnet",
            &[
                ("banner", "Authorized use only \\n"),
                ("login_prompt", "Username: "),
            ],
        );
        let t = TelnetInstance::build(&runtime(vec![c.clone()]), &c).unwrap();
        assert_eq!(t.banner, "Authorized use only files-ops-07\r\n");
        assert_eq!(t.login_prompt, "Username: ");
        let bad = cfg("telnet", &[("login_prompt", "a\u{7}b")]);
        match TelnetInstance::build(&runtime(vec![bad.clone()]), &bad) {
            Err(ServiceError::Persona { key, .. }) => assert_eq!(key, "login_prompt"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn issue_escapes_expand_and_unknown_ones_stay() {
        let d = distro("debian").unwrap();
        assert_eq!(
            expand_issue("\\n on \\s \\m \\l \\q \\\\", d, "web1", "6.1"),
            "web1 on Linux x86_64 pts/0 \\q \\"
        );
    }
}

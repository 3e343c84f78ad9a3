//! One SSH connection over DECNET's own transport ([`super::wire`]): the
//! authentication layer (RFC 4252) answered as sshd answers it, every attempt
//! an event, and the connection layer (RFC 4254) translated into
//! `SessionMsg`s for the per-connection `SessionTask` that owns the shells.
//!
//! The loop is the connection's only task until a user logs in and opens a
//! session; the session task then answers through a [`Handle`], whose
//! messages this loop frames with the channel's flow control.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::event::{Credential, Event, Fields, SecretKind};
use decnet_core::fields::{names, Login, LoginMethod, LoginOutcome};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::handler::Progress;
use super::hassh::TapState;
use super::session::{SessionMsg, SessionTask};
use super::transfer::{self, Transfer};
use super::wire::codec::{put_bool, put_str, put_string, put_u32, Reader};
use super::wire::hostkey;
use super::wire::transport::Transport;
use super::wire::{msg, reason, WireError};
use super::{Shared, MAX_CHANNELS};
use crate::service::{ConnCtx, Receipt};

/// Messages queued for the session task before the connection is dropped as abusive.
const SESSION_QUEUE: usize = 1024;
/// Messages the session task may queue for the wire.
const OUT_QUEUE: usize = 256;
/// OpenSSH's `MaxAuthTries`.
pub const MAX_AUTH_TRIES: u32 = 6;
/// `limit` of the `limit_exceeded` event of a connection closed at [`MAX_AUTH_TRIES`].
pub const LIMIT_MAX_AUTH_TRIES: &str = "max_auth_tries";
/// sshd's session channel window (`CHAN_SES_WINDOW_DEFAULT`).
const WINDOW: u32 = 64 * 32 * 1024;
/// sshd's session channel packet size (`CHAN_SES_PACKET_DEFAULT`).
const MAX_PACKET: u32 = 32 * 1024;

/// A channel, by the number this side gave it.
pub type ChannelId = u32;

/// What the session task asks the wire to send.
#[derive(Debug)]
pub enum Out {
    /// Channel data.
    Data(ChannelId, Vec<u8>),
    /// `exit-status`.
    ExitStatus(ChannelId, u32),
    /// `SSH_MSG_CHANNEL_EOF`.
    Eof(ChannelId),
    /// `SSH_MSG_CHANNEL_CLOSE`.
    Close(ChannelId),
}

/// The session task's way to the wire.
#[derive(Debug, Clone)]
pub struct Handle(mpsc::Sender<Out>);

impl Handle {
    /// Sends channel data (split and flow-controlled by the wire).
    pub async fn data(&self, channel: ChannelId, data: Vec<u8>) -> Result<(), ()> {
        self.0.send(Out::Data(channel, data)).await.map_err(|_| ())
    }

    /// Sends `exit-status`.
    pub async fn exit_status_request(&self, channel: ChannelId, status: u32) -> Result<(), ()> {
        self.0
            .send(Out::ExitStatus(channel, status))
            .await
            .map_err(|_| ())
    }

    /// Sends EOF.
    pub async fn eof(&self, channel: ChannelId) -> Result<(), ()> {
        self.0.send(Out::Eof(channel)).await.map_err(|_| ())
    }

    /// Closes the channel.
    pub async fn close(&self, channel: ChannelId) -> Result<(), ()> {
        self.0.send(Out::Close(channel)).await.map_err(|_| ())
    }
}

struct Chan {
    /// The client's number for it.
    remote: u32,
    /// Bytes the client still accepts.
    remote_window: u32,
    remote_max: u32,
    /// Bytes the client may still send before we adjust.
    local_window: u32,
    pending: VecDeque<Pending>,
    /// Our close is queued or sent.
    closed_by_us: bool,
    /// An scp or SFTP transfer owns the channel's data.
    transfer: Option<Transfer>,
}

/// How the connection ended, beyond a transport error.
#[derive(Debug)]
pub enum Ended {
    /// The peer left or the transport failed.
    Wire(WireError),
    /// The session was aborted (an event could not be recorded).
    Aborted,
}

impl From<WireError> for Ended {
    fn from(e: WireError) -> Ended {
        Ended::Wire(e)
    }
}

/// One connection after the key exchange.
pub struct Decoy<S> {
    t: Transport<S>,
    shared: Arc<Shared>,
    ctx: ConnCtx,
    tap: TapState,
    progress: Arc<Progress>,
    user: Option<String>,
    failures: u32,
    /// Authentication requests so far.
    attempts: u32,
    /// User and service of the first request: sshd allows no change.
    auth_for: Option<(String, String)>,
    /// The keyboard-interactive exchange in flight (its user).
    kbd_user: Option<String>,
    /// The `none` request's event, answered before its sync (see [`Decoy::userauth`]).
    none_pending: Option<Receipt>,
    chans: HashMap<ChannelId, Chan>,
    next_id: ChannelId,
    session: Option<mpsc::Sender<SessionMsg>>,
    out_tx: mpsc::Sender<Out>,
    out_rx: mpsc::Receiver<Out>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Decoy<S> {
    /// A connection whose transport finished its first key exchange.
    pub fn new(
        t: Transport<S>,
        shared: Arc<Shared>,
        ctx: ConnCtx,
        tap: TapState,
        progress: Arc<Progress>,
    ) -> Self {
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        Decoy {
            t,
            shared,
            ctx,
            tap,
            progress,
            user: None,
            failures: 0,
            attempts: 0,
            auth_for: None,
            kbd_user: None,
            none_pending: None,
            chans: HashMap::new(),
            next_id: 0,
            session: None,
            out_tx,
            out_rx,
        }
    }

    /// Serves until the peer leaves, breaks the protocol or is disconnected.
    pub async fn run(mut self) -> Ended {
        let abort = self.ctx.abort.clone();
        tokio::select! {
            e = self.serve() => e,
            () = abort.aborted() => Ended::Aborted,
        }
    }

    async fn serve(&mut self) -> Ended {
        loop {
            let step = tokio::select! {
                p = self.t.read_payload() => match p {
                    Ok(p) => self.on_packet(p).await,
                    Err(e) => Err(Ended::Wire(e)),
                },
                Some(out) = self.out_rx.recv() => self.on_out(out).await.map_err(Ended::Wire),
            };
            if let Err(e) = step {
                return e;
            }
        }
    }

    async fn on_packet(&mut self, p: Vec<u8>) -> Result<(), Ended> {
        let code = p.first().copied().unwrap_or(0);
        let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
        match code {
            msg::KEXINIT => self.t.kex(p).await?,
            msg::DISCONNECT => return Err(Ended::Wire(WireError::Disconnected)),
            msg::IGNORE | msg::DEBUG | msg::UNIMPLEMENTED => {}
            msg::PING => {
                // `ping@openssh.com` (advertised by 9.5+ personas): PONG with the same data.
                let mut a = vec![msg::PONG];
                put_string(&mut a, r.string()?);
                self.t.send(&a).await?;
            }
            msg::SERVICE_REQUEST => {
                let service = r.utf8()?;
                if service != "ssh-userauth" || self.user.is_some() {
                    // sshd: `packet_disconnect("bad service request %s")`.
                    let text = format!("bad service request {service}");
                    self.t.disconnect(reason::PROTOCOL_ERROR, &text).await;
                    return Err(Ended::Wire(WireError::Malformed("bad service request")));
                }
                let mut a = vec![msg::SERVICE_ACCEPT];
                put_str(&mut a, service);
                self.t.send(&a).await?;
            }
            msg::USERAUTH_REQUEST if self.user.is_none() => self.userauth(r).await?,
            msg::USERAUTH_INFO_RESPONSE if self.user.is_none() => self.kbd_response(r).await?,
            msg::USERAUTH_REQUEST => {} // sshd ignores requests after success
            c if self.user.is_none() => {
                // Nothing else is allowed before authentication.
                return Err(Ended::Wire(WireError::Unexpected(c)));
            }
            msg::GLOBAL_REQUEST => self.global_request(r).await?,
            msg::CHANNEL_OPEN => self.channel_open(r).await?,
            msg::CHANNEL_REQUEST => self.channel_request(r).await?,
            msg::CHANNEL_DATA => {
                let id = r.u32()?;
                let data = r.string()?;
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                if let Some(step) = self
                    .chans
                    .get_mut(&id)
                    .and_then(|c| c.transfer.as_mut())
                    .map(|t| t.input(data))
                {
                    self.window_used(id, len).await?;
                    return self.apply(id, step).await;
                }
                let adjust = match self.chans.get_mut(&id) {
                    Some(c) => {
                        c.local_window = c.local_window.saturating_sub(len);
                        if c.local_window < WINDOW / 2 {
                            let add = WINDOW - c.local_window;
                            c.local_window = WINDOW;
                            Some((c.remote, add))
                        } else {
                            None
                        }
                    }
                    None => return Ok(()),
                };
                self.to_session(SessionMsg::Data {
                    channel: id,
                    data: data.to_vec(),
                })?;
                if let Some((remote, add)) = adjust {
                    let mut a = vec![msg::CHANNEL_WINDOW_ADJUST];
                    put_u32(&mut a, remote);
                    put_u32(&mut a, add);
                    self.t.send(&a).await?;
                }
            }
            msg::CHANNEL_EXTENDED_DATA => {}
            msg::CHANNEL_WINDOW_ADJUST => {
                let id = r.u32()?;
                let add = r.u32()?;
                if let Some(c) = self.chans.get_mut(&id) {
                    c.remote_window = c.remote_window.saturating_add(add);
                }
                self.drain(id).await?;
            }
            msg::CHANNEL_EOF => {
                let id = r.u32()?;
                if let Some(step) = self
                    .chans
                    .get_mut(&id)
                    .and_then(|c| c.transfer.as_mut())
                    .map(Transfer::eof)
                {
                    return self.apply(id, step).await;
                }
                if self.chans.contains_key(&id) {
                    self.to_session(SessionMsg::Eof { channel: id })?;
                }
            }
            msg::CHANNEL_CLOSE => {
                let id = r.u32()?;
                if let Some(c) = self.chans.remove(&id) {
                    if !c.closed_by_us {
                        let mut a = vec![msg::CHANNEL_CLOSE];
                        put_u32(&mut a, c.remote);
                        self.t.send(&a).await?;
                    }
                    self.to_session(SessionMsg::Close { channel: id })?;
                }
            }
            msg::CHANNEL_OPEN_CONFIRMATION
            | msg::CHANNEL_OPEN_FAILURE
            | msg::CHANNEL_SUCCESS
            | msg::CHANNEL_FAILURE
            | msg::REQUEST_SUCCESS
            | msg::REQUEST_FAILURE => {}
            _ => {
                let mut a = vec![msg::UNIMPLEMENTED];
                put_u32(&mut a, self.t.last_seq());
                self.t.send(&a).await?;
            }
        }
        Ok(())
    }

    fn to_session(&self, m: SessionMsg) -> Result<(), Ended> {
        match &self.session {
            Some(tx) => tx
                .try_send(m)
                .map_err(|_| Ended::Wire(WireError::Malformed("session queue overflow"))),
            None => Ok(()),
        }
    }

    // ---- authentication ----

    fn methods(&self) -> &'static str {
        if self.shared.keyboard_interactive {
            "publickey,password,keyboard-interactive"
        } else {
            "publickey,password"
        }
    }

    async fn userauth(&mut self, mut r: Reader<'_>) -> Result<(), Ended> {
        let user = r.utf8()?.chars().take(256).collect::<String>();
        let service = r.utf8()?.chars().take(64).collect::<String>();
        let method = r.utf8()?;
        let changed = match &self.auth_for {
            None => {
                self.auth_for = Some((user.clone(), service.clone()));
                None
            }
            Some((u, s)) if *u != user || *s != service => Some(format!(
                "Change of username or service not allowed: ({u},{s}) -> ({user},{service})"
            )),
            Some(_) => None,
        };
        if let Some(text) = changed {
            // Captured before sshd's disconnect: the secret was sent all the same.
            if method == "password" {
                let _ = r.bool()?;
                let cred = Credential::new(&user, r.string()?, SecretKind::Password);
                let e = self.attempt_event(
                    LoginOutcome::Attempt,
                    LoginMethod::Password,
                    Some(cred),
                    Fields::new(),
                );
                self.emit(e).await?;
            }
            self.t.disconnect(reason::PROTOCOL_ERROR, &text).await;
            return Err(Ended::Wire(WireError::Disconnected));
        }
        self.kbd_user = None;
        self.attempts += 1;
        match method {
            "none" => {
                let mut extra = Fields::new();
                extra.insert(names::USER.into(), user.clone().into());
                let e = self.attempt_event(LoginOutcome::Attempt, LoginMethod::None, None, extra);
                // sshd answers `none` at once, and it carries no secret: its event
                // rides with the next sync instead of costing one of its own. The
                // journal syncs in order, so every later answer (which waits for
                // its own event) still follows it onto disk; a second `none` waits
                // for the first, so at most one answer is ahead of the disk.
                if let Some(earlier) = self.none_pending.take() {
                    self.recorded(earlier).await?;
                }
                self.none_pending = Some(self.submit(e, self.shared.sync_slack).await?);
                // Only a first `none` costs no attempt (sshd's userauth_finish).
                self.fail(self.attempts > 1).await
            }
            "password" => {
                let _change = r.bool()?;
                let password = r.string()?.to_vec();
                self.password(&user, &password, LoginMethod::Password).await
            }
            // The hostbound variant (OpenSSH 8.9+) adds the server's host key after the signature.
            "publickey" | "publickey-hostbound-v00@openssh.com" => {
                let signed = r.bool()?;
                let alg = r.utf8()?.to_owned();
                let blob = r.string()?;
                self.publickey(&user, &alg, blob, signed).await?;
                self.fail(true).await
            }
            "keyboard-interactive" if self.shared.keyboard_interactive => {
                self.kbd_user = Some(user);
                let mut a = vec![msg::USERAUTH_INFO_REQUEST];
                put_str(&mut a, "");
                put_str(&mut a, "");
                put_str(&mut a, "");
                put_u32(&mut a, 1);
                put_str(&mut a, "Password: ");
                put_bool(&mut a, false);
                self.t.send(&a).await?;
                Ok(())
            }
            _ => self.fail(true).await,
        }
    }

    async fn kbd_response(&mut self, mut r: Reader<'_>) -> Result<(), Ended> {
        let Some(user) = self.kbd_user.take() else {
            return Err(Ended::Wire(WireError::Unexpected(
                msg::USERAUTH_INFO_RESPONSE,
            )));
        };
        let n = r.u32()?;
        let answer = if n >= 1 {
            r.string()?.to_vec()
        } else {
            Vec::new()
        };
        self.password(&user, &answer, LoginMethod::KeyboardInteractive)
            .await
    }

    async fn publickey(
        &mut self,
        user: &str,
        alg: &str,
        blob: &[u8],
        signed: bool,
    ) -> Result<(), Ended> {
        let mut extra = Fields::new();
        extra.insert("signature_algorithm".into(), alg.into());
        extra.insert("signed".into(), signed.into());
        let cred = match ssh_key::PublicKey::from_bytes(blob) {
            Ok(key) => {
                extra.insert("key_type".into(), key.algorithm().as_str().into());
                extra.insert("fingerprint".into(), hostkey::fingerprint(&key).into());
                let text = key.to_openssh().unwrap_or_default();
                Credential::new(user, text.as_bytes(), SecretKind::SshPubkey)
            }
            Err(_) => {
                extra.insert("key_type".into(), "unparsed".into());
                Credential::new(user, blob, SecretKind::SshPubkey)
            }
        };
        let e = self.attempt_event(
            LoginOutcome::Attempt,
            LoginMethod::PublicKey,
            Some(cred),
            extra,
        );
        self.emit(e).await
    }

    async fn password(
        &mut self,
        user: &str,
        password: &[u8],
        method: LoginMethod,
    ) -> Result<(), Ended> {
        let cred = Some(Credential::new(user, password, SecretKind::Password));
        if self.shared.accepts(user, password) {
            let e = self.attempt_event(LoginOutcome::Success, method, cred, Fields::new());
            self.emit(e).await?;
            self.user = Some(user.to_owned());
            self.ctx.pre_auth.done();
            self.t.send(&[msg::USERAUTH_SUCCESS]).await?;
            self.t.authenticated();
            return Ok(());
        }
        // The refusal waits for the persona's delay and for the event's fsync,
        // whichever is later (see the russh-era handler's reasoning, unchanged).
        let e = self.attempt_event(LoginOutcome::Attempt, method, cred, Fields::new());
        let receipt = self.submit(e, self.shared.sync_slack).await?;
        // The attempt that reaches MaxAuthTries ends the connection: its limit
        // event shares the attempt's sync rather than costing one after the delay.
        let limit = if self.failures + 1 >= MAX_AUTH_TRIES {
            let e = self.limit_event();
            Some(self.submit(e, self.shared.sync_slack).await?)
        } else {
            None
        };
        tokio::time::sleep(self.shared.auth_delay).await;
        self.recorded(receipt).await?;
        let limit_recorded = limit.is_some();
        if let Some(r) = limit {
            self.recorded(r).await?;
        }
        self.fail_after(true, limit_recorded).await
    }

    /// The `limit_exceeded` event of the failure that reaches [`MAX_AUTH_TRIES`].
    fn limit_event(&self) -> Event {
        let mut e = self.ctx.event(decnet_core::EventType::LimitExceeded);
        e.fields.insert("limit".into(), LIMIT_MAX_AUTH_TRIES.into());
        e.fields.insert("max".into(), MAX_AUTH_TRIES.into());
        e.fields.extend(self.tap.client_fields());
        e
    }

    /// Answers a refused attempt as sshd's `userauth_finish`: counted (unless
    /// it is the free first `none`), and the sixth failure is a disconnect.
    async fn fail(&mut self, counts: bool) -> Result<(), Ended> {
        self.fail_after(counts, false).await
    }

    /// [`Decoy::fail`], where `limit_recorded` says the `limit_exceeded` event
    /// of a sixth failure is already on disk.
    async fn fail_after(&mut self, counts: bool, limit_recorded: bool) -> Result<(), Ended> {
        if counts {
            self.failures += 1;
        }
        if self.failures >= MAX_AUTH_TRIES {
            if !limit_recorded {
                let e = self.limit_event();
                self.emit(e).await?;
            }
            self.t
                .disconnect(reason::PROTOCOL_ERROR, "Too many authentication failures")
                .await;
            return Err(Ended::Wire(WireError::Disconnected));
        }
        let mut a = vec![msg::USERAUTH_FAILURE];
        put_str(&mut a, self.methods());
        put_bool(&mut a, false);
        self.t.send(&a).await?;
        Ok(())
    }

    fn attempt_event(
        &self,
        outcome: LoginOutcome,
        method: LoginMethod,
        cred: Option<Credential>,
        extra: Fields,
    ) -> Event {
        self.progress.auth_seen.store(true, Ordering::Relaxed);
        let mut e = self.ctx.event_of(&Login {
            outcome,
            method: Some(method),
        });
        e.fields.extend(self.tap.client_fields());
        e.fields.extend(extra);
        e.credential = cred;
        self.ctx.mark_honeytoken(&mut e);
        e
    }

    async fn emit(&self, e: Event) -> Result<(), Ended> {
        tokio::select! {
            () = self.ctx.emit(e) => Ok(()),
            () = self.ctx.abort.aborted() => Err(Ended::Aborted),
        }
    }

    async fn submit(&self, e: Event, slack: Duration) -> Result<Receipt, Ended> {
        tokio::select! {
            r = self.ctx.emitter.submit(e, slack) => Ok(r),
            () = self.ctx.abort.aborted() => Err(Ended::Aborted),
        }
    }

    async fn recorded(&self, receipt: Receipt) -> Result<(), Ended> {
        let ok = tokio::select! {
            ok = receipt.recorded() => ok,
            () = self.ctx.abort.aborted() => false,
        };
        if !ok {
            self.ctx.abort.abort(crate::service::REASON_NOT_RECORDED);
            return Err(Ended::Aborted);
        }
        Ok(())
    }

    // ---- connection layer ----

    async fn global_request(&mut self, mut r: Reader<'_>) -> Result<(), Ended> {
        let name = r.utf8()?.to_owned();
        let want_reply = r.bool()?;
        if name == "tcpip-forward" {
            let addr = r.utf8()?.chars().take(256).collect::<String>();
            let port = r.u32()?;
            self.forward_event("tcpip-forward", &addr, port, None)
                .await?;
        }
        if want_reply {
            self.t.send(&[msg::REQUEST_FAILURE]).await?;
        }
        Ok(())
    }

    async fn forward_event(
        &self,
        kind: &str,
        host: &str,
        port: u32,
        originator: Option<(String, u32)>,
    ) -> Result<(), Ended> {
        // A forwarding request is something the user asked the host to do: a
        // `command` event whose text reads like the request, with its parts as fields.
        let text = format!("{kind} {host}:{port}");
        let mut e = self.ctx.event_of(&decnet_core::fields::Command::new(text));
        e.fields.insert("forwarding".into(), kind.into());
        e.fields.insert("destination_host".into(), host.into());
        e.fields.insert("destination_port".into(), port.into());
        if let Some((oh, op)) = originator {
            e.fields.insert("originator_host".into(), oh.into());
            e.fields.insert("originator_port".into(), op.into());
        }
        e.fields.insert("allowed".into(), false.into());
        if let Some(u) = &self.user {
            e.fields.insert(names::USER.into(), u.clone().into());
        }
        self.emit(e).await
    }

    async fn open_failure(&mut self, remote: u32, code: u32, text: &str) -> Result<(), Ended> {
        let mut a = vec![msg::CHANNEL_OPEN_FAILURE];
        put_u32(&mut a, remote);
        put_u32(&mut a, code);
        put_str(&mut a, text);
        put_str(&mut a, "");
        self.t.send(&a).await?;
        Ok(())
    }

    async fn channel_open(&mut self, mut r: Reader<'_>) -> Result<(), Ended> {
        let kind = r.utf8()?.to_owned();
        let remote = r.u32()?;
        let window = r.u32()?;
        let max = r.u32()?;
        match kind.as_str() {
            "session" => {}
            "direct-tcpip" => {
                let host = r.utf8()?.chars().take(256).collect::<String>();
                let port = r.u32()?;
                let oh = r.utf8()?.chars().take(64).collect::<String>();
                let op = r.u32()?;
                self.forward_event("direct-tcpip", &host, port, Some((oh, op)))
                    .await?;
                // sshd with `AllowTcpForwarding no`.
                return self.open_failure(remote, 1, "open failed").await;
            }
            _ => return self.open_failure(remote, 3, "unknown channel type").await,
        }
        if self.chans.len() >= MAX_CHANNELS {
            return self.open_failure(remote, 4, "open failed").await;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.chans.insert(
            id,
            Chan {
                remote,
                remote_window: window,
                remote_max: max.clamp(1, MAX_PACKET),
                local_window: WINDOW,
                pending: VecDeque::new(),
                closed_by_us: false,
                transfer: None,
            },
        );
        if self.session.is_none() {
            let (tx, rx) = mpsc::channel(SESSION_QUEUE);
            let task = SessionTask::new(
                self.shared.clone(),
                self.ctx.clone(),
                Handle(self.out_tx.clone()),
                self.user.clone().unwrap_or_default(),
            );
            // Task names need tokio_unstable; a span names it in traces instead.
            let span = tracing::debug_span!("ssh-session", session_id = %self.ctx.session_id);
            tokio::spawn(tracing::Instrument::instrument(task.run(rx), span));
            self.session = Some(tx);
        }
        let mut a = vec![msg::CHANNEL_OPEN_CONFIRMATION];
        put_u32(&mut a, remote);
        put_u32(&mut a, id);
        put_u32(&mut a, WINDOW);
        put_u32(&mut a, MAX_PACKET);
        self.t.send(&a).await?;
        Ok(())
    }

    async fn channel_request(&mut self, mut r: Reader<'_>) -> Result<(), Ended> {
        let id = r.u32()?;
        let kind = r.utf8()?.to_owned();
        let want_reply = r.bool()?;
        let Some(remote) = self.chans.get(&id).map(|c| c.remote) else {
            return Ok(());
        };
        let ok = match kind.as_str() {
            "pty-req" => {
                let term = r.utf8()?.chars().take(64).collect::<String>();
                let cols = r.u32()?;
                let rows = r.u32()?;
                self.to_session(SessionMsg::Pty {
                    channel: id,
                    term,
                    cols,
                    rows,
                })?;
                true
            }
            "env" => {
                // Debian's and Ubuntu's `AcceptEnv LANG LC_*`.
                let name = r.utf8()?;
                name == "LANG" || name.starts_with("LC_")
            }
            "shell" => {
                self.to_session(SessionMsg::Shell { channel: id })?;
                true
            }
            "exec" => {
                let data = r.string()?;
                let cap = data.len().min(crate::shell::MAX_LINE * 4);
                let command = String::from_utf8_lossy(data.get(..cap).unwrap_or(&[])).into_owned();
                let fs = crate::shell::fs::Fs::for_persona(&self.shared.persona);
                match transfer::for_exec(&command, &fs, &self.home()) {
                    Some((t, step)) => {
                        let user = self.user.clone().unwrap_or_default();
                        let e = self.ctx.event_of(
                            &decnet_core::fields::Command::new(command).in_shell(self.home(), user),
                        );
                        self.emit(e).await?;
                        if let Some(c) = self.chans.get_mut(&id) {
                            c.transfer = Some(t);
                        }
                        self.reply(want_reply, true, remote).await?;
                        return self.apply(id, step).await;
                    }
                    None => {
                        self.to_session(SessionMsg::Exec {
                            channel: id,
                            command,
                        })?;
                    }
                }
                true
            }
            "subsystem" => {
                let name = r.utf8()?;
                if name == "sftp" {
                    let fs = crate::shell::fs::Fs::for_persona(&self.shared.persona);
                    let sftp = transfer::Sftp::new(fs, &self.home());
                    if let Some(c) = self.chans.get_mut(&id) {
                        c.transfer = Some(Transfer::Sftp(Box::new(sftp)));
                    }
                    true
                } else {
                    false
                }
            }
            "window-change" => {
                let cols = r.u32()?;
                let rows = r.u32()?;
                self.to_session(SessionMsg::Resize {
                    channel: id,
                    cols,
                    rows,
                })?;
                true
            }
            _ => false,
        };
        self.reply(want_reply, ok, remote).await
    }

    async fn reply(&mut self, want_reply: bool, ok: bool, remote: u32) -> Result<(), Ended> {
        if want_reply {
            let code = if ok {
                msg::CHANNEL_SUCCESS
            } else {
                msg::CHANNEL_FAILURE
            };
            let mut a = vec![code];
            put_u32(&mut a, remote);
            self.t.send(&a).await?;
        }
        Ok(())
    }

    /// The logged-in user's home, where relative transfer paths start.
    fn home(&self) -> String {
        match self.user.as_deref() {
            Some("root") | None => "/root".to_owned(),
            Some(u) => format!("/home/{u}"),
        }
    }

    /// Counts channel data against our window, adjusting it as sshd does.
    async fn window_used(&mut self, id: ChannelId, len: u32) -> Result<(), Ended> {
        let Some(c) = self.chans.get_mut(&id) else {
            return Ok(());
        };
        c.local_window = c.local_window.saturating_sub(len);
        if c.local_window < WINDOW / 2 {
            let add = WINDOW - c.local_window;
            c.local_window = WINDOW;
            let mut a = vec![msg::CHANNEL_WINDOW_ADJUST];
            put_u32(&mut a, c.remote);
            put_u32(&mut a, add);
            self.t.send(&a).await?;
        }
        Ok(())
    }

    /// Sends a transfer step's output, records what it moved, and ends the
    /// channel when the transfer is over.
    async fn apply(&mut self, id: ChannelId, step: transfer::Step) -> Result<(), Ended> {
        for m in step.moved {
            self.moved(m).await?;
        }
        if !step.out.is_empty() {
            self.on_out(Out::Data(id, step.out)).await?;
        }
        if let Some(status) = step.exit {
            if let Some(c) = self.chans.get_mut(&id) {
                c.transfer = None;
            }
            self.on_out(Out::ExitStatus(id, status)).await?;
            self.on_out(Out::Eof(id)).await?;
            self.on_out(Out::Close(id)).await?;
        }
        Ok(())
    }

    /// A `file_upload` (its bytes kept as an artifact named by their SHA-256,
    /// and handed to the session so a later shell sees the file) or
    /// `file_download` event.
    async fn moved(&mut self, m: transfer::Moved) -> Result<(), Ended> {
        use decnet_core::fields::{Direction, FileRef, FileTransfer};
        let body = match m {
            transfer::Moved::Upload {
                name,
                data,
                size,
                tool,
            } => {
                let kept =
                    crate::kit::artifact::keep(&self.ctx.decky.artifacts_dir("ssh"), &data).await;
                let mut t = kept.upload(name.clone(), size);
                t.tool = Some(tool.to_owned());
                if let Some(tx) = &self.session {
                    // Best effort: a full queue costs the shell's view of the file, never the capture.
                    let _ = tx.try_send(SessionMsg::Uploaded { name, data });
                }
                t
            }
            transfer::Moved::Download { name, size, tool } => {
                let mut t = FileTransfer::new(Direction::Download, FileRef::Name(name));
                t.size = Some(size);
                t.tool = Some(tool.to_owned());
                t
            }
        };
        let e = self.ctx.event_of(&body);
        self.emit(e).await
    }

    async fn on_out(&mut self, out: Out) -> Result<(), WireError> {
        let (id, item) = match out {
            Out::Data(id, data) => (id, Pending::Data(data)),
            Out::ExitStatus(id, status) => {
                let mut a = vec![msg::CHANNEL_REQUEST];
                a.extend_from_slice(&[0; 4]);
                put_str(&mut a, "exit-status");
                put_bool(&mut a, false);
                put_u32(&mut a, status);
                (id, Pending::Raw(a))
            }
            Out::Eof(id) => (id, Pending::Raw(vec![msg::CHANNEL_EOF, 0, 0, 0, 0])),
            Out::Close(id) => (id, Pending::Raw(vec![msg::CHANNEL_CLOSE, 0, 0, 0, 0])),
        };
        let Some(c) = self.chans.get_mut(&id) else {
            return Ok(());
        };
        if c.closed_by_us {
            return Ok(());
        }
        if matches!(&item, Pending::Raw(a) if a.first() == Some(&msg::CHANNEL_CLOSE)) {
            c.closed_by_us = true;
        }
        c.pending.push_back(item);
        self.drain(id).await
    }

    /// Sends what the channel's window allows, in order; control messages
    /// (exit-status, EOF, close) wait behind the data queued before them.
    async fn drain(&mut self, id: ChannelId) -> Result<(), WireError> {
        let Some(c) = self.chans.get_mut(&id) else {
            return Ok(());
        };
        let remote = c.remote.to_be_bytes();
        let mut packets = Vec::new();
        while let Some(front) = c.pending.front_mut() {
            match front {
                Pending::Raw(a) => {
                    // Fill in the client's channel number after the message code.
                    if let Some(slot) = a.get_mut(1..5) {
                        slot.copy_from_slice(&remote);
                    }
                    packets.push(std::mem::take(a));
                    c.pending.pop_front();
                }
                Pending::Data(d) => {
                    let room = c.remote_window.min(c.remote_max) as usize;
                    if d.is_empty() {
                        c.pending.pop_front();
                        continue;
                    }
                    if room == 0 {
                        break;
                    }
                    let n = room.min(d.len());
                    let rest = d.split_off(n);
                    let chunk = std::mem::replace(d, rest);
                    c.remote_window = c
                        .remote_window
                        .saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
                    let mut a = vec![msg::CHANNEL_DATA];
                    a.extend_from_slice(&remote);
                    put_string(&mut a, &chunk);
                    packets.push(a);
                }
            }
        }
        for p in packets {
            self.t.queue(&p)?;
        }
        self.t.flush().await
    }
}

enum Pending {
    Data(Vec<u8>),
    /// A message with a placeholder channel number at bytes 1..5.
    Raw(Vec<u8>),
}

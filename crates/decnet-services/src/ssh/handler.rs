//! russh callbacks. Authentication callbacks turn each attempt into an event
//! and a yes/no; channel callbacks only translate into [`SessionMsg`]s for the
//! per-connection task that owns the shells.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_core::event::{Credential, Event, Fields, SecretKind};
use decnet_core::fields::{names, Login, LoginMethod, LoginOutcome};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use tokio::sync::mpsc;

use super::hassh::{Hello, TapState};
use super::session::{self, SessionMsg};
use super::{Shared, MAX_CHANNELS};
use crate::service::{ConnCtx, Receipt};

/// Messages queued for the session task before the connection is dropped as abusive.
const SESSION_QUEUE: usize = 1024;

/// What `serve` needs to know about the connection once it ends.
#[derive(Debug, Default)]
pub struct Progress {
    /// Some authentication request was made (`none` included).
    pub auth_seen: AtomicBool,
}

/// Adds `client_version`, `hassh` and `hassh_algorithms` from the tap.
pub fn client_fields(fields: &mut Fields, hello: &Hello) {
    fields.extend(super::hassh::hello_fields(hello));
}

/// One connection's russh handler.
pub struct SshHandler {
    shared: Arc<Shared>,
    ctx: ConnCtx,
    tap: TapState,
    progress: Arc<Progress>,
    user: Option<String>,
    session: Option<mpsc::Sender<SessionMsg>>,
    channels: usize,
}

impl SshHandler {
    /// A handler for one accepted connection.
    pub fn new(shared: Arc<Shared>, ctx: ConnCtx, tap: TapState, progress: Arc<Progress>) -> Self {
        SshHandler {
            shared,
            ctx,
            tap,
            progress,
            user: None,
            session: None,
            channels: 0,
        }
    }

    /// Emits an event; when the journal could not record it (or the session was
    /// aborted meanwhile) the session ends here instead of answering the peer.
    /// `ConnCtx::emit` parks forever then, and this callback runs in russh's own
    /// task, which no abort of `serve` reaches.
    async fn emit(&self, e: Event) -> Result<(), russh::Error> {
        tokio::select! {
            () = self.ctx.emit(e) => Ok(()),
            () = self.ctx.abort.aborted() => Err(russh::Error::Disconnect),
        }
    }

    /// Hands an event to the journal without waiting for its fsync (see [`Emitter::submit`]).
    ///
    /// [`Emitter::submit`]: crate::Emitter::submit
    async fn submit(&self, e: Event, slack: Duration) -> Result<Receipt, russh::Error> {
        tokio::select! {
            r = self.ctx.emitter.submit(e, slack) => Ok(r),
            () = self.ctx.abort.aborted() => Err(russh::Error::Disconnect),
        }
    }

    /// Waits until a submitted event is on disk; when the journal could not
    /// record it, the session is aborted and ends here, as in [`Self::emit`].
    async fn recorded(&self, receipt: Receipt) -> Result<(), russh::Error> {
        let ok = tokio::select! {
            ok = receipt.recorded() => ok,
            () = self.ctx.abort.aborted() => false,
        };
        if !ok {
            self.ctx.abort.abort(crate::service::REASON_NOT_RECORDED);
            return Err(russh::Error::Disconnect);
        }
        Ok(())
    }

    async fn record_attempt(
        &self,
        outcome: LoginOutcome,
        method: LoginMethod,
        cred: Option<Credential>,
        extra: Fields,
    ) -> Result<(), russh::Error> {
        let e = self.attempt_event(outcome, method, cred, extra);
        self.emit(e).await
    }

    /// The event of one authentication attempt; the client's hello fields are
    /// computed once per connection, not once per attempt.
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
        e
    }

    async fn password(
        &mut self,
        user: &str,
        password: &[u8],
        method: LoginMethod,
    ) -> Result<Auth, russh::Error> {
        let ok = self.shared.accepts(user, password);
        let cred = Some(Credential::new(user, password, SecretKind::Password));
        if ok {
            self.record_attempt(LoginOutcome::Success, method, cred, Fields::new())
                .await?;
            self.user = Some(user.to_owned());
            self.ctx.pre_auth.done();
            return Ok(Auth::Accept);
        }
        // The refusal waits for the persona's delay and for the event's fsync,
        // whichever is later: the peer still hears nothing that is not on disk,
        // and the delay it measures is the persona's, not the disk's plus it.
        // The event is handed over first with slack inside the delay, so the
        // journal syncs it with its neighbours, and its receipt is looked at only
        // once the delay is over: one wake-up per attempt, not two.
        let e = self.attempt_event(LoginOutcome::Attempt, method, cred, Fields::new());
        let receipt = self.submit(e, self.shared.sync_slack).await?;
        tokio::time::sleep(self.shared.auth_delay).await;
        self.recorded(receipt).await?;
        Ok(self.reject())
    }

    /// A refusal that keeps offering every method, as OpenSSH does; russh would
    /// otherwise drop the refused method and clients (libssh, hydra) give up on it.
    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(self.shared.methods.clone()),
            partial_success: false,
        }
    }

    /// Queues a message for the session task; a peer that floods it is dropped.
    fn send(&self, msg: SessionMsg) -> Result<(), russh::Error> {
        match &self.session {
            Some(tx) => tx.try_send(msg).map_err(|_| russh::Error::Pending),
            None => Ok(()),
        }
    }
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        // No secret was offered: the event names the user and carries no credential.
        let mut extra = Fields::new();
        extra.insert(names::USER.into(), user.into());
        self.record_attempt(LoginOutcome::Attempt, LoginMethod::None, None, extra)
            .await?;
        // Refused at once with the method list, as OpenSSH does.
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.password(user, password.as_bytes(), LoginMethod::Password)
            .await
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        match response.and_then(|mut r| r.next()) {
            None => Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            }),
            Some(answer) => {
                self.password(user, &answer, LoginMethod::KeyboardInteractive)
                    .await
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let key = offer.public_key;
        let text = key.to_openssh().unwrap_or_default();
        let mut extra = Fields::new();
        extra.insert("key_type".into(), key.algorithm().as_str().into());
        extra.insert("fingerprint".into(), super::keys::fingerprint(key).into());
        extra.insert(
            "signature_algorithm".into(),
            offer.algorithm.as_str().into(),
        );
        self.record_attempt(
            LoginOutcome::Attempt,
            LoginMethod::PublicKey,
            Some(Credential::new(
                user,
                text.as_bytes(),
                SecretKind::SshPubkey,
            )),
            extra,
        )
        .await?;
        // Every key is refused so the client falls back to a password.
        Ok(self.reject())
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(user) = self.user.clone() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        if self.channels >= MAX_CHANNELS {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels += 1;
        if self.session.is_none() {
            let (tx, rx) = mpsc::channel(SESSION_QUEUE);
            let task = session::SessionTask::new(
                self.shared.clone(),
                self.ctx.clone(),
                session.handle(),
                user,
            );
            // Task names need tokio_unstable; a span names it in traces instead.
            let span = tracing::debug_span!("ssh-session", session_id = %self.ctx.session_id);
            tokio::spawn(tracing::Instrument::instrument(task.run(rx), span));
            self.session = Some(tx);
        }
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(SessionMsg::Pty {
            channel,
            term: term.chars().take(64).collect(),
            cols: col_width,
            rows: row_height,
        })?;
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // OpenSSH accepts only LANG and LC_* by default; the others are refused quietly.
        session.channel_failure(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(SessionMsg::Shell { channel })?;
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let cap = data.len().min(crate::shell::MAX_LINE * 4);
        self.send(SessionMsg::Exec {
            channel,
            command: String::from_utf8_lossy(data.get(..cap).unwrap_or(&[])).into_owned(),
        })?;
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(SessionMsg::Data {
            channel,
            data: data.to_vec(),
        })
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(SessionMsg::Resize {
            channel,
            cols: col_width,
            rows: row_height,
        })
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(SessionMsg::Eof { channel })
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels = self.channels.saturating_sub(1);
        self.send(SessionMsg::Close { channel })
    }
}

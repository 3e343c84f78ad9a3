//! The per-connection task that owns the shells and their recordings. The
//! connection loop ([`super::decoy`]) feeds it [`SessionMsg`]s; it answers
//! through a [`Handle`], whose messages the loop frames for the wire.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::decoy::{ChannelId, Handle};
use super::{Shared, MAX_CHANNELS};
use crate::recorder::SessionRecording;
use crate::service::ConnCtx;
use crate::shell::{crlf, Shell};

/// What the handler tells the session task.
#[derive(Debug)]
pub enum SessionMsg {
    /// `pty-req`.
    Pty {
        /// Channel.
        channel: ChannelId,
        /// `TERM`.
        term: String,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// `shell`.
    Shell {
        /// Channel.
        channel: ChannelId,
    },
    /// `exec`.
    Exec {
        /// Channel.
        channel: ChannelId,
        /// The command line.
        command: String,
    },
    /// Channel data (keystrokes).
    Data {
        /// Channel.
        channel: ChannelId,
        /// Bytes.
        data: Vec<u8>,
    },
    /// `window-change`.
    Resize {
        /// Channel.
        channel: ChannelId,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// The client sent EOF.
    Eof {
        /// Channel.
        channel: ChannelId,
    },
    /// The client closed the channel.
    Close {
        /// Channel.
        channel: ChannelId,
    },
    /// A file arrived over SFTP or scp on this connection: its shells see it.
    Uploaded {
        /// Path as the transfer named it (relative paths start at the user's home).
        name: String,
        /// The bytes kept.
        data: Vec<u8>,
    },
}

/// Bytes of uploaded files one connection keeps for its shells: what one
/// shell's filesystem can hold anyway.
const MAX_UPLOADED_BYTES: usize = crate::shell::fs::MAX_OVERLAY_BYTES;
/// Uploaded files one connection keeps for its shells.
const MAX_UPLOADED_FILES: usize = 256;

#[derive(Default)]
struct Chan {
    pty: Option<(String, u32, u32)>,
    shell: Option<Shell>,
    rec: Option<SessionRecording>,
    closed: bool,
}

/// One connection's session task.
pub struct SessionTask {
    shared: Arc<Shared>,
    ctx: ConnCtx,
    handle: Handle,
    user: String,
    chans: HashMap<ChannelId, Chan>,
    recordings: usize,
    /// Files uploaded on this connection, in arrival order, put into every shell it opens.
    uploaded: Vec<(String, Vec<u8>)>,
    uploaded_bytes: usize,
}

impl SessionTask {
    /// A task for `user`, answering through `handle`.
    pub fn new(shared: Arc<Shared>, ctx: ConnCtx, handle: Handle, user: String) -> SessionTask {
        SessionTask {
            shared,
            ctx,
            handle,
            user,
            chans: HashMap::new(),
            recordings: 0,
            uploaded: Vec::new(),
            uploaded_bytes: 0,
        }
    }

    /// Runs until the handler goes away (the connection ended) or the session is
    /// aborted (an event it emitted could not be recorded: it would park forever).
    pub async fn run(mut self, mut rx: mpsc::Receiver<SessionMsg>) {
        let abort = self.ctx.abort.clone();
        let serve = async {
            while let Some(msg) = rx.recv().await {
                self.on(msg).await;
            }
        };
        tokio::select! {
            () = serve => {}
            () = abort.aborted() => return,
        }
        let ids: Vec<ChannelId> = self.chans.keys().copied().collect();
        for id in ids {
            self.finish_recording(id).await;
        }
    }

    fn chan(&mut self, id: ChannelId) -> Option<&mut Chan> {
        if !self.chans.contains_key(&id) && self.chans.len() >= MAX_CHANNELS * 2 {
            return None;
        }
        Some(self.chans.entry(id).or_default())
    }

    async fn on(&mut self, msg: SessionMsg) {
        match msg {
            SessionMsg::Pty {
                channel,
                term,
                cols,
                rows,
            } => {
                if let Some(c) = self.chan(channel) {
                    c.pty = Some((term, cols, rows));
                }
            }
            SessionMsg::Shell { channel } => self.start_shell(channel).await,
            SessionMsg::Exec { channel, command } => self.exec(channel, &command).await,
            SessionMsg::Data { channel, data } => self.input(channel, &data).await,
            SessionMsg::Resize {
                channel,
                cols,
                rows,
            } => {
                if let Some(rec) = self.chans.get_mut(&channel).and_then(|c| c.rec.as_mut()) {
                    rec.resize(cols, rows);
                }
            }
            SessionMsg::Eof { channel } => {
                // Without a terminal, EOF on stdin ends the shell like Ctrl-D.
                let no_pty = self
                    .chans
                    .get(&channel)
                    .is_some_and(|c| c.pty.is_none() && c.shell.is_some());
                if no_pty {
                    self.end_channel(channel, 0).await;
                }
            }
            SessionMsg::Close { channel } => {
                self.finish_recording(channel).await;
                self.chans.remove(&channel);
            }
            SessionMsg::Uploaded { name, data } => self.uploaded(name, data),
        }
    }

    /// Keeps an uploaded file for the connection's shells (within the caps a
    /// shell's filesystem has) and shows it to those already open.
    fn uploaded(&mut self, name: String, data: Vec<u8>) {
        if let Some(i) = self.uploaded.iter().position(|(n, _)| *n == name) {
            let (_, old) = self.uploaded.remove(i);
            self.uploaded_bytes -= old.len();
        }
        if self.uploaded.len() >= MAX_UPLOADED_FILES
            || self.uploaded_bytes.saturating_add(data.len()) > MAX_UPLOADED_BYTES
        {
            return;
        }
        for shell in self.chans.values_mut().filter_map(|c| c.shell.as_mut()) {
            shell.receive(&name, &data);
        }
        self.uploaded_bytes += data.len();
        self.uploaded.push((name, data));
    }

    /// A shell for this connection's user, holding what the connection uploaded.
    fn new_shell(&self) -> Shell {
        let mut shell =
            Shell::new(self.shared.persona.clone(), &self.user).with_peer(self.ctx.peer);
        for (name, data) in &self.uploaded {
            shell.receive(name, data);
        }
        shell
    }

    async fn start_shell(&mut self, channel: ChannelId) {
        let persona = self.shared.persona.clone();
        let sid = if self.recordings == 0 {
            self.ctx.session_id
        } else {
            Uuid::new_v4()
        };
        let peer = self.ctx.peer.ip();
        let recorder = self.shared.recorder.clone();
        let shell = self.new_shell();
        let Some(c) = self.chan(channel) else { return };
        if c.shell.is_some() {
            return;
        }
        let (term, cols, rows) = c.pty.clone().unwrap_or(("dumb".into(), 80, 24));
        let mut rec = recorder.start(sid, cols, rows, &term);
        let motd = persona.login_banner(peer, chrono::Utc::now());
        let mut out = motd.into_bytes();
        out.extend_from_slice(&shell.banner());
        rec.output(&out);
        c.rec = Some(rec);
        c.shell = Some(shell);
        self.recordings += 1;
        let _ = self.handle.data(channel, out).await;
    }

    async fn exec(&mut self, channel: ChannelId, command: &str) {
        let mut shell = self.new_shell();
        let Some(c) = self.chan(channel) else { return };
        let pty = c.pty.is_some();
        let (out, events, status) = shell.exec(command);
        crate::shell::emit_events(&self.ctx, events).await;
        let out = if pty { crlf(&out) } else { out };
        if !out.is_empty() {
            let _ = self.handle.data(channel, out).await;
        }
        self.end_channel(channel, status).await;
    }

    async fn input(&mut self, channel: ChannelId, data: &[u8]) {
        let Some(c) = self.chans.get_mut(&channel) else {
            return;
        };
        let Some(shell) = c.shell.as_mut() else {
            return;
        };
        let step = shell.feed(data);
        if let Some(rec) = c.rec.as_mut() {
            rec.input(data);
            rec.output(&step.output);
        }
        let exit = step.exit;
        crate::shell::emit_events(&self.ctx, step.events).await;
        if !step.output.is_empty() {
            let _ = self.handle.data(channel, step.output).await;
        }
        if exit {
            self.end_channel(channel, 0).await;
        }
    }

    async fn end_channel(&mut self, channel: ChannelId, status: u32) {
        let Some(c) = self.chans.get_mut(&channel) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        self.finish_recording(channel).await;
        let _ = self.handle.exit_status_request(channel, status).await;
        let _ = self.handle.eof(channel).await;
        let _ = self.handle.close(channel).await;
    }

    async fn finish_recording(&mut self, channel: ChannelId) {
        let Some(rec) = self.chans.get_mut(&channel).and_then(|c| c.rec.take()) else {
            return;
        };
        self.ctx.session_recorded(&rec.finish()).await;
    }
}

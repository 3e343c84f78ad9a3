//! What imap and pop3 share: who is let in (the configured `users` or the bait
//! world), Dovecot's persona (greeting name, version), the delayed refusal, and
//! the event of a message read.
//!
//! A message read is a `file_download` (DESIGN §6's "the peer asked to fetch a
//! file"): the mailbox is the file tree of a mail server, and a fetched message
//! is what an intruder takes away, exactly what FTP's RETR is. A type of its
//! own would split one question ("what did they take?") over two event types;
//! the mail-specific facts (`uid`, `subject`, `message_id`, `mailbox`) are
//! fields, and `name` is the document name a honeytoken planted in the message
//! carries, so the read and a later use of its credential line up.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::bait::{MailMessage, World};
use decnet_core::fields::{Direction, FileRef, FileTransfer};
use decnet_core::persona::distro::{Distro, Package};
use decnet_core::Event;
use sha2::{Digest as _, Sha256};

use crate::service::{ConnCtx, Receipt, REASON_NOT_RECORDED};

/// Dovecot's `auth_failure_delay` (2 s by default).
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_secs(2);
/// Dovecot's login processes end a session after this many bad commands.
pub const LOGIN_MAX_BAD: u32 = 3;

/// Who a mail service lets in.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// `users` persona key.
    pub users: Vec<(String, String)>,
    /// The decky (for the world's decision).
    pub decky: String,
    /// The fleet's bait world.
    pub bait: Arc<World>,
}

impl Accounts {
    /// Whether the credential is a configured account or one the world accepts here.
    pub fn accepts(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
            || self.bait.accepts(&self.decky, user, password)
    }

    /// Passwords `user` could have here, to check a challenge response against
    /// (APOP): configured ones, the person's own, and honeytokens valid here.
    pub fn candidates(&self, user: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .users
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
            .collect();
        out.extend(self.bait.passwords_for(&self.decky, user));
        out
    }

    /// The mailbox a login sees.
    pub fn mailbox(&self, login: &str) -> Vec<MailMessage> {
        self.bait.mailbox(&self.decky, login)
    }
}

/// `Dovecot (Debian)`, `Dovecot (Ubuntu)` or `Dovecot`, as the distro's
/// package sets `login_greeting`.
pub fn dovecot_name(d: &Distro) -> &'static str {
    match d.os_id {
        "debian" | "kali" => "Dovecot (Debian)",
        "ubuntu" => "Dovecot (Ubuntu)",
        _ => "Dovecot",
    }
}

/// Whether the distro's Dovecot is of the 2.2 series (older capability order).
pub fn dovecot_2_2(d: &Distro) -> bool {
    d.package(Package::Dovecot)
        .is_some_and(|v| v.upstream.starts_with("2.2"))
}

/// Emits `events` together (one sync for all) and returns once all are recorded;
/// when the journal cannot record them the session is aborted and this never returns.
pub async fn emit_all(ctx: &ConnCtx, events: Vec<Event>) {
    let mut receipts = Vec::with_capacity(events.len());
    for e in events {
        receipts.push(ctx.emitter.submit(e, Duration::ZERO).await);
    }
    for r in receipts {
        recorded(ctx, r).await;
    }
}

async fn recorded(ctx: &ConnCtx, r: Receipt) {
    if !r.recorded().await {
        ctx.abort.abort(REASON_NOT_RECORDED);
        std::future::pending::<()>().await
    }
}

/// Emits a refused attempt's event and waits out Dovecot's failure delay (the
/// event shares a sync with others meanwhile); returns once both are done.
pub async fn refuse(ctx: &ConnCtx, event: Event) {
    let r = ctx.emitter.submit(event, AUTH_FAILURE_DELAY / 2).await;
    tokio::time::sleep(AUTH_FAILURE_DELAY).await;
    recorded(ctx, r).await;
}

/// The `file_download` event of `m` read by `login` from `mailbox` (`what`:
/// the item or command that returned it).
pub fn read_event(
    ctx: &ConnCtx,
    m: &MailMessage,
    login: &str,
    mailbox: &str,
    what: &str,
    command: &str,
) -> Event {
    let mut t = FileTransfer::new(Direction::Download, FileRef::Name(m.document(Some(login))));
    t.size = Some(m.raw.len() as u64);
    t.sha256 = Some(hex::encode(Sha256::digest(&m.raw)));
    t.command = Some(command.chars().take(512).collect());
    let mut e = ctx.event_of(&t);
    e.fields.insert("uid".into(), m.uid.into());
    e.fields.insert("subject".into(), m.subject.clone().into());
    e.fields
        .insert("message_id".into(), m.message_id.clone().into());
    e.fields.insert("mailbox".into(), mailbox.into());
    e.fields.insert("login".into(), login.into());
    e.fields.insert("item".into(), what.into());
    e
}

//! `GET /stream`: server-sent events. On connect a `snapshot` (stats and the
//! latest events); then each bus message on the watched topics as a `bus`
//! event, or, with the bus off (or gone), each newly stored event as an
//! `event` event by polling the store. A `: keepalive` comment every 15 s;
//! an `error` event and the end of the stream if the store fails; the task
//! ends as soon as the client goes away or the server shuts down.
//!
//! A stream lives no longer than the token that opened it: it ends (after an
//! `end` event naming why) when the token expires, and when it is revoked —
//! password change or reset, role change, account deleted. Revocations made
//! through this API end it at once; anything else (another process, the
//! database edited directly) is caught by a recheck on every keepalive tick.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use decnet_bus::{Envelope, Subscription};
use decnet_core::topics;
use decnet_store::{EventFilter, PageRequest, StoredEvent};
use futures::stream::{BoxStream, StreamExt as _};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::auth::{AuthSession, Claims};
use crate::dto::{EventOut, StatsDto};
use crate::error::ErrorBody;
use crate::AppState;

/// Bus patterns forwarded to clients.
pub(crate) const PATTERNS: &[&str] = &[topics::SYSTEM_LOG, "attacker.>", "credential.>"];
/// Newest events fetched per poll.
const POLL_BATCH: u32 = 500;
/// Top-N size of the snapshot's stats.
const SNAPSHOT_TOP: u32 = 10;

/// Live feed (Server-Sent Events).
///
/// Events: `snapshot` `{"stats":…,"events":[…]}` first; then `bus`
/// `{"topic","type","ts","payload"}` per bus message (`id:` the envelope id),
/// or `event` (one stored event) when the bus is off; `error`
/// `{"message"}` before the stream ends on failure; `end` `{"reason"}`
/// (`token_expired` or `token_revoked`) before it ends because the token
/// is no longer valid: log in again and reconnect.
#[utoipa::path(
    get, path = "/api/v1/stream", tag = "stream",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    session: AuthSession,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let settings = state.stream_settings();
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    // Subscribe before the snapshot is read, so nothing published after the
    // snapshot can fall between the two.
    let bus = subscribe(&state);
    // Subscribed now, so a revocation racing the snapshot is not missed.
    let revocations = state.revocations();
    let end = token_end(
        state.clone(),
        session.user.uuid,
        session.claims,
        revocations,
    );
    tokio::spawn(run(state, bus, tx, end));
    Sse::new(ReceiverStream::new(rx).map(Ok)).keep_alive(
        KeepAlive::new()
            .interval(settings.keepalive)
            .text("keepalive"),
    )
}

fn subscribe(state: &AppState) -> Option<BoxStream<'static, Envelope>> {
    let bus = state.bus()?;
    let mut subs: Vec<Subscription> = Vec::new();
    for p in PATTERNS {
        match bus.subscribe(p) {
            Ok(s) => subs.push(s),
            Err(e) => {
                tracing::warn!(pattern = p, error = %e, "stream: bus subscription failed; polling");
                return None;
            }
        }
    }
    let streams = subs.into_iter().map(|s| {
        futures::stream::unfold(s, |mut s| async move { s.recv().await.map(|e| (e, s)) }).boxed()
    });
    Some(futures::stream::select_all(streams).boxed())
}

/// The newest event already sent: (ts, id).
type Mark = Option<(DateTime<Utc>, Uuid)>;

fn mark_of(e: &StoredEvent) -> (DateTime<Utc>, Uuid) {
    (e.ts, e.id)
}

/// Why a stream's token stopped being good.
#[derive(Debug)]
enum End {
    Expired,
    Revoked,
    Store(decnet_store::StoreError),
}

/// Resolves when the token behind a stream expires or is revoked: at `exp`,
/// on a revocation notice for `user`, or at a periodic recheck (every
/// keepalive) that finds the account gone or its tokens revoked.
async fn token_end(
    state: AppState,
    user: Uuid,
    claims: Claims,
    mut revocations: tokio::sync::broadcast::Receiver<Uuid>,
) -> End {
    use tokio::sync::broadcast::error::RecvError;
    let left = claims.exp.saturating_sub(Utc::now().timestamp());
    let left = std::time::Duration::from_secs(u64::try_from(left).unwrap_or(0));
    let expiry = tokio::time::sleep(left);
    tokio::pin!(expiry);
    let every = state.stream_settings().keepalive;
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut notices = true;
    loop {
        tokio::select! {
            () = &mut expiry => return End::Expired,
            _ = recheck.tick() => {}
            r = revocations.recv(), if notices => match r {
                Ok(u) if u == user => {}
                Ok(_) => continue,
                // Missed notices may have been ours: recheck.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    notices = false;
                    continue;
                }
            },
        }
        match state.store().user(user).await {
            Ok(Some(u)) if !crate::auth::is_revoked(&claims, &u) => {}
            Ok(_) => return End::Revoked,
            Err(e) => return End::Store(e),
        }
    }
}

/// Sends the last event of a stream whose token ended.
async fn ended(tx: &mpsc::Sender<SseEvent>, why: End) {
    let reason = match why {
        End::Expired => "token_expired",
        End::Revoked => "token_revoked",
        End::Store(e) => return fail(tx, e).await,
    };
    tracing::debug!(reason, "stream ended");
    let ev = SseEvent::default()
        .event("end")
        .data(json!({ "reason": reason }).to_string());
    let _ = tx.send(ev).await;
}

async fn run(
    state: AppState,
    bus: Option<BoxStream<'static, Envelope>>,
    tx: mpsc::Sender<SseEvent>,
    end: impl std::future::Future<Output = End>,
) {
    tokio::pin!(end);
    let shutdown = state.shutdown_token();
    let mut mark: Mark = match snapshot(&state).await {
        Ok((ev, m)) => {
            if tx.send(ev).await.is_err() {
                return;
            }
            m
        }
        Err(e) => {
            fail(&tx, e).await;
            return;
        }
    };
    if let Some(mut bus) = bus {
        let mut forwarded = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                why = &mut end => return ended(&tx, why).await,
                env = bus.next() => match env {
                    Some(env) => {
                        forwarded = true;
                        if tx.send(bus_event(&env)).await.is_err() {
                            return;
                        }
                    }
                    // The bus is off or closed: carry on by polling.
                    None => break,
                },
            }
        }
        // Events stored while the bus was live were notified, not sent: poll
        // from now rather than replay them. A bus that never delivered (off
        // from the start) covered nothing, so polling resumes at the snapshot
        // and an event stored since is not skipped.
        if forwarded {
            mark = newest(&state).await.ok().flatten().or(mark);
        }
    }
    let mut tick = tokio::time::interval(state.stream_settings().poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tx.closed() => return,
            why = &mut end => return ended(&tx, why).await,
            _ = tick.tick() => {
                match poll(&state, mark).await {
                    Ok(events) => {
                        for e in events {
                            mark = Some(mark_of(&e));
                            if tx.send(stored_event(e)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        fail(&tx, e).await;
                        return;
                    }
                }
            }
        }
    }
}

async fn fail(tx: &mpsc::Sender<SseEvent>, cause: decnet_store::StoreError) {
    tracing::error!(error = %cause, "stream interrupted");
    let ev = SseEvent::default()
        .event("error")
        .data(json!({"message": "stream interrupted"}).to_string());
    let _ = tx.send(ev).await;
}

async fn newest(state: &AppState) -> Result<Mark, decnet_store::StoreError> {
    let p = state
        .store()
        .list_events(&EventFilter::default(), &PageRequest::first(1))
        .await?;
    Ok(p.items.first().map(mark_of))
}

async fn snapshot(state: &AppState) -> Result<(SseEvent, Mark), decnet_store::StoreError> {
    let n = state.stream_settings().snapshot_events.clamp(1, 500);
    let stats = state.store().stats(SNAPSHOT_TOP).await?;
    let page = state
        .store()
        .list_events(&EventFilter::default(), &PageRequest::first(n))
        .await?;
    let mark = page.items.first().map(mark_of);
    let events: Vec<EventOut> = page.items.into_iter().map(EventOut::from_stored).collect();
    let body = json!({
        "stats": StatsDto::new(stats, state.deckies().len()),
        "events": events,
    });
    Ok((
        SseEvent::default().event("snapshot").data(body.to_string()),
        mark,
    ))
}

/// Events stored after `mark`, oldest first.
async fn poll(state: &AppState, mark: Mark) -> Result<Vec<StoredEvent>, decnet_store::StoreError> {
    let filter = EventFilter {
        start: mark.map(|(ts, _)| ts),
        ..Default::default()
    };
    let page = state
        .store()
        .list_events(&filter, &PageRequest::first(POLL_BATCH))
        .await?;
    let mut fresh: Vec<StoredEvent> = page
        .items
        .into_iter()
        .filter(|e| mark.is_none_or(|m| mark_of(e) > m))
        .collect();
    fresh.reverse();
    Ok(fresh)
}

fn stored_event(e: StoredEvent) -> SseEvent {
    let id = e.id.to_string();
    let data = serde_json::to_string(&EventOut::from_stored(e)).unwrap_or_default();
    SseEvent::default().event("event").id(id).data(data)
}

fn bus_event(env: &Envelope) -> SseEvent {
    let data = json!({
        "topic": env.topic,
        "type": env.ty,
        "ts": env.ts,
        "payload": env.payload,
    });
    SseEvent::default()
        .event("bus")
        .id(env.id.clone())
        .data(data.to_string())
}

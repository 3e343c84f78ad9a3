//! `/sessions/{sid}/transcript`: a recorded session, header and events.

use axum::extract::State;
use chrono::{Duration, NaiveDate};

use crate::auth::AuthUser;
use crate::dto::TranscriptDto;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, PathParam};
use crate::transcript::{read_transcript, transcripts_dir};
use crate::AppState;

/// Most UTC days a session's shards are searched over.
const MAX_DAYS: i64 = 7;

/// The asciinema recording of one session.
#[utoipa::path(
    get, path = "/api/v1/sessions/{sid}/transcript", tag = "sessions",
    params(("sid" = Uuid, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Header and events", body = TranscriptDto),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such session, or nothing recorded", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn transcript(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
) -> Result<axum::Json<TranscriptDto>, ApiError> {
    let sid = path_uuid("sid", &raw)?;
    let session = state
        .store()
        .session(sid)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    // The directory comes from the decky and service names, never from the
    // stored shard path, so a forged row cannot point the reader elsewhere.
    let dir = transcripts_dir(state.data_dir(), &session.decky, &session.service)
        .ok_or(ApiError::NotFound("transcript"))?;
    let first = session.started_at.date_naive();
    let last_ts = session.ended_at.unwrap_or(session.started_at)
        + Duration::milliseconds(
            (session.recording_duration_s.unwrap_or(0.0).max(0.0) * 1000.0) as i64,
        );
    let last = last_ts
        .date_naive()
        .min(first + Duration::days(MAX_DAYS - 1));
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    // The recorder tags shard lines with its own id, which the ingester
    // links to the connection's session; older rows lack the link.
    let tag = session.recording_sid.unwrap_or(sid);
    let t = tokio::task::spawn_blocking(move || read_transcript(&dir, &days, tag))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if t.is_empty() {
        return Err(ApiError::NotFound("transcript"));
    }
    Ok(axum::Json(TranscriptDto {
        sid,
        header: t.header,
        events: t.events,
        truncated: t.truncated,
    }))
}

//! `decnet events`: print the journal as JSON lines, optionally following it.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_core::paths::DataDir;
use decnet_core::{Event, EventType};
use decnet_journal::{JournalPos, JournalReader, Record};
use std::io::Write as _;

use super::DataDirArg;

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// `decnet events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Keep printing new events as they are captured.
    #[arg(long, short)]
    pub follow: bool,
    /// Only this decky.
    #[arg(long)]
    pub decky: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this event type (connect, login_attempt, command, …).
    #[arg(long = "type", value_parser = parse_type)]
    pub event_type: Option<EventType>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-24T10:00:00Z).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
}

fn parse_type(s: &str) -> Result<EventType, String> {
    EventType::parse(s).ok_or_else(|| {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown event type {s:?}; one of: {}", names.join(", "))
    })
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}); e.g. 2026-11-24T10:00:00Z"))
}

impl EventsArgs {
    fn matches(&self, e: &Event) -> bool {
        self.decky.as_ref().is_none_or(|d| &e.decky == d)
            && self.service.as_ref().is_none_or(|s| &e.service == s)
            && self.event_type.is_none_or(|t| e.event_type == t)
            && self.since.is_none_or(|t| e.ts >= t)
    }
}

pub async fn events(a: EventsArgs) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(&a.data.data_dir).journal();
    if !dir.exists() && !a.follow {
        anyhow::bail!(
            "no journal at {}: start a fleet with `decnet up --data-dir {}` first, or point --data-dir at one",
            dir.display(),
            a.data.data_dir.display()
        );
    }
    let mut reader = JournalReader::open(&dir, JournalPos::START);
    let stdout = std::io::stdout();
    loop {
        let batch = reader.read_batch(1024)?;
        let empty = batch.is_empty();
        let mut out = stdout.lock();
        for (rec, _) in batch {
            match rec {
                Record::Event(e) => {
                    if a.matches(&e) {
                        // A closed pipe (e.g. `| head`) ends the command quietly.
                        if writeln!(out, "{}", e.to_json_line()).is_err() {
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
                Record::Corrupt { at, reason } => {
                    tracing::warn!(%at, %reason, "skipping a journal line that is not an event")
                }
            }
        }
        if out.flush().is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        drop(out);
        if empty {
            if !a.follow {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
            }
        }
    }
}

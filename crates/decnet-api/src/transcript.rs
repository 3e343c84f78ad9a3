//! Reads one session's lines out of the transcript shards (DESIGN §11):
//! `<data>/artifacts/<decky>/<service>/transcripts/sessions-YYYY-MM-DD[.N].jsonl`,
//! lines tagged with `sid`, rotations oldest (lowest N) first, then the
//! current shard. Format only: the API never imports the recorder.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::NaiveDate;
use decnet_core::paths::DataDir;
use decnet_core::transcript::session_lines;
use serde_json::{json, Value};
use uuid::Uuid;

/// One session's recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// The asciinema header object, if its line was found.
    pub header: Option<Value>,
    /// `[t, code, data]` events (`[t, code, data, base64]` when the bytes were not UTF-8).
    pub events: Vec<Value>,
    /// The recording hit its cap.
    pub truncated: bool,
}

impl Transcript {
    /// Whether anything of the session was found.
    pub fn is_empty(&self) -> bool {
        self.header.is_none() && self.events.is_empty() && !self.truncated
    }
}

/// Whether `s` is safe as one path component (no traversal, no separators).
pub fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0']) && s.len() <= 255
}

/// The transcripts directory of a decky's service, if the names are safe.
pub fn transcripts_dir(data_dir: &Path, decky: &str, service: &str) -> Option<PathBuf> {
    (safe_component(decky) && safe_component(service))
        .then(|| DataDir::new(data_dir).transcripts(decky, service))
}

/// Collects session `sid`'s lines from the shards of `days` under `dir`.
pub fn read_transcript(dir: &Path, days: &[NaiveDate], sid: Uuid) -> io::Result<Transcript> {
    let mut t = Transcript::default();
    let sid_text = sid.to_string();
    for day in days {
        for buf in session_lines(dir, *day, sid)? {
            let Ok(Value::Object(mut line)) = serde_json::from_slice::<Value>(&buf) else {
                continue;
            };
            if line.get("sid").and_then(Value::as_str) != Some(sid_text.as_str()) {
                continue;
            }
            if let Some(h) = line.remove("hdr") {
                t.header = Some(h);
            } else if line.get("trunc").and_then(Value::as_bool) == Some(true) {
                t.truncated = true;
            } else if let (Some(ts), Some(ch)) = (line.get("t").cloned(), line.get("ch").cloned()) {
                match (line.get("d"), line.get("b").and_then(Value::as_str)) {
                    (Some(d), _) => t.events.push(json!([ts, ch, d])),
                    (None, Some(b)) => {
                        let text = base64::engine::general_purpose::STANDARD
                            .decode(b)
                            .map(|v| String::from_utf8_lossy(&v).into_owned())
                            .unwrap_or_default();
                        t.events.push(json!([ts, ch, text, b]));
                    }
                    (None, None) => {}
                }
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn reads_one_session_across_rotations_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let day = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let write = |name: &str, lines: &[String]| {
            let mut f = std::fs::File::create(tmp.path().join(name)).unwrap();
            for l in lines {
                writeln!(f, "{l}").unwrap();
            }
        };
        write(
            "sessions-2024-05-01.1.jsonl",
            &[
                format!(r#"{{"sid":"{a}","hdr":{{"version":2,"width":80,"height":24}}}}"#),
                format!(r#"{{"sid":"{b}","t":0.1,"ch":"o","d":"other"}}"#),
                format!(r#"{{"sid":"{a}","t":0.5,"ch":"i","d":"ls\r"}}"#),
            ],
        );
        write(
            "sessions-2024-05-01.jsonl",
            &[
                format!(r#"{{"sid":"{a}","t":1.0,"ch":"o","b":"//4="}}"#),
                format!(r#"{{"sid":"{a}","trunc":true}}"#),
            ],
        );
        write(
            "sessions-2024-05-01.x.jsonl",
            &[format!(r#"{{"sid":"{a}","t":9,"ch":"o","d":"no"}}"#)],
        );
        let t = read_transcript(tmp.path(), &[day], a).unwrap();
        assert_eq!(t.header.unwrap()["width"], 80);
        assert_eq!(t.events.len(), 2);
        assert_eq!(t.events[0], json!([0.5, "i", "ls\r"]));
        assert_eq!(t.events[1][3], "//4=");
        assert!(t.truncated);
        assert!(read_transcript(tmp.path(), &[day], Uuid::new_v4())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn unsafe_names_get_no_directory() {
        let d = Path::new("/data");
        assert!(transcripts_dir(d, "..", "ssh").is_none());
        assert!(transcripts_dir(d, "a/b", "ssh").is_none());
        assert!(transcripts_dir(d, "web1", "").is_none());
        assert_eq!(
            transcripts_dir(d, "web1", "ssh").unwrap(),
            Path::new("/data/artifacts/web1/ssh/transcripts")
        );
    }
}

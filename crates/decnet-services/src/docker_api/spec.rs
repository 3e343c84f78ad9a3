//! What a `POST /containers/create` or `/containers/{id}/exec` body asks for,
//! pulled out of the JSON for the `command` event: the image, the command
//! line, and what makes a container an escape (privileged, host mounts, host
//! namespaces, added capabilities).
//!
//! Hostile-input guarantees: [`CreateSpec::parse`] and [`ExecSpec::parse`]
//! take any bytes (the front end has capped them at 64 KiB), never panic, and
//! keep at most [`LIST_MAX`] entries of any list and [`TEXT_MAX`] bytes of any
//! string.

use serde_json::{Map, Value};

/// Entries kept of any list (env, binds, cmd).
pub const LIST_MAX: usize = 64;
/// Bytes kept of any one string.
pub const TEXT_MAX: usize = 4096;

/// Why a body is refused, with dockerd's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No body at all.
    #[error("config cannot be empty in order to create a container")]
    Empty,
    /// Not a JSON object.
    #[error("{0}")]
    Json(String),
}

/// A container create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// `Image`.
    pub image: String,
    /// `Cmd` (a string is one argument, as the API takes it).
    pub cmd: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Env`.
    pub env: Vec<String>,
    /// `HostConfig.Binds` and the `bind` sources of `HostConfig.Mounts`, as `src:dst`.
    pub binds: Vec<String>,
    /// `HostConfig.Privileged`.
    pub privileged: bool,
    /// `HostConfig.PidMode`, `NetworkMode`, `IpcMode` when `host`.
    pub host_namespaces: Vec<String>,
    /// `HostConfig.CapAdd`.
    pub cap_add: Vec<String>,
    /// `User`.
    pub user: String,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `Tty`.
    pub tty: bool,
}

/// An exec create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `User`.
    pub user: String,
    /// `Privileged`.
    pub privileged: bool,
    /// `Tty`.
    pub tty: bool,
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => cap(s),
        _ => String::new(),
    }
}

fn cap(s: &str) -> String {
    if s.len() <= TEXT_MAX {
        return s.to_owned();
    }
    let mut end = TEXT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// A string list (`["a","b"]`), or a lone string as one entry.
fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .take(LIST_MAX)
            .map(cap)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![cap(s)],
        _ => Vec::new(),
    }
}

fn flag(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn object(body: &[u8]) -> Result<Map<String, Value>, SpecError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SpecError::Empty);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        // Go's decoder into a struct: the type mismatch it reports.
        Ok(other) => Err(SpecError::Json(format!(
            "json: cannot unmarshal {} into Go value of type container.CreateRequest",
            go_kind(&other)
        ))),
        Err(e) => Err(SpecError::Json(format!("invalid JSON: {}", e))),
    }
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    }
}

impl CreateSpec {
    /// Reads a create body.
    pub fn parse(body: &[u8]) -> Result<CreateSpec, SpecError> {
        let m = object(body)?;
        let host = m.get("HostConfig").and_then(Value::as_object);
        let hget = |k: &str| host.and_then(|h| h.get(k));
        let mut binds = list(hget("Binds"));
        if let Some(Value::Array(mounts)) = hget("Mounts") {
            for mount in mounts.iter().filter_map(Value::as_object) {
                if binds.len() >= LIST_MAX {
                    break;
                }
                if mount.get("Type").and_then(Value::as_str) == Some("bind") {
                    binds.push(format!(
                        "{}:{}",
                        text(mount.get("Source")),
                        text(mount.get("Target"))
                    ));
                }
            }
        }
        let host_namespaces = ["PidMode", "NetworkMode", "IpcMode", "UTSMode", "UsernsMode"]
            .into_iter()
            .filter(|k| hget(k).and_then(Value::as_str) == Some("host"))
            .map(str::to_owned)
            .collect();
        Ok(CreateSpec {
            image: text(m.get("Image")),
            cmd: list(m.get("Cmd")),
            entrypoint: list(m.get("Entrypoint")),
            env: list(m.get("Env")),
            binds,
            privileged: flag(hget("Privileged")),
            host_namespaces,
            cap_add: list(hget("CapAdd")),
            user: text(m.get("User")),
            working_dir: text(m.get("WorkingDir")),
            tty: flag(m.get("Tty")),
        })
    }

    /// The command line the container runs: entrypoint, then cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(self.cmd.iter())
            .cloned()
            .collect()
    }
}

impl ExecSpec {
    /// Reads an exec create body.
    pub fn parse(body: &[u8]) -> Result<ExecSpec, SpecError> {
        let m = object(body)?;
        Ok(ExecSpec {
            cmd: list(m.get("Cmd")),
            user: text(m.get("User")),
            privileged: flag(m.get("Privileged")),
            tty: flag(m.get("Tty")),
        })
    }
}

/// An argv as a shell line, quoting what a shell would split.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_breakout_create_is_read_whole() {
        let body = br#"{"Image":"alpine","Cmd":["sh","-c","chroot /mnt sh"],"Entrypoint":null,
            "Env":["A=1"],"Tty":true,"HostConfig":{"Binds":["/:/mnt"],"Privileged":true,
            "PidMode":"host","CapAdd":["SYS_ADMIN"],
            "Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Target":"/s"}]}}"#;
        let s = CreateSpec::parse(body).unwrap();
        assert_eq!(s.image, "alpine");
        assert_eq!(s.cmd, ["sh", "-c", "chroot /mnt sh"]);
        assert!(s.entrypoint.is_empty());
        assert_eq!(s.binds, ["/:/mnt", "/var/run/docker.sock:/s"]);
        assert!(s.privileged && s.tty);
        assert_eq!(s.host_namespaces, ["PidMode"]);
        assert_eq!(s.cap_add, ["SYS_ADMIN"]);
        assert_eq!(shell_line(&s.argv()), "sh -c 'chroot /mnt sh'");
        let one = CreateSpec::parse(br#"{"Image":"x","Cmd":"id"}"#).unwrap();
        assert_eq!(one.cmd, ["id"]);
    }

    #[test]
    fn bad_bodies_get_dockerds_refusals() {
        assert_eq!(CreateSpec::parse(b""), Err(SpecError::Empty));
        assert!(
            matches!(CreateSpec::parse(b"[1]"), Err(SpecError::Json(m)) if m.contains("cannot unmarshal array"))
        );
        assert!(matches!(CreateSpec::parse(b"{"), Err(SpecError::Json(_))));
        assert_eq!(
            ExecSpec::parse(br#"{"Cmd":["cat","/etc/shadow"],"User":"root"}"#)
                .unwrap()
                .cmd,
            ["cat", "/etc/shadow"]
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = CreateSpec::parse(&bytes);
            let _ = ExecSpec::parse(&bytes);
        }

        #[test]
        fn any_json_never_panics_and_stays_capped(
            image in ".{0,64}",
            cmd in proptest::collection::vec(".{0,16}", 0..100),
            privileged in any::<bool>(),
        ) {
            let body = serde_json::json!({
                "Image": image, "Cmd": cmd, "HostConfig": {"Privileged": privileged, "Binds": cmd}
            });
            let s = CreateSpec::parse(body.to_string().as_bytes()).unwrap();
            prop_assert!(s.cmd.len() <= LIST_MAX && s.binds.len() <= LIST_MAX);
            prop_assert_eq!(s.privileged, privileged);
            let _ = shell_line(&s.argv());
        }
    }
}

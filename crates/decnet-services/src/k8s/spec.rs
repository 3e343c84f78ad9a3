//! What a pod create body asks for, pulled out of the JSON for the `command`
//! event: each container's image and command line, and what makes a pod an
//! escape (privileged containers, hostPath volumes, host namespaces, a pinned node).
//!
//! Hostile-input guarantees: [`PodSpec::parse`] takes any bytes (capped at
//! 64 KiB by the front end), never panics, and keeps at most [`LIST_MAX`]
//! entries of any list and [`TEXT_MAX`] bytes of any string.

use serde_json::Value;

/// Entries kept of any list.
pub const LIST_MAX: usize = 32;
/// Bytes kept of any one string.
pub const TEXT_MAX: usize = 4096;

/// One container of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// `name`.
    pub name: String,
    /// `image`.
    pub image: String,
    /// `command` then `args`.
    pub argv: Vec<String>,
    /// `securityContext.privileged`.
    pub privileged: bool,
}

/// A pod create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSpec {
    /// `metadata.name` (or `generateName`).
    pub name: String,
    /// `metadata.namespace`, if given.
    pub namespace: String,
    /// `spec.containers` and `spec.initContainers`.
    pub containers: Vec<Container>,
    /// `hostPath.path` of every volume.
    pub host_paths: Vec<String>,
    /// `hostPID`, `hostNetwork`, `hostIPC` when true.
    pub host_namespaces: Vec<String>,
    /// `spec.nodeName`.
    pub node_name: String,
    /// `spec.serviceAccountName`.
    pub service_account: String,
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

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).map(cap).unwrap_or_default()
}

fn list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(LIST_MAX)
                .map(cap)
                .collect()
        })
        .unwrap_or_default()
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not a JSON object (kube-apiserver's decode error text follows).
    #[error("{0}")]
    Decode(String),
}

impl PodSpec {
    /// Reads a pod create body.
    pub fn parse(body: &[u8]) -> Result<PodSpec, SpecError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            SpecError::Decode(format!(
                "couldn't get version/kind; json parse error: {}",
                e.to_string().split(" at line").next().unwrap_or_default()
            ))
        })?;
        let Some(m) = v.as_object() else {
            return Err(SpecError::Decode(
                "couldn't get version/kind; json parse error: json: cannot unmarshal into Go value of type struct"
                    .into(),
            ));
        };
        let meta = m.get("metadata").and_then(Value::as_object);
        let spec = m.get("spec").and_then(Value::as_object);
        let sget = |k: &str| spec.and_then(|s| s.get(k));
        let mut containers = Vec::new();
        for key in ["initContainers", "containers"] {
            for c in sget(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                if containers.len() >= LIST_MAX {
                    break;
                }
                let mut argv = list(c.get("command"));
                argv.extend(list(c.get("args")));
                argv.truncate(LIST_MAX);
                containers.push(Container {
                    name: text(c.get("name")),
                    image: text(c.get("image")),
                    argv,
                    privileged: c
                        .get("securityContext")
                        .and_then(|s| s.get("privileged"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
        }
        let host_paths = sget("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("hostPath")?.get("path")?.as_str())
            .take(LIST_MAX)
            .map(cap)
            .collect();
        let host_namespaces = ["hostPID", "hostNetwork", "hostIPC"]
            .into_iter()
            .filter(|k| sget(k).and_then(Value::as_bool) == Some(true))
            .map(str::to_owned)
            .collect();
        let name = match text(meta.and_then(|m| m.get("name"))) {
            n if n.is_empty() => text(meta.and_then(|m| m.get("generateName"))),
            n => n,
        };
        Ok(PodSpec {
            name,
            namespace: text(meta.and_then(|m| m.get("namespace"))),
            containers,
            host_paths,
            host_namespaces,
            node_name: text(sget("nodeName")),
            service_account: text(sget("serviceAccountName")),
        })
    }

    /// Whether any container runs privileged.
    pub fn privileged(&self) -> bool {
        self.containers.iter().any(|c| c.privileged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_escape_pod_is_read_whole() {
        let body =
            br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"default"},
          "spec":{"hostPID":true,"nodeName":"cp-1","containers":[{"name":"x","image":"alpine",
          "command":["nsenter","-t","1"],"args":["-m","sh"],"securityContext":{"privileged":true}}],
          "volumes":[{"name":"root","hostPath":{"path":"/"}}]}}"#;
        let p = PodSpec::parse(body).unwrap();
        assert_eq!(p.name, "x");
        assert_eq!(p.containers[0].image, "alpine");
        assert_eq!(p.containers[0].argv, ["nsenter", "-t", "1", "-m", "sh"]);
        assert!(p.privileged());
        assert_eq!(p.host_paths, ["/"]);
        assert_eq!(p.host_namespaces, ["hostPID"]);
        assert_eq!(p.node_name, "cp-1");
        assert!(PodSpec::parse(b"nope").is_err());
        assert!(PodSpec::parse(b"[]").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = PodSpec::parse(&bytes);
        }

        #[test]
        fn any_containers_stay_capped(images in proptest::collection::vec(".{0,20}", 0..80)) {
            let cs: Vec<Value> = images.iter().map(|i| serde_json::json!({"image": i, "command": images})).collect();
            let body = serde_json::json!({"spec": {"containers": cs}});
            let p = PodSpec::parse(body.to_string().as_bytes()).unwrap();
            prop_assert!(p.containers.len() <= LIST_MAX);
            prop_assert!(p.containers.iter().all(|c| c.argv.len() <= LIST_MAX));
        }
    }
}

//! dockerd's routes as a [`Site`]: which answer a request gets, with the
//! headers dockerd's middleware and handlers set, and what it records.
//!
//! The containers and images a visitor lists are drawn from the decky's seed
//! (the same on every start); containers it creates are remembered (at most
//! [`CREATED_MAX`]) so their start, attach, wait, logs and exec answer as for
//! a real one.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use decnet_core::EventType;

use super::spec::{self, CreateSpec, ExecSpec, SpecError};
use super::ApiVersion;
use crate::http::json::{arr, strs, Obj};
use crate::http::site::{Note, Record, Server, Site, Style};
use crate::http::wire::Refusal;
use crate::http::{Flavor, Page, Req};

/// Containers (and execs) created by visitors that are remembered.
pub const CREATED_MAX: usize = 64;
/// Body bytes of a build kept in its `command` event.
const BUILD_SAMPLE: usize = 4096;

/// The daemon a decky pretends to run.
#[derive(Debug)]
pub struct Persona {
    /// Engine version (`24.0.7`).
    pub version: String,
    /// Highest API version served.
    pub api: ApiVersion,
    /// Oldest API version served.
    pub min_api: ApiVersion,
    /// Go release it was built with.
    pub go_version: String,
    /// Host name (`Name` of `/info`).
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// `OperatingSystem`.
    pub os_name: String,
    /// `OSVersion`.
    pub os_version: String,
    /// Seed of everything drawn (IDs, containers, counts).
    pub seed: [u8; 32],
    /// Containers and execs visitors created.
    pub state: Mutex<Created>,
}

/// What visitors created, oldest first.
#[derive(Debug, Default)]
pub struct Created {
    containers: VecDeque<(String, CreateSpec)>,
    execs: VecDeque<(String, String, ExecSpec)>,
    count: u64,
}

/// A container the daemon lists.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    name: String,
    image: &'static str,
    command: &'static str,
    ports: &'static str,
    created: i64,
    running: bool,
    ip: String,
}

/// dockerd as a site.
#[derive(Debug)]
pub struct DockerSite {
    /// The persona.
    pub p: Persona,
    server_header: String,
    containers: Vec<Listed>,
    daemon_id: String,
    hostname: String,
}

/// Images the listed containers come from: (repo:tag, command, ports JSON, size).
const CATALOG: [(&str, &str, &str, u64); 8] = [
    (
        "nginx:1.25",
        "/docker-entrypoint.sh nginx -g 'daemon off;'",
        r#"[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}]"#,
        187_000_000,
    ),
    (
        "postgres:15",
        "docker-entrypoint.sh postgres",
        r#"[{"PrivatePort":5432,"Type":"tcp"}]"#,
        412_000_000,
    ),
    (
        "redis:7-alpine",
        "docker-entrypoint.sh redis-server",
        r#"[{"PrivatePort":6379,"Type":"tcp"}]"#,
        41_000_000,
    ),
    (
        "registry:2",
        "/entrypoint.sh /etc/docker/registry/config.yml",
        r#"[{"IP":"0.0.0.0","PrivatePort":5000,"PublicPort":5000,"Type":"tcp"},{"IP":"::","PrivatePort":5000,"PublicPort":5000,"Type":"tcp"}]"#,
        25_400_000,
    ),
    (
        "grafana/grafana:10.2.2",
        "/run.sh",
        r#"[{"IP":"0.0.0.0","PrivatePort":3000,"PublicPort":3000,"Type":"tcp"},{"IP":"::","PrivatePort":3000,"PublicPort":3000,"Type":"tcp"}]"#,
        399_000_000,
    ),
    (
        "prom/prometheus:v2.48.0",
        "/bin/prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus",
        r#"[{"PrivatePort":9090,"Type":"tcp"}]"#,
        245_000_000,
    ),
    (
        "jenkins/jenkins:lts-jdk17",
        "/usr/bin/tini -- /usr/local/bin/jenkins.sh",
        r#"[{"IP":"0.0.0.0","PrivatePort":8080,"PublicPort":8081,"Type":"tcp"},{"PrivatePort":50000,"Type":"tcp"}]"#,
        472_000_000,
    ),
    (
        "alpine:3.18",
        "sleep infinity",
        "[]",
        7_340_000,
    ),
];

fn hex_of(seed: &[u8; 32], label: &str, len: usize) -> String {
    use sha2::Digest as _;
    let mut out = String::with_capacity(len);
    let mut i = 0u32;
    while out.len() < len {
        let d = sha2::Sha256::new()
            .chain_update(seed)
            .chain_update(label.as_bytes())
            .chain_update(i.to_le_bytes())
            .finalize();
        out.push_str(&hex::encode(d));
        i += 1;
    }
    out.truncate(len);
    out
}

fn num_of(seed: &[u8; 32], label: &str, n: u64) -> u64 {
    let h = hex_of(seed, label, 16);
    u64::from_str_radix(&h, 16).unwrap_or(0) % n.max(1)
}

/// Go's `time.RFC3339Nano` in UTC as dockerd prints it.
fn rfc3339(secs: i64, nanos: u32) -> String {
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

impl DockerSite {
    /// The site of a persona.
    pub fn new(p: Persona) -> DockerSite {
        let now = chrono::Utc::now().timestamp();
        let seed = p.seed;
        let n = 3 + num_of(&seed, "count", 3) as usize;
        let start = num_of(&seed, "first", CATALOG.len() as u64) as usize;
        let project = ["app", "ops", "ci", "web", "infra"]
            .get(num_of(&seed, "project", 5) as usize)
            .copied()
            .unwrap_or("app");
        let containers = (0..n)
            .filter_map(|i| {
                let (image, command, ports, _) = *CATALOG.get((start + i) % CATALOG.len())?;
                let short = image
                    .rsplit('/')
                    .next()
                    .unwrap_or(image)
                    .split(':')
                    .next()
                    .unwrap_or(image);
                Some(Listed {
                    id: hex_of(&seed, &format!("container/{i}"), 64),
                    name: format!("/{project}-{short}-1"),
                    image,
                    command,
                    ports,
                    created: now - 86_400 * (3 + num_of(&seed, &format!("age/{i}"), 90) as i64),
                    running: i + 1 < n || num_of(&seed, "last-running", 2) == 0,
                    ip: format!("172.17.0.{}", i + 2),
                })
            })
            .collect();
        let daemon_id = {
            let h = hex_of(&seed, "daemon-id", 36).to_uppercase();
            // dockerd's ID: a UUID (24.0 and later).
            format!(
                "{}-{}-{}-{}-{}",
                h.get(..8).unwrap_or_default(),
                h.get(8..12).unwrap_or_default(),
                h.get(12..16).unwrap_or_default(),
                h.get(16..20).unwrap_or_default(),
                h.get(20..32).unwrap_or_default()
            )
            .to_lowercase()
        };
        DockerSite {
            server_header: format!("Docker/{} (linux)", p.version),
            hostname: p.hostname.clone(),
            p,
            containers,
            daemon_id,
        }
    }

    fn api_text(&self) -> String {
        format!("{}.{}", self.p.api.0, self.p.api.1)
    }

    /// The headers dockerd's middleware puts on every routed response.
    fn mw(&self, page: Page) -> Page {
        page.with("Api-Version", self.api_text())
            .with("Docker-Experimental", "false")
            .with("Ostype", "linux")
            .with("Server", self.server_header.clone())
    }

    fn json(&self, status: u16, body: String) -> Page {
        self.mw(Page::new(status, "", body + "\n").with("Content-Type", "application/json"))
    }

    fn error(&self, status: u16, message: &str) -> Page {
        self.json(status, Obj::new().str("message", message).done())
    }

    fn not_found() -> Page {
        // The router's NotFoundHandler runs without the middleware.
        Page::new(404, "", "{\"message\":\"page not found\"}\n")
            .with("Content-Type", "application/json")
    }

    fn no_content(&self) -> Page {
        self.mw(Page::new(204, "", ""))
    }

    fn created(&self) -> std::sync::MutexGuard<'_, Created> {
        self.p
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn created_spec(&self, id: &str) -> Option<(String, CreateSpec)> {
        let st = self.created();
        st.containers
            .iter()
            .find(|(cid, _)| id.len() >= 4 && cid.starts_with(id))
            .cloned()
    }

    fn listed(&self, id: &str) -> Option<&Listed> {
        let id = id.trim_start_matches('/');
        self.containers.iter().find(|c| {
            (id.len() >= 4 && c.id.starts_with(id)) || c.name.trim_start_matches('/') == id
        })
    }

    fn known(&self, id: &str) -> bool {
        self.created_spec(id).is_some() || self.listed(id).is_some()
    }

    fn no_such_container(&self, id: &str) -> Page {
        self.error(404, &format!("No such container: {id}"))
    }

    fn version_json(&self) -> String {
        let build = self.build_time();
        let api = self.api_text();
        let min = format!("{}.{}", self.p.min_api.0, self.p.min_api.1);
        let commit = self.git_commit();
        // Details is a Go map: written with sorted keys.
        let engine = Obj::new()
            .str("Name", "Engine")
            .str("Version", &self.p.version)
            .raw(
                "Details",
                Obj::new()
                    .str("ApiVersion", &api)
                    .str("Arch", "amd64")
                    .str("BuildTime", &build)
                    .str("Experimental", "false")
                    .str("GitCommit", &commit)
                    .str("GoVersion", &self.p.go_version)
                    .str("KernelVersion", &self.p.kernel)
                    .str("MinAPIVersion", &min)
                    .str("Os", "linux")
                    .done(),
            )
            .done();
        let component = |name: &str, version: &str, commit: &str| {
            Obj::new()
                .str("Name", name)
                .str("Version", version)
                .raw("Details", Obj::new().str("GitCommit", commit).done())
                .done()
        };
        Obj::new()
            .raw(
                "Platform",
                Obj::new().str("Name", "Docker Engine - Community").done(),
            )
            .raw(
                "Components",
                arr([
                    engine,
                    component(
                        "containerd",
                        "1.6.24",
                        "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523",
                    ),
                    component("runc", "1.1.9", "v1.1.9-0-gccaecfc"),
                    component("docker-init", "0.19.0", "de40ad0"),
                ]),
            )
            .str("Version", &self.p.version)
            .str("ApiVersion", &api)
            .str("MinAPIVersion", &min)
            .str("GitCommit", &commit)
            .str("GoVersion", &self.p.go_version)
            .str("Os", "linux")
            .str("Arch", "amd64")
            .str("KernelVersion", &self.p.kernel)
            .str("BuildTime", &build)
            .done()
    }

    fn git_commit(&self) -> String {
        match self.p.version.as_str() {
            "24.0.7" => "311b9ff".into(),
            _ => hex_of(&self.p.seed, &format!("commit/{}", self.p.version), 7),
        }
    }

    fn build_time(&self) -> String {
        match self.p.version.as_str() {
            "24.0.7" => "2023-10-26T09:07:41.000000000+00:00".into(),
            _ => {
                let secs = 1_600_000_000 + num_of(&self.p.seed, "build", 100_000_000) as i64;
                chrono::DateTime::from_timestamp(secs, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S.000000000+00:00")
                    .to_string()
            }
        }
    }

    fn info_json(&self) -> String {
        let running = self.containers.iter().filter(|c| c.running).count();
        let total = self.containers.len() + self.created().containers.len();
        let seed = &self.p.seed;
        let ncpu = [2u64, 4, 8, 16]
            .get(num_of(seed, "ncpu", 4) as usize)
            .copied()
            .unwrap_or(4);
        let mem = ncpu * 2 * 1_073_741_824 - 1_000_000 * (50 + num_of(seed, "mem", 400));
        let runc = Obj::new().str("path", "runc").done();
        let now = chrono::Utc::now();
        let sys_time = now.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
        let registry = Obj::new()
            .raw("AllowNondistributableArtifactsCIDRs", "null")
            .raw("AllowNondistributableArtifactsHostnames", "null")
            .strs_field("InsecureRegistryCIDRs", &["127.0.0.0/8"])
            .raw(
                "IndexConfigs",
                Obj::new()
                    .raw(
                        "docker.io",
                        Obj::new()
                            .str("Name", "docker.io")
                            .raw("Mirrors", "[]")
                            .bool("Secure", true)
                            .bool("Official", true)
                            .done(),
                    )
                    .done(),
            )
            .raw("Mirrors", "null")
            .done();
        Obj::new()
            .str("ID", &self.daemon_id)
            .num("Containers", total)
            .num("ContainersRunning", running)
            .num("ContainersPaused", 0)
            .num("ContainersStopped", total - running)
            .num("Images", CATALOG.len())
            .str("Driver", "overlay2")
            .raw(
                "DriverStatus",
                r#"[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"],["Native Overlay Diff","true"],["userxattr","false"]]"#,
            )
            .raw(
                "Plugins",
                Obj::new()
                    .raw("Volume", strs(["local"]))
                    .raw("Network", strs(["bridge", "host", "ipvlan", "macvlan", "null", "overlay"]))
                    .raw("Authorization", "null")
                    .raw(
                        "Log",
                        strs(["awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "logentries", "splunk", "syslog"]),
                    )
                    .done(),
            )
            .bool("MemoryLimit", true)
            .bool("SwapLimit", true)
            .bool("CpuCfsPeriod", true)
            .bool("CpuCfsQuota", true)
            .bool("CPUShares", true)
            .bool("CPUSet", true)
            .bool("PidsLimit", true)
            .bool("IPv4Forwarding", true)
            .bool("BridgeNfIptables", true)
            .bool("BridgeNfIp6tables", true)
            .bool("Debug", false)
            .num("NFd", 38 + 4 * running)
            .bool("OomKillDisable", false)
            .num("NGoroutines", 41 + 7 * running)
            .str("SystemTime", &sys_time)
            .str("LoggingDriver", "json-file")
            .str("CgroupDriver", "systemd")
            .str("CgroupVersion", "2")
            .num("NEventsListener", 0)
            .str("KernelVersion", &self.p.kernel)
            .str("OperatingSystem", &self.p.os_name)
            .str("OSVersion", &self.p.os_version)
            .str("OSType", "linux")
            .str("Architecture", "x86_64")
            .str("IndexServerAddress", "https://index.docker.io/v1/")
            .raw("RegistryConfig", registry)
            .num("NCPU", ncpu)
            .num("MemTotal", mem)
            .raw("GenericResources", "null")
            .str("DockerRootDir", "/var/lib/docker")
            .str("HttpProxy", "")
            .str("HttpsProxy", "")
            .str("NoProxy", "")
            .str("Name", &self.p.hostname)
            .raw("Labels", "[]")
            .bool("ExperimentalBuild", false)
            .str("ServerVersion", &self.p.version)
            .raw(
                "Runtimes",
                Obj::new()
                    .raw("io.containerd.runc.v2", runc.clone())
                    .raw("runc", runc)
                    .done(),
            )
            .str("DefaultRuntime", "runc")
            .raw(
                "Swarm",
                Obj::new()
                    .str("NodeID", "")
                    .str("NodeAddr", "")
                    .str("LocalNodeState", "inactive")
                    .bool("ControlAvailable", false)
                    .str("Error", "")
                    .raw("RemoteManagers", "null")
                    .done(),
            )
            .bool("LiveRestoreEnabled", false)
            .str("Isolation", "")
            .str("InitBinary", "docker-init")
            .raw(
                "ContainerdCommit",
                Obj::new()
                    .str("ID", "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523")
                    .str("Expected", "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523")
                    .done(),
            )
            .raw(
                "RuncCommit",
                Obj::new()
                    .str("ID", "v1.1.9-0-gccaecfc")
                    .str("Expected", "v1.1.9-0-gccaecfc")
                    .done(),
            )
            .raw(
                "InitCommit",
                Obj::new().str("ID", "de40ad0").str("Expected", "de40ad0").done(),
            )
            .raw(
                "SecurityOptions",
                strs(["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"]),
            )
            // An exposed daemon warns about itself, as dockerd does.
            .raw(
                "Warnings",
                strs([
                    "WARNING: API is accessible on http://0.0.0.0:2375 without encryption.\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/",
                ]),
            )
            .done()
    }

    fn container_json(&self, c: &Listed) -> String {
        let (state, status) = if c.running {
            let days = (chrono::Utc::now().timestamp() - c.created) / 86_400;
            ("running", format!("Up {days} days"))
        } else {
            ("exited", "Exited (0) 2 days ago".to_owned())
        };
        let image_id = format!(
            "sha256:{}",
            hex_of(&self.p.seed, &format!("image/{}", c.image), 64)
        );
        let network = Obj::new()
            .raw("IPAMConfig", "null")
            .raw("Links", "null")
            .raw("Aliases", "null")
            .str("NetworkID", &hex_of(&self.p.seed, "net/bridge", 64))
            .str(
                "EndpointID",
                &if c.running {
                    hex_of(&self.p.seed, &format!("ep/{}", c.id), 64)
                } else {
                    String::new()
                },
            )
            .str("Gateway", if c.running { "172.17.0.1" } else { "" })
            .str("IPAddress", if c.running { &c.ip } else { "" })
            .num("IPPrefixLen", if c.running { 16 } else { 0 })
            .str("IPv6Gateway", "")
            .str("GlobalIPv6Address", "")
            .num("GlobalIPv6PrefixLen", 0)
            .str(
                "MacAddress",
                &if c.running {
                    format!(
                        "02:42:ac:11:00:{:02x}",
                        c.ip.rsplit('.')
                            .next()
                            .and_then(|x| x.parse::<u8>().ok())
                            .unwrap_or(2)
                    )
                } else {
                    String::new()
                },
            )
            .raw("DriverOpts", "null")
            .done();
        Obj::new()
            .str("Id", &c.id)
            .raw("Names", strs([c.name.as_str()]))
            .str("Image", c.image)
            .str("ImageID", &image_id)
            .str("Command", c.command)
            .num("Created", c.created)
            .raw("Ports", if c.running { c.ports } else { "[]" })
            .raw("Labels", "{}")
            .str("State", state)
            .str("Status", &status)
            .raw(
                "HostConfig",
                Obj::new().str("NetworkMode", "default").done(),
            )
            .raw(
                "NetworkSettings",
                Obj::new()
                    .raw("Networks", Obj::new().raw("bridge", network).done())
                    .done(),
            )
            .raw("Mounts", "[]")
            .done()
    }

    fn containers_json(&self, req: &Req<'_>) -> String {
        let all = matches!(req.param("all").as_deref(), Some("1" | "true" | "True"));
        let mut list: Vec<String> = Vec::new();
        let created: Vec<(String, CreateSpec)> =
            self.created().containers.iter().cloned().collect();
        if all {
            for (id, spec) in created.iter().rev() {
                list.push(
                    Obj::new()
                        .str("Id", id)
                        .raw("Names", strs([format!("/{}", name_of(id))]))
                        .str("Image", &spec.image)
                        .str(
                            "ImageID",
                            &format!(
                                "sha256:{}",
                                hex_of(&self.p.seed, &format!("image/{}", spec.image), 64)
                            ),
                        )
                        .str("Command", &spec::shell_line(&spec.argv()))
                        .num("Created", chrono::Utc::now().timestamp())
                        .raw("Ports", "[]")
                        .raw("Labels", "{}")
                        .str("State", "exited")
                        .str("Status", "Exited (0) Less than a second ago")
                        .raw(
                            "HostConfig",
                            Obj::new().str("NetworkMode", "default").done(),
                        )
                        .raw("NetworkSettings", Obj::new().raw("Networks", "{}").done())
                        .raw("Mounts", "[]")
                        .done(),
                );
            }
        }
        for c in self.containers.iter().filter(|c| all || c.running) {
            list.push(self.container_json(c));
        }
        arr(list)
    }

    fn images_json(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        arr(CATALOG.iter().enumerate().map(|(i, (image, _, _, size))| {
            let id = format!(
                "sha256:{}",
                hex_of(&self.p.seed, &format!("image/{image}"), 64)
            );
            let repo = image.split(':').next().unwrap_or(image);
            let digest = format!(
                "{repo}@sha256:{}",
                hex_of(&self.p.seed, &format!("digest/{image}"), 64)
            );
            Obj::new()
                .num("Containers", -1)
                .num("Created", now - 86_400 * (20 + 9 * i as i64))
                .str("Id", &id)
                .raw("Labels", "null")
                .str("ParentId", "")
                .raw("RepoDigests", strs([digest]))
                .raw("RepoTags", strs([*image]))
                .num("SharedSize", -1)
                .num("Size", *size)
                .num("VirtualSize", *size)
                .done()
        }))
    }

    fn remember_container(&self, spec: CreateSpec) -> String {
        let mut st = self.created();
        st.count += 1;
        let id = hex_of(
            &self.p.seed,
            &format!("created/{}/{}", st.count, rand::random::<u64>()),
            64,
        );
        if st.containers.len() >= CREATED_MAX {
            st.containers.pop_front();
        }
        st.containers.push_back((id.clone(), spec));
        id
    }

    fn remember_exec(&self, container: &str, spec: ExecSpec) -> String {
        let mut st = self.created();
        st.count += 1;
        let id = hex_of(
            &self.p.seed,
            &format!("exec/{}/{}", st.count, rand::random::<u64>()),
            64,
        );
        if st.execs.len() >= CREATED_MAX {
            st.execs.pop_front();
        }
        st.execs.push_back((id.clone(), container.to_owned(), spec));
        id
    }

    fn exec_of(&self, id: &str) -> Option<(String, String, ExecSpec)> {
        self.created()
            .execs
            .iter()
            .find(|(eid, _, _)| eid == id)
            .cloned()
    }

    /// What a command prints in a container of `image` whose host name is `host`.
    fn output(&self, image: &str, argv: &[String], host: &str) -> String {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        let line = match words.as_slice() {
            ["sh" | "/bin/sh" | "bash" | "/bin/bash", "-c", script] => script.trim().to_owned(),
            _ => words.join(" "),
        };
        let alpine = image.starts_with("alpine") || image.contains("-alpine") || image.is_empty();
        match line.as_str() {
            "id" if alpine => "uid=0(root) gid=0(root) groups=0(root),1(bin),2(daemon),3(sys),4(adm),6(disk),10(wheel),11(floppy),20(dialout),26(tape),27(video)\n".into(),
            "id" => "uid=0(root) gid=0(root) groups=0(root)\n".into(),
            "whoami" => "root\n".into(),
            "hostname" | "cat /etc/hostname" => format!("{host}\n"),
            "pwd" => "/\n".into(),
            "uname" => "Linux\n".into(),
            "uname -r" => format!("{}\n", self.p.kernel),
            "uname -a" => format!(
                "Linux {host} {} #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29) x86_64 Linux\n",
                self.p.kernel
            ),
            l if l.starts_with("echo ") => format!("{}\n", l.trim_start_matches("echo ").trim_matches(['"', '\''])),
            _ => String::new(),
        }
    }

    fn command_note(op: &str, argv: &[String]) -> Note {
        Note::new(EventType::Command)
            .field("command", spec::shell_line(argv))
            .field("op", op)
            .field("argv", argv.to_vec())
    }

    fn route_versioned(&self, req: &Req<'_>, path: &str, record: &mut Record) -> Page {
        let method = req.method;
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["_ping"]) => {
                let mut page = self
                    .mw(Page::new(200, "text/plain; charset=utf-8", "OK"))
                    .with("Builder-Version", "2")
                    .with("Cache-Control", "no-cache, no-store, must-revalidate")
                    .with("Pragma", "no-cache");
                if self.p.api >= (1, 44) {
                    page = page.with("Swarm", "inactive");
                }
                page
            }
            ("HEAD", ["_ping"]) => {
                let mut page = self
                    .mw(Page::new(200, "", ""))
                    .with("Builder-Version", "2")
                    .with("Cache-Control", "no-cache, no-store, must-revalidate")
                    .with("Pragma", "no-cache")
                    .with("Content-Type", "text/plain; charset=utf-8")
                    .with("Content-Length", "0");
                if self.p.api >= (1, 44) {
                    page = page.with("Swarm", "inactive");
                }
                page
            }
            ("OPTIONS", _) => self.mw(Page::new(200, "", "")),
            ("GET", ["version"]) => self.json(200, self.version_json()),
            ("GET", ["info"]) => self.json(200, self.info_json()),
            ("GET", ["containers", "json"]) => self.json(200, self.containers_json(req)),
            ("GET", ["images", "json"]) => self.json(200, self.images_json()),
            ("GET", ["networks"]) => self.json(200, self.networks_json()),
            ("GET", ["volumes"]) => self.json(200, "{\"Volumes\":[],\"Warnings\":null}".into()),
            ("POST", ["containers", "create"]) => self.create(req, record),
            ("GET", ["containers", id, "json"]) => {
                if let Some((cid, spec)) = self.created_spec(id) {
                    self.json(200, inspect_created(&cid, &spec))
                } else if let Some(c) = self.listed(id) {
                    let spec = CreateSpec {
                        image: c.image.to_owned(),
                        ..CreateSpec::default()
                    };
                    self.json(200, inspect_created(&c.id, &spec))
                } else {
                    self.no_such_container(id)
                }
            }
            ("POST", ["containers", id, "start"]) => {
                if !self.known(id) {
                    return self.no_such_container(id);
                }
                if let Some((_, spec)) = self.created_spec(id) {
                    record.note(
                        Self::command_note("container_start", &spec.argv())
                            .field("image", spec.image.clone())
                            .field("container_id", id.to_string()),
                    );
                }
                self.no_content()
            }
            ("POST", ["containers", id, "wait"]) => {
                if !self.known(id) {
                    return self.no_such_container(id);
                }
                // dockerd flushes the head at once and the result when the container exits.
                record.flushed = true;
                self.json(200, "{\"StatusCode\":0}".into())
            }
            ("POST", ["containers", id, "attach"]) => {
                let Some((cid, spec)) = self.created_spec(id) else {
                    if self.listed(id).is_some() {
                        record.raw = Some(hijack(req, false, ""));
                        return self.mw(Page::new(101, "", ""));
                    }
                    return self.no_such_container(id);
                };
                let out = self.output(&spec.image, &spec.argv(), &name_host(&cid));
                record.raw = Some(hijack(req, spec.tty, &out));
                self.mw(Page::new(101, "", ""))
            }
            ("GET", ["containers", id, "logs"]) => {
                let Some(out) = self.logs(id) else {
                    return self.no_such_container(id);
                };
                record.flushed = true;
                self.mw(Page::new(200, "", out)
                    .with("Content-Type", "application/vnd.docker.multiplexed-stream"))
            }
            ("DELETE", ["containers", id]) => {
                if !self.known(id) {
                    return self.no_such_container(id);
                }
                self.created()
                    .containers
                    .retain(|(cid, _)| !cid.starts_with(*id));
                self.no_content()
            }
            ("POST", ["containers", id, "kill" | "stop" | "restart"]) => {
                if self.known(id) {
                    self.no_content()
                } else {
                    self.no_such_container(id)
                }
            }
            ("POST", ["containers", id, "exec"]) => self.exec_create(req, id, record),
            ("POST", ["exec", id, "start"]) => {
                let Some((_, container, spec)) = self.exec_of(id) else {
                    return self.error(404, &format!("No such exec instance: {id}"));
                };
                let image = self
                    .created_spec(&container)
                    .map(|(_, s)| s.image)
                    .or_else(|| self.listed(&container).map(|c| c.image.to_owned()))
                    .unwrap_or_default();
                record.note(
                    Self::command_note("exec_start", &spec.cmd)
                        .field("container_id", container.clone())
                        .field("exec_id", id.to_string()),
                );
                let detach = serde_json::from_slice::<serde_json::Value>(req.body)
                    .ok()
                    .and_then(|v| v.get("Detach").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                if detach {
                    return self.mw(Page::new(200, "", ""));
                }
                let out = self.output(&image, &spec.cmd, &name_host(&container));
                record.raw = Some(hijack(req, spec.tty, &out));
                self.mw(Page::new(101, "", ""))
            }
            ("GET", ["exec", id, "json"]) => {
                let Some((_, container, spec)) = self.exec_of(id) else {
                    return self.error(404, &format!("No such exec instance: {id}"));
                };
                let body = Obj::new()
                    .str("ID", id)
                    .bool("Running", false)
                    .num("ExitCode", 0)
                    .raw(
                        "ProcessConfig",
                        Obj::new()
                            .bool("tty", spec.tty)
                            .str("entrypoint", spec.cmd.first().map_or("", String::as_str))
                            .raw("arguments", strs(spec.cmd.iter().skip(1)))
                            .bool("privileged", spec.privileged)
                            .str("user", &spec.user)
                            .done(),
                    )
                    .bool("OpenStdin", false)
                    .bool("OpenStderr", true)
                    .bool("OpenStdout", true)
                    .bool("CanRemove", false)
                    .str("ContainerID", &container)
                    .str("DetachKeys", "")
                    .num("Pid", 0)
                    .done();
                self.json(200, body)
            }
            ("POST", ["images", "create"]) => self.pull(req, record),
            ("POST", ["build"]) => self.build(req, record),
            _ => Self::not_found(),
        }
    }

    fn networks_json(&self) -> String {
        let net = |name: &str, driver: &str, scope: &str| {
            Obj::new()
                .str("Name", name)
                .str("Id", &hex_of(&self.p.seed, &format!("net/{name}"), 64))
                .str(
                    "Created",
                    &rfc3339(
                        1_690_000_000 + num_of(&self.p.seed, "net-created", 9_000_000) as i64,
                        123_456_789,
                    ),
                )
                .str("Scope", scope)
                .str("Driver", driver)
                .bool("EnableIPv6", false)
                .raw(
                    "IPAM",
                    Obj::new()
                        .str("Driver", "default")
                        .raw("Options", "null")
                        .raw("Config", "[]")
                        .done(),
                )
                .bool("Internal", false)
                .bool("Attachable", false)
                .bool("Ingress", false)
                .raw("ConfigFrom", Obj::new().str("Network", "").done())
                .bool("ConfigOnly", false)
                .raw("Containers", "{}")
                .raw("Options", "{}")
                .raw("Labels", "{}")
                .done()
        };
        arr([
            net("bridge", "bridge", "local"),
            net("host", "host", "local"),
            net("none", "null", "local"),
        ])
    }

    fn logs(&self, id: &str) -> Option<String> {
        if let Some((cid, spec)) = self.created_spec(id) {
            return Some(frames(&self.output(
                &spec.image,
                &spec.argv(),
                &name_host(&cid),
            )));
        }
        let c = self.listed(id)?;
        let when = rfc3339(c.created + 60, 0);
        let lines = match c.image.split(':').next().unwrap_or_default() {
            "nginx" => format!("/docker-entrypoint.sh: Configuration complete; ready for start up\n{when} [notice] 1#1: nginx/1.25.3\n"),
            "postgres" => "PostgreSQL init process complete; ready for start up.\nLOG:  database system is ready to accept connections\n".into(),
            "redis" => "1:M * Ready to accept connections tcp\n".into(),
            _ => String::new(),
        };
        Some(frames(&lines))
    }

    fn create(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let name = req.param("name").unwrap_or_default();
        let spec = match CreateSpec::parse(req.body) {
            Ok(s) => s,
            Err(e) => {
                record.field("docker_error", e.to_string());
                return self.error(400, &e.to_string());
            }
        };
        if !name.is_empty() && !valid_name(&name) {
            return self.error(
                400,
                &format!(
                    "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                ),
            );
        }
        let mut note = Self::command_note("container_create", &spec.argv())
            .field("image", spec.image.clone())
            .field("cmd", spec.cmd.clone())
            .field("entrypoint", spec.entrypoint.clone())
            .field("env", spec.env.clone())
            .field("binds", spec.binds.clone())
            .field("privileged", spec.privileged)
            .field("host_namespaces", spec.host_namespaces.clone())
            .field("cap_add", spec.cap_add.clone())
            .field("name", name.clone());
        if !spec.user.is_empty() {
            note = note.field("user", spec.user.clone());
        }
        if spec.image.is_empty() {
            record.note(note);
            return self.error(400, "invalid reference format");
        }
        let id = self.remember_container(spec);
        note = note.field("container_id", id.clone());
        record.field("container_id", id.clone());
        record.note(note);
        self.json(201, Obj::new().str("Id", &id).raw("Warnings", "[]").done())
    }

    fn exec_create(&self, req: &Req<'_>, id: &str, record: &mut Record) -> Page {
        let full = match (self.created_spec(id), self.listed(id)) {
            (Some((cid, _)), _) => cid,
            (None, Some(c)) => c.id.clone(),
            (None, None) => return self.no_such_container(id),
        };
        let spec = match ExecSpec::parse(req.body) {
            Ok(s) => s,
            Err(SpecError::Empty) => return self.error(400, "No exec command specified"),
            Err(e) => return self.error(400, &e.to_string()),
        };
        if spec.cmd.is_empty() {
            return self.error(400, "No exec command specified");
        }
        let mut note = Self::command_note("exec_create", &spec.cmd)
            .field("container_id", full.clone())
            .field("privileged", spec.privileged);
        if !spec.user.is_empty() {
            note = note.field("user", spec.user.clone());
        }
        let exec_id = self.remember_exec(&full, spec);
        record.note(note.field("exec_id", exec_id.clone()));
        self.json(201, Obj::new().str("Id", &exec_id).done())
    }

    fn pull(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let from = req.param("fromImage").unwrap_or_default();
        let from_src = req.param("fromSrc").unwrap_or_default();
        let tag = req.param("tag").unwrap_or_default();
        let mut note = Note::new(EventType::Command)
            .field("op", "image_pull")
            .field("image", from.clone())
            .field("tag", tag.clone());
        if !from_src.is_empty() {
            note = note.field("from_src", from_src);
        }
        let image = if tag.is_empty() {
            from.clone()
        } else {
            format!("{from}:{tag}")
        };
        record.note(note.field("command", format!("docker pull {image}")));
        if from.is_empty() {
            return self.error(400, "invalid reference format");
        }
        let (repo, tag) = match (from.rsplit_once(':'), tag.as_str()) {
            (Some((r, t)), "") if !t.contains('/') => (r.to_owned(), t.to_owned()),
            (_, "") => (from.clone(), "latest".to_owned()),
            (_, t) => (from.clone(), t.to_owned()),
        };
        let mut body = String::new();
        let line = |o: Obj| o.done() + "\r\n";
        body.push_str(&line(
            Obj::new()
                .str("status", &format!("Pulling from {}", library(&repo)))
                .str("id", &tag),
        ));
        let layer = hex_of(&self.p.seed, &format!("layer/{repo}:{tag}"), 12);
        body.push_str(&line(
            Obj::new()
                .str("status", "Pulling fs layer")
                .raw("progressDetail", "{}")
                .str("id", &layer),
        ));
        body.push_str(&line(
            Obj::new()
                .str("status", "Download complete")
                .raw("progressDetail", "{}")
                .str("id", &layer),
        ));
        body.push_str(&line(
            Obj::new()
                .str("status", "Pull complete")
                .raw("progressDetail", "{}")
                .str("id", &layer),
        ));
        body.push_str(&line(Obj::new().str(
            "status",
            &format!(
                "Digest: sha256:{}",
                hex_of(&self.p.seed, &format!("digest/{repo}:{tag}"), 64)
            ),
        )));
        body.push_str(&line(Obj::new().str(
            "status",
            &format!("Status: Downloaded newer image for {repo}:{tag}"),
        )));
        record.flushed = true;
        self.mw(Page::new(200, "", body).with("Content-Type", "application/json"))
    }

    fn build(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let sample = req
            .body
            .get(..BUILD_SAMPLE.min(req.body.len()))
            .unwrap_or_default();
        use base64::Engine as _;
        let mut note = Note::new(EventType::Command)
            .field("op", "image_build")
            .field("query", req.query.unwrap_or_default().to_string())
            .field("body_len", req.body_len)
            .field(
                "body_sample_b64",
                base64::engine::general_purpose::STANDARD.encode(sample),
            );
        let mut tags = Vec::new();
        let mut remote = String::new();
        for (k, v) in req.params() {
            match k.as_str() {
                "t" => tags.push(v),
                "remote" => remote = v,
                _ => {}
            }
        }
        note = note.field("tags", tags.clone()).field(
            "command",
            format!(
                "docker build {}",
                if remote.is_empty() { "-" } else { &remote }
            ),
        );
        if !remote.is_empty() {
            note = note.field("remote", remote);
        }
        record.note(note);
        record.flushed = true;
        let id = hex_of(
            &self.p.seed,
            &format!("build/{}", rand::random::<u64>()),
            64,
        );
        let mut body = String::new();
        body.push_str("{\"stream\":\"Step 1/1 : FROM scratch\"}\r\n{\"stream\":\"\\n\"}\r\n");
        let _ = write!(
            body,
            "{}\r\n",
            Obj::new()
                .raw("aux", Obj::new().str("ID", &format!("sha256:{id}")).done())
                .done()
        );
        let _ = write!(
            body,
            "{}\r\n",
            Obj::new()
                .str(
                    "stream",
                    &format!("Successfully built {}\n", id.get(..12).unwrap_or_default())
                )
                .done()
        );
        for t in tags {
            let _ = write!(
                body,
                "{}\r\n",
                Obj::new()
                    .str("stream", &format!("Successfully tagged {t}\n"))
                    .done()
            );
        }
        self.mw(Page::new(200, "", body).with("Content-Type", "application/json"))
    }
}

trait StrsField {
    fn strs_field(self, k: &str, v: &[&str]) -> Obj;
}

impl StrsField for Obj {
    fn strs_field(self, k: &str, v: &[&str]) -> Obj {
        self.raw(k, strs(v))
    }
}

/// `library/alpine` for an official image name.
fn library(repo: &str) -> String {
    if repo.contains('/') {
        repo.to_owned()
    } else {
        format!("library/{repo}")
    }
}

/// A created container's name when the visitor gave none: Docker's
/// `adjective_surname`, drawn from its ID.
fn name_of(id: &str) -> String {
    const ADJ: [&str; 8] = [
        "eager", "quirky", "brave", "focused", "jolly", "nifty", "vibrant", "stoic",
    ];
    const SUR: [&str; 8] = [
        "turing", "hopper", "lovelace", "tesla", "curie", "knuth", "ritchie", "noether",
    ];
    let n = u64::from_str_radix(id.get(..8).unwrap_or("0"), 16).unwrap_or(0) as usize;
    format!(
        "{}_{}",
        ADJ.get(n % ADJ.len()).copied().unwrap_or("eager"),
        SUR.get((n / 8) % SUR.len()).copied().unwrap_or("turing")
    )
}

/// A container's host name: its short ID.
fn name_host(id: &str) -> String {
    id.get(..12).unwrap_or(id).to_owned()
}

/// Container names dockerd takes (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

fn inspect_created(id: &str, spec: &CreateSpec) -> String {
    Obj::new()
        .str("Id", id)
        .str("Created", &rfc3339(chrono::Utc::now().timestamp(), 0))
        .str("Path", spec.argv().first().map_or("", String::as_str))
        .raw("Args", strs(spec.argv().iter().skip(1)))
        .raw(
            "State",
            Obj::new()
                .str("Status", "exited")
                .bool("Running", false)
                .bool("Paused", false)
                .bool("Restarting", false)
                .bool("OOMKilled", false)
                .bool("Dead", false)
                .num("Pid", 0)
                .num("ExitCode", 0)
                .str("Error", "")
                .done(),
        )
        .str("Image", &spec.image)
        .str("Name", &format!("/{}", name_of(id)))
        .num("RestartCount", 0)
        .str("Driver", "overlay2")
        .str("Platform", "linux")
        .raw(
            "Config",
            Obj::new()
                .str("Hostname", &name_host(id))
                .str("User", &spec.user)
                .bool("Tty", spec.tty)
                .raw("Env", strs(&spec.env))
                .raw("Cmd", strs(&spec.cmd))
                .str("Image", &spec.image)
                .str("WorkingDir", &spec.working_dir)
                .done(),
        )
        .done()
}

/// Output as dockerd's multiplexed stdout frames: 8-byte header, then the
/// bytes. The page body is text, so each frame carries at most 127 bytes
/// (its length byte stays ASCII); dockerd frames each write, which for line
/// output is one line.
fn frames(out: &str) -> String {
    let mut body = String::new();
    for line in out.split_inclusive('\n') {
        let mut rest = line;
        while !rest.is_empty() {
            let mut end = rest.len().min(127);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            let (chunk, tail) = rest.split_at(end);
            body.push('\u{1}');
            body.push_str("\0\0\0\0\0\0");
            body.push(char::from(u8::try_from(chunk.len()).unwrap_or(0)));
            body.push_str(chunk);
            rest = tail;
        }
    }
    body
}

/// dockerd's hijacked answer to an attach or exec start: its own `101
/// UPGRADED` head (or `200 OK` to a client that did not ask to upgrade),
/// then the output, multiplexed unless the container has a TTY.
fn hijack(req: &Req<'_>, tty: bool, out: &str) -> Vec<u8> {
    let upgrade = req
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"tcp"));
    let media = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut raw = if upgrade {
        format!("HTTP/1.1 101 UPGRADED\r\nContent-Type: {media}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    } else {
        format!("HTTP/1.1 200 OK\r\nContent-Type: {media}\r\n\r\n")
    }
    .into_bytes();
    if tty {
        raw.extend_from_slice(out.replace('\n', "\r\n").as_bytes());
    } else {
        for line in out.split_inclusive('\n') {
            raw.extend_from_slice(&[1, 0, 0, 0]);
            raw.extend_from_slice(&u32::try_from(line.len()).unwrap_or(0).to_be_bytes());
            raw.extend_from_slice(line.as_bytes());
        }
    }
    raw
}

/// Splits `/v1.43/containers/json` into the version and the rest.
fn split_version(path: &str) -> (Option<&str>, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let v = rest.get(..end).unwrap_or_default();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        (Some(v), rest.get(end..).unwrap_or_default())
    } else {
        (None, path)
    }
}

impl Site for DockerSite {
    fn server(&self) -> Server<'_> {
        Server {
            flavor: Flavor::Nginx,
            server_header: &self.server_header,
            hostname: &self.hostname,
            mtime: 0,
        }
    }

    fn style(&self) -> Style {
        Style::Go
    }

    fn route(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let (version, path) = split_version(req.path);
        if let Some(v) = version {
            record.field("api_version", v.to_string());
            // dockerd's versionMiddleware, before any handler.
            match super::parse_api(v) {
                Some(asked) if asked > self.p.api => {
                    return self.error(
                        400,
                        &format!(
                            "client version {v} is too new. Maximum supported API version is {}",
                            self.api_text()
                        ),
                    )
                }
                Some(asked) if asked < self.p.min_api => {
                    return self.error(
                        400,
                        &format!(
                            "client version {v} is too old. Minimum supported API version is {}.{}, please upgrade your client to a newer version",
                            self.p.min_api.0, self.p.min_api.1
                        ),
                    )
                }
                Some(_) => {}
                None => return Self::not_found(),
            }
        }
        let path = if path.is_empty() { "/" } else { path };
        self.route_versioned(req, path, record)
    }

    fn error_page(&self, _req: &Req<'_>, status: u16) -> Page {
        match status {
            413 => self.error(413, "request body too large"),
            _ => self.error(400, "unexpected EOF"),
        }
    }

    fn plain_http_on_tls(&self, _host: &str, _port: u16) -> Option<Page> {
        None
    }

    fn refusal_page(&self, _req: &Req<'_>, refusal: Refusal) -> Page {
        Page::new(refusal.status(), "text/plain; charset=utf-8", "")
    }

    fn app_name(&self) -> &'static str {
        "docker"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split_off_the_path() {
        assert_eq!(
            split_version("/v1.43/containers/json"),
            (Some("1.43"), "/containers/json")
        );
        assert_eq!(split_version("/version"), (None, "/version"));
        assert_eq!(split_version("/v1.24"), (Some("1.24"), ""));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
    }

    #[test]
    fn frames_are_multiplexed_stdout() {
        let f = frames("ab\nc");
        assert_eq!(
            f.as_bytes(),
            b"\x01\0\0\0\0\0\0\x03ab\n\x01\0\0\0\0\0\0\x01c"
        );
        let long = "x".repeat(300);
        assert_eq!(frames(&long).len(), 300 + 3 * 8);
        assert!(valid_name("web-1") && !valid_name("-x") && !valid_name("a b"));
    }
}

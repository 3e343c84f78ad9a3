//! The config reference: every key the INI format accepts, with its default
//! and meaning. The loader takes its list of allowed keys from these tables,
//! so the reference and the loader cannot drift apart.

use std::fmt::Write as _;

use crate::catalog::{KeyKind, ServiceCatalog};
use crate::persona::{ARCHETYPES, DISTROS, WINDOWS_BUILDS};

/// One documented config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// Key as written in the file.
    pub name: &'static str,
    /// Default when the key is absent.
    pub default: &'static str,
    /// What it does and what it accepts.
    pub doc: &'static str,
}

/// Keys of `[general]`.
pub static GENERAL_KEYS: &[KeyDoc] = &[
    KeyDoc {
        name: "net",
        default: "none",
        doc: "The LAN the deckies live on, as a CIDR (`192.168.1.0/24`; host bits are cleared). Addresses are allocated from it on the host driver, and on the loopback driver when it lies in 127.0.0.0/8 (otherwise it is informational there).",
    },
    KeyDoc {
        name: "gw",
        default: "none",
        doc: "The LAN gateway. Never allocated to a decky.",
    },
    KeyDoc {
        name: "interface",
        default: "none",
        doc: "The parent network interface (host driver), e.g. `eth0`.",
    },
    KeyDoc {
        name: "log_target",
        default: "none",
        doc: "Where events are also forwarded as RFC 5424 syslog: `udp://host:port` (RFC 5426; a bare `host:port` means UDP), `tcp://host:port` (RFC 6587 octet counting) or `tls://host:port` (RFC 5425). `[v6]:port` for IPv6. The forwarder keeps its own position in the journal, so a receiver that is down gets every event once it is back (over TCP and TLS; UDP cannot tell).",
    },
    KeyDoc {
        name: "log_target_ca",
        default: "none (required for `tls://`)",
        doc: "PEM file with the CA certificate(s) a `tls://` log target's certificate must chain to. Required for `tls://`: this build carries no system root store, and `up` refuses to start without it.",
    },
    KeyDoc {
        name: "journal_retention",
        default: "7d",
        doc: "Journal segments that every consumer (the database ingester, the log forwarder) has moved past and that are older than this are deleted: `7d`, `12h`, `30m`, seconds, or `forever` to keep them.",
    },
    KeyDoc {
        name: "disk_watermark",
        default: "1GiB or 5%, whichever is smaller",
        doc: "Free space on the data dir's filesystem below which deckies stop answering (new connections are closed at accept, open sessions end at their next event) until space returns: a size (`1GiB`, `500MiB`, bytes) or a percentage (`5%`); `0` disables it. `decnet status` and `/api/v1/health` report it.",
    },
    KeyDoc {
        name: "driver",
        default: "loopback",
        doc: "`loopback`: deckies answer on 127.0.0.0/8 addresses, nothing to set up. `host`: deckies answer on addresses already configured on this host.",
    },
    KeyDoc {
        name: "port_offset",
        default: "0",
        doc: "Added to every service port, so a demo runs without privileges (`port_offset = 10000` puts SSH on 10022). A port pushed past 65535 is an error.",
    },
    KeyDoc {
        name: "ip_start",
        default: "start of `net`, else 127.42.0.10 on loopback",
        doc: "First address handed to deckies without `ip`; allocation goes up from there, skipping the network, broadcast and gateway addresses and every explicit `ip`.",
    },
    KeyDoc {
        name: "max_connections_per_decky",
        default: "1024",
        doc: "Concurrent connections one decky serves (1..=65536); more are refused, or take the slot of the busiest source's oldest connection. What a connection costs: an open SSH session about 70 KiB of the engine's memory (measured by `decnet bench ssh-auth`), an HTTP connection less, plus the kernel's socket buffers (a few KiB while idle, up to the receive window while data waits); so a full decky holds roughly 80 MiB with the kernel's share. Slots go back the moment a connection closes.",
    },
    KeyDoc {
        name: "max_connections_per_source",
        default: "1024",
        doc: "Concurrent connections one source IP may hold on this host, over every decky (1..=65536). Sized for real scanners: hydra, ncrack, medusa and masscan follow-ups run hundreds of parallel connections from one address, and every one refused is a capture lost; at the per-connection cost above, one source holds at most roughly 80 MiB. The host-wide total is bounded by the open-file budget (refusals name `max_open_files`).",
    },
    KeyDoc {
        name: "idle_timeout_secs",
        default: "300",
        doc: "A connection that sends nothing this many seconds is closed (1..=86400).",
    },
    KeyDoc {
        name: "session_timeout_secs",
        default: "3600",
        doc: "No connection lives longer than this many seconds (1..=604800).",
    },
    KeyDoc {
        name: "max_bytes_in",
        default: "33554432",
        doc: "Bytes one connection may send before it is closed (1..=4294967296).",
    },
    KeyDoc {
        name: "max_read_bytes",
        default: "65536",
        doc: "Largest single read handed to a service (1..=16777216).",
    },
    KeyDoc {
        name: "udp_packets_per_source",
        default: "100",
        doc: "Datagrams one source IP may send a UDP listener of this host per second (1..=1000000); more are dropped unanswered, with one `limit_exceeded` event per source and second.",
    },
    KeyDoc {
        name: "udp_bytes_per_source",
        default: "262144",
        doc: "Datagram bytes one source IP may send per second (1..=1073741824), counted like `udp_packets_per_source`.",
    },
    KeyDoc {
        name: "max_connections_per_service",
        default: "768",
        doc: "Concurrent connections one service of one decky serves (1..=65536), so a flood on one service leaves the decky's other services reachable. The default is three quarters of `max_connections_per_decky`.",
    },
    KeyDoc {
        name: "max_decky_connections_per_source",
        default: "512",
        doc: "Concurrent connections one source IP may hold on one decky (1..=65536). The default, half of `max_connections_per_decky`, serves a 256- or 512-way parallel brute force whole while leaving half the decky to everyone else. When a decky is full, a newcomer from a source holding fewer connections takes the slot of the busiest source's oldest connection.",
    },
    KeyDoc {
        name: "pre_auth_timeout_secs",
        default: "60",
        doc: "Longest a connection may stay before it authenticates or completes its first request (1..=3600): SSH identification, key exchange and login, an HTTP request head, … A trickle of bytes does not extend it.",
    },
];

/// Keys of a decky section `[NAME]` (or a group: `archetype` + `amount`).
pub static DECKY_KEYS: &[KeyDoc] = &[
    KeyDoc {
        name: "ip",
        default: "allocated",
        doc: "The address this decky answers on. Must be in 127.0.0.0/8 on the loopback driver. Cannot be combined with `amount` > 1.",
    },
    KeyDoc {
        name: "services",
        default: "the archetype's services",
        doc: "Comma-separated services (`ssh, http`). When both `services` and `archetype` are set, this list wins and the archetype still gives the OS family and distro.",
    },
    KeyDoc {
        name: "archetype",
        default: "none",
        doc: "A bundle of services, OS family and preferred distros (`linux-server`, `web-server`, `deaddeck`, …).",
    },
    KeyDoc {
        name: "distro",
        default: "the archetype's first preferred persona, else debian",
        doc: "Persona: a Linux distro (package versions behind every banner, kernel strings, MOTD, hostname style) or a Windows build (`win10`, `win2019`, …: SMB, RDP, MSSQL and IIS versions). A Windows archetype takes only Windows builds, every other archetype only distros.",
    },
    KeyDoc {
        name: "hostname",
        default: "generated from the decky's seed",
        doc: "Hostname the decky presents. With `amount` > 1 each decky gets `HOSTNAME-01`, `HOSTNAME-02`, ….",
    },
    KeyDoc {
        name: "nmap_os",
        default: "the archetype's family, else linux",
        doc: "OS family the TCP/IP stack imitates: linux, windows (also windows_server), bsd, embedded, cisco. `nmap-os` is accepted as the same key.",
    },
    KeyDoc {
        name: "amount",
        default: "1",
        doc: "1..=100. Above 1 the section becomes a group expanded to `NAME-01` … `NAME-NN`, each with its own address, seed and hostname; its `[NAME.SERVICE]` sections apply to every member.",
    },
    KeyDoc {
        name: "bait_file",
        default: "none",
        doc: "Files of your own laid over the bait world's on this decky: comma-separated `GUEST_PATH=HOST_FILE` entries (`/root/notes.txt=/srv/bait/notes.txt`). Each host file is read at start (UTF-8 text, at most 1 MiB) and shown at the absolute guest path by the shell, SFTP and FTP; a missing, unreadable or malformed file stops the start naming it.",
    },
    KeyDoc {
        name: "mutate_interval",
        default: "none",
        doc: "Minutes between persona mutations (1..=10080). Accepted for compatibility with DECNET Python files; mutation is not implemented, so the value is checked and then ignored.",
    },
];

/// Keys every `[NAME.SERVICE]` section accepts besides the service's own persona keys.
pub static SERVICE_KEYS: &[KeyDoc] = &[
    KeyDoc {
        name: "port",
        default: "the listener's default port",
        doc: PORT_DOC,
    },
    KeyDoc {
        name: "listeners",
        default: "the service's default listeners",
        doc: LISTENERS_DOC,
    },
    KeyDoc {
        name: "<listener>_port",
        default: "the listener's default port",
        doc: LISTENER_PORT_DOC,
    },
];

const PORT_DOC: &str = "Port the section's listener listens on (1..=65535), before `port_offset`: \
     the service's primary listener, or the listener a section is named after (`[NAME.https]`).";
const LISTENERS_DOC: &str =
    "Comma list of the service's listeners to enable (e.g. `http, https`); \
     naming a listener in `services` (e.g. `https`) enables it too.";
const LISTENER_PORT_DOC: &str = "Port of one listener of the service (e.g. `https_port = 8443`).";

pub(crate) fn names(keys: &[KeyDoc]) -> String {
    keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

fn table(out: &mut String, keys: &[KeyDoc]) {
    out.push_str("| key | default | meaning |\n|---|---|---|\n");
    for k in keys {
        let _ = writeln!(out, "| `{}` | {} | {} |", k.name, k.default, k.doc);
    }
}

/// The config file reference as Markdown: sections, keys, defaults, archetypes, distros.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# DECNET fleet config (INI)\n\n\
         Lines are `key = value` (or `key: value`); `#` and `;` start a comment at the \
         beginning of a line only. Keys are lowercase. An unknown section or key, a key \
         given twice, or a bad value is an error naming the file, line, section and key.\n\n\
         ## [general]\n\n",
    );
    table(&mut out, GENERAL_KEYS);
    out.push_str(
        "\n## [NAME] — one decky, or a group\n\n\
         Any section that is not `[general]` and has no dot is a decky; NAME (letters, \
         digits, `-`, `_`, up to 63 characters) becomes its name. Each decky needs \
         `services` or `archetype`.\n\n",
    );
    table(&mut out, DECKY_KEYS);
    out.push_str(
        "\n## [NAME.SERVICE] — persona of one service\n\n\
         Only for a service the decky runs. Accepts `port` and the persona keys the \
         service declares (see `decnet services`).\n\n",
    );
    table(&mut out, SERVICE_KEYS);
    out.push_str(
        "\n## Archetypes\n\n| archetype | services | OS family | distros |\n|---|---|---|---|\n",
    );
    for a in &ARCHETYPES {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            a.slug,
            a.services.join(", "),
            a.os_family,
            a.preferred_distros.join(", ")
        );
    }
    out.push_str("\n## Distros\n\n");
    for d in &DISTROS {
        let _ = writeln!(out, "- `{}`: {}", d.slug, d.display_name);
    }
    out.push_str("\n## Windows builds\n\n");
    for w in &WINDOWS_BUILDS {
        let _ = writeln!(
            out,
            "- `{}`: {} {} (build {})",
            w.slug, w.product_name, w.display_version, w.build
        );
    }
    out
}

/// The persona keys each implemented service accepts, as Markdown.
pub fn service_reference_markdown(catalog: &dyn ServiceCatalog) -> String {
    let mut services = catalog.services();
    services.sort_by_key(|s| s.name);
    let mut out = String::new();
    for s in services {
        let listeners = s
            .listeners
            .iter()
            .map(|l| {
                let on = if l.default_enabled {
                    ""
                } else {
                    ", on request"
                };
                format!("`{}` {}{on}", l.name, l.describe())
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "### [NAME.{}] — {}\n\nListeners: {listeners}.\n\n| key | type | meaning |\n|---|---|---|\n| `port` | port | {} |\n| `listeners` | list | {} |",
            s.name, s.summary, PORT_DOC, LISTENERS_DOC
        );
        for l in s.listeners {
            let _ = writeln!(
                out,
                "| `{}_port` | port | Port of the `{}` listener (default {}). |",
                l.name, l.name, l.default_port
            );
        }
        for k in s.persona_keys {
            let kind = match k.kind {
                KeyKind::Text => "text".to_string(),
                KeyKind::Int => "number".to_string(),
                KeyKind::Bool => "true/false".to_string(),
                KeyKind::Choice(options) => options.join(" \\| "),
            };
            let _ = writeln!(out, "| `{}` | {} | {} |", k.name, kind, k.doc);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Limits;

    fn default_of(name: &str) -> &'static str {
        GENERAL_KEYS
            .iter()
            .find(|k| k.name == name)
            .unwrap()
            .default
    }

    #[test]
    fn documented_limit_defaults_match_limits_default() {
        let l = Limits::DEFAULT;
        assert_eq!(
            default_of("max_connections_per_decky"),
            l.max_connections_per_decky.to_string()
        );
        assert_eq!(
            default_of("max_connections_per_source"),
            l.max_connections_per_source.to_string()
        );
        assert_eq!(
            default_of("idle_timeout_secs"),
            l.idle_timeout.as_secs().to_string()
        );
        assert_eq!(
            default_of("session_timeout_secs"),
            l.session_timeout.as_secs().to_string()
        );
        assert_eq!(default_of("max_bytes_in"), l.max_bytes_in.to_string());
        assert_eq!(default_of("max_read_bytes"), l.max_read_bytes.to_string());
        assert_eq!(
            default_of("udp_packets_per_source"),
            l.udp_packets_per_source.to_string()
        );
        assert_eq!(
            default_of("udp_bytes_per_source"),
            l.udp_bytes_per_source.to_string()
        );
        assert_eq!(
            default_of("max_connections_per_service"),
            l.max_connections_per_service.to_string()
        );
        assert_eq!(
            default_of("max_decky_connections_per_source"),
            l.max_decky_connections_per_source.to_string()
        );
        assert_eq!(
            default_of("pre_auth_timeout_secs"),
            l.pre_auth_timeout.as_secs().to_string()
        );
    }

    #[test]
    fn reference_lists_every_key_and_archetype() {
        let md = reference_markdown();
        for k in GENERAL_KEYS.iter().chain(DECKY_KEYS).chain(SERVICE_KEYS) {
            assert!(md.contains(&format!("| `{}` |", k.name)), "{}", k.name);
        }
        for a in &ARCHETYPES {
            assert!(md.contains(a.slug));
        }
        for w in &WINDOWS_BUILDS {
            assert!(md.contains(&format!("- `{}`: ", w.slug)), "{}", w.slug);
        }
    }
}

//! What a service declares about itself, so config can be validated and the
//! catalog listed without the core knowing any protocol.

use serde::Serialize;

/// Transport a listener uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP stream.
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// Type of a persona key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Free text.
    Text,
    /// Unsigned integer.
    Int,
    /// `true/false/yes/no/on/off/1/0`.
    Bool,
    /// One of a fixed set of values.
    Choice(&'static [&'static str]),
}

/// One persona key a service accepts in `[decky-NAME.SERVICE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PersonaKey {
    /// Key name.
    pub name: &'static str,
    /// Value type.
    pub kind: KeyKind,
    /// What it changes, for the config reference.
    pub doc: &'static str,
}

/// One socket a service listens on (SMTP on 25 and 465, HTTP on 80 and 443).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListenerInfo {
    /// Listener name; also a slug the INI `services=` list accepts when it differs from
    /// the service's name (`https` is the TLS listener of `http`).
    pub name: &'static str,
    /// Transport.
    pub transport: Transport,
    /// Default port.
    pub default_port: u16,
    /// Whether the listener speaks TLS from the first byte.
    pub tls: bool,
    /// Whether naming the service alone enables this listener.
    pub default_enabled: bool,
}

impl Transport {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ListenerInfo {
    /// A plain TCP listener enabled by default.
    pub const fn tcp(name: &'static str, default_port: u16) -> ListenerInfo {
        ListenerInfo {
            name,
            transport: Transport::Tcp,
            default_port,
            tls: false,
            default_enabled: true,
        }
    }

    /// A UDP listener enabled by default.
    pub const fn udp(name: &'static str, default_port: u16) -> ListenerInfo {
        ListenerInfo {
            transport: Transport::Udp,
            ..ListenerInfo::tcp(name, default_port)
        }
    }

    /// The same listener speaking TLS from the first byte.
    pub const fn with_tls(self) -> ListenerInfo {
        ListenerInfo { tls: true, ..self }
    }

    /// The same listener, enabled only when named (by its slug or the `listeners` key).
    pub const fn on_request(self) -> ListenerInfo {
        ListenerInfo {
            default_enabled: false,
            ..self
        }
    }

    /// `80/tcp`, `443/tcp+tls`, `5060/udp`.
    pub fn describe(&self) -> String {
        let tls = if self.tls { "+tls" } else { "" };
        format!("{}/{}{tls}", self.default_port, self.transport)
    }
}

/// What a service declares before anything binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Name used in config (`ssh`, `http`, …).
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Its listeners, the primary one first.
    pub listeners: &'static [ListenerInfo],
    /// Persona keys it accepts besides the universal `port`, `listeners` and `<listener>_port`.
    pub persona_keys: &'static [PersonaKey],
}

impl ServiceInfo {
    /// Looks a persona key up.
    pub fn key(&self, name: &str) -> Option<&'static PersonaKey> {
        self.persona_keys.iter().find(|k| k.name == name)
    }

    /// Looks a listener up by name.
    pub fn listener(&self, name: &str) -> Option<&'static ListenerInfo> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// The listener `port=` moves: the one named like the service, else the first.
    pub fn primary(&self) -> Option<&'static ListenerInfo> {
        self.listener(self.name).or(self.listeners.first())
    }
}

/// What a slug in a `services=` list names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slug<'a> {
    /// The service implementing it.
    pub service: &'a ServiceInfo,
    /// The one listener the slug enables, when it names a listener (`https`) rather than
    /// the service (`http`, which enables the default listeners).
    pub listener: Option<&'static ListenerInfo>,
}

/// The services this build implements; the config resolver asks it.
pub trait ServiceCatalog {
    /// The implemented service of that name.
    fn service(&self, name: &str) -> Option<&ServiceInfo>;
    /// Every implemented service.
    fn services(&self) -> Vec<&ServiceInfo>;

    /// What a `services=` slug names: a service, or a listener of one.
    fn slug(&self, slug: &str) -> Option<Slug<'_>> {
        if let Some(service) = self.service(slug) {
            return Some(Slug {
                service,
                listener: None,
            });
        }
        self.services().into_iter().find_map(|service| {
            service
                .listeners
                .iter()
                .find(|l| l.name == slug)
                .map(|l| Slug {
                    service,
                    listener: Some(l),
                })
        })
    }
}

/// Checks a value against a key's kind; the error says what is expected.
pub fn check_value(kind: KeyKind, value: &str) -> Result<(), String> {
    match kind {
        KeyKind::Text => Ok(()),
        KeyKind::Int => value
            .trim()
            .parse::<u64>()
            .map(|_| ())
            .map_err(|_| format!("expected a whole number, got {value:?}")),
        KeyKind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| format!("expected true or false, got {value:?}")),
        KeyKind::Choice(options) => {
            if options.contains(&value.trim()) {
                Ok(())
            } else {
                Err(format!(
                    "expected one of {}, got {value:?}",
                    options.join(", ")
                ))
            }
        }
    }
}

/// Parses the boolean spellings the INI format accepts.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

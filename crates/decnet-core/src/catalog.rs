//! What a service declares about itself, so config can be validated and the
//! catalog listed without the core knowing any protocol.

use serde::Serialize;

/// Transport a listener uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// What a service declares before anything binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Name used in config (`ssh`, `http`, …).
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Transport.
    pub transport: Transport,
    /// Default port.
    pub default_port: u16,
    /// Persona keys it accepts besides the universal `port`.
    pub persona_keys: &'static [PersonaKey],
}

impl ServiceInfo {
    /// Looks a persona key up.
    pub fn key(&self, name: &str) -> Option<&'static PersonaKey> {
        self.persona_keys.iter().find(|k| k.name == name)
    }
}

/// The services this build implements; the config resolver asks it.
pub trait ServiceCatalog {
    /// The implemented service of that name.
    fn service(&self, name: &str) -> Option<&ServiceInfo>;
    /// Every implemented service.
    fn services(&self) -> Vec<&ServiceInfo>;
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

//! The typed fleet config and its sources (INI files, `decnet deploy` flags, the demo fleet).
//!
//! Every source becomes one intermediate spec (`spec`), and one resolver
//! (`resolve`) turns any spec into a [`FleetConfig`]: a deploy from flags is
//! resolved by exactly the code that resolves a config file.
//!
//! - `ini`: tokenizer that keeps line numbers
//! - `spec`: INI sections and deploy flags → spec (values parsed, keys checked)
//! - `resolve`: spec → [`FleetConfig`] (archetypes, distros, catalog, groups, seeds, addresses, binds)
//! - [`reference`](mod@reference): every key with its default and meaning; the loader's allowed keys come from it
//! - [`model`]: the resolved types the engine runs

mod error;
mod ini;
pub mod model;
pub mod reference;
mod resolve;
mod spec;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use error::{BindConflict, ConfigError, Location};
pub use model::{
    Cidr, DeckyConfig, DiskWatermark, Driver, FleetConfig, General, Limits, LogTarget,
    LogTransport, ServiceConfig,
};
pub use reference::{reference_markdown, service_reference_markdown};
pub use resolve::{BindClaim, LOOPBACK_POOL_START, MAX_AMOUNT, MAX_NAME_LEN};

use crate::catalog::ServiceCatalog;
use crate::persona::{archetype, ARCHETYPES};
use spec::{DeckySpec, FleetSpec, Spanned};

/// Parses and resolves a DECNET INI file.
///
/// `source` names the file in errors; `installation_key` seeds every decky
/// (see [`crate::seed::InstanceSeed::derive_for`]), so the same file and key
/// always give the same fleet.
pub fn load_ini(
    text: &str,
    source: &str,
    catalog: &dyn ServiceCatalog,
    installation_key: &[u8],
) -> Result<FleetConfig, ConfigError> {
    let doc = ini::parse(text, source)?;
    let spec = spec::from_document(&doc, source)?;
    resolve::resolve(&spec, catalog, installation_key)
}

/// What `decnet deploy` flags ask for; resolved by the same code as the INI file.
///
/// It reads as one INI group section named `name_prefix` (default `decky`)
/// with `amount = deckies`, except that members are numbered
/// (`decky-01`, …) even when there is only one. `services` wins over the
/// archetype's services (the archetype still gives OS family and distros);
/// `randomize_services` cannot be combined with `services`, nor
/// `randomize_distros` with `distro`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeployRequest {
    /// How many deckies (1..=[`MAX_AMOUNT`]).
    pub deckies: u32,
    /// Services every decky runs (items may themselves be comma lists).
    pub services: Option<Vec<String>>,
    /// Give each decky a seeded random subset (1 to 3) of the implemented services.
    pub randomize_services: bool,
    /// Archetype slug.
    pub archetype: Option<String>,
    /// Distro slug.
    pub distro: Option<String>,
    /// Give each decky a seeded random distro among the archetype's preferred ones (all distros without an archetype).
    pub randomize_distros: bool,
    /// First address to allocate from (default 127.42.0.10 on loopback).
    pub ip_start: Option<IpAddr>,
    /// Network driver.
    pub driver: Driver,
    /// Added to every service port.
    pub port_offset: u16,
    /// Decky name prefix (default `decky`).
    pub name_prefix: Option<String>,
}

/// Resolves `decnet deploy` flags into a fleet.
pub fn plan_deploy(
    req: &DeployRequest,
    catalog: &dyn ServiceCatalog,
    installation_key: &[u8],
) -> Result<FleetConfig, ConfigError> {
    resolve::resolve(&spec::from_deploy(req), catalog, installation_key)
}

/// Archetypes the demo fleet wants, in order.
const DEMO_ARCHETYPES: [&str; 3] = ["linux-server", "web-server", "deaddeck"];
/// Distros of the demo deckies, so the demo shows a mixed LAN rather than three clones.
const DEMO_DISTROS: [&str; 3] = ["debian", "ubuntu22", "rocky9"];

/// The demo fleet `decnet up` runs with no arguments: three deckies on 127.42.0.0/24 — a `linux-server`, a `web-server` and a `deaddeck` (or another archetype with a service this build implements), each with its own address.
///
/// The deckies are `demo-01` … `demo-03` at 127.42.0.10 … 127.42.0.12.
pub fn demo_fleet(
    catalog: &dyn ServiceCatalog,
    installation_key: &[u8],
    port_offset: u16,
) -> Result<FleetConfig, ConfigError> {
    const SOURCE: &str = "demo fleet";
    // An archetype runs with the services this build implements, so any with one of them will do.
    let complete = |slug: &str| {
        archetype(slug).is_some_and(|a| a.services.iter().any(|s| catalog.slug(s).is_some()))
    };
    let mut spec = FleetSpec::new(SOURCE);
    spec.general.port_offset.value = port_offset;
    let mut used: Vec<&str> = Vec::new();
    for (i, wanted) in DEMO_ARCHETYPES.iter().enumerate() {
        // Prefer the wanted archetype, then an unused complete one, then any
        // complete one; with none the resolver explains what is missing.
        let slug = if complete(wanted) {
            *wanted
        } else {
            ARCHETYPES
                .iter()
                .map(|a| a.slug)
                .filter(|s| complete(s))
                .find(|s| !used.contains(s))
                .or_else(|| ARCHETYPES.iter().map(|a| a.slug).find(|s| complete(s)))
                .unwrap_or(wanted)
        };
        used.push(slug);
        let name = format!("demo-{:02}", i + 1);
        let at = Location {
            source: SOURCE.to_string(),
            line: None,
            section: Some(name.clone()),
            key: None,
        };
        let mut d = DeckySpec::new(&name, at.clone());
        d.archetype = Some(Spanned {
            value: slug.to_string(),
            at: at.at_key("archetype", None),
        });
        d.distro = DEMO_DISTROS.get(i).map(|distro| Spanned {
            value: (*distro).to_string(),
            at: at.at_key("distro", None),
        });
        spec.deckies.push(d);
    }
    resolve::resolve(&spec, catalog, installation_key)
}

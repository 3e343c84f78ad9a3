//! What the audit knows of one decky before probing it: where its listeners
//! are and what its persona says it is. Built from the resolved config, so the
//! expectations are the persona's, not what the decky happens to answer.

use std::net::{IpAddr, SocketAddr};

use decnet_core::config::model::DeckyConfig;
use decnet_core::persona::{Distro, OsFamily};
use decnet_services::kit::persona::PersonaKeys;

/// The web server a persona claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebServer {
    /// nginx.
    Nginx,
    /// Apache httpd.
    Apache,
    /// Some other `Server` header (a custom `server_header`): only generic checks apply.
    Other,
}

impl WebServer {
    /// The kind a `Server` header names.
    pub fn of(server_header: &str) -> WebServer {
        if server_header.starts_with("nginx") {
            WebServer::Nginx
        } else if server_header.starts_with("Apache") {
            WebServer::Apache
        } else {
            WebServer::Other
        }
    }
}

/// A decky's SSH listener and what it should announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The identification string the persona announces (`ssh_version`, else the distro's OpenSSH).
    pub ident: String,
    /// An account the decky lets in, for the shell checks (`None`: it accepts none).
    pub login: Option<(String, String)>,
}

/// One decky as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Decky name.
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
    /// OS family the persona presents.
    pub os_family: OsFamily,
    /// Distro persona (the userland its ssh and shell present).
    pub distro: &'static Distro,
    /// SSH, if it runs it.
    pub ssh: Option<SshTarget>,
    /// Plain HTTP listener.
    pub http: Option<SocketAddr>,
    /// HTTPS listener.
    pub https: Option<SocketAddr>,
    /// The `Server` header the persona announces, when it runs http or https.
    pub server_header: Option<String>,
}

impl Target {
    /// The audit's view of `decky`; `addr_of(listener)` says where each listener
    /// is bound (the engine's bound address, or the config's address and port).
    ///
    /// Persona values that the service would refuse at start are left out here
    /// (the decky cannot be running with them).
    pub fn from_config(
        decky: &DeckyConfig,
        addr_of: impl Fn(&str) -> Option<SocketAddr>,
    ) -> Target {
        let mut t = Target {
            name: decky.name.clone(),
            ip: decky.ip,
            os_family: decky.os_family,
            distro: decky.distro,
            ssh: None,
            http: None,
            https: None,
            server_header: None,
        };
        for s in &decky.services {
            match s.name.as_str() {
                "ssh" => {
                    let keys = PersonaKeys::new("ssh", s);
                    let ident = s
                        .get("ssh_version")
                        .map(str::to_owned)
                        .or_else(|| decky.distro.ssh_identification());
                    let login = keys
                        .users_or("users", decnet_services::ssh::DEFAULT_USERS)
                        .ok()
                        .and_then(|u| u.into_iter().next());
                    if let (Some(addr), Some(ident)) = (addr_of("ssh"), ident) {
                        t.ssh = Some(SshTarget { addr, ident, login });
                    }
                }
                "http" => {
                    t.server_header = Some(
                        s.get("server_header")
                            .map_or_else(|| decky.distro.http_server_header(), str::to_owned),
                    );
                    if s.listener("http").is_some() {
                        t.http = addr_of("http");
                    }
                    if s.listener("https").is_some() {
                        t.https = addr_of("https");
                    }
                }
                _ => {}
            }
        }
        t
    }

    /// The web server its persona claims, if it runs one.
    pub fn web_server(&self) -> Option<WebServer> {
        self.server_header.as_deref().map(WebServer::of)
    }
}

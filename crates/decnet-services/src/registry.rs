//! The services this build implements.

use decnet_core::catalog::{ServiceCatalog, ServiceInfo};

use crate::service::Service;

/// The set of implemented services, looked up by name.
pub struct Registry {
    services: Vec<Box<dyn Service>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.services.iter().map(|s| s.info().name))
            .finish()
    }
}

impl Registry {
    /// A registry of the given services.
    pub fn new(services: Vec<Box<dyn Service>>) -> Registry {
        Registry { services }
    }

    /// Every service this build implements.
    pub fn builtin() -> Registry {
        Registry::new(vec![
            Box::new(crate::http::Http),
            Box::new(crate::docker_api::DockerApi),
            Box::new(crate::k8s::K8s),
            Box::new(crate::ssh::Ssh),
            Box::new(crate::telnet::Telnet),
            Box::new(crate::vnc::Vnc),
            Box::new(crate::smtp::Smtp),
            Box::new(crate::imap::Imap),
            Box::new(crate::pop3::Pop3),
            Box::new(crate::ftp::Ftp),
            Box::new(crate::redis::Redis),
            Box::new(crate::mysql::Mysql),
            Box::new(crate::postgres::Postgres),
            Box::new(crate::mqtt::Mqtt),
            Box::new(crate::elasticsearch::Elasticsearch),
            Box::new(crate::mongodb::Mongodb),
            Box::new(crate::ldap::Ldap),
        ])
    }

    /// The service of that name (not a listener slug: `https` is found as `http`'s listener
    /// through [`ServiceCatalog::slug`]).
    pub fn get(&self, name: &str) -> Option<&dyn Service> {
        self.services
            .iter()
            .find(|s| s.info().name == name)
            .map(|s| s.as_ref())
    }
}

impl ServiceCatalog for Registry {
    fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.get(name).map(|s| s.info())
    }

    fn services(&self) -> Vec<&ServiceInfo> {
        self.services.iter().map(|s| s.info()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::{KNOWN_SERVICES, PLANNED_SERVICES};

    /// Every slug a `services=` list accepts: service names and their listeners' names.
    fn registered() -> Vec<&'static str> {
        let mut slugs: Vec<&'static str> = Registry::builtin()
            .services
            .iter()
            .flat_map(|s| {
                let info = s.info();
                std::iter::once(info.name).chain(info.listeners.iter().map(|l| l.name))
            })
            .collect();
        slugs.dedup();
        slugs
    }

    #[test]
    fn every_registered_service_is_known() {
        for name in registered() {
            assert!(
                KNOWN_SERVICES.contains(&name),
                "{name} is registered but missing from KNOWN_SERVICES"
            );
        }
    }

    #[test]
    fn every_known_service_is_registered_or_planned_never_both() {
        let reg = registered();
        for name in KNOWN_SERVICES {
            let is_registered = reg.contains(&name);
            let is_planned = PLANNED_SERVICES.contains(&name);
            assert!(
                is_registered || is_planned,
                "{name} is known but neither registered nor in PLANNED_SERVICES"
            );
            assert!(
                !(is_registered && is_planned),
                "{name} is registered: remove it from PLANNED_SERVICES"
            );
        }
    }
}

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
        Registry::new(vec![Box::new(crate::http::Http), Box::new(crate::ssh::Ssh)])
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

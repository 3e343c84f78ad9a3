//! The HTTP front end as an [`Instance`] any service can return: one
//! [`Site`], its TLS acceptor, and the front end's parser, caps, deadlines and
//! `http_request` events. A service other than `http` (the Docker API,
//! Kubernetes, Elasticsearch) builds its site from its own persona keys and
//! returns `Arc::new(Front::new(site, tls))` from `Service::instance`; its
//! listeners with `tls` set are served over `tls`, the others in plaintext.

use std::sync::Arc;

use async_trait::async_trait;

use super::site::Site;
use crate::conn::Conn;
use crate::kit::tls::{AcceptorBuilder, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, ServiceError};

/// A site served by the front end on a service's listeners.
pub struct Front {
    site: Arc<dyn Site>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("app", &self.site.app_name())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Front {
    /// Serves `site`; `tls` is required when any of the service's listeners is a TLS one.
    pub fn new(site: Arc<dyn Site>, tls: Option<TlsAcceptor>) -> Front {
        Front { site, tls }
    }

    /// Serves one connection: a TLS handshake first on a TLS listener, then requests.
    pub async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        match (&self.tls, ctx.listener.tls) {
            (Some(acceptor), true) => {
                super::serve_tls(acceptor, conn, ctx, self.site.clone()).await
            }
            (None, true) => Err(ServiceError::Protocol(
                "TLS listener served without a certificate".into(),
            )),
            (_, false) => super::serve_http(conn, ctx, self.site.clone(), None).await,
        }
    }
}

#[async_trait]
impl Instance for Front {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        Front::serve(self, conn, ctx).await
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

/// The TLS acceptor of an HTTP-shaped service, when the config enables one of
/// its TLS listeners: a certificate for `hostname` kept in the decky's state
/// dir for `service`, ALPN `alpn` (empty: none negotiated, as a Go server
/// without `NextProtos`), the handshake of `profile`.
pub fn acceptor(
    service: &'static str,
    hostname: &str,
    alpn: &[&[u8]],
    profile: TlsProfile,
    decky: &DeckyRuntime,
    cfg: &decnet_core::config::model::ServiceConfig,
) -> Result<Option<TlsAcceptor>, ServiceError> {
    if !cfg.listeners.iter().any(|l| l.tls) {
        return Ok(None);
    }
    AcceptorBuilder::new(service, hostname)
        .alpn(alpn)
        .profile(profile)
        .build(decky)
        .map(Some)
}

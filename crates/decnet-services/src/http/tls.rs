//! The HTTPS certificate: self-signed for the persona host name, generated once
//! per decky and kept in its state dir so it survives restarts, and a TLS
//! configuration that offers only `http/1.1`.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::service::{DeckyRuntime, ServiceError};

const SERVICE: &str = "https";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// Records which host name the stored certificate was made for, so a changed
/// persona gets a new certificate instead of a mismatching one.
const HOST_FILE: &str = "cert.host";

/// A TLS acceptor presenting the decky's certificate for `hostname`.
pub fn acceptor(decky: &DeckyRuntime, hostname: &str) -> Result<TlsAcceptor, ServiceError> {
    let dir = decky.state_dir(SERVICE);
    let (certs, key) = match load(&dir, hostname) {
        Some(found) => found,
        None => create(&dir, decky, hostname)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| crypto("TLS configuration", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| crypto("TLS configuration", e))?;
    // A plain web server negotiates HTTP/1.1 only; rustls offers nothing by default.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

fn crypto(what: &'static str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Crypto {
        service: SERVICE,
        what,
        message: e.to_string(),
    }
}

fn state(what: &str, path: &Path, source: std::io::Error) -> ServiceError {
    ServiceError::State {
        service: SERVICE,
        what: format!("{what} {}", path.display()),
        source,
    }
}

fn load(
    dir: &Path,
    hostname: &str,
) -> Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let host = std::fs::read_to_string(dir.join(HOST_FILE)).ok()?;
    if host.trim() != hostname {
        tracing::info!(
            dir = %dir.display(),
            "https host name changed; generating a new certificate"
        );
        return None;
    }
    let certs = CertificateDer::pem_file_iter(dir.join(CERT_FILE))
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_file(dir.join(KEY_FILE)).ok()?;
    if certs.is_empty() {
        return None;
    }
    Some((certs, key))
}

fn create(
    dir: &Path,
    decky: &DeckyRuntime,
    hostname: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServiceError> {
    let key = rcgen::KeyPair::generate().map_err(|e| crypto("TLS key", e))?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()])
        .map_err(|e| crypto("TLS certificate", e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    // Dates and serial come from the instance seed so they differ between deckies
    // and look like a snakeoil certificate made when the host was installed.
    let seed = &decky.seed;
    let year = 2022 + i32::try_from(seed.pick(b"https-cert-year", 3)).unwrap_or(0);
    let month = 1 + u8::try_from(seed.pick(b"https-cert-month", 12)).unwrap_or(0);
    let day = 1 + u8::try_from(seed.pick(b"https-cert-day", 28)).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    params.not_after = rcgen::date_time_ymd(year + 10, month, day);
    let mut serial = seed.derive_bytes(b"https-cert-serial", 16);
    if let Some(first) = serial.first_mut() {
        // A positive, full-length DER integer.
        *first = (*first & 0x7f) | 0x40;
    }
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&key)
        .map_err(|e| crypto("TLS certificate", e))?;

    std::fs::create_dir_all(dir).map_err(|e| state("creating", dir, e))?;
    write_file(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&dir.join(CERT_FILE), cert.pem().as_bytes(), 0o644)?;
    write_file(&dir.join(HOST_FILE), hostname.as_bytes(), 0o644)?;
    tracing::info!(dir = %dir.display(), "generated https certificate");

    let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| crypto("TLS key", e))?;
    Ok((vec![cert.der().clone()], der))
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), ServiceError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| state("writing", &tmp, e))?;
    // `mode` only applies to new files; a leftover temporary file keeps its own.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| state("setting permissions of", &tmp, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| state("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state("renaming", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::config::model::{DeckyConfig, Limits};
    use decnet_core::persona::{distro, OsFamily};
    use decnet_core::seed::InstanceSeed;

    fn decky(name: &str, data: &Path) -> DeckyRuntime {
        DeckyRuntime {
            config: DeckyConfig {
                name: name.into(),
                ip: "127.0.0.1".parse().unwrap(),
                hostname: format!("{name}-host"),
                os_family: OsFamily::Linux,
                distro: distro("debian").unwrap(),
                windows: None,
                archetype: None,
                services: vec![],
            },
            seed: InstanceSeed::derive_for(b"k", name),
            data_dir: data.to_path_buf(),
            limits: Limits::DEFAULT,
        }
    }

    #[test]
    fn certificate_is_kept_and_regenerated_on_host_change() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("web", tmp.path());
        acceptor(&d, "web-host").unwrap();
        let dir = d.state_dir("https");
        let first = std::fs::read(dir.join(CERT_FILE)).unwrap();
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        acceptor(&d, "web-host").unwrap();
        assert_eq!(std::fs::read(dir.join(CERT_FILE)).unwrap(), first);
        acceptor(&d, "other-name").unwrap();
        assert_ne!(std::fs::read(dir.join(CERT_FILE)).unwrap(), first);
    }
}

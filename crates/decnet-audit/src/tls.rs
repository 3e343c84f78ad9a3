//! TLS as sslscan, JARM and a curious browser see it: the certificate's shape
//! against Debian's snakeoil (what `ssl-cert` generates for nginx and Apache
//! out of the box), how many TLS 1.2 suites the server accepts, and whether it
//! honours the fallback SCSV as OpenSSL does.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::ssl::{SslConnector, SslMethod, SslMode, SslVerifyMode, SslVersion};
use openssl::x509::X509;

use crate::cross::Observed;
use crate::target::Target;
use crate::{AuditError, CheckResult, PROBE_TIMEOUT};

/// The certificate is shaped like Debian's snakeoil.
pub const CERT_SHAPE: &str = "tls.certificate-shape";
/// TLS 1.2 accepts more than the 3 suites of a minimal stack.
pub const TLS12_SUITES: &str = "tls.tls12-suites";
/// A fallback below the server's best version with TLS_FALLBACK_SCSV is refused.
pub const FALLBACK_SCSV: &str = "tls.fallback-scsv";

/// TLS 1.2 suites OpenSSL servers (nginx, Apache on Debian/RHEL) accept by default, OpenSSL names.
const TLS12_PROBE_SUITES: &[&str] = &[
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-RSA-AES128-SHA",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
];

/// snakeoil's lifetime: make-ssl-cert runs `openssl req -x509 -days 3650`.
const SNAKEOIL_DAYS: i32 = 3650;

/// Opens a TCP connection with the probe's timeouts.
fn tcp(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_TIMEOUT))?;
    Ok(s)
}

/// One handshake; `Ok((version, certificate))` when it completes.
fn handshake(
    addr: SocketAddr,
    max: Option<SslVersion>,
    suites: Option<&str>,
    fallback: bool,
) -> Result<(String, Option<X509>), String> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    b.set_verify(SslVerifyMode::NONE);
    // The probe must be able to offer what old servers still take.
    b.set_security_level(0);
    b.set_max_proto_version(max).map_err(|e| e.to_string())?;
    if let Some(s) = suites {
        b.set_cipher_list(s).map_err(|e| e.to_string())?;
    }
    if fallback {
        b.set_mode(SslMode::SEND_FALLBACK_SCSV);
    }
    let c = b.build();
    let mut cfg = c.configure().map_err(|e| e.to_string())?;
    cfg.set_verify_hostname(false);
    cfg.set_use_server_name_indication(false);
    let s = tcp(addr).map_err(|e| e.to_string())?;
    let mut tls = cfg.connect("decky", s).map_err(|e| e.to_string())?;
    let version = tls.ssl().version_str().to_owned();
    let cert = tls.ssl().peer_certificate();
    let _ = tls.write_all(b"");
    let _ = tls.shutdown();
    let mut sink = [0u8; 1];
    let _ = tls
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)));
    let _ = tls.read(&mut sink);
    Ok((version, cert))
}

/// What is wrong with a certificate's shape, compared with Debian's snakeoil.
pub fn cert_problems(cert: &X509) -> Vec<String> {
    let mut p = Vec::new();
    match cert.public_key() {
        Ok(k) if k.id() == Id::RSA && k.bits() == 2048 => {}
        Ok(k) => p.push(format!("key {:?} {} bits, not RSA 2048", k.id(), k.bits())),
        Err(e) => p.push(format!("unreadable key: {e}")),
    }
    let sig = cert.signature_algorithm().object().to_string();
    if sig != "sha256WithRSAEncryption" {
        p.push(format!("signed {sig}, not sha256WithRSAEncryption"));
    }
    let nb = cert.not_before().to_string();
    if nb.contains(" 00:00:00 ") {
        p.push(format!("NotBefore at midnight ({nb})"));
    }
    match cert.not_before().diff(cert.not_after()) {
        Ok(d) if d.days == SNAKEOIL_DAYS => {}
        Ok(d) => p.push(format!(
            "valid {} days {} s, not {SNAKEOIL_DAYS} days",
            d.days, d.secs
        )),
        Err(e) => p.push(format!("unreadable validity: {e}")),
    }
    let subject: Vec<u8> = cert.subject_name().to_der().unwrap_or_default();
    let issuer: Vec<u8> = cert.issuer_name().to_der().unwrap_or_default();
    if subject != issuer {
        p.push("issuer differs from subject (snakeoil is self-signed)".into());
    }
    let text = String::from_utf8_lossy(&cert.to_text().unwrap_or_default()).into_owned();
    for ext in ["X509v3 Basic Constraints", "X509v3 Subject Key Identifier"] {
        if !text.contains(ext) {
            p.push(format!("no {ext}"));
        }
    }
    p
}

/// Runs the TLS checks on one decky's HTTPS listener.
pub async fn run(
    t: &Target,
    addr: SocketAddr,
    out: &mut Vec<CheckResult>,
    obs: &mut Observed,
) -> Result<(), AuditError> {
    let name = t.name.clone();
    let done = tokio::task::spawn_blocking(move || blocking(addr)).await;
    let r = match done {
        Ok(r) => r,
        Err(e) => {
            for id in [CERT_SHAPE, TLS12_SUITES, FALLBACK_SCSV] {
                out.push(CheckResult::skip(id, format!("probe task failed: {e}")));
            }
            return Ok(());
        }
    };
    let r = r.map_err(|e| AuditError::Unreachable {
        decky: name,
        listener: "https".into(),
        addr,
        source: std::io::Error::other(e),
    })?;
    obs.tls_cert = r.cert_fp;
    out.extend(r.results);
    Ok(())
}

struct Blocking {
    cert_fp: Option<String>,
    results: Vec<CheckResult>,
}

fn blocking(addr: SocketAddr) -> Result<Blocking, String> {
    tcp(addr).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    let (best, cert) = match handshake(addr, None, None, false) {
        Ok(v) => v,
        Err(e) => {
            for id in [CERT_SHAPE, TLS12_SUITES, FALLBACK_SCSV] {
                results.push(CheckResult::tell(id, "a TLS handshake", e.clone()));
            }
            return Ok(Blocking {
                cert_fp: None,
                results,
            });
        }
    };
    let cert_fp = cert
        .as_ref()
        .and_then(|c| c.digest(MessageDigest::sha256()).ok())
        .map(|d| hex::encode(&*d));
    results.push(match &cert {
        None => CheckResult::tell(CERT_SHAPE, "a certificate", "none"),
        Some(c) => {
            let p = cert_problems(c);
            if p.is_empty() {
                CheckResult::pass(CERT_SHAPE)
            } else {
                CheckResult::tell(
                    CERT_SHAPE,
                    "RSA 2048, sha256WithRSAEncryption, self-signed, 3650 days from a real second, Basic Constraints and SKI (Debian snakeoil)",
                    p.join("; "),
                )
            }
        }
    });
    let accepted: Vec<&str> = TLS12_PROBE_SUITES
        .iter()
        .copied()
        .filter(|s| handshake(addr, Some(SslVersion::TLS1_2), Some(s), false).is_ok())
        .collect();
    results.push(if accepted.len() > 3 {
        CheckResult::pass(TLS12_SUITES)
    } else {
        CheckResult::tell(
            TLS12_SUITES,
            format!("more than 3 of {}", TLS12_PROBE_SUITES.join(":")),
            format!("{} accepted: {}", accepted.len(), accepted.join(":")),
        )
    });
    let lower = match best.as_str() {
        "TLSv1.3" => Some(SslVersion::TLS1_2),
        "TLSv1.2" => Some(SslVersion::TLS1_1),
        _ => None,
    };
    results.push(match lower {
        None => CheckResult::skip(FALLBACK_SCSV, format!("server's best version is {best}")),
        Some(v) => match handshake(addr, Some(v), None, true) {
            Err(e) if e.contains("inappropriate fallback") || e.contains("alert") => {
                CheckResult::pass(FALLBACK_SCSV)
            }
            Err(e) => CheckResult::tell(FALLBACK_SCSV, "inappropriate_fallback alert", e),
            Ok((got, _)) => CheckResult::tell(
                FALLBACK_SCSV,
                "inappropriate_fallback alert",
                format!("handshake completed at {got} below the server's {best}"),
            ),
        },
    });
    Ok(Blocking { cert_fp, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debians_own_snakeoil_has_the_snakeoil_shape() {
        let Ok(pem) = std::fs::read("/etc/ssl/certs/ssl-cert-snakeoil.pem") else {
            eprintln!("skipped: no /etc/ssl/certs/ssl-cert-snakeoil.pem (Debian ssl-cert)");
            return;
        };
        let c = X509::from_pem(&pem).unwrap();
        assert_eq!(cert_problems(&c), Vec::<String>::new());
    }

    #[test]
    fn a_ten_year_midnight_ecdsa_certificate_is_named_on_every_count() {
        use openssl::asn1::Asn1Time;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let mut b = X509::builder().unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_str("20240101000000Z").unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_str("20340101000000Z").unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let p = cert_problems(&b.build()).join("\n");
        for want in [
            "not RSA 2048",
            "ecdsa-with-SHA256",
            "midnight",
            "not 3650 days",
            "no X509v3 Basic Constraints",
            "no X509v3 Subject Key Identifier",
        ] {
            assert!(p.contains(want), "{want} missing from {p}");
        }
    }
}

//! The protocol test harness lives in `decnet_testkit::service`; this module adds
//! the services crate's own address band.

#![allow(dead_code)]

pub use decnet_testkit::have;
pub use decnet_testkit::service::*;

/// A loopback address unique to this test process.
pub fn unique_ip() -> String {
    decnet_testkit::unique_ip(100).to_string()
}

/// The first person of the bait world with an account on the served decky: (username, password).
pub fn person(s: &Served) -> (String, String) {
    let p = s.decky.bait.people_on(&s.decky.config.name)[0];
    (p.username.clone(), p.password.clone())
}

/// Runs a client to its end (60 s at most), stdin closed.
pub async fn output(mut c: tokio::process::Command) -> std::process::Output {
    c.stdin(std::process::Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(60), c.output())
        .await
        .expect("client finished in time")
        .expect("client runs")
}

/// Runs a Python script with arguments.
pub async fn python(script: &str, args: &[&str]) -> std::process::Output {
    let mut c = tokio::process::Command::new("python3");
    c.arg("-c").arg(script).args(args);
    output(c).await
}

/// A login event's (principal, exact secret, kind).
pub fn login_of(e: &decnet_core::Event) -> (String, Vec<u8>, decnet_core::SecretKind) {
    let c = e
        .credential
        .as_ref()
        .expect("a login event carries its credential");
    (
        c.principal.clone(),
        c.secret_bytes().unwrap(),
        c.secret_kind,
    )
}

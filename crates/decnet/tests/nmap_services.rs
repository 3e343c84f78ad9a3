//! What `nmap -sV` makes of one decky running every remote-access, file and
//! mail service: the products the personas claim, by nmap's own probes.

use std::process::Command;

use crate::support::*;

#[test]
fn nmap_names_vsftpd_postfix_dovecot_linux_telnetd_and_vnc() {
    if !have("nmap") {
        eprintln!("skipped: needs nmap");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\n\n[mail]\nip = {ip}\nhostname = mx1\ndistro = debian\nservices = telnet, ftp, smtp, imap, pop3, vnc\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let offset: u16 = 25000;
    let (run, _) = up(&cfg, &data, offset, &[]);
    let ports: Vec<String> = [23u16, 21, 25, 143, 110, 5900]
        .iter()
        .map(|p| (p + offset).to_string())
        .collect();
    let out = Command::new("nmap")
        .args(["-sV", "-n", "-Pn", "--version-intensity", "7", "-p"])
        .arg(ports.join(","))
        .arg(ip.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |port: u16| -> String {
        let p = format!("{}/tcp", port + offset);
        text.lines()
            .find(|l| l.starts_with(&p))
            .unwrap_or_else(|| panic!("no line for {p} in:\n{text}"))
            .to_owned()
    };
    for (port, product) in [
        (21u16, "vsftpd"),
        (25, "Postfix smtpd"),
        (143, "Dovecot imapd"),
        (110, "Dovecot pop3d"),
        (23, "Linux telnetd"),
        (5900, "VNC"),
    ] {
        let l = line(port);
        assert!(l.contains(product), "port {port}: {l}\n{text}");
    }
    assert!(run.terminate().success());
}

/// The database, cache, broker and admin-API services on their own ports, as
/// scanners find them: nmap sends some probes only to a product's usual port.
#[test]
fn nmap_names_the_databases_brokers_and_admin_apis() {
    if !have("nmap") {
        eprintln!("skipped: needs nmap");
        return;
    }
    if !decnet_testkit::is_root() {
        eprintln!("skipped: needs root to listen on the services' own ports below 1024");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    let expected: &[(&str, u16, &str)] = &[
        ("redis", 6379, "Redis key-value store"),
        ("mysql", 3306, "MariaDB"),
        ("postgres", 5432, "PostgreSQL DB"),
        ("mqtt", 1883, "mosquitto"),
        ("elasticsearch", 9200, "Elasticsearch REST API"),
        ("mongodb", 27017, "MongoDB"),
        ("ldap", 389, "OpenLDAP"),
        ("docker_api", 2375, "Docker"),
    ];
    let services: Vec<&str> = expected.iter().map(|e| e.0).collect();
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\n\n[db]\nip = {ip}\nhostname = db1\ndistro = debian\nservices = {}\n",
            services.join(", ")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 0, &[]);
    let ports: Vec<String> = expected.iter().map(|e| e.1.to_string()).collect();
    let out = Command::new("nmap")
        .args(["-sV", "-n", "-Pn", "-p"])
        .arg(ports.join(","))
        .arg(ip.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for (service, port, product) in expected {
        let p = format!("{port}/tcp");
        let l = text
            .lines()
            .find(|l| l.starts_with(&p))
            .unwrap_or_else(|| panic!("no line for {p} in:\n{text}"));
        assert!(l.contains(product), "{service} on {port}: {l}\n{text}");
    }
    assert!(run.terminate().success());
}

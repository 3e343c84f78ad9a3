//! `log_target` forwards: `up` sends every journal event as its RFC 5424 line
//! to a UDP, TCP or TLS receiver (and rsyslogd, when installed), and a TCP
//! receiver that goes away gets everything once it is back.

use std::collections::HashSet;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use decnet_core::syslog::{format_event, parse_line};
use decnet_core::Event;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);
/// How often a receiver thread looks at its stop flag, and a test at what arrived.
const TICK: Duration = Duration::from_millis(50);

/// The journal's events, as `decnet events` prints them.
fn journal(data: &Path) -> Vec<Event> {
    events(data, &[])
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

/// Waits until the journal holds `n` disconnects (the session's last event).
fn wait_sessions(data: &Path, n: usize) -> Vec<Event> {
    let ev = wait_events(data, DEADLINE, |ev| {
        ev.iter()
            .filter(|e| e["event_type"] == "disconnect")
            .count()
            >= n
    });
    assert!(
        ev.iter()
            .filter(|e| e["event_type"] == "disconnect")
            .count()
            >= n,
        "{ev:#?}"
    );
    journal(data)
}

/// Lines a receiver got, shared with its thread.
#[derive(Clone, Default)]
struct Got(Arc<Mutex<Vec<String>>>);

impl Got {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    /// Waits until every line of `want` arrived (here or in `also`); returns what is missing.
    fn wait_all(&self, also: &[String], want: &[String]) -> Vec<String> {
        let end = Instant::now() + DEADLINE;
        loop {
            let have: HashSet<String> = self
                .lines()
                .into_iter()
                .chain(also.iter().cloned())
                .collect();
            let missing: Vec<String> = want
                .iter()
                .filter(|l| !have.contains(*l))
                .cloned()
                .collect();
            if missing.is_empty() || Instant::now() > end {
                return missing;
            }
            std::thread::sleep(TICK);
        }
    }
}

/// Splits `LEN SP MSG` frames off the front of `buf`.
fn frames(buf: &mut Vec<u8>, out: &Got) {
    while let Some(sp) = buf.iter().position(|&b| b == b' ') {
        let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
        if buf.len() < sp + 1 + len {
            return;
        }
        let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
        buf.drain(..sp + 1 + len);
        out.0.lock().unwrap().push(msg);
    }
}

/// A TCP (optionally TLS) syslog receiver on its own thread, until stopped.
struct StreamReceiver {
    got: Got,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StreamReceiver {
    fn start(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> StreamReceiver {
        let got = Got::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            // One connection at a time; the forwarder reconnects when one ends.
            while !s.load(Ordering::SeqCst) {
                let sock = match listener.accept() {
                    Ok((sock, _)) => sock,
                    Err(_) => {
                        std::thread::sleep(TICK);
                        continue;
                    }
                };
                sock.set_nonblocking(false).unwrap();
                sock.set_read_timeout(Some(TICK)).unwrap();
                let mut stream: Box<dyn Read> = match &tls {
                    Some(cfg) => Box::new(rustls::StreamOwned::new(
                        rustls::ServerConnection::new(cfg.clone()).unwrap(),
                        sock,
                    )),
                    None => Box::new(sock),
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                while !s.load(Ordering::SeqCst) {
                    match stream.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            frames(&mut buf, &g);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            }
        });
        StreamReceiver {
            got,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops: the listener and any connection are closed when this returns.
    fn stop(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.got.lines()
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Writes the fleet file: one SSH decky at `ip`, forwarding to `target`.
fn fleet(dir: &Path, ip: std::net::IpAddr, general: &str) -> std::path::PathBuf {
    let cfg = dir.join("fleet.ini");
    std::fs::write(
        &cfg,
        format!("[general]\n{general}\n[box]\nip = {ip}\nservices = ssh\n[box.ssh]\nusers = root:toor\nauth_delay_ms = 10\n"),
    )
    .unwrap();
    cfg
}

/// Every received line parses and is the journal's event, formatted.
fn assert_lines_are_the_journal(got: &[String], journal: &[Event]) {
    // A session: at least connect, login, command and disconnect.
    assert!(journal.len() >= 4, "{journal:#?}");
    eprintln!(
        "{} journal events, {} lines received",
        journal.len(),
        got.len()
    );
    let want: Vec<String> = journal.iter().map(format_event).collect();
    for l in got {
        let r = parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(r.hostname, "box");
        assert!(
            want.contains(l),
            "received a line that is no journal event: {l}"
        );
    }
    let got: HashSet<&String> = got.iter().collect();
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    assert!(missing.is_empty(), "never received: {missing:#?}");
}

#[test]
fn udp_receives_the_exact_rfc5424_line_of_every_event() {
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(TICK)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let ip = unique_ip();
    let cfg = fleet(
        dir.path(),
        ip,
        &format!("log_target = udp://127.0.0.1:{port}"),
    );
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25000, &[]);
    ssh_session(ip, 25022, "id");
    let ev = wait_sessions(&data, 1);
    assert!(
        ev.iter().any(|e| e.event_type.as_str() == "login_success"),
        "{ev:#?}"
    );
    assert!(run.terminate().success());
    let ev = journal(&data);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let end = Instant::now() + DEADLINE;
    while got.len() < ev.len() && Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
    }
    assert_lines_are_the_journal(&got, &ev);
}

#[test]
fn a_tcp_receiver_that_is_restarted_still_gets_every_event() {
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first = StreamReceiver::start(listener, None);
    let ip = unique_ip();
    let cfg = fleet(dir.path(), ip, &format!("log_target = tcp://{addr}"));
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25100, &[]);

    ssh_session(ip, 25122, "id");
    let ev = wait_sessions(&data, 1);
    let want: Vec<String> = ev.iter().map(format_event).collect();
    assert_eq!(first.got.wait_all(&[], &want), Vec::<String>::new());
    let before = first.stop();

    // Receiver down: a second session is captured meanwhile.
    ssh_session(ip, 25122, "id");
    wait_sessions(&data, 2);
    let second = StreamReceiver::start(TcpListener::bind(addr).unwrap(), None);
    let want: Vec<String> = journal(&data).iter().map(format_event).collect();
    assert_eq!(second.got.wait_all(&before, &want), Vec::<String>::new());

    assert!(run.terminate().success());
    let mut all = before;
    all.extend(second.stop());
    assert_lines_are_the_journal(&all, &journal(&data));
}

#[test]
fn tls_reaches_a_receiver_whose_ca_is_log_target_ca() {
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let srv = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![srv.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(srv_key.serialize_der()).unwrap(),
    )
    .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let recv = StreamReceiver::start(listener, Some(Arc::new(server)));
    let ip = unique_ip();
    let cfg = fleet(
        dir.path(),
        ip,
        &format!(
            "log_target = tls://127.0.0.1:{port}\nlog_target_ca = {}",
            ca_file.display()
        ),
    );
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25200, &[]);
    ssh_session(ip, 25222, "id");
    wait_sessions(&data, 1);
    assert!(run.terminate().success());
    let ev = journal(&data);
    let want: Vec<String> = ev.iter().map(format_event).collect();
    assert_eq!(recv.got.wait_all(&[], &want), Vec::<String>::new());
    assert_lines_are_the_journal(&recv.stop(), &ev);
}

#[test]
fn tls_without_log_target_ca_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fleet(dir.path(), unique_ip(), "log_target = tls://127.0.0.1:6514");
    let out = decnet()
        .args(["up", "--port-offset", "25300", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set log_target_ca"), "{err}");
}

#[test]
fn rsyslogd_receives_every_event_over_tcp() {
    let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| Path::new(p).is_file());
    let (Some(rsyslogd), true) = (rsyslogd, have("sshpass")) else {
        eprintln!("skipped: rsyslogd is not installed (apt-get install rsyslog)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.path().join("received.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imtcp\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             *.* action(type=\"omfile\" file=\"{o}\" template=\"raw\")\n",
            d = dir.path().display(),
            o = out.display()
        ),
    )
    .unwrap();
    let mut rsyslog = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ip = unique_ip();
    let cfg = fleet(
        dir.path(),
        ip,
        &format!("log_target = tcp://127.0.0.1:{port}"),
    );
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25400, &[]);
    ssh_session(ip, 25422, "id");
    wait_sessions(&data, 1);
    assert!(run.terminate().success());
    let ev = journal(&data);
    let want: HashSet<String> = ev.iter().map(format_event).collect();
    let end = Instant::now() + DEADLINE;
    let got = loop {
        let got: Vec<String> = std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if want.iter().all(|w| got.contains(w)) || Instant::now() > end {
            break got;
        }
        std::thread::sleep(TICK);
    };
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    assert_lines_are_the_journal(&got, &ev);
}

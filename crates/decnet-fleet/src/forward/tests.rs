#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use decnet_core::config::model::{LogTarget, LogTransport};
use decnet_core::paths::DataDir;
use decnet_core::syslog::parse_line;
use decnet_core::{Event, EventType};
use decnet_journal::{JournalOptions, JournalWriter};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::TcpListener;

use super::*;

const DEADLINE: Duration = Duration::from_secs(20);

fn ev(i: u32) -> Event {
    let mut e = Event::now(
        "d1",
        "ssh",
        EventType::LoginAttempt,
        "198.51.100.7:40000".parse().unwrap(),
        "127.42.0.10:22".parse().unwrap(),
    );
    e.fields.insert("n".into(), i.into());
    e.fields
        .insert("note".into(), "line one\nline \"two\"]".into());
    e
}

/// Writes events `from..to` to the journal of `data` (the writer lock is released after).
fn write(data: &DataDir, from: u32, to: u32) -> Vec<Event> {
    let mut w = JournalWriter::open(&data.journal(), JournalOptions::default()).unwrap();
    let evs: Vec<Event> = (from..to).map(ev).collect();
    for e in &evs {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    evs
}

fn target(t: LogTransport, port: u16) -> LogTarget {
    LogTarget {
        transport: t,
        host: "127.0.0.1".into(),
        port,
    }
}

/// Reads octet-counted frames until `n` arrived or the stream ends.
async fn frames<R: AsyncRead + Unpin>(r: &mut R, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        let k = r.read(&mut chunk).await.unwrap_or(0);
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..k]);
        while let Some(sp) = buf.iter().position(|&b| b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() < sp + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            buf.drain(..sp + 1 + len);
            out.push(msg);
        }
    }
    out
}

/// The `n` field of each received line.
fn numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let r = parse_line(l).unwrap();
            assert_eq!(r.param("note"), Some("line one\nline \"two\"]"));
            r.param("n").unwrap().parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn tcp_receives_every_event_octet_counted_and_the_offset_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let evs = write(&data, 0, 10);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let fwd = Forwarder::new(&data, target(LogTransport::Tcp, port), None).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(fwd.run(stop.clone()));
    let (mut s, _) = l.accept().await.unwrap();
    let got = tokio::time::timeout(DEADLINE, frames(&mut s, 10))
        .await
        .unwrap();
    assert_eq!(got, evs.iter().map(format_event).collect::<Vec<_>>());
    stop.cancel();
    let stats = task.await.unwrap();
    assert_eq!(stats.sent, 10);
    let end = JournalReader::open(&data.journal(), JournalPos::START);
    let mut end = end;
    while !end.read_batch(100).unwrap().is_empty() {}
    assert_eq!(stats.committed, end.position());
    assert_eq!(
        read_offset(&data.forwarder_offset()).unwrap(),
        Some(end.position())
    );
}

#[tokio::test]
async fn a_receiver_that_goes_away_gets_everything_after_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    write(&data, 0, 5);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let fwd = Forwarder::new(&data, target(LogTransport::Tcp, addr.port()), None).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(fwd.run(stop.clone()));
    let (mut s, _) = l.accept().await.unwrap();
    let first = tokio::time::timeout(DEADLINE, frames(&mut s, 5))
        .await
        .unwrap();
    assert_eq!(numbers(&first), [0, 1, 2, 3, 4]);
    // The receiver goes away; events keep arriving meanwhile.
    drop(s);
    drop(l);
    write(&data, 5, 12);
    let l = TcpListener::bind(addr).await.unwrap();
    let (mut s, _) = tokio::time::timeout(DEADLINE, l.accept())
        .await
        .unwrap()
        .unwrap();
    let mut seen = Vec::new();
    while !(5..12).all(|n| seen.contains(&n)) {
        let got = tokio::time::timeout(DEADLINE, frames(&mut s, 1))
            .await
            .unwrap();
        assert!(!got.is_empty(), "stream ended; saw {seen:?}");
        seen.extend(numbers(&got));
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn udp_sends_one_datagram_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let evs = write(&data, 0, 4);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let fwd = Forwarder::new(&data, target(LogTransport::Udp, port), None).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(fwd.run(stop.clone()));
    let mut buf = vec![0u8; 70_000];
    for e in &evs {
        let n = tokio::time::timeout(DEADLINE, sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), format_event(e));
    }
    stop.cancel();
    assert_eq!(task.await.unwrap().sent, 4);
}

#[tokio::test]
async fn tls_verifies_the_receiver_against_log_target_ca() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let evs = write(&data, 0, 3);

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

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![srv.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(srv_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();

    let fwd = Forwarder::new(&data, target(LogTransport::Tls, port), Some(&ca_file)).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(fwd.run(stop.clone()));
    let (s, _) = l.accept().await.unwrap();
    let mut s = acceptor.accept(s).await.unwrap();
    let got = tokio::time::timeout(DEADLINE, frames(&mut s, 3))
        .await
        .unwrap();
    assert_eq!(got, evs.iter().map(format_event).collect::<Vec<_>>());
    stop.cancel();
    assert_eq!(task.await.unwrap().sent, 3);
}

#[test]
fn tls_without_a_ca_is_refused_at_start_saying_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let err = Forwarder::new(
        &DataDir::new(dir.path()),
        target(LogTransport::Tls, 6514),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ForwardError::TlsNeedsCa(_)));
    assert!(err.to_string().contains("set log_target_ca"), "{err}");
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = Forwarder::new(
        &DataDir::new(dir.path()),
        target(LogTransport::Tls, 6514),
        Some(&not_pem),
    )
    .unwrap_err();
    assert!(matches!(err, ForwardError::BadCa { .. }), "{err}");
}

#[test]
fn the_offset_file_round_trips_and_a_bad_one_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("forwarder.offset");
    assert_eq!(read_offset(&p).unwrap(), None);
    let pos = JournalPos {
        segment: 3,
        offset: 1234,
    };
    write_offset(&p, pos).unwrap();
    assert_eq!(read_offset(&p).unwrap(), Some(pos));
    assert!(!dir.path().join("forwarder.offset.tmp").exists());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::write(&p, "garbage").unwrap();
    let err = read_offset(&p).unwrap_err();
    assert!(err.to_string().contains("forwarder.offset"), "{err}");
}

#[test]
fn udp_messages_are_cut_on_a_character_boundary() {
    assert_eq!(cut("héllo", 2), b"h");
    assert_eq!(cut("héllo", 3), "hé".as_bytes());
    assert_eq!(cut("abc", 10), b"abc");
}

#[test]
fn a_target_that_stays_down_logs_once_a_minute_not_once_per_attempt() {
    let t = target(LogTransport::Tcp, 9);
    let mut gate = ErrorGate::default();
    assert!(gate.error(&t, "cannot send events", &"refused"));
    for _ in 0..100 {
        assert!(
            !gate.error(&t, "cannot send events", &"refused"),
            "no second line within the minute"
        );
    }
    // The next line, a minute on, counts the 100 quiet ones (and itself).
    let later = Instant::now() + ERROR_LOG_INTERVAL;
    assert_eq!(gate.throttle.clone().hit(later), Some(101));
    gate.recovered(&t);
    assert!(!gate.failing);
    assert!(
        gate.error(&t, "cannot send events", &"refused"),
        "a new outage is logged at once"
    );
}

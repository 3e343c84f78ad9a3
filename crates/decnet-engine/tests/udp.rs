//! UDP listeners: replies with the persona's TTL, the per-source datagram budget,
//! the amplification cap and panic isolation, over real loopback sockets.

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use decnet_core::config::model::Limits;
use decnet_core::persona::OsFamily;
use decnet_core::EventType;
use decnet_engine::{Engine, EngineOptions};
use decnet_journal::JournalOptions;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn};

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(data: &std::path::Path, family: OsFamily, limits: Limits) -> (Engine, SocketAddr) {
    let mut d = udp_decky("u1", unique_ip(), 0);
    d.os_family = family;
    let engine = Engine::start(
        &fleet(vec![d], limits),
        &registry(),
        EngineOptions {
            data_dir: data.to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await
    .unwrap();
    let addr = engine.addr_of("u1", "echo-udp").unwrap();
    (engine, addr)
}

/// A client socket on loopback that reports the TTL of what it receives.
fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    setsockopt(&s, sockopt::Ipv4RecvTtl, &true).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Receives one datagram: its bytes and the IP TTL it arrived with.
fn recv_with_ttl(s: &UdpSocket) -> (Vec<u8>, Option<i32>) {
    let mut buf = vec![0u8; 65_536];
    let mut cmsg = nix::cmsg_space!(libc_int);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<SockaddrIn>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .expect("a reply within the deadline");
    let n = msg.bytes;
    let ttl = msg.cmsgs().unwrap().find_map(|c| match c {
        ControlMessageOwned::Ipv4Ttl(t) => Some(t),
        _ => None,
    });
    (buf[..n].to_vec(), ttl)
}

#[allow(non_camel_case_types)]
type libc_int = i32;

/// True when nothing more is waiting on the socket (called after the engine stopped, so
/// every reply it would ever send has been sent).
fn nothing_more(s: &UdpSocket) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    matches!(s.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test]
async fn datagrams_are_answered_with_the_persona_ttl_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr) = start(dir.path(), OsFamily::Windows, Limits::DEFAULT).await;
    let c = client();
    c.send_to(b"hello", addr).unwrap();
    let (reply, ttl) = tokio::task::spawn_blocking(move || (recv_with_ttl(&c), c))
        .await
        .unwrap()
        .0;
    assert_eq!(reply, b"hello");
    assert_eq!(ttl, Some(128), "a Windows decky answers with TTL 128");
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Command).is_empty()
    })
    .await;
    let cmd = of_type(&events, EventType::Command)[0];
    assert_eq!(cmd.service, "echo-udp");
    assert_eq!(cmd.fields["command"], "hello");
    assert!(cmd.session_id.is_some());
    assert_eq!(cmd.dst_port, addr.port());
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flooding_source_is_cut_to_its_budget_with_one_event_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        udp_packets_per_source: 3,
        ..Limits::DEFAULT
    };
    let (engine, addr) = start(dir.path(), OsFamily::Linux, limits).await;
    let c = client();
    for i in 0..10 {
        c.send_to(format!("p{i}").as_bytes(), addr).unwrap();
    }
    let c = tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            recv_with_ttl(&c);
        }
        c
    })
    .await
    .unwrap();
    wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    engine.shutdown().await.unwrap();
    assert!(
        nothing_more(&c),
        "only the budget of 3 datagrams is answered"
    );
    let events = wait_journal(dir.path(), Duration::ZERO, |_| true).await;
    let limits = of_type(&events, EventType::LimitExceeded);
    assert_eq!(
        limits.len(),
        1,
        "one event for the whole window: {limits:?}"
    );
    assert_eq!(limits[0].fields["limit"], "udp_packets_per_source");
    assert_eq!(limits[0].fields["max"], 3);
    assert_eq!(of_type(&events, EventType::Command).len(), 3);
}

#[tokio::test]
async fn replies_past_three_times_the_request_are_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr) = start(dir.path(), OsFamily::Linux, Limits::DEFAULT).await;
    let c = client();
    let request = b"amp-0123456789";
    c.send_to(request, addr).unwrap();
    let (c, first) = tokio::task::spawn_blocking(move || {
        let r = recv_with_ttl(&c).0;
        (c, r)
    })
    .await
    .unwrap();
    assert_eq!(first, request, "the reply within the cap is sent");
    wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    engine.shutdown().await.unwrap();
    assert!(nothing_more(&c), "the 10x reply is never sent");
    let events = wait_journal(dir.path(), Duration::ZERO, |_| true).await;
    let cap = of_type(&events, EventType::LimitExceeded)[0];
    assert_eq!(cap.fields["limit"], "amplification");
    assert_eq!(cap.fields["request_bytes"], request.len());
    assert_eq!(cap.fields["withheld_bytes"], request.len() * 10);
}

#[tokio::test]
async fn a_panic_on_one_datagram_leaves_the_listener_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr) = start(dir.path(), OsFamily::Linux, Limits::DEFAULT).await;
    let c = client();
    c.send_to(b"panic", addr).unwrap();
    c.send_to(b"still there?", addr).unwrap();
    let (reply, _) = tokio::task::spawn_blocking(move || recv_with_ttl(&c))
        .await
        .unwrap();
    assert_eq!(reply, b"still there?");
    engine.shutdown().await.unwrap();
}

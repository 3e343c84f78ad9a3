//! Nothing lost: `decnet up` is SIGKILLed at random moments under load and
//! restarted; every request a client saw answered is in the journal exactly once.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// One GET with `Connection: close`; true when a full status line came back.
fn get(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 ")
}

fn start(cfg: &std::path::Path, data: &std::path::Path) -> Running {
    up(cfg, data, 22000, &[]).0
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_no_answered_request() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(&cfg, format!("[k1]\nip = {ip}\nservices = http\n")).unwrap();
    let data = dir.path().join("data");
    let addr = SocketAddr::new(ip, 22080);
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;

    for round in 0..4 {
        let mut run = start(&cfg, &data);
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for t in 0..8 {
            let (stop, count, answered) = (stop.clone(), count.clone(), answered.clone());
            clients.push(std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/r{round}/t{t}/{i}");
                    i += 1;
                    if get(addr, &path) {
                        answered.lock().unwrap().push(path);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Kill once a random number of requests were answered, with others in flight.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let threshold = 40 + (seed >> 33) as usize % 200;
        let give_up = Instant::now() + DEADLINE;
        while count.load(Ordering::Relaxed) < threshold {
            assert!(
                Instant::now() < give_up,
                "round {round}: only {} answers",
                count.load(Ordering::Relaxed)
            );
            std::thread::yield_now();
        }
        run.child.kill().unwrap();
        run.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }
    // One last clean run: the journal opens after the kills, takes more events, stops cleanly.
    let run = start(&cfg, &data);
    assert!(get(addr, "/final"));
    answered.lock().unwrap().push("/final".into());
    assert!(run.terminate().success());

    let events = events(&data, &["--type", "http_request"]);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in &events {
        *seen
            .entry(e["fields"]["path"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "events recorded twice: {doubled:?}");
    let answered: HashSet<String> = answered.lock().unwrap().iter().cloned().collect();
    let lost: Vec<_> = answered.iter().filter(|p| !seen.contains_key(*p)).collect();
    assert!(
        lost.is_empty(),
        "{} answered requests missing from the journal, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        answered.len() > 160,
        "the test drove too little load: {}",
        answered.len()
    );
}

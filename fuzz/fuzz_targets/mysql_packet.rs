//! What a MySQL client sends comes from attackers: packet framing, the
//! handshake response and the statements of a logged-in session.
#![no_main]

use decnet_core::bait::World;
use decnet_services::mysql::handshake::{parse_response, Product};
use decnet_services::mysql::packet::{Cursor, Framer, FrameError, HEADER_LEN};
use decnet_services::mysql::query::{answer, ServerFacts, Session};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // Frames, fed in two reads split where the first byte says.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    let mut f = Framer::new(CAP);
    for part in [a, b] {
        f.push(part);
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => {
                    assert!(fr.payload.len() <= CAP);
                    let _ = parse_response(&fr.payload);
                }
                Ok(None) => break,
                Err(FrameError::TooLarge { len, .. }) => {
                    assert!(len > CAP);
                    return;
                }
            }
        }
        assert!(f.buffered() <= CAP + HEADER_LEN + part.len());
    }
    let mut c = Cursor::new(data);
    let _ = c.lenenc_bytes();
    let _ = parse_response(data);
    // The whole input as a statement of a logged-in session.
    let dbs = World::empty().sql_databases("db");
    let facts = ServerFacts {
        product: Product::MariaDb,
        version: "10.11.6-MariaDB-0+deb12u1",
        comment: "Debian 12",
        hostname: "db01",
        socket: "/run/mysqld/mysqld.sock",
        compile_os: "debian-linux-gnu",
        databases: &dbs,
        connection_id: 8,
    };
    let mut s = Session {
        user: "app".into(),
        host: "10.0.0.1".into(),
        db: Some("appdb".into()),
        admin: false,
    };
    let _ = answer(&String::from_utf8_lossy(data), &facts, &mut s);
});

//! What a MongoDB client sends comes from attackers: the message framing,
//! OP_MSG / OP_QUERY / OP_COMPRESSED parsing, BSON, and the command surface
//! a message's document reaches, logged in or not.
#![no_main]

use std::sync::Arc;

use decnet_core::bait::World;
use decnet_core::seed::InstanceSeed;
use decnet_services::mongodb::bson::{read_document, MAX_DOCUMENT};
use decnet_services::mongodb::commands::{run, ConnState};
use decnet_services::mongodb::wire::{parse, Frame, Framer, Request};
use decnet_services::mongodb::{Shared, Version};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // Frames, fed in two reads split where the first byte says.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    let mut f = Framer::new(CAP);
    let mut messages = Vec::new();
    for part in [a, b] {
        f.push(part);
        loop {
            match f.next_frame() {
                Frame::Message(m) => {
                    assert!(m.len() <= CAP);
                    messages.push(m);
                }
                Frame::TooLarge(n) => {
                    assert!(n > CAP);
                    break;
                }
                _ => break,
            }
        }
    }
    if let Ok((d, n)) = read_document(data) {
        assert!(n <= data.len() && n <= MAX_DOCUMENT);
        let _ = d.to_bytes();
    }
    messages.push(data.to_vec());
    let seed = InstanceSeed::derive_for(b"fuzz", "db");
    let sh = Shared::new(
        Version::parse("7.0.14").unwrap_or(Version {
            major: 7,
            minor: 0,
            patch: 14,
        }),
        Some("rs0".into()),
        "db",
        "db01",
        Arc::new(World::empty()),
        &seed,
    );
    for m in messages {
        let Ok((_, req)) = parse(&m) else { continue };
        let (cmd, db) = match req {
            Request::Msg(msg) => {
                let db = msg.body.str("$db").unwrap_or("admin").to_owned();
                (msg.body, db)
            }
            Request::Query(q) => (q.query, "admin".to_owned()),
            _ => continue,
        };
        // Unauthenticated, then as a logged-in user.
        let mut c = ConnState::new(1, "10.0.0.1:50000".into(), 27017);
        let _ = run(&sh, &mut c, &cmd, &db);
        c.user = Some(("app".into(), "appdb".into()));
        let _ = run(&sh, &mut c, &cmd, &db);
    }
});

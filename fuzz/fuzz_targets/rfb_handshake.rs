//! What a VNC client sends during the RFB handshake comes from attackers.
#![no_main]

use decnet_services::vnc::rfb::{parse_version, Handshake, Version, CHALLENGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_version(data);
    let version = match data.first().copied().unwrap_or(0) % 3 {
        0 => Version::V3_3,
        1 => Version::V3_7,
        _ => Version::V3_8,
    };
    let mut h = Handshake::new(version, [0x5a; CHALLENGE_LEN], "Authentication failed");
    // Two reads, split where the second byte says, as a client's writes may be.
    let cut = usize::from(data.get(1).copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    let mut out = h.feed(a).out;
    out.extend(h.feed(b).out);
    assert!(out.len() <= 4 + CHALLENGE_LEN + 8 + 64);
});

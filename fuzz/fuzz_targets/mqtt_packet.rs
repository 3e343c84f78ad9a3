//! MQTT packets come from anyone who reaches port 1883: decoding any bytes at
//! any protocol level must not panic, must never claim more bytes than it was
//! given or than the packet cap, and a decoded PUBLISH must survive a round
//! trip through the broker's encoder.
#![no_main]

use decnet_services::mqtt::packet::{decode, publish_to, Decoded, Level, Packet, MAX_PACKET};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (level, data) = match data.split_first() {
        Some((b, rest)) => (
            match b % 4 {
                0 => None,
                1 => Some(Level::V31),
                2 => Some(Level::V311),
                _ => Some(Level::V5),
            },
            rest,
        ),
        None => (None, data),
    };
    // Packets back to back, as a client's stream carries them.
    let mut at = data;
    while let Ok(Decoded::Packet(p, n)) = decode(at, level) {
        assert!(n > 0 && n <= at.len() && n <= MAX_PACKET);
        if let (Packet::Publish(pb), Some(l)) = (&p, level) {
            if pb.topic.len() <= usize::from(u16::MAX) {
                let wire = publish_to(
                    l,
                    &pb.topic,
                    &pb.payload,
                    pb.qos,
                    pb.retain,
                    pb.packet_id.unwrap_or(1),
                );
                match decode(&wire, level) {
                    Ok(Decoded::Packet(Packet::Publish(again), m)) => {
                        assert_eq!(m, wire.len());
                        assert_eq!(
                            (again.topic, again.payload),
                            (pb.topic.clone(), pb.payload.clone())
                        );
                    }
                    other => panic!("re-encoded publish did not decode: {other:?}"),
                }
            }
        }
        at = at.get(n..).unwrap_or(&[]);
    }
});

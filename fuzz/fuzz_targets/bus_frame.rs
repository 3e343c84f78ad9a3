//! Bus frames arrive from any local process that can open the socket: decoding any bytes
//! must not panic, must never claim more bytes than it was given, and a decoded frame must
//! survive a round trip through the encoder.
#![no_main]

use decnet_bus::frame::{decode, encode, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Decoded::Frame(frame, used)) = decode(data) {
        assert!(used <= data.len());
        let wire = encode(&frame);
        match decode(&wire) {
            Ok(Decoded::Frame(again, n)) => {
                assert_eq!(n, wire.len());
                assert_eq!(again, frame);
            }
            other => panic!("re-encoded frame did not decode: {other:?}"),
        }
    }
});

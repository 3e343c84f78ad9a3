//! A ClientHello arrives from anyone who can reach a TLS port: assembling and parsing
//! any bytes must not panic, must never ask for more than the cap or for bytes it
//! already has, must never claim more than it was given, and the fingerprints of
//! whatever it parsed must compute.
#![no_main]

use decnet_services::kit::ja4::{parse_hello, progress, Progress, MAX_WIRE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match progress(data) {
        Progress::Need(n) => assert!(n > data.len() && n <= MAX_WIRE),
        Progress::Hello { hello, consumed } => {
            assert!(consumed <= data.len());
            let _ = (hello.ja4(), hello.ja3(), hello.ja3_hash());
        }
        Progress::NotHello => {}
    }
    if let Some(hello) = parse_hello(data) {
        // `t13d1516h2_` and two 12-digit hashes, whatever the client offered.
        let ja4 = hello.ja4();
        assert_eq!(ja4.len(), 36, "{ja4}");
        let _ = hello.ja3_hash();
    }
});

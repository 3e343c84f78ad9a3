//! Request heads arrive from anyone who can reach a decky's web port: parsing
//! any bytes under either server's rules must not panic, must never claim more
//! bytes than it was given, and the chunked decoder must never use more input
//! than it was handed.
#![no_main]

use decnet_services::http::wire::{parse_head, Chunked, Parsed, Rules};
use decnet_services::http::Flavor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for flavor in [Flavor::Nginx, Flavor::Apache] {
        if let Parsed::Complete(head) = parse_head(data, &Rules::of(flavor)) {
            assert!(head.len <= data.len());
            let _ = (head.path(), head.query(), head.host());
        }
    }
    let mut chunked = Chunked::default();
    if let Ok(used) = chunked.feed(data, &mut |_| {}) {
        assert!(used <= data.len());
    }
});

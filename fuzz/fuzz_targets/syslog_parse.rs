//! RFC 5424 lines arrive from forwarders and third parties: parsing any bytes must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = decnet_core::syslog::parse_line(line);
    }
});

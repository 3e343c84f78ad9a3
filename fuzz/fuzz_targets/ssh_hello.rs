//! The first cleartext bytes of an SSH client (identification line + KEXINIT) come from attackers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hello = decnet_services::ssh::hassh::parse(data);
    if let Some(k) = hello.kexinit() {
        let _ = k.hassh();
    }
    let _ = decnet_services::ssh::hassh::parse_kexinit_packet(data);
});

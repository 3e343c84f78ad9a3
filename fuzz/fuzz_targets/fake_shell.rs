//! Keystrokes of an intruder who got a shell: any byte sequence must leave the shell standing.
#![no_main]

use decnet_core::persona::distro;
use decnet_services::shell::{Persona, Shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(d) = distro("debian") else { return };
    let persona = Persona {
        hostname: "fuzz-host".into(),
        kernel_release: d.kernel_release.into(),
        distro: d,
        ip: std::net::IpAddr::from([10, 0, 0, 5]),
        users: vec!["root".into()],
        cpus: 2,
        mem_kb: 4_000_000,
        uptime_days: 3,
        mac: [0x52, 0x54, 0, 1, 2, 3],
    };
    let mut sh = Shell::new(persona, "root");
    for chunk in data.split(|&b| b == 0xff) {
        let _ = sh.feed(chunk);
    }
});

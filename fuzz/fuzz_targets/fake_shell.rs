//! Keystrokes of an intruder who got a shell: any byte sequence must leave the shell standing.
#![no_main]

use decnet_core::persona::distro;
use decnet_services::shell::{Persona, Shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(d) = distro("debian") else { return };
    let persona = Persona::new(
        d,
        "fuzz-host",
        std::net::IpAddr::from([10, 0, 0, 5]),
        vec!["root".into()],
    );
    let mut sh = Shell::new(persona, "root");
    for chunk in data.split(|&b| b == 0xff) {
        let _ = sh.feed(chunk);
    }
});

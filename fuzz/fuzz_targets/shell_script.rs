//! A script sent over `ssh host 'SCRIPT'`: the lexer, parser and executor must
//! end on any input within their caps (no panic, no unbounded loop or allocation).
#![no_main]

use decnet_core::persona::distro;
use decnet_services::shell::parse::parse;
use decnet_services::shell::{Persona, Shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let _ = parse(&src);
    let Some(d) = distro("debian") else { return };
    let persona = Persona::new(d, "fuzz-host", std::net::IpAddr::from([10, 0, 0, 5]), vec!["root".into()]);
    let mut sh = Shell::new(persona, "root");
    let _ = sh.exec(&src);
});

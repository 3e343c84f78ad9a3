//! Container and exec create bodies come from anyone who reaches port 2375:
//! reading any bytes must not panic, and what is kept stays within the caps.
#![no_main]

use decnet_services::docker_api::spec::{shell_line, CreateSpec, ExecSpec, LIST_MAX, TEXT_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = CreateSpec::parse(data) {
        assert!(s.cmd.len() <= LIST_MAX && s.env.len() <= LIST_MAX && s.binds.len() <= LIST_MAX);
        assert!(s.image.len() <= TEXT_MAX);
        let _ = shell_line(&s.argv());
    }
    if let Ok(e) = ExecSpec::parse(data) {
        assert!(e.cmd.len() <= LIST_MAX);
    }
});

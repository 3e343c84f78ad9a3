//! Pod create bodies come from anyone holding (or guessing) a token: reading
//! any bytes must not panic, and what is kept stays within the caps.
#![no_main]

use decnet_services::k8s::spec::{PodSpec, LIST_MAX, TEXT_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = PodSpec::parse(data) {
        assert!(p.containers.len() <= LIST_MAX && p.host_paths.len() <= LIST_MAX);
        assert!(p.containers.iter().all(|c| c.argv.len() <= LIST_MAX && c.image.len() <= TEXT_MAX));
    }
});

//! PostgreSQL frontend bytes arrive from anyone who reaches port 5432: the
//! startup packet and message decoders must not panic on any input, never
//! claim more bytes than they were given or allocate past their caps, and the
//! startup parameter walk and the SCRAM parsers must take whatever a decoded
//! packet holds.
#![no_main]

use decnet_services::postgres::{auth, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match wire::decode_startup(data) {
        Ok(wire::Decoded::Done(s, n)) => {
            assert!(n <= data.len() && n <= wire::MAX_STARTUP_LEN);
            if let wire::Startup::Version { body, .. } = s {
                let _ = wire::parse_params(&body);
            }
        }
        Ok(wire::Decoded::Incomplete(n)) => assert!(n > data.len() && n <= wire::MAX_STARTUP_LEN),
        Err(_) => {}
    }
    let mut rest = data;
    while let Ok(wire::Decoded::Done(m, n)) = wire::decode_message(rest, wire::MAX_AUTH_LEN) {
        assert!(n <= rest.len() && m.body.len() <= wire::MAX_AUTH_LEN);
        let _ = auth::parse_client_first(&m.body);
        let _ = auth::parse_client_final(&m.body);
        rest = rest.get(n..).unwrap_or(&[]);
    }
});

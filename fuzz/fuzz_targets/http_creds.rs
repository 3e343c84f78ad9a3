//! Authorization headers and login bodies come from attackers.
#![no_main]

use decnet_services::http::creds;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = creds::parse_authorization(data);
    let pairs = creds::parse_form(data);
    let _ = creds::form_login(&pairs);
    let _ = creds::json_login(data);
    let _ = creds::xmlrpc_login(data);
    assert!(creds::xmlrpc_logins(data).len() <= 1000);
    let _ = creds::percent_decode(data);
});

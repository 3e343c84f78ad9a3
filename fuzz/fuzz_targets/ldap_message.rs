//! What an LDAP client sends comes from attackers: BER framing, the
//! LDAPMessage decoder, filter evaluation over a bait directory, and the
//! NTLMSSP messages carried in binds.
#![no_main]

use decnet_core::bait::World;
use decnet_core::seed::InstanceSeed;
use decnet_services::kit::ntlmssp;
use decnet_services::ldap::ber::{self, Frame};
use decnet_services::ldap::directory::{Directory, Vendor};
use decnet_services::ldap::message::{self, Decoded, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let world = World::empty();
    let seed = InstanceSeed::derive_for(b"fuzz", "dc");
    let dir = Directory::build(Vendor::OpenLdap, &world, &seed, "dc=example,dc=com", "example.com", "dc01");
    let mut rest = data;
    while let Ok(Frame::Sized { header, len }) = ber::frame(rest) {
        let Some(msg) = rest.get(..header + len) else {
            break;
        };
        if let Decoded::Request { req: Request::Search(s), .. } = message::decode(msg) {
            let _ = s.filter.text();
            for e in dir.entries() {
                let _ = dir.eval(&s.filter, e);
            }
        }
        rest = rest.get(header + len..).unwrap_or_default();
    }
    let _ = message::decode(data);
    if let Some(raw) = ntlmssp::find(data) {
        let _ = ntlmssp::Negotiate::parse(raw);
        if let Ok(a) = ntlmssp::Authenticate::parse(raw) {
            let _ = a.hashcat(&[0; 8]);
        }
    }
});

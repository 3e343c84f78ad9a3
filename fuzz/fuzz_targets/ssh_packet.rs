//! Everything after an SSH client's identification line is attacker bytes:
//! the packet framer, the message reader and the identification check.
#![no_main]

use bytes::BytesMut;
use decnet_services::ssh::wire::codec::Reader;
use decnet_services::ssh::wire::packet::Opener;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decnet_services::ssh::wire::transport::check_ident(data);
    let mut o = Opener::new();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(payload)) = o.decode(&mut buf) {
        let mut r = Reader::new(&payload);
        while r.string().is_ok() {}
    }
    let mut r = Reader::new(data);
    let _ = (r.u8(), r.name_list(), r.mpint(), r.utf8(), r.u32(), r.bool());
});

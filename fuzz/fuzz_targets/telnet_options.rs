//! Everything a telnet client sends passes the option parser first: commands,
//! verbs and subnegotiations come from attackers.
#![no_main]

use decnet_services::telnet::options::{decode, Item, Options, Parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = Parser::new();
    let mut opts = Options::new();
    let mut replies = Vec::new();
    // Two reads, split where the first byte says, as a client's writes may be.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    for chunk in [a, b] {
        for item in parser.feed(chunk) {
            match item {
                Item::Negotiate(v, o) => opts.receive(v, o, &mut replies),
                Item::Sub { option, payload, .. } => {
                    assert!(payload.len() <= decnet_services::telnet::options::MAX_SUB);
                    let _ = decode(option, &payload);
                }
                Item::Data(_) | Item::Command(_) => {}
            }
        }
    }
    let _ = decnet_services::telnet::options::escape(data);
});

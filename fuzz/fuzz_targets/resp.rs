//! Redis requests come from attackers: any bytes, split into any reads, must
//! parse without panicking, never hand out a command past the caps, and never
//! ask a reader to buffer more than the caps allow.
#![no_main]

use decnet_services::redis::resp::{parse, Caps, Parsed, INLINE_MAX};
use libfuzzer_sys::fuzz_target;

const CAPS: Caps = Caps {
    max_args: 16,
    max_bulk: 256,
    max_command: 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let authed = flags & 1 == 1;
    let chunk = usize::from(flags >> 1).max(1);
    let mut buf: Vec<u8> = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parse(&buf, authed, &CAPS) {
                Parsed::Command { args, consumed, .. } => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    let total: usize = args.iter().map(Vec::len).sum();
                    assert!(total <= CAPS.max_command.max(INLINE_MAX), "a command past the cap");
                    buf.drain(..consumed);
                }
                Parsed::Incomplete => {
                    assert!(buf.len() <= CAPS.buffer(), "buffered past the cap");
                    break;
                }
                Parsed::Error(e) => {
                    assert!(e.reply().starts_with("ERR Protocol error: "));
                    return;
                }
            }
        }
    }
});

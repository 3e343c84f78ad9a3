//! IMAP commands come from attackers: any bytes, split into any reads, must
//! assemble into commands no longer than the cap (literals included), parse
//! without panicking, and never leave more than the cap buffered.
#![no_main]

use bytes::BytesMut;
use decnet_services::imap::parse::{parse, Assembler, Step};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut a = Assembler::new(CAP);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        let room = a.room(buf.len());
        buf.extend_from_slice(&piece[..piece.len().min(room)]);
        loop {
            match a.step(&mut buf) {
                Step::Incomplete => break,
                Step::Command(c) => {
                    assert!(c.len() <= CAP, "a command past the cap");
                    let _ = parse(&c);
                }
                Step::Continue | Step::TooLong => {}
            }
            assert!(a.collected() <= CAP, "collected past the cap");
        }
        assert!(a.collected() + buf.len() <= CAP + 2, "buffered past the cap");
    }
    let _ = parse(data);
});

//! SMTP command lines and message content arrive from anyone who can reach port 25:
//! parsing any line must not panic; the DATA decoder fed any bytes, in any split,
//! must not panic, must keep no more than its cap and must read the same message
//! whole as in two pieces; the MIME walk over any message must not panic and must
//! stay within its part cap.
#![no_main]

use decnet_services::smtp::command::parse;
use decnet_services::smtp::message::{summarise, MAX_PARTS};
use decnet_services::smtp::wire::DataDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let _ = parse(line);
    }
    let cap = usize::from(data.first().copied().unwrap_or(0)) * 4;
    let mut whole = DataDecoder::new(cap);
    let (used, done) = whole.feed(data);
    assert!(used <= data.len());
    let whole = whole.finish();
    assert!(whole.kept.len() <= cap);
    assert_eq!(whole.complete, done);

    let cut = data.len() / 2;
    let (a, b) = data.split_at(cut);
    let mut split = DataDecoder::new(cap);
    let (used_a, done_a) = split.feed(a);
    let used_b = if done_a { 0 } else { split.feed(b).0 };
    assert_eq!(used_a + used_b, used);
    assert_eq!(split.finish(), whole);

    assert!(summarise(data).attachments.len() <= MAX_PARTS);
});

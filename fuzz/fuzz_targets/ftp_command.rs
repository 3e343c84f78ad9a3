//! FTP control lines come from attackers: any bytes, decoded under vsftpd's line
//! rule and split into verb and argument, never panic, never hand out a line past
//! the cap, and the active-mode address parsers take any argument.
#![no_main]

use decnet_services::ftp::command::{self, Verb, MAX_LINE, RULE};
use decnet_services::kit::line::{Decoded, LineDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = LineDecoder::new(RULE);
    let mut rest = data;
    loop {
        match d.decode(rest) {
            Decoded::Line { line, consumed } => {
                assert!(line.len() <= MAX_LINE);
                assert!(consumed > 0 && consumed <= rest.len());
                let req = command::parse(line);
                assert!(req.arg.len() <= line.len());
                let _ = Verb::of(&req.verb);
                let _ = command::port(&req.arg);
                let _ = command::eprt(&req.arg);
                let _ = req.arg_text();
                rest = rest.get(consumed..).unwrap_or_default();
            }
            Decoded::Incomplete => {
                assert!(rest.len() <= RULE.cap());
                break;
            }
            Decoded::TooLong { limit } => {
                assert_eq!(limit, MAX_LINE);
                break;
            }
        }
    }
    // Whatever a line holds, parsing it alone is as safe.
    let req = command::parse(data);
    let _ = command::port(&req.arg);
    let _ = command::eprt(&req.arg);
});

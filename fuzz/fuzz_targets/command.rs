//! TCP command lines: parsing, parameter validation and the IDENTIFY body
//! length, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookupd::names;
use lookupd::tcp::codec::{identify_body_len, parse_command, Command, ECHO_LIMIT};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let header = [data[0], data[1], data[2], data[3]];
        if let Ok(n) = identify_body_len(header, 65536) {
            assert!(n <= 65536);
        }
    }
    for line in data.split(|&b| b == b'\n') {
        match parse_command(line) {
            Ok(Command::Register(p)) | Ok(Command::Unregister(p)) => match p.topic_channel() {
                Ok((t, c)) => {
                    assert!(names::is_valid(t.as_bytes()));
                    assert!(c.is_none_or(|c| names::is_valid(c.as_bytes())));
                }
                Err(e) => assert!(e.desc.len() < 2 * (3 * ECHO_LIMIT + 64)),
            },
            Ok(_) => {}
            Err(e) => assert!(e.desc.len() < 3 * ECHO_LIMIT + 64),
        }
    }
});

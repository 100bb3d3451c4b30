//! IDENTIFY bodies: arbitrary bytes through the JSON decoding nsqd's
//! self-description goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookupd::tcp::identify::parse_identify;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_identify(data, "127.0.0.1:1".into()) {
        assert!(p.tcp_port != 0 && p.http_port != 0);
        assert!(!p.broadcast_address.is_empty() && !p.version.is_empty());
    }
});

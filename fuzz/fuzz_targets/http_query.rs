//! HTTP query handling: a method and request target (path and query) from
//! arbitrary bytes, routed and answered against a live registry, which
//! must stay consistent whatever the requests did to it.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookupd::logging::{Level, Logger};
use lookupd::state::State;
use lookupd::Options;

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let opts = Options {
            log_level: Level::Fatal,
            ..Options::default()
        };
        State::new(opts, Logger::stderr(Level::Fatal, ""), 0, 0)
    })
}

const METHODS: [&str; 5] = ["GET", "POST", "HEAD", "OPTIONS", "DELETE"];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    let method = METHODS[usize::from(m) % METHODS.len()];
    let (status, body) = lookupd::http_answer(state(), method, target);
    assert!(matches!(status, 200 | 301 | 307 | 400 | 404 | 405), "{status}");
    if status >= 400 && body != b"400 Bad Request" {
        let v: serde_json::Value = serde_json::from_slice(&body).expect("V1 error body");
        assert!(v.get("message").is_some());
    }
    if let Err(e) = state().read().check_invariants() {
        panic!("registry inconsistent after {method} {target:?}: {e}");
    }
});


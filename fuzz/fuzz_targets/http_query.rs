//! HTTP query handling: a method and request target (path and query) from
//! arbitrary bytes, routed and answered against a live registry, which
//! must stay consistent whatever the requests did to it.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use lookupd::logging::{Level, Logger};
use lookupd::instance::State;
use lookupd::Options;

/// A registry shared by consecutive inputs, so sequences of requests are
/// explored, and replaced now and then, so it stays small and checking it
/// stays cheap.
struct Shared {
    state: State,
    uses: u32,
}

thread_local! {
    static SHARED: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

fn fresh() -> Shared {
    let mut opts = Options::default();
    opts.log_level = Level::Fatal;
    Shared {
        state: State::new(opts, Logger::stderr(Level::Fatal, ""), 0, 0),
        uses: 0,
    }
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
    SHARED.with(|cell| {
        let mut slot = cell.borrow_mut();
        let shared = slot.get_or_insert_with(fresh);
        let (status, body) = lookupd::http::answer(&shared.state, method, target);
        assert!(matches!(status, 200 | 301 | 307 | 400 | 404 | 405), "{status}");
        if status >= 400 && body != b"400 Bad Request" {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("V1 error body");
            assert!(v.get("message").is_some());
        }
        if let Err(e) = shared.state.read().check_invariants() {
            panic!("registry inconsistent after {method} {target:?}: {e}");
        }
        shared.uses += 1;
        if shared.uses >= 256 {
            *slot = None;
        }
    });
});

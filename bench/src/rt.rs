//! One smol executor shared by the main thread and `--threads - 1` helper
//! threads; every connection of the generator is a task on it.

use std::future::Future;
use std::sync::OnceLock;

use smol::{Executor, Task};

static EX: OnceLock<Executor<'static>> = OnceLock::new();

fn ex() -> &'static Executor<'static> {
    EX.get_or_init(Executor::new)
}

/// Spawns a task on the shared executor.
pub fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Task<T> {
    ex().spawn(f)
}

/// Runs `f` to completion with `threads` threads driving the executor.
pub fn run<T>(threads: usize, f: impl Future<Output = T>) -> T {
    let (tx, rx) = smol::channel::unbounded::<()>();
    let helpers: Vec<_> = (1..threads.max(1))
        .map(|i| {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || {
                    smol::block_on(ex().run(async move {
                        let _ = rx.recv().await;
                    }))
                })
                .expect("spawn a generator thread")
        })
        .collect();
    let out = smol::block_on(ex().run(f));
    drop(tx);
    for h in helpers {
        let _ = h.join();
    }
    out
}

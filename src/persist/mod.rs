//! Restarts that lose nothing: a snapshot of the registry on disk
//! (`-data-path`), read back before serving.
//!
//! The registry is soft state that nsqd rebuilds, but only after a restart
//! has left consumers blind for up to half a minute, and what operators
//! did over HTTP (tombstones, keys created ahead of their producers) would
//! be lost for good. So, with a data path:
//!
//! - a writer thread of its own, at a lower scheduling priority, takes an
//!   image of the registry (a small page of topics per hold of the read
//!   lock) within a second of a change, coalescing a storm of changes into
//!   one write and a registry that keeps changing into one write a second,
//!   and once more on a graceful stop; no connection ever waits on the
//!   disk ([`Writer`]);
//! - the file is versioned, checksummed and replaced atomically
//!   ([`mod@format`], [`mod@file`]);
//! - on start, before anything is served, it is read back ([`restore`]):
//!   its producers are answered as if connected until their nsqd comes
//!   back or the grace window (`-restart-grace`) ends ([`end_grace`]); its
//!   keys and tombstones are back at once. A damaged snapshot is moved
//!   aside with a warning and the instance starts empty: the snapshot
//!   helps a start, it never stops one.

pub mod file;
pub mod format;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_io::Timer;
use smol::future;

use crate::clock::{nanos, Timestamp};
use crate::config::duration;
use crate::logging::{logf, Level};
use crate::registry::image::{ImageProducer, ImageTombstone, ImageTopic};
use crate::registry::{ProducerId, Registry};
use crate::instance::State;
use format::{Encoder, Visit};

/// A write begins at least this long after the change it covers, so
/// that a storm of REGISTERs is written once;
const COALESCE: Duration = Duration::from_millis(250);
/// and at least this long after the previous write began, so that a
/// registry that never stops changing is written once a second, not back
/// to back;
const SPACING: Duration = Duration::from_secs(1);
/// unless waiting that long would leave a change off the disk for longer
/// than this (with the last write's duration as the estimate of the next).
const WITHIN: Duration = Duration::from_secs(1);

/// Topics imaged (and encoded) per hold of the registry's read lock.
/// Small, because a REGISTER that arrives meanwhile waits for the hold to
/// end, and with it the executor thread that serves it: a million topics
/// are written in about 0.2 s, so a page of 1,024 is held for about 0.2 ms.
const PAGE: usize = 1024;

/// Restored registrations removed per hold of the write lock when the
/// grace window ends.
const GRACE_BATCH: usize = 32;

fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Reads the snapshot in `state`'s data path back into its (empty)
/// registry, logging what happened. A missing snapshot is an empty start;
/// an unreadable one is moved aside, with a warning, and the start is
/// empty too. Returns when the grace window for the restored producers
/// ends, if any were restored.
pub fn restore(state: &State) -> Option<Timestamp> {
    let dir = Path::new(&state.opts.data_path);
    let shown = file::path(dir);
    let shown = shown.display();
    let started = Instant::now();
    let bytes = match file::read(dir) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            logf!(
                state.log,
                Level::Info,
                "SNAPSHOT: none at {shown}, starting empty"
            );
            return None;
        }
        Err(e) => {
            logf!(
                state.log,
                Level::Warn,
                "SNAPSHOT: cannot read {shown} - {e}; starting empty"
            );
            return None;
        }
    };
    let taken_at = match format::check(&bytes) {
        Ok(at) => at,
        Err(why) => {
            let aside = match file::move_aside(dir) {
                Ok(to) => format!("moved aside to {}", to.display()),
                Err(e) => format!("could not move it aside - {e}"),
            };
            logf!(
                state.log,
                Level::Warn,
                "SNAPSHOT: {shown} is unreadable ({why}); {aside}; starting empty"
            );
            return None;
        }
    };
    let ago = Duration::from_nanos(u64::try_from(unix_nanos_now() - taken_at).unwrap_or(0));
    let now = state.now();
    // One hold of the write lock for the whole restore: nothing is served
    // yet, so nobody waits for it.
    let mut registry = state.write();
    let before = registry.counts();
    let mut into = Restorer {
        registry: &mut registry,
        then: now.minus(ago),
        ids: Vec::new(),
        tombstones: 0,
    };
    if let Err(e) = format::read(&bytes, &mut into) {
        // Checked above, so this is a bug; the registry may be half full.
        logf!(state.log, Level::Error, "SNAPSHOT: {shown} - {e}");
    }
    let (producers, tombstones) = (into.ids.len(), into.tombstones);
    let mut done = registry.restored_since(before);
    drop(registry);
    done.producers = producers;
    done.tombstones = tombstones;
    let grace = state.opts.restart_grace;
    let took = started.elapsed();
    state
        .metrics
        .snapshots
        .restore_nanos
        .store(nanos(took), Ordering::Relaxed);
    logf!(
        state.log,
        Level::Info,
        "SNAPSHOT: restored {} producers (answered for {} or until their nsqd identifies), {} topics, {} channels, {} registrations, {} tombstones from {shown}, taken {} ago, in {}",
        done.producers,
        duration::format(grace),
        done.topics,
        done.channels,
        done.registrations,
        done.tombstones,
        duration::format(ago),
        duration::format(took)
    );
    (done.producers > 0).then(|| state.now().plus(grace))
}

/// Applies a snapshot to the registry as it is read.
struct Restorer<'a> {
    registry: &'a mut Registry,
    then: crate::clock::Timestamp,
    ids: Vec<ProducerId>,
    tombstones: usize,
}

impl Visit for Restorer<'_> {
    fn producers(&mut self, producers: Vec<ImageProducer>) {
        self.ids = self.registry.restore_producers(&producers, self.then);
    }

    fn topic(&mut self, topic: &ImageTopic) {
        self.registry.restore_topic(topic, &self.ids);
    }

    fn tombstones(&mut self, tombstones: Vec<ImageTombstone>) {
        self.tombstones = tombstones
            .iter()
            .filter(|t| self.registry.restore_tombstone(t, &self.ids, self.then))
            .count();
    }
}

/// Takes an image of the registry, a page of topics at a time, as the
/// bytes of a snapshot.
pub fn snapshot(state: &State) -> Vec<u8> {
    let now = state.now();
    let taken_at = unix_nanos_now();
    let (producers, index) = state.read().image_producers(now);
    let mut encoder = Encoder::new(taken_at, &producers);
    let mut after = None;
    loop {
        after = state
            .read()
            .image_topics_page(after.as_ref(), PAGE, &index, |t| encoder.topic(t));
        if after.is_none() {
            break;
        }
    }
    let tombstones = state.read().image_tombstones(now, &index);
    encoder.finish(&tombstones)
}

/// The thread that keeps the snapshot current.
#[derive(Debug)]
pub struct Writer {
    stop: smol::channel::Sender<()>,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Starts writing `state`'s snapshot into its data path.
    pub fn start(state: Arc<State>) -> std::io::Result<Writer> {
        let (stop, stopped) = smol::channel::bounded(1);
        let dir = PathBuf::from(&state.opts.data_path);
        let thread = std::thread::Builder::new()
            .name("lookupd-snapshot".into())
            .spawn(move || {
                crate::os::lower_thread_priority();
                async_io::block_on(keep_current(&state, &dir, stopped))
            })?;
        Ok(Writer { stop, thread })
    }

    /// Writes the snapshot once more, if anything changed since the last
    /// one, and ends the thread.
    pub fn stop(self) {
        self.stop.close();
        let _ = self.thread.join();
    }
}



async fn keep_current(state: &State, dir: &Path, stopped: smol::channel::Receiver<()>) {
    let waiter = state.changes.waiter();
    let mut written: Option<u64> = None;
    // When the last write began, and how long it took.
    let mut last: Option<(Instant, Duration)> = None;
    // When the writer, idle, was woken by a change.
    let mut woke: Option<Instant> = None;
    let stop = || async {
        let _ = stopped.recv().await;
        true
    };
    loop {
        let changed = waiter.listen();
        if written == Some(state.changes.version()) {
            let stopping = future::or(stop(), async {
                changed.await;
                false
            })
            .await;
            if stopping {
                break;
            }
            woke = Some(Instant::now());
            continue;
        }
        // The change is no older than the wake-up it caused or, when it
        // came while the last write was running, than that write's start.
        let since = woke
            .take()
            .or(last.map(|(began, _)| began))
            .unwrap_or_else(Instant::now);
        let stopping = future::or(stop(), async {
            Timer::at(next_write(since, last)).await;
            false
        })
        .await;
        let version = state.changes.version();
        let began = Instant::now();
        let took = write(state, dir);
        last = Some((began, took));
        written = Some(version);
        if stopping {
            return;
        }
    }
    if written != Some(state.changes.version()) {
        write(state, dir);
    }
}

/// When to begin the write that covers a change made at `changed`, given
/// when the last write began and how long it took.
fn next_write(changed: Instant, last: Option<(Instant, Duration)>) -> Instant {
    let soonest = changed + COALESCE;
    let Some((began, took)) = last else {
        return soonest;
    };
    let latest = (changed + WITHIN).checked_sub(took).unwrap_or(changed);
    soonest.max((began + SPACING).min(latest))
}

/// Takes and writes one snapshot, counting it in the metrics; how long it
/// took.
fn write(state: &State, dir: &Path) -> Duration {
    let started = Instant::now();
    let bytes = snapshot(state);
    let stats = &state.metrics.snapshots;
    logf!(
        state.log,
        Level::Debug,
        "SNAPSHOT: writing {} bytes to {}",
        bytes.len(),
        file::path(dir).display()
    );
    match file::write(dir, &bytes) {
        Ok(()) => {
            let took = started.elapsed();
            stats.writes.fetch_add(1, Ordering::Relaxed);
            stats.last_nanos.store(nanos(took), Ordering::Relaxed);
            stats
                .last_bytes
                .store(bytes.len() as u64, Ordering::Relaxed);
            stats.last_success_unix.store(
                u64::try_from(unix_nanos_now() / 1_000_000_000).unwrap_or(0),
                Ordering::Relaxed,
            );
            logf!(
                state.log,
                Level::Debug,
                "SNAPSHOT: wrote {} bytes to {} in {}",
                bytes.len(),
                file::path(dir).display(),
                duration::format(took)
            );
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            logf!(
                state.log,
                Level::Error,
                "SNAPSHOT: failed to write {} - {e}",
                file::path(dir).display()
            );
        }
    }
    started.elapsed()
}

/// At `until`, ends the grace window of the restored producers: those
/// whose nsqd did not come back are removed, and so are the restored
/// registrations of those that came back but did not register them again.
pub async fn end_grace(state: Arc<State>, until: Timestamp) {
    state.until(until).await;
    let (mut gone, mut dropped) = (0, 0);
    loop {
        let step = state.write().end_grace_step(GRACE_BATCH);
        for p in &step.gone {
            let i = p.info();
            logf!(
                state.log,
                Level::Info,
                "DB: restored producer {}:{} (TCP {}) did not come back within {}; removed",
                i.broadcast_address,
                i.http_port,
                i.tcp_port,
                duration::format(state.opts.restart_grace)
            );
        }
        for (p, key) in &step.dropped {
            logf!(
                state.log,
                Level::Info,
                "DB: client({}) UNREGISTER {key} (restored, not registered again)",
                p.info().remote_address
            );
        }
        gone += step.gone.len();
        dropped += step.dropped.len();
        if step.done {
            break;
        }
        future::yield_now().await;
    }
    logf!(
        state.log,
        Level::Info,
        "RESTORE: grace window over: {gone} restored producers removed, {dropped} restored registrations not registered again removed"
    );
    state.trimmer.soon();
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_write_waits_only_for_the_storm_to_settle() {
        let t = Instant::now();
        assert_eq!(next_write(t, None), t + 250 * MS);
    }

    #[test]
    fn a_registry_that_keeps_changing_is_written_once_a_second() {
        // Changed while the last write ran: begin so that the change is on
        // disk within a second, which for a quick write is a second after
        // the last began.
        let began = Instant::now();
        assert_eq!(next_write(began, Some((began, 20 * MS))), began + 980 * MS);
        assert_eq!(
            next_write(began + 5 * MS, Some((began, 20 * MS))),
            began + 985 * MS
        );
    }

    #[test]
    fn a_change_after_a_quiet_spell_is_written_after_the_coalescing_wait() {
        let began = Instant::now();
        let changed = began + 10_000 * MS;
        assert_eq!(
            next_write(changed, Some((began, 20 * MS))),
            changed + 250 * MS
        );
        // Soon after a write: spaced a second from it.
        let changed = began + 400 * MS;
        assert_eq!(
            next_write(changed, Some((began, 20 * MS))),
            began + 1000 * MS
        );
    }

    #[test]
    fn slow_writes_still_coalesce() {
        let began = Instant::now();
        assert_eq!(next_write(began, Some((began, 900 * MS))), began + 250 * MS);
        assert_eq!(
            next_write(began, Some((began, 5000 * MS))),
            began + 250 * MS
        );
    }
}

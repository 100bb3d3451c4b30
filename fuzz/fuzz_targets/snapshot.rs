//! The snapshot reader: arbitrary bytes as a whole file, then the same
//! bytes as a snapshot's body with a correct checksum appended (a random
//! mutation almost never keeps a CRC-32 right, so without this the reader
//! past the checksum would go unexplored). Whatever it accepts must be
//! what `check` accepts, restore into a registry whose indexes agree
//! (as `lookupd -data-path` restores it), and read back the same after
//! being written again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookupd::clock::Timestamp;
use lookupd::persist::format::{check, crc32, read, Encoder, Visit};
use lookupd::registry::image::{ImageProducer, ImageTombstone, ImageTopic};
use lookupd::registry::{ProducerId, Registry};

/// Collects what the reader gives.
#[derive(Debug, Default, PartialEq)]
struct Collected {
    producers: Vec<ImageProducer>,
    topics: Vec<ImageTopic>,
    tombstones: Vec<ImageTombstone>,
}

impl Visit for Collected {
    fn producers(&mut self, producers: Vec<ImageProducer>) {
        self.producers = producers;
    }
    fn topic(&mut self, topic: &ImageTopic) {
        self.topics.push(topic.clone());
    }
    fn tombstones(&mut self, tombstones: Vec<ImageTombstone>) {
        self.tombstones = tombstones;
    }
}

/// Restores as the instance does (`persist::restore`'s visitor): part by
/// part, as the reader gives them.
struct Restorer {
    registry: Registry,
    then: Timestamp,
    ids: Vec<ProducerId>,
}

impl Visit for Restorer {
    fn producers(&mut self, producers: Vec<ImageProducer>) {
        self.ids = self.registry.restore_producers(&producers, self.then);
    }
    fn topic(&mut self, topic: &ImageTopic) {
        self.registry.restore_topic(topic, &self.ids);
    }
    fn tombstones(&mut self, tombstones: Vec<ImageTombstone>) {
        for t in &tombstones {
            self.registry.restore_tombstone(t, &self.ids, self.then);
        }
    }
}

fn encode(taken_at: i64, c: &Collected) -> Vec<u8> {
    let mut e = Encoder::new(taken_at, &c.producers);
    for t in &c.topics {
        e.topic(t);
    }
    e.finish(&c.tombstones)
}

fn exercise(file: &[u8]) {
    let checked = check(file);
    let mut got = Collected::default();
    let read_at = read(file, &mut got);
    assert_eq!(checked, read_at, "check and read disagree");
    let Ok(taken_at) = checked else { return };

    // What was accepted restores into a consistent registry.
    let mut restorer = Restorer {
        registry: Registry::new(),
        // Far enough from zero that ages and idle times subtract.
        then: Timestamp(1 << 62),
        ids: Vec::new(),
    };
    assert_eq!(read(file, &mut restorer), Ok(taken_at));
    if let Err(why) = restorer.registry.check_invariants() {
        panic!("restored registry inconsistent: {why}");
    }

    // And is written back to the same image (a version 1 file is
    // written as version 2: its producers have no answered address,
    // which version 2 writes empty and reads back as none).
    let again = encode(taken_at, &got);
    let mut back = Collected::default();
    assert_eq!(read(&again, &mut back), Ok(taken_at), "rewritten unreadable");
    assert_eq!(back, got, "rewritten differently");
}

fuzz_target!(|data: &[u8]| {
    // As a whole file.
    exercise(data);
    // As a body, with its checksum.
    let mut file = Vec::with_capacity(data.len() + 4);
    file.extend_from_slice(data);
    file.extend_from_slice(&crc32(data).to_le_bytes());
    exercise(&file);
});

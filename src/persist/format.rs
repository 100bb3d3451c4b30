//! The snapshot file's bytes: an image of the registry, versioned and
//! checksummed, compact enough that 10^6 registrations take some 16 MB.
//!
//! ```text
//! "LKDSNAP\n"  8 bytes of magic
//! version      u32, little-endian (this is version 2; 1 is read too)
//! taken at     i64, little-endian: Unix nanoseconds, wall clock
//! producers    n, then n × (remote address, hostname, broadcast address,
//!              tcp port, http port, version, zone, region, idle ns,
//!              answered address: empty when it is the broadcast one;
//!              version 1 has no answered address)
//! topics       n, then n × (name, k, k × producer index,
//!              c, c × (channel, m, m × producer index))
//! tombstones   n, then n × (producer index, topic, age ns)
//! CRC-32       u32, little-endian, of every byte before it
//! ```
//!
//! Numbers are LEB128 varints, strings a varint length and their bytes. A
//! channel is `0` and its name the first time the file names it, then
//! `i + 1` for the i-th channel named so far: channel names repeat across
//! topics, and are written once. Reading checks everything (magic,
//! version, checksum, every count and index against what is there, every
//! name) before anything is restored, so a damaged file restores nothing.

use std::fmt;
use std::time::Duration;

use crate::clock::nanos;
use crate::names::Name;
use crate::registry::image::{ImageProducer, ImageTombstone, ImageTopic};
use crate::registry::PeerInfo;

/// The first bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"LKDSNAP\n";
/// The format version written.
pub const VERSION: u32 = 2;
/// The oldest format version read.
pub const OLDEST_VERSION: u32 = 1;
const HEADER: usize = MAGIC.len() + 4 + 8;

/// Why a snapshot cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// No bytes at all.
    Empty,
    /// Not a lookupd snapshot.
    NotASnapshot,
    /// A version this lookupd does not know.
    UnknownVersion(u32),
    /// Shorter than its header and checksum.
    Truncated,
    /// The checksum does not match: damaged or cut short.
    Checksum {
        /// What the file says.
        stored: u32,
        /// What its bytes give.
        computed: u32,
    },
    /// The checksum matches but the content does not make sense.
    Invalid(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => f.write_str("the file is empty"),
            FormatError::NotASnapshot => f.write_str("not a lookupd snapshot (bad magic)"),
            FormatError::UnknownVersion(v) => {
                write!(
                    f,
                    "unknown snapshot version {v} (this lookupd reads {OLDEST_VERSION} to {VERSION})"
                )
            }
            FormatError::Truncated => f.write_str("truncated (shorter than a header)"),
            FormatError::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {computed:08x}): damaged or truncated"
            ),
            FormatError::Invalid(why) => write!(f, "invalid content: {why}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Writes a snapshot: the producers first, then topics one at a time (as
/// a paged walk of the registry gives them), then the tombstones.
#[derive(Debug)]
pub struct Encoder {
    out: Vec<u8>,
    /// Where the topic count goes, and how many topics came.
    topic_count_at: usize,
    topics: u64,
    channels: std::collections::HashMap<Name, u64>,
}

impl Encoder {
    /// A snapshot taken at `taken_at` (Unix nanoseconds) of these producers.
    pub fn new(taken_at: i64, producers: &[ImageProducer]) -> Encoder {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&taken_at.to_le_bytes());
        varint(&mut out, producers.len() as u64);
        for p in producers {
            let i = &p.info;
            for s in [&i.remote_address, &i.hostname, &i.broadcast_address] {
                bytes(&mut out, s.as_bytes());
            }
            varint(&mut out, u64::from(i.tcp_port));
            varint(&mut out, u64::from(i.http_port));
            for s in [&i.version, &i.topology_zone, &i.topology_region] {
                bytes(&mut out, s.as_bytes());
            }
            varint(&mut out, nanos(p.idle));
            bytes(&mut out, p.answered.as_deref().unwrap_or("").as_bytes());
        }
        // The topic count is not known yet: a fixed-width slot for it.
        let topic_count_at = out.len();
        out.extend_from_slice(&[0; 8]);
        Encoder {
            out,
            topic_count_at,
            topics: 0,
            channels: std::collections::HashMap::new(),
        }
    }

    /// Adds a topic.
    pub fn topic(&mut self, t: &ImageTopic) {
        let out = &mut self.out;
        bytes(out, t.name.as_bytes());
        varint(out, t.producers.len() as u64);
        for p in &t.producers {
            varint(out, u64::from(*p));
        }
        varint(out, t.channels.len() as u64);
        for (c, members) in &t.channels {
            match self.channels.get(c) {
                Some(i) => varint(out, i + 1),
                None => {
                    varint(out, 0);
                    bytes(out, c.as_bytes());
                    self.channels.insert(c.clone(), self.channels.len() as u64);
                }
            }
            varint(out, members.len() as u64);
            for m in members {
                varint(out, u64::from(*m));
            }
        }
        self.topics += 1;
    }

    /// Adds the tombstones and the checksum: the file's bytes.
    pub fn finish(mut self, tombstones: &[ImageTombstone]) -> Vec<u8> {
        let at = self.topic_count_at;
        self.out[at..at + 8].copy_from_slice(&self.topics.to_le_bytes());
        varint(&mut self.out, tombstones.len() as u64);
        for t in tombstones {
            varint(&mut self.out, u64::from(t.producer));
            bytes(&mut self.out, t.topic.as_bytes());
            varint(&mut self.out, nanos(t.age));
        }
        let crc = crc32(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

/// What a snapshot holds, given to a reader part by part.
pub trait Visit {
    /// The producers (before any topic).
    fn producers(&mut self, producers: Vec<ImageProducer>);
    /// One topic (the value is reused for the next).
    fn topic(&mut self, topic: &ImageTopic);
    /// The tombstones (after every topic).
    fn tombstones(&mut self, tombstones: Vec<ImageTombstone>);
}

/// Reads nothing: checking a snapshot is reading it into this.
struct Check;

impl Visit for Check {
    fn producers(&mut self, _: Vec<ImageProducer>) {}
    fn topic(&mut self, _: &ImageTopic) {}
    fn tombstones(&mut self, _: Vec<ImageTombstone>) {}
}

/// Checks a whole snapshot: `Ok` with when it was taken (Unix nanoseconds)
/// if [`read`] will give it all without error.
pub fn check(file: &[u8]) -> Result<i64, FormatError> {
    read(file, &mut Check)
}

/// Reads a snapshot into `visit`. Returns when it was taken. Call
/// [`check`] first: an error here may come after parts were visited.
pub fn read(file: &[u8], visit: &mut impl Visit) -> Result<i64, FormatError> {
    if file.is_empty() {
        return Err(FormatError::Empty);
    }
    if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotASnapshot);
    }
    if file.len() < HEADER + 4 {
        return Err(FormatError::Truncated);
    }
    let format = u32::from_le_bytes(array(&file[8..12]));
    if !(OLDEST_VERSION..=VERSION).contains(&format) {
        return Err(FormatError::UnknownVersion(format));
    }
    let (body, trailer) = file.split_at(file.len() - 4);
    let stored = u32::from_le_bytes(array(trailer));
    let computed = crc32(body);
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    let taken_at = i64::from_le_bytes(array(&body[12..20]));
    let mut r = Cursor {
        bytes: body,
        at: HEADER,
    };
    let n = r.count("producers")?;
    let mut producers = Vec::with_capacity(n);
    for _ in 0..n {
        let remote_address = r.string("remote address")?;
        let hostname = r.string("hostname")?;
        let broadcast_address = r.string("broadcast address")?;
        let tcp_port = r.port("tcp port")?;
        let http_port = r.port("http port")?;
        let version = r.string("version")?;
        let topology_zone = r.string("zone")?;
        let topology_region = r.string("region")?;
        let idle = Duration::from_nanos(r.varint("idle")?);
        let answered = match format {
            1 => None,
            _ => Some(r.string("answered address")?).filter(|a| !a.is_empty()),
        };
        producers.push(ImageProducer {
            answered,
            info: PeerInfo {
                remote_address,
                hostname,
                broadcast_address,
                tcp_port,
                http_port,
                version,
                topology_zone,
                topology_region,
            },
            idle,
        });
    }
    let producer_count = producers.len() as u64;
    visit.producers(producers);
    let topics = r.fixed_u64("topic count")?;
    let mut channels: Vec<Name> = Vec::new();
    let mut spare: Vec<Vec<u32>> = Vec::new();
    let mut topic = ImageTopic {
        name: r.placeholder()?,
        producers: Vec::new(),
        channels: Vec::new(),
    };
    let mut last: Option<Name> = None;
    for _ in 0..topics {
        topic.name = r.name("topic")?;
        if last.as_ref().is_some_and(|l| *l >= topic.name) {
            return Err(FormatError::Invalid(format!(
                "topic {} out of order",
                topic.name
            )));
        }
        topic.producers.clear();
        let k = r.count("producers of a topic")?;
        for _ in 0..k {
            topic.producers.push(r.index("producer", producer_count)?);
        }
        spare.extend(topic.channels.drain(..).map(|(_, mut m)| {
            m.clear();
            m
        }));
        let c = r.count("channels of a topic")?;
        for _ in 0..c {
            let name = match r.varint("channel")? {
                0 => {
                    let name = r.name("channel")?;
                    channels.push(name.clone());
                    name
                }
                i => channels
                    .get((i - 1) as usize)
                    .cloned()
                    .ok_or_else(|| FormatError::Invalid(format!("channel {i} never named")))?,
            };
            let mut members = spare.pop().unwrap_or_default();
            let m = r.count("members of a channel")?;
            for _ in 0..m {
                members.push(r.index("member", producer_count)?);
            }
            topic.channels.push((name, members));
        }
        visit.topic(&topic);
        last = Some(topic.name.clone());
    }
    let n = r.count("tombstones")?;
    let mut tombstones = Vec::with_capacity(n);
    for _ in 0..n {
        tombstones.push(ImageTombstone {
            producer: r.index("tombstoned producer", producer_count)?,
            topic: r.name("tombstoned topic")?,
            age: Duration::from_nanos(r.varint("tombstone age")?),
        });
    }
    visit.tombstones(tombstones);
    if r.at != body.len() {
        return Err(FormatError::Invalid(format!(
            "{} bytes after the tombstones",
            body.len() - r.at
        )));
    }
    Ok(taken_at)
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[..N]);
    a
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reading position in a snapshot's body.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn invalid(&self, what: &str) -> FormatError {
        FormatError::Invalid(format!("{what} at byte {}", self.at))
    }

    fn varint(&mut self, what: &str) -> Result<u64, FormatError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| self.invalid(&format!("{what} cut short")))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.invalid(&format!("{what} too long a number")))
    }

    /// A count of things each at least a byte long: never more than the
    /// bytes left (so a damaged count cannot allocate much).
    fn count(&mut self, what: &str) -> Result<usize, FormatError> {
        let n = self.varint(what)?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.invalid(&format!("{what}: {n} with {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn fixed_u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let b = self
            .bytes
            .get(self.at..self.at + 8)
            .ok_or_else(|| self.invalid(&format!("{what} cut short")))?;
        self.at += 8;
        Ok(u64::from_le_bytes(array(b)))
    }

    fn raw(&mut self, what: &str) -> Result<&[u8], FormatError> {
        let n = self.count(what)?;
        let b = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(b)
    }

    fn string(&mut self, what: &str) -> Result<String, FormatError> {
        let b = self.raw(what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| FormatError::Invalid(format!("{what} is not UTF-8")))
    }

    fn name(&mut self, what: &str) -> Result<Name, FormatError> {
        let b = self.raw(what)?;
        Name::new(b).ok_or_else(|| {
            FormatError::Invalid(format!(
                "{what} {:?} is not a valid name",
                String::from_utf8_lossy(b)
            ))
        })
    }

    fn placeholder(&self) -> Result<Name, FormatError> {
        Name::new(b"_").ok_or_else(|| FormatError::Invalid("no placeholder".into()))
    }

    fn port(&mut self, what: &str) -> Result<u16, FormatError> {
        match self.varint(what)? {
            p @ 1..=65535 => Ok(p as u16),
            p => Err(FormatError::Invalid(format!("{what} {p}"))),
        }
    }

    fn index(&mut self, what: &str, limit: u64) -> Result<u32, FormatError> {
        let i = self.varint(what)?;
        if i >= limit {
            return Err(self.invalid(&format!("{what} {i} of {limit}")));
        }
        Ok(i as u32)
    }
}

/// CRC-32 (IEEE 802.3, as zlib's), eight bytes at a time.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][c[4] as usize]
            ^ TABLES[2][c[5] as usize]
            ^ TABLES[1][c[6] as usize]
            ^ TABLES[0][c[7] as usize];
    }
    for b in chunks.remainder() {
        crc = TABLES[0][((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::image::Image;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let bytewise = long.iter().fold(!0u32, |crc, b| {
            TABLES[0][((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8)
        });
        assert_eq!(crc32(&long), !bytewise);
    }

    fn name(s: &str) -> Name {
        Name::new(s.as_bytes()).unwrap()
    }

    fn sample() -> Image {
        let peer = |n: u16| ImageProducer {
            info: PeerInfo {
                remote_address: format!("10.0.0.{n}:5000"),
                hostname: format!("h{n}"),
                broadcast_address: format!("nsqd{n}"),
                tcp_port: 4150,
                http_port: 4151,
                version: "1.3.0".into(),
                topology_zone: "z".into(),
                topology_region: "r\u{e9}gion".into(),
            },
            answered: (n == 2).then(|| format!("10.0.0.{n}")),
            idle: Duration::from_millis(1500),
        };
        Image {
            producers: vec![peer(1), peer(2)],
            topics: vec![
                ImageTopic {
                    name: name("a"),
                    producers: vec![0, 1],
                    channels: vec![(name("c"), vec![0]), (name("d"), vec![])],
                },
                ImageTopic {
                    name: name("b"),
                    producers: vec![],
                    channels: vec![(name("c"), vec![])],
                },
                ImageTopic {
                    name: name(&"long".repeat(10)),
                    producers: vec![1],
                    channels: vec![],
                },
            ],
            tombstones: vec![ImageTombstone {
                producer: 1,
                topic: name("a"),
                age: Duration::from_secs(3),
            }],
        }
    }

    fn encode(image: &Image, at: i64) -> Vec<u8> {
        let mut e = Encoder::new(at, &image.producers);
        for t in &image.topics {
            e.topic(t);
        }
        e.finish(&image.tombstones)
    }

    #[derive(Default)]
    struct Collect(Image);

    impl Visit for Collect {
        fn producers(&mut self, p: Vec<ImageProducer>) {
            self.0.producers = p;
        }
        fn topic(&mut self, t: &ImageTopic) {
            self.0.topics.push(t.clone());
        }
        fn tombstones(&mut self, t: Vec<ImageTombstone>) {
            self.0.tombstones = t;
        }
    }

    #[test]
    fn round_trip() {
        let image = sample();
        let file = encode(&image, -42);
        assert_eq!(check(&file), Ok(-42));
        let mut back = Collect::default();
        assert_eq!(read(&file, &mut back), Ok(-42));
        assert_eq!(back.0, image);
    }

    #[test]
    fn version_1_is_read() {
        // Version 1, as written before producers had an answered address:
        // one producer, one topic it holds, no tombstone.
        let mut v1 = MAGIC.to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&5i64.to_le_bytes());
        varint(&mut v1, 1);
        for s in ["10.0.0.1:5000", "h1", "nsqd1"] {
            bytes(&mut v1, s.as_bytes());
        }
        varint(&mut v1, 4150);
        varint(&mut v1, 4151);
        for s in ["1.3.0", "", ""] {
            bytes(&mut v1, s.as_bytes());
        }
        varint(&mut v1, 1_000);
        v1.extend_from_slice(&1u64.to_le_bytes());
        bytes(&mut v1, b"t");
        varint(&mut v1, 1);
        varint(&mut v1, 0);
        varint(&mut v1, 0);
        varint(&mut v1, 0);
        let crc = crc32(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        let mut back = Collect::default();
        assert_eq!(read(&v1, &mut back), Ok(5));
        let p = &back.0.producers[0];
        assert_eq!(p.info.broadcast_address, "nsqd1");
        assert_eq!(p.answered, None);
        assert_eq!(p.idle, Duration::from_micros(1));
        assert_eq!(back.0.topics[0].producers, vec![0]);
    }

    #[test]
    fn every_damage_is_an_error() {
        let file = encode(&sample(), 7);
        assert_eq!(check(&[]), Err(FormatError::Empty));
        assert_eq!(
            check(b"hello world, not a snapshot"),
            Err(FormatError::NotASnapshot)
        );
        assert_eq!(check(&file[..10]), Err(FormatError::Truncated));
        let mut next = file.clone();
        next[8] = 3;
        assert_eq!(check(&next), Err(FormatError::UnknownVersion(3)));
        for cut in [file.len() - 1, file.len() - 5, HEADER + 4, file.len() / 2] {
            assert!(check(&file[..cut]).is_err(), "cut at {cut}");
        }
        for at in HEADER..file.len() {
            for bit in [0x01, 0x80] {
                let mut bad = file.clone();
                bad[at] ^= bit;
                assert!(check(&bad).is_err(), "bit {bit:x} flipped at {at}");
            }
        }
        // A well-checksummed file whose content is wrong.
        let mut image = sample();
        image.topics.swap(0, 1);
        assert!(matches!(
            check(&encode(&image, 7)),
            Err(FormatError::Invalid(_))
        ));
        image = sample();
        image.topics[0].producers.push(9);
        assert!(matches!(
            check(&encode(&image, 7)),
            Err(FormatError::Invalid(_))
        ));
    }
}

//! The nsqd-facing side: the V1 TCP protocol and one connection's life.
//!
//! [`codec`] and [`identify`] are pure (bytes in, typed commands or errors
//! out; no socket), so they are unit tested and fuzzed directly. The
//! connection (`conn`) does the I/O: replies to pipelined commands are
//! batched and written when the client's input runs dry, so an nsqd
//! re-registering thousands of topics costs one write per read, and it
//! yields its thread every few commands so HTTP readers on the same thread
//! keep their turn. Everything a client sends is bounded: the magic must
//! arrive within the handshake timeout, an unidentified connection is
//! closed when silent past the identify timeout, command lines and
//! IDENTIFY bodies have maximum sizes, and the input buffer is released
//! whenever it is empty so an idle connection costs little memory. Once
//! identified, the producer's registrations live exactly as long as the
//! connection (`identified`).

pub mod codec;
mod conn;
mod identified;
pub mod identify;

pub(crate) use conn::serve;

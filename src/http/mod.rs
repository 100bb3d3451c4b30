//! The HTTP API for consumers and nsqadmin, served with hyper's HTTP/1
//! server through smol-hyper, on the instance's own executor.
//!
//! A request travels `conn` (one connection: deadlines, body, metrics,
//! the log line) → `respond` (decoding, routing by `router`, access
//! control, the V1 envelope) → [`answers`] (the bodies, which the C ABI
//! returns too). [`query`] decodes query strings and paths as Go's
//! `net/url` does, `deadline` keeps header and idle timeouts apart, and
//! `tls` loads the HTTPS certificate; `body` sends an answer as the pieces
//! it was produced in.

mod body;
mod conn;
mod deadline;
mod respond;
mod router;

pub mod answers;
pub mod query;
pub(crate) mod tls;

use body::Body;

pub(crate) use conn::serve;
#[doc(hidden)]
pub use respond::answer;

/// Content type of every JSON answer.
pub const JSON: &str = "application/json; charset=utf-8";
/// Marks a V1 answer; go-nsq reads bodies without it as the pre-1.0
/// `{"data": …}` envelope.
pub const NSQ_CONTENT_TYPE: (&str, &str) = ("X-NSQ-Content-Type", "nsq; version=1.0");

//! The HTTP API for consumers and nsqadmin, served with hyper's HTTP/1
//! server through smol-hyper, on the instance's own executor.
//!
//! A request travels `conn` (one connection: deadlines, body, metrics,
//! the log line) → `respond` (decoding, routing by `router`, access
//! control, the V1 envelope) → the instance's answers
//! (`crate::instance::answers`, which the C ABI returns too). [`query`]
//! decodes query strings and paths as Go's `net/url` does, `deadline`
//! keeps header and idle timeouts apart; `body` sends an answer as the
//! pieces it was produced in. (HTTPS is the server's: `crate::server`
//! loads the certificate and hands each TLS stream here.)

mod body;
mod conn;
mod deadline;
mod respond;
mod router;

pub mod query;

use body::Body;

pub(crate) use conn::serve;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use respond::answer;

/// Content type of every JSON answer.
pub const JSON: &str = "application/json; charset=utf-8";
/// Marks a V1 answer; go-nsq reads bodies without it as the pre-1.0
/// `{"data": …}` envelope.
pub const NSQ_CONTENT_TYPE: (&str, &str) = ("X-NSQ-Content-Type", "nsq; version=1.0");

//! The body of every response: one piece of bytes, or several sent one
//! after the other.
//!
//! A large answer (`/nodes` at a million registrations is some 16 MB) is
//! produced as pieces and written as they are, instead of being copied
//! into one buffer first. The size is always known up front, so the
//! response carries a `Content-Length` either way.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// A response body: pieces of bytes, sent in order.
#[derive(Debug, Default)]
pub struct Body {
    /// The first piece apart, so that the common body of one piece (every
    /// `/ping` and `/lookup`) allocates nothing.
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
    remaining: u64,
}

impl Body {
    /// A body of one piece.
    pub fn new(bytes: Bytes) -> Body {
        Body {
            remaining: bytes.len() as u64,
            first: (!bytes.is_empty()).then_some(bytes),
            rest: VecDeque::new(),
        }
    }

    /// A body of these pieces, in order.
    pub fn pieces(mut pieces: Vec<Bytes>) -> Body {
        let remaining = pieces.iter().map(|p| p.len() as u64).sum();
        pieces.retain(|p| !p.is_empty());
        Body {
            first: None,
            rest: VecDeque::from(pieces),
            remaining,
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::new(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::new(Bytes::from(s))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let piece = self.first.take().or_else(|| self.rest.pop_front());
        Poll::Ready(piece.map(|p| {
            self.remaining -= p.len() as u64;
            Ok(Frame::data(p))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

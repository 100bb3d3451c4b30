//! One HTTP connection (plain or TLS), served by hyper: deadlines around
//! the stream, the body read within its bounds, metrics and the request
//! log line around each answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_io::Timer;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION};
use hyper::{Method, Request, Response};
use smol::future;
use smol_hyper::rt::FuturesIo;

use super::deadline::{Activity, Deadlines, Expired};
use super::respond::{dispatch, v1_error, BodyRead};
use super::Body;
use crate::config::duration;
use crate::instance::answers::ApiError;
use crate::instance::State;
use crate::logging::{logf, Level};
use crate::metrics::{Bound, HttpRoute};

/// Serves one HTTP connection (plain or TLS) until the client closes it
/// or it fails. `vectored`: the stream writes several buffers in one call
/// (a plain socket's `writev`), so a large answer made of pieces is
/// written as it is, not copied into hyper's buffer a piece at a time.
pub(crate) async fn serve<S>(state: Arc<State>, stream: S, remote: SocketAddr, vectored: bool)
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + Send + 'static,
{
    let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
    let activity = Arc::new(Activity::default());
    let stream = Deadlines::new(
        stream,
        activity.clone(),
        state.opts.http_header_timeout,
        state.opts.http_idle_timeout,
    );
    let service_state = state.clone();
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let state = service_state.clone();
        let activity = service_activity.clone();
        async move {
            activity.begin();
            let response = handle(&state, req, remote).await;
            activity.end();
            Ok::<_, Infallible>(response)
        }
    });
    // hyper's own header timer would also close idle keep-alive
    // connections; `Deadlines` keeps the two apart.
    let result = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .header_read_timeout(None)
        .max_buf_size(state.opts.max_http_request_size)
        .writev(vectored)
        .serve_connection(FuturesIo::new(stream), service)
        .await;
    match activity.expired() {
        Some(Expired::Header) => state.metrics.bound_hit(Bound::HttpHeaderTimeout),
        Some(Expired::Idle) => state.metrics.bound_hit(Bound::HttpIdleTimeout),
        None => {}
    }
    if let Err(e) = result {
        if e.is_parse_too_large() {
            state.metrics.bound_hit(Bound::HttpRequestSize);
        }
        logf!(state.log, Level::Debug, "HTTP: client({remote}) - {e}");
    }
}

async fn handle(state: &State, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    // Bodies carry nothing for us, but are read (within the size and time
    // bounds) so the connection can be reused, as Go reads them. Most
    // requests have none, and then no timer is armed (a timer per request
    // cost a sixth of the CPU of a /lookup).
    let body = if body.is_end_stream() {
        BodyRead::Complete
    } else {
        read_body(state, body).await
    };
    match body {
        BodyRead::Complete | BodyRead::Malformed => {}
        BodyRead::TooLarge => state.metrics.bound_hit(Bound::HttpRequestSize),
        BodyRead::TimedOut => {
            state.metrics.bound_hit(Bound::HttpBodyTimeout);
            let mut r = v1_error(ApiError {
                status: 408,
                message: "REQUEST_TIMEOUT",
            });
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            log_request(state, &r, &parts.method, &uri, remote, start);
            state
                .metrics
                .http_request(HttpRoute::BadRequest, 408, start.elapsed());
            return r;
        }
    }
    let auth = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let (response, label, logged) = dispatch(
        state,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        body,
        auth,
    );
    if logged {
        log_request(state, &response, &parts.method, &uri, remote, start);
    }
    state
        .metrics
        .http_request(label, response.status().as_u16(), start.elapsed());
    response
}

/// Reads and discards a request body within the size and time bounds.
async fn read_body(state: &State, body: Incoming) -> BodyRead {
    future::or(
        async {
            match Limited::new(body, state.opts.max_http_request_size)
                .collect()
                .await
            {
                Ok(_) => BodyRead::Complete,
                Err(e) if e.is::<LengthLimitError>() => BodyRead::TooLarge,
                Err(_) => BodyRead::Malformed,
            }
        },
        async {
            Timer::after(state.opts.http_header_timeout).await;
            BodyRead::TimedOut
        },
    )
    .await
}

fn log_request(
    state: &State,
    r: &Response<Body>,
    method: &Method,
    uri: &str,
    remote: SocketAddr,
    start: Instant,
) {
    logf!(
        state.log,
        Level::Info,
        "{} {} {} ({}) {}",
        r.status().as_u16(),
        method,
        uri,
        remote,
        duration::format(start.elapsed())
    );
}

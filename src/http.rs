//! The HTTP API: routing, the V1 response envelope, and one connection.
//!
//! Served with hyper's HTTP/1 server through smol-hyper, on our own
//! executor. Routing reproduces what Go's `httprouter` does for
//! nsqlookupd's routes, because clients and operators meet it: 405 with an
//! `Allow` header for a known path with the wrong method, `OPTIONS`
//! answered from the same table, and 301/307 redirects for a trailing slash
//! or a path that only differs in case or cleanliness (`/PING`, `//ping`).
//! Answers themselves come from [`crate::api`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_io::Timer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use smol::future;
use smol_hyper::rt::FuturesIo;

use crate::access::{self, Verdict};
use crate::api::ApiError;
use crate::deadline::{Activity, Deadlines, Expired};
use crate::logf;
use crate::logging::Level;
use crate::metrics::{self, Bound};
use crate::query::{unescape_path, Query};
use crate::state::State;

/// Content type of every JSON answer.
pub const JSON: &str = "application/json; charset=utf-8";
/// Marks a V1 answer; go-nsq reads bodies without it as the pre-1.0
/// `{"data": …}` envelope.
pub const NSQ_CONTENT_TYPE: (&str, &str) = ("X-NSQ-Content-Type", "nsq; version=1.0");

/// The endpoints, in the order of their `route` label in
/// [`crate::metrics::HTTP_ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Ping,
    Info,
    Debug,
    Lookup,
    Topics,
    Channels,
    Nodes,
    TopicCreate,
    TopicDelete,
    ChannelCreate,
    ChannelDelete,
    TopicTombstone,
    Metrics,
}

/// Metric labels for requests no route handled, after the routes.
const LABEL_NOT_FOUND: usize = Route::Metrics as usize + 1;
const LABEL_NOT_ALLOWED: usize = LABEL_NOT_FOUND + 1;
const LABEL_REDIRECT: usize = LABEL_NOT_FOUND + 2;
const LABEL_OPTIONS: usize = LABEL_NOT_FOUND + 3;
const LABEL_BAD_REQUEST: usize = LABEL_NOT_FOUND + 4;

impl Route {
    /// Whether the bearer token (when one is set) guards this route:
    /// always for writes, for reads too with `http_auth_reads`, never for
    /// `/ping` (health checks must keep working).
    fn needs_token(self, reads_too: bool) -> bool {
        match self {
            Route::Ping => false,
            Route::TopicCreate
            | Route::TopicDelete
            | Route::ChannelCreate
            | Route::ChannelDelete
            | Route::TopicTombstone => true,
            _ => reads_too,
        }
    }
}

const ROUTES: &[(&str, Method, Route)] = &[
    ("/ping", Method::GET, Route::Ping),
    ("/info", Method::GET, Route::Info),
    ("/debug", Method::GET, Route::Debug),
    ("/lookup", Method::GET, Route::Lookup),
    ("/topics", Method::GET, Route::Topics),
    ("/channels", Method::GET, Route::Channels),
    ("/nodes", Method::GET, Route::Nodes),
    ("/topic/create", Method::POST, Route::TopicCreate),
    ("/topic/delete", Method::POST, Route::TopicDelete),
    ("/channel/create", Method::POST, Route::ChannelCreate),
    ("/channel/delete", Method::POST, Route::ChannelDelete),
    ("/topic/tombstone", Method::POST, Route::TopicTombstone),
    ("/metrics", Method::GET, Route::Metrics),
];

type Body = Full<Bytes>;

/// Serves one HTTP connection (plain or TLS) until the client closes it
/// or it fails.
pub(crate) async fn serve<S>(state: Arc<State>, stream: S, remote: SocketAddr)
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
                .http_request(LABEL_BAD_REQUEST, 408, start.elapsed());
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

/// How reading a request body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRead {
    /// Read to its end (or there was none).
    Complete,
    /// Over `max_http_request_size`.
    TooLarge,
    /// Broken framing (a bad chunk size, say).
    Malformed,
    /// Not in within `http_header_timeout`.
    TimedOut,
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

/// Everything a request gets once its body is read: decoding, routing,
/// access control, the endpoint, the envelope. Also gives the metrics
/// route label and whether Go would log the request (it logs handled,
/// not-found and not-allowed requests, not redirects).
fn dispatch(
    state: &State,
    method: &Method,
    raw_path: &str,
    raw_query: Option<&str>,
    body: BodyRead,
    auth: Option<&[u8]>,
) -> (Response<Body>, usize, bool) {
    let path = match unescape_path(raw_path) {
        Ok(p) => p,
        Err(_) => return (bad_request(), LABEL_BAD_REQUEST, false),
    };
    match resolve(method, &path) {
        Resolution::Handle(route) => {
            let response = if body == BodyRead::TooLarge {
                v1_error(ApiError {
                    status: 413,
                    message: "REQUEST_TOO_LARGE",
                })
            } else if body == BodyRead::Malformed {
                // Go's handlers read the body with their arguments and
                // answer INVALID_REQUEST; the connection cannot be reused.
                let mut r = v1_error(ApiError::bad_request("INVALID_REQUEST"));
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                r
            } else if let Some(refusal) = refuse(state, route, auth) {
                refusal
            } else {
                respond(state, route, raw_query.unwrap_or(""))
            };
            (response, route as usize, true)
        }
        Resolution::Redirect(to) => (redirect(method, to, raw_query), LABEL_REDIRECT, false),
        Resolution::Options(allow) => {
            let mut r = Response::new(Body::default());
            r.headers_mut().insert(ALLOW, allow);
            (r, LABEL_OPTIONS, false)
        }
        Resolution::NotAllowed(allow) => {
            let mut r = v1_error(ApiError {
                status: 405,
                message: "METHOD_NOT_ALLOWED",
            });
            r.headers_mut().insert(ALLOW, allow);
            (r, LABEL_NOT_ALLOWED, true)
        }
        Resolution::NotFound => (
            v1_error(ApiError {
                status: 404,
                message: "NOT_FOUND",
            }),
            LABEL_NOT_FOUND,
            true,
        ),
    }
}

/// The 401 or 403 a request gets when the route needs the bearer token
/// and the request does not carry it.
fn refuse(state: &State, route: Route, auth: Option<&[u8]>) -> Option<Response<Body>> {
    if state.auth_token.is_empty() || !route.needs_token(state.opts.http_auth_reads) {
        return None;
    }
    match access::check_bearer(&state.auth_token, auth) {
        Verdict::Allowed => None,
        Verdict::Unauthorized => {
            let mut r = v1_error(ApiError {
                status: 401,
                message: "UNAUTHORIZED",
            });
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"nsqlookupd\""),
            );
            Some(r)
        }
        Verdict::Forbidden => Some(v1_error(ApiError {
            status: 403,
            message: "FORBIDDEN",
        })),
    }
}

/// The status and body an HTTP request line would get, without a socket:
/// the entry point of the fuzz target and property tests for HTTP query
/// handling. `target` is the request target, path and query.
#[doc(hidden)]
pub fn answer(state: &State, method: &str, target: &str) -> (u16, Vec<u8>) {
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return (400, Vec::new());
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let (response, _, _) = dispatch(state, &method, path, query, BodyRead::Complete, None);
    let status = response.status().as_u16();
    let body = future::block_on(response.into_body().collect())
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (status, body)
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
        crate::duration::format(start.elapsed())
    );
}

/// Runs an endpoint.
fn respond(state: &State, route: Route, raw_query: &str) -> Response<Body> {
    let json = |body: Bytes| v1(StatusCode::OK, body, true);
    match route {
        Route::Ping => {
            let mut r = Response::new(Body::from("OK"));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Route::Metrics => {
            let mut r = Response::new(Body::from(state.metrics.render(state)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            r
        }
        // Endpoints without arguments never look at the query, as in Go:
        // `/topics?%zz` is answered, `/lookup?%zz` is INVALID_REQUEST.
        Route::Info => json(state.info_json().into()),
        Route::Debug => json(state.debug_json().into()),
        Route::Topics => json(state.topics_json()),
        Route::Nodes => json(state.nodes_json().into()),
        _ => match Query::parse(raw_query) {
            Ok(query) => match respond_with_args(state, route, &query) {
                Ok(Some(body)) => json(body.into()),
                Ok(None) => v1(StatusCode::OK, Vec::new(), false),
                Err(e) => v1_error(e),
            },
            Err(_) => v1_error(ApiError::bad_request("INVALID_REQUEST")),
        },
    }
}

/// Runs an endpoint that takes arguments: its JSON answer, or `None` for
/// the empty 200 of a write.
fn respond_with_args(
    state: &State,
    route: Route,
    query: &Query,
) -> Result<Option<Vec<u8>>, ApiError> {
    let arg =
        |name: &str, missing: &'static str| query.get(name).ok_or(ApiError::bad_request(missing));
    let topic = || arg("topic", "MISSING_ARG_TOPIC");
    match route {
        Route::Lookup => topic().and_then(|t| state.lookup_json(t)).map(Some),
        Route::Channels => topic().map(|t| Some(state.channels_json(t))),
        Route::TopicCreate => topic().and_then(|t| state.create_topic(t)).map(|()| None),
        Route::TopicDelete => topic().and_then(|t| state.delete_topic(t)).map(|()| None),
        Route::ChannelCreate | Route::ChannelDelete => {
            // Go checks the topic fully before looking at the channel.
            topic_and_channel(query).and_then(|(t, c)| {
                if route == Route::ChannelCreate {
                    state.create_channel(t, c)
                } else {
                    state.delete_channel(t, c)
                }
                .map(|()| None)
            })
        }
        Route::TopicTombstone => topic().and_then(|t| {
            let node = arg("node", "MISSING_ARG_NODE")?;
            state.tombstone(t, node).map(|()| None)
        }),
        Route::Ping
        | Route::Metrics
        | Route::Info
        | Route::Debug
        | Route::Topics
        | Route::Nodes => {
            unreachable!("{route:?} takes no arguments and is answered by respond")
        }
    }
}

/// `topic` then `channel`, each present and valid, in Go's order of checks.
fn topic_and_channel(query: &Query) -> Result<(&[u8], &[u8]), ApiError> {
    let topic = query
        .get("topic")
        .ok_or(ApiError::bad_request("MISSING_ARG_TOPIC"))?;
    crate::api::topic_arg(topic)?;
    let channel = query
        .get("channel")
        .ok_or(ApiError::bad_request("MISSING_ARG_CHANNEL"))?;
    crate::api::channel_arg(channel)?;
    Ok((topic, channel))
}

fn v1(status: StatusCode, body: impl Into<Bytes>, json: bool) -> Response<Body> {
    let mut r = Response::new(Body::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if json {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    }
    h.insert(
        NSQ_CONTENT_TYPE.0,
        HeaderValue::from_static(NSQ_CONTENT_TYPE.1),
    );
    r
}

fn v1_error(e: ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    v1(status, e.body(), true)
}

/// What Go's server says to a request it cannot parse.
fn bad_request() -> Response<Body> {
    let mut r = Response::new(Body::from("400 Bad Request"));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Go's `http.Redirect`: a small HTML body for GET, none otherwise.
fn redirect(method: &Method, to: &str, query: Option<&str>) -> Response<Body> {
    let url = match query {
        Some(q) => format!("{to}?{q}"),
        None => to.to_owned(),
    };
    let (status, text) = if method == Method::GET {
        (StatusCode::MOVED_PERMANENTLY, "Moved Permanently")
    } else {
        (StatusCode::TEMPORARY_REDIRECT, "Temporary Redirect")
    };
    let body = if method == Method::GET {
        format!("<a href=\"{}\">{text}</a>.\n\n", html_escape(&url))
    } else {
        String::new()
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if method == Method::GET || method == Method::HEAD {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&url) {
        h.insert(LOCATION, v);
    }
    r
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Resolution {
    Handle(Route),
    Redirect(&'static str),
    Options(HeaderValue),
    NotAllowed(HeaderValue),
    NotFound,
}

/// Decides what a request gets, as httprouter would.
fn resolve(method: &Method, path: &[u8]) -> Resolution {
    if let Some((_, _, route)) = ROUTES
        .iter()
        .find(|(p, m, _)| m == method && p.as_bytes() == path)
    {
        return Resolution::Handle(*route);
    }
    let has_routes = ROUTES.iter().any(|(_, m, _)| m == method);
    if has_routes && path != b"/" {
        // A trailing slash too many.
        if let Some(stripped) = path.strip_suffix(b"/") {
            if let Some((p, _, _)) = ROUTES
                .iter()
                .find(|(p, m, _)| m == method && p.as_bytes() == stripped)
            {
                return Resolution::Redirect(p);
            }
        }
        // A path that cleans up or case-folds into a route.
        let cleaned = clean_path(path);
        let cleaned = match cleaned.strip_suffix(b"/") {
            Some(s) if !s.is_empty() => s.to_vec(),
            _ => cleaned,
        };
        if let Some((p, _, _)) = ROUTES
            .iter()
            .find(|(p, m, _)| m == method && p.as_bytes().eq_ignore_ascii_case(&cleaned))
        {
            return Resolution::Redirect(p);
        }
    }
    let mut allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(p, m, _)| p.as_bytes() == path && m != method)
        .map(|(_, m, _)| m.as_str())
        .collect();
    if allowed.is_empty() {
        return Resolution::NotFound;
    }
    allowed.push("OPTIONS");
    allowed.sort_unstable();
    let allow =
        HeaderValue::from_str(&allowed.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"));
    if method == Method::OPTIONS {
        Resolution::Options(allow)
    } else {
        Resolution::NotAllowed(allow)
    }
}

/// httprouter's `CleanPath`: one slash at a time, no `.` or `..`
/// elements, rooted, trailing slash kept.
fn clean_path(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    let trailing = path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..");
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(r: Resolution) -> String {
        match r {
            Resolution::Options(a) | Resolution::NotAllowed(a) => a.to_str().unwrap().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes_like_httprouter() {
        assert_eq!(
            resolve(&Method::GET, b"/ping"),
            Resolution::Handle(Route::Ping)
        );
        assert_eq!(
            resolve(&Method::GET, b"/ping/"),
            Resolution::Redirect("/ping")
        );
        assert_eq!(
            resolve(&Method::GET, b"/PING"),
            Resolution::Redirect("/ping")
        );
        assert_eq!(
            resolve(&Method::GET, b"//ping"),
            Resolution::Redirect("/ping")
        );
        assert_eq!(
            resolve(&Method::GET, b"/x/../ping"),
            Resolution::Redirect("/ping")
        );
        assert_eq!(
            resolve(&Method::POST, b"/Topic/Create/"),
            Resolution::Redirect("/topic/create")
        );
        assert_eq!(resolve(&Method::GET, b"/nope"), Resolution::NotFound);
        assert_eq!(
            resolve(&Method::GET, b"/topic/create/"),
            Resolution::NotFound
        );
        assert_eq!(resolve(&Method::HEAD, b"/ping/"), Resolution::NotFound);
        assert_eq!(allow(resolve(&Method::HEAD, b"/ping")), "GET, OPTIONS");
        assert_eq!(
            allow(resolve(&Method::GET, b"/topic/create")),
            "OPTIONS, POST"
        );
        assert_eq!(allow(resolve(&Method::OPTIONS, b"/ping")), "GET, OPTIONS");
        assert_eq!(resolve(&Method::OPTIONS, b"/nope"), Resolution::NotFound);
    }

    #[test]
    fn route_labels_line_up() {
        for (_, _, route) in ROUTES {
            let label = crate::metrics::HTTP_ROUTES[*route as usize];
            assert_eq!(label.replace('_', ""), format!("{route:?}").to_lowercase());
        }
        assert_eq!(crate::metrics::HTTP_ROUTES[LABEL_NOT_FOUND], "not_found");
        assert_eq!(
            crate::metrics::HTTP_ROUTES[LABEL_BAD_REQUEST],
            "bad_request"
        );
        assert_eq!(crate::metrics::HTTP_ROUTES.len(), LABEL_BAD_REQUEST + 1);
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path(b"//a//b/"), b"/a/b/");
        assert_eq!(clean_path(b"/../a/./b/.."), b"/a/");
        assert_eq!(clean_path(b""), b"/");
    }

    #[test]
    fn redirect_bodies() {
        let r = redirect(&Method::GET, "/ping", Some("a=1&b=2"));
        assert_eq!(r.status(), 301);
        assert_eq!(r.headers()[LOCATION], "/ping?a=1&b=2");
        let r = redirect(&Method::POST, "/topic/create", None);
        assert_eq!(r.status(), 307);
        assert!(r.headers().get(CONTENT_TYPE).is_none());
    }
}

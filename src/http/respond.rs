//! One request, once its body is read: decoding, routing, access control,
//! the endpoint, and the V1 envelope around its answer.

use bytes::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};

use super::query::{unescape_path, Query};
use super::router::{redirect, resolve, Resolution};
use super::{Body, JSON, NSQ_CONTENT_TYPE};
use crate::access::{self, Verdict};
use crate::instance::answers::{channel_arg, topic_arg, ApiError};
use crate::instance::State;
use crate::metrics::{self, HttpRoute};
use crate::names::Name;

/// How reading a request body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyRead {
    /// Read to its end (or there was none).
    Complete,
    /// Over `max_http_request_size`.
    TooLarge,
    /// Broken framing (a bad chunk size, say).
    Malformed,
    /// Not in within `http_header_timeout`.
    TimedOut,
}

/// Everything a request gets once its body is read: decoding, routing,
/// access control, the endpoint, the envelope. Also gives the route the
/// request is counted under in the metrics, and whether Go would log the
/// request (it logs handled, not-found and not-allowed requests, not
/// redirects).
pub(super) fn dispatch(
    state: &State,
    method: &Method,
    raw_path: &str,
    raw_query: Option<&str>,
    body: BodyRead,
    auth: Option<&[u8]>,
) -> (Response<Body>, HttpRoute, bool) {
    let path = match unescape_path(raw_path) {
        Ok(p) => p,
        Err(_) => return (bad_request(), HttpRoute::BadRequest, false),
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
            (response, route, true)
        }
        Resolution::Redirect(to) => (redirect(method, to, raw_query), HttpRoute::Redirect, false),
        Resolution::Options(allow) => {
            let mut r = Response::new(Body::default());
            r.headers_mut().insert(ALLOW, allow);
            (r, HttpRoute::Options, false)
        }
        Resolution::NotAllowed(allow) => {
            let mut r = v1_error(ApiError {
                status: 405,
                message: "METHOD_NOT_ALLOWED",
            });
            r.headers_mut().insert(ALLOW, allow);
            (r, HttpRoute::MethodNotAllowed, true)
        }
        Resolution::NotFound => (
            v1_error(ApiError {
                status: 404,
                message: "NOT_FOUND",
            }),
            HttpRoute::NotFound,
            true,
        ),
    }
}

/// The 401 or 403 a request gets when the route needs the bearer token
/// and the request does not carry it.
fn refuse(state: &State, route: HttpRoute, auth: Option<&[u8]>) -> Option<Response<Body>> {
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
#[cfg(any(test, feature = "internals"))]
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
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
    use http_body_util::BodyExt as _;
    let body = smol::future::block_on(response.into_body().collect())
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (status, body)
}

/// Runs an endpoint.
fn respond(state: &State, route: HttpRoute, raw_query: &str) -> Response<Body> {
    let json = |body: Bytes| v1(StatusCode::OK, body, true);
    match route {
        HttpRoute::Ping => {
            let mut r = Response::new(Body::from("OK"));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        HttpRoute::Metrics => {
            let mut r = Response::new(Body::from(state.scrape()));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            r
        }
        // Endpoints without arguments never look at the query, as in Go:
        // `/topics?%zz` is answered, `/lookup?%zz` is INVALID_REQUEST.
        HttpRoute::Info => json(state.info_json().into()),
        HttpRoute::Debug => json(state.debug_json().into()),
        HttpRoute::Reachability => json(state.reachability_json().into()),
        HttpRoute::Topics => json(state.topics_json()),
        HttpRoute::Nodes => {
            let mut r = json(Bytes::new());
            *r.body_mut() = Body::pieces(state.nodes_pieces());
            r
        }
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
    route: HttpRoute,
    query: &Query,
) -> Result<Option<Vec<u8>>, ApiError> {
    let arg =
        |name: &str, missing: &'static str| query.get(name).ok_or(ApiError::bad_request(missing));
    let topic = || arg("topic", "MISSING_ARG_TOPIC");
    match route {
        HttpRoute::Lookup => topic().and_then(|t| state.lookup_json(t)).map(Some),
        HttpRoute::Channels => topic().map(|t| Some(state.channels_json(t))),
        HttpRoute::TopicCreate => topic().and_then(|t| state.create_topic(t)).map(|()| None),
        HttpRoute::TopicDelete => topic().and_then(|t| state.delete_topic(t)).map(|()| None),
        HttpRoute::ChannelCreate => topic_and_channel(query).map(|(t, c)| {
            state.create_channel(&t, &c);
            None
        }),
        HttpRoute::ChannelDelete => topic_and_channel(query)
            .and_then(|(t, c)| state.delete_channel(&t, &c))
            .map(|()| None),
        HttpRoute::TopicTombstone => topic().and_then(|t| {
            let node = arg("node", "MISSING_ARG_NODE")?;
            state.tombstone(t, node).map(|()| None)
        }),
        HttpRoute::Ping
        | HttpRoute::Metrics
        | HttpRoute::Info
        | HttpRoute::Debug
        | HttpRoute::Reachability
        | HttpRoute::Topics
        | HttpRoute::Nodes => {
            unreachable!("{route:?} takes no arguments and is answered by respond")
        }
        HttpRoute::NotFound
        | HttpRoute::MethodNotAllowed
        | HttpRoute::Redirect
        | HttpRoute::Options
        | HttpRoute::BadRequest => {
            unreachable!("{route:?} is no endpoint: resolve never hands it out")
        }
    }
}

/// `topic` then `channel`, each present and valid, in Go's order of
/// checks: the topic fully (MISSING_ARG_TOPIC, INVALID_ARG_TOPIC) before
/// the channel (MISSING_ARG_CHANNEL, INVALID_ARG_CHANNEL). The only
/// validation the names of a channel route get.
fn topic_and_channel(query: &Query) -> Result<(Name, Name), ApiError> {
    let topic = query
        .get("topic")
        .ok_or(ApiError::bad_request("MISSING_ARG_TOPIC"))?;
    let topic = topic_arg(topic)?;
    let channel = query
        .get("channel")
        .ok_or(ApiError::bad_request("MISSING_ARG_CHANNEL"))?;
    let channel = channel_arg(channel)?;
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

pub(super) fn v1_error(e: ApiError) -> Response<Body> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Level;
    use crate::logging::Logger;
    use crate::Options;

    fn quiet_state() -> State {
        let opts = Options {
            log_level: Level::Fatal,
            ..Options::default()
        };
        State::new(opts, Logger::stderr(Level::Fatal, ""), 0, 0)
    }

    /// Go checks the topic fully (present, then valid) before it looks at
    /// the channel, and reports the first failure.
    #[test]
    fn channel_routes_check_arguments_in_go_order() {
        let state = quiet_state();
        let cases = [
            ("", "MISSING_ARG_TOPIC"),
            ("channel=bad$", "MISSING_ARG_TOPIC"),
            ("topic=bad$", "INVALID_ARG_TOPIC"),
            ("topic=*&channel=bad$", "INVALID_ARG_TOPIC"),
            ("topic=t", "MISSING_ARG_CHANNEL"),
            ("topic=t&channel=", "INVALID_ARG_CHANNEL"),
            ("topic=t&channel=*", "INVALID_ARG_CHANNEL"),
        ];
        for path in ["/channel/create", "/channel/delete"] {
            for (query, message) in cases {
                let target = format!("{path}?{query}");
                let (status, body) = answer(&state, "POST", &target);
                assert_eq!(status, 400, "{target}");
                let expected = format!(r#"{{"message":"{message}"}}"#);
                assert_eq!(String::from_utf8_lossy(&body), expected, "{target}");
            }
        }
        assert_eq!(
            answer(&state, "POST", "/channel/delete?topic=t&channel=c").0,
            404
        );
        assert_eq!(
            answer(&state, "POST", "/channel/create?topic=t&channel=c"),
            (200, vec![])
        );
        assert_eq!(
            answer(&state, "POST", "/channel/delete?topic=t&channel=c"),
            (200, vec![])
        );
    }
}

//! Routing as Go's `httprouter` does it for nsqlookupd's routes, because
//! clients and operators meet it: 405 with an `Allow` header for a known
//! path with the wrong method, `OPTIONS` answered from the same table, and
//! 301/307 redirects for a trailing slash or a path that only differs in
//! case or cleanliness (`/PING`, `//ping`).

use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Response, StatusCode};

use super::Body;
use crate::metrics::HttpRoute;

impl HttpRoute {
    /// Whether the bearer token (when one is set) guards this route:
    /// always for writes, for reads too with `http_auth_reads`, never for
    /// `/ping` (health checks must keep working).
    pub(super) fn needs_token(self, reads_too: bool) -> bool {
        match self {
            HttpRoute::Ping => false,
            HttpRoute::TopicCreate
            | HttpRoute::TopicDelete
            | HttpRoute::ChannelCreate
            | HttpRoute::ChannelDelete
            | HttpRoute::TopicTombstone => true,
            _ => reads_too,
        }
    }
}

/// The endpoints: path, method, and the route that is also their metric
/// label. Every `HttpRoute` but the fallbacks (`not_found`, …) is here.
const ROUTES: &[(&str, Method, HttpRoute)] = &[
    ("/ping", Method::GET, HttpRoute::Ping),
    ("/info", Method::GET, HttpRoute::Info),
    ("/debug", Method::GET, HttpRoute::Debug),
    ("/lookup", Method::GET, HttpRoute::Lookup),
    ("/topics", Method::GET, HttpRoute::Topics),
    ("/channels", Method::GET, HttpRoute::Channels),
    ("/nodes", Method::GET, HttpRoute::Nodes),
    ("/topic/create", Method::POST, HttpRoute::TopicCreate),
    ("/topic/delete", Method::POST, HttpRoute::TopicDelete),
    ("/channel/create", Method::POST, HttpRoute::ChannelCreate),
    ("/channel/delete", Method::POST, HttpRoute::ChannelDelete),
    ("/topic/tombstone", Method::POST, HttpRoute::TopicTombstone),
    ("/metrics", Method::GET, HttpRoute::Metrics),
    ("/reachability", Method::GET, HttpRoute::Reachability),
];

#[derive(Debug, PartialEq)]
pub(super) enum Resolution {
    Handle(HttpRoute),
    Redirect(&'static str),
    Options(HeaderValue),
    NotAllowed(HeaderValue),
    NotFound,
}

/// Decides what a request gets, as httprouter would.
pub(super) fn resolve(method: &Method, path: &[u8]) -> Resolution {
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

/// Go's `http.Redirect`: a small HTML body for GET, none otherwise.
pub(super) fn redirect(method: &Method, to: &str, query: Option<&str>) -> Response<Body> {
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
        use Resolution::{Handle, NotFound, Redirect};
        let cases = [
            (Method::GET, "/ping", Handle(HttpRoute::Ping)),
            (Method::GET, "/ping/", Redirect("/ping")),
            (Method::GET, "/PING", Redirect("/ping")),
            (Method::GET, "//ping", Redirect("/ping")),
            (Method::GET, "/x/../ping", Redirect("/ping")),
            (Method::POST, "/Topic/Create/", Redirect("/topic/create")),
            (Method::GET, "/nope", NotFound),
            (Method::GET, "/topic/create/", NotFound),
            (Method::HEAD, "/ping/", NotFound),
            (Method::OPTIONS, "/nope", NotFound),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                resolve(&method, path.as_bytes()),
                expected,
                "{method} {path}"
            );
        }
        let allowed = [
            (Method::HEAD, "/ping", "GET, OPTIONS"),
            (Method::GET, "/topic/create", "OPTIONS, POST"),
            (Method::OPTIONS, "/ping", "GET, OPTIONS"),
        ];
        for (method, path, expected) in allowed {
            assert_eq!(
                allow(resolve(&method, path.as_bytes())),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn every_endpoint_routed_once_under_its_path() {
        let fallbacks = [
            HttpRoute::NotFound,
            HttpRoute::MethodNotAllowed,
            HttpRoute::Redirect,
            HttpRoute::Options,
            HttpRoute::BadRequest,
        ];
        for route in HttpRoute::ALL {
            let paths: Vec<&str> = ROUTES
                .iter()
                .filter(|(_, _, r)| *r == route)
                .map(|(p, _, _)| *p)
                .collect();
            if fallbacks.contains(&route) {
                assert!(paths.is_empty(), "{route:?} is a fallback");
            } else {
                assert_eq!(paths.len(), 1, "{route:?}");
                // `/topic/create` is counted as `topic_create`.
                assert_eq!(paths[0][1..].replace('/', "_"), route.label());
            }
        }
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

//! The label values of the counted events, each an enum that owns its
//! labels: a variant is both the index of its counter (its declaration
//! order) and the text of its label, so the two cannot drift apart.

/// Declares a fieldless enum whose variants each carry their label:
/// `label()`, `index()` (declaration order), `ALL` (every variant, in
/// index order) and `COUNT`.
macro_rules! labelled {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in index order.
            pub const ALL: [$name; [$($name::$variant),+].len()] = [$($name::$variant),+];
            /// How many variants there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The label value this variant is counted under.
            pub const fn label(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }

            /// The slot of this variant's counter.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

labelled! {
    /// The `route` label of HTTP metrics, and the HTTP router's route type:
    /// every endpoint, then what answers the requests no endpoint handled.
    pub enum HttpRoute {
        /// `GET /ping`.
        Ping => "ping",
        /// `GET /info`.
        Info => "info",
        /// `GET /debug`.
        Debug => "debug",
        /// `GET /lookup`.
        Lookup => "lookup",
        /// `GET /topics`.
        Topics => "topics",
        /// `GET /channels`.
        Channels => "channels",
        /// `GET /nodes`.
        Nodes => "nodes",
        /// `POST /topic/create`.
        TopicCreate => "topic_create",
        /// `POST /topic/delete`.
        TopicDelete => "topic_delete",
        /// `POST /channel/create`.
        ChannelCreate => "channel_create",
        /// `POST /channel/delete`.
        ChannelDelete => "channel_delete",
        /// `POST /topic/tombstone`.
        TopicTombstone => "topic_tombstone",
        /// `GET /metrics`.
        Metrics => "metrics",
        /// `GET /reachability`.
        Reachability => "reachability",
        /// No route has the path.
        NotFound => "not_found",
        /// A route has the path, not the method.
        MethodNotAllowed => "method_not_allowed",
        /// Redirected to a route (a trailing slash, case, an unclean path).
        Redirect => "redirect",
        /// `OPTIONS` on a route's path.
        Options => "options",
        /// A request that could not be read or decoded.
        BadRequest => "bad_request",
    }
}

labelled! {
    /// The `command` label of TCP command counts.
    pub enum TcpCommand {
        /// `PING`.
        Ping => "PING",
        /// `IDENTIFY`.
        Identify => "IDENTIFY",
        /// `REGISTER`.
        Register => "REGISTER",
        /// `UNREGISTER`.
        Unregister => "UNREGISTER",
        /// A line that is no command.
        Invalid => "invalid",
    }
}

labelled! {
    /// The code of a TCP error reply, as sent on the wire and as the
    /// `code` label of TCP error counts.
    pub enum TcpError {
        /// `E_INVALID`: a malformed or out-of-order command.
        Invalid => "E_INVALID",
        /// `E_BAD_TOPIC`: an invalid topic name.
        BadTopic => "E_BAD_TOPIC",
        /// `E_BAD_CHANNEL`: an invalid channel name.
        BadChannel => "E_BAD_CHANNEL",
        /// `E_BAD_BODY`: an IDENTIFY body that cannot be used.
        BadBody => "E_BAD_BODY",
        /// `E_BAD_PROTOCOL`: the wrong protocol magic.
        BadProtocol => "E_BAD_PROTOCOL",
    }
}

labelled! {
    /// A bound or timeout a client ran into (the `bound` label).
    pub enum Bound {
        /// An IDENTIFY body over `max_identify_body_size` (or negative).
        IdentifyBodySize => "identify_body_size",
        /// A command line over `max_command_size`.
        CommandSize => "command_size",
        /// No magic within `tcp_handshake_timeout`.
        TcpHandshakeTimeout => "tcp_handshake_timeout",
        /// Silent and unidentified past `identify_timeout`.
        IdentifyTimeout => "identify_timeout",
        /// HTTP headers not in within `http_header_timeout`.
        HttpHeaderTimeout => "http_header_timeout",
        /// An idle keep-alive connection closed after `http_idle_timeout`.
        HttpIdleTimeout => "http_idle_timeout",
        /// An HTTP body not in within `http_header_timeout`.
        HttpBodyTimeout => "http_body_timeout",
        /// An HTTP request over `max_http_request_size`.
        HttpRequestSize => "http_request_size",
        /// An identified nsqd silent past `producer_heartbeat_timeout`.
        ProducerHeartbeatTimeout => "producer_heartbeat_timeout",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// `ALL` holds each variant once, at its index, and no two variants
    /// share a label.
    macro_rules! check {
        ($name:ident) => {{
            let all = $name::ALL;
            assert_eq!(all.len(), $name::COUNT);
            for (i, v) in all.iter().enumerate() {
                assert_eq!(
                    v.index(),
                    i,
                    "{}::{v:?} is not at its index",
                    stringify!($name)
                );
            }
            let variants: HashSet<_> = all.iter().collect();
            assert_eq!(
                variants.len(),
                all.len(),
                "{} repeats a variant",
                stringify!($name)
            );
            let labels: HashSet<_> = all.iter().map(|v| v.label()).collect();
            assert_eq!(
                labels.len(),
                all.len(),
                "{} repeats a label",
                stringify!($name)
            );
        }};
    }

    #[test]
    fn every_variant_once_in_index_order() {
        check!(HttpRoute);
        check!(TcpCommand);
        check!(TcpError);
        check!(Bound);
        // The last variant's index bounds them all: a variant left out of
        // `ALL` would leave a gap or fall beyond its end.
        assert_eq!(HttpRoute::BadRequest.index(), HttpRoute::COUNT - 1);
        assert_eq!(TcpCommand::Invalid.index(), TcpCommand::COUNT - 1);
        assert_eq!(TcpError::BadProtocol.index(), TcpError::COUNT - 1);
        assert_eq!(Bound::ProducerHeartbeatTimeout.index(), Bound::COUNT - 1);
    }
}

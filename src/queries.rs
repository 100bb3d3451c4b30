//! What a running instance answers, for Rust hosts: the bodies of the
//! HTTP API's reads, and a wait for producers, without HTTP.
//!
//! [`Queries`] is cheap to clone and may be used from any thread, while
//! the instance runs and after it stops (answers then come from what is
//! left). Its waits are runtime-agnostic futures.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::instance::answers::TOPIC_NOT_FOUND;
use crate::instance::wait::WaitError;
use crate::instance::State;

/// The answers of one instance.
#[derive(Debug, Clone)]
pub struct Queries {
    state: Arc<State>,
}

/// Why a query has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The topic is not registered (HTTP's 404 `TOPIC_NOT_FOUND`).
    TopicNotFound,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueryError::TopicNotFound => "TOPIC_NOT_FOUND",
        })
    }
}

impl std::error::Error for QueryError {}

impl Queries {
    pub(crate) fn new(state: Arc<State>) -> Queries {
        Queries { state }
    }

    /// The body `GET /lookup?topic=` returns: the topic's channels and its
    /// active, untombstoned producers.
    pub fn lookup(&self, topic: &str) -> Result<Vec<u8>, QueryError> {
        self.state.lookup_json(topic.as_bytes()).map_err(|e| {
            debug_assert_eq!(e, TOPIC_NOT_FOUND);
            QueryError::TopicNotFound
        })
    }

    /// The body of `GET /topics`.
    pub fn topics(&self) -> Vec<u8> {
        self.state.topics_json().to_vec()
    }

    /// The body of `GET /channels?topic=`.
    pub fn channels(&self, topic: &str) -> Vec<u8> {
        self.state.channels_json(topic.as_bytes())
    }

    /// The body of `GET /nodes`.
    pub fn nodes(&self) -> Vec<u8> {
        self.state.nodes_json()
    }

    /// How many waits for producers are blocked now (begun, not answered at
    /// their first look, not ended): a host stopping the instance, or a
    /// test, knows from it that its waiters are in place.
    pub fn waiting(&self) -> usize {
        self.state.waiting()
    }

    /// Resolves to the body of `GET /lookup?topic=` as soon as it lists at
    /// least `min` producers; woken by registry changes, never by polling.
    /// Runs under any executor; it has no time limit of its own (see
    /// [`Queries::wait_lookup_for`]).
    pub fn wait_lookup(
        &self,
        topic: &str,
        min: usize,
    ) -> impl Future<Output = Result<Vec<u8>, WaitError>> + Send + 'static {
        let (state, topic) = (self.state.clone(), topic.to_owned());
        async move { state.wait_lookup(topic.as_bytes(), min).await }
    }

    /// [`Queries::wait_lookup`] within `timeout` ([`WaitError::Timeout`]
    /// after it; a zero timeout looks once).
    pub fn wait_lookup_for(
        &self,
        topic: &str,
        min: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, WaitError>> + Send + 'static {
        let (state, topic) = (self.state.clone(), topic.to_owned());
        async move {
            state
                .wait_lookup_for(topic.as_bytes(), min, timeout, std::future::pending())
                .await
        }
    }
}

//! Server-sent event streams, and how they reach the client.
//!
//! A stream sends an event at once and then one every [`INTERVAL`] for as long as the client stays
//! connected. Every event carries the SSE `retry` field set to the same interval, so a client whose
//! connection ends (a proxy's timeout, a buffered transport, a network change) reconnects on the
//! same rhythm: `EventSource` does so by itself.
//!
//! Most streams use axum's [`Sse`](axum::response::sse::Sse), which formats every event into a
//! buffer of its own. A stream whose events are large and the same for every client (an event's
//! availability, 1.8 MB for 20,000 seats) instead sends events formatted once and shared
//! ([`Formatted`], [`stream`]): a probe's thousand streams that read nothing held a copy each,
//! 3.8 MB apiece. What a client that stops reading may still cost is bounded by the server
//! (`server::Limits::write_timeout`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

/// Time between two events of a stream, and the reconnection delay every event asks for.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The longest a queue status stream lasts before it ends, its client reconnecting after the
/// `retry` its events carry: under the 60 s timeout of the Lambda function that streams it, so a
/// long wait is a series of clean streams rather than an invocation cut off (an error, and an
/// alarm, for every person still waiting a minute on). Nothing is lost by ending: every event
/// is the whole status.
pub const STREAM_FOR: Duration = Duration::from_secs(50);

/// How long a stream lasts, when a request carries another bound than [`STREAM_FOR`] (a test's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFor(pub Duration);

impl Default for StreamFor {
    fn default() -> Self {
        Self(STREAM_FOR)
    }
}

/// `events` until `bound` has gone by.
pub fn for_a_while<S: Stream>(
    events: S,
    StreamFor(bound): StreamFor,
) -> impl Stream<Item = S::Item> {
    events.take_until(tokio::time::sleep(bound))
}

/// How the responses of this process travel to the client.
///
/// A Lambda function behind API Gateway's HTTP API is [`Delivery::Buffered`]: the gateway sends
/// nothing until the function returns, so an endless stream would never arrive (and would end in
/// the function's timeout). There a stream sends its first event and ends, and the event's
/// `retry` field brings the client back for the next one after [`INTERVAL`]. The embedded server
/// and the container stream ([`Delivery::Streamed`], the default when the request carries no
/// [`Delivery`] extension).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    #[default]
    Streamed,
    Buffered,
}

/// One server-sent event, formatted once, as the bytes of the stream: cloning it (or the
/// [`Bytes`] it becomes) shares the formatted event, whatever its size.
#[derive(Debug, Clone)]
pub struct Formatted(Arc<Vec<u8>>);

impl Formatted {
    /// The event `name` with `data` and the stream's `retry`, laid out exactly as axum's
    /// [`Event`](axum::response::sse::Event) writes `.event(name).data(data).retry(INTERVAL)`.
    ///
    /// `data` must be one line: compact JSON is (serde_json escapes the control characters of
    /// its strings and writes no whitespace between tokens).
    pub fn new(name: &str, data: &[u8]) -> Self {
        debug_assert!(
            !data.iter().any(|b| matches!(b, b'\n' | b'\r')),
            "SSE data of one line"
        );
        let retry = INTERVAL.as_millis().to_string();
        let mut bytes = Vec::with_capacity(name.len() + data.len() + retry.len() + 24);
        for part in [
            b"event: ",
            name.as_bytes(),
            b"\ndata: ",
            data,
            b"\nretry: ",
            retry.as_bytes(),
            b"\n\n",
        ] {
            bytes.extend_from_slice(part);
        }
        Self(Arc::new(bytes))
    }

    /// Whether `self` and `other` are one formatted event, not two equal ones.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A handle on the same event that does not keep it alive (for a cache of events in flight).
    pub fn downgrade(&self) -> std::sync::Weak<Vec<u8>> {
        Arc::downgrade(&self.0)
    }

    /// The event back from a [`Formatted::downgrade`] handle, while some stream still holds it.
    pub fn upgrade(weak: &std::sync::Weak<Vec<u8>>) -> Option<Self> {
        weak.upgrade().map(Self)
    }
}

impl AsRef<[u8]> for Formatted {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Formatted> for Bytes {
    /// The event's own bytes, not a copy: every stream sending it points at one allocation.
    fn from(event: Formatted) -> Self {
        Bytes::from_owner(event)
    }
}

/// A response streaming `events` as server-sent events, with the headers axum's
/// [`Sse`](axum::response::sse::Sse) sends (`text/event-stream`, `no-cache`). Each event is one
/// chunk of the body, handed to the connection as is. No keep-alive comments: the streams built
/// on this send an event (or an `error` event) every [`INTERVAL`].
pub fn stream(events: impl Stream<Item = Formatted> + Send + 'static) -> Response {
    let body = Body::from_stream(events.map(|event| Ok::<_, Infallible>(Bytes::from(event))));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared layout is byte for byte what the axum events it replaces sent.
    #[tokio::test]
    async fn a_formatted_event_is_what_axum_would_have_sent() {
        use axum::response::sse::{Event, Sse};
        let data = r#"{"event_id":"evt_demo","total":120}"#;
        let event = Event::default()
            .event("availability")
            .data(data)
            .retry(INTERVAL);
        let axum = Sse::new(futures::stream::iter([Ok::<_, Infallible>(event)])).into_response();
        let expected = axum::body::to_bytes(axum.into_body(), usize::MAX)
            .await
            .unwrap();
        let formatted = Formatted::new("availability", data.as_bytes());
        assert_eq!(formatted.as_ref(), &expected[..]);
    }
}

//! Server-sent event streams, and how they reach the client.
//!
//! A stream sends an event at once and then one every [`INTERVAL`] for as long as the client stays
//! connected. Every event carries the SSE `retry` field set to the same interval, so a client whose
//! connection ends (a proxy's timeout, a buffered transport, a network change) reconnects on the
//! same rhythm: `EventSource` does so by itself.

use std::time::Duration;

/// Time between two events of a stream, and the reconnection delay every event asks for.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The longest a queue status stream lasts before it ends, its client reconnecting after the
/// `retry` its events carry: under the 60 s timeout of the Lambda function that streams it, so a
/// long wait is a series of clean streams rather than an invocation cut off (an error, and an
/// alarm, for every person still waiting a minute on). Nothing is lost by ending: every event
/// is the whole status.
pub const STREAM_FOR: Duration = Duration::from_secs(50);

/// `events` until [`STREAM_FOR`] has gone by.
pub fn for_a_while<S: futures::Stream>(events: S) -> impl futures::Stream<Item = S::Item> {
    use futures::StreamExt;
    let end = tokio::time::sleep(STREAM_FOR);
    events.take_until(end)
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

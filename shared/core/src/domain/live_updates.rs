//! Live updates: seat availability and queue position pushed to connected browsers.
//!
//! A browser connects with an event id and, while it waits in line, its waiting token. About
//! every [`PUSH_EVERY`] it is sent JSON text frames (the protocol of the WebSocket API):
//!
//! * `{"type":"availability","data":…}`: the event's availability, as
//!   `GET /api/v1/events/{id}/availability` answers it;
//! * `{"type":"queue","data":…}`: the token's queue status, as `GET /api/v1/queue/status`;
//! * `{"type":"error","code":…}`: the event or the token no longer exists (the contract's error
//!   code); the server then closes the connection.
//!
//! # One read per event, one per token, whatever the connections
//! A [`tick`](LiveUpdates::tick) lists the live connections once, reads each event's availability
//! once and each distinct token's status once, serialises each frame once, and only then fans
//! the frames out to the connections (a bounded number of sends in flight). Ten thousand browsers
//! watching one on-sale cost one availability read and one frame per tick, plus the status of
//! those in line, which each of them would otherwise poll.
//!
//! # Failures
//! A connection the transport reports [`Delivery::Gone`] (API Gateway's 410) is removed from the
//! registry; one that the registry still lists after API Gateway dropped it without a
//! `$disconnect` is thus forgotten at the next tick. A read that fails for now (store throttled)
//! skips that frame for this tick: the browser keeps what it showed and gets the next one.
//! Every step is safe to repeat: two pushers running at once only send frames twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::availability::{Availability, AvailabilityBoard};
use super::catalog::Catalog;
use super::queue::{QueueStatus, WaitingRoom};
use crate::error::{Error, Result};
use crate::ids::{EventId, WaitingToken};
use crate::ports::connections::{Connection, ConnectionId, ConnectionRegistry};
use crate::ports::pusher::{Delivery, Pusher};
use crate::ports::Clock;

/// How often each connection is sent its frames.
pub const PUSH_EVERY: Duration = Duration::from_secs(2);
/// How long a registered connection is kept without a disconnect, in seconds: API Gateway closes
/// every WebSocket connection after two hours, plus a margin for its `$disconnect` to arrive.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 300;
/// Availability reads in flight at once (one per event with connections).
const EVENT_READS_IN_FLIGHT: usize = 8;
/// Queue status reads in flight at once (one per distinct token).
const STATUS_READS_IN_FLIGHT: usize = 32;
/// Frames in flight at once (each a `PostToConnection` in AWS, ~10–30 ms).
const SENDS_IN_FLIGHT: usize = 64;

/// What a browser asks for when it connects (the query string of the WebSocket URL).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectRequest {
    pub event_id: Option<String>,
    pub token: Option<String>,
}

/// One text frame of the protocol.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame<'a> {
    Availability { data: &'a Availability },
    Queue { data: &'a QueueStatus },
    Error { code: &'a str },
}

impl Frame<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }
}

/// What one read produced for the connections that need it.
#[derive(Debug, Clone)]
enum Update {
    /// A frame to send.
    Frame(Arc<str>),
    /// Nothing this tick (the read failed for now).
    Skip,
    /// The event or token is gone: send this error frame, then close.
    Fatal(Arc<str>),
}

impl Update {
    fn of<T>(read: Result<T>, frame: impl FnOnce(&T) -> Frame<'_>) -> Self {
        match read {
            Ok(value) => Self::Frame(frame(&value).to_json().into()),
            Err(error) if error.status() < 500 => {
                Self::Fatal(Frame::Error { code: error.code() }.to_json().into())
            }
            Err(error) => {
                tracing::warn!(%error, "live update skipped this tick");
                Self::Skip
            }
        }
    }
}

/// What a tick did, for logs and metrics. Summed over ticks ([`AddAssign`](std::ops::AddAssign)),
/// the counts of connections, events and tokens are the most any one tick saw; frames and
/// outcomes add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Live connections listed.
    pub connections: usize,
    /// Events whose availability was read.
    pub events: usize,
    /// Distinct tokens whose status was read.
    pub tokens: usize,
    /// Frames handed to the transport.
    pub sent: usize,
    /// Connections found gone and removed.
    pub gone: usize,
    /// Connections closed after an error frame.
    pub closed: usize,
    /// Sends or removals that failed for now.
    pub failed: usize,
}

impl std::ops::AddAssign for TickReport {
    fn add_assign(&mut self, other: Self) {
        self.connections = self.connections.max(other.connections);
        self.events = self.events.max(other.events);
        self.tokens = self.tokens.max(other.tokens);
        self.sent += other.sent;
        self.gone += other.gone;
        self.closed += other.closed;
        self.failed += other.failed;
    }
}

/// What happened to one connection in a tick.
enum Outcome {
    Sent(usize),
    Gone,
    Closed,
    Failed,
}

impl TickReport {
    /// Counts what happened to one connection.
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent(n) => self.sent += n,
            Outcome::Gone => self.gone += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// The items, sorted, each once.
fn distinct<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// Live updates over a connection registry and a pusher.
#[derive(Clone)]
pub struct LiveUpdates {
    catalog: Catalog,
    availability: AvailabilityBoard,
    queue: WaitingRoom,
    clock: Arc<dyn Clock>,
    registry: Arc<dyn ConnectionRegistry>,
    pusher: Arc<dyn Pusher>,
}

impl LiveUpdates {
    /// Live updates of `catalog`'s events (their `availability`) and `queue`'s statuses, to the
    /// connections of `registry`, through `pusher`.
    pub fn new(
        catalog: Catalog,
        availability: AvailabilityBoard,
        queue: WaitingRoom,
        clock: Arc<dyn Clock>,
        registry: Arc<dyn ConnectionRegistry>,
        pusher: Arc<dyn Pusher>,
    ) -> Self {
        Self {
            catalog,
            availability,
            queue,
            clock,
            registry,
            pusher,
        }
    }

    /// Accepts connection `id` if its event exists and its token (if any) is a waiting token of
    /// that event, and registers it. Registering the same id again replaces the record.
    ///
    /// Errors: [`Error::MissingEventId`], [`Error::EventNotFound`] (also for a malformed id),
    /// [`Error::TokenNotFound`] (malformed, unknown, or of another event), or
    /// [`Error::Unavailable`].
    pub async fn connect(&self, id: ConnectionId, request: &ConnectRequest) -> Result<Connection> {
        let raw = request
            .event_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or(Error::MissingEventId)?;
        let event_id: EventId = raw.parse().map_err(|_| Error::EventNotFound)?;
        self.catalog.get(&event_id).await?;
        let token = match request.token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let token: WaitingToken = raw.parse().map_err(|_| Error::TokenNotFound)?;
                if self.queue.status(&token).await?.event_id != event_id {
                    return Err(Error::TokenNotFound);
                }
                Some(token)
            }
        };
        let now = self.clock.now();
        let connection = Connection {
            id,
            event_id,
            token,
            connected_at: now,
            expires_at: now + chrono::Duration::seconds(CONNECTION_TTL_SECS),
        };
        self.registry.register(&connection).await?;
        Ok(connection)
    }

    /// Forgets connection `id` (a disconnect; repeating it is fine).
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<()> {
        Ok(self.registry.remove(id).await?)
    }

    /// The connections live now.
    pub async fn connections(&self) -> Result<Vec<Connection>> {
        Ok(self.registry.live(self.clock.now()).await?)
    }

    /// Sends every live connection its frames once. Fails only when the registry cannot be read.
    pub async fn tick(&self) -> Result<TickReport> {
        let connections = self.connections().await?;
        // Owned ids and connections below: a future borrowing its stream's items is not `Send`
        // for every lifetime, and the pusher runs on spawned tasks.
        let events = distinct(connections.iter().map(|c| c.event_id.clone()));
        let tokens = distinct(connections.iter().filter_map(|c| c.token.clone()));
        let mut report = TickReport {
            connections: connections.len(),
            events: events.len(),
            tokens: tokens.len(),
            ..TickReport::default()
        };
        let availability = self.availability_updates(events).await;
        let statuses = self.status_updates(tokens).await;
        let outcomes: Vec<Outcome> = stream::iter(connections)
            .map(|connection| {
                let mut updates = vec![availability[&connection.event_id].clone()];
                if let Some(token) = &connection.token {
                    updates.push(statuses[token].clone());
                }
                self.deliver(connection.id, updates)
            })
            .buffer_unordered(SENDS_IN_FLIGHT)
            .collect()
            .await;
        for outcome in outcomes {
            report.count(outcome);
        }
        Ok(report)
    }

    /// Each event's availability frame, read and serialised once for all its connections.
    async fn availability_updates(&self, events: Vec<EventId>) -> HashMap<EventId, Update> {
        stream::iter(events)
            .map(|event| async move {
                let read = self.availability.read(&event).await;
                let update = Update::of(read, |a| Frame::Availability { data: a });
                (event, update)
            })
            .buffer_unordered(EVENT_READS_IN_FLIGHT)
            .collect()
            .await
    }

    /// Each token's queue status frame, read and serialised once for all its connections.
    async fn status_updates(&self, tokens: Vec<WaitingToken>) -> HashMap<WaitingToken, Update> {
        stream::iter(tokens)
            .map(|token| async move {
                let read = self.queue.status(&token).await;
                let update = Update::of(read, |s| Frame::Queue { data: s });
                (token, update)
            })
            .buffer_unordered(STATUS_READS_IN_FLIGHT)
            .collect()
            .await
    }

    /// Sends one connection its updates, in order; forgets it when gone, closes it after an error.
    async fn deliver(&self, id: ConnectionId, updates: Vec<Update>) -> Outcome {
        if let Some(error) = updates.iter().find_map(|u| match u {
            Update::Fatal(frame) => Some(frame),
            _ => None,
        }) {
            // Best effort: the browser may be gone already; either way it is forgotten.
            let _ = self.pusher.send(&id, error).await;
            let closed = self.pusher.close(&id).await;
            return match (closed, self.registry.remove(&id).await) {
                (Ok(()), Ok(())) => Outcome::Closed,
                _ => Outcome::Failed,
            };
        }
        let mut sent = 0;
        for update in updates {
            let Update::Frame(frame) = &update else {
                continue;
            };
            match self.pusher.send(&id, frame).await {
                Ok(Delivery::Sent) => sent += 1,
                Ok(Delivery::Gone) => {
                    return match self.registry.remove(&id).await {
                        Ok(()) => Outcome::Gone,
                        Err(error) => {
                            tracing::warn!(connection = %id, %error, "gone connection not removed");
                            Outcome::Failed
                        }
                    };
                }
                Err(error) => {
                    tracing::warn!(connection = %id, %error, "frame not sent");
                    return Outcome::Failed;
                }
            }
        }
        Outcome::Sent(sent)
    }

    /// Ticks every [`PUSH_EVERY`] until `deadline`, and sums what the ticks did. A tick is only
    /// started with at least half a period left before the deadline, and no time is spent
    /// waiting for one that will not start. A tick that could not read the registry is logged
    /// and counted as failed; the next one tries again. A tick slower than the period delays the
    /// next rather than crowding it.
    pub async fn run_until(&self, deadline: tokio::time::Instant) -> TickReport {
        let mut total = TickReport::default();
        let mut next = tokio::time::Instant::now();
        while next + PUSH_EVERY / 2 <= deadline {
            tokio::time::sleep_until(next).await;
            match self.tick().await {
                Ok(report) => {
                    tracing::debug!(?report, "live tick");
                    total += report;
                }
                Err(error) => {
                    tracing::warn!(%error, "live tick failed");
                    total.failed += 1;
                }
            }
            next = (next + PUSH_EVERY).max(tokio::time::Instant::now());
        }
        total
    }
}

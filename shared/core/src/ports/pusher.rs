//! How a frame reaches a live connection: the [`Pusher`] port.
//!
//! In AWS, `ws-push` sends frames with API Gateway's `PostToConnection`; in process, a channel per
//! connection feeds the embedded server's WebSocket. A connection that no longer exists is reported
//! as [`Delivery::Gone`] so the registry forgets it.
//!
//! A frame is an `Arc<str>`: a tick serialises each frame once and hands every connection that
//! needs it the same allocation, so a transport that keeps frames (the in-process channels)
//! holds one copy however many connections wait for it.

use std::sync::Arc;

use async_trait::async_trait;

use super::connections::ConnectionId;

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the connection.
    Sent,
    /// The connection no longer exists (API Gateway's `GoneException`, HTTP 410; a closed
    /// channel): forget it.
    Gone,
}

/// The transport failed for now (throttled, unreachable); the connection may still be there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("push unavailable: {0}")]
pub struct PushError(pub String);

/// Sends text frames to connections.
#[async_trait]
pub trait Pusher: Send + Sync + 'static {
    /// Sends one text frame to `id`. The frame is shared: a transport that keeps it keeps a
    /// clone of the `Arc`, never a copy of the text.
    async fn send(&self, id: &ConnectionId, frame: &Arc<str>) -> Result<Delivery, PushError>;

    /// Closes the connection from the server's side; one already gone is fine.
    async fn close(&self, id: &ConnectionId) -> Result<(), PushError>;
}

//! [`Pusher`] in process: a channel per connection.
//!
//! [`MemoryPusher`] is the transport of an in-process WebSocket (or a test): whoever accepts a
//! connection [`attach`](MemoryPusher::attach)es it and forwards what the receiver yields to the
//! socket. Dropping the receiver is the socket going away: the next frame is
//! [`Delivery::Gone`], as API Gateway answers 410 for a connection whose browser left.
//!
//! Each channel holds at most [`FRAMES_BEHIND`] frames. A client that stops reading (or reads
//! slower than the frames come) is dropped once it is that far behind, its frames with it, rather
//! than kept: a hostile client's probe held three sockets to a 20,000-seat event's updates
//! (1.8 MB a frame) without reading, and the server grew by 0.9 MB a second per socket, for as
//! long as it cared to. Every frame is the whole current state, so a client that reconnects has
//! lost nothing.
//!
//! The channels hold the tick's own frame, an `Arc<str>` cloned by reference: a 1.8 MB frame
//! waiting for three hundred sockets is 1.8 MB, not 540 MB (a probe's three hundred idle sockets
//! each held their own copies, 9.5 MB apiece, before frames were shared). What the socket does
//! with a frame it cannot write is the socket's bound (`tacos_http::live_socket`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::ports::connections::ConnectionId;
use crate::ports::pusher::{Delivery, PushError, Pusher};

/// How many frames a connection may have waiting for its socket before it is dropped: two
/// ticks (4 s) of an event's availability and a waiting token's status.
pub const FRAMES_BEHIND: usize = 4;

/// [`Pusher`] over one bounded channel per attached connection.
#[derive(Debug, Default)]
pub struct MemoryPusher {
    channels: Mutex<HashMap<ConnectionId, mpsc::Sender<Arc<str>>>>,
}

impl MemoryPusher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens connection `id`: the frames sent to it arrive on the receiver until it is dropped,
    /// the connection is closed, or [`FRAMES_BEHIND`] frames wait unread (the receiver then yields
    /// the frames it holds, then `None`).
    pub fn attach(&self, id: ConnectionId) -> mpsc::Receiver<Arc<str>> {
        let (tx, rx) = mpsc::channel(FRAMES_BEHIND);
        self.channels.lock().insert(id, tx);
        rx
    }
}

#[async_trait]
impl Pusher for MemoryPusher {
    async fn send(&self, id: &ConnectionId, frame: &Arc<str>) -> Result<Delivery, PushError> {
        let mut channels = self.channels.lock();
        // The frame itself, by reference: every connection of a tick holds the same one.
        let delivered = channels.get(id).map(|tx| tx.try_send(Arc::clone(frame)));
        match delivered {
            Some(Ok(())) => Ok(Delivery::Sent),
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                // Too far behind: dropped as a browser that left is (its socket is closed once
                // it has read what it holds).
                tracing::info!(connection = %id, "live connection dropped: {FRAMES_BEHIND} frames unread");
                channels.remove(id);
                Ok(Delivery::Gone)
            }
            Some(Err(mpsc::error::TrySendError::Closed(_))) | None => {
                channels.remove(id);
                Ok(Delivery::Gone)
            }
        }
    }

    async fn close(&self, id: &ConnectionId) -> Result<(), PushError> {
        self.channels.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fix of a probe's 9.5 MB per idle socket: frames waiting for many connections are one
    /// allocation, not one copy each.
    #[tokio::test]
    async fn connections_waiting_for_a_frame_share_it() {
        let pusher = MemoryPusher::new();
        let ids: Vec<ConnectionId> = (0..3).map(|_| ConnectionId::generate()).collect();
        let mut receivers: Vec<_> = ids.iter().map(|id| pusher.attach(id.clone())).collect();
        let frame: Arc<str> = Arc::from(r#"{"type":"availability","data":{}}"#);
        for id in &ids {
            assert_eq!(pusher.send(id, &frame).await, Ok(Delivery::Sent));
        }
        for rx in &mut receivers {
            let held = rx.try_recv().expect("the frame is waiting");
            assert!(
                Arc::ptr_eq(&held, &frame),
                "the tick's frame itself, not a copy"
            );
        }
        assert_eq!(Arc::strong_count(&frame), 1, "and nothing else keeps it");
    }
}

//! [`Pusher`] in process: a channel per connection.
//!
//! [`MemoryPusher`] is the transport of an in-process WebSocket (or a test): whoever accepts a
//! connection [`attach`](MemoryPusher::attach)es it and forwards what the receiver yields to the
//! socket. Dropping the receiver is the socket going away: the next frame is
//! [`Delivery::Gone`], as API Gateway answers 410 for a connection whose browser left.

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::ports::connections::ConnectionId;
use crate::ports::pusher::{Delivery, PushError, Pusher};

/// [`Pusher`] over one unbounded channel per attached connection.
#[derive(Debug, Default)]
pub struct MemoryPusher {
    channels: Mutex<HashMap<ConnectionId, mpsc::UnboundedSender<String>>>,
}

impl MemoryPusher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens connection `id`: the frames sent to it arrive on the receiver until it is dropped or
    /// the connection is closed (the receiver then yields `None`).
    pub fn attach(&self, id: ConnectionId) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.channels.lock().insert(id, tx);
        rx
    }
}

#[async_trait]
impl Pusher for MemoryPusher {
    async fn send(&self, id: &ConnectionId, frame: &str) -> Result<Delivery, PushError> {
        let mut channels = self.channels.lock();
        let delivered = channels
            .get(id)
            .is_some_and(|tx| tx.send(frame.to_string()).is_ok());
        if delivered {
            Ok(Delivery::Sent)
        } else {
            channels.remove(id);
            Ok(Delivery::Gone)
        }
    }

    async fn close(&self, id: &ConnectionId) -> Result<(), PushError> {
        self.channels.lock().remove(id);
        Ok(())
    }
}

//! [`ConnectionRegistry`] in memory: a map of connections, expired ones dropped when listed.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::ports::connections::{Connection, ConnectionId, ConnectionRegistry, RegistryError};

/// [`ConnectionRegistry`] in memory.
#[derive(Debug, Default)]
pub struct MemoryConnections {
    connections: Mutex<HashMap<ConnectionId, Connection>>,
}

impl MemoryConnections {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ConnectionRegistry for MemoryConnections {
    async fn register(&self, connection: &Connection) -> Result<(), RegistryError> {
        self.connections
            .lock()
            .insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), RegistryError> {
        self.connections.lock().remove(id);
        Ok(())
    }

    async fn live(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, RegistryError> {
        let mut connections = self.connections.lock();
        // What DynamoDB's TTL does eventually, done at once: expired connections are dropped.
        connections.retain(|_, c| c.expires_at > now);
        Ok(connections.values().cloned().collect())
    }
}

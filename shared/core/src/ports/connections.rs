//! Which browsers are connected for live updates: the [`ConnectionRegistry`] port.
//!
//! In AWS a connection is an API Gateway WebSocket API connection: the `ws-connect` function
//! registers it (a DynamoDB item with a TTL) and `ws-disconnect` removes it; in process the
//! registry is a map. The domain ([`crate::domain::live_updates`]) lists connections and forgets
//! those the [`Pusher`](super::pusher::Pusher) reports gone. One conformance suite
//! (`conformance::connections`) runs against every adapter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, WaitingToken};

/// The identifier the transport gives a connection (API Gateway's `connectionId`, e.g.
/// `L0SM9cOFvHcCIhw=`). Opaque, but checked at the edge: it becomes part of a storage key and of a
/// URL path, so only the characters such ids are made of are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

/// A string that cannot be a connection id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a connection id")]
pub struct InvalidConnectionId(pub String);

impl ConnectionId {
    /// Longest id accepted (API Gateway's are 16 characters).
    pub const MAX_LEN: usize = 128;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh random id, for transports that do not name connections themselves.
    pub fn generate() -> Self {
        Self(crate::ids::random_hex())
    }
}

impl std::str::FromStr for ConnectionId {
    type Err = InvalidConnectionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-' | b'+'));
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidConnectionId(s.chars().take(80).collect()))
        }
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = InvalidConnectionId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A live connection: what its browser watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    /// The event whose availability it is sent.
    pub event_id: EventId,
    /// The waiting token whose queue status it is sent, when it gave one.
    pub token: Option<WaitingToken>,
    pub connected_at: DateTime<Utc>,
    /// When the registry may forget it even if no disconnect arrives (API Gateway closes every
    /// connection after two hours; a lost `$disconnect` must not leave it pushed forever).
    pub expires_at: DateTime<Utc>,
}

/// The registry could not be reached or refused the work for now; nothing is known to have
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection registry unavailable: {0}")]
pub struct RegistryError(pub String);

/// The store of live connections. Every operation is safe to repeat.
#[async_trait]
pub trait ConnectionRegistry: Send + Sync + 'static {
    /// Records `connection`, replacing any record of the same id.
    async fn register(&self, connection: &Connection) -> Result<(), RegistryError>;

    /// Forgets a connection; one that is not registered is fine.
    async fn remove(&self, id: &ConnectionId) -> Result<(), RegistryError>;

    /// Every connection that has not expired at `now`, in no particular order.
    async fn live(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, RegistryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_checked() {
        for good in ["L0SM9cOFvHcCIhw=", "AAAA1234=", "a-b_c+d"] {
            assert_eq!(good.parse::<ConnectionId>().unwrap().as_str(), good);
        }
        let long = "a".repeat(ConnectionId::MAX_LEN + 1);
        for bad in ["", "a/b", "a b", "a?b", "../x", long.as_str()] {
            assert!(bad.parse::<ConnectionId>().is_err(), "{bad:?} accepted");
        }
    }
}

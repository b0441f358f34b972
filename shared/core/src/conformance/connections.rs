//! The live-update ports' conformance suite: what every [`ConnectionRegistry`] and [`Pusher`]
//! adapter must do, run against the in-process adapters and against DynamoDB and the API Gateway
//! management API on moto by the `tests/` crate.
//!
//! Each check uses fresh event ids and connection ids, so the suite can share a table with other
//! tests (a registry lists every connection; the checks look only at their own).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};

use crate::ids::{EventId, WaitingToken};
use crate::ports::connections::{Connection, ConnectionId, ConnectionRegistry};
use crate::ports::pusher::{Delivery, Pusher};

fn connection(event_id: &EventId, token: Option<WaitingToken>) -> Connection {
    let now = Utc::now();
    Connection {
        id: ConnectionId::generate(),
        event_id: event_id.clone(),
        token,
        // Whole milliseconds: what every adapter can store.
        connected_at: chrono::DateTime::from_timestamp_millis(now.timestamp_millis())
            .expect("in range"),
        expires_at: chrono::DateTime::from_timestamp(now.timestamp() + 3600, 0).expect("in range"),
    }
}

async fn listed(registry: &dyn ConnectionRegistry, event_ids: &[&EventId]) -> Vec<Connection> {
    let mut found: Vec<Connection> = registry
        .live(Utc::now())
        .await
        .expect("live connections are listed")
        .into_iter()
        .filter(|c| event_ids.contains(&&c.event_id))
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// Runs every registry check; panics with the name of the first that fails.
pub async fn registry_conforms(registry: Arc<dyn ConnectionRegistry>) {
    registers_lists_and_removes(&*registry).await;
    registering_again_replaces(&*registry).await;
    expired_connections_are_not_listed(&*registry).await;
    every_connection_is_listed(&*registry).await;
}

pub async fn registers_lists_and_removes(registry: &dyn ConnectionRegistry) {
    let event = EventId::generate();
    let watcher = connection(&event, None);
    let waiting = connection(&event, Some(WaitingToken::generate()));
    registry.register(&watcher).await.unwrap();
    registry.register(&waiting).await.unwrap();
    let mut both = vec![watcher.clone(), waiting.clone()];
    both.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        listed(registry, &[&event]).await,
        both,
        "registered connections are listed exactly as registered, with and without a token"
    );
    registry.remove(&watcher.id).await.unwrap();
    assert_eq!(
        listed(registry, &[&event]).await,
        vec![waiting.clone()],
        "a removed connection is no longer listed"
    );
    registry
        .remove(&watcher.id)
        .await
        .expect("removing it again is fine");
    registry
        .remove(&ConnectionId::generate())
        .await
        .expect("removing an unknown connection is fine");
    registry.remove(&waiting.id).await.unwrap();
    assert!(listed(registry, &[&event]).await.is_empty());
}

pub async fn registering_again_replaces(registry: &dyn ConnectionRegistry) {
    let event = EventId::generate();
    let first = connection(&event, None);
    registry.register(&first).await.unwrap();
    let again = Connection {
        token: Some(WaitingToken::generate()),
        ..first.clone()
    };
    registry.register(&again).await.unwrap();
    assert_eq!(
        listed(registry, &[&event]).await,
        vec![again.clone()],
        "registering an id again replaces its record"
    );
    registry.remove(&again.id).await.unwrap();
}

pub async fn expired_connections_are_not_listed(registry: &dyn ConnectionRegistry) {
    let event = EventId::generate();
    let stale = Connection {
        expires_at: chrono::DateTime::from_timestamp(Utc::now().timestamp() - 1, 0).unwrap(),
        ..connection(&event, None)
    };
    registry.register(&stale).await.unwrap();
    assert!(
        listed(registry, &[&event]).await.is_empty(),
        "a connection past its expiry is not live, whether or not its record is gone yet"
    );
    let fresh = connection(&event, None);
    registry.register(&fresh).await.unwrap();
    let later = registry
        .live(Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert!(
        later.iter().all(|c| c.id != fresh.id),
        "expiry is judged at the instant asked about"
    );
    registry.remove(&stale.id).await.unwrap();
    registry.remove(&fresh.id).await.unwrap();
}

pub async fn every_connection_is_listed(registry: &dyn ConnectionRegistry) {
    let events = [EventId::generate(), EventId::generate()];
    let mut registered = HashSet::new();
    for i in 0..60 {
        let c = connection(&events[i % 2], (i % 3 == 0).then(WaitingToken::generate));
        registry.register(&c).await.unwrap();
        registered.insert(c.id);
    }
    let found: HashSet<ConnectionId> = listed(registry, &[&events[0], &events[1]])
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        found, registered,
        "every connection of every event is listed"
    );
    for id in registered {
        registry.remove(&id).await.unwrap();
    }
}

/// What the pusher suite needs from a transport besides the pusher itself.
#[async_trait]
pub trait PusherHarness: Send + Sync {
    fn pusher(&self) -> Arc<dyn Pusher>;
    /// A connection that is open now.
    async fn open(&self) -> ConnectionId;
    /// The frames `id` has received so far, oldest first, when the transport lets a test see
    /// them (moto keeps them to itself).
    async fn received(&self, id: &ConnectionId) -> Option<Vec<String>>;
    /// A connection whose browser has gone away, when the transport can make one (moto accepts
    /// posts to any id and never answers 410).
    async fn gone(&self) -> Option<ConnectionId>;
}

/// Runs every pusher check; panics with the name of the first that fails.
pub async fn pusher_conforms(harness: &dyn PusherHarness) {
    let pusher = harness.pusher();
    let id = harness.open().await;
    let frames: [Arc<str>; 2] = [
        Arc::from(r#"{"type":"availability","data":{"n":1}}"#),
        Arc::from(r#"{"type":"queue","data":{}}"#),
    ];
    for frame in &frames {
        assert_eq!(
            pusher.send(&id, frame).await,
            Ok(Delivery::Sent),
            "a frame to an open connection is sent"
        );
    }
    if let Some(received) = harness.received(&id).await {
        assert_eq!(
            received,
            frames.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "frames arrive whole and in order"
        );
    }
    pusher.close(&id).await.expect("an open connection closes");
    pusher
        .close(&id)
        .await
        .expect("closing a closed connection is fine");

    if let Some(gone) = harness.gone().await {
        assert_eq!(
            pusher.send(&gone, &frames[0]).await,
            Ok(Delivery::Gone),
            "a frame to a connection that went away is reported gone, not an error"
        );
        pusher
            .close(&gone)
            .await
            .expect("closing a gone connection is fine");
    }
}

//! Live updates over the in-process adapters: the ports' conformance suite, connecting with and
//! without a waiting token, what a tick sends (and how little it reads), gone and closed
//! connections, and the WebSocket API's Lambda handlers fed real API Gateway event payloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::{json, Value};
use tacos_core::config::Config;
use tacos_core::conformance::connections::{pusher_conforms, registry_conforms, PusherHarness};
use tacos_core::domain::live_updates::{ConnectRequest, LiveUpdates, CONNECTION_TTL_SECS};
use tacos_core::error::Error;
use tacos_core::ids::{EventId, WaitingToken};
use tacos_core::in_process::pusher::FRAMES_BEHIND;
use tacos_core::in_process::{ports_over, MemoryConnections, MemoryPusher, MemoryStore};
use tacos_core::platform::Platform;
use tacos_core::ports::{Clock, SkRange, SystemClock};
use tacos_core::ports::{Connection, ConnectionId, ConnectionRegistry, Pusher};
use tacos_tests::watched_store::{Call, WatchedStore};
use tokio::sync::mpsc::Receiver;

use crate::world::World;

#[tokio::test]
async fn memory_connections_conform() {
    registry_conforms(Arc::new(MemoryConnections::new())).await;
}

struct MemoryHarness {
    pusher: Arc<MemoryPusher>,
    receivers: Mutex<HashMap<ConnectionId, Receiver<Arc<str>>>>,
}

#[async_trait]
impl PusherHarness for MemoryHarness {
    fn pusher(&self) -> Arc<dyn Pusher> {
        self.pusher.clone()
    }
    async fn open(&self) -> ConnectionId {
        let id = ConnectionId::generate();
        let rx = self.pusher.attach(id.clone());
        self.receivers.lock().unwrap().insert(id.clone(), rx);
        id
    }
    async fn received(&self, id: &ConnectionId) -> Option<Vec<String>> {
        let mut receivers = self.receivers.lock().unwrap();
        let rx = receivers.get_mut(id)?;
        Some(
            std::iter::from_fn(|| rx.try_recv().ok())
                .map(|frame| frame.to_string())
                .collect(),
        )
    }
    async fn gone(&self) -> Option<ConnectionId> {
        let id = ConnectionId::generate();
        drop(self.pusher.attach(id.clone()));
        Some(id)
    }
}

#[tokio::test]
async fn memory_pusher_conforms() {
    pusher_conforms(&MemoryHarness {
        pusher: Arc::new(MemoryPusher::new()),
        receivers: Mutex::default(),
    })
    .await;
}

/// The reads the live updates are meant to share, counted by partition as the in-process store
/// receives them ([`WatchedStore`]).
#[derive(Default)]
struct Counts {
    /// Queries of an event's seats (one per availability read).
    seat_queries: Mutex<HashMap<String, usize>>,
    /// Reads of a waiting ticket (one per queue status).
    ticket_reads: Mutex<HashMap<String, usize>>,
}

impl Counts {
    /// The in-process store, counting into `counts`.
    fn store(counts: Arc<Counts>) -> WatchedStore {
        WatchedStore::new(Arc::new(MemoryStore::new()), move |call| {
            match call {
                Call::Read(key) if key.pk.starts_with("WTKN#") => {
                    *counts
                        .ticket_reads
                        .lock()
                        .unwrap()
                        .entry(key.pk.clone())
                        .or_default() += 1;
                }
                Call::Query { pk, range }
                    if pk.starts_with("EVENT#") && *range == SkRange::prefix("SEAT#") =>
                {
                    *counts
                        .seat_queries
                        .lock()
                        .unwrap()
                        .entry(pk.to_string())
                        .or_default() += 1;
                }
                _ => {}
            }
            Ok(())
        })
    }
    fn seat_queries(&self, event: &EventId) -> usize {
        let pk = format!("EVENT#{event}");
        self.seat_queries
            .lock()
            .unwrap()
            .get(&pk)
            .copied()
            .unwrap_or(0)
    }
    fn ticket_reads(&self, token: &WaitingToken) -> usize {
        let pk = format!("WTKN#{token}");
        self.ticket_reads
            .lock()
            .unwrap()
            .get(&pk)
            .copied()
            .unwrap_or(0)
    }
    fn reset(&self) {
        self.seat_queries.lock().unwrap().clear();
        self.ticket_reads.lock().unwrap().clear();
    }
}

/// A platform with live updates over the in-process adapters, and a browser per connection.
struct Live {
    platform: Arc<Platform>,
    counts: Arc<Counts>,
    registry: Arc<MemoryConnections>,
    pusher: Arc<MemoryPusher>,
    live: LiveUpdates,
}

impl Live {
    fn new() -> Self {
        let counts = Arc::new(Counts::default());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let platform = Arc::new(Platform::new(
            ports_over(Arc::new(Counts::store(counts.clone())), clock),
            Config::for_tests(),
        ));
        let registry = Arc::new(MemoryConnections::new());
        let pusher = Arc::new(MemoryPusher::new());
        let live = platform.live_updates(registry.clone(), pusher.clone());
        Self {
            platform,
            counts,
            registry,
            pusher,
            live,
        }
    }

    async fn event(&self, seats: u32) -> EventId {
        let world_event = tacos_core::domain::catalog::NewEvent {
            name: "Live night".into(),
            venue: "Hall".into(),
            starts_at: chrono::Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 1_000,
            sections: Some(vec![tacos_core::domain::catalog::Section::straight(
                "A", 1, seats,
            )]),
            capacity: None,
            // Nobody is admitted while the tests look at positions.
            admission_rate_per_sec: 0.01,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        };
        self.platform
            .catalog
            .create(world_event)
            .await
            .unwrap()
            .event_id
    }

    async fn join(&self, event: &EventId) -> WaitingToken {
        self.platform
            .queue
            .join(event, None)
            .await
            .unwrap()
            .waiting_token
    }

    /// A browser: connected, and its end of the connection.
    async fn connect(
        &self,
        event: &EventId,
        token: Option<&WaitingToken>,
    ) -> (ConnectionId, Receiver<Arc<str>>) {
        let id = ConnectionId::generate();
        let rx = self.pusher.attach(id.clone());
        let request = ConnectRequest {
            event_id: Some(event.to_string()),
            token: token.map(ToString::to_string),
        };
        self.live.connect(id.clone(), &request).await.unwrap();
        (id, rx)
    }

    async fn registered(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<_> = self
            .registry
            .live(chrono::Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }
}

fn frames(rx: &mut Receiver<Arc<str>>) -> Vec<Value> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|frame| serde_json::from_str(&frame).expect("frames are JSON"))
        .collect()
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

#[tokio::test]
async fn connecting_checks_the_event_and_the_token() {
    let live = Live::new();
    let event = live.event(10).await;
    let other = live.event(10).await;
    let token = live.join(&event).await;
    let connect = |event_id: Option<&str>, token: Option<&str>| {
        let request = ConnectRequest {
            event_id: event_id.map(str::to_string),
            token: token.map(str::to_string),
        };
        let live = &live.live;
        async move { live.connect(ConnectionId::generate(), &request).await }
    };
    let event_id = event.to_string();
    let unknown_event = EventId::generate().to_string();
    let unknown_token = WaitingToken::generate().to_string();
    let other_event = other.to_string();
    assert_eq!(
        connect(None, None).await.unwrap_err(),
        Error::MissingEventId
    );
    assert_eq!(
        connect(Some(" "), None).await.unwrap_err(),
        Error::MissingEventId
    );
    assert_eq!(
        connect(Some(&unknown_event), None).await.unwrap_err(),
        Error::EventNotFound
    );
    assert_eq!(
        connect(Some("evt_../x"), None).await.unwrap_err(),
        Error::EventNotFound
    );
    assert_eq!(
        connect(Some(&event_id), Some(&unknown_token))
            .await
            .unwrap_err(),
        Error::TokenNotFound
    );
    assert_eq!(
        connect(Some(&event_id), Some("not-a-token"))
            .await
            .unwrap_err(),
        Error::TokenNotFound
    );
    assert_eq!(
        connect(Some(&other_event), Some(token.as_str()))
            .await
            .unwrap_err(),
        Error::TokenNotFound,
        "a token is only good for its own event"
    );
    assert!(
        live.registered().await.is_empty(),
        "no refusal registers anything"
    );

    let watcher = connect(Some(&event_id), None).await.unwrap();
    let waiting = connect(Some(&event_id), Some(token.as_str()))
        .await
        .unwrap();
    assert_eq!(watcher.token, None);
    assert_eq!(waiting.token, Some(token));
    assert_eq!(
        (waiting.expires_at - waiting.connected_at).num_seconds(),
        CONNECTION_TTL_SECS,
        "kept no longer than API Gateway keeps a connection, plus a margin"
    );
    let mut both = vec![watcher.id, waiting.id.clone()];
    both.sort();
    assert_eq!(live.registered().await, both);
    live.live.disconnect(&waiting.id).await.unwrap();
    live.live
        .disconnect(&waiting.id)
        .await
        .expect("a second disconnect is fine");
    assert_eq!(live.registered().await.len(), 1);
}

#[tokio::test]
async fn a_tick_sends_each_browser_its_frames_reading_each_event_and_token_once() {
    let live = Live::new();
    let event = live.event(12).await;
    let quiet = live.event(4).await;
    let ahead = live.join(&event).await;
    let token = live.join(&event).await;
    let mut watchers = Vec::new();
    for _ in 0..20 {
        watchers.push(live.connect(&event, None).await);
    }
    // The same buyer in two tabs: one status read serves both.
    let (_, mut tab1) = live.connect(&event, Some(&token)).await;
    let (_, mut tab2) = live.connect(&event, Some(&token)).await;
    let (_, mut elsewhere) = live.connect(&quiet, None).await;
    live.counts.reset();

    let report = live.live.tick().await.unwrap();
    assert_eq!(report.connections, 23);
    assert_eq!((report.events, report.tokens), (2, 1));
    assert_eq!(
        report.sent,
        23 + 2,
        "an availability frame each, a queue frame per tab"
    );
    assert_eq!((report.gone, report.closed, report.failed), (0, 0, 0));
    assert_eq!(
        (
            live.counts.seat_queries(&event),
            live.counts.seat_queries(&quiet)
        ),
        (1, 1),
        "one availability read per event, whatever the number of browsers"
    );
    assert_eq!(
        live.counts.ticket_reads(&token),
        1,
        "one status read per token"
    );

    // Frames carry exactly what the HTTP routes answer.
    let availability =
        serde_json::to_value(&*live.platform.availability.read(&event).await.unwrap()).unwrap();
    let status = serde_json::to_value(live.platform.queue.status(&token).await.unwrap()).unwrap();
    for (_, rx) in &mut watchers {
        let got = frames(rx);
        assert_eq!(
            got,
            vec![json!({ "type": "availability", "data": availability })]
        );
    }
    for tab in [&mut tab1, &mut tab2] {
        let got = frames(tab);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            json!({ "type": "availability", "data": availability })
        );
        assert_eq!(got[1], json!({ "type": "queue", "data": status }));
        assert_eq!(
            got[1]["data"]["position"], 2,
            "second in line, behind {ahead}"
        );
        assert_eq!(got[1]["data"]["status"], "waiting");
    }
    let got = frames(&mut elsewhere);
    assert_eq!(of_type(&got, "availability").len(), 1);
    assert_eq!(got[0]["data"]["event_id"], quiet.to_string());
    assert_eq!(got[0]["data"]["total"], 4);

    // The person ahead leaves: the next tick moves this buyer up.
    live.platform.queue.leave(&ahead, None).await.unwrap();
    live.live.tick().await.unwrap();
    let got = frames(&mut tab1);
    assert_eq!(of_type(&got, "queue")[0]["data"]["position"], 1);
}

/// A browser that stops reading is dropped once `FRAMES_BEHIND` frames wait for it, where its
/// frames piled up without bound (a hostile client's probe: 0.9 MB a second per socket of a
/// 20,000-seat event's updates); one that reads is kept. The dropped one gets what it holds,
/// then its end closes.
#[tokio::test]
async fn a_browser_that_stops_reading_is_dropped_once_it_falls_behind() {
    let live = Live::new();
    let event = live.event(3).await;
    let (reads, mut reader) = live.connect(&event, None).await;
    let (_, mut idle) = live.connect(&event, None).await;
    for _ in 0..FRAMES_BEHIND {
        let report = live.live.tick().await.unwrap();
        assert_eq!(report.gone, 0);
        assert_eq!(frames(&mut reader).len(), 1);
    }
    let report = live.live.tick().await.unwrap();
    assert_eq!(report.gone, 1, "the one that fell behind");
    assert_eq!(frames(&mut reader).len(), 1, "the reader is served");
    assert_eq!(live.registered().await, vec![reads]);
    assert_eq!(
        frames(&mut idle).len(),
        FRAMES_BEHIND,
        "no more than that held"
    );
    assert!(idle.recv().await.is_none(), "then its end closes");
}

/// Browsers watching one event are handed one frame per tick, the same allocation, not a copy
/// each: a probe's three hundred idle sockets on a 20,000-seat event held 9.5 MB apiece when every
/// channel kept its own copies of the 1.8 MB frame.
#[tokio::test]
async fn browsers_of_one_event_share_each_tick_s_frame() {
    let live = Live::new();
    let event = live.event(3).await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(live.connect(&event, None).await.1);
    }
    let report = live.live.tick().await.unwrap();
    assert_eq!(report.sent, 3);
    let received: Vec<Arc<str>> = browsers
        .iter_mut()
        .map(|rx| rx.try_recv().expect("each browser has the frame"))
        .collect();
    assert!(
        received
            .iter()
            .all(|frame| Arc::ptr_eq(frame, &received[0])),
        "one frame, shared by every browser of the event"
    );
}

#[tokio::test]
async fn gone_browsers_are_forgotten_and_dead_tokens_get_an_error_and_a_close() {
    let live = Live::new();
    let event = live.event(6).await;
    let (stays, mut stays_rx) = live.connect(&event, None).await;
    let (left, left_rx) = live.connect(&event, None).await;
    drop(left_rx); // the tab was closed without a disconnect reaching the registry

    // A connection whose token no longer exists (its ticket expired from the table).
    let dead = ConnectionId::generate();
    let mut dead_rx = live.pusher.attach(dead.clone());
    let now = chrono::Utc::now();
    live.registry
        .register(&Connection {
            id: dead.clone(),
            event_id: event.clone(),
            token: Some(WaitingToken::generate()),
            connected_at: now,
            expires_at: now + chrono::Duration::hours(1),
        })
        .await
        .unwrap();

    let report = live.live.tick().await.unwrap();
    assert_eq!((report.gone, report.closed), (1, 1));
    assert_eq!(
        live.registered().await,
        vec![stays.clone()],
        "only the open, valid one remains"
    );
    assert_eq!(
        frames(&mut dead_rx),
        vec![json!({ "type": "error", "code": "TOKEN_NOT_FOUND" })],
        "the error frame, and nothing else"
    );
    assert!(
        dead_rx.recv().await.is_none(),
        "then the server closed the connection"
    );
    assert_eq!(frames(&mut stays_rx).len(), 1);
    assert!(!live.registered().await.contains(&left));

    let report = live.live.tick().await.unwrap();
    assert_eq!((report.connections, report.sent, report.gone), (1, 1, 0));
}

#[tokio::test]
async fn a_store_outage_skips_frames_and_keeps_every_connection() {
    let world = World::new();
    // One event whose availability the process keeps (read at creation), one never read yet.
    let kept = world.general(10, 1.0).await.event_id;
    let cold = world.general_unread(10, 1.0).await.event_id;
    let registry = Arc::new(MemoryConnections::new());
    let pusher = Arc::new(MemoryPusher::new());
    let live = world
        .platform()
        .live_updates(registry.clone(), pusher.clone());
    let mut browsers = Vec::new();
    for event in [&kept, &cold] {
        let id = ConnectionId::generate();
        let rx = pusher.attach(id.clone());
        let request = ConnectRequest {
            event_id: Some(event.to_string()),
            token: None,
        };
        live.connect(id, &request).await.unwrap();
        browsers.push(rx);
    }
    let [kept_rx, cold_rx] = &mut browsers[..] else {
        unreachable!()
    };
    world.local.store.set_unavailable(true);
    let report = live.tick().await.unwrap();
    world.local.store.set_unavailable(false);
    assert_eq!((report.sent, report.gone, report.closed), (1, 0, 0));
    assert!(
        frames(cold_rx).is_empty(),
        "no frame rather than a wrong one when the store must be read"
    );
    assert_eq!(
        frames(kept_rx).len(),
        1,
        "the availability the process keeps is still right (the store took no write) and sent"
    );
    assert_eq!(
        live.connections().await.unwrap().len(),
        2,
        "every connection is kept"
    );
    live.tick().await.unwrap();
    assert_eq!(
        (frames(kept_rx).len(), frames(cold_rx).len()),
        (1, 1),
        "and both are served once the store is back"
    );
}

#[tokio::test]
async fn the_pusher_ticks_every_two_seconds_until_its_deadline() {
    let live = Live::new();
    let event = live.event(3).await;
    let (_, mut rx) = live.connect(&event, None).await;
    let started = tokio::time::Instant::now();
    let report =
        tacos_lambda::websocket::handle_push(&live.live, started + Duration::from_millis(3_500))
            .await;
    assert_eq!(
        report.sent, 2,
        "ticks at 0 and 2 s; none at 4 s, too close to the deadline"
    );
    assert_eq!(report.connections, 1, "the most connections one tick saw");
    assert_eq!(frames(&mut rx).len(), 2);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(3_000),
        "returned right after the last tick, not at the next beat ({took:?})"
    );
}

// ---- The Lambda handlers, fed API Gateway's own WebSocket event payloads ----------------------

/// `$connect` as API Gateway sends it (aws_lambda_events' fixture
/// `example-apigw-websocket-request.json`, trimmed, with the query string of a browser).
fn connect_event(connection_id: &str, query: Value) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_value(json!({
        "headers": {
            "Host": "abcd1234.execute-api.us-east-1.amazonaws.com",
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": "2N0MEa3g3NmSp+6vcYRyFQ==",
            "Sec-WebSocket-Version": "13",
            "X-Forwarded-For": "192.0.2.1",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https"
        },
        "multiValueHeaders": {
            "Host": ["abcd1234.execute-api.us-east-1.amazonaws.com"],
            "Sec-WebSocket-Version": ["13"]
        },
        "queryStringParameters": query,
        "multiValueQueryStringParameters": query.as_object().map(|q| {
            q.iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>()
        }),
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": "ABCD1234=",
            "requestTime": "09/Feb/2024:18:11:43 +0000",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": 1707502303419_i64,
            "requestTimeEpoch": 1707502303420_i64,
            "identity": { "sourceIp": "192.0.2.1" },
            "requestId": "ABCD1234=",
            "domainName": "abcd1234.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection_id,
            "apiId": "abcd1234"
        },
        "isBase64Encoded": false
    }))
    .expect("API Gateway's $connect payload parses")
}

/// `$disconnect` exactly as aws_lambda_events' fixture
/// `example-apigw-websocket-request-disconnect-route.json` has it.
fn disconnect_event(connection_id: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/ws-disconnect.json")).unwrap();
    event["requestContext"]["connectionId"] = json!(connection_id);
    serde_json::from_value(event).expect("API Gateway's $disconnect payload parses")
}

fn body(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON body, got {other:?}"),
    }
}

#[tokio::test]
async fn the_connect_and_disconnect_functions_answer_api_gateway() {
    let live = Live::new();
    let event = live.event(5).await;
    let token = live.join(&event).await;

    let refused = tacos_lambda::websocket::handle_connect(
        &live.live,
        connect_event(
            "AAAA1234=",
            json!({ "event_id": EventId::generate().to_string() }),
        ),
    )
    .await;
    assert_eq!(
        refused.status_code, 404,
        "an unknown event refuses the connection"
    );
    assert_eq!(body(&refused)["error"]["code"], "EVENT_NOT_FOUND");
    assert_eq!(body(&refused)["error"]["trace_id"], "ABCD1234=");
    let refused = tacos_lambda::websocket::handle_connect(
        &live.live,
        connect_event(
            "AAAA1234=",
            json!({ "event_id": event.to_string(), "token": "wtkn_nobody" }),
        ),
    )
    .await;
    assert_eq!(refused.status_code, 404);
    assert_eq!(body(&refused)["error"]["code"], "TOKEN_NOT_FOUND");
    let refused =
        tacos_lambda::websocket::handle_connect(&live.live, connect_event("AAAA1234=", json!({})))
            .await;
    assert_eq!(refused.status_code, 400);
    assert_eq!(body(&refused)["error"]["code"], "MISSING_EVENT_ID");
    assert!(live.registered().await.is_empty());

    let accepted = tacos_lambda::websocket::handle_connect(
        &live.live,
        connect_event(
            "L0SM9cOFvHcCIhw=",
            json!({ "event_id": event.to_string(), "token": token.to_string() }),
        ),
    )
    .await;
    assert_eq!(accepted.status_code, 200);
    let id: ConnectionId = "L0SM9cOFvHcCIhw=".parse().unwrap();
    assert_eq!(live.registered().await, vec![id.clone()]);

    // The pusher now reaches it with both frames.
    let mut rx = live.pusher.attach(id.clone());
    live.live.tick().await.unwrap();
    let got = frames(&mut rx);
    assert_eq!(of_type(&got, "availability").len(), 1);
    assert_eq!(
        of_type(&got, "queue")[0]["data"]["event_id"],
        event.to_string()
    );

    let gone = tacos_lambda::websocket::handle_disconnect(
        &live.live,
        disconnect_event("L0SM9cOFvHcCIhw="),
    )
    .await;
    assert_eq!(gone.status_code, 200);
    assert!(live.registered().await.is_empty());
    let again = tacos_lambda::websocket::handle_disconnect(
        &live.live,
        disconnect_event("L0SM9cOFvHcCIhw="),
    )
    .await;
    assert_eq!(again.status_code, 200, "a repeated $disconnect is fine");
    let bad =
        tacos_lambda::websocket::handle_disconnect(&live.live, disconnect_event("../etc")).await;
    assert_eq!(bad.status_code, 400);
}

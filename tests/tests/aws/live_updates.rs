//! The live-update adapters against AWS endpoints: [`DynamoConnections`] on moto's DynamoDB,
//! [`ApiGatewayPusher`] on moto's API Gateway management API, and the pusher's whole tick over
//! the AWS adapters.
//!
//! What moto's `apigatewaymanagementapi` does (moto 5.x, `moto/apigatewaymanagementapi`): its
//! connections are a `defaultdict`, so `PostToConnection` to *any* id succeeds (the data is kept
//! in moto, where no API returns it), `GetConnection` invents the connection it is asked about,
//! `DeleteConnection` drops it, and no call ever answers `GoneException`. It checks the request
//! shape (path `/@connections/{id}`, SigV4 service `execute-api`) and nothing else. So the
//! adapter's frames and its 410 handling are also checked against [`Management`], a stand-in of
//! the management API served here that answers as API Gateway documents: 200 for an open
//! connection (keeping the frame), 410 `GoneException` for one whose browser left, 429
//! `LimitExceededException` when throttled. Both run through the real SDK client.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde_json::Value;
use tacos_aws::{ApiGatewayPusher, DynamoConnections};
use tacos_core::conformance::connections::{pusher_conforms, registry_conforms, PusherHarness};
use tacos_core::domain::catalog::NewEvent;
use tacos_core::domain::live_updates::ConnectRequest;
use tacos_core::ids::{EventId, WaitingToken};
use tacos_core::in_process::ports_over;
use tacos_core::platform::Platform;
use tacos_core::ports::SystemClock;
use tacos_core::ports::{Connection, ConnectionId, ConnectionRegistry, Pusher};

use super::connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_connections_conform() {
    let Some(aws) = connect().await else {
        return;
    };
    registry_conforms(aws.connections.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_found_by_query_in_their_partitions() {
    let Some(aws) = connect().await else {
        return;
    };
    let registry = &aws.connections;
    let event = EventId::generate();
    let now = Utc::now();
    let mut ids = HashSet::new();
    for _ in 0..40 {
        let id = ConnectionId::generate();
        registry
            .register(&Connection {
                id: id.clone(),
                event_id: event.clone(),
                token: None,
                connected_at: now,
                expires_at: now + chrono::Duration::hours(1),
            })
            .await
            .unwrap();
        ids.insert(id);
    }
    // The items are where the module documentation says: LIVE#nn / CONN#<id>, TTL in expires_at.
    let mut partitions = HashSet::new();
    for n in 0..tacos_aws::connections::PARTITIONS {
        let page = aws
            .store
            .client()
            .query()
            .table_name(aws.store.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                tacos_aws::aws_sdk_dynamodb::types::AttributeValue::S(format!("LIVE#{n:02}")),
            )
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let id = item["connection_id"].as_s().unwrap();
            if ids.iter().any(|i| i.as_str() == id) {
                assert_eq!(item["sk"].as_s().unwrap(), &format!("CONN#{id}"));
                assert!(
                    item["expires_at"].as_n().is_ok(),
                    "the TTL attribute is a number"
                );
                partitions.insert(n);
            }
        }
    }
    assert!(
        partitions.len() > 4,
        "40 connections spread over partitions: {partitions:?}"
    );
    for id in &ids {
        registry.remove(id).await.unwrap();
    }
}

/// A pusher on moto: every post is accepted, nothing is ever gone.
struct Moto {
    pusher: Arc<ApiGatewayPusher>,
}

#[async_trait]
impl PusherHarness for Moto {
    fn pusher(&self) -> Arc<dyn Pusher> {
        self.pusher.clone()
    }
    async fn open(&self) -> ConnectionId {
        ConnectionId::generate()
    }
    async fn received(&self, _: &ConnectionId) -> Option<Vec<String>> {
        None
    }
    async fn gone(&self) -> Option<ConnectionId> {
        None
    }
}

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("connect() checked it")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_pusher_conforms_on_moto() {
    let Some(_aws) = connect().await else {
        return;
    };
    let config = tacos_aws::sdk_config::load().await;
    // moto serves the management API at the root (`/@connections/{id}`), without a stage.
    let pusher = Arc::new(ApiGatewayPusher::new(&config, &endpoint()));
    pusher_conforms(&Moto { pusher }).await;
}

/// The API Gateway management API as its documentation describes it, for what moto leaves out.
#[derive(Clone, Default)]
struct Management {
    /// Frames received per connection id.
    frames: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Connections that are open (others are gone: 410).
    open: Arc<Mutex<HashSet<String>>>,
}

impl Management {
    async fn serve(&self) -> String {
        async fn post_frame(
            State(api): State<Management>,
            Path(id): Path<String>,
            body: String,
        ) -> axum::response::Response {
            if id.starts_with("throttled") {
                return error(StatusCode::TOO_MANY_REQUESTS, "LimitExceededException");
            }
            if !api.open.lock().unwrap().contains(&id) {
                return error(StatusCode::GONE, "GoneException");
            }
            api.frames.lock().unwrap().entry(id).or_default().push(body);
            StatusCode::OK.into_response()
        }
        async fn delete(
            State(api): State<Management>,
            Path(id): Path<String>,
        ) -> axum::response::Response {
            if api.open.lock().unwrap().remove(&id) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                error(StatusCode::GONE, "GoneException")
            }
        }
        fn error(status: StatusCode, kind: &'static str) -> axum::response::Response {
            (status, [("x-amzn-errortype", kind)], r#"{"message":null}"#).into_response()
        }
        let app = Router::new()
            .route("/live/@connections/{id}", post(post_frame).delete(delete))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        // As API Gateway names a stage's management endpoint: https://{api}.execute-api…/{stage}
        format!("http://{addr}/live")
    }

    fn open(&self) -> ConnectionId {
        let id = ConnectionId::generate();
        self.open.lock().unwrap().insert(id.to_string());
        id
    }

    fn frames(&self, id: &ConnectionId) -> Vec<Value> {
        self.frames
            .lock()
            .unwrap()
            .get(id.as_str())
            .map(|frames| {
                frames
                    .iter()
                    .map(|f| serde_json::from_str(f).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Documented {
    api: Management,
    pusher: Arc<ApiGatewayPusher>,
}

#[async_trait]
impl PusherHarness for Documented {
    fn pusher(&self) -> Arc<dyn Pusher> {
        self.pusher.clone()
    }
    async fn open(&self) -> ConnectionId {
        self.api.open()
    }
    async fn received(&self, id: &ConnectionId) -> Option<Vec<String>> {
        Some(
            self.api
                .frames
                .lock()
                .unwrap()
                .get(id.as_str())
                .cloned()
                .unwrap_or_default(),
        )
    }
    async fn gone(&self) -> Option<ConnectionId> {
        Some(ConnectionId::generate())
    }
}

async fn pusher_on(api: &Management) -> Arc<ApiGatewayPusher> {
    let config = tacos_aws::sdk_config::loader()
        .region(tacos_aws::aws_config::Region::new("us-east-1"))
        .credentials_provider(tacos_aws::aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    Arc::new(ApiGatewayPusher::new(&config, &api.serve().await))
}

/// Needs no emulator: runs in every `cargo test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_pusher_tells_gone_from_failed() {
    let api = Management::default();
    let pusher = pusher_on(&api).await;
    pusher_conforms(&Documented {
        api: api.clone(),
        pusher: pusher.clone(),
    })
    .await;
    let throttled: ConnectionId = "throttled-1".parse().unwrap();
    let failed = pusher.send(&throttled, &Arc::from("{}")).await;
    assert!(
        matches!(&failed, Err(e) if e.0.contains("LimitExceeded")),
        "throttling is a failure to retry, not a gone connection: {failed:?}"
    );
}

/// The pusher's tick over the AWS adapters: the platform and the registry on moto's DynamoDB,
/// frames through the SDK to the documented management API (to see them and a 410), then to
/// moto's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_on_aws_adapters_delivers_frames_and_forgets_gone_connections() {
    let Some(aws) = connect().await else {
        return;
    };
    let clock = Arc::new(SystemClock);
    let platform = Platform::new(
        ports_over(aws.store.clone(), clock),
        tacos_core::config::Config::for_tests(),
    );
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Live on moto".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 1_000,
            sections: Some(vec![tacos_core::domain::catalog::Section::straight(
                "A", 1, 4,
            )]),
            capacity: None,
            admission_rate_per_sec: 0.01,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap()
        .event_id;
    let token = platform
        .queue
        .join(&event, None)
        .await
        .unwrap()
        .waiting_token;

    let api = Management::default();
    let registry = Arc::new(DynamoConnections::new(
        aws.store.client().clone(),
        aws.store.table(),
    ));
    let live = platform.live_updates(registry.clone(), pusher_on(&api).await);
    let connect_to = |token: Option<&WaitingToken>, id: ConnectionId| {
        let request = ConnectRequest {
            event_id: Some(event.to_string()),
            token: token.map(ToString::to_string),
        };
        let live = live.clone();
        async move { live.connect(id, &request).await.unwrap() }
    };
    let watcher = connect_to(None, api.open()).await;
    let waiting = connect_to(Some(&token), api.open()).await;
    let left = connect_to(None, ConnectionId::generate()).await; // never open: 410
    let ours = |connections: Vec<Connection>| -> HashSet<ConnectionId> {
        connections
            .into_iter()
            .filter(|c| c.event_id == event)
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(ours(live.connections().await.unwrap()).len(), 3);

    let report = live.tick().await.unwrap();
    assert!(report.gone == 1 && report.failed == 0, "{report:?}");
    let availability =
        serde_json::to_value(&*platform.availability.read(&event).await.unwrap()).unwrap();
    assert_eq!(
        api.frames(&watcher.id),
        vec![serde_json::json!({ "type": "availability", "data": availability })]
    );
    let frames = api.frames(&waiting.id);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1]["type"], "queue");
    assert_eq!(frames[1]["data"]["position"], 1);
    assert_eq!(frames[1]["data"]["event_id"], event.to_string());
    assert_eq!(
        ours(live.connections().await.unwrap()),
        HashSet::from([watcher.id.clone(), waiting.id.clone()]),
        "the gone connection's item is deleted from the table"
    );
    assert!(!ours(registry.live(Utc::now()).await.unwrap()).contains(&left.id));

    // The same tick with moto's management API: every frame is accepted.
    let config = tacos_aws::sdk_config::load().await;
    let on_moto = platform.live_updates(
        registry.clone(),
        Arc::new(ApiGatewayPusher::new(&config, &endpoint())),
    );
    let report = on_moto.tick().await.unwrap();
    assert!(
        report.sent >= 3 && report.failed == 0 && report.gone == 0,
        "{report:?}"
    );
    for id in [&watcher.id, &waiting.id] {
        live.disconnect(id).await.unwrap();
    }
}

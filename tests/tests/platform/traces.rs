//! One trace from the browser to the last hop: a purchase through the HTTP router, every request
//! sent with the browser's `traceparent`, yields spans that all belong to that trace, each with
//! the right parent, across every asynchronous hop: the payment simulator's timer and the webhook
//! request it sends, the follow-up of the bus event the webhook published, and a hold's expiry
//! timer. Spans are collected by an in-memory exporter on the same OpenTelemetry layer the
//! deployments install.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde_json::{json, Value};
use tacos_core::ports::EventHandler;
use tracing_subscriber::layer::SubscriberExt;

use crate::world::World;

/// The browser's trace and the span of the user's action.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const BROWSER_SPAN: &str = "00f067aa0ba902b7";

/// Keeps every span it is given.
#[derive(Debug, Clone, Default)]
struct InMemory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for InMemory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// Sends one request through the platform's router as the browser does, with its `traceparent`.
async fn call(
    world: &World,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let traceparent = format!("00-{TRACE}-{BROWSER_SPAN}-01");
    let key = uuid::Uuid::new_v4().to_string();
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![
        ("traceparent", traceparent.as_str()),
        ("idempotency-key", &key),
    ];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    world.call(method, uri, &headers, body).await
}

/// Admitted through the waiting room and holding one seat of `event_id`: the reservation's id.
async fn hold_one(world: &World, token: &str, event_id: &str) -> String {
    let (status, joined) = call(
        world,
        "POST",
        "/api/v1/queue/join",
        Some(token),
        Some(json!({ "event_id": event_id })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{joined}");
    let waiting = joined["waiting_token"].as_str().unwrap().to_string();
    world.advance(2.0);
    let uri = format!("/api/v1/queue/status?token={waiting}");
    assert_eq!(call(world, "GET", &uri, None, None).await.0, StatusCode::OK);
    let (status, entered) = call(
        world,
        "POST",
        "/api/v1/queue/enter",
        Some(token),
        Some(json!({ "waiting_token": waiting })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entered}");
    let (status, held) = call(
        world,
        "POST",
        "/api/v1/reservations",
        Some(token),
        Some(json!({ "event_id": event_id, "quantity": 1,
                     "reservation_token": entered["reservation_token"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    held["reservation_id"].as_str().unwrap().to_string()
}

/// The exported spans, with lookups by id and name.
struct Trace(Vec<SpanData>);

impl Trace {
    fn named(&self, name: &str) -> Vec<&SpanData> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    fn one(&self, name: &str) -> &SpanData {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "one span {name}: {:#?}", self.names());
        found[0]
    }

    fn by_id(&self, id: SpanId) -> Option<&SpanData> {
        self.0.iter().find(|s| s.span_context.span_id() == id)
    }

    fn parent(&self, span: &SpanData) -> Option<&SpanData> {
        self.by_id(span.parent_span_id)
    }

    fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.name.to_string()).collect()
    }

    /// Follows parents up to the root: the id of the span it starts from (outside the process).
    fn root_parent(&self, span: &SpanData) -> SpanId {
        let mut span = span;
        while let Some(parent) = self.parent(span) {
            span = parent;
        }
        span.parent_span_id
    }
}

/// Runs [`the_purchase_whose_spans_are_collected`] in a process of its own ([`crate::run_alone`]
/// says why).
#[test]
fn a_purchase_is_one_trace_across_every_hop() {
    crate::run_alone("traces::the_purchase_whose_spans_are_collected");
}

// One thread, so the subscriber set for this thread sees every task the flow spawns (the
// webhook's server too).
#[tokio::test(flavor = "current_thread")]
#[ignore = "run by a_purchase_is_one_trace_across_every_hop, in a process of its own"]
async fn the_purchase_whose_spans_are_collected() {
    let exported = InMemory::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exported.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tacos_telemetry::captured::set_default(subscriber);

    // The simulator's webhook reaches the platform over HTTP, as it does when deployed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let world = World::with_config(|config| {
        config.public_url = Some(format!("http://{addr}"));
        config.payment_delay = std::time::Duration::from_secs(2);
    });
    let server = tacos_http::router(
        world.local.platform.clone(),
        &tacos_http::settings::HttpSettings::defaults(),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            server.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let event = world.general(10, 1000.0).await;
    let event_id = event.event_id.as_str();

    let (status, registered) = call(
        &world,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({ "username": "tracy", "password": "correct horse" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let token = registered["token"].as_str().unwrap().to_string();

    // A purchase whose payment the simulator settles later (a timer), then posts its webhook.
    let sold = hold_one(&world, &token, event_id).await;
    let (status, intent) = call(
        &world,
        "POST",
        "/api/v1/payments/intent",
        Some(&token),
        Some(
            json!({ "reservation_id": sold, "amount": 2500, "currency": "USD",
                     "scenario": "delay" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    let (status, processed) = call(
        &world,
        "POST",
        "/api/v1/payments/process",
        Some(&token),
        Some(json!({ "payment_intent_id": intent["payment_intent_id"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{processed}");
    world.advance(3.0);
    assert!(world.fire_timers().await >= 1, "the settlement timer fired");
    // The follow-up of every event published, as the bus consumer runs it.
    for event in world.local.bus.published() {
        world.local.platform.handle_event(event).await.unwrap();
    }
    let uri = format!("/api/v1/reservations/{sold}");
    let (_, confirmed) = call(&world, "GET", &uri, Some(&token), None).await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");

    // A hold nobody pays, left to expire.
    let abandoned = hold_one(&world, &token, event_id).await;
    world.advance(61.0);
    assert!(world.fire_timers().await >= 1, "the expiry timer fired");
    let uri = format!("/api/v1/reservations/{abandoned}");
    let (_, expired) = call(&world, "GET", &uri, Some(&token), None).await;
    assert_eq!(expired["status"], "EXPIRED", "{expired}");

    let trace = Trace(exported.0.lock().unwrap().clone());
    assert_eq!(
        trace.named("POST /api/v1/reservations").len(),
        2,
        "{:#?}",
        trace.names()
    );
    let browser = SpanId::from_hex(BROWSER_SPAN).unwrap();
    for span in &trace.0 {
        assert_eq!(
            span.span_context.trace_id().to_string(),
            TRACE,
            "{} is in the browser's trace",
            span.name
        );
        assert_eq!(
            trace.root_parent(span),
            browser,
            "{} descends from the browser's span",
            span.name
        );
    }
    for request in trace.0.iter().filter(|s| s.name.contains(" /")) {
        if request.name != "POST /api/v1/payments/webhook" {
            assert_eq!(
                request.parent_span_id, browser,
                "{} is a child of the browser's span",
                request.name
            );
            assert!(request.parent_span_is_remote, "{}", request.name);
        }
    }

    // The settlement timer continues the request that set it ...
    let settle = trace.one("job settle_payment");
    assert_eq!(
        trace.parent(settle).map(|p| p.name.as_ref()),
        Some("POST /api/v1/payments/process")
    );
    // ... the webhook request continues the timer that sent it ...
    let webhook = trace.one("POST /api/v1/payments/webhook");
    assert_eq!(webhook.parent_span_id, settle.span_context.span_id());
    assert!(webhook.parent_span_is_remote, "it came over HTTP");
    // ... the follow-up continues the webhook request that published payment.approved ...
    let followup = trace.one("event payment.approved");
    assert_eq!(followup.parent_span_id, webhook.span_context.span_id());
    // ... and the sale it made was announced from the follow-up (its event carries the context).
    let sale = world
        .local
        .bus
        .published()
        .into_iter()
        .find(|e| e.detail_type == tacos_core::ports::DetailType::ReservationConfirmed)
        .expect("the sale was announced");
    let stamped = sale
        .detail
        .traceparent
        .expect("the event carries a traceparent");
    assert_eq!(
        stamped,
        format!("00-{TRACE}-{}-01", followup.span_context.span_id()),
        "reservation.confirmed names the follow-up span"
    );

    // Each expiry timer continues the hold request that set it.
    let expiries = trace.named("job expire_hold");
    assert!(!expiries.is_empty(), "{:#?}", trace.names());
    for expiry in expiries {
        assert_eq!(
            trace.parent(expiry).map(|p| p.name.as_ref()),
            Some("POST /api/v1/reservations")
        );
    }
}

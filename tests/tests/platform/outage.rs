//! A store outage: requests get 503 `UNAVAILABLE` with `Retry-After` in the contract's error
//! shape, readiness reports it while liveness does not, and an idempotent request that failed
//! during the outage runs normally when retried with the same key afterwards (the 503 was not
//! stored for replay).

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::world::{Answer, World};

fn join(event: &str, key: &str) -> Request<Body> {
    Request::post("/api/v1/queue/join")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(format!(r#"{{"event_id":"{event}"}}"#)))
        .unwrap()
}

#[tokio::test]
async fn an_outage_is_503_with_retry_after_and_a_retry_afterwards_succeeds() {
    let world = World::new();
    let event = world.general(10, 10.0).await;
    let key = uuid::Uuid::new_v4().to_string();

    world.local.store.set_unavailable(true);
    let Answer {
        status,
        headers,
        body,
    } = world.send(join(event.event_id.as_str(), &key)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    assert!(!body["error"]["trace_id"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(
        world.send(get("/readyz")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(world.send(get("/healthz")).await.status, StatusCode::OK);

    world.local.store.set_unavailable(false);
    let Answer {
        status,
        headers,
        body,
    } = world.send(join(event.event_id.as_str(), &key)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(
        headers.get("x-idempotency-cached").is_none(),
        "the 503 was not replayed"
    );
    assert!(body["waiting_token"].as_str().unwrap().starts_with("wtkn_"));
    assert_eq!(world.send(get("/readyz")).await.status, StatusCode::OK);
}

//! Secrets never reach a log line: a whole purchase through the HTTP router, with every log level
//! captured as the deployments write it (JSON), must not show a password, a bearer token, a
//! waiting or reservation token, a webhook signature, or any configured secret — on the success
//! paths nor on the error paths (a wrong password, a forged token, a forged signature).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tacos_core::domain::webhook_signature::WebhookSigner;
use tacos_core::ports::EventHandler;
use tacos_telemetry::captured::{self, Captured};

use crate::world::World;

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs [`the_purchase_whose_logs_are_searched`] in a process of its own ([`crate::run_alone`]
/// says why).
#[test]
fn a_whole_purchase_logs_no_secret() {
    crate::run_alone("secrets::the_purchase_whose_logs_are_searched");
}

// One thread, so the subscriber set for this thread sees every task the flow spawns.
#[tokio::test(flavor = "current_thread")]
#[ignore = "run by a_whole_purchase_logs_no_secret, in a process of its own"]
async fn the_purchase_whose_logs_are_searched() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = captured::set_default(subscriber);

    let admin_password = format!("admin-pw-{}", key());
    let world = World::with_config(|config| {
        config.admin_password = Some(admin_password.clone());
    });
    let config = world.platform().config().clone();
    let event = world.general(10, 1000.0).await;
    let event_id = event.event_id.as_str();

    let password = format!("pw-{}", key());
    let username = format!("buyer{}", &key()[..8]);
    let (status, registered) = world
        .call(
            "POST",
            "/api/v1/auth/register",
            &[],
            Some(json!({ "username": username, "password": password })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let (status, _) = world
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(json!({ "username": username, "password": format!("{password}-wrong") })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, logged_in) = world
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(json!({ "username": username, "password": password })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{logged_in}");
    let token = logged_in["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let forged = format!("Bearer {token}x");

    let (status, _) = world
        .call(
            "GET",
            "/api/v1/reservations/rsv_0000000000000000",
            &[("authorization", &forged)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, joined) = world
        .call(
            "POST",
            "/api/v1/queue/join",
            &[("authorization", &bearer), ("idempotency-key", &key())],
            Some(json!({ "event_id": event_id })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{joined}");
    let waiting = joined["waiting_token"].as_str().unwrap().to_string();
    world.advance(2.0);
    let (status, _) = world
        .call(
            "GET",
            &format!("/api/v1/queue/status?token={waiting}"),
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, entered) = world
        .call(
            "POST",
            "/api/v1/queue/enter",
            &[("authorization", &bearer), ("idempotency-key", &key())],
            Some(json!({ "waiting_token": waiting })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entered}");
    let reservation_token = entered["reservation_token"].as_str().unwrap().to_string();

    let (status, held) = world.call(
        "POST",
        "/api/v1/reservations",
        &[("authorization", &bearer), ("idempotency-key", &key())],
        Some(
            json!({ "event_id": event_id, "quantity": 1, "reservation_token": reservation_token }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let reservation_id = held["reservation_id"].as_str().unwrap().to_string();
    let (status, intent) = world
        .call(
            "POST",
            "/api/v1/payments/intent",
            &[("authorization", &bearer), ("idempotency-key", &key())],
            Some(
                json!({ "reservation_id": reservation_id, "amount": held["total_amount"],
                     "currency": held["currency"], "scenario": "approve" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    let intent_id = intent["payment_intent_id"].as_str().unwrap().to_string();

    let (status, processed) = world
        .call(
            "POST",
            "/api/v1/payments/process",
            &[("authorization", &bearer), ("idempotency-key", &key())],
            Some(json!({ "payment_intent_id": intent_id })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{processed}");

    // The provider's webhook: once forged, once signed.
    let body = json!({ "type": "payment.approved", "payment_intent_id": intent_id,
        "reservation_id": reservation_id, "amount": held["total_amount"],
        "currency": held["currency"], "ts": world.clock_now() })
    .to_string();
    let signed = WebhookSigner::new(&config.webhook_secret).sign(
        &format!("wh_{}", key()),
        world.clock_now(),
        &body,
    );
    let forged_signature = format!("sha256={}", "ab".repeat(32));
    for signature in [&forged_signature, &signed.signature] {
        let request = Request::post("/api/v1/payments/webhook")
            .header("content-type", "application/json")
            .header("x-webhook-id", &signed.id)
            .header("x-timestamp", signed.timestamp.as_str())
            .header("x-signature", signature.as_str())
            .body(Body::from(body.clone()))
            .unwrap();
        world.send(request).await;
    }
    // The follow-up, as the bus consumer runs it.
    for event in world.local.bus.published() {
        world.local.platform.handle_event(event).await.unwrap();
    }
    let (status, confirmed) = world
        .call(
            "GET",
            &format!("/api/v1/reservations/{reservation_id}"),
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
    tracing::debug!(config = ?config, "configuration");

    let logs = captured.text();
    assert!(
        logs.contains("request served") && logs.contains("hold placed"),
        "the capture saw the flow:\n{logs}"
    );
    let signature_hex = signed.signature.trim_start_matches("sha256=");
    let secrets = [
        ("the password", password.as_str()),
        ("the admin password", admin_password.as_str()),
        ("the access token", token.as_str()),
        ("the token's signature", token.rsplit('.').next().unwrap()),
        ("the waiting token", waiting.as_str()),
        ("the reservation token", reservation_token.as_str()),
        ("the webhook signature", signature_hex),
        ("the JWT secret", config.jwt_secret.as_str()),
        ("the webhook secret", config.webhook_secret.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "{what} was logged:\n{logs}");
    }
}

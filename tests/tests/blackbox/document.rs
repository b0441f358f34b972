//! The deployment answers what `docs/openapi.yaml` (the project's copy of the contract) names:
//! each answer's status is one the document lists for its operation, and each field of its JSON
//! body one the document declares for that answer. A client generated from the document, or
//! written against it, meets nothing it was not told of.
//!
//! The document is read from this repository, whatever deployment the suite runs against.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::*;

/// `docs/openapi.yaml`, as JSON.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
});

/// What a `$ref` points at (the document's own references only), or `node` itself.
fn resolved(node: &Value) -> &Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("not a local reference: {reference}"));
            resolved(
                DOCUMENT
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling reference: {reference}")),
            )
        }
        None => node,
    }
}

/// Every property `schema` declares, through `allOf`, `oneOf` and `anyOf`.
fn declared_fields(schema: &Value, into: &mut BTreeSet<String>) {
    let schema = resolved(schema);
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        into.extend(properties.keys().cloned());
    }
    for combined in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(combined)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            declared_fields(part, into);
        }
    }
}

/// Asserts that `answer` is one the document gives `method` on `template` (a path as the
/// document writes it, `/reservations/{reservation_id}`): its status is listed, and every
/// top-level field of its JSON body is declared.
#[track_caller]
fn assert_documented(method: &Method, template: &str, answer: &Resp) {
    let operation = DOCUMENT["paths"][template][method.as_str().to_ascii_lowercase()].clone();
    assert!(
        operation.is_object(),
        "the document has no {method} {template}"
    );
    let status = answer.code().to_string();
    let response = operation["responses"].get(&status).unwrap_or_else(|| {
        panic!(
            "{} answered {status}, which the document does not list for {method} {template}: {}",
            answer.what,
            answer.text()
        )
    });
    let Some(fields) = answer.json.as_object() else {
        return;
    };
    let mut declared = BTreeSet::new();
    declared_fields(
        &resolved(response)["content"]["application/json"]["schema"],
        &mut declared,
    );
    let undeclared: Vec<&String> = fields.keys().filter(|k| !declared.contains(*k)).collect();
    assert!(
        undeclared.is_empty(),
        "{} answered {status} with fields the document does not declare: {undeclared:?} in {}",
        answer.what,
        answer.text()
    );
}

/// A bearer token that is not one: leaving the line with it is refused with 401 `INVALID_TOKEN`
/// (an `Authorization` header, when sent, must be valid), which the document did not list for
/// either way of leaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaving_with_a_bad_bearer_token_is_a_documented_401() {
    let api = Api::new();
    let event = api.ga_event(10, 1000, 0.01).await;
    let joined = api.join(str_of(&event, "event_id"), None).await;
    let token = str_of(&joined, "waiting_token");
    let by_delete = api
        .delete(&format!("/queue/leave?token={token}"))
        .bearer("not-a-jwt")
        .send()
        .await;
    by_delete.expect_error(401, "INVALID_TOKEN");
    assert_documented(&Method::DELETE, "/queue/leave", &by_delete);
    let by_post = api
        .post("/queue/leave")
        .bearer("not-a-jwt")
        .json(&json!({"waiting_token": token}))
        .send()
        .await;
    by_post.expect_error(401, "INVALID_TOKEN");
    assert_documented(&Method::POST, "/queue/leave", &by_post);
    // Refused, it left nothing.
    assert_eq!(api.status(token).await["status"], "waiting");
}

/// A cancellation answers the reservation's id beside its status, both ways and when repeated;
/// the document named only the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_answers_only_documented_fields() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let template = "/reservations/{reservation_id}";
    let held = api.hold_seats(&buyer, event_id, &["A-1"]).await;
    let id = str_of(&held, "reservation_id");
    for _ in 0..2 {
        let cancelled = api.cancel_delete(&buyer, id).await;
        assert_eq!(cancelled.expect(200)["reservation_id"], id);
        assert_documented(&Method::DELETE, template, &cancelled);
    }
    let held = api.hold_seats(&buyer, event_id, &["A-2"]).await;
    let id = str_of(&held, "reservation_id");
    let cancelled = api.cancel_post(&buyer, id).await;
    assert_eq!(cancelled.expect(200)["status"], "CANCELLED");
    assert_documented(&Method::POST, &format!("{template}/cancel"), &cancelled);
}

/// A whole purchase, every answer checked against the document: the event, the line, the hold,
/// the payment and the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_of_a_purchase_is_documented() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    for (template, path) in [
        ("/events", "/events".to_string()),
        ("/events/{event_id}", format!("/events/{event_id}")),
        (
            "/events/{event_id}/availability",
            format!("/events/{event_id}/availability"),
        ),
    ] {
        assert_documented(&Method::GET, template, &api.get(&path).send().await);
    }
    let joined = api.join_raw(event_id, Some(&buyer)).await;
    assert_documented(&Method::POST, "/queue/join", &joined);
    let token = str_of(&joined.expect(202), "waiting_token").to_string();
    assert_documented(&Method::GET, "/queue/status", &api.status_raw(&token).await);
    api.wait_ready(&token, std::time::Duration::from_secs(30))
        .await;
    let entered = api.enter_raw(&token, Some(&buyer)).await;
    assert_documented(&Method::POST, "/queue/enter", &entered);
    let rtkn = str_of(&entered.expect(200), "reservation_token").to_string();
    let held = api.reserve_seats(&buyer, event_id, &["A-1"], &rtkn).await;
    assert_documented(&Method::POST, "/reservations", &held);
    let held = held.expect(201);
    let id = str_of(&held, "reservation_id");
    let read = api.reservation_raw(&buyer, id).await;
    assert_documented(&Method::GET, "/reservations/{reservation_id}", &read);
    let intent = api
        .intent_raw(
            &buyer,
            &json!({"reservation_id": id, "amount": held["total_amount"], "currency": "USD"}),
        )
        .await;
    assert_documented(&Method::POST, "/payments/intent", &intent);
    let pi = str_of(&intent.expect(200), "payment_intent_id").to_string();
    let processed = api.process_raw(&buyer, &pi, Some("approve")).await;
    assert_documented(&Method::POST, "/payments/process", &processed);
    api.wait_reservation(&buyer, id, "CONFIRMED", std::time::Duration::from_secs(20))
        .await;
    assert_documented(
        &Method::GET,
        "/payments/{payment_intent_id}/status",
        &api.payment_status_raw(&buyer, &pi).await,
    );
    assert_documented(
        &Method::GET,
        "/reservations/{reservation_id}",
        &api.reservation_raw(&buyer, id).await,
    );
    assert_documented(
        &Method::POST,
        "/reservations/{reservation_id}/confirm",
        &api.confirm_raw(&buyer, id, &pi).await,
    );
    assert_documented(
        &Method::DELETE,
        "/reservations/{reservation_id}",
        &api.cancel_delete(&buyer, id).await,
    );
}

/// A status needs no authentication and does not read an `Authorization` header: a bad one is
/// answered as none would be (the document listed a 401 no status ever answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_does_not_read_the_authorization_header() {
    let api = Api::new();
    let event = api.ga_event(10, 1000, 0.01).await;
    let joined = api.join(str_of(&event, "event_id"), None).await;
    let token = str_of(&joined, "waiting_token");
    for path in [
        format!("/queue/status?token={token}"),
        "/queue/status?token=wtkn_0123456789abcdef0123456789abcdef".to_string(),
    ] {
        let plain = api.get(&path).send().await;
        let with_junk = api.get(&path).bearer("not-a-jwt").send().await;
        assert_eq!(
            plain.code(),
            with_junk.code(),
            "{path}: {}",
            with_junk.text()
        );
        assert_documented(&Method::GET, "/queue/status", &with_junk);
    }
}

//! The simulated payment provider's routes and the platform's webhook.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use tacos_core::domain::payments::{IntentRequest, ProcessRequest};
use tacos_core::domain::webhook_signature::WebhookHeaders;
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{check_user_id, parse_json, path_id, Caller, Json, Path, RawBody};
use crate::idempotency::{signed_in_own_key, OwnKey};
use tacos_core::ids::PaymentIntentId;

/// `POST /payments/intent`: its idempotency key is kept on the intent it writes
/// ([`signed_in_own_key`]).
pub async fn intent(State(platform): State<Arc<Platform>>, keyed: OwnKey) -> Response {
    let payments = &platform.payments;
    signed_in_own_key(
        &platform,
        Route::PaymentIntent,
        keyed,
        StatusCode::OK,
        |caller, key, body| async move {
            check_user_id(&body, Some(&caller))?;
            let request: IntentRequest = parse_json(&body)?;
            payments.create_intent_keyed(&caller, request, &key).await
        },
    )
    .await
}

pub async fn process(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    Json(body): Json<ProcessRequest>,
) -> Result<impl IntoResponse> {
    let intent = platform.payments.process(&caller, body).await?;
    Ok(axum::Json(
        serde_json::json!({ "payment_intent_id": intent.payment_intent_id, "status": intent.status }),
    ))
}

pub async fn status(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let id: PaymentIntentId = path_id(&id, Error::PaymentNotFound)?;
    Ok(axum::Json(
        platform.payments.get(&id, Some(&caller)).await?.view(),
    ))
}

pub async fn webhook(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let headers = WebhookHeaders {
        id: header("x-webhook-id"),
        timestamp: header("x-timestamp"),
        signature: header("x-signature"),
    };
    let fresh = platform.payments.receive_webhook(&headers, &body).await?;
    Ok(axum::Json(
        serde_json::json!({ "status": if fresh { "accepted" } else { "duplicate" } }),
    ))
}

//! The simulated payment provider's routes and the platform's webhook.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use tacos_core::domain::payments::{IntentRequest, ProcessAnswer, ProcessRequest};
use tacos_core::domain::webhook_signature::WebhookHeaders;
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{check_user_id, parse_json, path_id, Caller, Json, Path, RawBody};
use crate::idempotency::{json_answer, keyed_answer, signed_in_own_key, ClaimedKey, OwnKey};
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

/// `POST /payments/process`. Its `Idempotency-Key`, claimed by the idempotency middleware and
/// handed on in the request's extensions, is kept on the intent with the status it answered, so
/// a repeat is answered that status (`tacos_core::domain::payments::ProcessStamp`); an answer the
/// intent does not keep is left for the middleware to keep.
pub async fn process(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    ClaimedKey(key): ClaimedKey,
    Json(body): Json<ProcessRequest>,
) -> Result<Response> {
    Ok(
        match platform.payments.process_keyed(&caller, body, &key).await? {
            ProcessAnswer::Kept(answer) => keyed_answer(StatusCode::OK, answer),
            ProcessAnswer::NotKept(body) => json_answer(StatusCode::OK, body),
        },
    )
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

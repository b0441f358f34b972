//! Reservations: hold, read, confirm, cancel. Owners only: another user's reservation is 404.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use tacos_core::domain::reservations::HoldRequest;
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{check_user_id, parse_json, path_id, Caller, Json, Path, RawBody};
use crate::idempotency::{signed_in_own_key, OwnKey};
use tacos_core::ids::{PaymentIntentId, ReservationId};

fn reservation_id(raw: &str) -> Result<ReservationId> {
    path_id(raw, Error::ReservationNotFound)
}

/// `POST /reservations`: its idempotency key is kept on the reservation it writes
/// ([`signed_in_own_key`]).
pub async fn create(State(platform): State<Arc<Platform>>, keyed: OwnKey) -> Response {
    let reservations = &platform.reservations;
    signed_in_own_key(
        &platform,
        Route::Reserve,
        keyed,
        StatusCode::CREATED,
        |caller, key, body| async move {
            check_user_id(&body, Some(&caller))?;
            let request: HoldRequest = parse_json(&body)?;
            reservations.hold_keyed(&caller, request, &key).await
        },
    )
    .await
}

pub async fn detail(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let reservation = platform
        .reservations
        .get(&reservation_id(&id)?, Some(&caller))
        .await?;
    Ok(axum::Json(reservation.view()))
}

#[derive(Deserialize)]
pub struct ConfirmBody {
    payment_intent_id: PaymentIntentId,
}

pub async fn confirm(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<ConfirmBody>,
) -> Result<impl IntoResponse> {
    let confirmation = platform
        .reservations
        .confirm(
            &reservation_id(&id)?,
            &body.payment_intent_id,
            Some(&caller),
        )
        .await?;
    Ok(axum::Json(confirmation))
}

/// `DELETE /reservations/{id}` and `POST /reservations/{id}/cancel`. Neither needs a body; one
/// sent is read only for the `user_id` the original gateway's clients send, which must name the
/// caller as on every other route ([`check_user_id`]).
pub async fn cancel(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    check_user_id(&body, Some(&caller))?;
    let reservation = platform
        .reservations
        .cancel(&reservation_id(&id)?, &caller)
        .await?;
    Ok(axum::Json(
        serde_json::json!({ "reservation_id": reservation.reservation_id, "status": reservation.status }),
    ))
}

//! Handlers, one module per area of the contract. Each is a thin translation: extract, call the
//! domain, shape the answer.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::app::Platform;

pub mod auth;
pub mod events;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod reservations;

/// The routes under `/api/v1`.
pub fn api() -> Router<Arc<Platform>> {
    Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/queue/join", post(queue::join))
        .route("/queue/status", get(queue::status))
        .route("/queue/enter", post(queue::enter))
        .route("/queue/leave", axum::routing::delete(queue::leave))
        .route("/queue/stream", get(queue::stream))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::detail))
        .route("/events/{id}/availability", get(events::availability))
        .route("/admin/events", post(events::create))
        .route("/reservations", post(reservations::create))
        .route("/reservations/{id}", get(reservations::detail).delete(reservations::cancel))
        .route("/reservations/{id}/confirm", post(reservations::confirm))
        .route("/reservations/{id}/cancel", post(reservations::cancel))
        .route("/payments/intent", post(payments::intent))
        .route("/payments/process", post(payments::process))
        .route("/payments/webhook", post(payments::webhook))
        .route("/payments/{id}/status", get(payments::status))
        .merge(ops::routes())
}

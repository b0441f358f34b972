//! Handlers, one module per area of the contract. Each is a thin translation: extract, call the
//! domain, shape the answer.
//!
//! [`ENDPOINTS`] is the one table of routes: which path and method each serves and which Lambda
//! function (`functions/<name>`) owns it. The embedded server mounts all of them, each function
//! mounts its own, and the test gateway routes by the same table, so they cannot drift apart.

use std::sync::Arc;

use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;

use crate::app::Platform;

pub mod auth;
pub mod events;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod reservations;

type Handler = fn() -> MethodRouter<Arc<Platform>>;

/// One route of the contract.
pub struct Endpoint {
    /// The Lambda function that serves it (`functions/<function>`).
    pub function: &'static str,
    pub method: &'static str,
    /// Path as axum matches it, relative to the server root.
    pub path: &'static str,
    handler: Handler,
}

macro_rules! endpoint {
    ($function:literal, $method:ident $verb:literal, $path:literal, $handler:path) => {
        Endpoint {
            function: $function,
            method: $verb,
            path: $path,
            handler: || $method($handler),
        }
    };
}

/// Every route of the contract and the function that owns it.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!("auth-register", post "POST", "/api/v1/auth/register", auth::register),
    endpoint!("auth-login", post "POST", "/api/v1/auth/login", auth::login),
    endpoint!("queue-join", post "POST", "/api/v1/queue/join", queue::join),
    endpoint!("queue-status", get "GET", "/api/v1/queue/status", queue::status),
    endpoint!("queue-enter", post "POST", "/api/v1/queue/enter", queue::enter),
    endpoint!("queue-leave", delete "DELETE", "/api/v1/queue/leave", queue::leave),
    endpoint!("queue-stream", get "GET", "/api/v1/queue/stream", queue::stream),
    endpoint!("events-list", get "GET", "/api/v1/events", events::list),
    endpoint!("event-get", get "GET", "/api/v1/events/{id}", events::detail),
    endpoint!("event-availability", get "GET", "/api/v1/events/{id}/availability", events::availability),
    endpoint!("event-availability-stream", get "GET", "/api/v1/events/{id}/availability/stream", events::availability_stream),
    endpoint!("admin-create-event", post "POST", "/api/v1/admin/events", events::create),
    endpoint!("reserve", post "POST", "/api/v1/reservations", reservations::create),
    endpoint!("reservation-get", get "GET", "/api/v1/reservations/{id}", reservations::detail),
    endpoint!("confirm", post "POST", "/api/v1/reservations/{id}/confirm", reservations::confirm),
    endpoint!("cancel", delete "DELETE", "/api/v1/reservations/{id}", reservations::cancel),
    endpoint!("cancel", post "POST", "/api/v1/reservations/{id}/cancel", reservations::cancel),
    endpoint!("payment-intent", post "POST", "/api/v1/payments/intent", payments::intent),
    endpoint!("payment-process", post "POST", "/api/v1/payments/process", payments::process),
    endpoint!("payment-status", get "GET", "/api/v1/payments/{id}/status", payments::status),
    endpoint!("payment-webhook", post "POST", "/api/v1/payments/webhook", payments::webhook),
    endpoint!("ops", get "GET", "/healthz", ops::healthz),
    endpoint!("ops", get "GET", "/readyz", ops::readyz),
    endpoint!("ops", get "GET", "/version", ops::version),
    endpoint!("ops", get "GET", "/api/v1/healthz", ops::healthz),
    endpoint!("ops", get "GET", "/api/v1/readyz", ops::readyz),
    endpoint!("ops", get "GET", "/api/v1/version", ops::version),
];

/// The routes of the endpoints `keep` selects, merged per path.
pub fn select(keep: impl Fn(&Endpoint) -> bool) -> Router<Arc<Platform>> {
    select_each(keep, |_, methods| methods)
}

/// As [`select`], with each endpoint's routes passed through `each` (to add a layer) first.
pub fn select_each(
    keep: impl Fn(&Endpoint) -> bool,
    mut each: impl FnMut(&Endpoint, MethodRouter<Arc<Platform>>) -> MethodRouter<Arc<Platform>>,
) -> Router<Arc<Platform>> {
    let mut by_path: Vec<(&'static str, MethodRouter<Arc<Platform>>)> = Vec::new();
    for endpoint in ENDPOINTS.iter().filter(|e| keep(e)) {
        let methods = each(endpoint, (endpoint.handler)());
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, router)) => *router = std::mem::take(router).merge(methods),
            None => by_path.push((endpoint.path, methods)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// Names of all functions that serve HTTP routes, each once.
pub fn http_functions() -> Vec<&'static str> {
    unique(ENDPOINTS.iter().map(|e| e.function))
}

/// The distinct paths of the endpoints `keep` selects, sorted.
pub fn paths(keep: impl Fn(&Endpoint) -> bool) -> Vec<&'static str> {
    unique(ENDPOINTS.iter().filter(|e| keep(e)).map(|e| e.path))
}

fn unique(names: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = names.collect();
    names.sort_unstable();
    names.dedup();
    names
}

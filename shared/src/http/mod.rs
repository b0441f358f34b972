//! The contract's routes as one axum [`Router`], shared by every deployment.
//!
//! * [`trace`]: trace ids, request logs, the `X-Trace-Id` header.
//! * [`idempotency`]: the contract's `Idempotency-Key` rules for the POSTs that need them.
//! * [`extract`]: JSON bodies and callers, rejecting bad input in the contract's error shape.
//! * [`routes`]: one module per area of the API.
//! * [`bulkhead`]: per-function bounds on requests in flight, for a process serving every route.
//!
//! The embedded server serves this router directly; each Lambda function serves it behind
//! `lambda_http`, so the functions and the local server cannot drift apart.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};

use crate::app::Platform;
use crate::error::Error;

pub mod bulkhead;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod routes;
pub mod trace;

/// Largest request body accepted (the contract's 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the contract, with its middleware (the embedded server and the container),
/// each function's routes behind a [`bulkhead`] when the configuration sets one.
pub fn router(platform: Arc<Platform>) -> Router {
    let routes = match platform.config().function_concurrency {
        0 => routes::select(|_| true),
        limit => {
            let mut bulkheads = bulkhead::Bulkheads::new(limit);
            routes::select_each(
                |_| true,
                |endpoint, methods| bulkheads.wrap(endpoint, methods),
            )
        }
    };
    with_middleware(routes, platform)
}

/// The function API Gateway's `$default` route sends every request no other route matches.
pub const CATCH_ALL_FUNCTION: &str = "ops";

/// Only the routes of one Lambda function (`functions/<name>`), with the same middleware.
///
/// The catch-all function also knows every other route's path without its methods, so a request
/// API Gateway could not route answers 405 `METHOD_NOT_ALLOWED` for a known path and 404
/// `NOT_FOUND` otherwise, as the embedded server does.
pub fn function_router(function: &str, platform: Arc<Platform>) -> Router {
    let mut routes = routes::select(|e| e.function == function);
    if function == CATCH_ALL_FUNCTION {
        for path in routes::paths(|e| e.function != function) {
            routes = routes.route(path, axum::routing::MethodRouter::new());
        }
    }
    with_middleware(routes, platform)
}

fn with_middleware(routes: Router<Arc<Platform>>, platform: Arc<Platform>) -> Router {
    routes
        .layer(axum::middleware::from_fn_with_state(
            platform.clone(),
            idempotency::middleware,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .with_state(platform)
        .layer(cors())
        .layer(axum::middleware::from_fn(trace::middleware))
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-trace-id"),
            HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            HeaderName::from_static("x-trace-id"),
            HeaderName::from_static("x-idempotency-cached"),
            HeaderName::from_static("retry-after"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

//! Handlers, one module per area of the contract. Each is a thin translation: extract, call the
//! domain, shape the answer.
//!
//! Which routes exist and which function serves each is the core's table
//! ([`Route`]); [`handler`] gives each its handler with an
//! exhaustive `match`, so a route added to the table without a handler does not compile. The
//! embedded server mounts every route, each Lambda function its own, and the test gateway routes
//! by the same table, so they cannot drift apart.

use std::sync::Arc;

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use tacos_core::functions::{Method, Route};
use tacos_core::platform::Platform;

pub mod admin;
pub mod auth;
pub mod events;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod reservations;

/// The handler of `route`, on the method the table gives it.
pub fn handler(route: Route) -> MethodRouter<Arc<Platform>> {
    match route {
        Route::Register => on(route, auth::register),
        Route::Login => on(route, auth::login),
        Route::QueueJoin => on(route, queue::join),
        Route::QueueStatus => on(route, queue::status),
        Route::QueueEnter => on(route, queue::enter),
        Route::QueueLeave => on(route, queue::leave),
        Route::QueueLeaveByPost => on(route, queue::leave_by_post),
        Route::QueueStream => on(route, queue::stream),
        Route::QueueChallenge => on(route, queue::challenge),
        Route::QueueDraw => on(route, queue::draw),
        Route::EventsList => on(route, events::list),
        Route::EventGet => on(route, events::detail),
        Route::EventAvailability => on(route, events::availability),
        Route::EventAvailabilityStream => on(route, events::availability_stream),
        Route::AdminCreateEvent => on(route, events::create),
        Route::AdminUpdateEvent => on(route, admin::update),
        Route::AdminPauseEvent => on(route, admin::pause),
        Route::AdminResumeEvent => on(route, admin::resume),
        Route::AdminCloseEvent => on(route, admin::close),
        Route::AdminAudit => on(route, admin::audit),
        Route::Reserve => on(route, reservations::create),
        Route::ReservationGet => on(route, reservations::detail),
        Route::Confirm => on(route, reservations::confirm),
        Route::CancelByDelete => on(route, reservations::cancel),
        Route::CancelByPost => on(route, reservations::cancel),
        Route::PaymentIntent => on(route, payments::intent),
        Route::PaymentProcess => on(route, payments::process),
        Route::PaymentStatus => on(route, payments::status),
        Route::PaymentWebhook => on(route, payments::webhook),
        Route::Healthz | Route::ApiHealthz => on(route, ops::healthz),
        Route::Readyz | Route::ApiReadyz => on(route, ops::readyz),
        Route::Version | Route::ApiVersion => on(route, ops::version),
    }
}

/// `handler` on `route`'s method.
fn on<H, T>(route: Route, handler: H) -> MethodRouter<Arc<Platform>>
where
    H: Handler<T, Arc<Platform>>,
    T: 'static,
{
    axum::routing::on(method_filter(route.method()), handler)
}

/// axum's filter for a method of the contract.
pub fn method_filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// The routes `keep` selects, merged per path, each route's handler passed through `each` (to
/// add its own layers) first.
pub fn select_each(
    keep: impl Fn(Route) -> bool,
    mut each: impl FnMut(Route, MethodRouter<Arc<Platform>>) -> MethodRouter<Arc<Platform>>,
) -> Router<Arc<Platform>> {
    let mut by_path: Vec<(&'static str, MethodRouter<Arc<Platform>>)> = Vec::new();
    for route in Route::ALL.iter().copied().filter(|r| keep(*r)) {
        let methods = each(route, handler(route));
        match by_path.iter_mut().find(|(path, _)| *path == route.path()) {
            Some((_, router)) => *router = std::mem::take(router).merge(methods),
            None => by_path.push((route.path(), methods)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// The distinct paths of the routes `keep` selects, sorted.
pub fn paths(keep: impl Fn(Route) -> bool) -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = Route::ALL
        .iter()
        .copied()
        .filter(|r| keep(*r))
        .map(Route::path)
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

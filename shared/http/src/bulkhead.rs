//! Bulkheads: a bound on the requests of one function's routes in flight at once.
//!
//! On Lambda each function has its own concurrency, so a flood of waiting-room polls cannot take
//! the capacity that reservations and payments need. A process that serves every route (the
//! container) gets the same isolation from one semaphore per
//! [`Function`]: a request waits for a slot of its own function, so polls
//! queue behind polls, not in front of the next buyer's reservation, and the store never sees
//! more than `limit` requests of one kind at a time. Off (`limit` 0) in the embedded server, whose
//! in-process store answers in microseconds.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use tokio::sync::Semaphore;

use tacos_core::functions::{Function, Route};

/// The semaphores of one router, one per function, each with `limit` slots.
pub struct Bulkheads {
    limit: usize,
    slots: HashMap<Function, Arc<Semaphore>>,
}

impl Bulkheads {
    pub fn new(limit: usize) -> Self {
        Bulkheads {
            limit,
            slots: HashMap::new(),
        }
    }

    /// `methods` (the handler of `route`), admitted through the slots of its function.
    pub fn wrap<S>(&mut self, route: Route, methods: MethodRouter<S>) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let limit = self.limit;
        let slots = self
            .slots
            .entry(route.function())
            .or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone();
        methods.layer(axum::middleware::from_fn_with_state(slots, admit))
    }
}

/// Waits for a slot, runs the handler, and frees the slot once the response is ready (a
/// server-sent event stream goes on without holding it).
async fn admit(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    // Acquiring fails only on a closed semaphore, and nothing closes these.
    let _slot = slots
        .acquire_owned()
        .await
        .expect("bulkheads are never closed");
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    async fn call(router: &Router, path: &str) -> Option<u16> {
        let request = Request::get(path).body(Body::empty()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), router.clone().oneshot(request))
            .await
            .ok()
            .map(|r| r.unwrap().status().as_u16())
    }

    #[tokio::test]
    async fn a_full_function_makes_its_own_requests_wait_and_no_other() {
        let release = Arc::new(Notify::new());
        let entered = Arc::new(AtomicUsize::new(0));
        let (held, polls) = (release.clone(), entered.clone());
        let mut bulkheads = Bulkheads::new(1);
        let router = Router::new()
            .route(
                "/status",
                bulkheads.wrap(
                    Route::QueueStatus,
                    get(move || {
                        let (held, polls) = (held.clone(), polls.clone());
                        async move {
                            polls.fetch_add(1, Ordering::SeqCst);
                            held.notified().await
                        }
                    }),
                ),
            )
            .route("/reserve", bulkheads.wrap(Route::Reserve, get(|| async {})));

        // One poll takes the status function's only slot and keeps it.
        let first = tokio::spawn({
            let router = router.clone();
            async move { call(&router, "/status").await }
        });
        tokio::task::yield_now().await;
        // A second poll waits for it; a reservation does not.
        let second = tokio::spawn({
            let router = router.clone();
            async move { call(&router, "/status").await }
        });
        assert_eq!(call(&router, "/reserve").await, Some(200));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            entered.load(Ordering::SeqCst),
            1,
            "the second poll waits for a slot"
        );
        // The first poll answers; its slot goes to the second.
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(200));
        release.notify_one();
        assert_eq!(second.await.unwrap(), Some(200));
    }
}

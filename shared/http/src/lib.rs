//! The contract's routes as one axum [`Router`], shared by every deployment.
//!
//! * [`trace`]: trace ids, request logs, the `X-Trace-Id` header, the request's server span.
//! * [`metrics`]: request series and the Prometheus `GET /metrics` endpoint.
//! * [`idempotency`]: the contract's `Idempotency-Key` rules for the POSTs that need them.
//! * [`extract`]: JSON bodies and callers, rejecting bad input in the contract's error shape.
//! * [`routes`]: one module per area of the API.
//! * [`bulkhead`]: per-function bounds on requests in flight, for a process serving every route.
//! * [`rate_limit`]: per-caller rate limits, before any other work of a request.
//! * [`sse`]: the rhythm of server-sent event streams, transports that cannot stream, and events
//!   formatted once and shared by every stream.
//! * [`snapshot_events`]: an event's availability as one shared server-sent event per snapshot.
//! * [`live_socket`]: the WebSocket endpoint of live updates, `GET /api/v1/live`.
//! * [`error`]: the contract's error shape, `{"error":{"code","message","trace_id"}}`.
//! * [`settings`]: port, rate limits, client-address header, per-function concurrency.
//! * [`cors`]: the one fixed CORS policy, preflights answered before routing.
//! * [`origin`]: the trusted proxy's secret header, when the deployment has one.
//! * [`server`]: the accept loop of the processes that serve the router themselves: header and
//!   idle timeouts, connections bounded per address and in all.
//! * [`write_timeout`]: a connection whose peer stops reading closed after a while.
//! * [`ws_upgrade`]: the WebSocket handshake, handing over the protocol's own stream.
//!
//! Every response, errors and preflights included, carries the security headers of
//! [`SECURITY_HEADERS`].
//!
//! The embedded server serves this router directly; each Lambda function serves it behind
//! `lambda_http`, so the functions and the local server cannot drift apart.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::Router;
use tower::util::MapResponseLayer;
use tower::ServiceBuilder;

use tacos_core::error::Error;
use tacos_core::functions::{Function, Route};
use tacos_core::platform::Platform;

use crate::error::ApiError;
use crate::settings::HttpSettings;

pub mod bulkhead;
pub mod client_network;
pub mod cors;
pub mod declared_size;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod live_socket;
pub mod metrics;
pub mod origin;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod settings;
pub mod snapshot_events;
pub mod sse;
pub mod throttle;
pub mod trace;
pub mod write_timeout;
pub mod ws_upgrade;

/// Largest request body accepted (the contract's 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the contract, with its middleware (the embedded server and the container),
/// each function's routes behind a [`bulkhead`] when the configuration sets one, and the
/// operator's `GET /metrics` ([`metrics::routes`]).
pub fn router(platform: Arc<Platform>, settings: &HttpSettings) -> Router {
    router_with_clock(platform, settings, rate_limit::DefaultClock::default())
}

/// [`router`] with the rate limiter measuring time on `clock` (tests move a
/// [`FakeRelativeClock`](rate_limit::FakeRelativeClock) instead of sleeping).
pub fn router_with_clock<C>(platform: Arc<Platform>, settings: &HttpSettings, clock: C) -> Router
where
    C: rate_limit::Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    let routes = mounted(|_| true, &platform, settings);
    let metrics =
        metrics::routes(platform.clone(), settings.metrics_token.clone()).layer(security_headers());
    with_middleware(routes, platform, settings, clock).merge(metrics)
}

/// Only the routes of one Lambda function (`functions/<name>`), with the same middleware.
///
/// The catch-all function ([`Function::CATCH_ALL`]) also knows every other route's path without
/// its methods, so a request API Gateway could not route answers 405 `METHOD_NOT_ALLOWED` for a
/// known path and 404 `NOT_FOUND` otherwise, as the embedded server does.
pub fn function_router(
    function: Function,
    platform: Arc<Platform>,
    settings: &HttpSettings,
) -> Router {
    let mut routes = mounted(|r| r.function() == function, &platform, settings);
    if function == Function::CATCH_ALL {
        for path in routes::paths(|r| r.function() != function) {
            routes = routes.route(path, axum::routing::MethodRouter::new());
        }
    }
    with_middleware(
        routes,
        platform,
        settings,
        rate_limit::DefaultClock::default(),
    )
}

/// The routes `keep` selects, each behind its own layers: the idempotency middleware on the
/// routes it acts on ([`idempotency::layered`]), outside its function's [`bulkhead`] when the
/// configuration sets one (so a replay is answered without taking a slot).
fn mounted(
    keep: impl Fn(Route) -> bool,
    platform: &Arc<Platform>,
    settings: &HttpSettings,
) -> Router<Arc<Platform>> {
    let mut bulkheads = match settings.function_concurrency {
        0 => None,
        limit => Some(bulkhead::Bulkheads::new(limit)),
    };
    routes::select_each(keep, |route, methods| {
        let methods = match bulkheads.as_mut() {
            Some(bulkheads) => bulkheads.wrap(route, methods),
            None => methods,
        };
        idempotency::layered(route, methods, platform)
    })
}

/// The headers every response carries. The API serves JSON (and one event stream), never a page,
/// so the policy allows nothing: no scripts, frames or sources of any kind, which costs the API
/// nothing and leaves an injected response nothing to run. HSTS keeps browsers on HTTPS for two
/// years (ignored over plain HTTP, so the local server is unaffected).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

fn with_middleware<C>(
    routes: Router<Arc<Platform>>,
    platform: Arc<Platform>,
    settings: &HttpSettings,
    clock: C,
) -> Router
where
    C: rate_limit::Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    let routes = routes
        .fallback(|| async { ApiError(Error::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError(Error::MethodNotAllowed) });
    // Outside the idempotency layer (it runs first) and after the fallbacks (unknown paths count
    // too): a refused request claims no key and reaches no handler.
    let routes = rate_limit::layer(routes, &platform, settings.rate_limit.as_ref(), clock);
    let client_ip_header = settings.client_ip_header.clone();
    let mut router = routes.with_state(platform);
    if let Some(header) = client_ip_header {
        // Before anything that scopes by caller (rate limits, idempotency keys).
        router = router.layer(axum::middleware::map_request_with_state(
            Arc::<str>::from(header),
            extract::client_addr_from_header,
        ));
    }
    if let Some(secret) = settings.origin_secret.clone() {
        // Outside the client address: the proxy's header is believed only once the request is
        // known to come through the proxy.
        router = router.layer(axum::middleware::from_fn_with_state(
            Arc::new(secret),
            origin::require,
        ));
    }
    // One layer of the router for the whole stack: axum clones a route's service for every
    // request, and each `Router::layer` is a boxed service of its own to clone, so composing
    // them first saves an allocation per layer per request (a fifth of a status request's
    // instructions went to such clones and their drops). Outermost first.
    router.layer(
        ServiceBuilder::new()
            // Every answer gets a trace id, belongs to the request's span, is logged and is
            // counted: outside everything else, so refusals and preflights are too.
            .layer(trace::ObserveLayer)
            // Outside CORS, so preflights carry them too.
            .layer(security_headers())
            .layer(cors::CorsLayer)
            // The contract's largest body, for every extractor that reads one.
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            // A body declared too large is refused before any of it is read.
            .layer(declared_size::RefuseOversizeLayer),
    )
}

/// Sets [`SECURITY_HEADERS`] on a response, replacing what the handler set.
fn secure(mut response: Response) -> Response {
    // Parsed once: a header name made from a string is checked byte by byte.
    static PARSED: std::sync::LazyLock<Vec<(HeaderName, HeaderValue)>> =
        std::sync::LazyLock::new(|| {
            SECURITY_HEADERS
                .iter()
                .map(|(name, value)| {
                    (
                        HeaderName::from_static(name),
                        HeaderValue::from_static(value),
                    )
                })
                .collect()
        });
    let headers = response.headers_mut();
    // Room for these and the few set after them (`vary`, `x-trace-id`, `content-length`) at
    // once, rather than the map growing twice as they come (it showed in a status's profile).
    headers.reserve(PARSED.len() + 3);
    for (name, value) in PARSED.iter() {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// The layer that gives every response [`SECURITY_HEADERS`] (one layer for all of them: each
/// layer of a router costs every request a clone).
pub fn security_headers() -> MapResponseLayer<fn(Response) -> Response> {
    MapResponseLayer::new(secure as fn(Response) -> Response)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use axum::response::Response;
    use tower::ServiceExt;

    use super::*;
    use tacos_core::config::Config;
    use tacos_embedded::InProcess;

    async fn app() -> Router {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let local = InProcess::new(config);
        tacos_core::seed::seed(&local.platform).await.unwrap();
        router(local.platform.clone(), &HttpSettings::defaults())
    }

    async fn send(app: &Router, request: Request) -> Response {
        app.clone().oneshot(request).await.unwrap()
    }

    #[track_caller]
    fn assert_security_headers(what: &str, response: &Response) {
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                response.headers().get(*name).and_then(|v| v.to_str().ok()),
                Some(*value),
                "{name} on {what} ({})",
                response.status()
            );
        }
    }

    /// A body sent as a stream of 4 KiB chunks, without `Content-Length`.
    fn chunked(bytes: Vec<u8>) -> Body {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(4096).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    /// The WebSocket endpoint is a route like the others: another method is 405 in the contract's
    /// shape, a preflight is answered with CORS headers (a probe found an empty 405 and the
    /// preflight unanswered), and every answer carries the security headers.
    #[tokio::test]
    async fn the_live_endpoint_answers_other_methods_and_preflights_as_every_route_does() {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let local = InProcess::new(config);
        let settings = HttpSettings::defaults();
        let app = live_socket::LiveSocket::new(&local.platform).routes(&local.platform, &settings);
        let post = Request::post(live_socket::PATH)
            .body(Body::empty())
            .unwrap();
        let refused = send(&app, post).await;
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_security_headers("a 405", &refused);
        let body = axum::body::to_bytes(refused.into_body(), 4096)
            .await
            .unwrap();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["code"], "METHOD_NOT_ALLOWED", "{error}");
        let preflight = Request::options(live_socket::PATH)
            .header("origin", "https://tickets.example")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap();
        let answered = send(&app, preflight).await;
        assert!(answered.status().is_success(), "{}", answered.status());
        assert!(
            answered
                .headers()
                .contains_key("access-control-allow-origin"),
            "{:?}",
            answered.headers()
        );
        assert_security_headers("a preflight", &answered);
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        let app = app().await;
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        for (what, request, status) in [
            ("a probe", get("/healthz"), StatusCode::OK),
            ("a read", get("/api/v1/events"), StatusCode::OK),
            (
                "an unknown route",
                get("/api/v1/nowhere"),
                StatusCode::NOT_FOUND,
            ),
            (
                "a wrong method",
                Request::patch("/api/v1/auth/login")
                    .body(Body::empty())
                    .unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "a preflight",
                Request::options("/api/v1/queue/join")
                    .header("origin", "https://tickets.example")
                    .header("access-control-request-method", "POST")
                    .body(Body::empty())
                    .unwrap(),
                StatusCode::OK,
            ),
        ] {
            let response = send(&app, request).await;
            assert_eq!(response.status(), status, "{what}");
            assert_security_headers(what, &response);
        }

        // The waiting room's event stream is served with them too.
        let join = Request::post("/api/v1/queue/join")
            .header("content-type", "application/json")
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .body(Body::from(r#"{"event_id":"evt_demo"}"#))
            .unwrap();
        let response = send(&app, join).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["waiting_token"]
            .as_str()
            .unwrap()
            .to_string();
        let stream = send(&app, get(&format!("/api/v1/queue/stream?token={token}"))).await;
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(
            stream.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        assert_security_headers("the event stream", &stream);
        let mut body = stream.into_body().into_data_stream();
        let first = next_chunk(&mut body).await;
        assert!(first.starts_with("event: status\n"), "{first}");
        assert!(
            first.contains("\nretry: 2000\n"),
            "a dropped stream is reconnected at the stream's own pace: {first}"
        );
    }

    /// The text of the next chunk of a streamed body.
    async fn next_chunk(body: &mut axum::body::BodyDataStream) -> String {
        use futures::StreamExt;
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
            .await
            .expect("a chunk within 5 s")
            .expect("the stream goes on")
            .unwrap();
        String::from_utf8(chunk.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_availability_stream_pushes_the_availability_and_asks_for_reconnection() {
        let app = app().await;
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let response = send(&app, get("/api/v1/events/evt_demo/availability/stream")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_security_headers("the availability stream", &response);
        let mut body = response.into_body().into_data_stream();
        let first = next_chunk(&mut body).await;
        assert!(first.starts_with("event: availability\n"), "{first}");
        assert!(first.contains("\nretry: 2000\n"), "{first}");
        let data = first
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("a data line");
        let availability: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(availability["event_id"], "evt_demo");
        assert_eq!(availability["total"], 120);

        // The next one about 2 s later, on a stream that stays open.
        let started = std::time::Instant::now();
        let second = next_chunk(&mut body).await;
        assert!(second.starts_with("event: availability\n"), "{second}");
        let gap = started.elapsed();
        assert!(gap >= std::time::Duration::from_millis(1500), "{gap:?}");

        // An unknown event is the contract's JSON 404, not a stream.
        let missing = send(&app, get("/api/v1/events/evt_nope/availability/stream")).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(missing.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "EVENT_NOT_FOUND");
    }

    /// A person in a lobby, whose status stream would otherwise go on until the sale opens.
    async fn waiting_in_a_lobby() -> (Router, String) {
        let mut config = Config::for_tests();
        config.seed_demo_event = false;
        let local = InProcess::new(config);
        let event = local
            .platform
            .catalog
            .create(tacos_core::domain::catalog::NewEvent {
                name: "Lobby night".into(),
                venue: "Hall".into(),
                starts_at: chrono::Utc::now() + chrono::Duration::days(2),
                currency: "USD".into(),
                price: 1_000,
                sections: None,
                capacity: Some(10),
                admission_rate_per_sec: 1.0,
                max_per_order: 4,
                event_id: None,
                on_sale_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
            })
            .await
            .unwrap();
        let joined = local
            .platform
            .queue
            .join(&event.event_id, None)
            .await
            .unwrap();
        let token = joined.waiting_token.to_string();
        (
            router(local.platform.clone(), &HttpSettings::defaults()),
            token,
        )
    }

    async fn stream_text(app: &Router, token: &str) -> String {
        let request = Request::get(format!("/api/v1/queue/stream?token={token}"))
            .body(Body::empty())
            .unwrap();
        let response = send(app, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX);
        String::from_utf8(body.await.unwrap().to_vec()).unwrap()
    }

    /// A status stream ends by itself after its bound ([`sse::STREAM_FOR`], 50 s; here 2.5 s),
    /// its client reconnecting after the `retry` every event carries: under the timeout of the
    /// Lambda function that streams it.
    #[tokio::test]
    async fn a_status_stream_ends_by_itself_after_a_while() {
        let (app, token) = waiting_in_a_lobby().await;
        let bound = std::time::Duration::from_millis(2_500);
        let app = app.layer(axum::Extension(sse::StreamFor(bound)));
        let started = std::time::Instant::now();
        let text = tokio::time::timeout(bound * 4, stream_text(&app, &token))
            .await
            .expect("the stream ends by itself");
        let lasted = started.elapsed();
        assert!(lasted >= bound && lasted < bound * 2, "{lasted:?}");
        let events = text.matches("event: status").count();
        assert!((1..=3).contains(&events), "{events} events: {text}");
        assert!(text.contains("retry: 2000"), "{text}");
    }

    /// Through a buffered transport (API Gateway's HTTP API) a status stream sends one event and
    /// ends, as the availability stream does.
    #[tokio::test]
    async fn a_buffered_status_stream_sends_one_event() {
        let (app, token) = waiting_in_a_lobby().await;
        let app = app.layer(axum::Extension(sse::Delivery::Buffered));
        let started = std::time::Instant::now();
        let text = stream_text(&app, &token).await;
        assert!(started.elapsed() < sse::INTERVAL * 2, "{text}");
        assert_eq!(text.matches("event: status").count(), 1, "{text}");
    }

    /// Streams of one event send one formatted event per snapshot, the same bytes, not a copy
    /// each: a probe's thousand unread streams of a 20,000-seat event held 3.8 MB apiece when
    /// every stream formatted its own.
    #[tokio::test]
    async fn availability_streams_share_each_snapshot_s_event() {
        use futures::StreamExt;
        let app = app().await;
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let request = Request::get("/api/v1/events/evt_demo/availability/stream")
                .body(Body::empty())
                .unwrap();
            let response = send(&app, request).await;
            assert_eq!(response.status(), StatusCode::OK);
            let mut body = response.into_body().into_data_stream();
            let first = body.next().await.unwrap().unwrap();
            assert!(first.starts_with(b"event: availability\n"));
            // Held, with its stream, while the others are opened.
            firsts.push((first, body));
        }
        let (first, _) = &firsts[0];
        for (other, _) in &firsts[1..] {
            assert_eq!(
                other.as_ptr(),
                first.as_ptr(),
                "one allocation for every stream's event"
            );
        }
    }

    #[tokio::test]
    async fn a_buffered_transport_gets_one_event_and_the_end_of_the_stream() {
        let app = app().await.layer(axum::Extension(sse::Delivery::Buffered));
        let request = Request::get("/api/v1/events/evt_demo_ga/availability/stream")
            .body(Body::empty())
            .unwrap();
        let response = send(&app, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            axum::body::to_bytes(response.into_body(), usize::MAX),
        )
        .await
        .expect("the response ends at once")
        .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text.matches("event: availability").count(), 1, "{text}");
        assert!(text.contains("retry: 2000"), "{text}");
    }

    #[tokio::test]
    async fn a_chunked_body_over_64_kib_is_refused_without_a_content_length() {
        let app = app().await;
        let big = format!(
            r#"{{"event_id":"evt_demo","username":"{}","password":"x"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        )
        .into_bytes();
        // A handler's body, a body the idempotency layer reads first, and the webhook's raw body.
        for path in [
            "/api/v1/auth/register",
            "/api/v1/queue/join",
            "/api/v1/payments/webhook",
        ] {
            let request = Request::post(path)
                .header("content-type", "application/json")
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .body(chunked(big.clone()))
                .unwrap();
            assert!(request.headers().get("content-length").is_none());
            let response = send(&app, request).await;
            assert_security_headers(path, &response);
            assert_too_large_in_json(path, response).await;
        }
    }

    /// A body declared over 64 KiB is refused before any of it is read, on every route (the
    /// probe's webhook declared 1 GB and sent a byte every 5 s; the limit on reading waited for
    /// 64 KiB to arrive).
    #[tokio::test]
    async fn a_declared_length_over_64_kib_is_refused_before_reading() {
        let app = app().await;
        for path in [
            "/api/v1/payments/webhook",
            "/api/v1/auth/login",
            "/api/v1/queue/join",
            "/api/v1/events",
        ] {
            // A body that never sends a byte, reporting its declared length as hyper's does:
            // only that length can be judged.
            let never =
                Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>());
            let request = Request::post(path)
                .header("content-type", "application/json")
                .header("content-length", "1000000000")
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .body(Body::new(Declared(never, 1_000_000_000)))
                .unwrap();
            let response =
                tokio::time::timeout(std::time::Duration::from_secs(2), send(&app, request))
                    .await
                    .unwrap_or_else(|_| panic!("{path}: still reading"));
            assert_security_headers(path, &response);
            assert_too_large_in_json(path, response).await;
        }
    }

    /// A body reporting a declared length, as hyper's does from `Content-Length`.
    struct Declared(Body, u64);

    impl axum::body::HttpBody for Declared {
        type Data = bytes::Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>>
        {
            std::pin::Pin::new(&mut self.0).poll_frame(cx)
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(self.1)
        }
    }

    /// A 413 whose body is the contract's error, code `PAYLOAD_TOO_LARGE`, naming the trace its
    /// `X-Trace-Id` header does.
    async fn assert_too_large_in_json(path: &str, response: Response) {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let trace_id = response.headers()["x-trace-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{path}");
        assert_eq!(body["error"]["trace_id"], trace_id, "{path}");
    }

    /// Issue 14's case: a 70 KB body to the webhook, with its `Content-Length`, was a 413 in
    /// text/plain (axum's own rejection).
    #[tokio::test]
    async fn a_body_over_64_kib_is_413_in_the_contracts_json_shape_on_every_kind_of_route() {
        let app = app().await;
        let big = format!(r#"{{"padding":"{}"}}"#, "x".repeat(70 * 1024));
        for path in [
            "/api/v1/auth/register",
            "/api/v1/queue/join",
            "/api/v1/payments/webhook",
        ] {
            let request = Request::post(path)
                .header("content-type", "application/json")
                .header("content-length", big.len())
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .header("x-webhook-id", "wh_big")
                .header("x-timestamp", "0")
                .header("x-signature", "sha256=00")
                .body(Body::from(big.clone()))
                .unwrap();
            let response = send(&app, request).await;
            assert_eq!(
                response.headers().get("content-type").unwrap(),
                "application/json",
                "{path}"
            );
            assert_too_large_in_json(path, response).await;
        }
    }
}

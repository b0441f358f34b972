//! `tacos-gateway`: a small API-Gateway-style router for testing the Lambda functions locally.
//!
//! It routes each request by method and path, using the function table of `tacos_core::functions`, to
//! the function that owns it under `cargo lambda watch` (its function-URL emulation at
//! `/lambda-url/<function>/<path>`), and anything else to the catch-all function, as the HttpApi's
//! `$default` route does. Usage: `tacos-gateway --port 9100 --watch http://127.0.0.1:9000`.
//!
//! It also plays the CloudFront distribution the template puts in front of the API: every
//! response leaves with the security headers of its response headers policy (`Override: true`),
//! whoever answered. In the deployment that includes what API Gateway answers itself (CORS
//! preflights, its throttling 429s); here, the preflights `cargo lambda watch` answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::Router;
use futures::StreamExt;
use tacos_core::functions::{Function, Route};
use tokio::sync::Semaphore;

/// Requests in flight per function; the rest wait here, as API Gateway requests wait for a
/// Lambda's reserved concurrency. `cargo lambda watch` stalls when ~100 invocations of one
/// function queue inside it, so the queue stays in the gateway.
const IN_FLIGHT_PER_FUNCTION: usize = 16;

/// The request's headers as API Gateway hands them to a function (payload format 2.0): a header
/// sent more than once arrives once, its values joined with commas. `cargo lambda watch` keeps one
/// of them instead, so a function behind it would not see what it sees on AWS (two
/// `Idempotency-Key` headers read as one key, where on AWS they are `a,b`: no key at all).
/// `Host` and `Content-Length` are the gateway's own to set.
fn combined_headers(
    headers: &axum::http::HeaderMap,
) -> Vec<(&axum::http::HeaderName, axum::http::HeaderValue)> {
    headers
        .keys()
        .filter(|name| **name != axum::http::header::HOST)
        .filter(|name| **name != axum::http::header::CONTENT_LENGTH)
        .filter_map(|name| {
            let mut values = headers.get_all(name).iter();
            let first = values.next()?.clone();
            let joined = values.fold(first.as_bytes().to_vec(), |mut all, next| {
                all.push(b',');
                all.extend_from_slice(next.as_bytes());
                all
            });
            Some((name, axum::http::HeaderValue::from_bytes(&joined).ok()?))
        })
        .collect()
}

/// Tries of a safe request (GET, HEAD) that `cargo lambda watch` itself failed or lost. Under
/// load it rarely drops an invocation it has dispatched, where Lambda's service would not: a
/// clean CI run's parity stage saw one `GET /api/v1/events` answered with its own 500 in
/// `application/problem+json` (which no function answers: they answer the contract's error
/// shape) in 213 ms, the function's log showing nothing, and another's
/// `GET /api/v1/events/evt_demo/availability` never answered at all (the suite's client gave up
/// at 30 s; the function answers it in under 0.2 s). A request that may change something is never
/// repeated, and every repeat is logged.
const EMULATOR_TRIES: usize = 3;

/// How long one try of a safe request may go unanswered before it counts as lost
/// ([`EMULATOR_TRIES`]). From the moment it is handed to `cargo lambda watch`, so it covers the
/// wait there for one of the function's instances (at most 16 in flight for 4 instances) and
/// the answer: the slowest a parity run measured was under a second (`queue-status`, 0.57 s, and
/// `queue-enter`, 0.76 s). Two tries fit in the suite's 30 s client timeout.
const EMULATOR_TRY_TIMEOUT: Duration = Duration::from_secs(12);

struct Upstream {
    watch: String,
    http: reqwest::Client,
    slots: HashMap<&'static str, Arc<Semaphore>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut port = 9100u16;
    let mut watch = "http://127.0.0.1:9000".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().unwrap_or_default().parse()?,
            "--watch" => watch = args.next().unwrap_or_default(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let upstream = Arc::new(Upstream {
        watch: watch.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        slots: Function::ALL
            .iter()
            .map(|f| (f.name(), Arc::new(Semaphore::new(IN_FLIGHT_PER_FUNCTION))))
            .collect(),
    });
    let mut router: Router<Arc<Upstream>> = Router::new();
    for path in tacos_http::routes::paths(|_| true) {
        let mut methods = axum::routing::MethodRouter::new();
        for route in Route::ALL.iter().filter(|r| r.path() == path) {
            let filter = tacos_http::routes::method_filter(route.method());
            let function = route.function().name();
            methods = methods.merge(on(
                filter,
                move |State(up): State<Arc<Upstream>>, request: Request| {
                    forward(up, function, request)
                },
            ));
        }
        let catch_all = |State(up): State<Arc<Upstream>>, request: Request| {
            forward(up, Function::CATCH_ALL.name(), request)
        };
        router = router.route(path, methods.fallback(catch_all));
    }
    let router = router
        .fallback(|State(up): State<Arc<Upstream>>, request: Request| {
            forward(up, Function::CATCH_ALL.name(), request)
        })
        .with_state(upstream);
    let router = router.layer(tacos_http::security_headers());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "tacos-gateway on http://{} -> {watch}",
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}

async fn forward(up: Arc<Upstream>, function: &'static str, request: Request) -> Response {
    let Ok(slot) = up.slots[function].clone().acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}/lambda-url/{function}{path}", up.watch);
    let Ok(body) = axum::body::to_bytes(body, 10 * 1024 * 1024).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large for the gateway",
        )
            .into_response();
    };
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let mut tries = 1;
    let sent = loop {
        let mut outbound = up
            .http
            .request(parts.method.clone(), &url)
            .body(body.clone());
        for (name, value) in combined_headers(&parts.headers) {
            outbound = outbound.header(name, value);
        }
        let attempt = if safe {
            tokio::time::timeout(EMULATOR_TRY_TIMEOUT, outbound.send())
                .await
                .ok()
        } else {
            Some(outbound.send().await)
        };
        // The emulator's own failure, if it answered one: passed on once the tries are spent.
        let (failure, lost) = match attempt {
            Some(Ok(response)) if safe && emulator_failed(&response) => (
                Some(response),
                "failed by cargo lambda watch itself (500, problem+json)".to_string(),
            ),
            Some(sent) => break sent,
            None => (
                None,
                format!("left unanswered for {EMULATOR_TRY_TIMEOUT:?}"),
            ),
        };
        if tries == EMULATOR_TRIES {
            eprintln!(
                "{} {path} to {function} {lost}, try {tries} of {EMULATOR_TRIES}: given up",
                parts.method
            );
            match failure {
                Some(response) => break Ok(response),
                None => {
                    return (
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("function {function} did not answer"),
                    )
                        .into_response()
                }
            }
        }
        eprintln!(
            "{} {path} to {function} {lost}, try {tries} of {EMULATOR_TRIES}: tried again",
            parts.method
        );
        tries += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    match sent {
        Ok(response) => {
            let mut builder = Response::builder().status(response.status());
            for (name, value) in response.headers() {
                if name != axum::http::header::TRANSFER_ENCODING
                    && name != axum::http::header::CONTENT_LENGTH
                {
                    builder = builder.header(name, value);
                }
            }
            // Streamed through as it arrives, so server-sent events stay live.
            builder
                // The slot is held until the body is done: the invocation lasts that long.
                .body(Body::from_stream(response.bytes_stream().map(
                    move |chunk| {
                        let _held = &slot;
                        chunk
                    },
                )))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("function {function} unreachable: {e}"),
        )
            .into_response(),
    }
}

/// Whether `cargo lambda watch` answered for itself that it failed (see [`EMULATOR_TRIES`]).
fn emulator_failed(response: &reqwest::Response) -> bool {
    response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"))
}

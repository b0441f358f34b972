//! The WebSocket API's functions: `ws-connect` and `ws-disconnect` (the `$connect` and
//! `$disconnect` routes, Lambda proxy integrations) and `ws-push` (the pusher).
//!
//! # Why a minute-long loop started every minute
//! Queue positions change with time, not only with writes (the admission cursor moves with the
//! clock, and it is read lazily), so frames cannot be triggered by table changes; they must be
//! sent on a beat, every 2 s, like the server-sent events of `queue-stream`. EventBridge
//! Scheduler's finest schedule is `rate(1 minute)`, so each invocation of `ws-push` ticks every
//! 2 s for [`PUSH_WINDOW`] and returns before the next one starts: one instance pushes to every
//! connection, with one availability read per event and one status read per waiting token per
//! tick however many browsers watch (see `tacos_core::domain::live_updates`). Keeping the work in one
//! instance is what makes those reads shared. Its bound is the frames themselves: 64 posts in
//! flight of 10–30 ms each are 2,000–6,000 frames/s, so one instance serves some thousands of
//! connections per 2 s tick (a tick that takes longer delays the next; frames then come less
//! often, never pile up). Beyond that the connection partitions would be split between several
//! schedules, each pusher taking its share. An invocation that overlaps the next only sends some
//! frames twice.
//!
//! `$connect` answers with a status code only: a refusal (404 for an unknown event or token,
//! 400 without `event_id`) is all a browser learns, since a WebSocket handshake has no readable
//! body; the body still carries the contract's error shape for logs and other clients. No frame
//! can be posted during `$connect` (the connection is not open until it returns), so the first
//! frames arrive with the next tick, within 2 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, LambdaEvent};
use tacos_core::domain::live_updates::{ConnectRequest, LiveUpdates, TickReport};
use tacos_core::error::Error;
use tacos_core::ports::ConnectionId;

use crate::metrics;

/// How long one `ws-push` invocation pushes: just under the minute between two invocations.
pub const PUSH_WINDOW: Duration = Duration::from_secs(58);
/// Time kept free before the invocation's deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

pub async fn run_connect(live: Arc<LiveUpdates>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let live = live.clone();
            async move { Ok::<_, lambda_runtime::Error>(handle_connect(&live, event.payload).await) }
        },
    ))
    .await
}

pub async fn run_disconnect(live: Arc<LiveUpdates>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let live = live.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(handle_disconnect(&live, event.payload).await)
            }
        },
    ))
    .await
}

pub async fn run_push(live: Arc<LiveUpdates>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let live = live.clone();
        async move {
            let deadline = deadline_of(&event.context);
            let report = handle_push(&live, deadline).await;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "connections": report.connections,
                "sent": report.sent,
                "gone": report.gone,
                "closed": report.closed,
                "failed": report.failed,
            }))
        }
    }))
    .await
}

/// When this invocation must stop pushing: after [`PUSH_WINDOW`], and never within
/// [`DEADLINE_MARGIN`] of the invocation's deadline.
fn deadline_of(context: &lambda_runtime::Context) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let left = Duration::from_millis(context.deadline.saturating_sub(now_ms));
    now + PUSH_WINDOW.min(left.saturating_sub(DEADLINE_MARGIN))
}

/// `$connect`: accepts and registers the connection, or refuses it with the contract's error.
pub async fn handle_connect(
    live: &LiveUpdates,
    request: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let query = &request.query_string_parameters;
    let wanted = ConnectRequest {
        event_id: query.first("event_id").map(str::to_string),
        token: query.first("token").map(str::to_string),
    };
    let started = Instant::now();
    let outcome = match connection_id(&request) {
        Ok(id) => live.connect(id, &wanted).await.map(|_| "connected"),
        Err(error) => Err(error),
    };
    respond(&request, "ws-connect", started, outcome)
}

/// `$disconnect`: forgets the connection (API Gateway sends it at most once, and not always).
pub async fn handle_disconnect(
    live: &LiveUpdates,
    request: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let started = Instant::now();
    let outcome = match connection_id(&request) {
        Ok(id) => live.disconnect(&id).await.map(|()| "disconnected"),
        Err(error) => Err(error),
    };
    respond(&request, "ws-disconnect", started, outcome)
}

/// Ticks until `deadline`, and reports what was pushed as one metric line.
pub async fn handle_push(live: &LiveUpdates, deadline: tokio::time::Instant) -> TickReport {
    let report = live.run_until(deadline).await;
    tracing::info!(?report, "live updates pushed");
    metrics::live_push(&report);
    metrics::flush();
    report
}

fn connection_id(request: &ApiGatewayWebsocketProxyRequest) -> Result<ConnectionId, Error> {
    request
        .request_context
        .connection_id
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("requestContext.connectionId: {e}")))
}

fn respond(
    request: &ApiGatewayWebsocketProxyRequest,
    function: &str,
    started: Instant,
    outcome: Result<&'static str, Error>,
) -> ApiGatewayProxyResponse {
    let trace_id = request
        .request_context
        .request_id
        .clone()
        .unwrap_or_else(tacos_http::trace::new_trace_id);
    let (status, body) = match outcome {
        Ok(done) => (200, serde_json::json!({ "status": done })),
        Err(error) => {
            if error.status() >= 500 {
                tracing::warn!(%error, trace_id, function, "WebSocket route failed");
            }
            (
                error.status(),
                serde_json::json!({ "error": {
                    "code": error.code(),
                    "message": error.public_message(),
                    "trace_id": trace_id,
                }}),
            )
        }
    };
    let route = request
        .request_context
        .route_key
        .clone()
        .unwrap_or_default();
    tacos_telemetry::series::http_request("WEBSOCKET", &route, status, started.elapsed());
    metrics::flush();
    let mut response = ApiGatewayProxyResponse {
        status_code: i64::from(status),
        body: Some(Body::Text(body.to_string())),
        ..Default::default()
    };
    response.headers.insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

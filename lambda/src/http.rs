//! HTTP functions: the function's routes of the shared router, behind `lambda_http`.
//!
//! API Gateway's source IP becomes the caller's address for anonymous idempotency scoping and the
//! per-caller rate limits (unless `TACOS_CLIENT_IP_HEADER` names the header a trusted proxy in
//! front sets: behind CloudFront the source IP is an edge server's), and every response is counted
//! in an EMF metric line with its route and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use tacos_shared::app::Platform;
use tacos_shared::http::extract::ClientAddr;

use crate::metrics;

/// The function whose responses are streamed: the live queue status.
pub const STREAMING_FUNCTION: &str = "queue-stream";

pub async fn run(
    function: &'static str,
    platform: Arc<Platform>,
) -> Result<(), lambda_runtime::Error> {
    let router = tacos_shared::http::function_router(function, platform)
        .route_layer(axum::middleware::from_fn(
            move |request: Request, next: Next| measure(function, request, next),
        ))
        .layer(axum::middleware::map_request(client_addr));
    if function == STREAMING_FUNCTION {
        // Server-sent events need the response streamed as it is produced (a function URL in
        // RESPONSE_STREAM mode), not buffered until the handler returns.
        lambda_http::run_with_streaming_response(router).await
    } else {
        lambda_http::run(router).await
    }
}

async fn client_addr(mut request: Request) -> Request {
    let source_ip = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        _ => None,
    };
    if let Some(ip) = source_ip {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    request
}

async fn measure(function: &'static str, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    metrics::request(
        function,
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

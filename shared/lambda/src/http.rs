//! HTTP functions: the function's routes of the shared router, behind `lambda_http`.
//!
//! API Gateway's source IP becomes the caller's address for anonymous idempotency scoping and the
//! per-caller rate limits (unless `TACOS_CLIENT_IP_HEADER` names the header a trusted proxy in
//! front sets: behind CloudFront the source IP is an edge server's). The shared router records
//! every response's series; each invocation flushes them as EMF lines ([`metrics::flush`]), and
//! the function that reports the queue gauges (`queue-status`,
//! [`Function::reports_queue_gauges`]) refreshes them, at most every 10 s per instance.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use tacos_core::functions::{Function, Kind};
use tacos_core::platform::Platform;
use tacos_core::secret::Secret;
use tacos_http::extract::ClientAddr;
use tacos_http::metrics::refresh_viewed_queues;
use tacos_http::settings::HttpSettings;
use tacos_http::sse::Delivery;
use tacos_http::throttle::Throttle;

use crate::metrics;

/// Serves `function`'s routes until the sandbox is shut down; with `origin_secret`, only the
/// requests that come through the deployment's CloudFront.
pub async fn run(
    function: Function,
    platform: Arc<Platform>,
    origin_secret: Option<Secret>,
) -> Result<(), lambda_runtime::Error> {
    let mut settings = HttpSettings::from_env()?;
    if origin_secret.is_some() {
        settings.origin_secret = origin_secret;
    }
    let router = tacos_http::function_router(function, platform.clone(), &settings)
        .layer(axum::middleware::map_request(client_addr))
        .layer(axum::middleware::from_fn(through_its_api))
        .layer(axum::middleware::from_fn_with_state(
            (function, platform),
            flush_after,
        ));
    if function.kind() == Kind::ResponseStream {
        // Server-sent events need the response streamed as it is produced (a function URL in
        // RESPONSE_STREAM mode), not buffered until the handler returns. The same function
        // reached through the HTTP API is buffered by the gateway all the same.
        lambda_http::run_with_streaming_response(
            router.layer(axum::middleware::map_request(buffered_through_the_api)),
        )
        .await
    } else {
        // Behind API Gateway the whole response is sent when the handler returns: event streams
        // (the availability stream) send one event and end, and the client reconnects.
        lambda_http::run(router.layer(axum::Extension(Delivery::Buffered))).await
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

/// Marks a request that came through API Gateway's HTTP API (its execute-api domain)
/// [`Delivery::Buffered`]: the gateway sends nothing of a response until the function returns,
/// and gives up after 30 s, so a stream through it must send one event and end (its client
/// reconnects), not run into the gateway's 503 while the invocation goes on to its own timeout.
/// A function URL (`<id>.lambda-url.<region>.on.aws`, CloudFront's origin for the stream) streams.
async fn buffered_through_the_api(mut request: Request) -> Request {
    let through_the_api = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .domain_name
            .as_deref()
            .is_some_and(is_execute_api_domain),
        _ => false,
    };
    if through_the_api {
        request.extensions_mut().insert(Delivery::Buffered);
    }
    request
}

/// An API Gateway API's own domain: `<api-id>.execute-api.<region>.amazonaws.com`.
fn is_execute_api_domain(domain: &str) -> bool {
    domain.contains(".execute-api.") && domain.ends_with(".amazonaws.com")
}

/// Serves the request knowing the API it came in through, where a webhook posted while serving
/// it goes unless the deployment names a public URL (`tacos_http_client::serving_through`).
async fn through_its_api(request: Request, next: Next) -> Response {
    match api_base_url(&request) {
        Some(base) => tacos_http_client::serving_through(base, next.run(request)).await,
        None => next.run(request).await,
    }
}

/// The public address of the API Gateway stage a request came in through: its domain name (the
/// API's execute-api domain, or a custom domain), its scheme (`X-Forwarded-Proto`, which API
/// Gateway sets; HTTPS otherwise) and, for a named stage, the stage's path.
fn api_base_url(request: &Request) -> Option<String> {
    let (domain, stage) = match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => (ctx.domain_name.clone()?, ctx.stage.clone()),
        RequestContext::ApiGatewayV1(ctx) => (ctx.domain_name.clone()?, ctx.stage.clone()),
        _ => return None,
    };
    let scheme = match request.headers().get("x-forwarded-proto") {
        Some(proto) if proto == "http" => "http",
        _ => "https",
    };
    let stage = match stage.as_deref() {
        None | Some("") | Some("$default") => String::new(),
        Some(stage) => ["/", stage].concat(),
    };
    Some(format!("{scheme}://{domain}{stage}"))
}

/// The queue gauges' refresh from `queue-status`: often enough for a dashboard, rare enough that
/// the status path does not pay for it. Only the events this instance has served statuses for,
/// from its windowed views: reading every event's queue from every instance every 10 s made
/// bursts of store reads that slowed the joins of a rush (seen in parity on moto).
static QUEUE_GAUGES: Throttle = Throttle::new(Duration::from_secs(10));

/// Serves the request, then writes its metrics and spans before the invocation returns.
async fn flush_after(
    State((function, platform)): State<(Function, Arc<Platform>)>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if function.reports_queue_gauges() && QUEUE_GAUGES.ready() {
        refresh_viewed_queues(&platform).await;
    }
    metrics::flush();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    fn through(domain: Option<&str>, stage: Option<&str>, proto: Option<&str>) -> Option<String> {
        let context = ApiGatewayV2httpRequestContext {
            domain_name: domain.map(str::to_string),
            stage: stage.map(str::to_string),
            ..Default::default()
        };
        let mut request = Request::new(axum::body::Body::empty());
        request
            .extensions_mut()
            .insert(RequestContext::ApiGatewayV2(context));
        if let Some(proto) = proto {
            request
                .headers_mut()
                .insert("x-forwarded-proto", proto.parse().unwrap());
        }
        api_base_url(&request)
    }

    #[test]
    fn requests_through_the_http_api_are_buffered_and_a_function_urls_streamed() {
        assert!(is_execute_api_domain(
            "abc123.execute-api.eu-west-1.amazonaws.com"
        ));
        assert!(!is_execute_api_domain(
            "abcdefghij1234567890.lambda-url.eu-west-1.on.aws"
        ));
        assert!(!is_execute_api_domain("127.0.0.1:9000"));
    }

    #[test]
    fn a_request_names_the_api_it_came_in_through() {
        let domain = "abc123.execute-api.eu-west-1.amazonaws.com";
        assert_eq!(
            through(Some(domain), Some("$default"), Some("https")).as_deref(),
            Some("https://abc123.execute-api.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            through(Some(domain), Some("live"), None).as_deref(),
            Some("https://abc123.execute-api.eu-west-1.amazonaws.com/live"),
            "a named stage is part of the path; HTTPS unless told otherwise"
        );
        assert_eq!(
            through(Some("127.0.0.1:9000"), None, Some("http")).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(through(None, Some("$default"), None), None);
        let bare = Request::new(axum::body::Body::empty());
        assert_eq!(api_base_url(&bare), None, "not through API Gateway");
    }
}

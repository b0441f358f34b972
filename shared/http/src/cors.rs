//! CORS with the platform's one fixed policy: any origin, the contract's methods and headers.
//!
//! The policy never varies by request, so it costs no more than a few static headers: a
//! preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here with the
//! allowances, before routing; every other response to a request that names its `Origin` gets
//! the allowed origin and the headers a browser may read (a request without one has no page to
//! read them, and is answered without them: a third of a health check's bytes).
//! (`tower_http`'s general-purpose layer cloned its whole configuration for every request: a
//! twentieth of a health check's instructions.)

use std::sync::LazyLock;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures::future::{Either, Ready};
use tower::{Layer, Service};

/// Methods of the contract.
pub const ALLOW_METHODS: &str = "GET,POST,PATCH,DELETE,OPTIONS";
/// Request headers a browser may send.
pub const ALLOW_HEADERS: &str = "authorization,content-type,idempotency-key,x-trace-id,traceparent";
/// Response headers a browser's script may read. `date` among them: the web app counts a hold's deadline on the server's clock, learned from the
/// `Date` of the API's answers (`web/src/lib/serverClock.ts`), and a page of another origin (the
/// web app on its CDN, the API on its own domain) can read only the headers named here.
pub const EXPOSE_HEADERS: &str = "x-trace-id,x-idempotency-cached,retry-after,x-ratelimit-limit,x-ratelimit-remaining,x-ratelimit-reset,date";
/// How long a browser may cache a preflight's answer, in seconds.
pub const MAX_AGE_SECS: &str = "600";
/// What every other answer depends on: whether, not which, `Origin` was sent (the policy allows
/// any origin).
const VARY: &str = "origin";
/// What a preflight's answer depends on.
const PREFLIGHT_VARY: &str =
    "origin, access-control-request-method, access-control-request-headers";

/// The CORS headers of a response to a request that names its page's origin (every cross-origin
/// request a browser makes does). A request without `Origin` comes from a same-origin page or
/// from no browser at all, and nothing would read them: they are left off (about a third of a
/// health check's answer), and [`header::VARY`] tells caches the answer depends on `Origin`.
fn cross_origin_headers() -> &'static [(HeaderName, HeaderValue)] {
    static HEADERS: LazyLock<Vec<(HeaderName, HeaderValue)>> = LazyLock::new(|| {
        vec![
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            ),
        ]
    });
    &HEADERS
}

/// A preflight's answer.
fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    response
}

/// The layer: see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorsLayer;

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Cors<S> {
    inner: S,
}

impl<S> Service<Request> for Cors<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, AddHeaders<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let is_preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if is_preflight {
            Either::Left(futures::future::ready(Ok(preflight())))
        } else {
            let cross_origin = request.headers().contains_key(header::ORIGIN);
            Either::Right(AddHeaders {
                inner: self.inner.call(request),
                cross_origin,
            })
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's response, with the CORS response headers added.
    pub struct AddHeaders<F> {
        #[pin]
        inner: F,
        // Whether the request named an origin.
        cross_origin: bool,
    }
}

impl<F, E> std::future::Future for AddHeaders<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let cross_origin = *this.cross_origin;
        this.inner.poll(cx).map(|result| {
            result.map(|mut response| {
                let headers = response.headers_mut();
                headers.insert(header::VARY, HeaderValue::from_static(VARY));
                if cross_origin {
                    for (name, value) in cross_origin_headers() {
                        headers.insert(name.clone(), value.clone());
                    }
                }
                response
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn preflights_are_answered_and_responses_carry_the_policy() {
        let app = Router::new()
            .route("/api/v1/queue/join", post(|| async { "joined" }))
            .layer(CorsLayer);
        let preflight = Request::options("/api/v1/queue/join")
            .header("origin", "https://tickets.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,idempotency-key",
            )
            .body(Body::empty())
            .unwrap();
        let answer = app.clone().oneshot(preflight).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let header = |r: &Response, name: &str| r.headers()[name].to_str().unwrap().to_string();
        assert_eq!(header(&answer, "access-control-allow-origin"), "*");
        assert_eq!(
            header(&answer, "access-control-allow-methods"),
            ALLOW_METHODS
        );
        assert!(header(&answer, "access-control-allow-headers").contains("idempotency-key"));
        assert_eq!(header(&answer, "access-control-max-age"), "600");

        let post = Request::post("/api/v1/queue/join")
            .header("origin", "https://tickets.example")
            .body(Body::empty())
            .unwrap();
        let answer = app.clone().oneshot(post).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(header(&answer, "access-control-allow-origin"), "*");
        let exposed = header(&answer, "access-control-expose-headers");
        assert!(exposed.contains("retry-after"), "{exposed}");
        assert!(exposed.split(',').any(|h| h == "date"), "{exposed}");
        assert_eq!(header(&answer, "vary"), "origin");

        // No page to read them: no allowances, and caches told the answer depends on `Origin`.
        let post = Request::post("/api/v1/queue/join")
            .body(Body::empty())
            .unwrap();
        let answer = app.oneshot(post).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers().get("access-control-allow-origin"), None);
        assert_eq!(answer.headers().get("access-control-expose-headers"), None);
        assert_eq!(header(&answer, "vary"), "origin");
    }
}

//! The trusted proxy's proof: when the deployment puts CloudFront in front of the API (and its
//! WAF, its rate rules, the viewer's address), the API itself must not be reachable around it.
//! CloudFront adds a secret header to every request it forwards
//! ([`ORIGIN_SECRET_HEADER`]); a request without the
//! right value went straight to the API's own URL and is refused with 403 `FORBIDDEN`, before it
//! is rate-limited, scoped or read. The comparison takes the same time wherever the values
//! differ, so the secret cannot be guessed a byte at a time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tacos_core::error::Error;
use tacos_core::secret::Secret;

use crate::error::ApiError;
use crate::settings::ORIGIN_SECRET_HEADER;

/// Serves the request only when it carries the origin secret.
pub async fn require(State(secret): State<Arc<Secret>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(ORIGIN_SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if secret.matches(presented) {
        next.run(request).await
    } else {
        ApiError(Error::NotThroughProxy).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tacos_core::config::Config;
    use tacos_embedded::InProcess;
    use tower::ServiceExt;

    use super::*;
    use crate::settings::HttpSettings;

    async fn status(
        router: &axum::Router,
        origin: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::get("/api/v1/events");
        if let Some(value) = origin {
            request = request.header(ORIGIN_SECRET_HEADER, value);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn only_requests_through_the_proxy_are_served_when_it_has_a_secret() {
        let local = InProcess::new(Config::for_tests());
        let settings = HttpSettings {
            origin_secret: Some(Secret::new("through-cloudfront")),
            client_ip_header: Some("x-tacos-client-ip".into()),
            ..HttpSettings::defaults()
        };
        let router = crate::router(local.platform.clone(), &settings);
        for presented in [
            None,
            Some("wrong"),
            Some("through-cloudfronT"),
            Some("through-cloudfront-"),
        ] {
            let (code, body) = status(&router, presented).await;
            assert_eq!(code, StatusCode::FORBIDDEN, "{presented:?}");
            assert_eq!(body["error"]["code"], "FORBIDDEN");
        }
        assert_eq!(
            status(&router, Some("through-cloudfront")).await.0,
            StatusCode::OK
        );
        // Without a secret configured (locally, in the cluster) nothing changes.
        let open = crate::router(local.platform.clone(), &HttpSettings::defaults());
        assert_eq!(status(&open, None).await.0, StatusCode::OK);
    }
}

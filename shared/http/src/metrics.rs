//! HTTP metrics and the Prometheus `GET /metrics` endpoint.
//!
//! [`record`] records every request answered (`http_server_requests_total`,
//! `http_server_requests_duration_seconds`) by method, matched route template (axum's
//! [`MatchedPath`](axum::extract::MatchedPath): `/api/v1/reservations/{id}`, never the id itself, so the label set stays
//! bounded; [`UNMATCHED_ROUTE`](series::UNMATCHED_ROUTE) for unknown paths) and status, and counts the 409s that refused an
//! oversell (`oversell_attempts_rejected_total{code}`) from the error code the response carries
//! ([`ErrorCode`]). A replayed idempotent answer carries none, so a retried attempt counts once.
//!
//! [`routes`] serves `GET /metrics` (not under `/api/v1`, outside the rate limits, and not itself
//! counted) for the embedded server and the container. The queue gauges are refreshed when the
//! endpoint is scraped rather than on every status call: a scrape every 15 s costs one read of
//! each queue's state and counters, while the status path, the hottest of an on-sale, stays
//! untouched. (The Lambda functions, which nobody scrapes, refresh them from `queue-status`.)
//!
//! The endpoint is the operator's, and may be reachable by others: the container serves it on the
//! API's port (behind whatever ingress the API has), and the embedded server on any address it is
//! told to bind. So the refresh runs at most once a second ([`REFRESH_EVERY`]), however often
//! anyone scrapes (a flood of scrapes read every event's queue each time: a request that costs the
//! store as many reads as there are events), and with `TACOS_METRICS_TOKEN` set a scrape must
//! carry it as a bearer token, or an administrator's access token (`401`, `403` otherwise): queue
//! lengths, admission rates and request rates are the operator's to read.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::{ApiError, ErrorCode};
use crate::extract::bearer_credentials;
use crate::throttle::Throttle;
use tacos_core::domain::auth::Role;
use tacos_core::error::Error;
use tacos_core::ids::EventId;
use tacos_core::platform::Platform;
use tacos_core::secret::Secret;
use tacos_telemetry::series::{self, OVERSELL_CODES};

/// The path Prometheus scrapes.
pub const METRICS_PATH: &str = "/metrics";

/// Records the series of a request answered with `response` after `took`, on `route` (its
/// matched template, [`UNMATCHED_ROUTE`](series::UNMATCHED_ROUTE) if none). Called by the request's one observer
/// ([`crate::trace::Observe`]), which times it and logs it too.
pub fn record(method: &Method, route: &str, response: &Response, took: Duration) {
    series::http_request(
        method_label(method),
        route,
        response.status().as_u16(),
        took,
    );
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        if OVERSELL_CODES.contains(code) {
            series::oversell_rejected(code);
        }
    }
}

/// The method as a label: the standard ones, `OTHER` for anything a client invents.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `GET /metrics`, on the process's Prometheus recorder (installed here if it is not yet).
/// With `token`, a scrape must carry it (`Authorization: Bearer <token>`) or an administrator's
/// access token.
pub fn routes(platform: Arc<Platform>, token: Option<Secret>) -> Router {
    series::prometheus();
    Router::new()
        .route(METRICS_PATH, get(scrape))
        .with_state(Arc::new(Scrapes {
            platform,
            token,
            refresh: Throttle::new(REFRESH_EVERY),
        }))
}

/// The least time between two refreshes of the queue gauges, whoever scrapes: a scrape within it
/// reports the values of the last refresh.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// What a scrape needs: the platform whose queues it reports, the token it must carry, and the
/// pace of refreshes.
struct Scrapes {
    platform: Arc<Platform>,
    token: Option<Secret>,
    refresh: Throttle,
}

async fn scrape(State(scrapes): State<Arc<Scrapes>>, headers: HeaderMap) -> Response {
    if let Some(token) = &scrapes.token {
        if let Err(refused) = scrapes.admit(token, &headers).await {
            return ApiError(refused).into_response();
        }
    }
    if scrapes.refresh.ready() {
        refresh_queues(&scrapes.platform).await;
    }
    exposition()
}

impl Scrapes {
    /// Whether a scrape may read the metrics when `token` is set: it carries that token, or an
    /// administrator's access token (the web app's operator page charts the scrape for a
    /// signed-in operator).
    async fn admit(&self, token: &Secret, headers: &HeaderMap) -> Result<(), Error> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .ok_or(Error::MissingAuthorization)?
            .to_str()
            .ok()
            .and_then(bearer_credentials)
            .ok_or_else(|| Error::InvalidToken("expected `Bearer <token>`".into()))?;
        if token.matches(presented.as_bytes()) {
            return Ok(());
        }
        if presented.is_empty() {
            return Err(Error::InvalidToken("not the metrics token".into()));
        }
        let principal = self.platform.accounts.tokens().verify(presented).await?;
        if principal.role == Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// What this process has recorded, in Prometheus' text format. The container's worker mode
/// serves it as is: the queue gauges are the HTTP pods' to report.
pub fn exposition() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        series::prometheus().render(),
    )
        .into_response()
}

/// Sets the queue gauges of every event from what its waiting room reports. A store that does
/// not answer leaves the last values (the scrape itself still answers).
pub async fn refresh_queues(platform: &Platform) {
    let events = match platform.catalog.list().await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "queue gauges not refreshed");
            return;
        }
    };
    set_queue_gauges(
        platform,
        events.into_iter().map(|e| e.event_id.clone()).collect(),
    )
    .await;
}

/// Sets the queue gauges of the events whose queues this process has shown lately, from its views
/// of them (one query of leavers each). For an instance of the status function: its gauges cover
/// the events its callers wait for, without reading the whole catalog's queues on the hot path.
pub async fn refresh_viewed_queues(platform: &Platform) {
    set_queue_gauges(platform, platform.queue.viewed_events()).await;
}

async fn set_queue_gauges(platform: &Platform, events: Vec<EventId>) {
    let gauges = events
        .into_iter()
        .map(|id| async move { (platform.queue.gauge(&id).await, id) });
    for (gauge, id) in futures::future::join_all(gauges).await {
        match gauge {
            Ok(g) => series::queue(id.as_str(), g.waiting, g.admission_rate, g.admitted),
            Err(error) => tracing::warn!(event_id = %id, %error, "queue gauge not read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use tacos_core::config::Config;
    use tacos_core::domain::auth::Principal;
    use tacos_embedded::InProcess;

    async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    use super::*;

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_the_scrape_is_not() {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let local = InProcess::new(config);
        tacos_core::seed::seed(&local.platform).await.unwrap();
        let app = crate::router(
            local.platform.clone(),
            &crate::settings::HttpSettings::defaults(),
        );

        assert_eq!(get(&app, "/api/v1/events/evt_demo").await.0, StatusCode::OK);
        assert_eq!(
            get(&app, "/api/v1/no/such/thing").await.0,
            StatusCode::NOT_FOUND
        );
        let (status, headers, text) = get(&app, METRICS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(
            headers["x-content-type-options"], "nosniff",
            "security headers too"
        );

        let counted = |line: &str| text.lines().any(|l| l.starts_with(line));
        assert!(
            counted(
                r#"http_server_requests_total{method="GET",route="/api/v1/events/{id}",status_code="200"}"#
            ),
            "{text}"
        );
        assert!(
            counted(
                r#"http_server_requests_total{method="GET",route="unmatched",status_code="404"}"#
            ),
            "{text}"
        );
        assert!(
            counted(
                r#"http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="0.005"}"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"route="/metrics""#),
            "the scrape counts no request of its own"
        );
        assert!(
            !text.contains("/api/v1/events/evt_demo"),
            "ids never become labels"
        );
        assert!(counted(r#"queue_length{event_id="evt_demo"} 0"#), "{text}");
        assert!(
            counted(r#"queue_admitted_total{event_id="evt_demo"} 0"#),
            "{text}"
        );
        assert!(
            counted(r#"reservation_status_total{status="EXPIRED"}"#),
            "fixed labels start at zero"
        );
        assert!(
            counted(r#"backend_call_duration_seconds_count{service="store",method="#),
            "{text}"
        );
    }

    /// With `TACOS_METRICS_TOKEN` set, a scrape without it, or with another, is refused in the
    /// contract's error shape and reads nothing; the API itself is not affected.
    #[tokio::test]
    async fn a_scrape_must_carry_the_metrics_token_when_one_is_set() {
        let local = InProcess::new(Config::for_tests());
        let settings = crate::settings::HttpSettings {
            metrics_token: Some(Secret::new("scrape-me")),
            ..crate::settings::HttpSettings::defaults()
        };
        let app = crate::router(local.platform.clone(), &settings);
        let scrape = |authorization: Option<&str>| {
            let app = app.clone();
            let authorization = authorization.map(str::to_string);
            async move {
                let mut request = Request::get(METRICS_PATH);
                if let Some(value) = authorization {
                    request = request.header("authorization", value);
                }
                let response = app
                    .oneshot(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        for (authorization, code) in [
            (None, "MISSING_AUTHORIZATION"),
            (Some("Bearer scrape-you"), "INVALID_TOKEN"),
            (Some("Bearer "), "INVALID_TOKEN"),
            (Some("scrape-me"), "INVALID_TOKEN"),
            (Some("Basic c2NyYXBlLW1l"), "INVALID_TOKEN"),
        ] {
            let (status, body) = scrape(authorization).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["error"]["code"], code, "{authorization:?}: {body}");
        }
        let (status, body) = scrape(Some("Bearer scrape-me")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("oversell_attempts_rejected_total"), "{body}");
        assert_eq!(get(&app, "/api/v1/events").await.0, StatusCode::OK);

        // An administrator's access token reads them too (the operator page's charts); a
        // buyer's does not.
        let tokens = local.platform.accounts.tokens();
        let bearer = |role| {
            let principal = Principal {
                user_id: "usr_metrics".parse().unwrap(),
                role,
            };
            format!("Bearer {}", tokens.issue(&principal, chrono::Utc::now()))
        };
        let (status, _) = scrape(Some(&bearer(Role::Admin))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = scrape(Some(&bearer(Role::User))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    /// A flood of scrapes reads the queues once a second, not once a scrape: a scrape within a
    /// second of the last refresh reports its values.
    #[tokio::test]
    async fn queue_gauges_are_refreshed_at_most_once_a_second_however_often_scraped() {
        let local = InProcess::new(Config::for_tests());
        let event = local
            .platform
            .catalog
            .create(tacos_core::domain::catalog::NewEvent {
                name: "Metrics pace".into(),
                venue: "Hall".into(),
                starts_at: chrono::Utc::now() + chrono::Duration::days(1),
                currency: "USD".into(),
                price: 1_000,
                sections: None,
                capacity: Some(10),
                admission_rate_per_sec: 1.0,
                max_per_order: 4,
                event_id: Some("evt_metrics_pace".parse().unwrap()),
                on_sale_at: None,
            })
            .await
            .unwrap();
        let app = crate::router(
            local.platform.clone(),
            &crate::settings::HttpSettings::defaults(),
        );
        let waiting = |text: &str| {
            let prefix = format!(r#"queue_length{{event_id="{}"}} "#, event.event_id);
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(str::to_string)
        };
        assert_eq!(
            waiting(&get(&app, METRICS_PATH).await.2).as_deref(),
            Some("0")
        );
        for _ in 0..3 {
            let join = Request::post("/api/v1/queue/join")
                .header("content-type", "application/json")
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .body(Body::from(format!(
                    r#"{{"event_id":"{}"}}"#,
                    event.event_id
                )))
                .unwrap();
            let response = app.clone().oneshot(join).await.unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
        for _ in 0..20 {
            assert_eq!(
                waiting(&get(&app, METRICS_PATH).await.2).as_deref(),
                Some("0"),
                "a scrape within the second reports the last refresh"
            );
        }
        tokio::time::sleep(REFRESH_EVERY + Duration::from_millis(100)).await;
        assert_eq!(
            waiting(&get(&app, METRICS_PATH).await.2).as_deref(),
            Some("3")
        );
    }
}

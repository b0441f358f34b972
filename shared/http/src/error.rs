//! The core's [`Error`] as an HTTP response: `{"error":{"code","message","trace_id"}}`.
//!
//! Handlers return [`Result`], whose error is an [`ApiError`]: the core's error wrapped so this
//! crate can render it (a type of another crate cannot implement another crate's trait), and
//! converted by `?` from anything the domain returns.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tacos_core::error::Error;
use tacos_core::trace_context;

use crate::throttle::Throttle;

/// A handler's result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// An [`Error`] on its way to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// The contract error code of an error response, as a response extension: middleware (the
/// metrics layer) reads it without parsing the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        error_response(error)
    }
}

/// The outage warning's pace: at most one line a second, naming how many 503s it stands for.
/// During a store outage every request answers 503, and a warning for each (39,000 a minute in
/// an operator's probe of a full disk) buried the cause the operator reads the log for; each
/// answer is still in its own access line.
static OUTAGE_WARNING: Throttle = Throttle::new(std::time::Duration::from_secs(1));
/// The 503s since the last outage warning.
static UNAVAILABLE_SINCE: AtomicU64 = AtomicU64::new(0);

fn error_response(error: Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &error {
        Error::Internal(detail) => tracing::error!(%detail, "internal error"),
        Error::Unavailable(detail) => {
            UNAVAILABLE_SINCE.fetch_add(1, Ordering::Relaxed);
            if OUTAGE_WARNING.ready() {
                let answers = UNAVAILABLE_SINCE.swap(0, Ordering::Relaxed);
                tracing::warn!(%detail, answers, "dependency unavailable");
            }
        }
        _ => {}
    }
    let mut body = serde_json::json!({
        "code": error.code(),
        "message": error.public_message(),
        "trace_id": trace_context::current_trace_id().unwrap_or_else(trace_context::new_trace_id),
    });
    if let Error::SeatUnavailable(seats) = &error {
        body["seats"] = serde_json::json!(seats);
    }
    let mut response = (status, axum::Json(serde_json::json!({ "error": body }))).into_response();
    response.extensions_mut().insert(ErrorCode(error.code()));
    let retry_after = match error {
        Error::Unavailable(_) => Some(1),
        Error::RateLimited { retry_after } => Some(retry_after.max(1)),
        _ => None,
    };
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use tacos_telemetry::captured::Captured;

    use super::*;

    /// An outage answers every request 503; its warning is logged at most once a second.
    #[tokio::test(flavor = "current_thread")]
    async fn an_outage_is_warned_of_once_a_second_not_once_a_request() {
        let captured = Captured::default();
        let _guard = captured.as_server_log();
        for _ in 0..50 {
            let response = error_response(Error::Unavailable("the disk is full".into()));
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let text = captured.text();
        let warnings = text
            .lines()
            .filter(|line| line.contains("dependency unavailable"))
            .count();
        assert!(warnings <= 1, "{warnings} warnings for 50 answers: {text}");
    }
}

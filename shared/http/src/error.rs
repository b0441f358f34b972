//! The core's [`Error`] as an HTTP response: `{"error":{"code","message","trace_id"}}`.
//!
//! Handlers return [`Result`], whose error is an [`ApiError`]: the core's error wrapped so this
//! crate can render it (a type of another crate cannot implement another crate's trait), and
//! converted by `?` from anything the domain returns.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tacos_core::error::Error;
use tacos_core::trace_context;

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

fn error_response(error: Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &error {
        Error::Internal(detail) => tracing::error!(%detail, "internal error"),
        Error::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
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

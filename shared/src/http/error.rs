//! [`Error`] as an HTTP response: `{"error":{"code","message","trace_id"}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::trace::current_trace_id;
use crate::error::Error;

/// The contract error code of an error response, as a response extension: middleware (the
/// metrics layer) reads it without parsing the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match &self {
            Error::Internal(detail) => tracing::error!(%detail, "internal error"),
            Error::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            _ => {}
        }
        let mut error = serde_json::json!({
            "code": self.code(),
            "message": self.public_message(),
            "trace_id": current_trace_id(),
        });
        if let Error::SeatUnavailable(seats) = &self {
            error["seats"] = serde_json::json!(seats);
        }
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        match self {
            Error::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            Error::RateLimited { retry_after } => {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after.max(1)));
            }
            _ => {}
        }
        response
    }
}

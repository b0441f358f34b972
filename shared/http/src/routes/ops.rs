//! Health, readiness and version, at the root and under `/api/v1`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::error::Result;

/// The process is up: a fixed answer, built from nothing (load balancers and uptime checks call
/// it many times a second).
pub async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

pub async fn readyz(State(platform): State<Arc<Platform>>) -> Result<impl IntoResponse> {
    platform
        .ports
        .store
        .ping()
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    Ok(axum::Json(
        serde_json::json!({ "status": "ready", "checks": { "store": "ok" } }),
    ))
}

pub async fn version() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "name": "traffic-tacos",
        "version": env!("CARGO_PKG_VERSION"),
        "api": "v1",
    }))
}

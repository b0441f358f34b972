//! Health, readiness and version, at the root and under `/api/v1`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;

use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::error::Result;

pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
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

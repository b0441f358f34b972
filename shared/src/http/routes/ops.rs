//! Health, readiness and version, at the root and under `/api/v1`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::app::Platform;
use crate::error::{Error, Result};

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/version", get(version))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(platform): State<Arc<Platform>>) -> Result<impl IntoResponse> {
    platform.deps.store.ping().await.map_err(|e| Error::Unavailable(e.to_string()))?;
    Ok(axum::Json(serde_json::json!({ "status": "ready", "checks": { "store": "ok" } })))
}

async fn version() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "name": "traffic-tacos",
        "version": env!("CARGO_PKG_VERSION"),
        "api": "v1",
    }))
}

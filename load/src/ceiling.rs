//! The ceiling: the least an HTTP server on the platform's stack can do per request.
//!
//! Same runtime (tokio, multi-threaded, one worker per core), same server (axum on hyper), same
//! listener setup as `tacos-local`, and one route that answers every method and path with a fixed
//! JSON body shaped like a join's answer (202 to a POST, 200 otherwise), so the driver's join and status scenarios run against
//! it unchanged. A route's throughput divided by the ceiling's, measured by the same driver at the
//! same concurrency in the same run, is what the platform's own work costs.

use std::net::SocketAddr;

use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

/// The fixed answer: what a join answers, so a status scenario can take its token from it.
const BODY: &str = r#"{"waiting_token":"wtkn_ceiling","position_hint":1,"status":"waiting"}"#;

/// `202 Accepted` to a POST, as a join answers; `200 OK` to anything else, as a status does.
async fn fixed(method: Method) -> impl IntoResponse {
    let status = if method == Method::POST {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, [(header::CONTENT_TYPE, "application/json")], BODY)
}

/// Serves the ceiling on `addr` until the process is stopped.
pub async fn serve(addr: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ceiling on http://{}", listener.local_addr()?);
    let app = Router::new().fallback(fixed);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

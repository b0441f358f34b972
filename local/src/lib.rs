//! The whole platform in one process: every route on one router, in-process store, timers and
//! event bus, a demo event, Prometheus `GET /metrics`, and the web app at `/` (`tacos-webapp`).
//! Used by the README's run command and by the black-box suite.
//!
//! [`live`]: the WebSocket endpoint of live updates, `GET /api/v1/live`.

pub mod live;

use std::future::Future;
use std::net::SocketAddr;

use tacos_shared::app::InProcess;
use tacos_shared::config::Config;

/// Serves every route and the web app (configured by `web`) on `listener` until `shutdown`
/// resolves, then drains requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    web: tacos_webapp::Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let platform = InProcess::new(config);
    platform.platform.seed().await?;
    platform.start_background();
    let live = live::LocalLive::new(&platform.platform);
    tokio::spawn(live.clone().run());
    let api = live
        .routes(&platform.platform)
        .merge(tacos_shared::http::router(platform.platform.clone()));
    let app = tacos_webapp::beside(api, &web);
    tracing::info!(addr = %listener.local_addr()?, "Traffic Tacos is serving");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs as JSON lines; each line of a request carries its `trace_id` (in its span). Spans are
/// exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
/// ([`tacos_shared::telemetry::init`]).
pub fn init_logging() {
    tacos_shared::telemetry::init("traffic-tacos-local");
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

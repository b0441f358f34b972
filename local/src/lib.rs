//! The whole platform in one process: every route on one router over the embedded platform
//! (`tacos-embedded`: a durable store in a data directory by default, in-process timers and event
//! bus), the demo events, Prometheus `GET /metrics`, the WebSocket endpoint of live updates
//! (`GET /api/v1/live`), and the web app at `/` (`tacos-webapp`). Used by the README's run command
//! and by the black-box suite.

use std::future::Future;

use tacos_core::config::Config;
use tacos_embedded::{Embedded, EmbeddedSettings};
use tacos_http::live_socket::LiveSocket;
use tacos_http::server::{raise_fd_limit, Limits};
use tacos_http::settings::HttpSettings;

/// Serves every route and the web app (configured by `web`) on `listener`, over the platform
/// `storage` chooses, until `shutdown` resolves, then drains requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    storage: EmbeddedSettings,
    settings: HttpSettings,
    web: tacos_webapp::Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The metrics recorder before the platform starts: the timers the journal resumes fire as it
    // starts (holds that fell due while the server was down), and what they record would
    // otherwise go nowhere, missing from /metrics and from the expiry-lag histogram.
    tacos_telemetry::series::prometheus();
    let embedded = Embedded::start(config, &storage).await?;
    let (timers, events) = embedded.resumed;
    if timers + events > 0 {
        tracing::info!(
            timers,
            events,
            "resumed what the last run left in the journal"
        );
    }
    let platform = embedded.platform.clone();
    tacos_core::seed::seed(&platform).await?;
    if let Some(path) = &storage.catalog {
        let loaded = tacos_embedded::catalog::load(&platform, path).await?;
        let ids = |ids: &[tacos_core::ids::EventId]| {
            ids.iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        tracing::info!(catalog = %path.display(), created = %ids(&loaded.created),
            kept = %ids(&loaded.kept), "catalogue loaded");
    }
    let live = LiveSocket::new(&platform);
    tokio::spawn(live.clone().run());
    let api = live
        .routes(&platform, &settings)
        .merge(tacos_http::router(platform.clone(), &settings));
    let app = tacos_webapp::in_front_of(api, &web);
    let limits = Limits::configured(&settings, raise_fd_limit());
    tracing::info!(addr = %listener.local_addr()?, ?limits, "Traffic Tacos is serving");
    tacos_http::server::serve(listener, app, limits, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
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

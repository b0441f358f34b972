//! `tacos-local`: runs the whole platform on `http://127.0.0.1:8000`, the web app at `/` and the
//! API under `/api/v1`.
//!
//! Options: `--port N` (or `PORT`), `--host ADDR` (or `TACOS_HOST`, default 127.0.0.1); every
//! other setting comes from the environment (docs/configuration.md), the web app's `/config.json`
//! from `TACOS_WEB_API_BASE_URL` and `TACOS_WEB_WS_URL`.

use anyhow::Context;
use tacos_core::config::Config;
use tacos_http::settings::HttpSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tacos_telemetry::init("traffic-tacos-local");
    let mut config = Config::from_env()?;
    let mut settings = HttpSettings::from_env()?;
    let web = tacos_webapp::Settings::from_env()?;
    let mut host = std::env::var("TACOS_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                settings.port = args
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port: not a port number")?
            }
            "--host" => host = args.next().context("--host needs a value")?,
            "--help" | "-h" => {
                println!("usage: tacos-local [--port N] [--host ADDR]\nsee docs/configuration.md for the environment variables");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}; try --help"),
        }
    }
    if config.admin_password.is_none() {
        tracing::warn!("TACOS_ADMIN_PASSWORD is not set: no administrator account, so no new events can be created");
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), settings.port))
        .await
        .with_context(|| format!("cannot listen on {host}:{}", settings.port))?;
    // The simulator's webhooks come back to this server unless a public URL is configured.
    config
        .public_url
        .get_or_insert_with(|| format!("http://127.0.0.1:{}", settings.port));
    tracing::info!(config = ?config, settings = ?settings, "configuration");
    let served = tacos_local::serve(
        listener,
        config,
        settings,
        web,
        tacos_local::shutdown_signal(),
    )
    .await;
    tacos_telemetry::shutdown();
    served
}

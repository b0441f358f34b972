//! `tacos-local`: runs the whole platform on `http://127.0.0.1:8000`, the web app at `/` and the
//! API under `/api/v1`.
//!
//! Options: `--port N` (or `PORT`), `--host ADDR` (or `TACOS_HOST`, default 127.0.0.1); every
//! other setting comes from the environment (see the README), the web app's `/config.json` from
//! `TACOS_WEB_API_BASE_URL` and `TACOS_WEB_WS_URL`.

use anyhow::Context;
use tacos_shared::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tacos_local::init_logging();
    let mut config = Config::from_env()?;
    let web = tacos_webapp::Settings::from_env()?;
    let mut host = std::env::var("TACOS_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                config.port = args
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port: not a port number")?
            }
            "--host" => host = args.next().context("--host needs a value")?,
            "--help" | "-h" => {
                println!("usage: tacos-local [--port N] [--host ADDR]\nsee README.md for the environment variables");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}; try --help"),
        }
    }
    if config.admin_password.is_none() {
        tracing::warn!("TACOS_ADMIN_PASSWORD is not set: no administrator account, so no new events can be created");
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {host}:{}", config.port))?;
    tracing::info!(config = ?config, "configuration");
    let served = tacos_local::serve(listener, config, web, tacos_local::shutdown_signal()).await;
    tacos_shared::telemetry::shutdown();
    served
}

//! `tacos-local`: runs the whole platform on `http://127.0.0.1:8000`, the web app at `/` and the
//! API under `/api/v1`, keeping what it sells in a data directory; and backs that directory up
//! or restores it.
//!
//! Every setting not given as a flag comes from the environment (docs/configuration.md).

use std::path::PathBuf;

use anyhow::Context;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use tacos_core::config::Config;
use tacos_embedded::{EmbeddedSettings, StoreChoice};
use tacos_http::settings::HttpSettings;

/// The whole Traffic Tacos platform in one process.
#[derive(Parser)]
#[command(name = "tacos-local", version, about)]
struct Cli {
    /// Port to listen on.
    #[arg(long, short = 'p', env = "PORT", global = true)]
    port: Option<u16>,
    /// Address to listen on.
    #[arg(long, env = "TACOS_HOST", default_value = "127.0.0.1", global = true)]
    host: String,
    /// Where the store, its journal and the signing secrets are kept.
    #[arg(long, env = "TACOS_DATA_DIR", default_value = tacos_embedded::settings::DEFAULT_DATA_DIR, global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the platform (what running with no command does).
    Serve,
    /// Writes a consistent copy of the data directory's store to PATH, while the server runs or
    /// not.
    Backup {
        /// The backup file to write (never overwritten).
        path: PathBuf,
    },
    /// Replaces the data directory's store with the backup at PATH (the server must be stopped;
    /// the store it replaces is moved aside, not deleted).
    Restore {
        /// A file written by `tacos-local backup`.
        path: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => serve(cli.port, &cli.host, cli.data_dir).await,
        Some(Command::Backup { path }) => {
            let backup = tacos_sqlite::backup_directory(&cli.data_dir, &path)?;
            println!(
                "backed up {} to {} ({} bytes)",
                cli.data_dir.display(),
                backup.path.display(),
                backup.bytes
            );
            Ok(())
        }
        Some(Command::Restore { path }) => {
            let restored = tacos_sqlite::restore(&path, &cli.data_dir)?;
            println!(
                "restored {} into {}",
                path.display(),
                restored.database.display()
            );
            if let Some(old) = restored.set_aside {
                println!("the store it replaced is kept at {}", old.display());
            }
            Ok(())
        }
    }
}

async fn serve(port: Option<u16>, host: &str, data_dir: PathBuf) -> anyhow::Result<()> {
    tacos_telemetry::init_with(
        "traffic-tacos-local",
        tacos_telemetry::LogWriter::Background,
    );
    let mut config = Config::from_env()?;
    let mut settings = HttpSettings::from_env()?;
    let web = tacos_webapp::Settings::from_env()?;
    let mut storage = EmbeddedSettings::from_env()?;
    storage.data_dir = data_dir;
    if let Some(port) = port {
        settings.port = port;
    }
    if config.admin_password.is_none() {
        tracing::warn!("TACOS_ADMIN_PASSWORD is not set: no administrator account, so no new events can be created");
    }
    let listener = tokio::net::TcpListener::bind((host, settings.port))
        .await
        .with_context(|| format!("cannot listen on {host}:{}", settings.port))?;
    // The simulator's webhooks come back to this server unless a public URL is configured.
    config
        .public_url
        .get_or_insert_with(|| format!("http://127.0.0.1:{}", settings.port));
    // This process keeps running after it answers, so a payment's answer need not wait for the
    // simulator's webhook (the safety-net job delivers it if the process stops first).
    if tacos_core::config::Env::process()
        .get("TACOS_WEBHOOK_DELIVERY")
        .is_none()
    {
        config.webhook_delivery = tacos_core::config::WebhookDelivery::AfterAnswer;
    }
    announce(&storage);
    tracing::info!(config = ?config, settings = ?settings, storage = ?storage, "configuration");
    let served = tacos_local::serve(
        listener,
        config,
        storage,
        settings,
        web,
        tacos_local::shutdown_signal(),
    )
    .await;
    tacos_telemetry::shutdown();
    served
}

/// One plain line on stderr saying where the data is kept (or that it is not).
fn announce(storage: &EmbeddedSettings) {
    match storage.store {
        StoreChoice::Durable => {
            let dir =
                std::path::absolute(&storage.data_dir).unwrap_or_else(|_| storage.data_dir.clone());
            eprintln!(
                "tacos-local: data in {} ({}; --data-dir or TACOS_DATA_DIR to move it)",
                dir.display(),
                storage.durability
            );
        }
        StoreChoice::Memory => {
            eprintln!("tacos-local: TACOS_STORE=memory: nothing is kept when the server stops");
        }
    }
}

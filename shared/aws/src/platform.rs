//! The platform on AWS adapters, assembled once per process (per Lambda cold start) and shared
//! by every invocation.

use std::sync::Arc;

use tacos_core::config::{Config, ConfigError};
use tacos_core::domain::live_updates::LiveUpdates;
use tacos_core::platform::Platform;
use tacos_core::ports::{Ports, SystemClock};
use tacos_http_client::{HttpKeySource, HttpWebhookSender};

use crate::adapters::{connect, AwsAdapters};
use crate::settings::{AwsSettings, SettingsError};

/// Why the platform could not be assembled: a setting is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// The platform and the AWS adapters it was built on.
pub struct AwsPlatform {
    pub platform: Arc<Platform>,
    pub adapters: AwsAdapters,
}

impl AwsPlatform {
    /// Reads the configuration and settings from the environment, connects the AWS clients and
    /// builds the platform on them, every backend call timed.
    pub async fn from_env() -> Result<Self, AssemblyError> {
        let config = Config::from_env()?;
        let settings = AwsSettings::from_env()?;
        let adapters = connect(&settings).await;
        let ports = tacos_telemetry::timed_ports::timed(Ports {
            store: adapters.store.clone(),
            scheduler: adapters.scheduler.clone(),
            bus: adapters.bus.clone(),
            clock: Arc::new(SystemClock),
            webhooks: Arc::new(HttpWebhookSender::to_public_url(
                config.public_url.as_deref(),
            )),
            keys: Arc::new(HttpKeySource::new()),
        });
        Ok(Self {
            platform: Arc::new(Platform::new(ports, config)),
            adapters,
        })
    }

    /// Live updates over the WebSocket connections of the table and the API's management
    /// endpoint, which the WebSocket functions must be given (`TACOS_WS_MANAGEMENT_URL`).
    pub fn live_updates(&self) -> Result<LiveUpdates, SettingsError> {
        let pusher = self
            .adapters
            .pusher
            .clone()
            .ok_or(SettingsError::Missing("TACOS_WS_MANAGEMENT_URL"))?;
        Ok(self
            .platform
            .live_updates(self.adapters.connections.clone(), pusher))
    }
}

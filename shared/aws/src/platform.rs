//! The platform on AWS adapters, assembled once per process (per Lambda cold start) and shared
//! by every invocation.

use std::sync::Arc;

use tacos_core::config::{Config, ConfigError};
use tacos_core::domain::live_updates::LiveUpdates;
use tacos_core::functions::Function;
use tacos_core::platform::Platform;
use tacos_core::ports::{Ports, SystemClock};
use tacos_core::secret::ORIGIN_SECRET_HEADER;
use tacos_core::sweep::LedgeredScheduler;
use tacos_http_client::{HttpKeySource, HttpWebhookSender};

use crate::adapters::{adapters, AwsAdapters};
use crate::env::SettingsError;
use crate::redelivery::SqsRedelivery;
use crate::secrets::{Secret, SecretsError};
use crate::settings::AwsSettings;

/// Why the platform could not be assembled: a setting is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The platform and the AWS adapters it was built on.
pub struct AwsPlatform {
    pub platform: Arc<Platform>,
    pub adapters: AwsAdapters,
    /// The CloudFront origin secret, when the deployment has one: the HTTP layer refuses
    /// requests that do not carry it (see `tacos_aws::secrets`).
    pub origin_secret: Option<Secret>,
}

impl AwsPlatform {
    /// Reads the configuration and settings from the environment, the secrets from Secrets
    /// Manager (or plain variables, locally), connects the AWS clients and builds the platform on
    /// them, every backend call timed. Once per process: a cold start.
    pub async fn from_env() -> Result<Self, AssemblyError> {
        Self::assemble(None).await
    }

    /// [`Self::from_env`] for one Lambda function, which refuses to start without a secret it
    /// reads ([`crate::secrets::SecretSources::check_given_to`]).
    pub async fn for_function(function: Function) -> Result<Self, AssemblyError> {
        Self::assemble(Some(function)).await
    }

    async fn assemble(function: Option<Function>) -> Result<Self, AssemblyError> {
        let mut config = Config::from_env()?;
        let settings = AwsSettings::from_env()?;
        if let Some(function) = function {
            settings.secrets.check_given_to(function)?;
        }
        let sdk = crate::sdk_config::load().await;
        let secrets = crate::secrets::load(&sdk, &settings.secrets).await?;
        secrets.apply_to(&mut config);
        let adapters = adapters(&sdk, &settings);
        let mut ports = tacos_telemetry::timed_ports::timed(Ports {
            store: adapters.store.clone(),
            scheduler: adapters.scheduler.clone(),
            bus: adapters.bus.clone(),
            clock: Arc::new(SystemClock),
            webhooks: Arc::new(webhooks(&config, secrets.origin.as_ref())),
            keys: Arc::new(HttpKeySource::new()),
        });
        // Every timer is filed in the ledger of due work first, so the sweeper finds the work of
        // one that Scheduler or Lambda lost (`tacos_core::sweep`).
        ports.scheduler = Arc::new(LedgeredScheduler::new(
            ports.scheduler.clone(),
            ports.store.clone(),
        ));
        Ok(Self {
            platform: Arc::new(Platform::new(ports, config)),
            adapters,
            origin_secret: secrets.origin,
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

    /// The follow-up queue, where the `payment-followup` function hides a failed message until
    /// its next delivery ([`crate::redelivery`]); the function must be given
    /// `TACOS_FOLLOWUP_QUEUE_URL`.
    pub fn redelivery(&self) -> Result<SqsRedelivery, SettingsError> {
        let url = self
            .adapters
            .followup_queue_url
            .clone()
            .ok_or(SettingsError::Missing("TACOS_FOLLOWUP_QUEUE_URL"))?;
        Ok(SqsRedelivery {
            client: self.adapters.sqs.clone(),
            url,
        })
    }
}

/// Webhooks to the platform's public URL, carrying the origin secret when the deployment has one
/// (the simulator posts to the API like any outside caller, through its guard).
fn webhooks(config: &Config, origin: Option<&Secret>) -> HttpWebhookSender {
    let sender = HttpWebhookSender::to_public_url(config.public_url.as_deref());
    match origin {
        Some(secret) => sender.with_header(ORIGIN_SECRET_HEADER, secret.expose()),
        None => sender,
    }
}

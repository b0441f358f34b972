//! The platform on AWS adapters, assembled once per cold start and shared by every invocation.

use std::sync::Arc;

use tacos_aws::{adapters, AwsAdapters, AwsSettings, Secret, SettingsError};
use tacos_shared::app::Platform;
use tacos_shared::config::Config;
use tacos_shared::domain::live::LiveUpdates;
use tacos_shared::domain::Deps;
use tacos_shared::ports::SystemClock;

/// The platform and the AWS adapters it was built on.
pub struct Assembled {
    pub platform: Arc<Platform>,
    pub aws: AwsAdapters,
    /// The CloudFront origin secret, when the deployment has one: the HTTP layer refuses
    /// requests that do not carry it (see `tacos_aws::secrets`).
    pub origin_secret: Option<Secret>,
}

impl Assembled {
    /// Live updates over the WebSocket connections of the table and the API's management
    /// endpoint, which the WebSocket functions must be given (`TACOS_WS_MANAGEMENT_URL`).
    pub fn live_updates(&self) -> Result<Arc<LiveUpdates>, lambda_runtime::Error> {
        let pusher = self
            .aws
            .pusher
            .clone()
            .ok_or(SettingsError::Missing("TACOS_WS_MANAGEMENT_URL"))?;
        Ok(Arc::new(LiveUpdates::new(
            &self.platform,
            self.aws.connections.clone(),
            pusher,
        )))
    }
}

/// Reads the configuration, connects the AWS clients and builds the platform for `function`.
pub async fn from_env(function: &str) -> Result<Arc<Platform>, lambda_runtime::Error> {
    Ok(assemble(function).await?.platform)
}

/// As [`from_env`], keeping the adapters for the functions that use them beyond the platform.
pub async fn assemble(function: &str) -> Result<Assembled, lambda_runtime::Error> {
    let mut config = Config::from_env()?;
    let settings = AwsSettings::from_env()?;
    let sdk = tacos_aws::aws_config::load_from_env().await;
    // Once per cold start: Secrets Manager, or the plain variables of a local run.
    let secrets = tacos_aws::secrets::load(&sdk, &settings.secrets).await?;
    secrets.apply_to(&mut config);
    let aws = adapters(&sdk, &settings);
    let deps = tacos_shared::telemetry::ports::instrument(Deps {
        store: aws.store.clone(),
        scheduler: aws.scheduler.clone(),
        bus: aws.bus.clone(),
        clock: Arc::new(SystemClock),
        config: Arc::new(config),
    });
    let platform = Arc::new(Platform::new(deps));
    if function == "auth-login" {
        // The administrator exists from the first login on; creating it is idempotent.
        if let (Some(password), username) = (
            &platform.config().admin_password,
            &platform.config().admin_username,
        ) {
            platform.accounts.ensure_admin(username, password).await?;
        }
    }
    Ok(Assembled {
        platform,
        aws,
        origin_secret: secrets.origin,
    })
}

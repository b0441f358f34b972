//! The platform on AWS adapters, assembled once per cold start and shared by every invocation.

use std::sync::Arc;

use tacos_aws::{connect, AwsSettings};
use tacos_shared::app::Platform;
use tacos_shared::config::Config;
use tacos_shared::domain::Deps;
use tacos_shared::ports::SystemClock;

use crate::metrics::MeteredBus;

/// Reads the configuration, connects the AWS clients and builds the platform for `function`.
pub async fn from_env(function: &str) -> Result<Arc<Platform>, lambda_runtime::Error> {
    let config = Config::from_env()?;
    let settings = AwsSettings::from_env()?;
    let aws = connect(&settings).await;
    let deps = Deps {
        store: aws.store,
        scheduler: aws.scheduler,
        bus: Arc::new(MeteredBus::new(aws.bus, function)),
        clock: Arc::new(SystemClock),
        config: Arc::new(config),
    };
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
    Ok(platform)
}

//! Traffic Tacos on AWS: the ports of `tacos-shared` over DynamoDB, EventBridge Scheduler and
//! EventBridge.
//!
//! * [`settings`]: which table, bus, schedule group, role and functions to use, from the
//!   environment.
//! * [`dynamo`]: [`DynamoStore`], the [`Store`](tacos_shared::ports::Store) over one table.
//! * [`scheduler`]: [`EventBridgeScheduler`], one-shot `at()` schedules per job.
//! * [`bus`]: [`EventBridgeBus`], domain events onto an EventBridge bus.
//! * [`live`]: [`DynamoConnections`], the WebSocket connections as items of the table, and
//!   [`ApiGatewayPusher`], frames through the WebSocket API's management endpoint.
//! * [`secrets`]: the JWT key, webhook secret, administrator password and CloudFront origin
//!   secret, from Secrets Manager (or plain variables locally), read once per cold start.
//!
//! [`connect`] builds every adapter from one shared SDK configuration. A Lambda function calls it
//! once at cold start and reuses the clients for every invocation: loading the configuration
//! (credentials, region) and opening connections costs far more than a request.
//!
//! Against moto or LocalStack, set the SDK's standard `AWS_ENDPOINT_URL`; nothing here knows the
//! difference.

pub mod bus;
pub mod dynamo;
pub mod live;
pub mod scheduler;
mod sdk;
pub mod secrets;
pub mod settings;

use std::sync::Arc;

pub use bus::EventBridgeBus;
pub use dynamo::DynamoStore;
pub use live::{ApiGatewayPusher, DynamoConnections};
pub use scheduler::EventBridgeScheduler;
pub use secrets::{Secret, Secrets, SecretsError};
pub use settings::{AwsSettings, SettingsError};

/// The SDK crates the adapters are built on, for callers that use a client directly (the
/// follow-up draining SQS, tests inspecting schedules) without depending on them separately.
pub use {
    aws_config, aws_sdk_apigatewaymanagement, aws_sdk_dynamodb, aws_sdk_eventbridge,
    aws_sdk_scheduler, aws_sdk_secretsmanager, aws_sdk_sqs,
};

/// Every AWS adapter, sharing one SDK configuration.
#[derive(Debug, Clone)]
pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub scheduler: Arc<EventBridgeScheduler>,
    pub bus: Arc<EventBridgeBus>,
    /// For the payment follow-up, which drains `settings.followup_queue_url` itself.
    pub sqs: aws_sdk_sqs::Client,
    /// The WebSocket connections, in the same table.
    pub connections: Arc<DynamoConnections>,
    /// Frames to WebSocket connections, when `settings.ws_management_url` is set.
    pub pusher: Option<Arc<ApiGatewayPusher>>,
}

/// Loads the SDK configuration once (region, credentials and endpoint from the environment) and
/// builds every adapter on it.
pub async fn connect(settings: &AwsSettings) -> AwsAdapters {
    let config = aws_config::load_from_env().await;
    adapters(&config, settings)
}

/// Builds every adapter on an already loaded SDK configuration.
///
/// Store, scheduler and bus calls are bounded by [`AwsSettings::operation_timeout`]; a dead
/// endpoint fails faster on its own (connection refused, three attempts: 2.6–5.1 s in the fault
/// runs). SQS is left out: the worker's long polls wait up to 20 s by design. Frames have their
/// own, shorter bound ([`live::PUSH_TIMEOUT`]).
pub fn adapters(config: &aws_config::SdkConfig, settings: &AwsSettings) -> AwsAdapters {
    let sqs = aws_sdk_sqs::Client::new(config);
    let pusher = settings
        .ws_management_url
        .as_deref()
        .map(|endpoint| Arc::new(ApiGatewayPusher::new(config, endpoint)));
    let config = &config
        .to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(settings.operation_timeout)
                .build(),
        )
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    AwsAdapters {
        connections: Arc::new(DynamoConnections::new(dynamodb.clone(), &settings.table)),
        pusher,
        store: Arc::new(DynamoStore::new(dynamodb, &settings.table)),
        scheduler: Arc::new(EventBridgeScheduler::new(
            aws_sdk_scheduler::Client::new(config),
            settings,
        )),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(config),
            &settings.event_bus,
        )),
        sqs,
    }
}

//! Every AWS adapter built from one shared SDK configuration ([`connect`]).

use std::sync::Arc;

use crate::bus::EventBridgeBus;
use crate::connections::DynamoConnections;
use crate::dynamo::DynamoStore;
use crate::pusher::ApiGatewayPusher;
use crate::scheduler::EventBridgeScheduler;
use crate::settings::AwsSettings;

/// Every AWS adapter, sharing one SDK configuration.
#[derive(Debug, Clone)]
pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub scheduler: Arc<EventBridgeScheduler>,
    pub bus: Arc<EventBridgeBus>,
    /// For the payment follow-up, which drains `settings.followup_queue_url` itself (the
    /// container's worker) or sets when its failed messages come back (the Lambda function).
    pub sqs: aws_sdk_sqs::Client,
    /// The follow-up queue (`TACOS_FOLLOWUP_QUEUE_URL`), when this process is given it.
    pub followup_queue_url: Option<String>,
    /// The WebSocket connections, in the same table.
    pub connections: Arc<DynamoConnections>,
    /// Frames to WebSocket connections, when `settings.ws_management_url` is set.
    pub pusher: Option<Arc<ApiGatewayPusher>>,
}

/// Loads the SDK configuration once (region, credentials and endpoint from the environment) and
/// builds every adapter on it.
pub async fn connect(settings: &AwsSettings) -> AwsAdapters {
    let config = crate::sdk_config::load().await;
    adapters(&config, settings)
}

/// Builds every adapter on an already loaded SDK configuration.
///
/// Store, scheduler and bus calls are bounded by [`AwsSettings::operation_timeout`]; a dead
/// endpoint fails faster on its own (connection refused, three attempts: 2.6–5.1 s in the fault
/// runs). SQS is left out: the worker's long polls wait up to 20 s by design. Frames have their
/// own, shorter bound ([`crate::pusher::PUSH_TIMEOUT`]).
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
        followup_queue_url: settings.followup_queue_url.clone(),
    }
}

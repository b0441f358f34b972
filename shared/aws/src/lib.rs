//! Traffic Tacos on AWS: the core's ports over DynamoDB, EventBridge Scheduler, EventBridge and
//! API Gateway, and the platform assembled on them.
//!
//! * [`settings`]: which table, bus, schedule group, role and functions to use, from the
//!   environment.
//! * [`dynamo`]: [`DynamoStore`], the [`Store`](tacos_core::ports::Store) over one table.
//! * [`scheduler`]: [`EventBridgeScheduler`], one-shot `at()` schedules per job.
//! * [`bus`]: [`EventBridgeBus`], domain events onto an EventBridge bus.
//! * [`connections`]: [`DynamoConnections`], the WebSocket connections as items of the table.
//! * [`pusher`]: [`ApiGatewayPusher`], frames through the WebSocket API's management endpoint.
//! * [`platform`]: [`AwsPlatform`], the platform on these adapters, built once per process.
//! * [`follow_up`]: the payment follow-up's SQS messages (EventBridge events) handled.
//! * [`redelivery`]: when a follow-up message that failed comes back: later the longer a
//!   dependency stays away, soon for any other failure.
//! * [`secrets`]: the JWT key, webhook secret, administrator password and CloudFront origin
//!   secret, from Secrets Manager (or plain variables locally), read once per cold start.
//!
//! * [`sdk_config`]: the SDK configuration from the environment, over an HTTPS client on rustls
//!   with ring (every client here, and the tests', is built on it).
//!
//! [`connect`] builds every adapter from one shared SDK configuration. A Lambda function calls it
//! once at cold start and reuses the clients for every invocation: loading the configuration
//! (credentials, region) and opening connections costs far more than a request.
//!
//! Against moto or LocalStack, set the SDK's standard `AWS_ENDPOINT_URL`; nothing here knows the
//! difference.

pub mod adapters;
pub mod bus;
pub mod connections;
pub mod dynamo;
pub mod env;
pub mod follow_up;
pub mod platform;
pub mod pusher;
pub mod redelivery;
pub mod scheduler;
mod sdk;
pub mod sdk_config;
pub mod secrets;
pub mod settings;

pub use adapters::{adapters, connect, AwsAdapters};
pub use bus::EventBridgeBus;
pub use connections::DynamoConnections;
pub use dynamo::DynamoStore;
pub use env::SettingsError;
pub use platform::{AssemblyError, AwsPlatform};
pub use pusher::ApiGatewayPusher;
pub use scheduler::EventBridgeScheduler;
pub use secrets::{Secret, Secrets, SecretsError};
pub use settings::AwsSettings;

/// The SDK crates the adapters are built on, for callers that use a client directly (the
/// follow-up draining SQS, tests inspecting schedules) without depending on them separately.
pub use {
    aws_config, aws_sdk_apigatewaymanagement, aws_sdk_dynamodb, aws_sdk_eventbridge,
    aws_sdk_scheduler, aws_sdk_secretsmanager, aws_sdk_sqs,
};

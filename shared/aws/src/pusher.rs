//! [`Pusher`] on AWS: frames through the API Gateway management API of the WebSocket API.
//!
//! [`ApiGatewayPusher`] posts each frame with `PostToConnection` to the stage's management
//! endpoint (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`, from
//! `TACOS_WS_MANAGEMENT_URL`). API Gateway answers `GoneException` (410) for a connection whose
//! browser left; that is [`Delivery::Gone`], not an error. Closing is `DeleteConnection`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use tacos_core::ports::connections::ConnectionId;
use tacos_core::ports::pusher::{Delivery, PushError, Pusher};

use crate::sdk::describe;

/// The longest one frame may take: the pusher sends every 2 s, and a frame later than that is
/// stale anyway. For the same reason a failed frame is not retried (the next tick sends a fresher
/// one), which also spares a throttled API a burst of retries.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// [`Pusher`] over the API Gateway management API of one WebSocket API stage.
#[derive(Debug, Clone)]
pub struct ApiGatewayPusher {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPusher {
    /// A pusher posting to `endpoint` (the stage's `https://…/{stage}` URL), on the credentials
    /// and region of `config`.
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .endpoint_url(endpoint)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(PUSH_TIMEOUT)
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }
}

#[async_trait]
impl Pusher for ApiGatewayPusher {
    async fn send(&self, id: &ConnectionId, frame: &Arc<str>) -> Result<Delivery, PushError> {
        match self
            .client
            .post_to_connection()
            .connection_id(id.as_str())
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Sent),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                Ok(Delivery::Gone)
            }
            Err(e) => Err(PushError(describe(&e))),
        }
    }

    async fn close(&self, id: &ConnectionId) -> Result<(), PushError> {
        match self
            .client
            .delete_connection()
            .connection_id(id.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => Ok(()),
            Err(e) => Err(PushError(describe(&e))),
        }
    }
}

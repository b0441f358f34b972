//! The payment follow-up's messages: EventBridge events, as the rule delivers them to SQS.
//!
//! The `payment-followup` function and the container's worker both drain the follow-up queue and
//! hand each message here: [`follow_up`] reads the EventBridge envelope ([`parse_record`]) and
//! lets the platform handle the domain event it carries. When it fails, [`crate::redelivery`]
//! says when the message should come back.

use serde::Deserialize;
use tacos_core::error::Error;
use tacos_core::platform::Platform;
use tacos_core::ports::{DetailType, DomainEvent, EventDetail};

/// The EventBridge event an SQS message carries (the fields the follow-up reads).
#[derive(Debug, Deserialize)]
struct BridgedEvent {
    #[serde(rename = "detail-type")]
    detail_type: DetailType,
    detail: EventDetail,
}

/// Parses an SQS message's body (an EventBridge event) into a domain event.
pub fn parse_record(body: &str) -> Result<DomainEvent, serde_json::Error> {
    let bridged: BridgedEvent = serde_json::from_str(body)?;
    Ok(DomainEvent {
        detail_type: bridged.detail_type,
        detail: bridged.detail,
    })
}

/// Handles one follow-up message's body. `Err` means: deliver it again (when:
/// [`crate::redelivery::Failure::of`] the error). A body that can never parse would only go round
/// to the DLQ, so it is dropped, loudly.
pub async fn follow_up(
    platform: &Platform,
    message_id: &str,
    body: Option<&str>,
) -> Result<(), Error> {
    match body.map(parse_record) {
        Some(Ok(event)) => platform.follow_up_event(event).await,
        Some(Err(e)) => {
            tracing::error!(%message_id, error = %e, "unreadable follow-up record dropped");
            Ok(())
        }
        None => Ok(()),
    }
}

//! The [`EventBus`] port over an EventBridge bus.
//!
//! Domain events are published as EventBridge events whose envelope carries what rules match on:
//! `source` (`tacos.reservation` / `tacos.payment`) and `detail-type` (`payment.approved`, ...),
//! with the contract's `detail` as the event's detail. Routing is infrastructure, not code: a rule
//! on the bus sends payment outcomes to the SQS queue the `payment-followup` function drains
//! (`scripts/aws_setup.py` creates it), so adding a consumer never touches the publisher.
//!
//! `PutEvents` answers 200 even when it rejected an entry, reporting it only in
//! `FailedEntryCount`; such a partial failure is a failure here, so the caller retries instead of
//! silently dropping an event.

use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use tacos_core::ports::bus::{DomainEvent, EventBus, PublishError};

use crate::sdk::describe;

/// [`EventBus`] publishing to one EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    /// A bus publishing to `bus_name` through `client` (build the client once per process).
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// The PutEvents entry of `event`.
    pub fn entry(&self, event: &DomainEvent) -> Result<PutEventsRequestEntry, PublishError> {
        let detail = serde_json::to_string(&event.detail)
            .map_err(|err| PublishError(format!("event detail: {err}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(event.detail_type.source())
            .detail_type(event.detail_type.as_str())
            .detail(detail)
            .time(AwsDateTime::from_millis(
                event.detail.occurred_at.timestamp_millis(),
            ))
            .build())
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, event: DomainEvent) -> Result<(), PublishError> {
        let entry = self.entry(&event)?;
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|err| {
                PublishError(format!(
                    "PutEvents to {}: {}",
                    self.bus_name,
                    describe(&err)
                ))
            })?;
        if output.failed_entry_count() > 0 {
            let reasons: Vec<String> = output
                .entries()
                .iter()
                .filter(|entry| entry.error_code().is_some())
                .map(|entry| {
                    format!(
                        "{}: {}",
                        entry.error_code().unwrap_or_default(),
                        entry.error_message().unwrap_or_default()
                    )
                })
                .collect();
            return Err(PublishError(format!(
                "PutEvents to {} rejected {} {}: {}",
                self.bus_name,
                event.detail_type.as_str(),
                event.detail.reservation_id,
                reasons.join("; ")
            )));
        }
        tracing::debug!(detail_type = event.detail_type.as_str(), bus = %self.bus_name, "event published");
        Ok(())
    }
}

//! Functions triggered by AWS services rather than HTTP.
//!
//! * `expire` and `payment-simulator` are EventBridge Scheduler targets; the schedule's input is
//!   the [`Job`] itself. The Scheduler retries failures and may deliver twice; jobs are
//!   idempotent.
//! * `payment-followup` drains the SQS queue that the EventBridge rule feeds. Each record is an
//!   EventBridge event; a record that fails is reported in `batchItemFailures` so only it is
//!   redelivered (and dead-lettered after five tries), never the whole batch.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use serde::Deserialize;
use tacos_shared::app::Platform;
use tacos_shared::ports::{DetailType, DomainEvent, EventDetail, EventHandler, Job, JobHandler};

/// Which jobs a scheduler-target function accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Expiry,
    PaymentSimulator,
}

impl JobKind {
    fn accepts(self, job: &Job) -> bool {
        match self {
            Self::Expiry => matches!(job, Job::ExpireHold { .. }),
            Self::PaymentSimulator => {
                matches!(job, Job::SettlePayment { .. } | Job::DeliverWebhook { .. })
            }
        }
    }
}

pub async fn run_jobs(platform: Arc<Platform>, kind: JobKind) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Job>| {
        let platform = platform.clone();
        async move { handle_job(&platform, kind, event.payload).await }
    }))
    .await
}

/// Runs one scheduled job; an error makes the Scheduler retry.
pub async fn handle_job(
    platform: &Platform,
    kind: JobKind,
    job: Job,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    if !kind.accepts(&job) {
        return Err(format!("{} is not a job for this function", job.name()).into());
    }
    tracing::info!(job = %job.name(), "job");
    platform.run_job(job.clone()).await?;
    Ok(serde_json::json!({ "done": job.name() }))
}

pub async fn run_followup(platform: Arc<Platform>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let platform = platform.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle_batch(&platform, event.payload).await) }
    }))
    .await
}

/// The EventBridge event an SQS record carries.
#[derive(Debug, Deserialize)]
struct BridgedEvent {
    #[serde(rename = "detail-type")]
    detail_type: DetailType,
    detail: EventDetail,
}

/// Parses an SQS body (an EventBridge event) into a domain event.
pub fn parse_record(body: &str) -> Result<DomainEvent, serde_json::Error> {
    let bridged: BridgedEvent = serde_json::from_str(body)?;
    Ok(DomainEvent {
        detail_type: bridged.detail_type,
        detail: bridged.detail,
    })
}

/// Handles each record; failures are reported for redelivery of that record alone.
pub async fn handle_batch(platform: &Platform, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = match record.body.as_deref().map(parse_record) {
            Some(Ok(event)) => platform.handle_event(event).await,
            // A record that can never parse would only be redelivered to the DLQ: drop it loudly.
            Some(Err(e)) => {
                tracing::error!(message_id = %id, error = %e, "unreadable follow-up record dropped");
                Ok(())
            }
            None => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::warn!(message_id = %id, %error, "follow-up failed; will be redelivered");
            failures.push(BatchItemFailure {
                item_identifier: id,
            });
        }
    }
    SqsBatchResponse {
        batch_item_failures: failures,
    }
}

//! Functions triggered by AWS services rather than HTTP.
//!
//! * `expire` and `payment-simulator` are EventBridge Scheduler targets; the schedule's input is
//!   the [`Job`] itself, with the `traceparent` of the request that set it ([`TracedJob`]), whose
//!   trace the run continues. The Scheduler retries failures and may deliver twice; jobs are
//!   idempotent.
//! * `payment-followup` drains the SQS queue that the EventBridge rule feeds. Each record is an
//!   EventBridge event; a record that fails is reported in `batchItemFailures` so only it is
//!   redelivered (and dead-lettered after five tries), never the whole batch. Each event's
//!   handling continues the trace its detail's `traceparent` names.
//!
//! Every invocation ends by flushing its metrics and spans ([`crate::metrics::flush`]).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use serde::Deserialize;
use tacos_shared::app::Platform;
use tacos_shared::ports::{
    DetailType, DomainEvent, EventDetail, EventHandler, Job, JobHandler, TracedJob,
};
use tracing::Instrument;

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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<TracedJob>| {
        let platform = platform.clone();
        async move {
            let outcome = handle_job(&platform, kind, event.payload).await;
            crate::metrics::flush();
            outcome
        }
    }))
    .await
}

/// Runs one scheduled job, continuing the trace that set it; an error makes the Scheduler retry.
pub async fn handle_job(
    platform: &Platform,
    kind: JobKind,
    traced: TracedJob,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let job = traced.job;
    if !kind.accepts(&job) {
        return Err(format!("{} is not a job for this function", job.name()).into());
    }
    let span = tacos_shared::telemetry::context::job_span(&job, traced.traceparent.as_deref());
    async {
        tracing::info!(job = %job.name(), "job");
        platform.run_job(job.clone()).await?;
        Ok(serde_json::json!({ "done": job.name() }))
    }
    .instrument(span)
    .await
}

pub async fn run_followup(platform: Arc<Platform>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let platform = platform.clone();
        async move {
            let response = handle_batch(&platform, event.payload).await;
            crate::metrics::flush();
            Ok::<_, lambda_runtime::Error>(response)
        }
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

/// Handles one follow-up message's body (an EventBridge event), as the `payment-followup`
/// function and the container's worker both receive it. `Err` means: deliver it again. A body
/// that can never parse would only go round to the DLQ, so it is dropped, loudly.
pub async fn follow_up(
    platform: &Platform,
    message_id: &str,
    body: Option<&str>,
) -> Result<(), String> {
    match body.map(parse_record) {
        Some(Ok(event)) => platform.handle_event(event).await,
        Some(Err(e)) => {
            tracing::error!(%message_id, error = %e, "unreadable follow-up record dropped");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Handles each record; failures are reported for redelivery of that record alone.
pub async fn handle_batch(platform: &Platform, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = follow_up(platform, &id, record.body.as_deref()).await;
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

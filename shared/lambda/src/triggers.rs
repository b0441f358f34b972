//! Functions triggered by AWS services rather than HTTP.
//!
//! * `expire` and `payment-simulator` are EventBridge Scheduler targets; the schedule's input is
//!   the [`Job`] itself, with the `traceparent` of the request that set it ([`TracedJob`]), whose
//!   trace the run continues. Scheduler invokes them asynchronously and retries only a hand-over
//!   that failed (throttled, function missing); a run that fails is Lambda's to retry, twice, after
//!   which its record goes to the timer failure queue (`EventInvokeConfig`), and the sweeper runs
//!   the job again within minutes anyway. Either may deliver twice; jobs are idempotent.
//! * `payment-followup` drains the SQS queue that the EventBridge rule feeds. Each record is an
//!   EventBridge event; a record that fails is reported in `batchItemFailures` so only it is
//!   redelivered, never the whole batch, after a wait that depends on why it failed
//!   ([`tacos_aws::redelivery`]): growing from 1 to 15 minutes while a dependency is away, so a
//!   store outage of an hour and a half does not dead-letter it, a minute otherwise, so a message
//!   that can never succeed reaches the dead-letter queue at its tenth receive within about ten
//!   minutes. Each event's handling continues the trace its detail's `traceparent` names.
//!
//! Every invocation ends by flushing its metrics and spans ([`crate::metrics::flush`]).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, LambdaEvent};
use tacos_aws::follow_up::follow_up;
use tacos_aws::redelivery::{self, Hide, Redelivery, SqsRedelivery};
use tacos_core::platform::Platform;
use tacos_core::ports::{JobFamily, JobHandler, TracedJob};
use tracing::Instrument;

pub async fn run_jobs(
    platform: Arc<Platform>,
    family: JobFamily,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<TracedJob>| {
        let platform = platform.clone();
        async move {
            let outcome = handle_job(&platform, family, event.payload).await;
            crate::metrics::flush();
            outcome
        }
    }))
    .await
}

/// Runs one scheduled job, continuing the trace that set it; an error makes Lambda retry it (the
/// asynchronous invocation's retries), not the Scheduler.
pub async fn handle_job(
    platform: &Platform,
    family: JobFamily,
    traced: TracedJob,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    if traced.job.family() != family {
        return Err(format!("{} is not a job for this function", traced.job.name()).into());
    }
    let span = traced.span();
    let trace_id = tacos_core::trace_context::trace_id_or_new(traced.traceparent.as_deref());
    let job = traced.job;
    let run = async {
        tracing::info!(job = %job.name(), "job");
        platform.run_job(job.clone()).await?;
        Ok(serde_json::json!({ "done": job.name() }))
    }
    .instrument(span);
    tacos_core::trace_context::in_trace(trace_id, run).await
}

pub async fn run_followup(
    platform: Arc<Platform>,
    redelivery: SqsRedelivery,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let platform = platform.clone();
        let redelivery = redelivery.clone();
        async move {
            let response = handle_batch(&platform, &redelivery, event.payload).await;
            crate::metrics::flush();
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// Handles the records at once; failures are reported for redelivery of those records alone, each
/// hidden first for as long as its failure calls for ([`tacos_aws::redelivery`]).
///
/// At once, not one after another: a record whose store calls are slow (each may take up to
/// `TACOS_AWS_OPERATION_TIMEOUT_MS`) would otherwise take the others' time too, and a batch over
/// the function's timeout goes back to the queue whole, every record nearer its dead letter. The
/// follow-up is safe to run concurrently: records of one reservation are handled as two
/// functions' would be (`Payments::on_approved`, `on_failed`).
pub async fn handle_batch(
    platform: &Platform,
    redelivery: &impl Redelivery,
    event: SqsEvent,
) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(event.records.into_iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = follow_up(platform, &id, record.body.as_deref()).await;
        (id, record, outcome)
    }))
    .await;
    let mut failures = Vec::new();
    let mut hidden = Vec::new();
    for (id, record, outcome) in outcomes {
        let Err(error) = outcome else {
            tacos_telemetry::series::followup_messages("handled", 1);
            continue;
        };
        let retry_in = redelivery::failed(&id, receives(&record), &error);
        if let Some(receipt) = record.receipt_handle {
            hidden.push(Hide {
                receipt,
                for_: retry_in,
            });
        }
        failures.push(BatchItemFailure {
            item_identifier: id,
        });
    }
    let count = hidden.len();
    if let Err(error) = redelivery.hide(hidden).await {
        tracing::warn!(
            count,
            %error,
            "failed follow-ups not hidden: they come back after the queue's visibility timeout"
        );
    }
    SqsBatchResponse {
        batch_item_failures: failures,
    }
}

/// The record's `ApproximateReceiveCount` (this delivery is its n-th), when SQS said.
fn receives(record: &SqsMessage) -> Option<u32> {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
}

/// The `sweeper`: one sweep per invocation (a scheduled rule starts it every minute, whatever the
/// event says). A sweep with jobs that failed again is an error, so the function's errors alarm
/// shows it; its jobs are already filed for the next minute, and the rule does not retry it.
pub async fn run_sweeper(platform: Arc<Platform>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let platform = platform.clone();
        async move {
            let outcome = handle_sweep(&platform).await;
            crate::metrics::flush();
            outcome
        }
    }))
    .await
}

/// Runs one sweep and says what it did.
pub async fn handle_sweep(platform: &Platform) -> Result<serde_json::Value, lambda_runtime::Error> {
    let report = platform.sweep().await?;
    tacos_telemetry::series::swept_jobs(report.jobs, report.failed);
    if report.jobs > 0 || report.overtaken {
        tracing::info!(?report, "sweep");
    }
    if let Some(failure) = report.failure() {
        return Err(failure.into());
    }
    Ok(serde_json::to_value(report)?)
}

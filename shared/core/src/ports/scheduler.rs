//! The scheduler port: one-shot timers that survive the request that set them.
//!
//! In AWS each timer is an EventBridge Scheduler `at(...)` schedule whose target is a function;
//! locally it is an in-process timer wheel. Delivery is at least once and may be late, so every
//! [`Job`] handler is idempotent and checks the clock itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{PaymentIntentId, ReservationId};
use crate::trace_context;

/// Work to run at a given time. The serialized form is the payload of the AWS schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Release a hold that was neither confirmed nor cancelled in time.
    ExpireHold { reservation_id: ReservationId },
    /// The payment simulator settles a delayed payment.
    SettlePayment { payment_intent_id: PaymentIntentId },
    /// The payment simulator posts the outcome of a payment to the platform's webhook.
    DeliverWebhook { payment_intent_id: PaymentIntentId },
    /// The platform checks, some minutes after it heard of an approval, that the approval was
    /// followed up (the hold confirmed, or the payment refunded) even if its bus message was
    /// lost or dead-lettered.
    FollowUpPayment {
        payment_intent_id: PaymentIntentId,
        reservation_id: ReservationId,
    },
}

/// Families of jobs, each run by one function on AWS (the schedule's target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobFamily {
    /// The platform's own timers: holds that reach their expiry, and the check that an
    /// approval was followed up (`expire`).
    HoldExpiry,
    /// The payment simulator's settlements and webhook deliveries (`payment-simulator`).
    PaymentSimulator,
}

impl Job {
    /// The family it belongs to.
    pub fn family(&self) -> JobFamily {
        match self {
            Self::ExpireHold { .. } | Self::FollowUpPayment { .. } => JobFamily::HoldExpiry,
            Self::SettlePayment { .. } | Self::DeliverWebhook { .. } => JobFamily::PaymentSimulator,
        }
    }

    /// The kind of job, as its serialized `job` tag says (`expire_hold`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ExpireHold { .. } => "expire_hold",
            Self::SettlePayment { .. } => "settle_payment",
            Self::DeliverWebhook { .. } => "deliver_webhook",
            Self::FollowUpPayment { .. } => "follow_up_payment",
        }
    }

    /// A name unique per job, so scheduling the same job twice replaces it instead of doubling it.
    pub fn name(&self) -> String {
        match self {
            Self::ExpireHold { reservation_id } => format!("expire-{reservation_id}"),
            Self::SettlePayment { payment_intent_id } => format!("settle-{payment_intent_id}"),
            Self::DeliverWebhook { payment_intent_id } => format!("webhook-{payment_intent_id}"),
            Self::FollowUpPayment {
                payment_intent_id, ..
            } => format!("followup-{payment_intent_id}"),
        }
    }
}

/// A job as a timer delivers it: the job's own fields plus the W3C `traceparent` of the span that
/// set it, so the run continues that trace. This is the input of an AWS schedule; a job without
/// the field (set before it existed, or with tracing off) reads as an untraced job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedJob {
    #[serde(flatten)]
    pub job: Job,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl TracedJob {
    /// The span the job runs in, continuing the trace of the request that set it.
    pub fn span(&self) -> tracing::Span {
        let traceparent = self.traceparent.as_deref();
        let trace_id = traceparent.and_then(trace_context::trace_id_of);
        let span = tracing::info_span!(
            "job",
            otel.name = %format!("job {}", self.job.kind()),
            otel.kind = "consumer",
            job = %self.job.name(),
            trace_id = trace_id.as_deref().unwrap_or_default(),
        );
        trace_context::continue_from(&span, traceparent);
        span
    }

    /// `job`, carrying the current span's trace context.
    pub fn current(job: Job) -> Self {
        Self {
            job,
            traceparent: trace_context::current_traceparent(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduler unavailable: {0}")]
pub struct ScheduleError(pub String);

#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// Runs `job` at `at` (or soon after), at least once. Scheduling a job that already exists
    /// moves it to the new time.
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError>;

    /// Drops a job that is no longer needed; a job that already ran or never existed is fine.
    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError>;
}

/// What a fired timer calls: the `expire` function in AWS, the platform itself locally.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs the job; an error asks for a retry later.
    async fn run_job(&self, job: Job) -> Result<(), String>;
}

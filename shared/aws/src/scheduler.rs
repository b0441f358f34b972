//! The [`Scheduler`] port over EventBridge Scheduler: one one-shot schedule per job.
//!
//! A hold's expiry must fire even if every function instance that saw the hold is gone, so the
//! timer lives in AWS, not in a process: each [`Job`] becomes an `at(...)` schedule named
//! [`Job::name`] in the configured group, whose target is the function that runs that kind of job
//! and whose `Input` is the job's JSON (exactly the event that function receives), with the
//! `traceparent` of the span that set it ([`TracedJob`]) so the run continues the trace. Naming the
//! schedule after the job makes scheduling idempotent: scheduling the same job again finds the
//! name taken (`ConflictException`) and moves the existing schedule with `UpdateSchedule`
//! instead of setting a second timer.
//!
//! * `at()` has second precision and is read in `ScheduleExpressionTimezone` (UTC here), so the
//!   time is rounded *up* to the next whole second: a job never fires before it is due.
//! * Scheduler refuses an `at()` in the past, and a job asked for "now" (a webhook to deliver at
//!   once) must still run, so anything earlier than [`MIN_LEAD_SECONDS`] from now is scheduled that
//!   far ahead. Handlers check the clock themselves, so a few seconds late is harmless.
//! * `ActionAfterCompletion DELETE`: a schedule that has fired removes itself, so the group holds
//!   only pending jobs and the account's schedule quota is not eaten by history.
//! * `FlexibleTimeWindow OFF`: a hold expires when it says it does, not up to N minutes later.
//! * delivery is at least once; every job handler is idempotent. Two layers of retries, because
//!   Scheduler invokes Lambda *asynchronously*: the target's retry policy
//!   ([`AwsSettings::scheduler_retry`]) covers Scheduler failing to hand the job to Lambda
//!   (throttling, a missing function or permission), after which the job goes to the dead-letter
//!   queue ([`AwsSettings::scheduler_dead_letter_arn`]); a run that starts and fails is retried by
//!   Lambda (twice) and then sent to the function's on-failure destination (`EventInvokeConfig`
//!   in `template.yaml`). Scheduler never sees a function's error. Neither queue is silent: each
//!   has an alarm on its depth.

use async_trait::async_trait;
use aws_sdk_scheduler::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use chrono::{DateTime, Duration, DurationRound, Utc};
use tacos_core::ports::scheduler::{Job, ScheduleError, Scheduler, TracedJob};

use crate::sdk::describe;
use crate::settings::{AwsSettings, SchedulerRetry};

/// How far ahead a job due now (or in the past) is scheduled: Scheduler refuses past times, and
/// the caller's clock and AWS's may disagree by a little.
pub const MIN_LEAD_SECONDS: i64 = 5;

/// [`Scheduler`] over EventBridge Scheduler one-shot schedules.
#[derive(Debug, Clone)]
pub struct EventBridgeScheduler {
    client: Client,
    group: String,
    role_arn: String,
    expire_function_arn: String,
    simulator_function_arn: String,
    retry: SchedulerRetry,
    dead_letter_arn: Option<String>,
}

/// Everything one schedule is made of, shared by create and update (an update replaces the whole
/// schedule, so it must repeat every field).
struct Spec {
    name: String,
    expression: String,
    window: FlexibleTimeWindow,
    target: Target,
}

impl EventBridgeScheduler {
    /// A scheduler creating schedules in `settings.schedule_group` that assume
    /// `settings.scheduler_role_arn` to invoke the expire and simulator functions.
    pub fn new(client: Client, settings: &AwsSettings) -> Self {
        Self {
            client,
            group: settings.schedule_group.clone(),
            role_arn: settings.scheduler_role_arn.clone(),
            expire_function_arn: settings.expire_function_arn.clone(),
            simulator_function_arn: settings.simulator_function_arn.clone(),
            retry: settings.scheduler_retry,
            dead_letter_arn: settings.scheduler_dead_letter_arn.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The schedule group every job schedule lives in.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The function a job's schedule invokes.
    pub fn target_arn(&self, job: &Job) -> &str {
        match job {
            Job::ExpireHold { .. } | Job::FollowUpPayment { .. } => &self.expire_function_arn,
            Job::SettlePayment { .. } | Job::DeliverWebhook { .. } => &self.simulator_function_arn,
        }
    }

    fn spec(&self, at: DateTime<Utc>, job: &Job) -> Result<Spec, ScheduleError> {
        let input = serde_json::to_string(&TracedJob::current(job.clone()))
            .map_err(|err| ScheduleError(format!("job {job:?}: {err}")))?;
        let retry_policy = RetryPolicy::builder()
            .maximum_retry_attempts(self.retry.max_attempts)
            .maximum_event_age_in_seconds(self.retry.max_event_age_seconds)
            .build();
        let dead_letter = self
            .dead_letter_arn
            .as_ref()
            .map(|arn| DeadLetterConfig::builder().arn(arn).build());
        let target = Target::builder()
            .arn(self.target_arn(job))
            .role_arn(&self.role_arn)
            .input(input)
            .retry_policy(retry_policy)
            .set_dead_letter_config(dead_letter)
            .build()
            .map_err(|err| ScheduleError(err.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|err| ScheduleError(err.to_string()))?;
        Ok(Spec {
            name: job.name(),
            expression: at_expression(at, Utc::now()),
            window,
            target,
        })
    }

    async fn create(
        &self,
        spec: &Spec,
    ) -> Result<(), SdkError<aws_sdk_scheduler::operation::create_schedule::CreateScheduleError>>
    {
        self.client
            .create_schedule()
            .name(&spec.name)
            .group_name(&self.group)
            .schedule_expression(&spec.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(spec.window.clone())
            .target(spec.target.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map(drop)
    }

    async fn update(
        &self,
        spec: &Spec,
    ) -> Result<(), SdkError<aws_sdk_scheduler::operation::update_schedule::UpdateScheduleError>>
    {
        self.client
            .update_schedule()
            .name(&spec.name)
            .group_name(&self.group)
            .schedule_expression(&spec.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(spec.window.clone())
            .target(spec.target.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map(drop)
    }
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError> {
        let spec = self.spec(at, &job)?;
        // Create first (the common case: a new job); the name taken means the job exists, so move it.
        // An update can in turn find the schedule gone (it fired and deleted itself meanwhile):
        // then the job is new again.
        for _ in 0..3 {
            match self.create(&spec).await {
                Ok(()) => return Ok(()),
                Err(err) if err.code() == Some("ConflictException") => {}
                Err(err) => {
                    return Err(ScheduleError(format!(
                        "creating schedule {}: {}",
                        spec.name,
                        describe(&err)
                    )))
                }
            }
            match self.update(&spec).await {
                Ok(()) => return Ok(()),
                Err(err) if err.code() == Some("ResourceNotFoundException") => {}
                Err(err) => {
                    return Err(ScheduleError(format!(
                        "updating schedule {}: {}",
                        spec.name,
                        describe(&err)
                    )))
                }
            }
        }
        Err(ScheduleError(format!(
            "schedule {} kept appearing and disappearing",
            spec.name
        )))
    }

    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        let name = job.name();
        match self
            .client
            .delete_schedule()
            .name(&name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already fired (and deleted itself) or never set: either way there is nothing to cancel.
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(err) => Err(ScheduleError(format!(
                "deleting schedule {name}: {}",
                describe(&err)
            ))),
        }
    }
}

/// `at(YYYY-MM-DDThh:mm:ss)` for `at` rounded up to a whole second, and at least
/// [`MIN_LEAD_SECONDS`] after `now`.
pub fn at_expression(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let earliest = now + Duration::seconds(MIN_LEAD_SECONDS);
    let at = at.max(earliest);
    let second = Duration::seconds(1);
    let truncated = at.duration_trunc(second).unwrap_or(at);
    let rounded = if truncated < at {
        truncated + second
    } else {
        truncated
    };
    format!("at({})", rounded.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn at_rounds_up_to_the_next_second() {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 12, 30, 15).unwrap();
        assert_eq!(at_expression(at, now), "at(2030-01-01T12:30:15)");
        assert_eq!(
            at_expression(at + Duration::milliseconds(1), now),
            "at(2030-01-01T12:30:16)"
        );
    }

    #[test]
    fn the_past_is_moved_a_little_ahead() {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::milliseconds(300);
        assert_eq!(
            at_expression(now - Duration::hours(1), now),
            "at(2030-01-01T00:00:06)"
        );
    }
}

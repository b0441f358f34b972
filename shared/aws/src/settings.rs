//! Where the AWS resources live, read from the environment.
//!
//! The adapters never create resources: the table, the bus, the schedule group, the queue and the
//! role are made once by infrastructure (`scripts/aws_setup.py` against moto or an account), and a
//! function only learns their names. Reading them all up front, once per cold start, turns a
//! misconfigured deployment into one clear error naming the missing variable instead of a
//! failure deep inside the first request that happens to need it.
//!
//! The endpoint is not a setting of ours: the SDK's standard `AWS_ENDPOINT_URL` (honoured by
//! `aws-config`) points every client at moto in tests, and is simply unset in AWS.

use crate::env::{optional, SettingsError};
use crate::secrets::SecretSources;

/// The names and ARNs of the resources the adapters use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// DynamoDB table (`TACOS_TABLE`): string keys `pk`/`sk`, TTL attribute `expires_at`.
    pub table: String,
    /// EventBridge bus domain events are published on (`TACOS_EVENT_BUS`).
    pub event_bus: String,
    /// EventBridge Scheduler group the one-shot job schedules are created in
    /// (`TACOS_SCHEDULE_GROUP`).
    pub schedule_group: String,
    /// Role EventBridge Scheduler assumes to invoke the targets (`TACOS_SCHEDULER_ROLE_ARN`).
    pub scheduler_role_arn: String,
    /// Target of [`Job::ExpireHold`](tacos_core::ports::Job::ExpireHold) schedules
    /// (`TACOS_EXPIRE_FUNCTION_ARN`).
    pub expire_function_arn: String,
    /// Target of `SettlePayment` and `DeliverWebhook` schedules
    /// (`TACOS_SIMULATOR_FUNCTION_ARN`).
    pub simulator_function_arn: String,
    /// SQS queue the payment follow-up drains (`TACOS_FOLLOWUP_QUEUE_URL`); only the functions and
    /// tests that read the queue themselves need it.
    pub followup_queue_url: Option<String>,
    /// Management endpoint of the WebSocket API's stage (`TACOS_WS_MANAGEMENT_URL`,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`) that `ws-push` posts frames
    /// to; only that function needs it.
    pub ws_management_url: Option<String>,
    /// The longest one store, scheduler or bus call may take, retries included, before it counts
    /// as unavailable (`TACOS_AWS_OPERATION_TIMEOUT_MS`, default 9000): under the HTTP functions'
    /// 10 s Lambda timeout, so a store that accepts connections and never answers gets the
    /// contract's 503 instead of a Lambda timeout. Emulators far slower than DynamoDB (moto
    /// answering one request at a time under a 500-buyer rush) need more.
    pub operation_timeout: std::time::Duration,
    /// How EventBridge Scheduler retries invoking a job's target when the invocation itself
    /// fails (throttled, target missing, access denied): `TACOS_SCHEDULER_MAX_RETRY_ATTEMPTS`
    /// (0–185, default 185) and `TACOS_SCHEDULER_MAX_EVENT_AGE_SECONDS` (60–86400, default
    /// 86400). A run that *starts* and fails is not Scheduler's to retry: it invokes Lambda
    /// asynchronously, so Lambda's own retries and on-failure destination take over
    /// (`EventInvokeConfig` in `template.yaml`).
    pub scheduler_retry: SchedulerRetry,
    /// SQS queue Scheduler sends a job to once its retries are spent
    /// (`TACOS_SCHEDULER_DLQ_ARN`); unset, such a job is dropped. Scheduler sends with the
    /// schedule's role, which therefore needs `sqs:SendMessage` on it.
    pub scheduler_dead_letter_arn: Option<String>,
    /// Where the secrets come from: Secrets Manager (`TACOS_*_ARN`) or, for local runs, plain
    /// variables. Resolved once per cold start by [`crate::secrets::load`].
    pub secrets: SecretSources,
}

/// EventBridge Scheduler's retry policy of every job schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerRetry {
    /// Retries after the first failed invocation (Scheduler allows 0–185).
    pub max_attempts: i32,
    /// How long, in seconds, Scheduler keeps trying to deliver a due job (60–86400).
    pub max_event_age_seconds: i32,
}

impl SchedulerRetry {
    /// Scheduler's own maxima: a job is dropped only after a day of failed deliveries.
    pub const DEFAULT: Self = Self {
        max_attempts: 185,
        max_event_age_seconds: 86_400,
    };
}

impl AwsSettings {
    /// Reads every setting from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(std::env::var_os)
    }

    /// Reads every setting through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, SettingsError> {
        let optional = |name: &'static str| optional(&lookup, name);
        let in_range = |name: &'static str, default: i32, min: i32, max: i32| {
            let Some(value) = optional(name)? else {
                return Ok(default);
            };
            value
                .parse::<i32>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or(SettingsError::OutOfRange {
                    name,
                    min: min.into(),
                    max: max.into(),
                })
        };
        let required = |name: &'static str| -> Result<String, SettingsError> {
            match lookup(name) {
                None => Err(SettingsError::Missing(name)),
                Some(_) => optional(name)?.ok_or(SettingsError::Empty(name)),
            }
        };
        Ok(Self {
            table: required("TACOS_TABLE")?,
            event_bus: required("TACOS_EVENT_BUS")?,
            schedule_group: required("TACOS_SCHEDULE_GROUP")?,
            scheduler_role_arn: required("TACOS_SCHEDULER_ROLE_ARN")?,
            expire_function_arn: required("TACOS_EXPIRE_FUNCTION_ARN")?,
            simulator_function_arn: required("TACOS_SIMULATOR_FUNCTION_ARN")?,
            followup_queue_url: optional("TACOS_FOLLOWUP_QUEUE_URL")?,
            ws_management_url: optional("TACOS_WS_MANAGEMENT_URL")?,
            operation_timeout: std::time::Duration::from_millis(
                match optional("TACOS_AWS_OPERATION_TIMEOUT_MS")? {
                    None => 9_000,
                    Some(ms) => ms.parse().map_err(|_| {
                        SettingsError::NotMilliseconds("TACOS_AWS_OPERATION_TIMEOUT_MS")
                    })?,
                },
            ),
            scheduler_retry: SchedulerRetry {
                max_attempts: in_range(
                    "TACOS_SCHEDULER_MAX_RETRY_ATTEMPTS",
                    SchedulerRetry::DEFAULT.max_attempts,
                    0,
                    185,
                )?,
                max_event_age_seconds: in_range(
                    "TACOS_SCHEDULER_MAX_EVENT_AGE_SECONDS",
                    SchedulerRetry::DEFAULT.max_event_age_seconds,
                    60,
                    86_400,
                )?,
            },
            scheduler_dead_letter_arn: optional("TACOS_SCHEDULER_DLQ_ARN")?,
            secrets: SecretSources::from_lookup(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &str)]) -> impl Fn(&'static str) -> Option<std::ffi::OsString> {
        let map: HashMap<&'static str, std::ffi::OsString> = pairs
            .iter()
            .map(|(k, v)| (*k, std::ffi::OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    const ALL: [(&str, &str); 6] = [
        ("TACOS_TABLE", "tacos"),
        ("TACOS_EVENT_BUS", "tacos-bus"),
        ("TACOS_SCHEDULE_GROUP", "tacos"),
        (
            "TACOS_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/tacos-scheduler",
        ),
        (
            "TACOS_EXPIRE_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:tacos-expire",
        ),
        (
            "TACOS_SIMULATOR_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:tacos-payment-simulator",
        ),
    ];

    #[test]
    fn reads_every_setting() {
        let settings = AwsSettings::from_lookup(env(&ALL)).unwrap();
        assert_eq!(settings.table, "tacos");
        assert_eq!(settings.followup_queue_url, None);
        assert_eq!(
            settings.operation_timeout,
            std::time::Duration::from_secs(9)
        );
    }

    #[test]
    fn the_operation_timeout_is_milliseconds() {
        let mut pairs = ALL.to_vec();
        pairs.push(("TACOS_AWS_OPERATION_TIMEOUT_MS", "30000"));
        let settings = AwsSettings::from_lookup(env(&pairs)).unwrap();
        assert_eq!(
            settings.operation_timeout,
            std::time::Duration::from_secs(30)
        );
        pairs.pop();
        pairs.push(("TACOS_AWS_OPERATION_TIMEOUT_MS", "9s"));
        assert_eq!(
            AwsSettings::from_lookup(env(&pairs)),
            Err(SettingsError::NotMilliseconds(
                "TACOS_AWS_OPERATION_TIMEOUT_MS"
            ))
        );
    }

    #[test]
    fn scheduler_retries_default_to_schedulers_maxima_and_stay_in_its_range() {
        let settings = AwsSettings::from_lookup(env(&ALL)).unwrap();
        assert_eq!(settings.scheduler_retry, SchedulerRetry::DEFAULT);
        assert_eq!(settings.scheduler_dead_letter_arn, None);

        let mut pairs = ALL.to_vec();
        pairs.push(("TACOS_SCHEDULER_MAX_RETRY_ATTEMPTS", "3"));
        pairs.push(("TACOS_SCHEDULER_MAX_EVENT_AGE_SECONDS", "3600"));
        pairs.push((
            "TACOS_SCHEDULER_DLQ_ARN",
            "arn:aws:sqs:us-east-1:123456789012:tacos-schedule-dlq",
        ));
        let settings = AwsSettings::from_lookup(env(&pairs)).unwrap();
        assert_eq!(
            settings.scheduler_retry,
            SchedulerRetry {
                max_attempts: 3,
                max_event_age_seconds: 3600
            }
        );
        assert_eq!(
            settings.scheduler_dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:tacos-schedule-dlq")
        );

        for (name, bad) in [
            ("TACOS_SCHEDULER_MAX_RETRY_ATTEMPTS", "186"),
            ("TACOS_SCHEDULER_MAX_RETRY_ATTEMPTS", "-1"),
            ("TACOS_SCHEDULER_MAX_EVENT_AGE_SECONDS", "59"),
            ("TACOS_SCHEDULER_MAX_EVENT_AGE_SECONDS", "a day"),
        ] {
            let mut pairs = ALL.to_vec();
            pairs.push((name, bad));
            assert!(
                matches!(
                    AwsSettings::from_lookup(env(&pairs)),
                    Err(SettingsError::OutOfRange { name: n, .. }) if n == name
                ),
                "{name}={bad} is refused"
            );
        }
    }

    #[test]
    fn names_the_missing_variable() {
        let without_bus: Vec<_> = ALL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "TACOS_EVENT_BUS")
            .collect();
        assert_eq!(
            AwsSettings::from_lookup(env(&without_bus)),
            Err(SettingsError::Missing("TACOS_EVENT_BUS"))
        );
        let mut empty_table = ALL.to_vec();
        empty_table[0].1 = " ";
        assert_eq!(
            AwsSettings::from_lookup(env(&empty_table)),
            Err(SettingsError::Empty("TACOS_TABLE"))
        );
    }
}

//! What keeps the AWS deployment's failures visible and its secrets out of the environment, on
//! moto: the secrets a function reads once per cold start from Secrets Manager, and the retry
//! policy and dead-letter queue every timer schedule carries.

use chrono::Utc;
use tacos_aws::aws_sdk_scheduler::types::DeadLetterConfig;
use tacos_aws::aws_sdk_secretsmanager;
use tacos_aws::secrets::{self, Secret, SecretSource, SecretSources};
use tacos_aws::settings::SchedulerRetry;
use tacos_aws::{EventBridgeScheduler, SecretsError};
use tacos_core::config::Config;
use tacos_core::ids::ReservationId;
use tacos_core::ports::{Job, Scheduler};

use super::{connect, get_schedule};

async fn secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    client
        .create_secret()
        .name(format!("awstest/{}", uuid::Uuid::new_v4().simple()))
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret")
        .arn
        .expect("an ARN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_read_from_secrets_manager_into_the_configuration() {
    let Some(_aws) = connect().await else {
        return;
    };
    let sdk = tacos_aws::sdk_config::load().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let jwt = secret(&client, "jwt-key-from-secrets-manager-0123456789").await;
    let admin = secret(&client, "admin password from secrets manager").await;
    let origin = secret(&client, "origin-secret-value").await;
    let sources = SecretSources {
        jwt: Some(SecretSource::SecretsManager(jwt)),
        // A local run's plain value beside the references: each secret its own way.
        webhook: Some(SecretSource::Plain(Secret::new("plain-webhook-secret"))),
        admin_password: Some(SecretSource::SecretsManager(admin)),
        origin: Some(SecretSource::SecretsManager(origin)),
    };

    let loaded = secrets::load(&sdk, &sources)
        .await
        .expect("every secret reads");
    let mut config = Config::for_tests();
    loaded.apply_to(&mut config);
    assert_eq!(config.jwt_secret, "jwt-key-from-secrets-manager-0123456789");
    assert_eq!(config.webhook_secret, "plain-webhook-secret");
    assert_eq!(
        config.admin_password.as_deref(),
        Some("admin password from secrets manager")
    );
    assert!(loaded
        .origin
        .as_ref()
        .is_some_and(|s| s.matches(b"origin-secret-value")));
    assert!(
        !format!("{loaded:?}").contains("origin-secret-value"),
        "secrets never reach a log line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_cannot_be_read_stops_the_start_naming_its_variable() {
    let Some(_aws) = connect().await else {
        return;
    };
    let sdk = tacos_aws::sdk_config::load().await;
    let missing = format!("awstest/missing-{}", uuid::Uuid::new_v4().simple());
    let sources = SecretSources {
        webhook: Some(SecretSource::SecretsManager(missing.clone())),
        ..SecretSources::default()
    };
    match secrets::load(&sdk, &sources).await {
        Err(SecretsError::Unreadable {
            variable,
            secret_id,
            ..
        }) => {
            assert_eq!(variable, "TACOS_WEBHOOK_SECRET_ARN");
            assert_eq!(secret_id, missing);
        }
        other => panic!("a missing secret must fail the start, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_schedules_carry_the_retry_policy_and_dead_letter_queue_of_the_settings() {
    let Some(aws) = connect().await else {
        return;
    };
    let mut settings = aws.settings.clone();
    settings.scheduler_retry = SchedulerRetry {
        max_attempts: 7,
        max_event_age_seconds: 900,
    };
    settings.scheduler_dead_letter_arn =
        Some("arn:aws:sqs:us-east-1:123456789012:tacos-schedule-dlq".into());
    let scheduler = EventBridgeScheduler::new(aws.scheduler.client().clone(), &settings);
    let job = Job::ExpireHold {
        reservation_id: ReservationId::generate(),
    };
    scheduler
        .schedule(Utc::now() + chrono::Duration::minutes(10), job.clone())
        .await
        .unwrap();
    let schedule = get_schedule(&aws, &job).await.expect("the schedule exists");
    let target = schedule.target().expect("a target");
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!(retry.maximum_retry_attempts(), Some(7));
    assert_eq!(retry.maximum_event_age_in_seconds(), Some(900));
    assert_eq!(
        target.dead_letter_config().and_then(DeadLetterConfig::arn),
        Some("arn:aws:sqs:us-east-1:123456789012:tacos-schedule-dlq"),
        "a job Scheduler cannot deliver goes to the dead-letter queue, not nowhere"
    );
    scheduler.cancel(&job).await.unwrap();
}

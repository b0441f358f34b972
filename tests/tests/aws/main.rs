//! The AWS adapters against an AWS endpoint: moto locally, or a real account.
//!
//! Needs `AWS_ENDPOINT_URL` (and region and credentials) plus the settings printed by
//! `scripts/aws_setup.py`; without an endpoint every test says it was skipped and passes, so
//! `cargo test --workspace` needs no emulator:
//!
//! ```sh
//! scripts/moto.sh start 5055
//! export AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_REGION=us-east-1 \
//!        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
//! eval "$(python3 scripts/aws_setup.py)"
//! cargo test -p tacos-tests --test aws
//! scripts/moto.sh stop 5055
//! ```
//!
//! * the store conformance suite, unchanged, against `DynamoStore`;
//! * scheduler: what the schedule looks like in EventBridge Scheduler, moving and cancelling it;
//! * bus: a payment outcome published on the bus reaches the follow-up queue through the rule;
//! * 200 concurrent takes of one seat: exactly one wins.
//!
//! * 200 concurrent hold transactions on one seat: exactly one wins, and nothing of the losers
//!   remains.
//! * `live`: the WebSocket connection registry (`DynamoConnections`) and the pusher
//!   (`ApiGatewayPusher`) through their conformance suite on moto, and a pusher tick over the AWS
//!   adapters; the pusher also against a stand-in of the management API for what moto never
//!   answers (410 `GoneException`, throttling), which needs no emulator.
//! * `operations`: the secrets read from Secrets Manager once per cold start, and the retry policy
//!   and dead-letter queue of every timer schedule.
//! * `sweep`: holds whose expiry was lost (`expire` failing three times, a schedule deleted) are
//!   released by the sweeper's next run, and their seats sold again.
//! * `followup`: the `payment-followup` function's batch handler through a DynamoDB outage: the
//!   message hidden longer than the queue's timeout (`ChangeMessageVisibility`), then confirmed
//!   at its next delivery once the table is back.
//! * `faults`: the store going away mid-flow (moto stopped and restarted from its snapshot) under
//!   buyers of the container's HTTP mode; only with `TACOS_FAULTS_BASE_URL`, set by
//!   `scripts/faults.sh`.
//!
//! moto cancels a `TransactWriteItems` by putting back a copy of the *whole table* taken when the
//! transaction started, without a lock, which would erase what concurrent requests wrote.
//! `scripts/moto.sh` therefore runs moto through `scripts/moto_serial.py`, one request at a time,
//! which restores the per-call atomicity and isolation DynamoDB guarantees. The tests here still
//! run one at a time (see [`connect`]) so each sees only its own traffic.

mod faults;
mod followup;
mod live_updates;
mod operations;
mod sweep;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use tacos_aws::aws_sdk_scheduler;
use tacos_aws::scheduler::at_expression;
use tacos_aws::{AwsAdapters, AwsSettings, DynamoStore};
use tacos_core::ids::{EventId, PaymentIntentId, ReservationId, SeatId, UserId};
use tacos_core::ports::{
    Condition, DetailType, DomainEvent, EventBus, EventDetail, Job, Key, Scheduler, Store,
    StoreError, Update, Write,
};

/// One test at a time: a transaction moto cancels puts back a snapshot of the whole table,
/// undoing what concurrent tests wrote (see the module documentation).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A test's adapters, holding the table for the test's duration.
struct Aws {
    settings: AwsSettings,
    adapters: AwsAdapters,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Aws {
    type Target = AwsAdapters;
    fn deref(&self) -> &AwsAdapters {
        &self.adapters
    }
}

/// The adapters, or `None` (after saying so) when no endpoint is configured.
async fn connect() -> Option<Aws> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        println!("skipped: AWS_ENDPOINT_URL not set (scripts/test.sh starts moto)");
        return None;
    }
    let settings = AwsSettings::from_env().unwrap_or_else(|err| {
        panic!("{err}: run `eval \"$(python3 scripts/aws_setup.py)\"` first")
    });
    let turn = ONE_AT_A_TIME.lock().await;
    let adapters = tacos_aws::connect(&settings).await;
    Some(Aws {
        settings,
        adapters,
        _turn: turn,
    })
}

/// The platform over the DynamoDB adapter, on a clock the test moves, with the test settings
/// changed by `configure`.
fn platform_on(
    aws: &Aws,
    configure: impl FnOnce(&mut tacos_core::config::Config),
) -> (
    tacos_core::platform::Platform,
    Arc<tacos_core::ports::ManualClock>,
) {
    let mut config = tacos_core::config::Config::for_tests();
    configure(&mut config);
    let clock = Arc::new(tacos_core::ports::ManualClock::new(Utc::now()));
    let ports = tacos_core::in_process::ports_over(aws.store.clone(), clock.clone());
    (tacos_core::platform::Platform::new(ports, config), clock)
}

fn fresh(prefix: &str) -> String {
    format!("awstest#{prefix}#{}", uuid::Uuid::new_v4().simple())
}

fn seat(key: &Key, attrs: Value) -> tacos_core::ports::Item {
    let mut item = attrs.as_object().cloned().unwrap_or_default();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_store_conforms() {
    let Some(aws) = connect().await else {
        return;
    };
    aws.store
        .ping()
        .await
        .expect("the table answers DescribeTable");
    tacos_core::conformance::run_all(aws.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_are_classified() {
    let Some(aws) = connect().await else {
        return;
    };
    let missing = DynamoStore::new(
        aws.store.client().clone(),
        format!("missing-{}", uuid::Uuid::new_v4().simple()),
    );
    assert!(
        matches!(missing.ping().await, Err(StoreError::Unavailable(_))),
        "a missing table is unavailable"
    );
    assert!(matches!(
        missing.get(&Key::new("p", "s")).await,
        Err(StoreError::Unavailable(_))
    ));

    let key = Key::new(fresh("invalid"), "A");
    let overlapping = Update::new(key.clone()).set("n", 1).add("n", 1);
    assert!(
        matches!(
            aws.store.update(overlapping).await,
            Err(StoreError::Invalid(_))
        ),
        "two actions on one attribute is a validation error"
    );
    let twice = vec![
        Write::put(seat(&key, json!({}))),
        Write::Delete {
            key: key.clone(),
            condition: None,
        },
    ];
    assert!(matches!(
        aws.store.transact(twice).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        aws.store.transact(Vec::new()).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_keep_their_kind() {
    let Some(aws) = connect().await else {
        return;
    };
    let key = Key::new(fresh("numbers"), "A");
    let item = seat(
        &key,
        json!({ "count": 1, "negative": -3, "big": i64::MAX, "measured_rate": 12.5, "tiny": 0.001 }),
    );
    aws.store.write(Write::put(item.clone())).await.unwrap();
    assert_eq!(aws.store.get(&key).await.unwrap(), Some(item));
    let after = aws
        .store
        .update(
            Update::new(key.clone())
                .add("count", 41)
                .set("measured_rate", 0.25),
        )
        .await
        .unwrap();
    assert_eq!(after["count"], json!(42));
    assert_eq!(after["measured_rate"], json!(0.25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_page_through_large_partitions() {
    let Some(aws) = connect().await else {
        return;
    };
    // ~40 KB items: one DynamoDB page (1 MB) holds fewer than 30, so 60 of them need several pages.
    let pk = fresh("pages");
    let padding = "x".repeat(40_000);
    let writes = (0..60).map(|i| {
        let store = aws.store.clone();
        let item = seat(
            &Key::new(&pk, format!("ROW#{i:03}")),
            json!({ "padding": padding }),
        );
        async move { store.write(Write::put(item)).await }
    });
    for result in futures::future::join_all(writes).await {
        result.unwrap();
    }
    let all = aws
        .store
        .query(&pk, &tacos_core::ports::SkRange::prefix("ROW#"))
        .await
        .unwrap();
    let sks: Vec<&str> = all.iter().map(|i| i["sk"].as_str().unwrap()).collect();
    assert_eq!(
        sks,
        (0..60).map(|i| format!("ROW#{i:03}")).collect::<Vec<_>>()
    );
    let last = aws
        .store
        .query(
            &pk,
            &tacos_core::ports::SkRange::prefix("ROW#")
                .to("ROW#050")
                .reverse()
                .limit(3),
        )
        .await
        .unwrap();
    let sks: Vec<&str> = last.iter().map(|i| i["sk"].as_str().unwrap()).collect();
    assert_eq!(sks, ["ROW#049", "ROW#048", "ROW#047"]);
    // moto copies the whole table for every transaction: keep it small for the tests after this.
    for item in &all {
        let key = tacos_core::ports::store::key_of(item);
        aws.store
            .write(Write::Delete {
                key,
                condition: None,
            })
            .await
            .unwrap();
    }
}

/// GetSchedule of `job`, or `None` when it does not exist.
async fn get_schedule(
    aws: &Aws,
    job: &Job,
) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    use aws_sdk_scheduler::error::ProvideErrorMetadata;
    let scheduler = &aws.scheduler;
    match scheduler
        .client()
        .get_schedule()
        .group_name(scheduler.group())
        .name(job.name())
        .send()
        .await
    {
        Ok(schedule) => Some(schedule),
        Err(err) if err.code() == Some("ResourceNotFoundException") => None,
        Err(err) => panic!(
            "GetSchedule {}: {}",
            job.name(),
            aws_sdk_scheduler::error::DisplayErrorContext(&err)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_sets_moves_and_cancels_one_shot_schedules() {
    use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
    let Some(aws) = connect().await else {
        return;
    };
    let settings = aws.settings.clone();
    let job = Job::ExpireHold {
        reservation_id: ReservationId::generate(),
    };
    let at = Utc::now() + chrono::Duration::minutes(10) + chrono::Duration::milliseconds(250);
    aws.scheduler.schedule(at, job.clone()).await.unwrap();

    let schedule = get_schedule(&aws, &job).await.expect("the schedule exists");
    assert_eq!(schedule.name(), Some(job.name().as_str()));
    assert_eq!(
        schedule.group_name(),
        Some(settings.schedule_group.as_str())
    );
    assert_eq!(
        schedule.schedule_expression(),
        Some(at_expression(at, Utc::now()).as_str())
    );
    assert!(schedule.schedule_expression().unwrap().starts_with("at(20"));
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        schedule.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    assert_eq!(
        schedule.flexible_time_window().map(|w| w.mode()),
        Some(&FlexibleTimeWindowMode::Off)
    );
    let target = schedule.target().expect("a target");
    assert_eq!(target.arn(), settings.expire_function_arn);
    assert_eq!(target.role_arn(), settings.scheduler_role_arn);
    let input: Value = serde_json::from_str(target.input().expect("an input")).unwrap();
    assert_eq!(
        input,
        serde_json::to_value(&job).unwrap(),
        "the input is the job's JSON"
    );
    assert_eq!(
        serde_json::from_value::<Job>(input).unwrap(),
        job,
        "and the target can read it back"
    );

    let later = at + chrono::Duration::hours(1);
    aws.scheduler
        .schedule(later, job.clone())
        .await
        .expect("scheduling again moves the job");
    let moved = get_schedule(&aws, &job).await.expect("still one schedule");
    assert_eq!(
        moved.schedule_expression(),
        Some(at_expression(later, Utc::now()).as_str())
    );
    assert_eq!(
        moved.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );

    aws.scheduler.cancel(&job).await.unwrap();
    assert!(
        get_schedule(&aws, &job).await.is_none(),
        "cancel deletes the schedule"
    );
    aws.scheduler
        .cancel(&job)
        .await
        .expect("cancelling twice is fine");
    let never = Job::ExpireHold {
        reservation_id: ReservationId::generate(),
    };
    aws.scheduler
        .cancel(&never)
        .await
        .expect("cancelling a job never scheduled is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_targets_by_kind_and_runs_the_past_soon() {
    let Some(aws) = connect().await else {
        return;
    };
    let settings = aws.settings.clone();
    let job = Job::DeliverWebhook {
        payment_intent_id: PaymentIntentId::generate(),
    };
    let before = Utc::now();
    aws.scheduler
        .schedule(before - chrono::Duration::minutes(5), job.clone())
        .await
        .unwrap();
    let schedule = get_schedule(&aws, &job)
        .await
        .expect("a job due in the past is still scheduled");
    assert_eq!(
        schedule.target().unwrap().arn(),
        settings.simulator_function_arn
    );
    let expression = schedule.schedule_expression().unwrap();
    let when = chrono::NaiveDateTime::parse_from_str(expression, "at(%Y-%m-%dT%H:%M:%S)")
        .unwrap()
        .and_utc();
    assert!(when > before, "{expression} is in the future");
    assert!(
        when <= Utc::now() + chrono::Duration::seconds(10),
        "{expression} is soon"
    );
    aws.scheduler.cancel(&job).await.unwrap();

    let settle = Job::SettlePayment {
        payment_intent_id: PaymentIntentId::generate(),
    };
    aws.scheduler
        .schedule(Utc::now() + chrono::Duration::minutes(1), settle.clone())
        .await
        .unwrap();
    assert_eq!(
        get_schedule(&aws, &settle)
            .await
            .unwrap()
            .target()
            .unwrap()
            .arn(),
        settings.simulator_function_arn
    );
    aws.scheduler.cancel(&settle).await.unwrap();
}

fn event(detail_type: DetailType) -> DomainEvent {
    let payment = matches!(
        detail_type,
        DetailType::PaymentApproved | DetailType::PaymentFailed
    );
    DomainEvent {
        detail_type,
        detail: EventDetail {
            version: 1,
            reservation_id: ReservationId::generate(),
            event_id: EventId::generate(),
            user_id: UserId::generate(),
            seat_ids: vec![SeatId::new("A", 12), SeatId::new("A", 13)],
            quantity: 2,
            occurred_at: Utc::now(),
            hold_expires_at: Some(Utc::now() + chrono::Duration::seconds(60)),
            total_amount: None,
            amount: payment.then_some(9000),
            currency: payment.then(|| "USD".to_string()),
            order_id: None,
            payment_intent_id: payment.then(PaymentIntentId::generate),
            reason: (detail_type == DetailType::PaymentFailed).then(|| "card_declined".to_string()),
            traceparent: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_outcomes_reach_the_followup_queue() {
    let Some(aws) = connect().await else {
        return;
    };
    let settings = aws.settings.clone();
    let queue_url = settings
        .followup_queue_url
        .clone()
        .expect("TACOS_FOLLOWUP_QUEUE_URL is set");
    let held = event(DetailType::ReservationHeld);
    let approved = event(DetailType::PaymentApproved);
    let failed = event(DetailType::PaymentFailed);
    for event in [&held, &approved, &failed] {
        aws.bus.publish(event.clone()).await.unwrap();
    }

    let mut wanted: Vec<&DomainEvent> = vec![&approved, &failed];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wanted.is_empty() {
        assert!(
            Instant::now() < deadline,
            "never received {:?}",
            wanted.iter().map(|e| e.detail_type).collect::<Vec<_>>()
        );
        let received = aws
            .sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in received.messages() {
            let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            let detail: EventDetail =
                serde_json::from_value(body["detail"].clone()).expect("detail is an EventDetail");
            assert_ne!(
                detail.reservation_id, held.detail.reservation_id,
                "the rule only passes payment outcomes"
            );
            if let Some(at) = wanted
                .iter()
                .position(|e| e.detail.reservation_id == detail.reservation_id)
            {
                let event = wanted.remove(at);
                assert_eq!(detail, event.detail, "the detail arrives unchanged");
                assert_eq!(body["source"], "tacos.payment");
                assert_eq!(body["detail-type"], event.detail_type.as_str());
            }
            // Ours or left over from an earlier run: either way done with.
            aws.sqs
                .delete_message()
                .queue_url(&queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Awaits racing writes: every result, after checking that exactly one succeeded, and its index.
async fn exactly_one_wins(
    attempts: impl IntoIterator<Item = tokio::task::JoinHandle<Result<(), StoreError>>>,
    what: &str,
) -> (Vec<Result<(), StoreError>>, usize) {
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one {what} wins: {results:?}");
    (results, winners[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_seat_takes_have_one_winner() {
    let Some(aws) = connect().await else {
        return;
    };
    let key = Key::new(fresh("race200"), "SEAT#A-12");
    aws.store
        .write(Write::put_new(seat(&key, json!({ "status": "AVAILABLE" }))))
        .await
        .unwrap();
    let attempts = (0..200).map(|buyer| {
        let store: Arc<dyn Store> = aws.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let take = Update::new(key)
                .set("status", "HELD")
                .set("by", buyer)
                .when(Condition::equals("status", "AVAILABLE"));
            store.write(Write::Update(take)).await
        })
    });
    let (results, winner) = exactly_one_wins(attempts, "take").await;
    for result in &results {
        assert!(
            matches!(
                result,
                Ok(()) | Err(StoreError::ConditionFailed { index: 0 })
            ),
            "{result:?}"
        );
    }
    let stored = aws.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored["status"], "HELD");
    assert_eq!(
        stored["by"],
        json!(winner),
        "the winner's write is the one stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_hold_transactions_have_one_winner() {
    let Some(aws) = connect().await else {
        return;
    };
    let pk = fresh("holds200");
    let seat_key = Key::new(&pk, "SEAT#A-12");
    let inventory = Key::new(&pk, "INV");
    aws.store
        .transact(vec![
            Write::put_new(seat(&seat_key, json!({ "status": "AVAILABLE" }))),
            Write::put_new(seat(&inventory, json!({ "available": 1, "held": 0 }))),
        ])
        .await
        .unwrap();
    let attempts = (0..200).map(|buyer| {
        let store: Arc<dyn Store> = aws.store.clone();
        let (pk, seat_key, inventory) = (pk.clone(), seat_key.clone(), inventory.clone());
        tokio::spawn(async move {
            store
                .transact(vec![
                    Write::put_new(seat(
                        &Key::new(&pk, format!("RSV#{buyer:03}")),
                        json!({ "status": "HOLD" }),
                    )),
                    Write::Update(
                        Update::new(seat_key)
                            .set("status", "HELD")
                            .set("by", buyer)
                            .when(Condition::equals("status", "AVAILABLE")),
                    ),
                    Write::Update(
                        Update::new(inventory)
                            .add("available", -1)
                            .add("held", 1)
                            .when(Condition::AtLeast("available".into(), 1)),
                    ),
                ])
                .await
        })
    });
    let (results, winner) = exactly_one_wins(attempts, "hold").await;
    for result in &results {
        // The seat's condition is checked before the inventory's: losers fail on write 1 (or 2).
        assert!(
            matches!(
                result,
                Ok(()) | Err(StoreError::ConditionFailed { index: 1 | 2 })
            ),
            "{result:?}"
        );
    }
    let stock = aws.store.get(&inventory).await.unwrap().unwrap();
    assert_eq!(
        (stock["available"].clone(), stock["held"].clone()),
        (json!(0), json!(1)),
        "counted once"
    );
    let reservations = aws
        .store
        .query(&pk, &tacos_core::ports::SkRange::prefix("RSV#"))
        .await
        .unwrap();
    assert_eq!(
        reservations.len(),
        1,
        "only the winner's reservation was written"
    );
    assert_eq!(
        aws.store.get(&seat_key).await.unwrap().unwrap()["by"],
        json!(winner)
    );
}

/// The waiting room on DynamoDB with 64 join shards, as deployed: buyers arrive one at a time,
/// each when the line is empty (most shards then lag behind the cursor), and every one of them
/// still waits its turn, is admitted, counted and enters; nobody beyond the seats comes in.
/// A general-admission event's stock spread over four items on DynamoDB: concurrent holds
/// (several gathering places from more than one shard at the end) sell exactly its capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_stock_on_dynamodb_sells_exactly_its_capacity() {
    use tacos_core::domain::auth::{Principal, Role};
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::reservation_tokens::ReservationTokens;
    use tacos_core::domain::reservations::HoldRequest;
    use tacos_core::error::Error;
    use tacos_core::ids::WaitingToken;
    use tacos_core::ports::Clock;

    let Some(aws) = connect().await else {
        return;
    };
    let mut config = tacos_core::config::Config::for_tests();
    config.stock_shards = 4;
    let tokens = ReservationTokens::new(&config.jwt_secret);
    let clock = Arc::new(tacos_core::ports::ManualClock::new(Utc::now()));
    let ports = tacos_core::in_process::ports_over(aws.store.clone(), clock.clone());
    let platform = Arc::new(tacos_core::platform::Platform::new(ports, config));
    let capacity = 200;
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Big room".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 2_500,
            sections: None,
            capacity: Some(capacity),
            admission_rate_per_sec: 100.0,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap();
    assert_eq!(event.stock_shards, 4);
    let hold = |quantity: u32| {
        let platform = platform.clone();
        let event = event.event_id.clone();
        let token_of = tokens.clone();
        let now = clock.now();
        async move {
            let buyer = Principal {
                user_id: UserId::generate(),
                role: Role::User,
            };
            let token = token_of.issue(&event, &buyer.user_id, &WaitingToken::generate(), 0, now);
            let request = HoldRequest {
                event_id: event,
                seat_ids: None,
                quantity: Some(quantity),
                reservation_token: token,
            };
            match platform.reservations.hold(&buyer, request).await {
                Ok(hold) => hold.quantity,
                Err(Error::InsufficientInventory { .. }) => 0,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    };
    // 60 buyers of three or four places for 200: the last ones are refused or gather.
    let rush = (0..60).map(|i| tokio::spawn(hold(3 + (i % 2))));
    let mut sold: u32 = futures::future::join_all(rush)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert!(sold <= 200, "{sold}");
    while hold(1).await == 1 {
        sold += 1;
    }
    assert_eq!(sold, 200, "every place held once");
    let stock = platform.catalog.stock(&event.event_id).await.unwrap();
    assert_eq!(stock.shards().len(), 4);
    for counters in stock.shards() {
        assert_eq!(
            (counters.available, counters.held),
            (0, counters.total),
            "{counters:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_waiting_room_admits_every_late_joiner_in_turn() {
    use tacos_core::domain::auth::{Principal, Role};
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::queue::QueueStatusKind;
    use tacos_core::domain::reservations::HoldRequest;

    let Some(aws) = connect().await else {
        return;
    };
    let (platform, clock) = platform_on(&aws, |c| c.queue_shards = 64);
    let seats = 5;
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Quiet night".into(),
            venue: "Small hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 2_500,
            sections: None,
            capacity: Some(seats),
            admission_rate_per_sec: 2.0,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap();
    let id = &event.event_id;
    for joiner in 0..seats + 1 {
        let token = platform.queue.join(id, None).await.unwrap().waiting_token;
        let mut admitted = false;
        for _ in 0..12 {
            clock.advance(chrono::Duration::milliseconds(500));
            let status = platform.queue.status(&token).await.unwrap();
            match status.status {
                QueueStatusKind::Waiting => assert!(status.position > 0, "{status:?}"),
                QueueStatusKind::Ready => {
                    admitted = true;
                    break;
                }
                QueueStatusKind::Expired => {
                    panic!("joiner {joiner} expired without ever being admitted: {status:?}")
                }
                QueueStatusKind::Closed => panic!("nobody closed this sale: {status:?}"),
                QueueStatusKind::Lobby => panic!("this sale has no opening time: {status:?}"),
            }
        }
        if joiner < seats {
            assert!(admitted, "joiner {joiner} is admitted within 6 s at 2/s");
            let buyer = Principal {
                user_id: UserId::generate(),
                role: Role::User,
            };
            let entered = platform
                .queue
                .enter(&token, Some(buyer.user_id.clone()))
                .await
                .unwrap();
            let request = HoldRequest {
                event_id: id.clone(),
                seat_ids: None,
                quantity: Some(1),
                reservation_token: entered.reservation_token,
            };
            platform.reservations.hold(&buyer, request).await.unwrap();
        } else {
            assert!(!admitted, "every seat is held: nobody more comes in");
        }
        let counted: i64 = aws
            .store
            .query(
                &format!("QUEUE#{}", id.as_str()),
                &tacos_core::ports::SkRange::prefix("BATCH#"),
            )
            .await
            .unwrap()
            .iter()
            .map(|b| b["admitted"].as_i64().unwrap())
            .sum();
        assert_eq!(
            counted,
            joiner.min(seats - 1) + 1,
            "joiner {joiner}: every admission counted by the advance that made it"
        );
        clock.advance(chrono::Duration::seconds(3));
    }
}

/// An operator's changes of a sale and their audit entries, on DynamoDB: the sale item's
/// conditional writes (first change, then on its version), the entry in the same transaction,
/// and the log read newest first, a page at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_changes_are_written_with_their_audit_entries() {
    use tacos_core::domain::auth::{Principal, Role};
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::sale::audit::{read_log, AuditQuery};
    use tacos_core::domain::sale::{SaleChange, SaleSettings, SaleState};

    let Some(aws) = connect().await else {
        return;
    };
    let (platform, clock) = platform_on(&aws, |_| {});
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Operated night".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 2_500,
            sections: None,
            capacity: Some(10),
            admission_rate_per_sec: 2.0,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap();
    let operator = Principal {
        user_id: UserId::generate(),
        role: Role::Admin,
    };
    let id = &event.event_id;
    let changes = [
        SaleChange::Pause,
        SaleChange::Settings(SaleSettings {
            admission_rate_per_sec: Some(9.5),
            hold_seconds: Some(120),
            join_challenge_bits: Some(16),
            on_sale_at: None,
        }),
        SaleChange::Resume,
        SaleChange::Close,
    ];
    for change in changes {
        clock.advance(chrono::Duration::milliseconds(10));
        platform.sales.change(id, &operator, change).await.unwrap();
    }
    clock.advance(chrono::Duration::seconds(2));
    let sale = platform.sales.current(&event).await.unwrap();
    assert_eq!(sale.state, SaleState::Closed);
    assert_eq!(
        (
            sale.admission_rate_per_sec,
            sale.hold_seconds,
            sale.join_challenge_bits
        ),
        (9.5, 120, 16)
    );
    let query = AuditQuery {
        event_id: Some(id.clone()),
        limit: Some(3),
        before: None,
    };
    let first = read_log(&*aws.store, &query).await.unwrap();
    let rest = read_log(
        &*aws.store,
        &AuditQuery {
            before: first.next.clone(),
            ..query
        },
    )
    .await
    .unwrap();
    let actions: Vec<_> = first
        .entries
        .iter()
        .chain(&rest.entries)
        .map(|e| format!("{:?}", e.action))
        .collect();
    assert_eq!(actions, ["Close", "Resume", "Update", "Pause"]);
    assert!(first
        .entries
        .iter()
        .chain(&rest.entries)
        .all(|e| e.actor == operator.user_id && e.event_id == *id));
}

/// Abandonment on DynamoDB: presence in its sharded bucket partitions, the sweep's claim, the
/// leaver markers it writes in a transaction; the person who stopped asking is given up and
/// the people behind move up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_not_seen_for_two_minutes_are_given_up() {
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::queue::QueueStatusKind;

    let Some(aws) = connect().await else {
        return;
    };
    let (platform, clock) = platform_on(&aws, |c| {
        c.queue_abandon_secs = 120;
        c.queue_shards = 8;
    });
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Still line".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 2_500,
            sections: None,
            capacity: Some(50),
            admission_rate_per_sec: 0.001,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..6 {
        tokens.push(
            platform
                .queue
                .join(&event.event_id, None)
                .await
                .unwrap()
                .waiting_token,
        );
    }
    let gone = tokens.remove(1);
    for _ in 0..20 {
        clock.advance(chrono::Duration::seconds(10));
        for token in &tokens {
            platform.queue.status(token).await.unwrap();
        }
    }
    let mut positions = Vec::new();
    for token in &tokens {
        positions.push(platform.queue.status(token).await.unwrap().position);
    }
    positions.sort_unstable();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    let back = platform.queue.status(&gone).await.unwrap();
    assert_eq!(back.status, QueueStatusKind::Expired, "{back:?}");
}

/// The lobby on DynamoDB (issue 16, item 1), 64 counters as on AWS: joins before the opening
/// take lobby places spread over the lobby's counters, the draw at the opening gives each a
/// distinct place at the front (recomputable from what is published), a lobby leaver takes none,
/// and a join after the opening queues behind them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lobby_is_drawn_at_the_opening_on_dynamodb() {
    use std::collections::HashSet;
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::queue::{DrawStatus, QueueStatusKind};

    let Some(aws) = connect().await else {
        return;
    };
    let (platform, clock) = platform_on(&aws, |c| c.queue_shards = 64);
    let mut new: NewEvent = serde_json::from_value(json!({
        "name": "Opening night", "venue": "Hall", "starts_at": "2030-01-01T00:00:00Z",
        "price": 100, "capacity": 500, "admission_rate_per_sec": 1.0
    }))
    .unwrap();
    new.on_sale_at = Some(Utc::now() + chrono::Duration::seconds(30));
    let id = platform.catalog.create(new).await.unwrap().event_id;

    let mut lobby = Vec::new();
    for _ in 0..25 {
        let joined = platform.queue.join(&id, None).await.unwrap();
        assert_eq!(joined.status, "lobby");
        lobby.push(joined.waiting_token);
    }
    platform.queue.leave(&lobby[0], None).await.unwrap();
    let scheduled = platform.queue.draw_record(&id, None, 1_000).await.unwrap();
    assert_eq!(scheduled.status, DrawStatus::Scheduled);
    assert_eq!(scheduled.entries.len(), 25);

    clock.advance(chrono::Duration::seconds(31));
    let mut places = HashSet::new();
    for token in &lobby[1..] {
        let status = platform.queue.status(token).await.unwrap();
        assert_eq!(status.status, QueueStatusKind::Waiting, "{status:?}");
        assert!(places.insert(status.position), "one place each: {status:?}");
    }
    assert_eq!(
        places,
        (1..=24).collect::<HashSet<u64>>(),
        "the leaver takes no place"
    );
    let late = platform.queue.join(&id, None).await.unwrap();
    let late = platform.queue.status(&late.waiting_token).await.unwrap();
    assert_eq!(late.position, 25, "behind the whole lobby");
    let drawn = platform.queue.draw_record(&id, None, 1_000).await.unwrap();
    assert_eq!(drawn.status, DrawStatus::Drawn);
    assert_eq!(drawn.lobby_size, Some(25));
    assert_eq!(drawn.lobby_counts.map(|c| c.len()), Some(64));
}

//! The `payment-followup` function's batch handler (`tacos_lambda::triggers::handle_batch`) on the
//! follow-up queue of moto, through a DynamoDB outage.
//!
//! A follow-up that fails because the table is away hides its message for longer than the queue's
//! visibility timeout (`ChangeMessageVisibility`, `tacos_aws::redelivery`), so an outage does not
//! use up the message's receives on the way to the dead-letter queue; once the table is back, the
//! next delivery confirms the reservation. Hiding that fails (the queue missing) still reports the
//! message, which then comes back after the queue's own timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use tacos_aws::aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use tacos_aws::redelivery::SqsRedelivery;
use tacos_core::domain::catalog::{NewEvent, Section};
use tacos_core::domain::payments::{IntentRequest, ProcessRequest, Scenario};
use tacos_core::domain::reservations::ReservationStatus;
use tacos_core::ports::{DetailType, DomainEvent, EventDetail, ManualClock, Store};
use tacos_lambda::triggers::handle_batch;

use super::sweep::{hold, platform};
use super::{connect, Aws};

/// Receives from the follow-up queue until the message `id` comes (deleting any other: left over
/// from an earlier run), or `None` once `within` is over.
async fn receive(aws: &Aws, url: &str, id: &str, within: Duration) -> Option<Message> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let received = aws
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in received.messages.unwrap_or_default() {
            if message.message_id() == Some(id) {
                return Some(message);
            }
            delete(aws, url, &message).await;
        }
    }
    None
}

async fn delete(aws: &Aws, url: &str, message: &Message) {
    aws.sqs
        .delete_message()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
}

/// Sets when `message` comes back, as if its visibility timeout were `seconds`.
async fn visible_in(aws: &Aws, url: &str, message: &Message, seconds: i32) {
    aws.sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(seconds)
        .send()
        .await
        .unwrap();
}

/// The batch the event source mapping hands the function for `message`.
fn batch_of(message: &Message) -> SqsEvent {
    let receives = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned()
        .expect("SQS counts the receives");
    SqsEvent {
        records: vec![SqsMessage {
            message_id: message.message_id.clone(),
            receipt_handle: message.receipt_handle.clone(),
            body: message.body.clone(),
            attributes: [("ApproximateReceiveCount".to_string(), receives)].into(),
            event_source: Some("aws:sqs".into()),
            ..SqsMessage::default()
        }],
    }
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followup_through_a_table_outage_is_hidden_longer_and_confirms_once_the_table_is_back() {
    let Some(aws) = connect().await else {
        return;
    };
    let url = aws
        .settings
        .followup_queue_url
        .clone()
        .expect("TACOS_FOLLOWUP_QUEUE_URL is set");
    let redelivery = SqsRedelivery {
        client: aws.sqs.clone(),
        url: url.clone(),
    };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let table: Arc<dyn Store> = aws.store.clone();
    let healthy = platform(&aws, table, clock.clone());
    // The same platform over a table that does not answer: DynamoDB at an address where nothing
    // listens (connection refused, as during an outage).
    let away = {
        let config = tacos_aws::sdk_config::loader()
            .endpoint_url("http://127.0.0.1:9")
            .load()
            .await;
        let dead = tacos_aws::adapters(&config, &aws.settings);
        assert!(dead.store.ping().await.is_err(), "the table is away");
        platform(&aws, dead.store, clock.clone())
    };

    let event = healthy
        .catalog
        .create(NewEvent {
            name: "Follow-up outage".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 1_000,
            sections: Some(vec![Section::straight("A", 1, 2)]),
            capacity: None,
            admission_rate_per_sec: 50.0,
            max_per_order: 2,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap()
        .event_id;
    let (buyer, reservation_id) = hold(&healthy, &clock, &event, "A-1").await;
    let held = healthy
        .reservations
        .get(&reservation_id, Some(&buyer))
        .await
        .unwrap();
    let intent = healthy
        .payments
        .create_intent(
            &buyer,
            IntentRequest {
                reservation_id: reservation_id.clone(),
                amount: held.total_amount,
                currency: held.currency.clone(),
                scenario: Some(Scenario::Approve),
            },
        )
        .await
        .unwrap();
    healthy
        .payments
        .process(
            &buyer,
            ProcessRequest {
                payment_intent_id: intent.payment_intent_id.clone(),
                action: None,
            },
        )
        .await
        .unwrap();

    // The approval, as the bus's rule puts it on the queue.
    let approval = DomainEvent {
        detail_type: DetailType::PaymentApproved,
        detail: EventDetail {
            version: 1,
            reservation_id: reservation_id.clone(),
            event_id: event.clone(),
            user_id: buyer.user_id.clone(),
            seat_ids: held.seat_ids.clone(),
            quantity: held.quantity,
            occurred_at: Utc::now(),
            hold_expires_at: None,
            total_amount: None,
            amount: Some(held.total_amount),
            currency: Some(held.currency.clone()),
            order_id: None,
            payment_intent_id: Some(intent.payment_intent_id.clone()),
            reason: None,
            traceparent: None,
        },
    };
    let id = aws
        .sqs
        .send_message()
        .queue_url(&url)
        .message_body(approval.envelope().to_string())
        .send()
        .await
        .unwrap()
        .message_id
        .expect("a message id");

    // First delivery, the table away. Had the queue's own timeout been 2 s, the message would be
    // back 2 s later; hidden for the outage, it is not.
    let first = receive(&aws, &url, &id, Duration::from_secs(10))
        .await
        .expect("the approval is delivered");
    visible_in(&aws, &url, &first, 2).await;
    // Hiding fails (no such queue): the message is reported all the same, never dropped.
    let missing = SqsRedelivery {
        client: aws.sqs.clone(),
        url: format!("{url}-missing"),
    };
    let response = handle_batch(&away, &missing, batch_of(&first)).await;
    assert_eq!(failed_ids(&response), [id.as_str()]);
    let response = handle_batch(&away, &redelivery, batch_of(&first)).await;
    assert_eq!(
        failed_ids(&response),
        [id.as_str()],
        "reported for redelivery"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        receive(&aws, &url, &id, Duration::from_secs(3))
            .await
            .is_none(),
        "the message is hidden past the queue's timeout while the table is away"
    );
    assert_eq!(
        healthy
            .reservations
            .get(&reservation_id, Some(&buyer))
            .await
            .unwrap()
            .status,
        ReservationStatus::Hold
    );

    // The table back, and the minute over (made visible now rather than waited for): the next
    // delivery confirms the reservation.
    visible_in(&aws, &url, &first, 0).await;
    let second = receive(&aws, &url, &id, Duration::from_secs(10))
        .await
        .expect("the approval comes back");
    assert_eq!(
        batch_of(&second).records[0].attributes["ApproximateReceiveCount"],
        "2"
    );
    let response = handle_batch(&healthy, &redelivery, batch_of(&second)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    delete(&aws, &url, &second).await; // what the event source mapping does with a success
    assert_eq!(
        healthy
            .reservations
            .get(&reservation_id, Some(&buyer))
            .await
            .unwrap()
            .status,
        ReservationStatus::Confirmed
    );
}

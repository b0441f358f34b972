//! The payment simulator and what the platform does with its outcomes.
//!
//! The simulator plays an external provider: an intent is created for a hold, processing decides
//! the outcome by scenario, and the outcome is reported by a signed webhook to the platform's own
//! `POST /payments/webhook`, posted at once and, when that fails, again by a timer job until the
//! platform answers 2xx. The webhook handler verifies and de-duplicates it and publishes
//! `payment.approved` / `payment.failed` on the event bus; the follow-up consumer confirms the
//! reservation, cancels it, or refunds an approval that came too late.
//!
//! * [`intent`]: the payment intent record, its status and key, and the requests that make it.
//! * [`Payments`]: the service (`service.rs`), whose methods live with their side of a payment:
//!   * the simulator's charge, `simulator.rs`: [`Payments::create_intent`],
//!     [`Payments::process`], [`Payments::settle`];
//!   * its webhook delivery, retried by a timer job when a post fails, `delivery.rs`:
//!     [`Payments::deliver_webhook`], and its retry [`Payments::redeliver_webhook`];
//!   * the platform's receipt of the webhook, `receipt.rs`: [`Payments::receive_webhook`], and
//!     the timer that checks an approval its hold's own timer does not settle was followed up
//!     ([`FOLLOW_UP_CHECK_SECS`]);
//!   * the follow-up of outcomes, `follow_up.rs`: [`Payments::on_approved`],
//!     [`Payments::on_failed`] and the refund of a late approval.
//! * [`WebhookBody`]: what the simulator posts and the platform reads.

pub mod intent;

mod delivery;
mod events;
mod follow_up;
mod receipt;
mod service;
mod simulator;
mod webhook_body;

pub use intent::{
    intent_key, IntentRequest, PaymentIntent, PaymentStatus, ProcessRequest, ProcessStamp, Scenario,
};
pub use receipt::FOLLOW_UP_CHECK_SECS;
pub use service::Payments;
pub use simulator::ProcessAnswer;
pub use webhook_body::WebhookBody;

//! The domain: what Traffic Tacos does, written against the ports only.
//!
//! * [`catalog`]: events, seats and inventory counters.
//! * [`seating`]: sections, how they number their seats (`A-12`, `VIP-1-5`), their prices.
//! * [`stock`]: the events' stock counters, spread over shards so no item takes every sale.
//! * [`queue`]: the waiting room (join, position, admission, enter, leave).
//! * [`reservation_tokens`]: tokens that prove a buyer was admitted.
//! * [`derived_keys`]: a key per purpose from the platform's one secret.
//! * [`reservations`]: holds and their confirm / cancel / expire transitions.
//! * [`sale`]: operators pause, resume, close and tune a sale; the audit log of it.
//! * [`payments`]: the payment simulator, its webhooks and their follow-up.
//! * [`webhook_signature`]: how webhooks are signed and verified.
//! * [`auth`]: accounts, access tokens and OIDC.
//! * [`idempotency`]: replay-safe POSTs.
//! * [`live_updates`]: availability and queue status pushed to connected browsers.
//! * [`partitions`]: the partition an event's items share.
//! * [`records`]: how domain records are stored as items.

pub mod auth;
pub mod availability;
pub mod catalog;
pub mod derived_keys;
pub mod idempotency;
pub mod live_updates;
pub mod partitions;
pub mod payments;
pub mod queue;
pub mod records;
pub mod request_keys;
pub mod reservation_tokens;
pub mod reservations;
pub mod sale;
pub mod seating;
pub mod stock;
pub mod webhook_signature;

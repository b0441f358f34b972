//! The domain: what Traffic Tacos does, written against the ports only.
//!
//! * [`catalog`]: events, seats and inventory counters.
//! * [`queue`]: the waiting room (join, position, admission, enter, leave).
//! * [`tokens`]: reservation tokens that prove a buyer was admitted.
//! * [`reservations`]: holds and their confirm / cancel / expire transitions.
//! * [`payments`]: the payment simulator, its webhooks and their follow-up.
//! * [`auth`] and [`jwks`]: accounts, access tokens and OIDC.
//! * [`idempotency`]: replay-safe POSTs.
//! * [`live`]: availability and queue status pushed to connected browsers.

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, EventBus, Scheduler, Store};

pub mod auth;
pub mod catalog;
pub mod idempotency;
pub mod items;
pub mod jwks;
pub mod live;
pub mod payments;
pub mod queue;
pub mod reservations;
pub mod tokens;
pub mod webhook;

/// The ports and configuration every domain service works with.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub scheduler: Arc<dyn Scheduler>,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

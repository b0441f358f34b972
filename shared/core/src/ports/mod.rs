//! The ports: everything the domain needs from the outside world, as traits.
//!
//! The domain never names AWS or HTTP. Each port has in-process adapters ([`crate::in_process`])
//! used by the embedded server and the tests, and adapters outside this crate: `tacos-aws`
//! (DynamoDB, EventBridge Scheduler, EventBridge, API Gateway WebSocket connections),
//! `tacos-sqlite` (the embedded server's durable store) and `tacos-http-client` (webhook delivery,
//! OIDC keys). The conformance suites ([`crate::conformance`]) run against all of them.
//!
//! * [`store`]: items with conditional writes and small transactions (DynamoDB's shape).
//! * [`scheduler`]: one-shot timers that fire [`Job`]s (hold expiry, the payment simulator).
//! * [`bus`]: domain events for the asynchronous follow-up.
//! * [`clock`]: the time, so tests can move it.
//! * [`connections`] and [`pusher`]: browsers connected for live updates, and frames to them.
//! * [`webhook_sender`]: the payment simulator's signed webhooks, out of the process.
//! * [`key_source`]: an OIDC issuer's signing keys.

pub mod bus;
pub mod clock;
pub mod connections;
pub mod key_source;
pub mod pusher;
pub mod scheduler;
pub mod store;
pub mod webhook_sender;

use std::sync::Arc;

pub use bus::{DetailType, DomainEvent, EventBus, EventDetail, EventHandler, PublishError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use connections::{Connection, ConnectionId, ConnectionRegistry, RegistryError};
pub use key_source::{FetchError, KeySource};
pub use pusher::{Delivery, PushError, Pusher};
pub use scheduler::{Job, JobFamily, JobHandler, ScheduleError, Scheduler, TracedJob};
pub use store::{Condition, ExpiringStore, Item, Key, SkRange, Store, StoreError, Update, Write};
pub use webhook_sender::{SendError, SignedWebhook, WebhookSender};

/// One adapter of each port the domain services use, shared by all of them.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub scheduler: Arc<dyn Scheduler>,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    pub webhooks: Arc<dyn WebhookSender>,
    pub keys: Arc<dyn KeySource>,
}

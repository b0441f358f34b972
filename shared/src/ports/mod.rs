//! The ports: everything the domain needs from the outside world, as traits.
//!
//! The domain never names AWS. Each port has an in-process adapter ([`crate::memory`]) used by the
//! embedded server and the tests, and an AWS adapter (DynamoDB, EventBridge Scheduler,
//! EventBridge, API Gateway WebSocket connections) used by the Lambda functions. One conformance suite runs against both.

pub mod bus;
pub mod clock;
pub mod live;
pub mod scheduler;
pub mod store;

pub use bus::{DetailType, DomainEvent, EventBus, EventDetail, EventHandler, PublishError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use live::{
    Connection, ConnectionId, ConnectionRegistry, Delivery, PushError, Pusher, RegistryError,
};
pub use scheduler::{Job, JobHandler, ScheduleError, Scheduler, TracedJob};
pub use store::{Condition, Item, Key, SkRange, Store, StoreError, Update, Write};

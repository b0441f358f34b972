//! Conformance suites of the ports: the semantics every adapter must have, whatever it is built on.
//! The `tests/` crate runs them against the in-process adapters, the durable store and the AWS
//! adapters on moto.
//!
//! * [`store`]: the [`Store`](crate::ports::store::Store) (conditions, transactions, queries,
//!   concurrency).
//! * [`connections`]: the live-update ports (connection registry and pusher).

pub mod connections;
pub mod store;

pub use store::run_all;

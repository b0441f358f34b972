//! Traffic Tacos: the domain, its ports, the in-process adapters and the HTTP handlers that every
//! deployment (embedded server, Lambda functions, container) shares.
//!
//! * [`domain`]: the rules, written against [`ports`] only.
//! * [`memory`]: in-process adapters of the ports.
//! * [`http`]: the contract's routes as an axum router, with tracing and idempotency.
//! * [`app`]: the platform assembled from ports and services.
//! * [`telemetry`]: metrics and traces for operators.
pub mod app;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod memory;
pub mod ports;
pub mod telemetry;

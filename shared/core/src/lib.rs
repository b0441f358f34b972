//! Traffic Tacos's core: what the platform does, independent of where it runs.
//!
//! Every deployment (the embedded server, the Lambda functions, the container) runs this crate's
//! services over its own adapters; nothing here knows HTTP, AWS or a database.
//!
//! * [`ids`] and [`error`]: typed identifiers, and the one error type with the contract's codes.
//! * [`config`]: the domain's settings, read once at start.
//! * [`ports`]: what the domain needs from the outside world, as traits.
//! * [`domain`]: the rules (waiting room, catalogue, holds, payments, accounts), written against
//!   the ports only.
//! * [`platform`]: the services assembled over one set of ports, and the two entry points that
//!   are not requests: fired timers and bus events.
//! * [`seed`]: the configured administrator and the demo events.
//! * [`catalog_file`]: venues and events described in a file (`TACOS_CATALOG`), created at start.
//! * [`functions`]: every deployable function, its kind and its routes, named once.
//! * [`in_process`]: the ports in memory, for the embedded server and the tests.
//! * [`trace_context`]: W3C trace context across the asynchronous hops of a purchase.
//! * [`request_fields`]: how a request body's optional fields are read (`null` only where the
//!   API document allows it).
//! * [`secret`]: values never printed and compared in constant time.
//! * [`sweep`]: the ledger of due work and the sweep that does what a lost AWS timer did not.
//! * `conformance` (feature `conformance`): the suites every adapter of a port must pass.
pub mod catalog_file;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod domain;
pub mod error;
pub mod functions;
pub mod ids;
pub mod in_process;
pub mod platform;
pub mod ports;
pub mod request_fields;
pub mod secret;
pub mod seed;
pub mod sweep;
pub mod trace_context;

//! Traffic Tacos in one process: the platform on in-process adapters, over a durable store.
//!
//! * [`in_process`]: [`InProcess`], the platform over one store with the in-process timers,
//!   bus and webhooks, and handles on them (the tests use it over the memory store).
//! * [`embedded`]: [`Embedded`], what the embedded server runs: by default over the durable
//!   store of a data directory (`tacos-sqlite`), its timers and bus events journaled in it and
//!   re-armed at start, expired items purged; or over the memory store (`TACOS_STORE=memory`).
//! * [`settings`]: which store, where the data directory is, which catalogue to load.
//! * [`catalog`]: the venues and events of `TACOS_CATALOG`, read (JSON or YAML) and created.
//! * [`secrets`]: the signing secrets generated once and kept in the data directory, so tokens
//!   issued before a restart still verify.

pub mod catalog;
pub mod embedded;
pub mod in_process;
pub mod secrets;
pub mod settings;

pub use embedded::{Embedded, EmbeddedError, Storage};
pub use in_process::InProcess;
pub use settings::{EmbeddedSettings, KeptSecrets, StoreChoice};

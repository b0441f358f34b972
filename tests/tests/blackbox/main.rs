//! Black-box suite: complete user journeys against any Traffic Tacos deployment, over HTTP only.
//!
//! `tacos_tests::target()` picks the deployment (`TACOS_BASE_URL`, or the embedded server started
//! in-process with short holds). Every test creates its own events and users, so the tests are
//! independent and run in parallel.

mod client;

mod availability;
mod cancel;
mod compat;
mod document;
mod errors;
mod expiry;
mod fair_share;
mod idempotency;
mod journeys;
mod limits;
mod lobby;
mod operator;
mod ops;
mod queue;
mod race;
mod web;

//! The platform's rules, checked in process with a clock moved by hand: no sleeping, no HTTP.
//!
//! * `conformance`: the store port's semantics, against the in-process store.
//! * `holds`: expiry, the confirm/expire/cancel races, single-use tokens, zero oversell.
//! * `payments`: webhook replays, failed and late payments.
//! * `oidc`: tokens of an external issuer, through its JWKS.
//! * `outage`: 503 with Retry-After while the store is down, and nothing lost.
//! * `secrets`: no password, token, signature or secret in any log line of a whole purchase.
//! * `queue`: arrival order, positions that never grow, admission within what can be sold.

mod conformance;
mod holds;
mod oidc;
mod outage;
mod payments;
mod queue;
mod secrets;
mod world;

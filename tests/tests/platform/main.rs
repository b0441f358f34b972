//! The platform's rules, checked in process with a clock moved by hand: no sleeping, no HTTP.
//!
//! * `conformance`: the store port's semantics, against the in-process store.
//! * `faults`: the expiry timer twice, late and after a confirm; payment follow-ups twice, out of
//!   order and after a cancel (also through the `payment-followup` Lambda's SQS batch handler);
//!   requests and jobs retried after their answer was lost; a webhook that never arrives. Each
//!   ends with the ledger check, `World::audit`.
//! * `live`: live updates for WebSocket connections: the registry and pusher conformance suites
//!   on the in-process adapters, connecting, what a tick sends and reads, gone connections, and
//!   the `ws-connect` / `ws-disconnect` / `ws-push` handlers fed API Gateway's event payloads.
//! * `holds`: expiry, the confirm/expire/cancel races, single-use tokens, zero oversell.
//! * `payments`: webhook replays, failed and late payments.
//! * `oidc`: tokens of an external issuer, through its JWKS.
//! * `outage`: 503 with Retry-After while the store is down, and nothing lost.
//! * `secrets`: no password, token, signature or secret in any log line of a whole purchase.
//! * `traces`: one W3C trace from the browser's `traceparent` across every request, timer, event
//!   and webhook of a purchase.
//! * `queue`: arrival order, positions that never grow, admission within what can be sold.
//! * `properties`: proptest properties: the ledger under random operation sequences, tokens and
//!   webhook signatures refusing any change, identifier parsing, positions that never grow.

mod conformance;
mod faults;
mod holds;
mod live;
mod oidc;
mod outage;
mod payments;
mod properties;
mod queue;
mod secrets;
mod traces;
mod world;

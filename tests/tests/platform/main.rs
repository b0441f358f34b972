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
//! * `fair_share`: one place in line per account per event, waiting tokens used only by their
//!   account, the purchase cap across an account's orders (and its races and retries).
//! * `holds`: expiry, the confirm/expire/cancel races, single-use tokens, zero oversell.
//! * `keyed`: holds and payment intents keep their idempotency key on the item they write: no
//!   record on the way to a sale, and every retry (token expired, hold being paid, concurrent
//!   duplicates) replays the first answer.
//! * `stock`: an event's counters spread over shards: a rush sells exactly the capacity, a
//!   general-admission hold gathers places from several shards, each shard matches its seats.
//! * `payments`: webhook replays, failed and late payments.
//! * `oidc`: tokens of an external issuer, through its JWKS.
//! * `outage`: 503 with Retry-After while the store is down, and nothing lost.
//! * `secrets`: no password, token, signature or secret in any log line of a whole purchase.
//! * `traces`: one W3C trace from the browser's `traceparent` across every request, timer, event
//!   and webhook of a purchase.
//! * `lobby`: an opening time: joins before it wait in a lobby, drawn at random at the opening
//!   (uniformly, recomputable from what is published), later joins behind, leavers and
//!   stragglers, moving the opening.
//! * `queue`: arrival order, positions that never grow, admission within what can be sold.
//! * `properties`: proptest properties: the ledger under random operation sequences, tokens and
//!   webhook signatures refusing any change, identifier parsing, positions that never grow.

mod conformance;
mod fair_share;
mod faults;
mod holds;
mod keyed;
mod live_updates;
mod lobby;
mod oidc;
mod outage;
mod payments;
mod properties;
mod queue;
mod sale;
mod secrets;
mod stock;
mod traces;
mod world;

/// Runs the ignored test `name` (its full path) in a process of its own and fails unless it
/// passes. For the tests that install a tracing subscriber: tracing caches per call site whether
/// anyone listens, so in this binary's shared process the other tests, running at the same time
/// on threads without a subscriber, would make the sites they reach first go quiet for every
/// thread, and a capture could miss lines (and pass for the wrong reason).
fn run_alone(name: &str) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed:\n{stdout}\n{stderr}"
    );
}

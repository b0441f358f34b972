//! Properties of the domain under random input (proptest): random sequences of holds, payments,
//! confirms, cancels, reads, clock moves and timers keep the ledger exact; reservation tokens,
//! access tokens and webhook signatures pass only unchanged; identifiers parse exactly their
//! valid forms; waiting-room positions never grow under random joins, leaves, entries and time.
//!
//! Each property runs `PROPTEST_CASES` cases (64 by default, so `cargo test` stays quick;
//! `PROPTEST_CASES=2000 cargo test -p tacos-tests --test platform properties` is the long run).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use tacos_core::config::Config;
use tacos_core::domain::auth::{AccessTokens, Principal, Role, UserRecord};
use tacos_core::domain::catalog::{Event, EventKind, SeatStatus};
use tacos_core::domain::payments::{IntentRequest, ProcessRequest, Scenario};
use tacos_core::domain::queue::QueueStatusKind;
use tacos_core::domain::records::from_item;
use tacos_core::domain::reservation_tokens::ReservationTokens;
use tacos_core::domain::reservations::{
    reservation_key, HoldRequest, Reservation, ReservationStatus,
};
use tacos_core::domain::webhook_signature::{WebhookSigner, TOLERANCE_SECS};
use tacos_core::error::Error;
use tacos_core::ids::{
    EventId, OrderId, PaymentIntentId, ReservationId, SeatId, UserId, WaitingToken,
};
use tacos_core::in_process::StaticKeys;
use tacos_core::ports::store::Store;
use tacos_core::ports::Clock;

use crate::world::{World, HOLD_SECONDS};

/// Cases per property: `PROPTEST_CASES`, else 64.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Shrunk failures are reported in the test output; no regression files in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `future` to completion on a fresh single-threaded runtime (one per case).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

// ---------------------------------------------------------------------------------------------
// The ledger under random holds, payments, confirms, cancels, reads, clock moves and timers.

#[derive(Debug, Clone)]
enum Op {
    /// Buyer `buyer` holds the seats at these indexes (seated) or `quantity` places (GA).
    Hold {
        buyer: usize,
        seats: BTreeSet<usize>,
        quantity: u32,
    },
    /// An approved payment for the `pick`th reservation.
    Pay {
        pick: usize,
    },
    /// Confirm the `pick`th reservation with its payment (if any).
    Confirm {
        pick: usize,
    },
    Cancel {
        pick: usize,
    },
    /// The owner reads the reservation (a hold past its time expires on the spot).
    Read {
        pick: usize,
    },
    Advance {
        ms: i64,
    },
    FireTimers,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, prop::collection::btree_set(0..10usize, 0..6), 0..6u32)
            .prop_map(|(buyer, seats, quantity)| Op::Hold { buyer, seats, quantity }),
        2 => any::<usize>().prop_map(|pick| Op::Pay { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Confirm { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Read { pick }),
        // Mostly small steps, sometimes past a hold's whole life.
        2 => prop_oneof![0..5_000i64, 55_000..65_000i64].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::FireTimers),
    ]
}

/// What the test remembers of a reservation it placed.
struct Placed {
    buyer: Principal,
    id: ReservationId,
    payment: Option<PaymentIntentId>,
    /// The order, once confirmed: it never changes after.
    order: Option<OrderId>,
    /// The last status seen; terminal statuses never change.
    status: ReservationStatus,
}

async fn stored(world: &World, id: &ReservationId) -> Reservation {
    let item = world
        .local
        .store
        .get(&reservation_key(id))
        .await
        .unwrap()
        .expect("a placed reservation is stored");
    from_item(item).unwrap()
}

async fn seat_statuses(
    world: &World,
    event: &Event,
) -> HashMap<SeatId, (SeatStatus, Option<ReservationId>)> {
    world
        .platform()
        .catalog
        .seats(event)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.seat_id, (s.status, s.reservation_id)))
        .collect()
}

/// Every invariant of the ledger, against the store itself.
async fn check_ledger(world: &World, event: &Event, placed: &mut [Placed], sold_before: &mut i64) {
    // available + held + sold = total, and the seats agree with the counters.
    let inventory = world.ledger(&event.event_id).await;
    assert!(inventory.available >= 0 && inventory.held >= 0 && inventory.sold >= 0);
    assert!(inventory.sold >= *sold_before, "sales are never undone");
    *sold_before = inventory.sold;

    let (mut held, mut sold) = (0i64, 0i64);
    let mut claimed: HashSet<SeatId> = HashSet::new();
    let seats = seat_statuses(world, event).await;
    for p in placed.iter_mut() {
        let r = stored(world, &p.id).await;
        match p.status {
            ReservationStatus::Hold => {}
            terminal => assert_eq!(r.status, terminal, "a settled reservation stays settled"),
        }
        if p.order.is_some() {
            assert_eq!(r.order_id, p.order, "an order never changes");
        }
        p.status = r.status;
        let live = match r.status {
            ReservationStatus::Hold => {
                held += i64::from(r.quantity);
                Some(SeatStatus::Held)
            }
            ReservationStatus::Confirmed => {
                sold += i64::from(r.quantity);
                assert!(
                    r.order_id.is_some(),
                    "a confirmed reservation has its order"
                );
                Some(SeatStatus::Sold)
            }
            ReservationStatus::Cancelled | ReservationStatus::Expired => None,
        };
        for seat in &r.seat_ids {
            if let Some(expected) = live {
                assert!(
                    claimed.insert(seat.clone()),
                    "seat {seat} is in two live reservations"
                );
                assert_eq!(
                    seats[seat],
                    (expected, Some(r.reservation_id.clone())),
                    "seat {seat} shows its reservation"
                );
            }
        }
    }
    assert_eq!(inventory.held, held, "held = the quantities of live holds");
    assert_eq!(
        inventory.sold, sold,
        "sold = the quantities of confirmed reservations"
    );
    for (seat, (status, holder)) in &seats {
        match status {
            SeatStatus::Available => {
                assert!(
                    holder.is_none() && !claimed.contains(seat),
                    "seat {seat} free yet claimed"
                )
            }
            _ => assert!(
                claimed.contains(seat),
                "seat {seat} is {status:?} without a live reservation"
            ),
        }
    }
}

async fn run_ledger(seated: bool, ops: Vec<Op>) {
    let world = World::new();
    let event = if seated {
        world.seated(&[("A", 2, 5)], 100.0).await
    } else {
        world.general(8, 100.0).await
    };
    let event = (*world.platform().catalog.get(&event.event_id).await.unwrap()).clone();
    let seat_ids: Vec<SeatId> = event.sections.iter().flat_map(|s| s.seat_ids()).collect();
    let buyers: Vec<Principal> = (0..3).map(|_| world.buyer()).collect();
    let mut placed: Vec<Placed> = Vec::new();
    let mut sold = 0;
    let reservations = &world.platform().reservations;
    for op in ops {
        let now = world.clock.now();
        match op {
            Op::Hold {
                buyer,
                seats,
                quantity,
            } => {
                let buyer = &buyers[buyer];
                let chosen: Vec<SeatId> = if seated {
                    seats.iter().map(|&i| seat_ids[i].clone()).collect()
                } else {
                    Vec::new()
                };
                let inventory = world.inventory(&event.event_id).await;
                let statuses = seat_statuses(&world, &event).await;
                // The buyer's tickets held and owned, as stored: the purchase cap counts them.
                let mut counted = 0;
                for p in placed.iter().filter(|p| p.buyer.user_id == buyer.user_id) {
                    let r = stored(&world, &p.id).await;
                    if matches!(
                        r.status,
                        ReservationStatus::Hold | ReservationStatus::Confirmed
                    ) {
                        counted += r.quantity as usize;
                    }
                }
                assert!(
                    counted <= 4,
                    "a buyer holds and owns {counted} > max_per_order"
                );
                let asked = if seated {
                    chosen.len()
                } else {
                    quantity as usize
                };
                // Holds past their expiry that sit on a chosen seat (their timers not fired yet,
                // as if lost): a hold refused for a seat expires them and tries once more, so
                // their seats are obtainable and the buyer's own no longer count to its cap.
                let mut lapsed = HashMap::new();
                for seat in &chosen {
                    if let (SeatStatus::Held, Some(holder)) = &statuses[seat] {
                        let r = stored(&world, holder).await;
                        // A hold whose payment was approved in time is confirmed when found
                        // due, not released: only unpaid ones give their seats back.
                        if r.status == ReservationStatus::Hold
                            && now >= r.due()
                            && r.paying().is_none()
                        {
                            lapsed.insert(holder.clone(), r);
                        }
                    }
                }
                let obtainable = |s: &SeatId| match &statuses[s] {
                    (SeatStatus::Available, _) => true,
                    (SeatStatus::Held, Some(holder)) => lapsed.contains_key(holder),
                    _ => false,
                };
                let retried = !lapsed.is_empty()
                    && chosen.iter().all(obtainable)
                    && chosen
                        .iter()
                        .any(|s| statuses[s].0 != SeatStatus::Available);
                if retried {
                    counted -= lapsed
                        .values()
                        .filter(|r| r.user_id == buyer.user_id)
                        .map(|r| r.quantity as usize)
                        .sum::<usize>();
                }
                let within_cap = counted + asked <= 4;
                let expect_ok = within_cap
                    && match event.kind {
                        EventKind::Seated => {
                            (1..=4).contains(&chosen.len()) && chosen.iter().all(obtainable)
                        }
                        EventKind::GeneralAdmission => {
                            (1..=4).contains(&quantity)
                                && i64::from(quantity) <= inventory.available
                        }
                    };
                let request = HoldRequest {
                    event_id: event.event_id.clone(),
                    seat_ids: seated.then(|| chosen.clone()),
                    quantity: (!seated).then_some(quantity),
                    reservation_token: world.admitted(&event.event_id, buyer),
                };
                match reservations.hold(buyer, request).await {
                    Ok(r) => {
                        assert!(
                            expect_ok,
                            "hold accepted: {chosen:?} x{quantity} of {inventory:?}"
                        );
                        assert_eq!(r.status, ReservationStatus::Hold);
                        placed.push(Placed {
                            buyer: buyer.clone(),
                            id: r.reservation_id,
                            payment: None,
                            order: None,
                            status: ReservationStatus::Hold,
                        });
                    }
                    Err(e) => {
                        assert!(!expect_ok, "hold refused: {e:?}");
                        assert!(
                            matches!(
                                e,
                                Error::SeatUnavailable(_)
                                    | Error::InsufficientInventory { .. }
                                    | Error::PurchaseLimitExceeded { .. }
                                    | Error::InvalidRequest(_)
                            ),
                            "{e:?}"
                        );
                    }
                }
            }
            Op::Pay { pick } if !placed.is_empty() => {
                let n = placed.len();
                let p = &mut placed[pick % n];
                let r = stored(&world, &p.id).await;
                let payable = r.status == ReservationStatus::Hold && now < r.hold_expires_at;
                // One payment at a time: another approved one is under way.
                let startable = payable && r.paying().is_none();
                let intent = world
                    .platform()
                    .payments
                    .create_intent(
                        &p.buyer,
                        IntentRequest {
                            reservation_id: p.id.clone(),
                            amount: r.total_amount,
                            currency: r.currency.clone(),
                            scenario: Some(Scenario::Approve),
                        },
                    )
                    .await;
                assert_eq!(
                    intent.is_ok(),
                    payable,
                    "intent {intent:?} for {:?}",
                    r.status
                );
                if let Ok(intent) = intent {
                    let processed = world
                        .platform()
                        .payments
                        .process(
                            &p.buyer,
                            ProcessRequest {
                                payment_intent_id: intent.payment_intent_id.clone(),
                                action: None,
                            },
                        )
                        .await;
                    match processed {
                        Ok(processed) => {
                            assert!(startable, "payment started beside another");
                            assert_eq!(processed.status.as_str(), "APPROVED");
                            p.payment = Some(intent.payment_intent_id);
                        }
                        Err(e) => {
                            assert!(!startable, "payment refused: {e:?}");
                            assert!(matches!(e, Error::InvalidState(_)), "{e:?}");
                        }
                    }
                }
            }
            Op::Confirm { pick } if !placed.is_empty() => {
                let n = placed.len();
                let p = &mut placed[pick % n];
                let r = stored(&world, &p.id).await;
                let payment = p.payment.clone().unwrap_or_else(PaymentIntentId::generate);
                let expect_ok = match r.status {
                    // Unexpired, or paid by the payment the hold waits for (approved in time:
                    // these payments are approved as they start, before the hold's expiry).
                    ReservationStatus::Hold => {
                        p.payment.is_some()
                            && (now < r.hold_expires_at || r.paying() == p.payment.as_ref())
                    }
                    ReservationStatus::Confirmed => r.payment_intent_id.as_ref() == Some(&payment),
                    _ => false,
                };
                let result = reservations.confirm(&p.id, &payment, Some(&p.buyer)).await;
                match result {
                    Ok(c) => {
                        assert!(expect_ok, "confirm accepted from {:?}", r.status);
                        if let Some(order) = &p.order {
                            assert_eq!(&c.order_id, order, "confirming again gives the same order");
                        }
                        p.order = Some(c.order_id);
                    }
                    Err(e) => {
                        assert!(!expect_ok, "confirm refused: {e:?}");
                        assert!(
                            matches!(
                                e,
                                Error::ReservationExpired
                                    | Error::InvalidState(_)
                                    | Error::PaymentNotApproved(_)
                            ),
                            "{e:?}"
                        );
                    }
                }
            }
            Op::Cancel { pick } if !placed.is_empty() => {
                let p = &placed[pick % placed.len()];
                let r = stored(&world, &p.id).await;
                let expect_ok = match r.status {
                    ReservationStatus::Hold => now < r.due(),
                    ReservationStatus::Cancelled => true,
                    _ => false,
                };
                let result = reservations.cancel(&p.id, &p.buyer).await;
                assert_eq!(
                    result.is_ok(),
                    expect_ok,
                    "cancel {result:?} from {:?}",
                    r.status
                );
                if let Ok(after) = result {
                    assert_eq!(after.status, ReservationStatus::Cancelled);
                }
            }
            Op::Read { pick } if !placed.is_empty() => {
                let p = &placed[pick % placed.len()];
                let r = reservations.get(&p.id, Some(&p.buyer)).await.unwrap();
                if r.status == ReservationStatus::Hold {
                    assert!(now < r.due(), "nobody reads a stale HOLD");
                }
                let stranger = world.buyer();
                assert!(matches!(
                    reservations.get(&p.id, Some(&stranger)).await,
                    Err(Error::ReservationNotFound)
                ));
            }
            Op::Advance { ms } => world.clock.advance(Duration::milliseconds(ms)),
            Op::FireTimers => {
                world.fire_timers().await;
            }
            _ => {}
        }
        check_ledger(&world, &event, &mut placed, &mut sold).await;
    }
    // In the end every hold is settled by its timer (expired, or confirmed when the bank approved
    // its payment in time), and what was sold stays sold.
    let grace = world.platform().config().payment_grace_seconds as f64;
    world.advance(HOLD_SECONDS as f64 + grace + 1.0);
    world.fire_timers().await;
    check_ledger(&world, &event, &mut placed, &mut sold).await;
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(inventory.held, 0, "every hold settled: {inventory:?}");
    assert!(placed.iter().all(|p| p.status != ReservationStatus::Hold));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seated_ledger_balances_under_any_sequence(ops in prop::collection::vec(op(), 1..40)) {
        block_on(run_ledger(true, ops));
    }

    #[test]
    fn general_admission_ledger_balances_under_any_sequence(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        block_on(run_ledger(false, ops));
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens and signatures: they pass unchanged, and any change is refused.

/// The token with one bit flipped, if that is still a string.
fn flip(token: &str, at: usize, bit: u8) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    let i = at % bytes.len();
    bytes[i] ^= 1 << (bit % 8);
    String::from_utf8(bytes).ok()
}

fn secret() -> impl Strategy<Value = String> {
    "[ -~]{1,40}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reservation_tokens_round_trip_and_refuse_any_change(
        key in secret(),
        other_key in secret(),
        batch in any::<u64>(),
        age in 0i64..30,
        at in any::<usize>(),
        bit in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let tokens = ReservationTokens::new(&key);
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (event, user, waiting) =
            (EventId::generate(), UserId::generate(), WaitingToken::generate());
        let token = tokens.issue(&event, &user, &waiting, batch, now);
        let later = now + Duration::seconds(age);
        let claims = tokens.verify(&token, &event, &user, later).unwrap();
        prop_assert_eq!(&claims.evt, &event);
        prop_assert_eq!(&claims.sub, &user);
        prop_assert_eq!(&claims.wtkn, &waiting);
        prop_assert_eq!(claims.batch, batch);
        // Expired at 30 s, bound to its event, user and key.
        prop_assert!(tokens.verify(&token, &event, &user, now + Duration::seconds(30)).is_err());
        prop_assert!(tokens.verify(&token, &EventId::generate(), &user, later).is_err());
        prop_assert!(tokens.verify(&token, &event, &UserId::generate(), later).is_err());
        if other_key != key {
            prop_assert!(ReservationTokens::new(&other_key).verify(&token, &event, &user, later).is_err());
        }
        // Any flipped bit, any truncation.
        if let Some(flipped) = flip(&token, at, bit) {
            prop_assert!(tokens.verify(&flipped, &event, &user, later).is_err(), "{}", flipped);
        }
        let truncated = &token[..cut % token.len()];
        prop_assert!(tokens.verify(truncated, &event, &user, later).is_err());
        // Not an access token, whatever the prefix.
        let mut config = Config::for_tests();
        config.jwt_secret = key.clone();
        let access = AccessTokens::new(&config, Arc::new(StaticKeys::default()));
        prop_assert!(block_on(access.verify(&token)).is_err());
        prop_assert!(block_on(access.verify(token.trim_start_matches("rtkn_"))).is_err());
    }

    #[test]
    fn access_tokens_round_trip_and_refuse_any_change(
        key in secret(),
        other_key in secret(),
        admin in any::<bool>(),
        at in any::<usize>(),
        bit in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let mut config = Config::for_tests();
        config.jwt_secret = key.clone();
        let tokens = AccessTokens::new(&config, Arc::new(StaticKeys::default()));
        let user = UserRecord {
            user_id: UserId::generate(),
            username: "prop".into(),
            password_hash: String::new(),
            role: if admin { Role::Admin } else { Role::User },
            email: None,
            display_name: "prop".into(),
            created_at: Utc::now(),
        };
        let token = tokens.issue(&user.principal(), Utc::now());
        let principal = block_on(tokens.verify(&token)).unwrap();
        prop_assert_eq!(&principal.user_id, &user.user_id);
        prop_assert_eq!(principal.role, user.role);
        if let Some(flipped) = flip(&token, at, bit) {
            prop_assert!(block_on(tokens.verify(&flipped)).is_err(), "{}", flipped);
        }
        prop_assert!(block_on(tokens.verify(&token[..cut % token.len()])).is_err());
        if other_key != key {
            let mut other = config.clone();
            other.jwt_secret = other_key;
            prop_assert!(block_on(AccessTokens::new(&other, Arc::new(StaticKeys::default())).verify(&token)).is_err());
        }
        // Another issuer or audience under the same key is refused; so is an expired token.
        let mut issuer = config.clone();
        issuer.jwt_issuer = "someone-else".into();
        prop_assert!(block_on(tokens.verify(&AccessTokens::new(&issuer, Arc::new(StaticKeys::default())).issue(&user.principal(), Utc::now()))).is_err());
        let mut audience = config.clone();
        audience.jwt_audience = "someone-else".into();
        prop_assert!(block_on(tokens.verify(&AccessTokens::new(&audience, Arc::new(StaticKeys::default())).issue(&user.principal(), Utc::now()))).is_err());
        let stale = tokens.issue(&user.principal(), Utc::now() - Duration::seconds(config.jwt_ttl_seconds as i64 + 10));
        prop_assert!(block_on(tokens.verify(&stale)).is_err());
    }

    #[test]
    fn webhook_signatures_verify_only_the_exact_delivery(
        key in secret(),
        other_key in secret(),
        ts in 0i64..4_000_000_000,
        skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        late in (TOLERANCE_SECS + 1)..1_000_000,
        body in ".{0,200}",
        at in any::<usize>(),
        bit in 0u8..8,
        other_ts in any::<i64>(),
        sig_at in 7usize..71,
        sig_to in prop::sample::select(b"0123456789abcdef".to_vec()),
    ) {
        let signer = WebhookSigner::new(&key);
        let headers = signer.sign("wh_prop", ts, &body);
        prop_assert!(signer.verify(&headers, body.as_bytes(), ts + skew).is_ok());
        prop_assert!(signer.verify(&headers, body.as_bytes(), ts + late).is_err());
        prop_assert!(signer.verify(&headers, body.as_bytes(), ts - late).is_err());
        // Any byte of the body changed, one more byte, one less.
        let mut changed = body.clone().into_bytes();
        if !changed.is_empty() {
            let i = at % changed.len();
            changed[i] ^= 1 << bit;
            prop_assert!(signer.verify(&headers, &changed, ts).is_err());
            prop_assert!(signer.verify(&headers, &body.as_bytes()[..body.len() - 1], ts).is_err());
        }
        let mut longer = body.clone().into_bytes();
        longer.push(b' ');
        prop_assert!(signer.verify(&headers, &longer, ts).is_err());
        // Another timestamp, even one naming the same second ("0123" for 123).
        if other_ts != ts {
            let mut moved = headers.clone();
            moved.timestamp = other_ts.to_string();
            prop_assert!(signer.verify(&moved, body.as_bytes(), ts).is_err());
        }
        // Another id: a captured delivery does not pass as a new one.
        let mut renamed = headers.clone();
        renamed.id = "wh_other".into();
        prop_assert!(signer.verify(&renamed, body.as_bytes(), ts).is_err());
        let mut padded = headers.clone();
        padded.timestamp = format!("0{}", headers.timestamp);
        prop_assert!(signer.verify(&padded, body.as_bytes(), ts).is_err());
        // Another secret; another hex digit of the signature.
        if other_key != key {
            prop_assert!(WebhookSigner::new(&other_key).verify(&headers, body.as_bytes(), ts).is_err());
        }
        let mut sig = headers.signature.clone().into_bytes();
        if sig[sig_at] != sig_to {
            sig[sig_at] = sig_to;
            let mut forged = headers.clone();
            forged.signature = String::from_utf8(sig).unwrap();
            prop_assert!(signer.verify(&forged, body.as_bytes(), ts).is_err());
        }
    }

    #[test]
    fn webhook_verification_never_panics_on_any_headers(
        id in ".{0,210}",
        timestamp in prop_oneof![any::<i64>().prop_map(|t| t.to_string()), ".{0,24}"],
        signature in ".{0,80}",
        body in prop::collection::vec(any::<u8>(), 0..100),
        now in prop_oneof![any::<i64>(), 0i64..4_000_000_000],
    ) {
        let signer = WebhookSigner::new("s3cret");
        let headers = tacos_core::domain::webhook_signature::WebhookHeaders { id, timestamp, signature };
        // Extreme timestamps and clocks (i64::MIN, i64::MAX) are refused, not a panic.
        let _ = signer.verify(&headers, &body, now);
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers: exactly the valid forms parse.

fn prefixed_valid(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn check_id<T>(s: &str, prefix: &str) -> Result<(), TestCaseError>
where
    T: std::str::FromStr + std::fmt::Display + serde::de::DeserializeOwned + serde::Serialize,
{
    let parsed = s.parse::<T>();
    prop_assert_eq!(
        parsed.is_ok(),
        prefixed_valid(s, prefix),
        "{:?} as {}",
        s,
        prefix
    );
    let decoded = serde_json::from_value::<T>(serde_json::Value::String(s.to_string()));
    prop_assert_eq!(
        decoded.is_ok(),
        parsed.is_ok(),
        "JSON and FromStr agree on {:?}",
        s
    );
    if let Ok(id) = parsed {
        prop_assert_eq!(id.to_string(), s);
        prop_assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::Value::String(s.into())
        );
    }
    Ok(())
}

fn check_all_ids(s: &str) -> Result<(), TestCaseError> {
    check_id::<EventId>(s, "evt_")?;
    check_id::<WaitingToken>(s, "wtkn_")?;
    check_id::<ReservationId>(s, "rsv_")?;
    check_id::<PaymentIntentId>(s, "pi_")?;
    check_id::<OrderId>(s, "ord_")?;
    check_id::<UserId>(s, "usr_")
}

/// A seat id: `SECTION-NUMBER`, or `SECTION-ROW-NUMBER` for a section numbered by row; each
/// number 1 to 6 digits with no leading zero.
fn seat_valid(s: &str) -> bool {
    let number = |n: &str| {
        (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0')
    };
    s.split_once('-').is_some_and(|(section, rest)| {
        (1..=8).contains(&section.len())
            && section.bytes().all(|b| b.is_ascii_alphanumeric())
            && match rest.split_once('-') {
                Some((row, seat)) => number(row) && number(seat),
                None => number(rest),
            }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ids_accept_exactly_their_valid_forms(
        prefix in prop::sample::select(vec!["evt_", "wtkn_", "rsv_", "pi_", "ord_", "usr_", "EVT_", "evt", ""]),
        valid in "[A-Za-z0-9_-]{1,64}",
        long in "[A-Za-z0-9_-]{65,80}",
        any_rest in ".{0,70}",
        anything in any::<String>(),
    ) {
        check_all_ids(&format!("{prefix}{valid}"))?;
        check_all_ids(&format!("{prefix}{long}"))?;
        check_all_ids(&format!("{prefix}{any_rest}"))?;
        check_all_ids(&anything)?;
        check_all_ids(prefix)?;
    }

    #[test]
    fn seat_ids_accept_exactly_section_dash_number_or_section_row_number(
        section in "[A-Za-z0-9]{1,8}",
        number in 1u32..1_000_000,
        row in 1u32..1_000_000,
        mangled in "[A-Za-z0-9 _-]{0,8}-?[0-9]{0,8}-?[0-9]{0,3}[A-Za-z]?",
        anything in any::<String>(),
    ) {
        let seat = SeatId::new(&section, number);
        prop_assert_eq!(seat.as_str().parse::<SeatId>(), Ok(seat.clone()));
        let in_row = SeatId::in_row(&section, row, number);
        prop_assert_eq!(in_row.as_str().parse::<SeatId>(), Ok(in_row.clone()));
        prop_assert_eq!(in_row.parts(), (section.as_str(), Some(row), number));
        for s in [
            seat.as_str().to_string(),
            in_row.as_str().to_string(),
            format!("{section}-0{number}"),
            format!("{section}-{row}-0{number}"),
            format!("{section}-{row}-{number}-1"),
            mangled,
            anything,
        ] {
            prop_assert_eq!(s.parse::<SeatId>().is_ok(), seat_valid(&s), "{:?}", s);
            let decoded = serde_json::from_value::<SeatId>(serde_json::Value::String(s.clone()));
            prop_assert_eq!(decoded.is_ok(), seat_valid(&s));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The waiting room: positions never grow under random joins, leaves, entries and time.

#[derive(Debug, Clone)]
enum QueueOp {
    Join,
    Leave {
        pick: usize,
    },
    /// The `pick`th token enters (if its turn came) and holds one place.
    Enter {
        pick: usize,
    },
    Advance {
        ms: i64,
    },
}

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        4 => Just(QueueOp::Join),
        1 => any::<usize>().prop_map(|pick| QueueOp::Leave { pick }),
        2 => any::<usize>().prop_map(|pick| QueueOp::Enter { pick }),
        3 => (0i64..2_500).prop_map(|ms| QueueOp::Advance { ms }),
    ]
}

async fn run_queue(capacity: i64, rate: f64, ops: Vec<QueueOp>) {
    let world = World::new();
    let event = world.general(capacity, rate).await;
    let queue = &world.platform().queue;
    // Tokens in arrival order, with the last position each showed while waiting.
    let mut tokens: Vec<(WaitingToken, Option<u64>, bool)> = Vec::new();
    // The account each entered token was bound to: only it may leave with the token.
    let mut bound: HashMap<WaitingToken, UserId> = Default::default();
    for op in ops {
        match op {
            QueueOp::Join => {
                let joined = queue.join(&event.event_id, None).await.unwrap();
                assert!(joined.position_hint >= 1);
                tokens.push((joined.waiting_token, None, true));
            }
            QueueOp::Leave { pick } if !tokens.is_empty() => {
                let i = pick % tokens.len();
                let token = &tokens[i].0;
                queue.leave(token, bound.get(token).cloned()).await.unwrap();
            }
            QueueOp::Enter { pick } if !tokens.is_empty() => {
                let i = pick % tokens.len();
                let token = tokens[i].0.clone();
                let before = queue.status(&token).await.unwrap();
                let buyer = world.buyer();
                match queue.enter(&token, Some(buyer.user_id.clone())).await {
                    Ok(admission) => {
                        assert_ne!(before.status, QueueStatusKind::Expired, "{before:?}");
                        bound.insert(token.clone(), buyer.user_id.clone());
                        let hold = world
                            .platform()
                            .reservations
                            .hold(
                                &buyer,
                                HoldRequest {
                                    event_id: event.event_id.clone(),
                                    seat_ids: None,
                                    quantity: Some(1),
                                    reservation_token: admission.reservation_token,
                                },
                            )
                            .await;
                        assert!(
                            matches!(hold, Ok(_) | Err(Error::InsufficientInventory { .. })),
                            "{hold:?}"
                        );
                    }
                    Err(e) => assert!(
                        matches!(
                            e,
                            Error::NotReady
                                | Error::AlreadyEntered
                                | Error::TokenNotFound
                                | Error::TokenExpired
                        ),
                        "{e:?}"
                    ),
                }
            }
            QueueOp::Advance { ms } => world.clock.advance(Duration::milliseconds(ms)),
            _ => {}
        }
        // Positions: at least 1 while waiting, never growing, strictly increasing in arrival
        // order among those still waiting; nobody goes back to waiting.
        let mut last_waiting = 0;
        for (token, shown, still_waiting) in tokens.iter_mut() {
            let status = queue.status(token).await.unwrap();
            if status.status == QueueStatusKind::Waiting {
                assert!(*still_waiting, "back to waiting: {status:?}");
                assert!(status.position >= 1);
                if let Some(before) = shown {
                    assert!(
                        status.position <= *before,
                        "{} -> {}",
                        before,
                        status.position
                    );
                }
                assert!(
                    status.position > last_waiting,
                    "order kept: {last_waiting} then {}",
                    status.position
                );
                last_waiting = status.position;
                *shown = Some(status.position);
            } else {
                *still_waiting = false;
            }
        }
        let inventory = world.inventory(&event.event_id).await;
        assert!(inventory.held <= capacity);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_positions_never_grow(
        capacity in 1i64..6,
        rate in prop_oneof![Just(0.5f64), Just(2.0), Just(10.0)],
        ops in prop::collection::vec(queue_op(), 1..30),
    ) {
        block_on(run_queue(capacity, rate, ops));
    }
}

// ---------------------------------------------------------------------------------------------
// Path identifiers through the router: any segment, even one that does not decode, is answered
// in the contract's shape, never a 5xx (the fuzz target `request_decoding` found axum's plain-text
// 400 for `GET /api/v1/events/evt_%%…`).

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Za-z0-9_-]{1,4}",
            "%[0-9A-Fa-f]{2}",
            "%[89A-Fa-f][0-9A-Fa-f]",
            Just("%".to_string()),
            "%[G-Zg-z]{0,2}",
        ],
        1..12,
    )
    .prop_map(|parts| parts.concat())
}

async fn answer_is_in_contract_shape(router: axum::Router, path: String, token: String) {
    use tower::ServiceExt;
    let Ok(request) = axum::http::Request::get(&path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
    else {
        return;
    };
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    assert!(!status.is_server_error(), "{status} for {path}");
    if status.is_client_error() {
        let trace = response.headers()["x-trace-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{status} for {path}: not JSON: {body:?}"));
        assert!(json["error"]["code"].is_string(), "{json}");
        assert!(json["error"]["message"].is_string(), "{json}");
        assert_eq!(json["error"]["trace_id"], trace.as_str());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_path_id_is_answered_in_the_contract_shape(
        segment in segment(),
        route in prop::sample::select(vec![
            "/api/v1/events/{}",
            "/api/v1/events/{}/availability",
            "/api/v1/reservations/{}",
            "/api/v1/payments/{}/status",
        ]),
    ) {
        let world = World::new();
        let platform = world.local.platform.clone();
        let user = UserRecord {
            user_id: UserId::generate(),
            username: "prop".into(),
            password_hash: String::new(),
            role: Role::User,
            email: None,
            display_name: "prop".into(),
            created_at: Utc::now(),
        };
        let token = platform.accounts.tokens().issue(&user.principal(), Utc::now());
        let router = tacos_http::router(platform, &tacos_http::settings::HttpSettings::defaults());
        block_on(answer_is_in_contract_shape(router, route.replace("{}", &segment), token));
    }
}

#[tokio::test]
async fn an_undecodable_path_id_is_the_routes_own_404() {
    use tower::ServiceExt;
    let world = World::new();
    let router = tacos_http::router(
        world.local.platform.clone(),
        &tacos_http::settings::HttpSettings::defaults(),
    );
    for path in [
        "/api/v1/events/evt_de%%aa",
        "/api/v1/events/evt_%ff/availability",
    ] {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "EVENT_NOT_FOUND", "{path}");
    }
}

//! Reservation tokens (`rtkn_…`, `ReservationTokens::verify`) on arbitrary strings: never a
//! panic, and accepted only when signed with the platform's reservation-token key (derived from
//! its secret, so an access token never passes), for this event and this user, unexpired.

#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tacos_core::domain::reservation_tokens::ReservationTokens;
use tacos_core::ids::{EventId, UserId};

#[path = "common.rs"]
mod common;

/// The event, user and instant the seed tokens were issued for (`fuzz/seeds.py`).
const EVENT: &str = "evt_demo";
const USER: &str = "usr_fuzz";
const NOW: i64 = 1_800_000_000;

struct Setup {
    tokens: ReservationTokens,
    key: Vec<u8>,
    event: EventId,
    user: UserId,
    other_user: UserId,
    now: DateTime<Utc>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(common::JWT_SECRET.as_bytes()).expect("any key");
        mac.update(b"traffic-tacos reservation tokens v1");
        Setup {
            tokens: ReservationTokens::new(common::JWT_SECRET),
            key: mac.finalize().into_bytes().to_vec(),
            event: EVENT.parse().expect("event id"),
            user: USER.parse().expect("user id"),
            other_user: "usr_someone_else".parse().expect("user id"),
            now: Utc.timestamp_opt(NOW, 0).single().expect("instant"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let s = setup();
    if let Ok(claims) = s.tokens.verify(token, &s.event, &s.user, s.now) {
        let jwt = token
            .strip_prefix("rtkn_")
            .expect("accepted tokens carry the prefix");
        assert!(
            common::genuinely_signed(jwt, &s.key),
            "accepted a reservation token the platform did not sign: {token:?}"
        );
        assert_eq!(claims.evt, s.event);
        assert_eq!(claims.sub, s.user);
        assert!(claims.exp > NOW, "expired reservation token accepted");
        assert_eq!(claims.aud, "tacos-reservation");
        assert!(
            s.tokens
                .verify(token, &s.event, &s.other_user, s.now)
                .is_err(),
            "a reservation token passed for another user"
        );
        assert!(
            s.tokens
                .verify(
                    token,
                    &s.event,
                    &s.user,
                    Utc.timestamp_opt(claims.exp, 0).unwrap()
                )
                .is_err(),
            "a reservation token passed at its expiry"
        );
    }
});

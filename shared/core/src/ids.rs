//! Typed identifiers.
//!
//! Every identifier the contract exposes is an opaque string with a type prefix (`evt_…`, `rsv_…`).
//! Each gets its own type so a reservation id can never be passed where an event id is expected,
//! and parsing checks the prefix once, at the edge.

use serde::{Deserialize, Serialize};

/// A fresh random (version 4) UUID from the thread's CSPRNG (`rand`'s `ThreadRng`, seeded and
/// periodically reseeded from the OS), not from a `getrandom` system call per identifier as
/// `Uuid::new_v4` does: a join makes two of them, and the call showed in its profile.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// [`random_uuid`] as 32 lowercase hex digits (`Uuid::simple`).
pub fn random_hex() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    random_uuid().simple().encode_lower(&mut buf).to_owned()
}

/// A string that was not an identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} (expected `{prefix}…`)")]
pub struct InvalidId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random identifier.
            pub fn generate() -> Self {
                let mut buf = uuid::Uuid::encode_buffer();
                let random = random_uuid().simple().encode_lower(&mut buf);
                Self([$prefix, &*random].concat())
            }

            fn is_valid(s: &str) -> bool {
                s.strip_prefix($prefix).is_some_and(|rest| {
                    !rest.is_empty()
                        && rest.len() <= 64
                        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
            }

            fn invalid(s: &str) -> InvalidId {
                InvalidId { kind: $kind, prefix: $prefix, value: s.chars().take(80).collect() }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                if Self::is_valid(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(Self::invalid(s))
                }
            }
        }

        /// Decoding takes the string as is when valid (no second copy).
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                if Self::is_valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(Self::invalid(&s))
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An event on sale (`evt_…`).
    EventId, "evt_", "event id"
);
id_type!(
    /// A place in an event's waiting room (`wtkn_…`).
    WaitingToken, "wtkn_", "waiting token"
);
id_type!(
    /// A reservation: a hold that may become an order (`rsv_…`).
    ReservationId, "rsv_", "reservation id"
);
id_type!(
    /// A simulated payment (`pi_…`).
    PaymentIntentId, "pi_", "payment intent id"
);
id_type!(
    /// A confirmed purchase (`ord_…`).
    OrderId, "ord_", "order id"
);
id_type!(
    /// A buyer or operator (`usr_…`).
    UserId, "usr_", "user id"
);
id_type!(
    /// An entry of the operators' audit log (`aud_…`).
    AuditId, "aud_", "audit entry id"
);

/// A seat of a seated event: `SECTION-NUMBER` such as `A-12`, or `SECTION-ROW-NUMBER` such as
/// `VIP-1-5` in a section numbered by row (`domain::seating`). One spelling per seat: numbers
/// have no leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeatId(String);

impl SeatId {
    pub fn new(section: &str, number: u32) -> Self {
        Self(format!("{section}-{number}"))
    }

    /// Seat `number` of row `row`.
    pub fn in_row(section: &str, row: u32, number: u32) -> Self {
        Self(format!("{section}-{row}-{number}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its section, its row when it names one, and its number.
    pub fn parts(&self) -> (&str, Option<u32>, u32) {
        seat_id_parts(&self.0).unwrap_or((&self.0, None, 0))
    }
}

/// A seat number or row: 1 to 6 digits, no leading zero.
fn is_seat_number(s: &str) -> bool {
    (1..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

/// The parts of `SECTION-NUMBER` or `SECTION-ROW-NUMBER` (a section of 1 to 8 letters or digits),
/// or `None` when `s` is not a seat id: the one parser behind both [`SeatId`]'s `FromStr` and
/// [`SeatId::parts`]. Allocates nothing (it places every seat of a venue when one is read).
fn seat_id_parts(s: &str) -> Option<(&str, Option<u32>, u32)> {
    let mut pieces = s.split('-');
    let section = pieces.next()?;
    let (first, second) = (pieces.next()?, pieces.next());
    let section_ok =
        (1..=8).contains(&section.len()) && section.bytes().all(|b| b.is_ascii_alphanumeric());
    if !section_ok || pieces.next().is_some() {
        return None;
    }
    let number = |n: &str| is_seat_number(n).then(|| n.parse().ok()).flatten();
    match second {
        None => Some((section, None, number(first)?)),
        Some(second) => Some((section, Some(number(first)?), number(second)?)),
    }
}

impl std::str::FromStr for SeatId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        match seat_id_parts(s) {
            Some(_) => Ok(Self(s.to_string())),
            None => Err(InvalidId {
                kind: "seat id",
                prefix: "SECTION-",
                value: s.chars().take(80).collect(),
            }),
        }
    }
}

impl TryFrom<String> for SeatId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        s.parse()
    }
}

impl From<SeatId> for String {
    fn from(id: SeatId) -> String {
        id.0
    }
}

impl std::fmt::Display for SeatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        assert!("evt_demo".parse::<EventId>().is_ok());
        assert!("rsv_demo".parse::<EventId>().is_err());
        assert!("evt_".parse::<EventId>().is_err());
        assert!("evt_a b".parse::<EventId>().is_err());
        assert!(ReservationId::generate().as_str().starts_with("rsv_"));
    }

    #[test]
    fn generated_ids_are_v4_uuids_in_simple_form() {
        let id = WaitingToken::generate();
        let hex = id.as_str().strip_prefix("wtkn_").unwrap();
        let uuid = uuid::Uuid::parse_str(hex).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(uuid.simple().to_string(), hex);
        assert_ne!(WaitingToken::generate(), id);
        assert_eq!(random_hex().len(), 32);
        assert_eq!(String::from(id.clone()).parse::<WaitingToken>(), Ok(id));
        assert!(WaitingToken::try_from("evt_x".to_string()).is_err());
    }

    #[test]
    fn seat_ids_are_section_dash_number_or_section_row_number() {
        assert!("A-12".parse::<SeatId>().is_ok());
        assert!("A12".parse::<SeatId>().is_err());
        assert!("A-".parse::<SeatId>().is_err());
        assert!("-1".parse::<SeatId>().is_err());
        assert!("A-07".parse::<SeatId>().is_err(), "one spelling per seat");
        assert!("VIP-1-5".parse::<SeatId>().is_ok(), "section, row, seat");
        assert!("VIP-01-5".parse::<SeatId>().is_err());
        assert!("VIP-1-5-2".parse::<SeatId>().is_err());
        assert!("VIP-1-".parse::<SeatId>().is_err());
        assert_eq!(SeatId::in_row("VIP", 1, 5).as_str(), "VIP-1-5");
        assert_eq!(SeatId::in_row("VIP", 1, 5).parts(), ("VIP", Some(1), 5));
        assert_eq!(SeatId::new("A", 12).parts(), ("A", None, 12));
        assert_eq!(SeatId::new("B", 3).as_str(), "B-3");
    }
}

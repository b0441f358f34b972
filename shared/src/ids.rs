//! Typed identifiers.
//!
//! Every identifier the contract exposes is an opaque string with a type prefix (`evt_…`, `rsv_…`).
//! Each gets its own type so a reservation id can never be passed where an event id is expected,
//! and parsing checks the prefix once, at the edge.

use serde::{Deserialize, Serialize};

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
                Self(format!("{}{}", $prefix, uuid::Uuid::new_v4().simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let rest = s.strip_prefix($prefix);
                match rest {
                    Some(rest)
                        if !rest.is_empty()
                            && rest.len() <= 64
                            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                    {
                        Ok(Self(s.to_string()))
                    }
                    _ => Err(InvalidId { kind: $kind, prefix: $prefix, value: s.chars().take(80).collect() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                s.parse()
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

/// A seat of a seated event, `SECTION-NUMBER` such as `A-12`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeatId(String);

impl SeatId {
    pub fn new(section: &str, number: u32) -> Self {
        Self(format!("{section}-{number}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SeatId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let valid = s.split_once('-').is_some_and(|(section, number)| {
            (1..=8).contains(&section.len())
                && section.bytes().all(|b| b.is_ascii_alphanumeric())
                && (1..=6).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
                && !number.starts_with('0')
        });
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidId {
                kind: "seat id",
                prefix: "SECTION-",
                value: s.chars().take(80).collect(),
            })
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
    fn seat_ids_are_section_dash_number() {
        assert!("A-12".parse::<SeatId>().is_ok());
        assert!("A12".parse::<SeatId>().is_err());
        assert!("A-".parse::<SeatId>().is_err());
        assert!("-1".parse::<SeatId>().is_err());
        assert!("A-07".parse::<SeatId>().is_err(), "one spelling per seat");
        assert_eq!(SeatId::new("B", 3).as_str(), "B-3");
    }
}

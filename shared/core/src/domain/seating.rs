//! Where a seat is and what it costs: an event's sections, how each numbers its seats, each
//! section's price, and how many decimals the event's currency has.
//!
//! A section is `rows` × `seats_per_row` seats, numbered in one of two ways:
//!
//! * straight through the rows, `A-1` … `A-20` ([`SeatNumbering::Straight`]): the platform's
//!   first numbering, which every section created before rows existed keeps;
//! * by row and seat, `VIP-1-5` for row 1, seat 5 ([`SeatNumbering::ByRow`]): how real venues
//!   print tickets, and what the original gateway's clients send.
//!
//! Either way a seat has a row and a number within it ([`SeatPlace`]), which availability reports
//! so that a seat map can draw the rows. A section may carry its own price (the event's `price`
//! is the default), so the front rows can cost more than the balcony; a hold's total adds up its
//! seats' prices.
//!
//! Amounts are integers in the currency's minor unit: cents for USD and EUR, whole yen and won
//! for JPY and KRW, which have none ([`minor_unit_digits`]).

use serde::{Deserialize, Serialize};

use crate::ids::SeatId;

/// How a section numbers its seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SeatNumbering {
    /// `SECTION-SEAT`, straight through the rows (`A-12`: row 2, seat 2 with 10 to a row).
    #[default]
    #[serde(rename = "SECTION-SEAT")]
    Straight,
    /// `SECTION-ROW-SEAT` (`VIP-1-5`).
    #[serde(rename = "SECTION-ROW-SEAT")]
    ByRow,
}

impl SeatNumbering {
    fn is_straight(&self) -> bool {
        *self == Self::Straight
    }
}

/// A block of a seated event: `rows` × `seats_per_row` seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub rows: u32,
    pub seats_per_row: u32,
    /// How its seat ids are written (`seat_ids` in requests and answers).
    #[serde(
        default,
        rename = "seat_ids",
        skip_serializing_if = "SeatNumbering::is_straight"
    )]
    pub numbering: SeatNumbering,
    /// Price of each of its seats in the currency's minor unit, when not the event's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
}

/// Where a seat is in its section: its row and its number in that row, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeatPlace {
    pub row: u32,
    pub number: u32,
}

impl Section {
    /// A section numbered straight through, at the event's price.
    pub fn straight(name: &str, rows: u32, seats_per_row: u32) -> Self {
        Self {
            name: name.to_string(),
            rows,
            seats_per_row,
            numbering: SeatNumbering::Straight,
            price: None,
        }
    }

    /// Every seat, row by row.
    pub fn seat_ids(&self) -> impl Iterator<Item = SeatId> + '_ {
        let per_row = self.seats_per_row;
        (0..self.rows * per_row).map(move |i| self.seat_at(i / per_row + 1, i % per_row + 1))
    }

    fn seat_at(&self, row: u32, number: u32) -> SeatId {
        match self.numbering {
            SeatNumbering::Straight => {
                SeatId::new(&self.name, (row - 1) * self.seats_per_row + number)
            }
            SeatNumbering::ByRow => SeatId::in_row(&self.name, row, number),
        }
    }

    /// Where `seat` is, if it is one of this section's seats (written as this section writes
    /// them: `VIP-5` is no seat of a section numbered by row).
    pub fn place_of(&self, seat: &SeatId) -> Option<SeatPlace> {
        let (section, row, number) = seat.parts();
        if section != self.name {
            return None;
        }
        let per_row = self.seats_per_row;
        match (self.numbering, row) {
            (SeatNumbering::Straight, None) => {
                (1..=self.rows * per_row)
                    .contains(&number)
                    .then(|| SeatPlace {
                        row: (number - 1) / per_row + 1,
                        number: (number - 1) % per_row + 1,
                    })
            }
            (SeatNumbering::ByRow, Some(row)) => ((1..=self.rows).contains(&row)
                && (1..=per_row).contains(&number))
            .then_some(SeatPlace { row, number }),
            _ => None,
        }
    }

    /// What one of its seats costs, `default` being the event's price.
    pub fn price_or(&self, default: i64) -> i64 {
        self.price.unwrap_or(default)
    }
}

/// Digits after the decimal point of `currency` (ISO 4217's minor unit): 0 for the currencies
/// without one (JPY, KRW, …), 3 for the few with three (BHD, KWD, …), 2 for the rest (USD, EUR).
pub fn minor_unit_digits(currency: &str) -> u32 {
    // ISO 4217, list one (2024): the active codes whose minor unit is not 2.
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if NONE.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(s: &str) -> SeatId {
        s.parse().unwrap()
    }

    #[test]
    fn straight_sections_number_through_the_rows_and_know_each_seats_row() {
        let a = Section::straight("A", 2, 10);
        let ids: Vec<String> = a.seat_ids().map(String::from).collect();
        assert_eq!(ids.len(), 20);
        assert_eq!((ids[0].as_str(), ids[19].as_str()), ("A-1", "A-20"));
        assert_eq!(
            a.place_of(&seat("A-12")),
            Some(SeatPlace { row: 2, number: 2 })
        );
        assert_eq!(a.place_of(&seat("A-21")), None);
        assert_eq!(
            a.place_of(&seat("A-1-2")),
            None,
            "not how this section writes seats"
        );
        assert_eq!(a.place_of(&seat("B-1")), None);
    }

    #[test]
    fn sections_by_row_write_row_and_seat() {
        let vip = Section {
            numbering: SeatNumbering::ByRow,
            price: Some(15_000),
            ..Section::straight("VIP", 2, 5)
        };
        let ids: Vec<String> = vip.seat_ids().map(String::from).collect();
        assert_eq!(
            ids[..6],
            ["VIP-1-1", "VIP-1-2", "VIP-1-3", "VIP-1-4", "VIP-1-5", "VIP-2-1"]
        );
        assert_eq!(
            vip.place_of(&seat("VIP-1-5")),
            Some(SeatPlace { row: 1, number: 5 })
        );
        assert_eq!(vip.place_of(&seat("VIP-3-1")), None);
        assert_eq!(vip.place_of(&seat("VIP-1-6")), None);
        assert_eq!(vip.place_of(&seat("VIP-5")), None);
        assert_eq!(
            (
                vip.price_or(100),
                Section::straight("A", 1, 1).price_or(100)
            ),
            (15_000, 100)
        );
        let json = serde_json::to_value(&vip).unwrap();
        assert_eq!(json["seat_ids"], "SECTION-ROW-SEAT");
        assert_eq!(serde_json::from_value::<Section>(json).unwrap(), vip);
        let plain = serde_json::to_value(Section::straight("A", 1, 1)).unwrap();
        assert!(
            plain.get("seat_ids").is_none() && plain.get("price").is_none(),
            "{plain}"
        );
    }

    #[test]
    fn currencies_know_their_decimals() {
        assert_eq!(minor_unit_digits("USD"), 2);
        assert_eq!(minor_unit_digits("EUR"), 2);
        assert_eq!(minor_unit_digits("KRW"), 0);
        assert_eq!(minor_unit_digits("JPY"), 0);
        assert_eq!(minor_unit_digits("KWD"), 3);
    }
}

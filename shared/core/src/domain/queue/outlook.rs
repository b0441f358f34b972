//! What a waiting person is told about their wait: an estimate, a range, and whether they are
//! likely to miss out.
//!
//! Position ÷ admission rate is right only while there is stock for everyone ahead. Admission
//! never lets in more people than can still buy ([`super::admission`]): the people admitted and
//! not yet holding, plus those holding, take the stock until they buy or give it back (an
//! admission unused for its window, a hold that expires unpaid). So the line moves in waves: the
//! stock free now goes to the people at the front at the admission rate; what the admitted give
//! back comes round again about a [`CYCLE_SECS`] later, and again, each time shrinking by the
//! share of admitted people who buy. Someone the waves never reach is told they are likely to
//! miss out (`likely_sold_out`) rather than given a time.
//!
//! The share who buy (`conversion`) is measured per event: tickets sold per admission that has
//! ended one way or the other, drawn towards "everyone buys" while few have (a prior worth
//! [`PRIOR_WEIGHT`] admissions), so that early on nobody beyond the stock is promised a place.

/// How long an admission that is not used to buy takes to give its place back: the admitted
/// person's window to enter plus the reservation token's life (the admission batch's open time).
pub const CYCLE_SECS: f64 = 60.0;

/// Most a status estimates a wait, in seconds (a day).
pub const MAX_ETA_SECS: f64 = 86_400.0;

/// Admissions' worth of belief that everyone buys, before an event has its own measure.
const PRIOR_WEIGHT: f64 = 5.0;

/// The share of holds that end paid, for the measure of conversion.
const HOLDS_PAID: f64 = 0.85;

/// Below this many places a wave is done.
const SMALLEST_WAVE: f64 = 0.5;

/// What the waiting room knows when it answers a status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFacts {
    /// The person's position: people ahead plus one.
    pub position: u64,
    /// Admissions per second while the sale is open.
    pub rate: f64,
    /// Seats or places not held or sold.
    pub available: i64,
    /// Seats or places held, not yet paid.
    pub held: i64,
    /// People admitted who have not held or given up yet.
    pub open: i64,
    /// Tickets sold.
    pub sold: i64,
    /// People admitted since the line opened.
    pub admitted: u64,
}

/// What the person is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlook {
    pub eta_sec: u64,
    /// The wait is expected to fall between these, in seconds.
    pub eta_range_sec: [u64; 2],
    pub likely_sold_out: bool,
}

impl LineFacts {
    /// The share of admissions that end in a purchase, as this event has measured it so far:
    /// tickets sold, and most of those held ([`HOLDS_PAID`]), per person admitted. People
    /// admitted and not yet holding count as not buying: they are mostly the ones who will not
    /// (a buyer holds within seconds; someone who never enters stays admitted for a whole
    /// cycle), and counting only admissions that ended would overweight the quick buyers.
    pub fn conversion(&self) -> f64 {
        let bought = self.sold.max(0) as f64 + HOLDS_PAID * self.held.max(0) as f64;
        ((bought + PRIOR_WEIGHT) / (self.admitted as f64 + PRIOR_WEIGHT)).clamp(0.02, 1.0)
    }

    /// The estimate of when this person is admitted, its range, and whether they likely miss out.
    pub fn outlook(&self) -> Outlook {
        let rate = self.rate.max(0.01);
        let k = self.position.max(1) as f64;
        let keep = 1.0 - self.conversion();
        // What is free now, and what the admitted and holding give back half a cycle from now
        // on average, then each wave's share of it a cycle after that.
        let room = (self.available - self.open).max(0) as f64;
        let occupied = (self.open + self.held).max(0) as f64;
        let waves = Waves {
            fresh: (0.0, room),
            returning: (CYCLE_SECS / 2.0, occupied * keep),
            keep,
        };
        let mut admitted = 0.0;
        let mut free_at = 0.0_f64;
        for (at, size) in waves {
            let start = at.max(free_at);
            if start > MAX_ETA_SECS {
                break;
            }
            if admitted + size >= k {
                let eta = (start + (k - admitted) / rate).max(k / rate);
                return Outlook {
                    eta_sec: eta.ceil().min(MAX_ETA_SECS) as u64,
                    eta_range_sec: range(eta, start > 0.0),
                    likely_sold_out: false,
                };
            }
            admitted += size;
            free_at = start + size / rate;
        }
        // The waves end before reaching this person: the stock runs out first.
        let eta = (free_at + CYCLE_SECS).min(MAX_ETA_SECS);
        Outlook {
            eta_sec: eta.ceil() as u64,
            eta_range_sec: range(eta, true),
            likely_sold_out: true,
        }
    }
}

/// The range told around an estimate: narrower while stock is free now (only the rate's
/// steadiness matters), wider once the wait depends on places coming back (when, and how many).
fn range(eta: f64, waits_for_returns: bool) -> [u64; 2] {
    let (low, high, slack) = if waits_for_returns {
        (0.25, 1.6, CYCLE_SECS / 2.0)
    } else {
        (0.45, 1.35, 5.0)
    };
    [
        (eta * low).floor() as u64,
        (eta * high + slack).ceil().min(MAX_ETA_SECS) as u64,
    ]
}

/// The waves of places in time order: `(when, how many)`.
struct Waves {
    /// The next wave of the places free now and of what they give back.
    fresh: (f64, f64),
    /// The next wave of what the people admitted or holding now give back.
    returning: (f64, f64),
    keep: f64,
}

impl Iterator for Waves {
    type Item = (f64, f64);

    fn next(&mut self) -> Option<(f64, f64)> {
        let pick = |w: &mut (f64, f64), keep: f64| {
            let out = *w;
            *w = (w.0 + CYCLE_SECS, w.1 * keep);
            out
        };
        let fresh_live = self.fresh.1 >= SMALLEST_WAVE;
        let returning_live = self.returning.1 >= SMALLEST_WAVE;
        match (fresh_live, returning_live) {
            (false, false) => None,
            (true, false) => Some(pick(&mut self.fresh, self.keep)),
            (false, true) => Some(pick(&mut self.returning, self.keep)),
            (true, true) if self.fresh.0 <= self.returning.0 => {
                Some(pick(&mut self.fresh, self.keep))
            }
            (true, true) => Some(pick(&mut self.returning, self.keep)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(position: u64) -> LineFacts {
        LineFacts {
            position,
            rate: 5.0,
            available: 20,
            held: 0,
            open: 0,
            sold: 0,
            admitted: 0,
        }
    }

    #[test]
    fn with_stock_to_spare_the_wait_is_position_over_rate() {
        let outlook = LineFacts {
            available: 1_000,
            ..facts(40)
        }
        .outlook();
        assert_eq!(outlook.eta_sec, 8);
        assert!(!outlook.likely_sold_out);
        assert!(outlook.eta_range_sec[0] <= 8 && outlook.eta_range_sec[1] >= 8);
    }

    #[test]
    fn before_anyone_has_bought_people_beyond_the_stock_are_told_they_may_miss_out() {
        assert!(!facts(20).outlook().likely_sold_out);
        assert!(facts(21).outlook().likely_sold_out);
        assert!(facts(41).outlook().likely_sold_out);
    }

    #[test]
    fn when_the_admitted_do_not_buy_the_line_moves_a_stock_a_cycle() {
        // The case: 20 places, 5 a second, and 40 people admitted so far of whom nobody
        // bought (two waves came and went): position 21 of the next wave waits about a cycle,
        // 41 about two.
        let nobody_buys = LineFacts {
            admitted: 40,
            ..facts(1)
        };
        let at = |position| {
            LineFacts {
                position,
                ..nobody_buys
            }
            .outlook()
        };
        assert_eq!(at(1).eta_sec, 1);
        let (p21, p41) = (at(21), at(41));
        assert!(!p21.likely_sold_out && !p41.likely_sold_out);
        assert!((55..=70).contains(&p21.eta_sec), "{p21:?}");
        assert!((115..=135).contains(&p41.eta_sec), "{p41:?}");
        assert!(p41.eta_range_sec[0] < 120 && p41.eta_range_sec[1] > 120);
    }

    #[test]
    fn when_everyone_buys_nobody_beyond_the_stock_is_promised_a_place() {
        let everyone_buys = LineFacts {
            available: 5,
            sold: 95,
            admitted: 95,
            ..facts(1)
        };
        assert!(everyone_buys.conversion() > 0.99);
        assert!(
            !LineFacts {
                position: 5,
                ..everyone_buys
            }
            .outlook()
            .likely_sold_out
        );
        assert!(
            LineFacts {
                position: 7,
                ..everyone_buys
            }
            .outlook()
            .likely_sold_out
        );
    }

    #[test]
    fn places_held_now_come_back_by_the_share_that_does_not_buy() {
        // Half of those admitted buy; 10 places are held now and nothing is free: about 5 come
        // back within a cycle.
        let half = LineFacts {
            available: 0,
            held: 10,
            sold: 50,
            admitted: 110,
            ..facts(1)
        };
        assert!(
            (half.conversion() - 0.54).abs() < 0.05,
            "{}",
            half.conversion()
        );
        let first = half.outlook();
        assert!(!first.likely_sold_out);
        assert!((30..=40).contains(&first.eta_sec), "{first:?}");
        assert!(
            LineFacts {
                position: 30,
                ..half
            }
            .outlook()
            .likely_sold_out
        );
    }

    #[test]
    fn estimates_never_go_down_with_position() {
        let facts = LineFacts {
            available: 30,
            held: 12,
            open: 8,
            sold: 40,
            admitted: 90,
            ..facts(1)
        };
        let mut last = 0;
        for position in 1..400 {
            let outlook = LineFacts { position, ..facts }.outlook();
            assert!(outlook.eta_sec >= last, "position {position}: {outlook:?}");
            assert!(outlook.eta_range_sec[0] <= outlook.eta_sec);
            assert!(outlook.eta_range_sec[1] >= outlook.eta_sec);
            last = outlook.eta_sec;
        }
    }
}

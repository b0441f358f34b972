//! What a waiting person is told about their wait: an estimate, a range, and whether they are
//! likely to miss out.
//!
//! Position ÷ admission rate is right only while there is stock for everyone ahead. Admission
//! never lets in more people than can still buy ([`super::admission`]): the people admitted and
//! not yet holding, plus those holding, take the stock until they buy or give it back (an
//! admission unused for its window, a hold that expires unpaid). So once the stock free now is
//! taken, the line moves as places come back, and `Flow` follows them second by second:
//!
//! * an admission unused comes back when its batch closes, which the process knows from the open
//!   batches it reads with its view ([`Returning`]); in a batch whose people may still enter, those
//!   expected to hold are left out;
//! * a share of the places held now comes back as the holds expire unpaid, spread over a cycle;
//! * every place given out again comes back a [`CYCLE_SECS`] later, less the share who buy.
//!
//! Someone the places never reach is told they are likely to miss out (`likely_sold_out`)
//! rather than given a time.
//!
//! The share who buy is what the recent admissions did (of those whose window to enter is over,
//! the share that held or gave up their place), or, before there are enough of them, the event's
//! totals (`conversion`): tickets sold per admission, drawn towards "everyone buys" while few
//! have (a prior worth [`PRIOR_WEIGHT`] admissions), so that early on nobody beyond the stock is
//! promised a place. Near a sale's end the two differ most (BENCHMARKS.md §12.2).

/// How long an admission that is not used to buy takes to give its place back: the admitted
/// person's window to enter plus the reservation token's life (the admission batch's open time).
pub const CYCLE_SECS: f64 = 60.0;

/// Most a status estimates a wait, in seconds (a day).
pub const MAX_ETA_SECS: f64 = 86_400.0;

/// Admissions' worth of belief that everyone buys, before an event has its own measure.
const PRIOR_WEIGHT: f64 = 5.0;

/// The share of holds that end paid, for the measure of conversion.
const HOLDS_PAID: f64 = 0.85;

/// Below this many places (free and coming back) the flow is done.
const SMALLEST_FLOW: f64 = 0.5;

/// What the waiting room knows when it answers a status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFacts<'a> {
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
    /// What the people admitted and not holding yet will give back, when the open admissions
    /// were read with the view: when their places come back, and the share of recent
    /// admissions that took a hold. Without it, the event's totals stand in.
    pub returning: Option<&'a Returning>,
}

/// What the open admissions will give back, from one read of them
/// (`admission::OpenBatches::returning`), by the second (from the read) their batches close.
#[derive(Debug, Clone, PartialEq)]
pub struct Returning {
    /// People still open in batches whose window to enter is over: they all come back.
    pub over: [f64; CYCLE],
    /// Batches whose people may still enter: how many they admitted, and how many are still
    /// open (the others held or gave their place up); those expected to hold are left out.
    pub entering: [Admitted; CYCLE],
    /// Of the recent admissions whose window to enter is over, the share no longer open (they
    /// held, or gave their place up): what the people admitted now are expected to do.
    pub took: Option<f64>,
}

/// People admitted, and of them those still open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Admitted {
    pub admitted: f64,
    pub open: f64,
}

impl Returning {
    /// Places coming back in each second, those of the batches still entering counted by the
    /// share `took` expected to hold.
    fn by_second(&self, took: f64) -> [f64; CYCLE] {
        std::array::from_fn(|second| {
            let Admitted { admitted, open } = self.entering[second];
            let will_hold = (admitted * took - (admitted - open)).max(0.0);
            self.over[second] + (open - will_hold).max(0.0)
        })
    }
}

/// What the person is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlook {
    pub eta_sec: u64,
    /// The wait is expected to fall between these, in seconds.
    pub eta_range_sec: [u64; 2],
    pub likely_sold_out: bool,
}

impl LineFacts<'_> {
    /// The share of admissions that end in a purchase, as this event has measured it so far:
    /// tickets sold, and most of those held ([`HOLDS_PAID`]), per person admitted. People
    /// admitted and not yet holding count as not buying: they are mostly the ones who will not
    /// (a buyer holds within seconds; someone who never enters stays admitted for a whole
    /// cycle), and counting only admissions that ended would overweight the quick buyers.
    pub fn conversion(&self) -> f64 {
        let bought = self.sold.max(0) as f64 + HOLDS_PAID * self.held.max(0) as f64;
        ((bought + PRIOR_WEIGHT) / (self.admitted as f64 + PRIOR_WEIGHT)).clamp(0.02, 1.0)
    }

    /// The share of the people admitted next whose places come back a cycle later: by what the
    /// recent admissions did when it is known, else by the event's totals. Near the end of a
    /// sale the two differ most: the people still being admitted are more and more those who
    /// stopped asking long ago and are kept in line until they are given up, while the totals
    /// are set by the eager buyers at the front (BENCHMARKS.md §12).
    fn keep(&self) -> f64 {
        match self.returning.and_then(|r| r.took) {
            Some(took) => 1.0 - took * HOLDS_PAID,
            None => 1.0 - self.conversion(),
        }
    }

    /// The share of the people admitted now expected to hold (or give their place up): what the
    /// recent admissions did, or while that is not known, the event's totals' share.
    fn took(&self) -> f64 {
        match self.returning.and_then(|r| r.took) {
            Some(took) => took,
            None => (self.conversion() / HOLDS_PAID).min(1.0),
        }
    }

    /// The places coming back in each second of the next cycle: what the open admissions give
    /// back, and the share of held places whose holds expire unpaid, spread over the cycle.
    fn returns(&self, keep: f64) -> [f64; CYCLE] {
        match self.returning {
            Some(returning) => {
                let held = self.held.max(0) as f64 * (1.0 - HOLDS_PAID) / CYCLE_SECS;
                returning.by_second(self.took()).map(|open| open + held)
            }
            None => [(self.open + self.held).max(0) as f64 * keep / CYCLE_SECS; CYCLE],
        }
    }

    /// The estimate of when this person is admitted, its range, and whether they likely miss out.
    pub fn outlook(&self) -> Outlook {
        // The operator's rate as set, however slow: a floor of 0.01 a second told a line
        // admitting one person in 1,000 s that each place took 100 s (found by a probe). Only
        // kept from zero: slower than one admission in the longest wait told is that wait.
        let rate = self.rate.max(1.0 / MAX_ETA_SECS);
        let k = self.position.max(1) as f64;
        // What is free now and not promised to someone admitted already.
        let room = (self.available - self.open).max(0) as f64;
        if room >= k {
            let eta = k / rate;
            return Outlook {
                eta_sec: eta.ceil().min(MAX_ETA_SECS) as u64,
                eta_range_sec: range(eta, false),
                likely_sold_out: false,
            };
        }
        let keep = self.keep();
        match Flow::new(room, self.returns(keep), rate, keep).run(k) {
            (Some(eta), _) => Outlook {
                eta_sec: eta.ceil().min(MAX_ETA_SECS) as u64,
                eta_range_sec: range(eta, true),
                likely_sold_out: false,
            },
            // The places run out before reaching this person: told a cycle after the last one
            // is given.
            (None, last) => {
                let eta = (last + CYCLE_SECS).min(MAX_ETA_SECS);
                Outlook {
                    eta_sec: eta.ceil() as u64,
                    eta_range_sec: range(eta, true),
                    likely_sold_out: true,
                }
            }
        }
    }
}

/// The range told around an estimate: narrower while stock is free now (only the rate's
/// steadiness matters), wider once the wait depends on places coming back (when, and how many).
/// Each end is capped at [`MAX_ETA_SECS`] as the estimate told is, so the range always holds it:
/// capping only the high end told a wait past a day as `eta_sec` 86,400 with a range starting
/// above it (`[116640, 86400]`, found by a probe at the slowest admission rate).
fn range(eta: f64, waits_for_returns: bool) -> [u64; 2] {
    let (low, high, slack) = if waits_for_returns {
        (0.25, 1.6, CYCLE_SECS / 2.0)
    } else {
        (0.45, 1.35, 5.0)
    };
    [
        (eta * low).floor().min(MAX_ETA_SECS) as u64,
        (eta * high + slack).ceil().min(MAX_ETA_SECS) as u64,
    ]
}

/// Seconds in one cycle: the slots of a [`Returning`] and of the flow's ring.
pub const CYCLE: usize = CYCLE_SECS as usize;

/// The places of the line, second by second: those coming back ([`LineFacts::returns`]) are
/// free in their second, free places are admitted at the rate, and each admitted place comes
/// back (the share `keep`) a cycle after its admission.
///
/// A status pays for every step, and the people it is hardest for are the many far beyond the
/// stock, whose flow runs until it dies out: when few buy (`keep` near 1, as in a sale's first
/// minute, before anyone has held) that is hundreds of cycles. So the two regimes in which one
/// cycle repeats the last are crossed many cycles at once ([`Flow::skip_cycles`]), leaving only
/// the cycles where the flow changes regime, reaches the person or dies to be followed.
#[derive(Clone)]
struct Flow {
    rate: f64,
    keep: f64,
    /// Seconds from now.
    t: f64,
    /// Places free at `t`.
    free: f64,
    /// People admitted by `t`.
    admitted: f64,
    /// `returns[s % CYCLE]`: places coming back in second `s` of the cycle ahead of `t`.
    returns: [f64; CYCLE],
    /// Sum of `returns`.
    pending: f64,
}

impl Flow {
    fn new(room: f64, returns: [f64; CYCLE], rate: f64, keep: f64) -> Self {
        Self {
            rate,
            keep,
            t: 0.0,
            free: room,
            admitted: 0.0,
            pending: returns.iter().sum(),
            returns,
        }
    }

    /// One second: what comes back is free, up to the rate is admitted, and the admitted's
    /// places are booked to come back a cycle later. Whether anything is left to give.
    fn step(&mut self) -> bool {
        let slot = (self.t as usize) % CYCLE;
        self.free += self.returns[slot];
        self.pending -= self.returns[slot];
        let admitted = self.free.min(self.rate);
        self.free -= admitted;
        self.admitted += admitted;
        self.returns[slot] = admitted * self.keep;
        self.pending += self.returns[slot];
        self.t += 1.0;
        self.free + self.pending >= SMALLEST_FLOW
    }

    /// Moves through the seconds in which the places free now outlast whatever comes back (each
    /// admits the full rate) at once: a stock of a million must not cost a million steps. It
    /// stops a cycle short of when the free places would run out, so every place booked to come
    /// back after that is in the ring (one per second, the rate's share that does not buy).
    fn skip_while_free(&mut self) {
        let seconds = (self.free / self.rate).floor() - CYCLE_SECS;
        if seconds < CYCLE_SECS {
            return;
        }
        let booked = self.rate * self.keep;
        self.admitted += seconds * self.rate;
        // What was coming back, and what the skipped seconds booked that came back within them.
        self.free += self.pending + (seconds - CYCLE_SECS) * booked - seconds * self.rate;
        self.returns = [booked; CYCLE];
        self.pending = booked * CYCLE_SECS;
        self.t += seconds;
    }

    /// Moves a whole cycle at once while nothing is free and every second's returns are
    /// admitted in that second (then the next cycle is this one times `keep`), if the cycle
    /// ends before the `k`th admission. Whether it moved.
    fn skip_cycle(&mut self, k: f64) -> bool {
        let admits_all = self.free <= 1e-9 && self.returns.iter().all(|&r| r <= self.rate);
        if !admits_all || self.admitted + self.pending >= k {
            return false;
        }
        self.admitted += self.pending;
        for r in &mut self.returns {
            *r *= self.keep;
        }
        self.pending *= self.keep;
        self.t += CYCLE_SECS;
        true
    }

    /// Moves as many whole cycles at once as can be known to repeat the one before, in either
    /// regime, short of the `k`th admission, of the flow's end and of a day (by a cycle, so that
    /// those moments are found by [`Flow::skip_cycle`] and [`Flow::step`] exactly as when every
    /// cycle was followed):
    ///
    /// * *full*: every second admits the full rate and each place given comes back (the share
    ///   `keep`) in its second a cycle on, so every cycle uses up the same number of free
    ///   places, `CYCLE_SECS × rate × (1 − keep)`, until too few are left to cover a cycle;
    /// * *starved*: nothing is free and every second's returns are admitted in that second,
    ///   so each cycle is the last one times `keep` (a geometric series: after `n` cycles,
    ///   `pending × (1 − keepⁿ) / (1 − keep)` more admitted, `pending × keepⁿ` still to come).
    ///
    /// Whether it moved.
    fn skip_cycles(&mut self, k: f64) -> bool {
        // A cycle's margin short of a day.
        let by_time = (MAX_ETA_SECS - self.t) / CYCLE_SECS - 1.0;
        if self.free > 0.0 {
            self.skip_full_cycles(k, by_time)
        } else {
            self.skip_starved_cycles(k, by_time)
        }
    }

    /// The full regime of [`Flow::skip_cycles`]. How many cycles are known before the (cheap)
    /// check that the regime holds, so that a flow about to reach `k` pays only a division.
    fn skip_full_cycles(&mut self, k: f64, by_time: f64) -> bool {
        let booked = self.rate * self.keep;
        let used = CYCLE_SECS * (self.rate - booked);
        let by_free = if used > 1e-9 {
            self.free / used - 1.0
        } else {
            f64::INFINITY
        };
        let by_k = (k - self.admitted) / (CYCLE_SECS * self.rate) - 1.0;
        let n = by_free.min(by_k).min(by_time).floor();
        let full = || {
            let close = 1e-9 * booked.max(1.0);
            self.returns.iter().all(|&r| (r - booked).abs() <= close)
        };
        if n < 1.0 || !full() {
            return false;
        }
        self.admitted += n * CYCLE_SECS * self.rate;
        self.free -= n * used;
        self.t += n * CYCLE_SECS;
        true
    }

    /// The starved regime of [`Flow::skip_cycles`], in the same order as the full one.
    fn skip_starved_cycles(&mut self, k: f64, by_time: f64) -> bool {
        let (pending, keep) = (self.pending, self.keep);
        // Not even two cycles before `k` (admitted + pending × (1 + keep) ≥ k) or the end: the
        // usual case near the person, told apart without a logarithm.
        if self.free > 1e-9
            || pending * keep < SMALLEST_FLOW
            || self.admitted + pending * (1.0 + keep) >= k
        {
            return false;
        }
        let geometric = keep < 1.0 - 1e-9;
        let (by_k, by_end) = if geometric {
            // Cycles n with admitted + pending × (1 − keepⁿ) / (1 − keep) < k, and with
            // pending × keepⁿ ≥ SMALLEST_FLOW.
            let left = 1.0 - (k - self.admitted) * (1.0 - keep) / pending;
            let by_k = if left > 0.0 {
                left.ln() / keep.ln()
            } else {
                f64::INFINITY
            };
            (by_k, (SMALLEST_FLOW / pending).ln() / keep.ln())
        } else {
            ((k - self.admitted) / pending, f64::INFINITY)
        };
        let n = (by_k.min(by_end) - 1.0).min(by_time).floor();
        if n < 1.0 || self.returns.iter().any(|&r| r > self.rate) {
            return false;
        }
        let factor = keep.powf(n);
        self.admitted += if geometric {
            pending * (1.0 - factor) / (1.0 - keep)
        } else {
            pending * n
        };
        for r in &mut self.returns {
            *r *= factor;
        }
        self.pending *= factor;
        self.t += n * CYCLE_SECS;
        true
    }

    /// Follows the flow until the `k`th person is admitted, or the places run out, or a day has
    /// passed: when the `k`th was admitted, if they were (a day at most), and when the last
    /// place was given by then.
    // Not inlined into `LineFacts::outlook`: inlined, a status whose places come back took
    // 720 ns where it takes 490 (`cargo bench -p tacos-embedded --bench domain -- outlook`).
    #[inline(never)]
    fn run(mut self, k: f64) -> (Option<f64>, f64) {
        self.skip_while_free();
        let mut last = 0.0;
        // When to look for repeating cycles again: at most once a cycle while neither regime
        // holds, so that following the seconds costs no more than it did.
        let mut look_from = 0.0;
        while self.t < MAX_ETA_SECS {
            if self.t >= look_from {
                if self.skip_cycles(k) {
                    last = self.t;
                    continue;
                }
                look_from = self.t + CYCLE_SECS;
            }
            if self.skip_cycle(k) {
                last = self.t;
                if self.pending < SMALLEST_FLOW {
                    return (None, last);
                }
                continue;
            }
            let before = self.admitted;
            let live = self.step();
            if self.admitted >= k {
                // Within the second: people are admitted evenly across it.
                let within = (k - before) / (self.admitted - before);
                return (Some((self.t - 1.0 + within).max(k / self.rate)), self.t);
            }
            if self.admitted - before > 1e-9 {
                last = self.t;
            }
            if !live {
                return (None, last);
            }
        }
        (Some(MAX_ETA_SECS), last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(position: u64) -> LineFacts<'static> {
        LineFacts {
            position,
            rate: 5.0,
            available: 20,
            held: 0,
            open: 0,
            sold: 0,
            admitted: 0,
            returning: None,
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

    /// However slowly the operator admits, the wait told follows that rate: one person in
    /// 1,000 s is told 1,000 s, not the 100 s a floor of 0.01 a second made it; slower than one in
    /// a day is told a day, also when places must come back first.
    #[test]
    fn a_very_slow_rate_is_told_as_it_is() {
        let slow = |rate: f64, available: i64| {
            LineFacts {
                rate,
                available,
                ..facts(1)
            }
            .outlook()
        };
        assert_eq!(slow(0.001, 1_000).eta_sec, 1_000);
        assert_eq!(slow(1e-300, 1_000).eta_sec, MAX_ETA_SECS as u64);
        let starved = LineFacts {
            rate: 1e-300,
            available: 0,
            held: 5,
            ..facts(3)
        }
        .outlook();
        assert!(starved.eta_sec <= MAX_ETA_SECS as u64, "{starved:?}");
    }

    /// Ops probe, item 8: at the slowest rate the wait told is capped at a day, and its range
    /// holds it (it started at 116,640 s, above the 86,400 told), with stock to spare or not.
    #[test]
    fn a_wait_capped_at_a_day_is_inside_its_range() {
        for rate in [5e-324, 1e-300, 1e-6, 1.0 / MAX_ETA_SECS] {
            for (available, held) in [(1_000, 0), (0, 5), (3, 40)] {
                for position in 1..8 {
                    let outlook = LineFacts {
                        rate,
                        available,
                        held,
                        ..facts(position)
                    }
                    .outlook();
                    let [low, high] = outlook.eta_range_sec;
                    assert!(
                        low <= outlook.eta_sec && outlook.eta_sec <= high,
                        "{rate} {available} {held} {position}: {outlook:?}"
                    );
                    assert!(high <= MAX_ETA_SECS as u64, "{outlook:?}");
                }
            }
        }
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
        // back within a cycle, one every twelve seconds or so (the holds end at moments spread
        // over it).
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
        let at = |position| LineFacts { position, ..half }.outlook();
        let (first, fourth) = (at(1), at(4));
        assert!(!first.likely_sold_out && !fourth.likely_sold_out);
        assert!((10..=20).contains(&first.eta_sec), "{first:?}");
        assert!((45..=60).contains(&fourth.eta_sec), "{fourth:?}");
        assert!(
            LineFacts {
                position: 30,
                ..half
            }
            .outlook()
            .likely_sold_out
        );
    }

    /// Nothing is free, and ten people admitted 40 seconds ago never entered: their places come
    /// back when their batch closes, 20 seconds from now, not over some average cycle.
    fn closing_batch(took: Option<f64>) -> Returning {
        let mut over = [0.0; CYCLE];
        over[20] = 10.0;
        Returning {
            over,
            entering: [Admitted::default(); CYCLE],
            took,
        }
    }

    #[test]
    fn places_come_back_when_the_batches_holding_them_close() {
        let returning = closing_batch(Some(0.5));
        let near_the_end = LineFacts {
            available: 10,
            open: 10,
            sold: 90,
            admitted: 100,
            returning: Some(&returning),
            ..facts(1)
        };
        let at = |position| {
            LineFacts {
                position,
                ..near_the_end
            }
            .outlook()
        };
        assert!((20..=22).contains(&at(1).eta_sec), "{:?}", at(1));
        assert!((21..=24).contains(&at(10).eta_sec), "{:?}", at(10));
        // The eleventh waits for the share of those ten that does not buy, a cycle later.
        let eleventh = at(11);
        assert!(!eleventh.likely_sold_out);
        assert!((80..=90).contains(&eleventh.eta_sec), "{eleventh:?}");
    }

    #[test]
    fn the_share_that_comes_back_is_what_the_recent_admissions_did() {
        // The totals say nine in ten buy; the people admitted lately mostly did not.
        let (eager, absent) = (closing_batch(Some(0.9)), closing_batch(Some(0.1)));
        let facts = |returning| LineFacts {
            position: 16,
            available: 10,
            open: 10,
            sold: 90,
            admitted: 100,
            returning: Some(returning),
            ..facts(1)
        };
        assert!(
            facts(&eager).outlook().likely_sold_out,
            "16th of 10 places, most buying"
        );
        let outlook = facts(&absent).outlook();
        assert!(!outlook.likely_sold_out, "{outlook:?}");
        assert!((80..=90).contains(&outlook.eta_sec), "{outlook:?}");
    }

    /// Follows every second, without the skips: what the skips must agree with (the time the
    /// `k`th is admitted, `None` if never; and when the last place was given by then).
    fn second_by_second(mut flow: Flow, k: f64) -> (Option<f64>, f64) {
        let mut last = 0.0;
        while flow.t < MAX_ETA_SECS {
            let before = flow.admitted;
            let live = flow.step();
            if flow.admitted >= k {
                let within = (k - before) / (flow.admitted - before);
                return (Some((flow.t - 1.0 + within).max(k / flow.rate)), flow.t);
            }
            if flow.admitted - before > 1e-9 {
                last = flow.t;
            }
            if !live {
                return (None, last);
            }
        }
        (Some(MAX_ETA_SECS), last)
    }

    #[test]
    fn the_skips_agree_with_following_every_second() {
        // (free now, coming back over the next cycle, rate, keep, position)
        let cases = [
            // A stock of a hundred thousand: the free seconds are skipped, and the position is
            // reached by the rate, or by what comes back after the stock.
            (100_000.0, 50.0, 25.0, 0.3, 100_040.0),
            (100_000.0, 50.0, 25.0, 0.3, 99_000.0),
            (100_000.0, 0.0, 25.0, 0.05, 104_000.0),
            (100_000.0, 0.0, 25.0, 0.05, 105_200.0),
            (100_000.0, 0.0, 25.0, 0.05, 106_000.0),
            // Nothing free, returns below the rate: whole cycles are skipped.
            (0.0, 30.0, 25.0, 0.5, 45.0),
            (0.0, 600.0, 5.0, 0.9, 2_000.0),
            // Returns above the rate, then below it.
            (10.0, 3_000.0, 25.0, 0.4, 3_500.0),
            // Hardly anyone buys (a sale's first minute): hundreds of starved cycles, reaching
            // the position or dying out first.
            (0.0, 1_470.0, 25.0, 0.98, 30_000.0),
            (0.0, 1_470.0, 25.0, 0.98, 60_000.0),
            (0.0, 1_470.0, 25.0, 0.98, 1e6),
            // Admission slowed below what comes back: full cycles, the free places running
            // down slowly, then starved ones.
            (0.0, 1_470.0, 8.0, 0.98, 5_000.0),
            (0.0, 1_470.0, 8.0, 0.98, 30_000.0),
            (0.0, 1_470.0, 8.0, 0.98, 1e6),
            (5_000.0, 1_470.0, 8.0, 0.9, 1e6),
            // Nobody buys: the flow never dies, and a day is the longest wait told.
            (0.0, 600.0, 25.0, 1.0, 50_000.0),
            (0.0, 600.0, 25.0, 1.0, 1e7),
            (0.0, 3_000.0, 25.0, 1.0, 1e7),
            // Everyone buys: one cycle of returns, then nothing.
            (0.0, 600.0, 25.0, 0.0, 1e6),
        ];
        for (room, back, rate, keep, k) in cases {
            let flow = Flow::new(room, [back / CYCLE_SECS; CYCLE], rate, keep);
            let (skipping, stepping) = (flow.clone().run(k), second_by_second(flow, k));
            let case = format!("{room} {back} {rate} {keep} {k}: {skipping:?} {stepping:?}");
            match (skipping, stepping) {
                ((Some(a), _), (Some(b), _)) => assert!((a - b).abs() < 1.0, "{case}"),
                // Never reached: the last place given within the cycle that was skipped whole.
                ((None, a), (None, b)) => assert!((a - b).abs() <= CYCLE_SECS, "{case}"),
                _ => panic!("{case}"),
            }
        }
        // Someone the places never reach, with a stock of a hundred thousand before them.
        let flow = Flow::new(100_000.0, [1.0; CYCLE], 25.0, 0.3);
        assert_eq!(flow.clone().run(1e9).0, None);
        assert_eq!(second_by_second(flow, 1e9).0, None);
    }

    #[test]
    fn far_beyond_the_stock_the_estimates_never_go_down_with_position() {
        // A sale's first minute, admission slowed: nobody has held, so nearly every place is
        // expected back; the people beyond what ever comes back are told they may miss out.
        let facts = LineFacts {
            position: 1,
            rate: 8.0,
            available: 2_000,
            held: 0,
            open: 1_500,
            sold: 0,
            admitted: 1_500,
            returning: None,
        };
        let mut last = Outlook {
            eta_sec: 0,
            eta_range_sec: [0, 0],
            likely_sold_out: false,
        };
        for position in (1..200_000).step_by(997) {
            let outlook = LineFacts { position, ..facts }.outlook();
            assert!(
                outlook.eta_sec >= last.eta_sec,
                "{position}: {outlook:?} after {last:?}"
            );
            assert!(
                outlook.likely_sold_out >= last.likely_sold_out,
                "{position}: {outlook:?}"
            );
            last = outlook;
        }
        assert!(last.likely_sold_out, "{last:?}");
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

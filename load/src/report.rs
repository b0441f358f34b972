//! The run's report: a table for people, JSON for scripts (`scripts/bench.sh` reads it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ledger::Ledger;
use crate::pace::{Load, Paced, Stop};
use crate::record::{RouteSummary, SecondSummary};
use crate::scenario::Flows;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub base_url: String,
    pub load: Load,
    pub stop: Stop,
    pub paced: Paced,
    /// Requests answered per second over the whole run, all routes.
    pub requests_per_sec: f64,
    /// Requests answered with anything but 2xx, or not at all.
    pub errors: u64,
    pub routes: Vec<RouteSummary>,
    pub flows: Option<FlowReport>,
    pub ledger: Option<Ledger>,
    pub timeline: Vec<SecondSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub bought: u64,
    pub sold_out: u64,
    pub failed: u64,
    /// Confirmed purchases per second of the run.
    pub bought_per_sec: f64,
    pub failures: BTreeMap<String, u64>,
}

impl FlowReport {
    /// The tally of a purchase run that lasted `seconds`.
    pub fn new(flows: &Flows, seconds: f64) -> Self {
        Self {
            bought: flows.bought,
            sold_out: flows.sold_out,
            failed: flows.failed(),
            bought_per_sec: flows.bought as f64 / seconds.max(1e-9),
            failures: flows.failures.clone(),
        }
    }
}

impl Report {
    /// Whether the run is clean: nothing skipped, the ledger balances, and no request failed
    /// (in a purchase run, no buyer failed: a buyer told "sold out" or "not ready yet" by a 4xx
    /// got a right answer).
    pub fn clean(&self) -> bool {
        let none_failed = match &self.flows {
            Some(flows) => flows.failed == 0,
            None => self.errors == 0,
        };
        none_failed && self.paced.skipped == 0 && self.ledger.as_ref().is_none_or(Ledger::balanced)
    }

    /// The human-readable summary printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let load = match self.load {
            Load::FixedRate { per_sec } => format!("fixed rate {per_sec}/s (open model)"),
            Load::MaxRate { workers } => format!("max rate, {workers} workers (closed model)"),
        };
        let _ = writeln!(
            out,
            "\n{} against {}: {load}; {} started in {:.1} s ({} skipped by the driver)",
            self.scenario,
            self.base_url,
            self.paced.started,
            self.paced.seconds,
            self.paced.skipped
        );
        let _ = writeln!(
            out,
            "{:<26} {:>9} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "route", "requests", "per sec", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        for r in &self.routes {
            let _ = writeln!(
                out,
                "{:<26} {:>9} {:>10.1} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                r.label,
                r.requests,
                r.per_sec,
                r.errors,
                r.latency_ms.p50,
                r.latency_ms.p95,
                r.latency_ms.p99,
                r.latency_ms.max
            );
            for (answer, n) in r.answers.iter().filter(|(a, _)| !a.starts_with('2')) {
                let _ = writeln!(out, "    {n:>9} × {answer}");
            }
        }
        let _ = writeln!(
            out,
            "all routes: {:.1} requests/s, {} errors",
            self.requests_per_sec, self.errors
        );
        if let Some(f) = &self.flows {
            let _ = writeln!(
                out,
                "flows: {} bought ({:.1}/s), {} told sold out, {} failed",
                f.bought, f.bought_per_sec, f.sold_out, f.failed
            );
            for (why, n) in &f.failures {
                let _ = writeln!(out, "    {n:>9} × {why}");
            }
        }
        if let Some(l) = &self.ledger {
            let verdict = if l.balanced() {
                "balanced"
            } else {
                "DOES NOT BALANCE"
            };
            let _ = writeln!(
                out,
                "ledger: {verdict}: total {}, sold {}, held {}, available {}; {} confirmed orders, {} distinct",
                l.total, l.sold, l.held, l.available, l.confirmed_orders, l.distinct_orders
            );
            for p in &l.problems {
                let _ = writeln!(out, "    {p}");
            }
        }
        out
    }
}

//! What each virtual user does.
//!
//! * `join`: an anonymous join of the waiting room, nothing else (the on-sale spike).
//! * `status`: one position poll with a waiting token from a pool joined before the run.
//! * `purchase`: a whole buyer, join → poll until admitted → enter → reserve one ticket →
//!   payment intent → process (the simulator approves and posts its signed webhook) → poll the
//!   reservation until the webhook has confirmed it. Told "sold out" anywhere on the way is an
//!   outcome, not a failure; anything else unexpected is a failure, counted by step and answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use serde::Serialize;

use crate::api::{Account, Api, NoAnswer, Reply};
use crate::record::Route;

/// How often a waiting buyer polls: a fixed interval or uniformly within a range.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Poll {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Poll {
    fn next(&self) -> Duration {
        let ms = if self.max_ms > self.min_ms {
            rand::thread_rng().gen_range(self.min_ms..=self.max_ms)
        } else {
            self.min_ms
        };
        Duration::from_millis(ms)
    }
}

impl std::str::FromStr for Poll {
    type Err = String;

    /// `250` or `2000-4000` (milliseconds).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("poll interval: `{v}` is not a number of milliseconds"))
        };
        let (min_ms, max_ms) = match s.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(s)?, parse(s)?),
        };
        if min_ms > max_ms {
            return Err(format!("poll interval: {min_ms} is above {max_ms}"));
        }
        Ok(Self { min_ms, max_ms })
    }
}

/// How one buyer's flow ended.
#[derive(Debug)]
pub enum Outcome {
    /// Paid and confirmed.
    Bought { order_id: String },
    /// Told there was nothing left (in the queue, or by `POST /reservations`).
    SoldOut,
    /// Anything else: the step and what it answered.
    Failed {
        step: Route,
        why: String,
        /// The hold this flow made, if it got that far (the ledger re-reads it).
        reservation_id: Option<String>,
    },
}

/// The purchase flows' outcomes, and what the ledger check needs from them.
#[derive(Default)]
pub struct Flows {
    pub bought: u64,
    pub sold_out: u64,
    pub failures: BTreeMap<String, u64>,
    pub order_ids: Vec<String>,
    /// Holds of failed flows: they may still be confirmed (a late webhook), so the ledger asks.
    pub unsettled: Vec<String>,
}

impl Flows {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Bought { order_id } => {
                self.bought += 1;
                self.order_ids.push(order_id);
            }
            Outcome::SoldOut => self.sold_out += 1,
            Outcome::Failed {
                step,
                why,
                reservation_id,
            } => {
                *self
                    .failures
                    .entry(format!("{}: {why}", step.label()))
                    .or_default() += 1;
                self.unsettled.extend(reservation_id);
            }
        }
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Everything a purchase flow needs, shared by all of them.
pub struct Purchase {
    pub api: Api,
    pub event_id: String,
    pub accounts: Vec<Account>,
    pub poll: Poll,
    /// A flow that has not finished after this long fails (`flow timeout`).
    pub patience: Duration,
    pub flows: Arc<Mutex<Flows>>,
}

/// `Err` ends a flow with that outcome; `?` on a call with no answer is a failure at its step.
type Step<T> = Result<T, Outcome>;

impl From<NoAnswer> for Outcome {
    fn from(e: NoAnswer) -> Self {
        Outcome::Failed {
            step: e.route,
            why: format!("no answer ({})", e.kind),
            reservation_id: None,
        }
    }
}

fn unexpected(step: Route, reply: &Reply) -> Outcome {
    Outcome::Failed {
        step,
        why: match reply.error_code() {
            Some(code) => format!("{} {code}", reply.status),
            None => format!("{} {}", reply.status, reply.body),
        },
        reservation_id: None,
    }
}

impl Purchase {
    /// Buyer number `i`, due at `due`.
    pub async fn buyer(&self, i: u64, due: Instant) {
        let account = &self.accounts[i as usize % self.accounts.len()];
        let outcome = match self.buy(account, due).await {
            Ok(order_id) => Outcome::Bought { order_id },
            Err(outcome) => outcome,
        };
        self.flows.lock().add(outcome);
    }

    async fn buy(&self, account: &Account, due: Instant) -> Step<String> {
        let deadline = due + self.patience;
        // Anonymously: buyers share accounts, and an account has one place per event (a second
        // join would answer the same waiting token). The waiting token is bound to the account
        // when the buyer enters with it.
        let joined = self.api.join(due, &self.event_id, None).await?;
        let waiting_token = match (joined.status, joined.str("waiting_token")) {
            (202, Some(token)) => token.to_string(),
            _ => return Err(unexpected(Route::Join, &joined)),
        };
        let reservation_token = self.admitted(account, &waiting_token, deadline).await?;
        let reserved = self
            .api
            .reserve(account, &self.event_id, &reservation_token)
            .await?;
        let reservation = match reserved.status {
            201 => reserved.body,
            409 if reserved.error_code() == Some("INSUFFICIENT_INVENTORY") => {
                return Err(Outcome::SoldOut)
            }
            _ => return Err(unexpected(Route::Reserve, &reserved)),
        };
        let reservation_id = reservation["reservation_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let held = |outcome: Outcome| match outcome {
            Outcome::Failed { step, why, .. } => Outcome::Failed {
                step,
                why,
                reservation_id: Some(reservation_id.clone()),
            },
            other => other,
        };
        self.pay(account, &reservation).await.map_err(held)?;
        self.confirmed(account, &reservation_id, deadline)
            .await
            .map_err(held)
    }

    /// Polls until admitted, then enters: the reservation token.
    async fn admitted(
        &self,
        account: &Account,
        waiting_token: &str,
        deadline: Instant,
    ) -> Step<String> {
        loop {
            tokio::time::sleep(self.poll.next()).await;
            if Instant::now() > deadline {
                return Err(Outcome::Failed {
                    step: Route::Status,
                    why: "not admitted in time".into(),
                    reservation_id: None,
                });
            }
            let status = self.api.status(Instant::now(), waiting_token).await?;
            if status.status != 200 {
                return Err(unexpected(Route::Status, &status));
            }
            if status.body["ready_for_entry"] != true {
                if status.body["sold_out"] == true {
                    return Err(Outcome::SoldOut);
                }
                if status.str("status") == Some("expired") {
                    return Err(unexpected(Route::Status, &status));
                }
                continue;
            }
            let entered = self.api.enter(account, waiting_token).await?;
            match (entered.status, entered.str("reservation_token")) {
                (200, Some(token)) => return Ok(token.to_string()),
                // The status runs a little ahead of the live cursor on windowed views.
                (403, _) if entered.error_code() == Some("NOT_READY") => continue,
                _ => return Err(unexpected(Route::Enter, &entered)),
            }
        }
    }

    async fn pay(&self, account: &Account, reservation: &serde_json::Value) -> Step<()> {
        let intent = self.api.intent(account, reservation).await?;
        let intent_id = match (intent.status, intent.str("payment_intent_id")) {
            (200, Some(id)) => id.to_string(),
            _ => return Err(unexpected(Route::Intent, &intent)),
        };
        let processed = self.api.process(account, &intent_id).await?;
        match (processed.status, processed.str("status")) {
            (200, Some("APPROVED" | "PROCESSING")) => Ok(()),
            _ => Err(unexpected(Route::Process, &processed)),
        }
    }

    /// Polls the reservation until the simulator's webhook has confirmed it: the order id.
    async fn confirmed(
        &self,
        account: &Account,
        reservation_id: &str,
        deadline: Instant,
    ) -> Step<String> {
        loop {
            let r = self.api.reservation(account, reservation_id).await?;
            match (r.status, r.str("status")) {
                (200, Some("CONFIRMED")) => {
                    return r
                        .str("order_id")
                        .map(str::to_string)
                        .ok_or_else(|| unexpected(Route::Reservation, &r))
                }
                (200, Some("HOLD")) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => return Err(unexpected(Route::Reservation, &r)),
            }
        }
    }
}

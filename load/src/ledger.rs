//! The check after a purchase run: what the event says it sold against what buyers were told.
//!
//! The run's event belongs to the run (the driver created it), so every ticket it sold was sold to
//! one of the run's flows. The event's availability must then show exactly as many tickets sold as
//! there are confirmed orders, every order id must be distinct (a ticket sold twice would be two
//! orders for one ticket or one order told to two buyers), and sold + held + available must add
//! up to the event's total. Flows that failed after placing a hold may still have been confirmed
//! by a late webhook, so their reservations are read once more before counting.

use std::collections::HashSet;

use reqwest::Method;
use serde::Serialize;

use crate::api::{Account, Api};
use crate::scenario::Flows;

#[derive(Debug, Clone, Serialize)]
pub struct Ledger {
    pub total: u64,
    pub sold: u64,
    pub held: u64,
    pub available: u64,
    /// Orders buyers were told about, plus failed flows' holds found confirmed afterwards.
    pub confirmed_orders: u64,
    pub distinct_orders: u64,
    pub problems: Vec<String>,
}

impl Ledger {
    pub fn balanced(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How many holds of failed flows were confirmed after all (a webhook that arrived after the
/// buyer gave up).
async fn late_confirmations(api: &Api, flows: &Flows, accounts: &[Account]) -> u64 {
    let mut late = 0;
    for reservation_id in &flows.unsettled {
        let path = format!("/reservations/{reservation_id}");
        // Any account may own it; the others are told 404 (another user's reservation).
        for account in accounts {
            if let Ok(r) = api
                .setup(Method::GET, &path, Some(&account.token), None, 200)
                .await
            {
                if r["status"] == "CONFIRMED" {
                    late += 1;
                }
                break;
            }
        }
    }
    late
}

/// The ledger of a purchase run: the event's availability against what its buyers were told.
pub async fn check(
    api: &Api,
    event_id: &str,
    flows: &Flows,
    accounts: &[Account],
) -> anyhow::Result<Ledger> {
    let late = late_confirmations(api, flows, accounts).await;
    let availability = api
        .setup(
            Method::GET,
            &format!("/events/{event_id}/availability"),
            None,
            None,
            200,
        )
        .await?;
    let count = |field: &str| availability[field].as_u64().unwrap_or(0);
    let (total, sold, held, available) = (
        count("total"),
        count("sold"),
        count("held"),
        count("available"),
    );
    let distinct: HashSet<&String> = flows.order_ids.iter().collect();
    let confirmed = flows.bought + late;
    let mut problems = Vec::new();
    if sold != confirmed {
        problems.push(format!(
            "the event sold {sold} tickets but buyers hold {confirmed} confirmed orders"
        ));
    }
    if distinct.len() as u64 != flows.bought {
        problems.push(format!(
            "{} orders were reported to buyers but only {} are distinct",
            flows.bought,
            distinct.len()
        ));
    }
    if sold + held + available != total {
        problems.push(format!(
            "sold {sold} + held {held} + available {available} is not the total {total}"
        ));
    }
    Ok(Ledger {
        total,
        sold,
        held,
        available,
        confirmed_orders: confirmed,
        distinct_orders: distinct.len() as u64,
        problems,
    })
}

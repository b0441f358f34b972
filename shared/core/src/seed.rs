//! What a new deployment starts with: the configured administrator, and the demo events when
//! `TACOS_DEMO_EVENT` asks for them. Safe to run at every start: nothing that exists is touched.

use chrono::{Duration, Utc};

use crate::domain::catalog::{NewEvent, Section};
use crate::error::{Error, Result};
use crate::platform::Platform;

/// Creates the configured administrator and, when enabled, the demo events.
pub async fn seed(platform: &Platform) -> Result<()> {
    platform.accounts.ensure_admin().await?;
    if platform.config().seed_demo_event {
        for event in demo_events(platform.config().demo_admission_rate) {
            create_unless_present(platform, event).await?;
        }
    }
    Ok(())
}

/// `evt_demo` (seated: sections A to C, 4 rows of 10) and `evt_demo_ga` (500 standing).
pub fn demo_events(admission_rate_per_sec: f64) -> [NewEvent; 2] {
    let starts = Utc::now() + Duration::days(30);
    let section = |name: &str| Section::straight(name, 4, 10);
    [
        NewEvent {
            name: "Taco Fest 2026: Main Stage".into(),
            venue: "Seoul Olympic Hall".into(),
            starts_at: starts,
            currency: "USD".into(),
            price: 4_500,
            sections: Some(vec![section("A"), section("B"), section("C")]),
            capacity: None,
            admission_rate_per_sec,
            max_per_order: 4,
            event_id: Some("evt_demo".parse().expect("valid id")),
            on_sale_at: None,
        },
        NewEvent {
            name: "Taco Truck Night (general admission)".into(),
            venue: "Han River Park".into(),
            starts_at: starts + Duration::days(7),
            currency: "USD".into(),
            price: 1_500,
            sections: None,
            capacity: Some(500),
            admission_rate_per_sec,
            max_per_order: 4,
            event_id: Some("evt_demo_ga".parse().expect("valid id")),
            on_sale_at: None,
        },
    ]
}

async fn create_unless_present(platform: &Platform, event: NewEvent) -> Result<()> {
    let id = event
        .event_id
        .clone()
        .expect("seeded events have fixed ids");
    match platform.catalog.get(&id).await {
        Ok(_) => Ok(()),
        Err(Error::EventNotFound) => platform.catalog.create(event).await.map(drop),
        Err(e) => Err(e),
    }
}

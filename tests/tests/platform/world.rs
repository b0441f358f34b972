//! A platform on in-process adapters with a manual clock, and shortcuts to set scenes up.

use std::sync::Arc;

use chrono::{Duration, Utc};
use tacos_shared::app::InProcess;
use tacos_shared::config::Config;
use tacos_shared::domain::auth::{Principal, Role};
use tacos_shared::domain::catalog::{Event, Inventory, NewEvent, Section};
use tacos_shared::domain::payments::{IntentRequest, PaymentIntent, ProcessRequest, Scenario};
use tacos_shared::domain::reservations::{HoldRequest, Reservation};
use tacos_shared::domain::tokens::ReservationTokens;
use tacos_shared::error::Error;
use tacos_shared::ids::{EventId, ReservationId, SeatId, UserId, WaitingToken};
use tacos_shared::ports::{Clock, DetailType, JobHandler, ManualClock};

pub const HOLD_SECONDS: u64 = 60;

pub struct World {
    pub local: InProcess,
    pub clock: Arc<ManualClock>,
    tokens: ReservationTokens,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    /// A world whose platform runs with `configure`d settings on top of the test ones.
    pub fn with_config(configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_tests();
        config.hold_seconds = HOLD_SECONDS;
        // Webhook deliveries go nowhere: these tests drive the follow-up directly.
        config.public_url = Some("http://127.0.0.1:1".into());
        configure(&mut config);
        let tokens = ReservationTokens::new(&config.jwt_secret);
        let clock = Arc::new(ManualClock::new(Utc::now()));
        Self {
            local: InProcess::with_clock(config, clock.clone()),
            clock,
            tokens,
        }
    }

    pub fn platform(&self) -> &tacos_shared::app::Platform {
        &self.local.platform
    }

    pub fn buyer(&self) -> Principal {
        Principal {
            user_id: UserId::generate(),
            role: Role::User,
        }
    }

    pub async fn seated(&self, sections: &[(&str, u32, u32)], rate: f64) -> Event {
        let sections = sections
            .iter()
            .map(|(n, r, s)| Section {
                name: n.to_string(),
                rows: *r,
                seats_per_row: *s,
            })
            .collect();
        self.create(Some(sections), None, rate).await
    }

    pub async fn general(&self, capacity: i64, rate: f64) -> Event {
        self.create(None, Some(capacity), rate).await
    }

    async fn create(
        &self,
        sections: Option<Vec<Section>>,
        capacity: Option<i64>,
        rate: f64,
    ) -> Event {
        let new = NewEvent {
            name: "Test night".into(),
            venue: "Test hall".into(),
            starts_at: Utc::now() + Duration::days(1),
            currency: "USD".into(),
            price: 2_500,
            sections,
            capacity,
            admission_rate_per_sec: rate,
            max_per_order: 4,
            event_id: None,
        };
        self.platform()
            .catalog
            .create(new)
            .await
            .expect("event created")
    }

    /// A reservation token as the waiting room would issue it (admission itself is tested in
    /// `queue`).
    pub fn admitted(&self, event: &EventId, buyer: &Principal) -> String {
        self.tokens.issue(
            event,
            &buyer.user_id,
            &WaitingToken::generate(),
            0,
            self.clock.now(),
        )
    }

    pub async fn hold_seats(
        &self,
        buyer: &Principal,
        event: &EventId,
        seats: &[&str],
    ) -> Result<Reservation, Error> {
        let request = HoldRequest {
            event_id: event.clone(),
            seat_ids: Some(seats.iter().map(|s| s.parse::<SeatId>().unwrap()).collect()),
            quantity: None,
            reservation_token: self.admitted(event, buyer),
        };
        self.platform().reservations.hold(buyer, request).await
    }

    pub async fn hold_quantity(
        &self,
        buyer: &Principal,
        event: &EventId,
        quantity: u32,
    ) -> Result<Reservation, Error> {
        let request = HoldRequest {
            event_id: event.clone(),
            seat_ids: None,
            quantity: Some(quantity),
            reservation_token: self.admitted(event, buyer),
        };
        self.platform().reservations.hold(buyer, request).await
    }

    /// A payment intent for the whole of `hold`.
    pub async fn intent(
        &self,
        buyer: &Principal,
        hold: &Reservation,
        scenario: Option<Scenario>,
    ) -> PaymentIntent {
        let request = IntentRequest {
            reservation_id: hold.reservation_id.clone(),
            amount: hold.total_amount,
            currency: hold.currency.clone(),
            scenario,
        };
        self.platform()
            .payments
            .create_intent(buyer, request)
            .await
            .unwrap()
    }

    /// An intent for `hold`, processed by the simulator with `scenario`.
    pub async fn pay(
        &self,
        buyer: &Principal,
        hold: &Reservation,
        scenario: Scenario,
    ) -> PaymentIntent {
        let intent = self.intent(buyer, hold, Some(scenario)).await;
        let request = ProcessRequest {
            payment_intent_id: intent.payment_intent_id,
            action: None,
        };
        self.platform()
            .payments
            .process(buyer, request)
            .await
            .unwrap()
    }

    /// How many events of `kind` the platform has published.
    pub fn published(&self, kind: DetailType) -> usize {
        self.local
            .bus
            .published()
            .iter()
            .filter(|e| e.detail_type == kind)
            .count()
    }

    /// The reservation as its owner sees it now.
    pub async fn reservation(&self, buyer: &Principal, id: &ReservationId) -> Reservation {
        self.platform()
            .reservations
            .get(id, Some(buyer))
            .await
            .unwrap()
    }

    pub async fn inventory(&self, event: &EventId) -> Inventory {
        let inventory = self.platform().catalog.inventory(event).await.unwrap();
        assert_eq!(
            inventory.available + inventory.held + inventory.sold,
            inventory.total,
            "ledger balances: {inventory:?}"
        );
        inventory
    }

    /// Checks the ledger against the seats themselves.
    pub async fn ledger(&self, event: &EventId) -> Inventory {
        let inventory = self.inventory(event).await;
        let event = self.platform().catalog.get(event).await.unwrap();
        if !event.sections.is_empty() {
            let seats = self.platform().catalog.seats(&event).await.unwrap();
            let count = |status| seats.iter().filter(|s| s.status == status).count() as i64;
            use tacos_shared::domain::catalog::SeatStatus::*;
            assert_eq!(
                (count(Available), count(Held), count(Sold)),
                (inventory.available, inventory.held, inventory.sold),
                "seats agree with counters"
            );
        }
        inventory
    }

    pub fn advance(&self, seconds: f64) {
        self.clock
            .advance(Duration::milliseconds((seconds * 1000.0) as i64));
    }

    /// Fires the timers that are due, as EventBridge Scheduler would.
    pub async fn fire_timers(&self) -> usize {
        let handler: Arc<dyn JobHandler> = self.local.platform.clone();
        self.local.scheduler.run_due(&handler).await
    }
}

impl World {
    /// The manual clock in unix seconds.
    pub fn clock_now(&self) -> i64 {
        self.clock.now().timestamp()
    }
}

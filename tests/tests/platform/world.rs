//! A platform on in-process adapters with a manual clock, and shortcuts to set scenes up.
//!
//! It also keeps the books: every hold and payment intent made through it is remembered, so
//! [`World::audit`] can check the whole ledger of an event against the reservations themselves
//! (read straight from the store, never through a path that would change them), the way the
//! fault tests need after each fault.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{Duration, Utc};
use serde_json::Value;
use tacos_core::config::Config;
use tacos_core::domain::auth::{Principal, Role};
use tacos_core::domain::catalog::SeatStatus;
use tacos_core::domain::catalog::{Event, Inventory, NewEvent, Section};
use tacos_core::domain::payments::{intent_key, PaymentStatus};
use tacos_core::domain::payments::{IntentRequest, PaymentIntent, ProcessRequest, Scenario};
use tacos_core::domain::records::get_record;
use tacos_core::domain::reservation_tokens::ReservationTokens;
use tacos_core::domain::reservations::{reservation_key, ReservationStatus};
use tacos_core::domain::reservations::{HoldRequest, Reservation};
use tacos_core::error::Error;
use tacos_core::ids::{EventId, PaymentIntentId, ReservationId, SeatId, UserId, WaitingToken};
use tacos_core::ports::{Clock, DetailType, JobHandler, ManualClock};
use tacos_embedded::InProcess;
use tower::ServiceExt;

pub const HOLD_SECONDS: u64 = 60;

pub struct World {
    pub local: InProcess,
    pub clock: Arc<ManualClock>,
    tokens: ReservationTokens,
    /// Every reservation and payment intent made through this world, for [`World::audit`].
    books: std::sync::Mutex<Books>,
}

#[derive(Default)]
struct Books {
    reservations: Vec<ReservationId>,
    intents: Vec<PaymentIntentId>,
}

/// What [`World::audit`] found: the counters and the reservations that hold a sale.
#[derive(Debug)]
pub struct Audit {
    pub inventory: Inventory,
    /// The event's confirmed reservations, each a sale.
    pub confirmed: Vec<Reservation>,
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
            books: Default::default(),
        }
    }

    pub fn platform(&self) -> &tacos_core::platform::Platform {
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
            .map(|(n, r, s)| Section::straight(n, *r, *s))
            .collect();
        self.create(Some(sections), None, rate).await
    }

    /// A seated event whose availability nobody has read yet (see [`World::general_unread`]).
    pub async fn seated_unread(&self, sections: &[(&str, u32, u32)], rate: f64) -> Event {
        let sections = sections
            .iter()
            .map(|(n, r, s)| Section::straight(n, *r, *s))
            .collect();
        self.create_unread(Some(sections), None, rate).await
    }

    pub async fn general(&self, capacity: i64, rate: f64) -> Event {
        self.create(None, Some(capacity), rate).await
    }

    /// A general-admission event whose sale opens `opens_in_secs` from now: joins before then
    /// wait in its lobby.
    pub async fn general_opening(&self, capacity: i64, rate: f64, opens_in_secs: i64) -> Event {
        let new = NewEvent {
            on_sale_at: Some(self.clock.now() + Duration::seconds(opens_in_secs)),
            ..self.new_event(None, Some(capacity), rate)
        };
        self.platform()
            .catalog
            .create(new)
            .await
            .expect("event created")
    }

    /// A general-admission event whose availability nobody has read yet, so none is kept: its
    /// first read goes to the store.
    pub async fn general_unread(&self, capacity: i64, rate: f64) -> Event {
        self.create_unread(None, Some(capacity), rate).await
    }

    async fn create(
        &self,
        sections: Option<Vec<Section>>,
        capacity: Option<i64>,
        rate: f64,
    ) -> Event {
        let event = self.create_unread(sections, capacity, rate).await;
        // Read once, so its availability is kept from the start: every ledger check then
        // compares what the changes made of it with the store.
        self.platform()
            .availability
            .read(&event.event_id)
            .await
            .expect("availability read");
        event
    }

    async fn create_unread(
        &self,
        sections: Option<Vec<Section>>,
        capacity: Option<i64>,
        rate: f64,
    ) -> Event {
        let new = self.new_event(sections, capacity, rate);
        self.platform()
            .catalog
            .create(new)
            .await
            .expect("event created")
    }

    fn new_event(
        &self,
        sections: Option<Vec<Section>>,
        capacity: Option<i64>,
        rate: f64,
    ) -> NewEvent {
        NewEvent {
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
            on_sale_at: None,
        }
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
        let hold = self.platform().reservations.hold(buyer, request).await;
        if let Ok(hold) = &hold {
            self.track_reservation(&hold.reservation_id);
        }
        hold
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
        let hold = self.platform().reservations.hold(buyer, request).await;
        if let Ok(hold) = &hold {
            self.track_reservation(&hold.reservation_id);
        }
        hold
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
        let intent = self
            .platform()
            .payments
            .create_intent(buyer, request)
            .await
            .unwrap();
        self.track_intent(&intent.payment_intent_id);
        intent
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
            use tacos_core::domain::catalog::SeatStatus::*;
            assert_eq!(
                (count(Available), count(Held), count(Sold)),
                (inventory.available, inventory.held, inventory.sold),
                "seats agree with counters"
            );
        }
        let kept = self.platform().availability.read(&event.event_id).await;
        let stored = self
            .platform()
            .availability
            .from_store(&event.event_id)
            .await;
        assert_eq!(
            serde_json::to_value(&*kept.unwrap()).unwrap(),
            serde_json::to_value(stored.unwrap()).unwrap(),
            "the availability kept from the store's changes is the store's"
        );
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

/// What the HTTP router answered: its status, headers, and body as JSON (`Null` when it is not).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl World {
    /// Sends `request` through the platform's HTTP router: the middleware every deployment runs
    /// (authentication, idempotency, rate limits, tracing, the contract's error shape).
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let router = tacos_http::router(
            self.local.platform.clone(),
            &tacos_http::settings::HttpSettings::defaults(),
        );
        let (parts, body) = router.oneshot(request).await.unwrap().into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// [`World::send`] of a `method` request to `uri` with `headers` and, if given, a JSON body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let answer = self.send(request.body(body).unwrap()).await;
        (answer.status, answer.body)
    }
}

impl World {
    /// The manual clock in unix seconds.
    pub fn clock_now(&self) -> i64 {
        self.clock.now().timestamp()
    }
}

impl World {
    /// Remembers a reservation made some other way (over HTTP) for [`World::audit`].
    pub fn track_reservation(&self, id: &ReservationId) {
        self.books.lock().unwrap().reservations.push(id.clone());
    }

    /// Remembers a payment intent made some other way (over HTTP) for [`World::audit`].
    pub fn track_intent(&self, id: &PaymentIntentId) {
        self.books.lock().unwrap().intents.push(id.clone());
    }

    /// The ledger check every fault test ends with, for one event: available + held + sold =
    /// total; the seats' statuses agree with the counters; every sold seat belongs to exactly one
    /// CONFIRMED reservation, which lists it, and every held seat to one HOLD; the confirmed
    /// reservations add up to the seats sold and the holds to the seats held; each confirmed
    /// reservation has its own order id and its own approved payment; exactly one
    /// `reservation.confirmed` was published per sale (the Sales metric counts those). Reads the
    /// store directly, so checking never expires or changes anything.
    pub async fn audit(&self, event_id: &EventId) -> Audit {
        let store = &*self.local.store;
        let inventory = self.inventory(event_id).await;
        let ids = self.books.lock().unwrap().reservations.clone();
        let mut reservations = Vec::new();
        for id in ids {
            let reservation: Reservation = get_record(store, &reservation_key(&id))
                .await
                .unwrap()
                .expect("a tracked reservation exists");
            if reservation.event_id == *event_id {
                reservations.push(reservation);
            }
        }
        let by_id: HashMap<_, _> = reservations
            .iter()
            .map(|r| (r.reservation_id.clone(), r))
            .collect();
        let quantity = |status| -> i64 {
            reservations
                .iter()
                .filter(|r| r.status == status)
                .map(|r| i64::from(r.quantity))
                .sum()
        };
        assert_eq!(
            quantity(ReservationStatus::Confirmed),
            inventory.sold,
            "confirmed reservations add up to the seats sold: {inventory:?}"
        );
        assert_eq!(
            quantity(ReservationStatus::Hold),
            inventory.held,
            "holds add up to the seats held: {inventory:?}"
        );
        let confirmed: Vec<Reservation> = reservations
            .iter()
            .filter(|r| r.status == ReservationStatus::Confirmed)
            .cloned()
            .collect();
        let orders: HashSet<_> = confirmed
            .iter()
            .map(|r| r.order_id.clone().expect("a sale has an order id"))
            .collect();
        assert_eq!(
            orders.len(),
            confirmed.len(),
            "no order id shared by two sales"
        );
        let payments: HashSet<_> = confirmed
            .iter()
            .map(|r| {
                r.payment_intent_id
                    .clone()
                    .expect("a sale names its payment")
            })
            .collect();
        assert_eq!(payments.len(), confirmed.len(), "no payment paid two sales");
        for sale in &confirmed {
            let payment = sale.payment_intent_id.as_ref().unwrap();
            let intent: tacos_core::domain::payments::PaymentIntent =
                get_record(store, &intent_key(payment))
                    .await
                    .unwrap()
                    .expect("the sale's payment exists");
            assert_eq!(
                (intent.status, &intent.reservation_id),
                (PaymentStatus::Approved, &sale.reservation_id),
                "a sale is paid by an approved payment of its own"
            );
        }
        let announced: Vec<_> = self
            .local
            .bus
            .published()
            .into_iter()
            .filter(|e| {
                e.detail_type == DetailType::ReservationConfirmed && e.detail.event_id == *event_id
            })
            .map(|e| e.detail.reservation_id)
            .collect();
        let mut announced_sorted = announced.clone();
        announced_sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut sold_sorted: Vec<_> = confirmed.iter().map(|r| r.reservation_id.clone()).collect();
        sold_sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(
            announced_sorted, sold_sorted,
            "one reservation.confirmed per sale, none twice"
        );

        let event = self.platform().catalog.get(event_id).await.unwrap();
        if !event.sections.is_empty() {
            let seats = self.platform().catalog.seats(&event).await.unwrap();
            let count = |status| seats.iter().filter(|s| s.status == status).count() as i64;
            assert_eq!(
                (
                    count(SeatStatus::Available),
                    count(SeatStatus::Held),
                    count(SeatStatus::Sold)
                ),
                (inventory.available, inventory.held, inventory.sold),
                "seats agree with counters"
            );
            let mut owner_of = HashMap::new();
            for reservation in &reservations {
                if matches!(
                    reservation.status,
                    ReservationStatus::Confirmed | ReservationStatus::Hold
                ) {
                    for seat in &reservation.seat_ids {
                        let previous =
                            owner_of.insert(seat.clone(), reservation.reservation_id.clone());
                        assert!(
                            previous.is_none(),
                            "seat {seat} in two live reservations ({previous:?} and {})",
                            reservation.reservation_id
                        );
                    }
                }
            }
            for seat in &seats {
                let expected = match seat.status {
                    SeatStatus::Available => None,
                    SeatStatus::Held => Some(ReservationStatus::Hold),
                    SeatStatus::Sold => Some(ReservationStatus::Confirmed),
                };
                match expected {
                    None => assert!(
                        !owner_of.contains_key(&seat.seat_id),
                        "available seat {} is still in a live reservation",
                        seat.seat_id
                    ),
                    Some(status) => {
                        let holder = seat.reservation_id.as_ref().unwrap_or_else(|| {
                            panic!("seat {} names no reservation", seat.seat_id)
                        });
                        let reservation = by_id.get(holder).unwrap_or_else(|| {
                            panic!("seat {} names an unknown reservation", seat.seat_id)
                        });
                        assert_eq!(
                            reservation.status, status,
                            "seat {} is {:?} but its reservation is {:?}",
                            seat.seat_id, seat.status, reservation.status
                        );
                        assert_eq!(
                            owner_of.get(&seat.seat_id),
                            Some(holder),
                            "seat {} belongs to exactly the reservation that lists it",
                            seat.seat_id
                        );
                    }
                }
            }
        }
        Audit {
            inventory,
            confirmed,
        }
    }

    /// Every approved payment made through this world ended in a sale or was refunded; no
    /// payment that failed or is refunded paid for a sale. (Checked once the follow-ups ran.)
    pub async fn audit_money(&self) {
        let store = &*self.local.store;
        let intents = self.books.lock().unwrap().intents.clone();
        for id in intents {
            let intent: tacos_core::domain::payments::PaymentIntent =
                get_record(store, &intent_key(&id)).await.unwrap().unwrap();
            let reservation: Reservation =
                get_record(store, &reservation_key(&intent.reservation_id))
                    .await
                    .unwrap()
                    .unwrap();
            let paid_sale = reservation.status == ReservationStatus::Confirmed
                && reservation.payment_intent_id.as_ref() == Some(&id);
            match intent.status {
                PaymentStatus::Approved => assert!(
                    paid_sale,
                    "approved payment {id} neither sold {} ({:?}) nor was refunded",
                    reservation.reservation_id, reservation.status
                ),
                _ => assert!(
                    !paid_sale,
                    "payment {id} is {:?} yet paid a sale",
                    intent.status
                ),
            }
        }
    }
}

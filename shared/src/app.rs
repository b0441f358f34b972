//! The platform assembled: every domain service over one set of ports, plus the two entry points
//! that are not HTTP: fired timers ([`JobHandler`]) and bus events ([`EventHandler`]).
//!
//! Each deployment builds one [`Platform`] per process (per Lambda cold start) and shares it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use tracing::Instrument;

use crate::config::Config;
use crate::domain::auth::{AccessTokens, Accounts};
use crate::domain::catalog::{Catalog, NewEvent, Section};
use crate::domain::idempotency::Idempotency;
use crate::domain::payments::Payments;
use crate::domain::queue::WaitingRoom;
use crate::domain::reservations::Reservations;
use crate::domain::tokens::ReservationTokens;
use crate::domain::webhook::WebhookSigner;
use crate::domain::Deps;
use crate::error::{Error, Result};
use crate::ids::EventId;
use crate::memory::{MemoryBus, MemoryScheduler, MemoryStore};
use crate::ports::{Clock, DetailType, DomainEvent, EventHandler, Job, JobHandler, SystemClock};

pub struct Platform {
    pub deps: Deps,
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub queue: WaitingRoom,
    pub reservations: Reservations,
    pub payments: Payments,
    pub idempotency: Idempotency,
}

impl Platform {
    pub fn new(deps: Deps) -> Self {
        let config = deps.config.clone();
        let catalog = Catalog::new(deps.clone());
        let rtokens = ReservationTokens::new(&config.jwt_secret);
        let reservations = Reservations::new(deps.clone(), catalog.clone(), rtokens.clone());
        Self {
            accounts: Accounts::new(deps.clone(), AccessTokens::new(&config)),
            queue: WaitingRoom::new(deps.clone(), catalog.clone(), rtokens),
            payments: Payments::new(
                deps.clone(),
                reservations.clone(),
                WebhookSigner::new(&config.webhook_secret),
            ),
            idempotency: Idempotency::new(deps.clone()),
            reservations,
            catalog,
            deps,
        }
    }

    pub fn config(&self) -> &Config {
        &self.deps.config
    }

    /// Creates the configured administrator and, when enabled, the demo events.
    pub async fn seed(&self) -> Result<()> {
        let config = self.config();
        if let Some(password) = &config.admin_password {
            self.accounts
                .ensure_admin(&config.admin_username, password)
                .await?;
        }
        if config.seed_demo_event {
            let starts = Utc::now() + Duration::days(30);
            let demo = [
                NewEvent {
                    name: "Taco Fest 2026: Main Stage".into(),
                    venue: "Seoul Olympic Hall".into(),
                    starts_at: starts,
                    currency: "USD".into(),
                    price: 4_500,
                    sections: Some(vec![
                        Section {
                            name: "A".into(),
                            rows: 4,
                            seats_per_row: 10,
                        },
                        Section {
                            name: "B".into(),
                            rows: 4,
                            seats_per_row: 10,
                        },
                        Section {
                            name: "C".into(),
                            rows: 4,
                            seats_per_row: 10,
                        },
                    ]),
                    capacity: None,
                    admission_rate_per_sec: config.demo_admission_rate,
                    max_per_order: 4,
                    event_id: Some("evt_demo".parse().expect("valid id")),
                },
                NewEvent {
                    name: "Taco Truck Night (general admission)".into(),
                    venue: "Han River Park".into(),
                    starts_at: starts + Duration::days(7),
                    currency: "USD".into(),
                    price: 1_500,
                    sections: None,
                    capacity: Some(500),
                    admission_rate_per_sec: config.demo_admission_rate,
                    max_per_order: 4,
                    event_id: Some("evt_demo_ga".parse().expect("valid id")),
                },
            ];
            for event in demo {
                let id: EventId = event.event_id.clone().expect("demo ids are fixed");
                match self.catalog.get(&id).await {
                    Ok(_) => {}
                    Err(Error::EventNotFound) => {
                        self.catalog.create(event).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Platform {
    async fn run_job(&self, job: Job) -> Result<(), String> {
        let result = match &job {
            Job::ExpireHold { reservation_id } => self.reservations.expire(reservation_id).await,
            Job::SettlePayment { payment_intent_id } => {
                self.payments.settle(payment_intent_id).await
            }
            Job::DeliverWebhook { payment_intent_id } => {
                self.payments.deliver_webhook(payment_intent_id).await
            }
        };
        result.map_err(|e| format!("{}: {e}", job.name()))
    }
}

#[async_trait]
impl EventHandler for Platform {
    /// Handles `event` in a span that continues the trace of whoever published it.
    async fn handle_event(&self, event: DomainEvent) -> Result<(), String> {
        let span = crate::telemetry::context::event_span(&event);
        self.follow_up(event).instrument(span).await
    }
}

impl Platform {
    async fn follow_up(&self, event: DomainEvent) -> Result<(), String> {
        let detail = &event.detail;
        let result = match event.detail_type {
            DetailType::PaymentApproved => match &detail.payment_intent_id {
                Some(payment) => {
                    self.payments
                        .on_approved(&detail.reservation_id, payment)
                        .await
                }
                None => Ok(()),
            },
            DetailType::PaymentFailed => {
                self.payments
                    .on_failed(&detail.reservation_id, detail.payment_intent_id.as_ref())
                    .await
            }
            _ => Ok(()),
        };
        result.map_err(|e| e.to_string())
    }
}

/// A platform on in-process adapters, with handles on them for tests and fault injection.
pub struct InProcess {
    pub platform: Arc<Platform>,
    pub store: Arc<MemoryStore>,
    pub scheduler: Arc<MemoryScheduler>,
    pub bus: Arc<MemoryBus>,
}

impl InProcess {
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let scheduler = Arc::new(MemoryScheduler::new(clock.clone()));
        let bus = Arc::new(MemoryBus::new());
        let deps = crate::telemetry::ports::instrument(Deps {
            store: store.clone(),
            scheduler: scheduler.clone(),
            bus: bus.clone(),
            clock,
            config: Arc::new(config),
        });
        Self {
            platform: Arc::new(Platform::new(deps)),
            store,
            scheduler,
            bus,
        }
    }

    /// Starts the timer and event-bus consumers on the current runtime.
    pub fn start_background(&self) {
        tokio::spawn(self.scheduler.clone().run(self.platform.clone()));
        tokio::spawn(self.bus.clone().run(self.platform.clone()));
    }
}

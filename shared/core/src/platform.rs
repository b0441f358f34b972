//! The platform assembled: every domain service over one set of ports, plus the entry points
//! that are not HTTP: fired timers ([`JobHandler`]), bus events ([`EventHandler`]) and the sweep of
//! lost timers ([`Platform::sweep`]).
//!
//! Each deployment builds one [`Platform`] per process (per Lambda cold start) and shares it.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use crate::config::Config;
use crate::domain::auth::accounts::ConfiguredAdmin;
use crate::domain::auth::{AccessTokens, Accounts, DeviceTokens};
use crate::domain::availability::AvailabilityBoard;
use crate::domain::catalog::Catalog;
use crate::domain::idempotency::Idempotency;
use crate::domain::live_updates::LiveUpdates;
use crate::domain::payments::Payments;
use crate::domain::queue::{self, WaitingRoom};
use crate::domain::request_keys::RequestKeys;
use crate::domain::reservation_tokens::ReservationTokens;
use crate::domain::reservations::Reservations;
use crate::domain::sale::SaleControl;
use crate::domain::webhook_signature::WebhookSigner;
use crate::ports::{
    ConnectionRegistry, DetailType, DomainEvent, EventHandler, Job, JobHandler, Ports, Pusher,
};
use crate::sweep::{Ledger, SweepReport, Sweeper};

pub struct Platform {
    pub ports: Ports,
    pub config: Arc<Config>,
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub availability: AvailabilityBoard,
    pub queue: WaitingRoom,
    pub reservations: Reservations,
    pub payments: Payments,
    pub idempotency: Idempotency,
    pub sales: SaleControl,
}

impl Platform {
    pub fn new(ports: Ports, config: Config) -> Self {
        let catalog = Catalog::new(ports.clone(), config.queue_shards, queue::initial_writes)
            .with_stock_shards(config.stock_shards);
        let rtokens = ReservationTokens::new(&config.jwt_secret);
        let sales = SaleControl::new(ports.clone(), catalog.clone(), config.hold_seconds);
        let grace = chrono::Duration::seconds(
            i64::try_from(config.payment_grace_seconds).unwrap_or(i64::MAX),
        );
        let reservations = Reservations::new(
            ports.clone(),
            catalog.clone(),
            rtokens.clone(),
            sales.clone(),
            grace,
            RequestKeys::new(&config.jwt_secret),
        );
        let admin = config
            .admin_password
            .clone()
            .map(|password| ConfiguredAdmin {
                username: config.admin_username.clone(),
                password,
            });
        Self {
            accounts: Accounts::new(
                ports.clone(),
                AccessTokens::new(&config, ports.keys.clone()),
                DeviceTokens::new(&config.jwt_secret),
                admin,
            ),
            queue: WaitingRoom::new(
                ports.clone(),
                catalog.clone(),
                rtokens,
                sales.clone(),
                &config.jwt_secret,
                queue::Pacing::of(&config),
            ),
            payments: Payments::new(
                ports.clone(),
                reservations.clone(),
                WebhookSigner::new(&config.webhook_secret),
                config.payment_delay,
                config.webhook_delivery,
            ),
            idempotency: Idempotency::new(ports.clone()),
            sales,
            reservations,
            availability: AvailabilityBoard::new(catalog.clone()),
            catalog,
            ports,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live updates of this platform's events and waiting rooms, to the connections of
    /// `registry`, through `pusher`.
    pub fn live_updates(
        &self,
        registry: Arc<dyn ConnectionRegistry>,
        pusher: Arc<dyn Pusher>,
    ) -> LiveUpdates {
        LiveUpdates::new(
            self.catalog.clone(),
            self.availability.clone(),
            self.queue.clone(),
            self.ports.clock.clone(),
            registry,
            pusher,
        )
    }

    /// One sweep of the ledger of due work ([`crate::sweep`]): the jobs of the minutes that ended
    /// since the last sweep, run again through this platform. Only a deployment whose scheduler
    /// files its jobs in the ledger ([`crate::sweep::LedgeredScheduler`], AWS) has any to find.
    pub async fn sweep(&self) -> crate::error::Result<SweepReport> {
        Sweeper::new(
            Ledger::new(self.ports.store.clone()),
            self.ports.clock.clone(),
        )
        .sweep(self)
        .await
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
                self.payments.redeliver_webhook(payment_intent_id).await
            }
            Job::FollowUpPayment {
                payment_intent_id,
                reservation_id,
            } => {
                self.payments
                    .on_approved(reservation_id, payment_intent_id)
                    .await
            }
        };
        result.map_err(|e| format!("{}: {e}", job.name()))
    }
}

#[async_trait]
impl EventHandler for Platform {
    async fn handle_event(&self, event: DomainEvent) -> Result<(), String> {
        self.follow_up_event(event).await.map_err(|e| e.to_string())
    }
}

impl Platform {
    /// Handles `event` (the payment follow-up) in a span that continues the trace of whoever
    /// published it. The error keeps its kind, so a queue's consumer can tell a dependency that is
    /// away ([`Error::Unavailable`](crate::error::Error::Unavailable): retry later, the event is
    /// fine) from any other failure.
    pub async fn follow_up_event(&self, event: DomainEvent) -> crate::error::Result<()> {
        let span = event.consumer_span();
        let trace_id = crate::trace_context::trace_id_or_new(event.detail.traceparent.as_deref());
        crate::trace_context::in_trace(trace_id, self.follow_up(event).instrument(span)).await
    }

    async fn follow_up(&self, event: DomainEvent) -> crate::error::Result<()> {
        let detail = &event.detail;
        match event.detail_type {
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
        }
    }
}

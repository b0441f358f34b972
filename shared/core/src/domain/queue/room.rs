//! The waiting room as a service: join, status, enter, leave, and the gauges an operator reads.
//! Each call is a few reads and conditional writes of the items the other files of
//! [`super`] describe; the advance that admits people runs inside status and enter calls.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::admission::{
    admission_used, admit, batch_of, open_admissions, read_cursor, read_state, AdmissionBatch,
    Credit, QueueState,
};
use super::binding::TokenBinding;
use super::challenge::{Challenge, ChallengeAnswer, ChallengeRefusal, JoinChallenges};
use super::counting::{Counters, Counting};
use super::draw::ALGORITHM;
use super::entry::EntryStamp;
use super::holes::close_holes;
use super::keys::ticket_key;
use super::lobby::{
    entry_write, lobby_left_write, read_entries, read_lobby_counts, Drawn, EntryCursor, Lobbies,
    LobbyEntry, Standing, MAX_ENTRIES_PAGE,
};
use super::order::{
    read_line, read_shared_ticket, read_ticket, Line, TicketState, WaitingRecord,
    WAITING_TOKEN_TTL_SECS,
};
use super::outlook::LineFacts;
use super::places::{read_place, PlaceRecord};
use super::positions::{
    has_left, leavers_between, mark_left, merge_leavers, read_stamped_leavers, Leaver,
};
use super::presence::Presence;
use super::views::{OpenAdmissions, View, ViewLeavers, Views};
use crate::domain::catalog::{Catalog, Event};
use crate::domain::records::{get_record, to_text, ttl_after};
use crate::domain::request_keys::{self, KeyedAnswer, RequestKey, RequestKeys};
use crate::domain::reservation_tokens::{Issue, ReservationTokens, RESERVATION_TOKEN_TTL_SECS};
use crate::domain::sale::{Sale, SaleControl, SaleState};
use crate::error::{Error, Result};
use crate::ids::{EventId, UserId, WaitingToken};
use crate::ports::store::{Condition, StoreError, Update, Write};
use crate::ports::Ports;

/// How long past the opening time it joined for a lobby ticket is kept beyond a ticket's usual
/// life: an opening moved later by up to this keeps its lobby.
const LOBBY_GRACE_SECS: i64 = 30 * 86_400;

/// Reads of an account's place a join makes before it gives up on a place that keeps changing
/// under it (only joins of that one account racing each other change it).
const PLACE_ATTEMPTS: usize = 4;

/// A keyed join: its key, the token derived from it, and the work it carries.
struct Keyed<'a> {
    join: &'a RequestKey,
    token: WaitingToken,
    answer: Option<&'a ChallengeAnswer>,
}

/// What a join comes to: a place, with the answer's body when a keyed join stored it; or, for a
/// keyed join, the first answer of its key.
enum JoinOutcome {
    Joined(Joined, Option<String>),
    Replay(String),
}

/// What an entry comes to: a new reservation token, or the one a keyed entry answered before.
enum Entry {
    Fresh(Admission),
    Replay(Admission),
}

/// A new ticket written (with what joining answers, and its body when kept), or the ticket that
/// already had the token.
enum NewTicket {
    Written(WaitingRecord, Joined, Option<String>),
    Taken(WaitingRecord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatusKind {
    /// Joined before the sale opened: a random place is drawn at the opening.
    Lobby,
    Waiting,
    Ready,
    Expired,
    /// The sale was closed by an operator before this place was admitted.
    Closed,
}

/// What `GET /queue/status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    pub status: QueueStatusKind,
    pub position: u64,
    pub eta_sec: u64,
    /// The wait is expected to fall between these, in seconds ([`super::outlook`]).
    pub eta_range_sec: [u64; 2],
    /// The stock is likely to run out before this place is reached.
    pub likely_sold_out: bool,
    pub waiting_time: i64,
    pub ready_for_entry: bool,
    pub event_id: EventId,
    pub sold_out: bool,
    pub entered: bool,
    /// Admission is paused by an operator: places are kept, nobody more is let in until it
    /// resumes.
    pub paused: bool,
    /// In the lobby: whole seconds until the sale opens and the lobby is drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_in_sec: Option<u64>,
}

/// What the waiting room can tell an operator about one queue, cheaply and without changing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueGauge {
    /// People in line past the cursor who have not left (not yet admitted); none once the sale
    /// is closed.
    pub waiting: u64,
    /// Admissions per second as the queue measures them: smoothed over its cursor moves, so it
    /// is as recent as the last move (status and enter calls move it; an idle queue keeps its
    /// last measure).
    pub admission_rate: f64,
    /// People admitted since the queue was created.
    pub admitted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub waiting_token: WaitingToken,
    pub position_hint: u64,
    /// `waiting`, or `lobby` before the sale opens.
    pub status: &'static str,
    /// In the lobby: whole seconds until the sale opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_in_sec: Option<u64>,
}

/// Whether and how an event's lobby was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawStatus {
    /// The event has no opening time: it was on sale from the start.
    None,
    /// The opening is ahead: the seed is committed, not revealed.
    Scheduled,
    /// The lobby was drawn: the seed is revealed.
    Drawn,
}

/// What `GET /queue/draw` publishes: the commitment before the opening, the seed and the frozen
/// counts after it, and the lobby's entries, so anyone can recompute every drawn place
/// ([`super::draw`]).
#[derive(Debug, Clone, Serialize)]
pub struct DrawRecord {
    pub event_id: EventId,
    pub status: DrawStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_in_sec: Option<u64>,
    pub algorithm: &'static str,
    /// SHA-256 of the seed, published before the opening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_sha256: Option<String>,
    /// Revealed once drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// People the draw placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lobby_size: Option<u64>,
    /// The lobby counters' counts frozen by the draw (a lobby order's rank is the number of
    /// orders they took before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lobby_counts: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drawn_at: Option<DateTime<Utc>>,
    pub entries: Vec<LobbyEntry>,
    /// Where the next page of entries starts (`after=`); `null` on the last.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Admission {
    pub admission: &'static str,
    pub reservation_token: String,
    pub ttl_sec: i64,
}

#[derive(Clone)]
pub struct WaitingRoom {
    ports: Ports,
    catalog: Catalog,
    tokens: ReservationTokens,
    join_keys: RequestKeys,
    challenges: JoinChallenges,
    views: Views,
    open_admissions: OpenAdmissions,
    presence: Presence,
    lobbies: Lobbies,
    sales: SaleControl,
    /// Orders taken by the joins waiting at once, one counter write a round ([`super::counting`]).
    counting: Arc<Counting>,
    /// Least time between two advances of one queue (`Config::queue_advance_ms`).
    advance_every_ms: i64,
}

/// The waiting room's timings, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The view window (`Config::queue_view_ms`; 0: every status reads the queue).
    pub view_ms: i64,
    /// How long a waiting person may go unseen (`Config::queue_abandon_secs`; 0: forever).
    pub abandon_secs: u64,
    /// Least time between two advances of one queue (`Config::queue_advance_ms`).
    pub advance_every_ms: i64,
}

impl Pacing {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            view_ms: config.queue_view_ms,
            abandon_secs: config.queue_abandon_secs,
            advance_every_ms: config.queue_advance_ms,
        }
    }
}

impl WaitingRoom {
    /// The waiting room. `secret` is the platform's (`Config::jwt_secret`), from which join keys
    /// and challenges derive their own.
    pub fn new(
        ports: Ports,
        catalog: Catalog,
        tokens: ReservationTokens,
        sales: SaleControl,
        secret: &str,
        pacing: Pacing,
    ) -> Self {
        let views = Views::new(pacing.view_ms, ports.clock.clone());
        Self {
            ports,
            catalog,
            tokens,
            join_keys: RequestKeys::new(secret),
            challenges: JoinChallenges::new(secret),
            views,
            open_admissions: OpenAdmissions::default(),
            presence: Presence::new(pacing.abandon_secs),
            lobbies: Lobbies::new(secret),
            sales,
            counting: Arc::default(),
            advance_every_ms: pacing.advance_every_ms,
        }
    }

    /// Takes a place in line: one counter increment (shared with the joins this process makes at
    /// the same moment, `super::counting`) and one ticket write. An account keeps one
    /// place per event ([`super::places`]): joining again answers the waiting token it holds.
    pub async fn join(&self, event_id: &EventId, user: Option<UserId>) -> Result<Joined> {
        let event = self.catalog.get(event_id).await?;
        match self.join_event(&event, user, None).await? {
            JoinOutcome::Joined(joined, _) => Ok(joined),
            JoinOutcome::Replay(_) => Err(Error::Internal("a join without a key replayed".into())),
        }
    }

    /// [`Self::join`] with the request's idempotency key, kept on the ticket ([`crate::domain::request_keys`]):
    /// a retry answers the first answer's bytes, with no write of its own. `answer` is the proof
    /// of work the event may ask for ([`super::challenge`]).
    pub async fn join_keyed(
        &self,
        event_id: &EventId,
        user: Option<UserId>,
        join: &RequestKey,
        answer: Option<&ChallengeAnswer>,
    ) -> Result<KeyedAnswer> {
        let event = self.catalog.get(event_id).await?;
        let keyed = Keyed {
            join,
            token: self.join_keys.token(join),
            answer,
        };
        Ok(match self.join_event(&event, user, Some(&keyed)).await? {
            JoinOutcome::Joined(_, Some(body)) => KeyedAnswer::Fresh(body),
            JoinOutcome::Joined(joined, None) => KeyedAnswer::Fresh(request_keys::body(&joined)?),
            JoinOutcome::Replay(body) => KeyedAnswer::Replay(body),
        })
    }

    async fn join_event(
        &self,
        event: &Event,
        user: Option<UserId>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<JoinOutcome> {
        let sale = self.sales.current(event).await?;
        if sale.is_closed() {
            // The retry of a join that went through before the close still gets its answer.
            return match self.first_answer(keyed).await? {
                Some(replay) => replay.map(JoinOutcome::Replay),
                None => Err(Error::SaleClosed),
            };
        }
        if let Some(replay) = self.check_work(event, &sale, keyed).await? {
            return Ok(JoinOutcome::Replay(replay));
        }
        let Some(user) = user else {
            return match self.write_new_ticket(event, &sale, None, keyed).await? {
                NewTicket::Written(_, joined, body) => Ok(JoinOutcome::Joined(joined, body)),
                NewTicket::Taken(ticket) => keyed
                    .and_then(|k| request_keys::replay(ticket.stamp.as_ref(), k.join))
                    .unwrap_or(Err(Error::IdempotencyConflict))
                    .map(JoinOutcome::Replay),
            };
        };
        self.join_as(event, &sale, user, keyed).await
    }

    /// A proof-of-work challenge for `owner` (as [`RequestKey::owner`]) to join `event_id`, of the
    /// difficulty its sale asks for now (0: none).
    pub async fn challenge(&self, event_id: &EventId, owner: &str) -> Result<Challenge> {
        let event = self.catalog.get(event_id).await?;
        let sale = self.sales.current(&event).await?;
        sale.check_not_closed()?;
        Ok(self.challenges.issue(
            event_id,
            owner,
            sale.join_challenge_bits,
            self.ports.clock.now(),
        ))
    }

    /// Checks the work a join carries against what `sale` asks. A join refused for work that
    /// has since expired (or that the operator asked for after it went through) may be the
    /// retry of a join that went through: that one replays its answer (`Some`), so retrying
    /// stays safe. Unkeyed joins (the platform's own) cannot carry work.
    async fn check_work(
        &self,
        event: &Event,
        sale: &Sale,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Option<String>> {
        if sale.join_challenge_bits == 0 {
            return Ok(None);
        }
        let Some(keyed) = keyed else {
            return Err(Error::ChallengeRequired(
                ChallengeRefusal::Missing.to_string(),
            ));
        };
        let checked = self.challenges.check(
            &event.event_id,
            &keyed.join.owner,
            &keyed.join.key,
            sale.join_challenge_bits,
            keyed.answer,
            self.ports.clock.now(),
        );
        let refusal = match checked {
            Ok(()) => return Ok(None),
            Err(refusal) => refusal,
        };
        if matches!(
            refusal,
            ChallengeRefusal::Expired | ChallengeRefusal::TooEasy | ChallengeRefusal::Missing
        ) {
            if let Some(replay) = self.first_answer(Some(keyed)).await? {
                return replay.map(Some);
            }
        }
        Err(Error::ChallengeRequired(refusal.to_string()))
    }

    /// The first answer of the keyed join `keyed` repeats, if it went through: the body its
    /// ticket keeps (or the conflict of a key reused for another request). `None` for a join
    /// without a key, or whose key made no ticket.
    async fn first_answer(&self, keyed: Option<&Keyed<'_>>) -> Result<Option<Result<String>>> {
        let Some(keyed) = keyed else {
            return Ok(None);
        };
        let first: Option<WaitingRecord> =
            get_record(&*self.ports.store, &ticket_key(&keyed.token)).await?;
        Ok(first.and_then(|ticket| request_keys::replay(ticket.stamp.as_ref(), keyed.join)))
    }

    /// An account's join: the ticket of its place if that can still be used, else a new ticket,
    /// written first, then claimed as the account's place by a conditional write on the place as
    /// it was read. Two joins of one account racing each other end with one place: the loser
    /// finds the place changed, leaves its own ticket (its order given back) and looks again,
    /// finding the winner's ticket already written.
    ///
    /// Two writes rather than one transaction: a transaction is the store's most expensive call
    /// (on DynamoDB twice the capacity of the writes it holds, and on moto a copy of the table), and
    /// a ticket written before a crash takes its place is harmless: nobody was told its token, and
    /// the line passes it like anyone who walked away.
    async fn join_as(
        &self,
        event: &Event,
        sale: &Sale,
        user: UserId,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<JoinOutcome> {
        let store = &*self.ports.store;
        for _ in 0..PLACE_ATTEMPTS {
            let previous = read_place(store, &event.event_id, &user)
                .await?
                .map(|place| place.token);
            if let Some(token) = &previous {
                if let Some(ticket) = self.usable(event, token).await? {
                    // The place this very key made: a retry, which replays the first answer.
                    if let Some(replay) = keyed
                        .filter(|k| k.token == *token)
                        .and_then(|k| request_keys::replay(ticket.stamp.as_ref(), k.join))
                    {
                        return replay.map(JoinOutcome::Replay);
                    }
                    return Ok(JoinOutcome::Joined(
                        self.joined(event, sale, &ticket).await?,
                        None,
                    ));
                }
            }
            let (ticket, joined, body) = match self
                .write_new_ticket(event, sale, Some(user.clone()), keyed)
                .await?
            {
                NewTicket::Written(ticket, joined, body) => (ticket, joined, body),
                NewTicket::Taken(ticket) => {
                    match keyed.and_then(|k| request_keys::replay(ticket.stamp.as_ref(), k.join)) {
                        Some(replay) => return replay.map(JoinOutcome::Replay),
                        // Withdrawn before anyone was told of it: look at the place again.
                        None => continue,
                    }
                }
            };
            let place = PlaceRecord {
                event_id: event.event_id.clone(),
                user_id: user.clone(),
                token: ticket.token.clone(),
                expires_at: ticket.expires_at,
            };
            match store.write(place.claiming(previous.as_ref())).await {
                Ok(()) => return Ok(JoinOutcome::Joined(joined, body)),
                // Another join of this account claimed the place first: look again.
                Err(StoreError::ConditionFailed { .. }) => {
                    self.withdraw(&ticket).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "this account's place in line kept changing; retry".into(),
        ))
    }

    /// A new ticket at the back of `event`'s line, written only if its token is new, with what
    /// joining answers for it (serialized too for a keyed join, whose ticket keeps it). A keyed
    /// join whose token is taken (a retry, or a duplicate that won) gives its order back and
    /// reads the ticket there.
    async fn write_new_ticket(
        &self,
        event: &Event,
        sale: &Sale,
        user: Option<UserId>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<NewTicket> {
        let token = keyed.map_or_else(WaitingToken::generate, |k| k.token.clone());
        let mut ticket = self.new_ticket(event, sale, user, token).await?;
        let joined = self.joined(event, sale, &ticket).await?;
        let body = match keyed {
            Some(k) => {
                let stamp = k.join.stamp(&joined)?;
                let body = stamp.response.clone();
                ticket.stamp = Some(stamp);
                Some(body)
            }
            None => None,
        };
        let key = ticket_key(&ticket.token);
        // As its text: every join writes one, and the durable store serialized its attributes
        // again on its writer thread ([`crate::ports::store::ItemText`]).
        match self
            .ports
            .store
            .write(Write::put_new_text(to_text(&key, &ticket)?))
            .await
        {
            Ok(()) => {
                if ticket.lobby {
                    self.ports
                        .store
                        .write(entry_write(&ticket, event.queue_shards))
                        .await?;
                }
                Ok(NewTicket::Written(ticket, joined, body))
            }
            Err(StoreError::ConditionFailed { .. }) if keyed.is_some() => {
                self.give_back(&ticket).await?;
                let taken: WaitingRecord = get_record(&*self.ports.store, &key)
                    .await?
                    .ok_or_else(|| Error::Unavailable("a join's ticket changed; retry".into()))?;
                if taken.lobby {
                    // The first attempt may have failed between its ticket and its entry.
                    self.ports
                        .store
                        .write(entry_write(&taken, event.queue_shards))
                        .await?;
                }
                Ok(NewTicket::Taken(taken))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A waiting ticket taken out of line: left (unless it stopped waiting meanwhile), and its
    /// order given back. A leaver's, or a losing join's that nobody was told of (whose answer,
    /// kept for replays, goes with it: a retry of that join looks at the account's place again).
    async fn withdraw(&self, ticket: &WaitingRecord) -> Result<()> {
        let left = Update::new(ticket_key(&ticket.token))
            .set("state", "left")
            .remove("stamp")
            .when(Condition::equals("state", "waiting"));
        match self.ports.store.write(Write::Update(left)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.give_back(ticket).await
    }

    /// The next order of `event`'s line or lobby, from one of its `queue_shards` counters.
    async fn take(&self, counters: Counters, event: &Event) -> Result<u64> {
        self.counting
            .take(
                &self.ports.store,
                counters,
                &event.event_id,
                event.queue_shards,
            )
            .await
    }

    /// A new ticket of `token` at the back of `event`'s line, or in its lobby before the sale
    /// opens (its order taken, the ticket not yet written).
    async fn new_ticket(
        &self,
        event: &Event,
        sale: &Sale,
        user: Option<UserId>,
        token: WaitingToken,
    ) -> Result<WaitingRecord> {
        let now = self.ports.clock.now();
        let lobby = sale.before_opening(now);
        let order = if lobby {
            self.take(Counters::Lobby, event).await?
        } else {
            self.open_line(event, sale).await?;
            self.take(Counters::Line, event).await?
        };
        // A lobby ticket lives its time from the opening on, and longer by as much as an
        // operator may still move the opening ([`LOBBY_GRACE_SECS`]).
        let lives_from = match sale.on_sale_at.filter(|_| lobby) {
            Some(opens) => opens.max(now) + chrono::Duration::seconds(LOBBY_GRACE_SECS),
            None => now,
        };
        Ok(WaitingRecord {
            token,
            event_id: event.event_id.clone(),
            order,
            lobby,
            user_id: user,
            state: TicketState::Waiting,
            joined_at: now,
            expires_at: ttl_after(lives_from, WAITING_TOKEN_TTL_SECS),
            stamp: None,
            entry: None,
        })
    }

    /// What a join answers for `ticket`.
    async fn joined(&self, event: &Event, sale: &Sale, ticket: &WaitingRecord) -> Result<Joined> {
        if ticket.lobby {
            return Ok(Joined {
                waiting_token: ticket.token.clone(),
                position_hint: 0,
                status: "lobby",
                opens_in_sec: Some(sale.opens_in_sec(self.ports.clock.now()).unwrap_or(0)),
            });
        }
        let cursor = self.shown_cursor(event).await?;
        Ok(Joined {
            waiting_token: ticket.token.clone(),
            position_hint: ticket.order.saturating_sub(cursor) + 1,
            status: "waiting",
            opens_in_sec: None,
        })
    }

    /// Makes the line ready for joins after `event`'s opening: its lobby drawn and the line's
    /// counters raised past the drawn places (once per process: counters only go up). Nothing
    /// for an event without an opening time.
    async fn open_line(&self, event: &Event, sale: &Sale) -> Result<()> {
        if sale.on_sale_at.is_none() {
            return Ok(());
        }
        let drawn = self.drawn(event, sale).await?.ok_or_else(|| {
            Error::Unavailable("the sale is opening: its lobby is being drawn; retry".into())
        })?;
        if !drawn.raised.load(std::sync::atomic::Ordering::Acquire) {
            let store = &*self.ports.store;
            let mut line = read_line(store, &event.event_id, event.queue_shards).await?;
            if !close_holes(store, &event.event_id, &mut line, drawn.draw.size).await {
                return Err(Error::Unavailable(
                    "the sale is opening: its line is not ready yet; retry".into(),
                ));
            }
            drawn
                .raised
                .store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// `event`'s lobby draw, if the sale has opened: as this process keeps it, else from the
    /// queue's state, drawn now if nobody has yet. `None` before the opening (or for an event
    /// without one).
    async fn drawn(&self, event: &Event, sale: &Sale) -> Result<Option<Arc<Drawn>>> {
        let id = &event.event_id;
        if let Some(drawn) = self.lobbies.known(id) {
            return Ok(Some(drawn));
        }
        if sale.on_sale_at.is_none() || sale.before_opening(self.ports.clock.now()) {
            return Ok(None);
        }
        let store = &*self.ports.store;
        let mut state = read_state(store, id).await?;
        if state.draw.is_none() {
            // Draws, or reads the draw of whoever drew first.
            state = self.advance(event).await?;
        }
        match &state.draw {
            Some(draw) => Ok(Some(self.lobbies.keep(store, id, draw).await?)),
            None => Err(Error::Unavailable(
                "the sale is opening: its lobby is being drawn; retry".into(),
            )),
        }
    }

    /// Where `ticket` of `event` stands: in line (a lobby ticket at its drawn place, a
    /// straggler the draw missed placed at the back now), or still in the lobby.
    async fn standing(&self, event: &Event, mut ticket: Arc<WaitingRecord>) -> Result<Standing> {
        if !ticket.lobby {
            return Ok(Standing::InLine(ticket));
        }
        let sale = self.sales.current(event).await?;
        let Some(drawn) = self.drawn(event, &sale).await? else {
            return Ok(Standing::InLobby(ticket));
        };
        if let Some(order) = drawn.draw.place(ticket.order) {
            let placed = Arc::make_mut(&mut ticket);
            placed.order = order;
            placed.lobby = false;
            return Ok(Standing::InLine(ticket));
        }
        if ticket.state != TicketState::Waiting {
            // Left (or never placed): it has no place to show.
            return Ok(Standing::InLine(ticket));
        }
        self.place_straggler(event, &sale, Arc::unwrap_or_clone(ticket))
            .await
            .map(|placed| Standing::InLine(Arc::new(placed)))
    }

    /// Places a waiting lobby ticket the draw did not count at the back of the line, once: a
    /// conditional write of its ticket; a process that loses the race gives its order back and
    /// reads the winner's.
    async fn place_straggler(
        &self,
        event: &Event,
        sale: &Sale,
        mut ticket: WaitingRecord,
    ) -> Result<WaitingRecord> {
        let store = &*self.ports.store;
        self.open_line(event, sale).await?;
        let order = self.take(Counters::Line, event).await?;
        let placed = Update::new(ticket_key(&ticket.token))
            .set("order", order as i64)
            .remove("lobby")
            .when(Condition::equals("lobby", true));
        match store.write(Write::Update(placed)).await {
            Ok(()) => {
                tracing::info!(event_id = %event.event_id, order, "a lobby straggler placed at the back");
                ticket.order = order;
                ticket.lobby = false;
                Ok(ticket)
            }
            Err(StoreError::ConditionFailed { .. }) => {
                let now_ms = self.ports.clock.now_ms();
                mark_left(store, &event.event_id, order, now_ms).await?;
                read_ticket(&self.ports, &ticket.token).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Leavers' orders in `[from, to)`, sorted: the line's markers and the lobby's leavers at
    /// their drawn places.
    async fn leavers(&self, event: &EventId, from: u64, to: u64) -> Result<Vec<u64>> {
        let leavers = self.stamped_leavers(event, from, to).await?;
        Ok(leavers.into_iter().map(|l| l.order).collect())
    }

    /// [`Self::leavers`], each with when it left (the lobby's at the draw).
    async fn stamped_leavers(&self, event: &EventId, from: u64, to: u64) -> Result<Vec<Leaver>> {
        let marked = read_stamped_leavers(&*self.ports.store, event, from, to).await?;
        Ok(match self.lobbies.known(event) {
            Some(drawn) => merge_leavers(marked, &drawn.leavers_between(from, to)),
            None => marked,
        })
    }

    /// What `GET /queue/draw` publishes of `event_id`'s lobby (drawing it if the opening has
    /// passed and nobody has yet), with a page of its entries from `after`.
    pub async fn draw_record(
        &self,
        event_id: &EventId,
        after: Option<EntryCursor>,
        limit: usize,
    ) -> Result<DrawRecord> {
        let event = self.catalog.get(event_id).await?;
        let sale = self.sales.current(&event).await?;
        let now = self.ports.clock.now();
        let mut record = DrawRecord {
            event_id: event_id.clone(),
            status: DrawStatus::None,
            on_sale_at: sale.on_sale_at,
            opens_in_sec: sale.opens_in_sec(now),
            algorithm: ALGORITHM,
            seed_sha256: None,
            seed: None,
            lobby_size: None,
            lobby_counts: None,
            drawn_at: None,
            entries: Vec::new(),
            next: None,
        };
        if sale.on_sale_at.is_none() {
            return Ok(record);
        }
        record.seed_sha256 = Some(self.lobbies.seeds().of(event_id).commitment());
        record.status = DrawStatus::Scheduled;
        if let Some(drawn) = self.drawn(&event, &sale).await? {
            record.status = DrawStatus::Drawn;
            record.seed = Some(drawn.draw.seed.clone());
            record.lobby_size = Some(drawn.draw.size);
            record.lobby_counts = Some(drawn.draw.counts.clone());
            record.drawn_at = DateTime::from_timestamp_millis(drawn.draw.drawn_at_ms);
        }
        let (entries, next) = read_entries(
            &*self.ports.store,
            event_id,
            event.queue_shards,
            after,
            limit.clamp(1, MAX_ENTRIES_PAGE),
        )
        .await?;
        record.entries = entries;
        record.next = next.map(|n| n.to_string());
        Ok(record)
    }

    /// The cursor a join goes by (its position hint, whether the account's ticket was admitted):
    /// the live one without view windows; with them, the one statuses show, from a read of the
    /// queue's state at most once per window per process ([`Views::shown_cursor`]), so that joins
    /// and re-joins at the rush put no read on the queue's hottest item each.
    async fn shown_cursor(&self, event: &Event) -> Result<u64> {
        let store = &*self.ports.store;
        if self.views.windowed() {
            self.views
                .shown_cursor(&event.event_id, || read_state(store, &event.event_id))
                .await
        } else {
            read_cursor(store, &event.event_id).await
        }
    }

    /// The ticket of `token` if it can still be used: waiting for its turn, or admitted and
    /// still within its ready window.
    async fn usable(
        &self,
        event: &Event,
        token: &WaitingToken,
    ) -> Result<Option<Arc<WaitingRecord>>> {
        let store = &*self.ports.store;
        let ticket = match read_shared_ticket(&self.ports, token).await {
            Ok(ticket) => ticket,
            Err(Error::TokenNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ticket = match self.standing(event, ticket).await? {
            Standing::InLine(ticket) => ticket,
            Standing::InLobby(ticket) => {
                return Ok((ticket.state == TicketState::Waiting).then_some(ticket))
            }
        };
        if ticket.state != TicketState::Waiting || self.given_up(&ticket).await? {
            return Ok(None);
        }
        // The shown cursor trails the live one by at most a window: a ticket admitted since is
        // taken for waiting, which is usable too; one whose ready window is over was admitted
        // long before it.
        if ticket.order < self.shown_cursor(event).await? {
            let now_ms = self.ports.clock.now_ms();
            let batch = batch_of(store, &event.event_id, ticket.order).await?;
            if batch.is_none_or(|b| b.ready_window_over(now_ms)) {
                return Ok(None);
            }
        }
        Ok(Some(ticket))
    }

    pub async fn status(&self, token: &WaitingToken) -> Result<QueueStatus> {
        let ticket = read_shared_ticket(&self.ports, token).await?;
        let event = self.catalog.get(&ticket.event_id).await?;
        let ticket = match self.standing(&event, ticket).await? {
            Standing::InLine(ticket) => ticket,
            Standing::InLobby(ticket) => return self.lobby_status(&event, &ticket).await,
        };
        let (view, sale) = futures::try_join!(self.view(&event), self.sales.current(&event))?;
        let now = self.ports.clock.now();
        let cursor = view.shown_cursor(self.views.window_ms(), now.timestamp_millis());
        let inventory = &view.inventory;
        let mut status = QueueStatus {
            status: QueueStatusKind::Waiting,
            position: 0,
            eta_sec: 0,
            eta_range_sec: [0, 0],
            likely_sold_out: false,
            waiting_time: (now - ticket.joined_at).num_seconds().max(0),
            ready_for_entry: false,
            event_id: ticket.event_id.clone(),
            sold_out: inventory.available == 0 && inventory.held == 0,
            entered: ticket.state == TicketState::Entered,
            paused: sale.state == SaleState::Paused,
            opens_in_sec: None,
        };
        if ticket.state == TicketState::Left {
            status.status = QueueStatusKind::Expired;
        } else if ticket.order < cursor {
            let batch = self.admitted_by(&event.event_id, ticket.order).await?;
            let expired = ticket.state == TicketState::Waiting
                && batch.is_none_or(|b| b.ready_window_over(now.timestamp_millis()));
            status.status = if expired {
                QueueStatusKind::Expired
            } else {
                QueueStatusKind::Ready
            };
            status.ready_for_entry = ticket.state == TicketState::Waiting && !expired;
        } else {
            if ticket.state == TicketState::Waiting && view.has_left(ticket.order) {
                // Its place was given up (the presence sweep's marker).
                status.status = QueueStatusKind::Expired;
                return Ok(status);
            }
            let now_ms = now.timestamp_millis();
            let leavers = view.leavers_shown(self.views.window_ms(), now_ms, cursor, ticket.order);
            if ticket.state == TicketState::Waiting {
                let seen = self
                    .presence
                    .seen(
                        &*self.ports.store,
                        &event.event_id,
                        ticket.order,
                        now.timestamp_millis(),
                    )
                    .await;
                if let Err(error) = seen {
                    tracing::warn!(%error, "a waiting ticket's presence was not recorded");
                }
            }
            status.position = view.people_ahead(cursor, ticket.order, &leavers) + 1;
            let outlook = LineFacts {
                position: status.position,
                rate: sale.admission_rate_per_sec,
                available: inventory.available,
                held: inventory.held,
                open: view.open,
                sold: inventory.sold,
                admitted: view.state.admitted_total,
                returning: Some(&view.returning),
            }
            .outlook();
            status.eta_sec = outlook.eta_sec;
            status.eta_range_sec = outlook.eta_range_sec;
            status.likely_sold_out = outlook.likely_sold_out;
        }
        if sale.is_closed() && ticket.state == TicketState::Waiting {
            // Nobody still waiting or not yet entered gets in any more.
            status.status = QueueStatusKind::Closed;
            status.position = 0;
            status.eta_sec = 0;
            status.eta_range_sec = [0, 0];
            status.likely_sold_out = false;
            status.ready_for_entry = false;
        }
        Ok(status)
    }

    /// The batch that admitted `order`, if it is still open: with views, from this process's
    /// read of the open batches (no query of the queue's partition per status); without, read.
    async fn admitted_by(&self, event: &EventId, order: u64) -> Result<Option<AdmissionBatch>> {
        let store = &*self.ports.store;
        if !self.views.windowed() {
            return batch_of(store, event, order).await;
        }
        let now_ms = self.ports.clock.now_ms();
        self.open_admissions
            .batch_of(store, event, order, now_ms)
            .await
    }

    /// The status of a ticket in the lobby: no place yet, the time to the opening (the wait
    /// starts then).
    async fn lobby_status(&self, event: &Event, ticket: &WaitingRecord) -> Result<QueueStatus> {
        let sale = self.sales.current(event).await?;
        let now = self.ports.clock.now();
        let opens_in = sale.opens_in_sec(now).unwrap_or(0);
        let closed = sale.is_closed() && ticket.state == TicketState::Waiting;
        let status = match ticket.state {
            TicketState::Left => QueueStatusKind::Expired,
            _ if closed => QueueStatusKind::Closed,
            _ => QueueStatusKind::Lobby,
        };
        // Only a place still in the lobby waits for the opening: one that left (expired) or
        // whose sale closed waits for nothing (a probe saw a left ticket told 600 s).
        let waits = status == QueueStatusKind::Lobby;
        let opens_in = if waits { opens_in } else { 0 };
        Ok(QueueStatus {
            status,
            position: 0,
            eta_sec: opens_in,
            eta_range_sec: [opens_in, opens_in],
            likely_sold_out: false,
            waiting_time: (now - ticket.joined_at).num_seconds().max(0),
            ready_for_entry: false,
            event_id: ticket.event_id.clone(),
            sold_out: false,
            entered: false,
            paused: sale.state == SaleState::Paused,
            opens_in_sec: waits.then_some(opens_in),
        })
    }

    /// The queue's gauges, read without advancing it: the state and join counts (from this
    /// process's view of the current window when it has one, so a deployment that polls pays
    /// nothing more) and one query of leavers. A closed sale's line counts nobody waiting:
    /// nobody in it can be admitted any more (every status says `closed`), and counting them
    /// kept a stuck line on the dashboard for every closed event.
    pub async fn gauge(&self, id: &EventId) -> Result<QueueGauge> {
        let store = &*self.ports.store;
        let event = self.catalog.get(id).await?;
        let closed = self.sales.current(&event).await?.is_closed();
        let (state, line) = match self.views.current(id) {
            Some(view) => (view.state.clone(), view.line.clone()),
            None => {
                let state = read_state(store, id).await?;
                let line = read_line(store, id, state.shards).await?;
                (state, line)
            }
        };
        let end = line.end();
        let waiting = if closed {
            0
        } else {
            let leavers = self.leavers(id, state.cursor, end).await?;
            line.tickets(state.cursor, end)
                .saturating_sub(leavers_between(&leavers, state.cursor, end))
        };
        Ok(QueueGauge {
            waiting,
            admission_rate: state.measured_rate,
            admitted: state.admitted_total,
        })
    }

    /// The events whose queues this process has shown in a window (with `TACOS_QUEUE_VIEW_MS`
    /// above 0): their gauges cost one query of leavers each, the rest comes from the view.
    pub fn viewed_events(&self) -> Vec<EventId> {
        self.views.events()
    }

    /// Exchanges an admitted waiting token for a reservation token, once, for the account that
    /// may use it ([`TokenBinding`]): an anonymous ticket is bound to the account that enters
    /// with it, in the same conditional write that marks it entered.
    pub async fn enter(&self, token: &WaitingToken, caller: Option<UserId>) -> Result<Admission> {
        match self.enter_with(token, caller, None).await? {
            Entry::Fresh(admission) | Entry::Replay(admission) => Ok(admission),
        }
    }

    /// [`Self::enter`] with the request's idempotency key kept on the ticket ([`super::entry`]):
    /// its retry, or a duplicate sent at the same moment, is answered the same token.
    pub async fn enter_keyed(
        &self,
        token: &WaitingToken,
        caller: Option<UserId>,
        key: &RequestKey,
    ) -> Result<KeyedAnswer> {
        Ok(match self.enter_with(token, caller, Some(key)).await? {
            Entry::Fresh(admission) => KeyedAnswer::Fresh(request_keys::body(&admission)?),
            Entry::Replay(admission) => KeyedAnswer::Replay(request_keys::body(&admission)?),
        })
    }

    async fn enter_with(
        &self,
        token: &WaitingToken,
        caller: Option<UserId>,
        key: Option<&RequestKey>,
    ) -> Result<Entry> {
        let ticket = read_shared_ticket(&self.ports, token).await?;
        let user = TokenBinding::of(&ticket).entrant(caller)?;
        let event = self.catalog.get(&ticket.event_id).await?;
        let ticket = match self.standing(&event, ticket).await? {
            Standing::InLine(ticket) => ticket,
            Standing::InLobby(..) => return Err(Error::NotReady),
        };
        if let Some(answered) = self.answered_entry(&ticket, key) {
            return Ok(Entry::Replay(answered));
        }
        match ticket.state {
            TicketState::Entered => return Err(Error::AlreadyEntered),
            TicketState::Left => return Err(Error::TokenNotFound),
            TicketState::Waiting => {}
        }
        if self.given_up(&ticket).await? {
            return Err(Error::TokenExpired);
        }
        self.sales.current(&event).await?.check_not_closed()?;
        let state = self.advance(&event).await?;
        if ticket.order >= state.cursor {
            return Err(Error::NotReady);
        }
        let now = self.ports.clock.now();
        let batch = batch_of(&*self.ports.store, &event.event_id, ticket.order)
            .await?
            .ok_or(Error::TokenExpired)?;
        if batch.ready_window_over(now.timestamp_millis()) {
            return Err(Error::TokenExpired);
        }
        let issue = Issue::new(batch.start, now);
        let mut entered = Update::new(ticket_key(token))
            .set("state", "entered")
            .set("user_id", user.as_str());
        if let Some(key) = key {
            let stamp = serde_json::to_value(EntryStamp::new(key, issue.clone()))
                .map_err(|e| Error::Internal(e.to_string()))?;
            entered = entered.set("entry", stamp);
        }
        let entered = entered.when(Condition::equals("state", "waiting"));
        match self.ports.store.write(Write::Update(entered)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                // Entered meanwhile: by this request (a duplicate), by this account under another
                // key, or by another account that bound it.
                let now_bound = read_ticket(&self.ports, token).await?;
                TokenBinding::of(&now_bound).entrant(Some(user))?;
                return match self.answered_entry(&now_bound, key) {
                    Some(answered) => Ok(Entry::Replay(answered)),
                    None => Err(Error::AlreadyEntered),
                };
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Entry::Fresh(self.admission(
            &event.event_id,
            &user,
            token,
            &issue,
        )))
    }

    /// What `ticket`'s entry answered, when it was entered by the request `key` names.
    fn answered_entry(
        &self,
        ticket: &WaitingRecord,
        key: Option<&RequestKey>,
    ) -> Option<Admission> {
        if ticket.state != TicketState::Entered {
            return None;
        }
        let issue = ticket.entry.as_ref()?.answered(key?)?;
        let user = ticket.user_id.as_ref()?;
        Some(self.admission(&ticket.event_id, user, &ticket.token, issue))
    }

    fn admission(
        &self,
        event: &EventId,
        user: &UserId,
        token: &WaitingToken,
        issue: &Issue,
    ) -> Admission {
        Admission {
            admission: "granted",
            reservation_token: self.tokens.sign(event, user, token, issue),
            ttl_sec: RESERVATION_TOKEN_TTL_SECS,
        }
    }

    /// Gives up a place; the people behind move up. A ticket joined by (or bound to) an account
    /// is left only by that account ([`TokenBinding`]).
    pub async fn leave(&self, token: &WaitingToken, caller: Option<UserId>) -> Result<()> {
        let ticket = read_shared_ticket(&self.ports, token).await?;
        TokenBinding::of(&ticket).leaver(caller.as_ref())?;
        let event = self.catalog.get(&ticket.event_id).await?;
        let ticket = match self.standing(&event, ticket).await? {
            Standing::InLine(ticket) | Standing::InLobby(ticket) => ticket,
        };
        if ticket.state != TicketState::Waiting {
            return Ok(());
        }
        self.withdraw(&ticket).await
    }

    /// Whether the waiting `ticket`'s place was given up because nobody saw it for the
    /// abandonment time ([`super::presence`]): a leaver's marker covers its order though the
    /// ticket itself never left. One read of the marker nearest below its order, only where
    /// that can happen.
    async fn given_up(&self, ticket: &WaitingRecord) -> Result<bool> {
        if !self.presence.enabled() || ticket.state != TicketState::Waiting {
            return Ok(false);
        }
        has_left(&*self.ports.store, &ticket.event_id, ticket.order).await
    }

    /// Frees `ticket`'s place for the people behind: in line, [`Self::give_back_order`]; in
    /// the lobby, a lobby leaver's marker, and if the lobby was drawn meanwhile (a leave that
    /// crossed the opening, which the processes that already read the lobby's leavers missed),
    /// its drawn place too.
    async fn give_back(&self, ticket: &WaitingRecord) -> Result<()> {
        if !ticket.lobby {
            return self.give_back_order(&ticket.event_id, ticket.order).await;
        }
        let store = &*self.ports.store;
        let shards = self.catalog.get(&ticket.event_id).await?.queue_shards;
        store.write(lobby_left_write(ticket, shards)).await?;
        let state = read_state(store, &ticket.event_id).await?;
        if let Some(order) = state.draw.and_then(|draw| draw.place(ticket.order)) {
            self.give_back_order(&ticket.event_id, order).await?;
        }
        Ok(())
    }

    /// Frees the place at `order` for the people behind: a leaver's marker while the cursor has
    /// not reached it, or the admission it was given back to the next advance once it has.
    async fn give_back_order(&self, event: &EventId, order: u64) -> Result<()> {
        let store = &*self.ports.store;
        let state = read_state(store, event).await?;
        if order >= state.cursor {
            let now_ms = self.ports.clock.now_ms();
            mark_left(store, event, order, now_ms).await?;
        } else if let Some(batch) = batch_of(store, event, order).await? {
            // Admitted but never entered: free the place for the next person.
            match store.write(admission_used(event, batch.start)).await {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The queue as a status shows it: advanced if due, and read fresh unless views are windowed
    /// and this process already read it in the current window.
    async fn view(&self, event: &Event) -> Result<Arc<View>> {
        self.views
            .get_or_read(&event.event_id, || self.read_view(event))
            .await
    }

    async fn read_view(&self, event: &Event) -> Result<View> {
        let read_at_ms = self.ports.clock.now_ms();
        // The counts before the state: holes are closed only after the cursor past them is
        // written, so every closed hole in these counts is below the cursor read next.
        let (line, inventory) = futures::try_join!(
            read_line(&*self.ports.store, &event.event_id, event.queue_shards),
            self.catalog.inventory(&event.event_id),
        )?;
        let state = self.advance(event).await?;
        // Counts read as the lobby was being drawn may not yet cover its places.
        let line = match &state.draw {
            Some(draw) => line.covering(draw.size),
            None => line,
        };
        let batches = self
            .open_admissions
            .get(&*self.ports.store, &event.event_id, read_at_ms)
            .await?;
        let (open, returning) = (batches.open(), batches.returning(read_at_ms));
        let drawn = match &state.draw {
            Some(draw) => Some(
                self.lobbies
                    .keep(&*self.ports.store, &event.event_id, draw)
                    .await?,
            ),
            None => None,
        };
        let lobby_leavers = drawn.as_ref().map_or(&[][..], |d| &d.leavers[..]);
        let swept = self
            .presence
            .sweep(
                &*self.ports.store,
                &event.event_id,
                &line,
                state.cursor,
                lobby_leavers,
                read_at_ms,
            )
            .await;
        if let Err(error) = swept {
            tracing::warn!(%error, event_id = %event.event_id, "the sweep of people not seen failed; the next one retries");
        }
        // After the sweep, which may have just marked some. From the cursor this view shows on,
        // to the end: a ticket that joined after these counts were read may ask too.
        let shown = state.shown_cursor(self.views.window_ms(), read_at_ms);
        let leavers = self
            .stamped_leavers(&event.event_id, shown, u64::MAX)
            .await?;
        Ok(View {
            state,
            line,
            inventory,
            open,
            returning,
            leavers: ViewLeavers::new(leavers, self.views.window_ms(), read_at_ms),
            read_at_ms,
        })
    }

    /// Moves the cursor by the admission credit earned since the last move, within what can still
    /// be sold, and returns the queue's state.
    pub async fn advance(&self, event: &Event) -> Result<QueueState> {
        let id = &event.event_id;
        let store = &*self.ports.store;
        let state = read_state(store, id).await?;
        let now = self.ports.clock.now_ms();
        let sale = self.sales.current(event).await?;
        if state.draw.is_none()
            && sale
                .on_sale_at
                .is_some_and(|at| at.timestamp_millis() <= now)
        {
            return self.draw(event, &state, now).await;
        }
        let elapsed = now - state.last_advance_ms;
        if elapsed < self.advance_every_ms {
            return Ok(state);
        }
        if !sale.is_open() {
            // Paused or closed: nobody is admitted, and the credit clock restarts now and then
            // as for an empty line, so resuming lets in no burst of what the pause banked.
            return self.idle(id, &state, now, elapsed).await;
        }
        let mut line = read_line(store, id, state.shards).await?;
        // Normally a no-op: the advance that wrote the cursor closed the holes below it (and the
        // draw raised the counters past the lobby), unless it failed in between.
        let floor = state.draw.as_ref().map_or(0, |draw| draw.size);
        close_holes(store, id, &mut line, state.cursor.max(floor)).await;
        let end = line.end();
        if state.cursor >= end {
            // Nobody waiting: restart the credit clock now and then, so a lull does not bank a
            // burst of admissions for the next arrivals.
            return self.idle(id, &state, now, elapsed).await;
        }
        let credit = Credit::earned(sale.admission_rate_per_sec, elapsed);
        if credit.people < 1 {
            return Ok(state);
        }
        let inventory = self.catalog.inventory(id).await?;
        let room = (inventory.available - open_admissions(store, id, now).await?).max(0);
        let wanted = credit.people.min(room) as u64;
        let leavers = self.leavers(id, state.cursor, end).await?;
        let (cursor, admitted) = if wanted > 0 {
            admit(&line, &leavers, state.cursor, wanted)
        } else {
            (state.cursor, 0)
        };
        let next = state.advanced(now, &credit, wanted, cursor, admitted);
        self.commit(id, &state, next, admitted, line).await
    }

    /// Draws `event`'s lobby at its opening: the lobby counters' counts frozen into the queue's
    /// state with the seed, in the state's own conditional write (one draw, whoever wins), then
    /// the line's counters raised past the drawn places. Returns the state that stands.
    async fn draw(&self, event: &Event, state: &QueueState, now_ms: i64) -> Result<QueueState> {
        let store = &*self.ports.store;
        let id = &event.event_id;
        let counts = read_lobby_counts(store, id, event.queue_shards).await?;
        let next = state.drawn(self.lobbies.draw(id, counts, now_ms), now_ms);
        match store.write(next.replacing(id, state)).await {
            Ok(()) => {
                let size = next.draw.as_ref().map_or(0, |draw| draw.size);
                tracing::info!(event_id = %id, lobby = size, "the lobby is drawn");
                let mut line = read_line(store, id, event.queue_shards).await?;
                close_holes(store, id, &mut line, size).await;
                Ok(next)
            }
            Err(StoreError::ConditionFailed { .. }) => read_state(store, id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// A queue that admits nobody now (nobody waits, or its sale is not open): its credit clock
    /// is restarted now and then (`elapsed` since it last was), so that no burst of admissions
    /// builds up for later.
    async fn idle(
        &self,
        id: &EventId,
        state: &QueueState,
        now_ms: i64,
        elapsed: i64,
    ) -> Result<QueueState> {
        if elapsed > 1_000 {
            self.rest(id, state, now_ms).await
        } else {
            Ok(state.clone())
        }
    }

    /// Writes the restarted credit clock of a queue nobody waits in, unless another advance
    /// wrote first (theirs stands).
    async fn rest(&self, id: &EventId, state: &QueueState, now_ms: i64) -> Result<QueueState> {
        let idle = state.rested(now_ms);
        match self.ports.store.write(idle.replacing(id, state)).await {
            Ok(()) => Ok(idle),
            Err(StoreError::ConditionFailed { .. }) => read_state(&*self.ports.store, id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the advance from `state` to `next` and, if the cursor moved, the batch of the
    /// `admitted` people it let in, in one transaction; then closes the holes below the new
    /// cursor (`line` is the join counts the advance read). Returns the state that stands.
    async fn commit(
        &self,
        id: &EventId,
        state: &QueueState,
        next: QueueState,
        admitted: u64,
        mut line: Line,
    ) -> Result<QueueState> {
        let mut writes = vec![next.replacing(id, state)];
        if next.cursor > state.cursor {
            // Admitted at the instant the cursor moved.
            let batch = AdmissionBatch::opened(
                state.cursor,
                next.cursor,
                admitted,
                self.ports.clock.now(),
                next.last_write_ms,
            );
            writes.push(batch.write(id));
        }
        match self.ports.store.transact(writes).await {
            Ok(()) => {
                if admitted > 0 {
                    tracing::debug!(event_id = %id, admitted, cursor = next.cursor, "admitted");
                }
                close_holes(&*self.ports.store, id, &mut line, next.cursor).await;
                Ok(next)
            }
            // Someone else advanced first; theirs stands.
            Err(StoreError::ConditionFailed { .. }) => read_state(&*self.ports.store, id).await,
            Err(e) => Err(e.into()),
        }
    }
}

/** Shapes of the contract (docs/openapi.yaml) that the app reads. */

/**
 * How a section writes its seat ids: `A-12` straight through the rows (the default, left out of
 * answers), or `VIP-1-5` by row and seat.
 */
export type SeatNumbering = "SECTION-SEAT" | "SECTION-ROW-SEAT";

export interface Section {
  name: string;
  rows: number;
  seats_per_row: number;
  seat_ids?: SeatNumbering;
  /** A seat's price in the currency's minor unit when not the event's. */
  price?: number | null;
}

export interface EventInfo {
  event_id: string;
  name: string;
  venue: string;
  starts_at: string;
  currency: string;
  /** Digits of the currency's minor unit (2 for USD, 0 for KRW). */
  currency_minor_unit?: number;
  /** The default price of a place, in the currency's minor unit. */
  price: number;
  total: number;
  sections: Section[];
  kind: "seated" | "general_admission";
  /** The admission rate in force (the sale's). */
  admission_rate_per_sec: number;
  max_per_order: number;
  /**
   * When the sale opens (RFC 3339), absent when none was set. Before it, joining puts a person in
   * the lobby, where everyone gets a random place in line at the opening (`GET /queue/draw`).
   */
  on_sale_at?: string | null;
  /** The sale as operators left it. */
  sale: Sale;
}

/** `open`, `paused` (nobody more admitted; places kept) or `closed` (for good). */
export type SaleState = "open" | "paused" | "closed";

/** An event's sale: what the waiting room and holds obey, and what operators change. */
export interface Sale {
  event_id: string;
  state: SaleState;
  /** People admitted per second while open. */
  admission_rate_per_sec: number;
  /** How long a hold placed now lasts. */
  hold_seconds: number;
  /** Leading zero bits of the proof of work a join must carry (0–28; 0, the default: none). */
  join_challenge_bits: number;
  /** When the sale opens (RFC 3339); absent when it has no opening time. */
  on_sale_at?: string | null;
  /** When an operator last changed it (RFC 3339); absent if never. */
  changed_at?: string;
}

/** `PATCH /admin/events/{id}`: at least one setting. */
export interface SaleSettings {
  admission_rate_per_sec?: number;
  hold_seconds?: number;
  join_challenge_bits?: number;
  /** A new opening time, UTC RFC 3339; only while the opening is still ahead (else 409 `INVALID_STATE`). */
  on_sale_at?: string;
}

/**
 * `GET /queue/challenge`: find a `solution` (a decimal counter) such that SHA-256 of
 * `challenge:idempotencyKey:solution` starts with `bits` zero bits, then join with that key.
 */
export interface JoinChallenge {
  challenge: string;
  /** 0: the event asks for no work. */
  bits: number;
  expires_at: string;
  algorithm: string;
}

/** `POST /queue/join`'s body: the work only when the event asks for it. */
export interface JoinBody {
  event_id: string;
  challenge?: string;
  solution?: string;
}

export interface JoinAnswer {
  waiting_token: string;
  position_hint: number;
  /** `lobby` before the sale's opening (202), else `waiting`. */
  status: string;
  /** Seconds until the opening, in the lobby. */
  opens_in_sec?: number;
}

/** `GET /queue/draw`: the public record of an event's opening draw. */
export interface DrawInfo {
  event_id: string;
  /** `none`: the event has no opening; `scheduled`: the opening is ahead; `drawn`: done. */
  status: "none" | "scheduled" | "drawn";
  on_sale_at?: string;
  /** Seconds until the opening (scheduled only). */
  opens_in_sec?: number;
  /** How the order follows from the seed (`feistel-sha256-v1`: docs/api.md). */
  algorithm: string;
  /** The commitment: SHA-256 of the seed, hex, published before the opening. */
  seed_sha256?: string;
  /** The seed itself, hex, revealed once drawn. */
  seed?: string;
  /** How many people were in the lobby at the draw. */
  lobby_size?: number;
  drawn_at?: string;
  /** The lobby's places: `token_sha256` is the lowercase hex SHA-256 of a waiting token. */
  entries: DrawEntry[];
  /** The next page's `after`, or null. */
  next: string | null;
}

export interface DrawEntry {
  lobby_order: number;
  token_sha256: string;
}

export type AuditAction = "pause" | "resume" | "close" | "update";

/** One operator action of the audit log: who, when, what, and the sale before and after. */
export interface AuditEntry {
  audit_id: string;
  at: string;
  /** The operator's user id. */
  actor: string;
  action: AuditAction;
  event_id: string;
  before: Sale;
  after: Sale;
}

/** A page of the audit log, newest first; `next` (as `before`) pages back. */
export interface AuditPage {
  entries: AuditEntry[];
  next?: string;
}

export type SeatState = "AVAILABLE" | "HELD" | "SOLD";

export interface Availability {
  event_id: string;
  total: number;
  available: number;
  held: number;
  sold: number;
  seats: SeatStatus[];
}

/**
 * One seat of `Availability.seats`. The contract reports where it is (`section`, `row`, its
 * `number` in the row) and its `price`; the map falls back on the seat id when they are absent.
 */
export interface SeatStatus {
  seat_id: string;
  status: SeatState;
  section?: string;
  row?: number;
  number?: number;
  price?: number;
}

export interface QueueStatus {
  /**
   * `lobby`: the sale has not opened yet (everyone here then gets a random place at the opening);
   * `closed`: an operator closed the sale before this token entered (final).
   */
  status: "lobby" | "waiting" | "ready" | "expired" | "closed";
  /** Seconds until the opening, in the lobby. */
  opens_in_sec?: number;
  /** People ahead plus one while waiting; 0 otherwise (and in the lobby). */
  position: number;
  /**
   * The point estimate of the wait, in seconds. With `likely_sold_out`, when it should be known
   * whether places come back: not a promise of a place.
   */
  eta_sec: number;
  /** `[low, high]`: the wait is expected to fall within it, in seconds (`[0, 0]` once not waiting). */
  eta_range_sec: [number, number];
  /** The stock is likely to run out before this place is reached (the place is kept all the same). */
  likely_sold_out: boolean;
  waiting_time: number;
  ready_for_entry: boolean;
  event_id: string;
  sold_out: boolean;
  entered: boolean;
  /** An operator paused admission: the place is kept, nobody is let in until it resumes. */
  paused: boolean;
}

export interface AuthSession {
  token: string;
  user_id: string;
  username: string;
  display_name?: string | null;
  role: string;
  expires_in: number;
  /** This browser's device token for the account: sent with the next login so that it is counted
   * in this device's own login budget (others' wrong guesses at the username do not lock it out). */
  device_token?: string;
}

export type ReservationStatus = "HOLD" | "CONFIRMED" | "CANCELLED" | "EXPIRED";

export interface Reservation {
  reservation_id: string;
  status: ReservationStatus;
  event_id: string;
  seat_ids: string[];
  quantity: number;
  user_id: string;
  total_amount: number;
  currency: string;
  hold_expires_at: string;
  /** Once a payment has started: the hold stays until then for the payment's answer. */
  payment_deadline?: string;
  order_id: string | null;
  payment_intent_id: string | null;
  created_at: string;
}

export type Scenario = "approve" | "fail" | "delay";

export interface PaymentIntent {
  payment_intent_id: string;
  status: string;
  amount: number;
  currency: string;
  reservation_id: string;
}

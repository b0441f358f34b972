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
  admission_rate_per_sec: number;
  max_per_order: number;
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
  status: "waiting" | "ready" | "expired";
  position: number;
  eta_sec: number;
  waiting_time: number;
  ready_for_entry: boolean;
  event_id: string;
  sold_out: boolean;
  entered: boolean;
}

export interface AuthSession {
  token: string;
  user_id: string;
  username: string;
  display_name?: string | null;
  role: string;
  expires_in: number;
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

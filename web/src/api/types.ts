/** Shapes of the contract (docs/openapi.yaml) that the app reads. */

export interface Section {
  name: string;
  rows: number;
  seats_per_row: number;
}

export interface EventInfo {
  event_id: string;
  name: string;
  venue: string;
  starts_at: string;
  currency: string;
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
  seats: { seat_id: string; status: SeatState }[];
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

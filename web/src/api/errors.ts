/** API failures as one type, and what to tell a person about each. */

/** An API call that did not succeed: an error answer of the contract, or no answer at all. */
export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the request never got an answer (network failure). */
    readonly status: number,
    /** The contract's error code, or `NETWORK_ERROR` / `BAD_RESPONSE` for client-side failures. */
    readonly code: string,
    message: string,
    readonly traceId?: string,
    /** Seconds to wait before retrying (`Retry-After`), when the server said so. */
    readonly retryAfter?: number,
    /** Seats named by a 409 `SEAT_UNAVAILABLE`. */
    readonly seats: string[] = [],
    /** The request the server refused, when it answered: what a refusal means can depend on it. */
    readonly request?: RequestLine,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A request as the app made it: its method and its path under the API's base URL, without query. */
export interface RequestLine {
  method: string;
  path: string;
}

/** Builds an [`ApiError`] from an error response's status, headers and body text, and the request refused. */
export function errorFromResponse(
  status: number,
  retryAfterHeader: string | null,
  body: string,
  traceHeader: string | null,
  request?: RequestLine,
): ApiError {
  let code = status === 503 ? "UNAVAILABLE" : status === 429 ? "RATE_LIMITED" : "HTTP_" + status;
  let message = `The server answered ${status}.`;
  let traceId = traceHeader ?? undefined;
  let seats: string[] = [];
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown; trace_id?: unknown; seats?: unknown } };
    const e = parsed.error;
    if (e && typeof e.code === "string") code = e.code;
    if (e && typeof e.message === "string") message = e.message;
    if (e && typeof e.trace_id === "string") traceId = e.trace_id;
    if (e && Array.isArray(e.seats)) seats = e.seats.filter((s): s is string => typeof s === "string");
  } catch {
    // Not the contract's JSON (a proxy's page, say): keep the status-derived code.
  }
  const retry = retryAfterHeader !== null ? Number.parseInt(retryAfterHeader, 10) : NaN;
  return new ApiError(status, code, message, traceId, Number.isFinite(retry) && retry >= 0 ? retry : undefined, seats, request);
}

export interface Explained {
  title: string;
  detail: string;
  /** What the page should offer next. */
  action?: "login" | "rejoin" | "pick-again" | "retry";
}

/** What to tell a person about a failure. Never claims success; always says what to do next. */
export function explain(err: unknown): Explained {
  if (!(err instanceof ApiError)) {
    return { title: "Something went wrong", detail: err instanceof Error ? err.message : String(err), action: "retry" };
  }
  const wait = err.retryAfter !== undefined ? `${err.retryAfter} second${err.retryAfter === 1 ? "" : "s"}` : "a moment";
  switch (err.code) {
    case "NETWORK_ERROR":
      return { title: "Cannot reach the server", detail: "Check your connection and try again. Nothing was bought.", action: "retry" };
    case "UNAVAILABLE":
      return { title: "Service busy", detail: `The service is temporarily unavailable. Try again in ${wait}.`, action: "retry" };
    case "RATE_LIMITED":
      return { title: "Too many requests", detail: `Please slow down and try again in ${wait}.`, action: "retry" };
    case "SEAT_UNAVAILABLE": {
      const seats = err.seats.length > 0 ? err.seats.join(", ") : "the seat you chose";
      const verb = err.seats.length > 1 ? "were" : "was";
      return { title: "Seat taken", detail: `Sorry, ${seats} ${verb} just taken by someone else. Please pick another seat.`, action: "pick-again" };
    }
    case "INSUFFICIENT_INVENTORY":
      return { title: "Not enough tickets left", detail: `${err.message}. Choose a smaller quantity.`, action: "pick-again" };
    case "PURCHASE_LIMIT_EXCEEDED":
      // The server's message names the limit and what the account has already: "an account may
      // hold and buy at most 4 tickets for this event; it has 3, 2 more requested".
      return {
        title: "Ticket limit reached",
        detail: `Each account can buy a limited number of tickets for this event, counting holds and orders already made (${err.message}). Choose fewer tickets.`,
        action: "pick-again",
      };
    case "MISSING_AUTHORIZATION":
    case "INVALID_TOKEN":
      return { title: "Please log in", detail: "Your session has ended. Log in or register to continue.", action: "login" };
    case "FORBIDDEN":
      return {
        title: "Not allowed",
        detail: `This account may not do that (${err.message || `the server answered ${err.status}`}). Log in with an account that may.`,
        action: "login",
      };
    case "INVALID_CREDENTIALS":
      return { title: "Login failed", detail: "Wrong username or password." };
    case "USERNAME_EXISTS":
      return { title: "Username taken", detail: "That username is already registered. Pick another or log in." };
    case "TOKEN_NOT_FOUND":
      // A waiting token the server does not know (its place was given up, or it was joined
      // signed in to another account): no turn was ever had, so none "ran out".
      return {
        title: "Place in line not found",
        detail: "The server no longer knows this place in line (it may have been given up, or taken while signed in to another account). Join the waiting room again.",
        action: "rejoin",
      };
    case "INVALID_RESERVATION_TOKEN":
    case "TOKEN_EXPIRED":
    case "ALREADY_ENTERED":
      return { title: "Your turn has passed", detail: "Your time to choose ran out. Join the waiting room again.", action: "rejoin" };
    case "NOT_READY":
      return { title: "Not your turn yet", detail: "Please keep waiting; you will be let in automatically." };
    case "RESERVATION_EXPIRED":
      return { title: "Hold expired", detail: "Your hold expired and the seats were released. Nothing was charged.", action: "rejoin" };
    case "PAYMENT_NOT_APPROVED":
      return { title: "Payment not approved", detail: "The payment was not approved. Nothing was charged." };
    case "SALE_CLOSED":
      return { title: "Sales closed", detail: "Sales for this event are closed. A closed sale cannot be reopened or changed." };
    case "EVENT_NOT_FOUND":
      return { title: "Event not found", detail: "This event does not exist (any more)." };
    case "RESERVATION_NOT_FOUND":
      return { title: "Reservation not found", detail: "This reservation does not exist or belongs to another account." };
    case "INVALID_STATE":
      return explainInvalidState(err);
    case "IDEMPOTENCY_IN_PROGRESS":
      return { title: "Still working", detail: "Your previous attempt is still being processed. Try again in a moment.", action: "retry" };
    case "INVALID_REQUEST":
      return { title: "Check your input", detail: err.message };
    case "CHALLENGE_REQUIRED":
      // Only after the app's own new tries (lib/join.ts): the check kept being refused.
      return {
        title: "Browser check not accepted",
        detail: "The quick check that keeps bots out of the line did not go through, though your browser tried several times. Try again.",
        action: "retry",
      };
    default:
      return { title: "Request failed", detail: err.message, action: err.status >= 500 ? "retry" : undefined };
  }
}

/**
 * What a 409 `INVALID_STATE` was about. The server answers it for several refusals, with no field
 * to tell them apart but its message (`shared/core`: `reservations/{cancel,confirm,payment}.rs`,
 * `payments/simulator.rs`, `sale/mod.rs`), so that and the request refused decide:
 *
 * - `confirmed`: "a confirmed reservation cannot be cancelled" (cancel), "reservation is
 *   CONFIRMED, not HOLD" (a payment), "reservation already confirmed with another payment" (confirm);
 * - `cancelled`: "reservation is CANCELLED, not HOLD" (a payment), "reservation was cancelled" (confirm);
 * - `paying`: "another payment of this reservation (pi_…) is under way" (a payment);
 * - `expired`: a hold that is over (the server says 410 `RESERVATION_EXPIRED` for it today);
 * - `opening`: "the sale has opened: … its opening time can no longer move" (an operator's `PATCH`);
 * - `other`: anything else, said in the server's words.
 */
export type StateConflict = "confirmed" | "cancelled" | "paying" | "expired" | "opening" | "other";

/** What the app asked for when the server answered `INVALID_STATE`. */
type Attempt = "cancel" | "pay" | "confirm" | "sale" | "other";

function attemptOf(request: RequestLine | undefined): Attempt {
  if (!request) return "other";
  const { method, path } = request;
  if (method === "DELETE" && /^\/api\/v1\/reservations\/[^/]+$/.test(path)) return "cancel";
  if (method === "POST" && /^\/api\/v1\/reservations\/[^/]+\/cancel$/.test(path)) return "cancel";
  if (method === "POST" && /^\/api\/v1\/reservations\/[^/]+\/confirm$/.test(path)) return "confirm";
  if (method === "POST" && /^\/api\/v1\/payments\/(intent|process)$/.test(path)) return "pay";
  if (/^\/api\/v1\/admin\/events\//.test(path)) return "sale";
  return "other";
}

/** Which refusal a 409 `INVALID_STATE` is (see [`StateConflict`]). */
export function stateConflict(err: ApiError): StateConflict {
  const m = err.message;
  if (/payment\b.*\bunder way/i.test(m)) return "paying";
  if (/\bconfirmed\b/i.test(m)) return "confirmed";
  if (/\bcancell?ed\b/i.test(m)) return "cancelled";
  if (/\bexpired\b/i.test(m)) return "expired";
  if (/opening time|\bhas opened\b/i.test(m) || attemptOf(err.request) === "sale") return "opening";
  return "other";
}

/** A 409 `INVALID_STATE`, named for what happened, with what to do next. */
function explainInvalidState(err: ApiError): Explained {
  const attempt = attemptOf(err.request);
  switch (stateConflict(err)) {
    case "confirmed":
      return attempt === "cancel"
        ? {
            title: "Already paid",
            detail: "This reservation was paid for and confirmed, so it can no longer be cancelled. Your tickets are yours: reload the page to see your order.",
          }
        : {
            title: "Already paid",
            detail: "This reservation is already paid for and confirmed, so it was not paid again and nothing more was charged. Reload the page to see your order.",
          };
    case "cancelled":
      return {
        title: "Reservation cancelled",
        detail: "This hold was cancelled and its seats released, so it can no longer be paid. Nothing was charged. To buy, join the waiting room again.",
        action: "rejoin",
      };
    case "paying":
      return {
        title: "Payment already under way",
        detail: "A payment of this reservation has already started (in another tab, or an earlier try whose answer was lost), so it was not paid again. Wait for the bank's answer: you will not be charged twice.",
      };
    case "expired":
      return explain(new ApiError(410, "RESERVATION_EXPIRED", err.message, err.traceId));
    case "opening":
      return {
        title: "Opening time cannot move",
        detail: `The opening time stays as it was: ${err.message}.`,
      };
    case "other":
      return {
        title: "Not possible any more",
        detail: `The server refused this in the current state (${err.message}). Reload the page to see where things stand.`,
      };
  }
}

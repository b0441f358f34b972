import { describe, expect, it } from "vitest";
import { ApiError, errorFromResponse, explain } from "./errors";

const body = (code: string, message: string, extra: object = {}) =>
  JSON.stringify({ error: { code, message, trace_id: "abc", ...extra } });

describe("errorFromResponse", () => {
  it("reads the contract's error shape", () => {
    const e = errorFromResponse(409, null, body("SEAT_UNAVAILABLE", "seats no longer available: A-1", { seats: ["A-1"] }), "hdr");
    expect(e.code).toBe("SEAT_UNAVAILABLE");
    expect(e.seats).toEqual(["A-1"]);
    expect(e.traceId).toBe("abc");
  });
  it("keeps Retry-After", () => {
    expect(errorFromResponse(429, "7", body("RATE_LIMITED", "slow down"), null).retryAfter).toBe(7);
  });
  it("copes with bodies that are not the contract's", () => {
    const e = errorFromResponse(503, "2", "<html>Bad gateway</html>", null);
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.retryAfter).toBe(2);
    expect(errorFromResponse(502, null, "", null).code).toBe("HTTP_502");
  });
});

describe("explain", () => {
  it("names the seats that were taken and offers another pick", () => {
    const x = explain(new ApiError(409, "SEAT_UNAVAILABLE", "", undefined, undefined, ["A-1", "A-2"]));
    expect(x.detail).toContain("A-1, A-2 were just taken");
    expect(x.action).toBe("pick-again");
  });
  it("says an account's ticket limit was reached, not that the request failed", () => {
    const message = "an account may hold and buy at most 4 tickets for this event; it has 3, 2 more requested";
    const x = explain(new ApiError(409, "PURCHASE_LIMIT_EXCEEDED", message));
    expect(x.title).toBe("Ticket limit reached");
    expect(x.detail).toContain(message);
    expect(x.action).toBe("pick-again");
  });
  it("says how long to wait on a rate limit", () => {
    expect(explain(new ApiError(429, "RATE_LIMITED", "", undefined, 1)).detail).toContain("in 1 second.");
    expect(explain(new ApiError(429, "RATE_LIMITED", "")).detail).toContain("in a moment");
  });
  it("never hides a network failure", () => {
    const x = explain(new ApiError(0, "NETWORK_ERROR", ""));
    expect(x.title).toBe("Cannot reach the server");
    expect(x.action).toBe("retry");
  });
  it("sends expired turns back to the waiting room and bad sessions to login", () => {
    expect(explain(new ApiError(403, "INVALID_RESERVATION_TOKEN", "")).action).toBe("rejoin");
    expect(explain(new ApiError(401, "INVALID_TOKEN", "")).action).toBe("login");
  });
  it("says a waiting token the server does not know is a place not found, not a turn that ran out", () => {
    const x = explain(new ApiError(404, "TOKEN_NOT_FOUND", "waiting token not found"));
    expect(x.title).toBe("Place in line not found");
    expect(x.detail).not.toContain("ran out");
    expect(x.action).toBe("rejoin");
  });
  it("tells an operator what the sale controls' refusals mean", () => {
    const forbidden = explain(errorFromResponse(403, null, body("FORBIDDEN", "this route is for administrators"), null));
    expect(forbidden.title).toBe("Not allowed");
    expect(forbidden.detail).toContain("this route is for administrators");
    expect(forbidden.action).toBe("login");
    const closed = explain(errorFromResponse(409, null, body("SALE_CLOSED", "sales for this event are closed"), null));
    expect(closed.title).toBe("Sales closed");
    expect(closed.detail).toContain("cannot be reopened");
    const invalid = explain(errorFromResponse(400, null, body("INVALID_REQUEST", "hold_seconds: a whole number from 10 to 3600"), null));
    expect(invalid).toEqual({ title: "Check your input", detail: "hold_seconds: a whole number from 10 to 3600" });
    expect(explain(errorFromResponse(401, null, body("MISSING_AUTHORIZATION", "an Authorization: Bearer token is required"), null)).action).toBe("login");
  });
  it("offers another try when the browser check kept being refused", () => {
    const e = explain(errorFromResponse(428, null, body("CHALLENGE_REQUIRED", "the challenge expired; ask for a new one"), null));
    expect(e.title).toBe("Browser check not accepted");
    expect(e.action).toBe("retry");
  });
  describe("a 409 INVALID_STATE says what happened, from the server's message and the request refused", () => {
    // The server's own messages (shared/core), and the requests the pages make.
    const cancel = { method: "DELETE", path: "/api/v1/reservations/rsv_1" };
    const intent = { method: "POST", path: "/api/v1/payments/intent" };
    const process = { method: "POST", path: "/api/v1/payments/process" };
    const confirm = { method: "POST", path: "/api/v1/reservations/rsv_1/confirm" };
    const opening = { method: "PATCH", path: "/api/v1/admin/events/evt_1" };
    const refused = (message: string, request?: { method: string; path: string }) =>
      explain(errorFromResponse(409, null, body("INVALID_STATE", message), null, request));

    it("keeps the request refused on the error", () => {
      expect(errorFromResponse(409, null, body("INVALID_STATE", "reservation was cancelled"), null, confirm).request).toEqual(confirm);
    });
    it("a cancel of a paid reservation: already paid, nothing to cancel", () => {
      const x = refused("a confirmed reservation cannot be cancelled", cancel);
      expect(x.title).toBe("Already paid");
      expect(x.detail).toContain("can no longer be cancelled");
      expect(x.action).toBeUndefined();
    });
    it("a payment of a paid reservation: already paid, not charged again", () => {
      for (const x of [refused("reservation is CONFIRMED, not HOLD", intent), refused("reservation already confirmed with another payment", confirm)]) {
        expect(x.title).toBe("Already paid");
        expect(x.detail).toContain("nothing more was charged");
      }
    });
    it("a payment of a cancelled hold: cancelled, join again", () => {
      for (const x of [refused("reservation is CANCELLED, not HOLD", intent), refused("reservation is CANCELLED, not HOLD", process), refused("reservation was cancelled", confirm)]) {
        expect(x.title).toBe("Reservation cancelled");
        expect(x.detail).toContain("Nothing was charged");
        expect(x.action).toBe("rejoin");
      }
    });
    it("a second payment while one is under way: wait for its answer, not charged twice", () => {
      const x = refused("another payment of this reservation (pi_0123) is under way", process);
      expect(x.title).toBe("Payment already under way");
      expect(x.detail).toContain("not be charged twice");
      expect(x.action).toBeUndefined();
    });
    it("a hold that is over: expired, as the server's 410 says it", () => {
      const x = refused("reservation is EXPIRED, not HOLD", intent);
      expect(x).toEqual(explain(new ApiError(410, "RESERVATION_EXPIRED", "")));
    });
    it("an opening time moved after the opening: the operator is told the time stays", () => {
      const x = refused("the sale has opened: its lobby was drawn, so its opening time can no longer move", opening);
      expect(x.title).toBe("Opening time cannot move");
      expect(x.detail).toContain("its lobby was drawn");
    });
    it("a refusal it does not know: said in the server's words, never as a closed reservation", () => {
      const x = refused("the moon is in the wrong phase");
      expect(x.title).toBe("Not possible any more");
      expect(x.detail).toContain("the moon is in the wrong phase");
    });
    it("no cause is called a closed reservation", () => {
      for (const m of ["a confirmed reservation cannot be cancelled", "reservation was cancelled", "another payment of this reservation (pi_1) is under way", "x"]) {
        expect(refused(m, cancel).title).not.toBe("Reservation closed");
      }
    });
  });
  it("explains plain errors too", () => {
    expect(explain(new Error("boom")).detail).toBe("boom");
  });
});

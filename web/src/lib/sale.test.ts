import { afterEach, describe, expect, it, vi } from "vitest";
import type { Sale } from "../api/types";
import {
  actionLabel,
  checkOpening,
  checkSettings,
  describeBits,
  describeChange,
  formatBits,
  formatHold,
  formatOpening,
  formatRate,
  formatRateShort,
  PHONE_HASHES_PER_SEC,
  saleStateLabel,
  saleStateMeaning,
  toLocalInput,
} from "./sale";

const sale = (over: Partial<Sale> = {}): Sale => ({
  event_id: "evt_demo_ga",
  state: "open",
  admission_rate_per_sec: 500,
  hold_seconds: 60,
  join_challenge_bits: 0,
  ...over,
});

describe("sale wording", () => {
  it("names states and actions, and keeps unknown ones as the server wrote them", () => {
    expect(saleStateLabel("open")).toBe("Open");
    expect(saleStateLabel("paused")).toBe("Paused");
    expect(saleStateLabel("closed")).toBe("Closed");
    expect(saleStateLabel("frozen")).toBe("frozen");
    expect(saleStateMeaning("paused")).toMatch(/keeps their place/);
    expect(saleStateMeaning("closed")).toMatch(/for good/);
    expect(actionLabel("pause")).toBe("Paused");
    expect(actionLabel("resume")).toBe("Resumed");
    expect(actionLabel("close")).toBe("Closed");
    expect(actionLabel("update")).toBe("Changed settings");
    expect(actionLabel("reopen")).toBe("reopen");
  });
  it("formats rates and hold times", () => {
    expect(formatRate(20)).toBe("20 people per second");
    expect(formatRate(1)).toBe("1 person per second");
    expect(formatRate(0.5)).toBe("0.5 people per second");
    expect(formatRate(100_000)).toBe("100,000 people per second");
    expect(formatRate(1 / 3)).toBe("0.333 people per second");
    expect(formatRateShort(25.5)).toBe("25.5/s");
    expect(formatHold(60)).toBe("60 s");
    expect(formatHold(3600)).toBe("3,600 s");
  });
  it("says what an audit entry changed, part by part", () => {
    expect(describeChange(sale(), sale({ state: "paused" }))).toEqual(["state: open → paused"]);
    expect(describeChange(sale(), sale({ admission_rate_per_sec: 20, hold_seconds: 90 }))).toEqual([
      "rate: 500/s → 20/s",
      "hold: 60 s → 90 s",
    ]);
    expect(describeChange(sale({ state: "paused" }), sale({ state: "closed", changed_at: "2026-01-01T00:00:00Z" }))).toEqual([
      "state: paused → closed",
    ]);
    expect(describeChange(sale(), sale())).toEqual(["no change"]);
    // The proof of work at join, by name.
    expect(describeChange(sale(), sale({ join_challenge_bits: 18 }))).toEqual(["proof of work: off → 18 bits"]);
    expect(describeChange(sale({ join_challenge_bits: 18 }), sale({ join_challenge_bits: 1 }))).toEqual(["proof of work: 18 bits → 1 bit"]);
    expect(describeChange(sale({ join_challenge_bits: 20 }), sale({ join_challenge_bits: 0, hold_seconds: 90 }))).toEqual([
      "hold: 60 s → 90 s",
      "proof of work: 20 bits → off",
    ]);
    // An entry from before the setting existed has none: off, so no change.
    const { join_challenge_bits: _, ...older } = sale();
    expect(describeChange(older as Sale, sale())).toEqual(["no change"]);
    // A setting this app does not know yet is shown as the server names it; when it changed is not a change.
    const more = (queue_cap: number) => ({ ...sale(), queue_cap }) as Sale;
    expect(describeChange(more(0), more(8))).toEqual(["queue_cap: 0 → 8"]);
    expect(describeChange(more(0), { ...more(0), changed_at: "2026-01-01T00:00:00Z" })).toEqual(["no change"]);
  });
});

describe("checkSettings", () => {
  it("sends only what differs from the sale shown", () => {
    expect(checkSettings(sale(), "20", "60", "0")).toEqual({ ok: true, settings: { admission_rate_per_sec: 20 } });
    expect(checkSettings(sale(), " 500 ", "90", "0")).toEqual({ ok: true, settings: { hold_seconds: 90 } });
    expect(checkSettings(sale(), "0.5", "3600", "0")).toEqual({ ok: true, settings: { admission_rate_per_sec: 0.5, hold_seconds: 3600 } });
  });
  it("says when there is nothing to change", () => {
    const r = checkSettings(sale(), "500", "60", "0");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBeUndefined();
      expect(r.message).toMatch(/Nothing to change/);
    }
  });
  it("holds the rate to the server's limits: above 0, at most 100000", () => {
    for (const bad of ["", "0", "-1", "100000.5", "abc", "Infinity"]) {
      const r = checkSettings(sale(), bad, "60", "0");
      expect(r, bad).toMatchObject({ ok: false, field: "rate" });
    }
    expect(checkSettings(sale(), "100000", "60", "0")).toEqual({ ok: true, settings: { admission_rate_per_sec: 100_000 } });
  });
  it("holds the hold time to whole seconds from 10 to 3600", () => {
    for (const bad of ["", "9", "3601", "30.5", "x"]) {
      const r = checkSettings(sale(), "500", bad, "0");
      expect(r, bad).toMatchObject({ ok: false, field: "hold" });
    }
    expect(checkSettings(sale(), "500", "9", "0")).toEqual({
      ok: false,
      field: "hold",
      message: "The hold time must be a whole number of seconds from 10 to 3,600.",
    });
    expect(checkSettings(sale(), "500", "10", "0")).toEqual({ ok: true, settings: { hold_seconds: 10 } });
  });
});

describe("proof of work at join", () => {
  it("is checked against the server's limits: whole bits from 0 to 28", () => {
    for (const bad of ["", "-1", "29", "18.5", "x", "1e3"]) {
      const r = checkSettings(sale(), "500", "60", bad);
      expect(r, bad).toMatchObject({ ok: false, field: "bits" });
    }
    expect(checkSettings(sale(), "500", "60", "29")).toEqual({
      ok: false,
      field: "bits",
      message: "The proof of work must be a whole number of bits from 0 (off) to 28.",
    });
    expect(checkSettings(sale(), "500", "60", " 18 ")).toEqual({ ok: true, settings: { join_challenge_bits: 18 } });
    expect(checkSettings(sale(), "500", "60", "28")).toEqual({ ok: true, settings: { join_challenge_bits: 28 } });
    expect(checkSettings(sale({ join_challenge_bits: 18 }), "500", "60", "0")).toEqual({ ok: true, settings: { join_challenge_bits: 0 } });
    // Only what changed is sent; the same bits are no change.
    expect(checkSettings(sale({ join_challenge_bits: 18 }), "20", "60", "18")).toEqual({ ok: true, settings: { admission_rate_per_sec: 20 } });
    expect(checkSettings(sale({ join_challenge_bits: 18 }), "500", "60", "18")).toMatchObject({ ok: false, message: /Nothing to change/ });
  });
  it("says what a difficulty costs: about 2^bits hashes, and a phone's time for them", () => {
    expect(formatBits(0)).toBe("off");
    expect(formatBits(1)).toBe("1 bit");
    expect(formatBits(18)).toBe("18 bits");
    expect(describeBits(0)).toBe("Off: joining needs no work.");
    expect(describeBits(18)).toMatch(/^About 262,144 hashes per join: about \d\.\d s on a phone on average .* 17 is about a second\.$/);
    expect(describeBits(28)).toMatch(/^About 268,435,456 hashes per join: about \d+ minutes on a phone/);
    expect(describeBits(4)).toMatch(/under 0\.1 s/);
    expect(describeBits(29)).toBe("A whole number from 0 (off) to 28.");
    expect(describeBits(Number.NaN)).toBe("A whole number from 0 (off) to 28.");
    // 17 bits is about a second on a phone at the measured rate, 18 about one and a half.
    expect(2 ** 17 / PHONE_HASHES_PER_SEC).toBeGreaterThan(0.5);
    expect(2 ** 17 / PHONE_HASHES_PER_SEC).toBeLessThan(1.5);
    expect(2 ** 18 / PHONE_HASHES_PER_SEC).toBeLessThan(2);
  });
});

describe("the opening time", () => {
  // The form's input is in the browser's time zone: these run in Seoul (+9, no summer time) and Paris.
  afterEach(() => vi.unstubAllEnvs());
  it("fills the form in the local time zone, to the second", () => {
    vi.stubEnv("TZ", "Asia/Seoul");
    expect(toLocalInput("2026-12-04T21:00:00Z")).toBe("2026-12-05T06:00:00");
    expect(toLocalInput("2026-12-04T21:00:05.250+00:00")).toBe("2026-12-05T06:00:05");
    vi.stubEnv("TZ", "Europe/Paris");
    expect(toLocalInput("2026-07-01T12:30:00Z")).toBe("2026-07-01T14:30:00");
    expect(toLocalInput(undefined)).toBe("");
    expect(toLocalInput(null)).toBe("");
    expect(toLocalInput("soon")).toBe("");
  });
  it("sends what is typed as UTC RFC 3339, seconds optional", () => {
    vi.stubEnv("TZ", "Asia/Seoul");
    expect(checkOpening("2026-12-05T06:00", sale())).toEqual({ ok: true, on_sale_at: "2026-12-04T21:00:00Z" });
    expect(checkOpening(" 2026-12-05T06:00:07 ", sale())).toEqual({ ok: true, on_sale_at: "2026-12-04T21:00:07Z" });
    vi.stubEnv("TZ", "Europe/Paris");
    expect(checkOpening("2026-07-01T14:30:00.000", sale())).toEqual({ ok: true, on_sale_at: "2026-07-01T12:30:00Z" });
    // What the form shows, sent back, is the same moment.
    expect(checkOpening(toLocalInput("2026-03-29T01:15:00Z"), sale())).toEqual({ ok: true, on_sale_at: "2026-03-29T01:15:00Z" });
  });
  it("refuses what is not a date and time, and the opening the sale already has", () => {
    vi.stubEnv("TZ", "UTC");
    for (const bad of ["", "  ", "2026-12-04", "21:00", "2026-02-30T10:00", "2026-13-01T10:00", "tomorrow"]) {
      expect(checkOpening(bad, sale()), bad).toEqual({ ok: false, message: "Enter the date and time the sale opens." });
    }
    expect(checkOpening("2026-12-04T21:00", sale({ on_sale_at: "2026-12-04T21:00:00.000Z" }))).toEqual({
      ok: false,
      message: "Nothing to change: the sale already opens at that time.",
    });
    expect(checkOpening("2026-12-04T21:05", sale({ on_sale_at: "2026-12-04T21:00:00Z" }))).toEqual({ ok: true, on_sale_at: "2026-12-04T21:05:00Z" });
  });
  it("is said in UTC to the second in the audit log", () => {
    expect(formatOpening("2026-12-04T21:00:00Z")).toBe("2026-12-04 21:00:00 UTC");
    expect(formatOpening(undefined)).toBe("none");
    expect(describeChange(sale(), sale({ on_sale_at: "2026-12-04T21:00:00Z" }))).toEqual(["opening: none → 2026-12-04 21:00:00 UTC"]);
    expect(describeChange(sale({ on_sale_at: "2026-12-04T21:00:00Z" }), sale({ on_sale_at: "2026-12-04T21:30:00Z" }))).toEqual([
      "opening: 2026-12-04 21:00:00 UTC → 2026-12-04 21:30:00 UTC",
    ]);
    // The same moment written another way is no change.
    expect(describeChange(sale({ on_sale_at: "2026-12-04T21:00:00Z" }), sale({ on_sale_at: "2026-12-04T21:00:00.000+00:00" }))).toEqual([
      "no change",
    ]);
  });
});

import { beforeEach, describe, expect, it } from "vitest";
import { deviceTime, observeServerDate, resetServerClock, serverOffset } from "./serverClock";

const at = (iso: string) => Date.parse(iso);
const header = (iso: string) => new Date(iso).toUTCString();

describe("server clock", () => {
  beforeEach(resetServerClock);

  it("leaves a device whose clock is right alone, whatever the second's truncation and the round trip", () => {
    // Sent at 12:00:00.900, the server wrote 12:00:00 (it was 12:00:00.950), answered at 12:00:01.100.
    observeServerDate(header("2026-12-07T12:00:00Z"), at("2026-12-07T12:00:00.900Z"), at("2026-12-07T12:00:01.100Z"));
    expect(serverOffset()).toBe(0);
    observeServerDate(header("2026-12-07T12:00:05Z"), at("2026-12-07T12:00:05.000Z"), at("2026-12-07T12:00:05.020Z"));
    expect(serverOffset()).toBe(0);
  });

  it("corrects a device two minutes fast to within a second and the round trip", () => {
    // The server says 12:00:00; the device thinks it is 12:02:00.
    observeServerDate(header("2026-12-07T12:00:00Z"), at("2026-12-07T12:02:00.300Z"), at("2026-12-07T12:02:00.350Z"));
    const offset = serverOffset();
    expect(offset).toBeGreaterThanOrEqual(-120_350);
    expect(offset).toBeLessThanOrEqual(-119_300);
    // A hold ending at 12:01:00 server time ends about 12:03:00 on the device: a minute ahead (a
    // second less at worst: the estimate errs on the side of less time).
    const end = deviceTime(at("2026-12-07T12:01:00Z"));
    expect(end - at("2026-12-07T12:02:00.350Z")).toBeGreaterThan(58_000);
    expect(end - at("2026-12-07T12:02:00.350Z")).toBeLessThanOrEqual(61_000);
  });

  it("corrects a device that is slow, and narrows the estimate with each answer", () => {
    observeServerDate(header("2026-12-07T12:01:30Z"), at("2026-12-07T12:00:00.000Z"), at("2026-12-07T12:00:00.500Z"));
    // At least 89.5 s slow (the server's second began after the answer left at the latest).
    expect(serverOffset()).toBe(89_500);
    // A later answer: the server had 12:01:40.xxx at a device time in [12:00:09.9, 12:00:10.0].
    observeServerDate(header("2026-12-07T12:01:40Z"), at("2026-12-07T12:00:09.900Z"), at("2026-12-07T12:00:10.000Z"));
    expect(serverOffset()).toBe(90_000);
  });

  it("ignores answers without a readable Date", () => {
    observeServerDate(null, 0, 10);
    observeServerDate("yesterday-ish", 0, 10);
    expect(serverOffset()).toBe(0);
  });
});

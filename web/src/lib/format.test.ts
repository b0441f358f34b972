import { describe, expect, it } from "vitest";
import { formatCountdown, formatEta, formatMoney, formatTimestamp, secondsLeft, spokenDuration } from "./format";

describe("countdown", () => {
  it("counts whole seconds up, never below zero", () => {
    expect(secondsLeft(10_000, 0)).toBe(10);
    expect(secondsLeft(10_000, 9_001)).toBe(1);
    expect(secondsLeft(10_000, 10_000)).toBe(0);
    expect(secondsLeft(10_000, 99_000)).toBe(0);
  });
  it("formats m:ss", () => {
    expect(formatCountdown(60)).toBe("1:00");
    expect(formatCountdown(59)).toBe("0:59");
    expect(formatCountdown(5)).toBe("0:05");
    expect(formatCountdown(0)).toBe("0:00");
    expect(formatCountdown(-3)).toBe("0:00");
  });
  it("speaks durations", () => {
    expect(spokenDuration(1)).toBe("1 second");
    expect(spokenDuration(0)).toBe("0 seconds");
    expect(spokenDuration(65)).toBe("1 minute 5 seconds");
    expect(spokenDuration(120)).toBe("2 minutes");
  });
});

describe("display", () => {
  it("formats minor units", () => {
    expect(formatMoney(4500, "USD")).toBe("$45.00");
    expect(formatMoney(55000, "KRW")).toBe("₩55,000");
    expect(formatMoney(1200, "JPY")).toBe("¥1,200");
    expect(formatMoney(150, "XXQ")).toMatch(/1\.50/);
  });
  it("gives operators' times to the second, in UTC", () => {
    expect(formatTimestamp("2026-05-01T18:04:09.123Z")).toBe("2026-05-01 18:04:09 UTC");
    expect(formatTimestamp("2026-05-01T20:04:09+02:00")).toBe("2026-05-01 18:04:09 UTC");
    expect(formatTimestamp("not a time")).toBe("not a time");
  });
  it("words the ETA", () => {
    expect(formatEta(0)).toBe("any moment now");
    expect(formatEta(1)).toBe("about 1 second");
    expect(formatEta(90)).toBe("about 2 minutes");
  });
});

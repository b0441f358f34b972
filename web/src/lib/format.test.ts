import { describe, expect, it } from "vitest";
import { formatCountdown, formatEta, formatEtaRange, formatLocalTime, formatMoney, formatTimestamp, secondsLeft, spokenDuration } from "./format";

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
  it("gives an opening time in the reader's own time zone, named", () => {
    expect(formatLocalTime("2026-12-04T21:00:00Z", "UTC")).toBe("Dec 4, 2026, 9:00 PM UTC");
    expect(formatLocalTime("2026-12-04T21:00:00Z", "Asia/Seoul")).toBe("Dec 5, 2026, 6:00 AM GMT+9");
    expect(formatLocalTime("2026-07-01T12:30:00Z", "Europe/Paris")).toBe("Jul 1, 2026, 2:30 PM GMT+2");
    expect(formatLocalTime("not a time")).toBe("not a time");
  });
  it("words the ETA", () => {
    expect(formatEta(0)).toBe("any moment now");
    expect(formatEta(1)).toBe("about 1 second");
    expect(formatEta(90)).toBe("about 2 minutes");
  });
});

describe("wait ranges", () => {
  const text = (lo: number, hi: number) => formatEtaRange(lo, hi).text;
  it("uses seconds under a minute, to 10 s", () => {
    expect(text(12, 27)).toBe("about 10–30 seconds");
    expect(text(2, 12)).toBe("up to 10 seconds");
    expect(text(0, 3)).toBe("up to 10 seconds");
    expect(text(20, 50)).toBe("about 20–50 seconds");
  });
  it("uses minutes up to an hour and a half, to 5 minutes beyond a quarter of an hour", () => {
    expect(text(102, 240)).toBe("about 2–4 minutes");
    expect(text(30, 56)).toBe("about 1 minute");
    expect(text(20, 150)).toBe("up to 3 minutes");
    expect(text(80, 100)).toBe("about 1–2 minutes");
    expect(text(400, 1300)).toBe("about 5–20 minutes");
    expect(text(1800, 5300)).toBe("about 30–90 minutes");
  });
  it("uses hours beyond, up to the day the server caps at", () => {
    expect(text(1800, 7200)).toBe("about 1–2 hours");
    expect(text(600, 6000)).toBe("up to 2 hours");
    expect(text(21_600, 86_400)).toBe("about 6–24 hours");
    expect(text(3600, 5400)).toBe("about 1–2 hours");
  });
  it("collapses equal ends, in the plural only when more than one", () => {
    expect(text(120, 120)).toBe("about 2 minutes");
    expect(text(170, 190)).toBe("about 3 minutes");
    expect(text(3600, 3600)).toBe("about 60 minutes");
    expect(text(7000, 7400)).toBe("about 2 hours");
    expect(text(5400, 5400)).toBe("about 2 hours");
  });
  it("says a wait that is over is any moment now", () => {
    expect(formatEtaRange(0, 0)).toEqual({ text: "any moment now", spoken: "any moment now" });
  });
  it("reads the dash as 'to' for screen readers", () => {
    expect(formatEtaRange(102, 240)).toEqual({ text: "about 2–4 minutes", spoken: "about 2 to 4 minutes" });
    expect(formatEtaRange(20, 150)).toEqual({ text: "up to 3 minutes", spoken: "up to 3 minutes" });
  });
  it("copes with ends out of order, negative or not numbers", () => {
    expect(text(300, 120)).toBe("about 2 minutes");
    expect(text(-5, 40)).toBe("up to 40 seconds");
    expect(text(Number.NaN, Number.NaN)).toBe("any moment now");
  });
  it("reads the same for a range that moved by a few seconds", () => {
    expect(text(103, 238)).toBe(text(98, 244));
    expect(text(14, 33)).toBe(text(11, 26));
  });
});
